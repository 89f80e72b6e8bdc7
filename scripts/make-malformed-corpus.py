#!/usr/bin/env python3
"""Writes tests/malformed/: broken and hostile variants of every format mmhost
imports, each derived from a real sample in ../shared/data or written by hand.

The `fuzz_*` files beside them are inputs that crashed a reader under fuzzing
(fuzz/run.sh), kept as found; this script leaves them in place.

Every file must be refused (a failed file, or a rejected record) without crashing,
aborting or allocating what it claims; tests/tests/e2e/hostile_input.rs imports the
folder under a 4 GiB address-space limit and checks that. Rerun after changing a
case: python3 scripts/make-malformed-corpus.py
"""

import gzip
import io
import json
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
OUT = ROOT / "tests" / "malformed"

LI_CHG = (DATA / "samples/chgcar/Li_CHG").read_text()
FE_DOSCAR = (DATA / "samples/dos/Fe2_DOSCAR").read_text()
FE_VASPRUN = (DATA / "samples/dos/Fe2_vasprun.xml").read_text()


def cif(name, a="4.0", b="4.0", c="4.0", angles=("90", "90", "90"), sites=("Na1 Na 0 0 0",)):
    head = (
        f"data_{name}\n_cell_length_a {a}\n_cell_length_b {b}\n_cell_length_c {c}\n"
        f"_cell_angle_alpha {angles[0]}\n_cell_angle_beta {angles[1]}\n"
        f"_cell_angle_gamma {angles[2]}\nloop_\n_atom_site_label\n_atom_site_type_symbol\n"
        "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
    )
    return head + "".join(s + "\n" for s in sites)


POSCAR = "Na\n1.0\n4 0 0\n0 4 0\n0 0 4\nNa\n1\nDirect\n0 0 0\n"


def npy(shape, payload: bytes) -> bytes:
    """An .npy file (format 1.0, float32) whose header claims `shape`."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % (shape,)
    header = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def pymatgen(lattice, sites):
    return json.dumps({"@class": "Structure", "lattice": {"matrix": lattice}, "sites": sites})


CASES = {
    # CIF
    "cell_length_inf.cif": cif("inf", a="1e300"),
    "cell_length_nan.cif": cif("nan", a="nan"),
    "cell_length_negative.cif": cif("neg", a="-4.0"),
    "cell_length_zero.cif": cif("zero", a="0"),
    "cell_angle_180.cif": cif("flat", angles=("90", "90", "180")),
    "cell_angles_degenerate.cif": cif("degenerate", angles=("120", "120", "120")),
    "atoms_on_one_site.cif": cif(
        "stacked", a="1.0", b="1.0", c="1.0",
        sites=("Na1 Na 0 0 0", "Na2 Na 0 0 0.01", "Na3 Na 0.01 0 0"),
    ),
    "unknown_element.cif": cif("xx", sites=("Xx1 Xx 0 0 0",)),
    "coordinate_nan.cif": cif("nanpos", sites=("Na1 Na nan 0 0",)),
    "loop_values_short.cif": cif("short", sites=("Na1 Na 0 0",)),
    "no_cell.cif": "data_nocell\nloop_\n_atom_site_label\nNa1\n",
    "binary_garbage.cif": bytes(range(256)) * 4,
    "empty.cif": b"",
    # 1,000 sites × 1,000 symmetry operations (a space group has at most 192)
    "symmetry_bomb.cif": cif("ops", sites=[f"Na{i} Na 0.{i:03d} 0 0" for i in range(1000)]).replace(
        "loop_\n_atom_site_label",
        "loop_\n_symmetry_equiv_pos_as_xyz\n"
        + "".join(f"'x, y+{j}/1000, z'\n" for j in range(1000))
        + "loop_\n_atom_site_label",
    ),
    # 20 sites × 150 operations: 3,000 distinct images, more than 2,000 sites
    "site_bomb.cif": cif("sites", sites=[f"Na{i} Na 0.{i:02d}5 0 0" for i in range(20)]).replace(
        "loop_\n_atom_site_label",
        "loop_\n_symmetry_equiv_pos_as_xyz\n"
        + "".join(f"'x, y, z+{j}/150'\n" for j in range(150))
        + "loop_\n_atom_site_label",
    ),
    "tokens_bomb.cif.gz": None,  # written below
    # POSCAR
    "POSCAR_counts_huge.vasp": POSCAR.replace("\n1\nDirect", "\n1000000000000\nDirect"),
    "POSCAR_counts_negative.vasp": POSCAR.replace("\n1\nDirect", "\n-3\nDirect"),
    "POSCAR_scale_nan.vasp": POSCAR.replace("1.0\n4 0 0", "nan\n4 0 0"),
    "POSCAR_singular_lattice.vasp": POSCAR.replace("0 0 4\nNa", "0 0 0\nNa"),
    "POSCAR_truncated.vasp": POSCAR[:30],
    # named with the Kelvin sign, 3 bytes, whose lower case is the 1-byte k
    "\u212a.vasp": POSCAR.replace("Na\n1\n", "Xx\n1\n"),
    # CHGCAR family
    "Huge_grid_CHGCAR": LI_CHG.replace("   10   10   10", "   1000000   1000000   1000000", 1),
    "Overflowing_grid_CHGCAR": LI_CHG.replace(
        "   10   10   10", "   18446744073709551615   2   2", 1
    ),
    "Truncated_CHGCAR": "\n".join(LI_CHG.splitlines()[:40]),
    "Nan_values_CHGCAR": LI_CHG.replace("0.40155", "nan", 1),
    "Header_only_CHGCAR": "\n".join(LI_CHG.splitlines()[:9]),
    # DOSCAR and vasprun.xml
    "Huge_NEDOS_DOSCAR": FE_DOSCAR.replace("  301  ", "  1e18  ", 1),
    "Negative_NEDOS_DOSCAR": FE_DOSCAR.replace("  301  ", "  -5  ", 1),
    "Truncated_DOSCAR": "\n".join(FE_DOSCAR.splitlines()[:100]),
    "Nan_efermi_DOSCAR": FE_DOSCAR.replace("  5.97876516  ", "  NaN  ", 1),
    "Newlines_bomb_DOSCAR.gz": None,  # written below
    "no_dos_vasprun.xml": FE_VASPRUN[: FE_VASPRUN.index("<dos>")] + "</modeling>\n",
    "unclosed_vasprun.xml": FE_VASPRUN[: len(FE_VASPRUN) // 3],
    # pymatgen / Materials Project JSON
    "structure_lattice_inf.json": pymatgen(
        [[1e308, 0, 0], [0, 1e308, 0], [0, 0, 1e308]],
        [{"abc": [0, 0, 0], "species": [{"element": "Na", "occu": 1}]}],
    ),
    "structure_no_sites.json": pymatgen([[4, 0, 0], [0, 4, 0], [0, 0, 4]], []),
    "structure_sites_too_close.json": pymatgen(
        [[4, 0, 0], [0, 4, 0], [0, 0, 4]],
        [
            {"abc": [0, 0, 0], "species": [{"element": "Na", "occu": 1}]},
            {"abc": [0, 0, 0.001], "species": [{"element": "Cl", "occu": 1}]},
        ],
    ),
    "deeply_nested.json": "[" * 100000 + "]" * 100000,
    "not_json.json": "{ this is not JSON",
    "wrong_types.json": json.dumps({"structure": {"lattice": "cubic", "sites": 3}}),
    "dos_mismatched.json": json.dumps(
        {"@class": "Dos", "energies": [0, 1, 2], "densities": {"1": [1, 2]}, "efermi": 0}
    ),
    "truncated.jsonl": '{"material_id": "mp-1", "structure": {"lattice": ',
    "numbers_bomb.json.gz": None,  # written below
    "rows_bomb.csv.gz": None,  # written below
    "cell_bomb.csv.gz": None,  # written below
    # CSV
    "labels_not_numbers.csv": "material_id,band_gap,description\nm-1,abc,rock salt\n",
    "broken_cif_cell.csv": 'material_id,cif\nm-2,"data_x\n_cell_length_a 3\n"\n',
    "row_wider_than_header.csv": "material_id,band_gap\nm-3,1.0,extra\n",
    "no_id_column.csv": "formula,band_gap\nNaCl,5.0\n",
    # .npy (with their id lists)
    "lying_shape.npy": npy((1000000, 1000000, 2), b"\x00" * 64),
    "lying_shape_ids.txt": "m-4\n",
    "wrong_rows.npy": npy((3, 2, 4), b"\x00" * 96),
    "wrong_rows_ids.txt": "m-5\n",
    # no rows, so no bytes, but rows of 2⁸⁰ elements
    "empty_huge_rows.npy": npy((0, 1 << 40, 1 << 40), b""),
    "empty_huge_rows_ids.txt": "",
    # gzip
    "zeros_bomb.cif.gz": None,  # written below
}


def gzipped(name, content: bytes):
    """Writes `content` gzipped as OUT/name."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(content)
    (OUT / name).write_bytes(buffer.getvalue())


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, content in CASES.items():
        path = OUT / name
        if content is None:
            continue
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    # 64 MiB of zeros compressed to ~64 KiB: decompressed within the limit, then
    # refused as no CIF.
    gzipped("zeros_bomb.cif.gz", b"\x00" * (64 << 20))
    # Bombs of what a parser keeps per unit of text, each far past 4 GiB if kept
    # whole: 2²⁶ one-letter CIF values (~70 bytes each), 2²⁹ empty lines (16 bytes
    # each), 1.5·10⁸ JSON numbers (32 bytes each).
    # (the values of one loop: a data block is refused past 2²² tags and values)
    gzipped("tokens_bomb.cif.gz", b"data_tokens\nloop_\n_x\n" + b"a\n" * (1 << 26))
    gzipped("Newlines_bomb_DOSCAR.gz", FE_DOSCAR.encode()[:200] + b"\n" * (1 << 29))
    gzipped("numbers_bomb.json.gz", b"[" + b"0," * 150_000_000 + b"0]")
    # 2²² + 1 rows of a one-letter id: each would be a material kept in memory
    gzipped("rows_bomb.csv.gz", b"material_id\n" + b"a\n" * ((1 << 22) + 1))
    # a CIF cell of 257 MiB: a row the CSV reader would copy whole, more than once
    gzipped("cell_bomb.csv.gz", b'material_id,cif\nm-1,"' + b"a" * (257 << 20) + b'"\n')
    print(f"{len(CASES)} files in {OUT}")


if __name__ == "__main__":
    main()
