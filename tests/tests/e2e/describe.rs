//! `mmhost describe` on real structures.

use std::ffi::OsStr;

use mmhost_tests::{data_dir, mmhost, scratch_dir, stderr_text};

fn describe(path: &std::path::Path) -> (bool, String, String) {
    let out = mmhost(&[OsStr::new("describe"), path.as_os_str()]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        stderr_text(&out),
    )
}

#[test]
fn describes_real_structures() {
    // GaTe (mp-10009), written as the pymatgen P1 CIF of structures.csv.gz.
    let cif = "# generated using pymatgen\ndata_GaTe\n_symmetry_space_group_name_H-M   'P 1'\n\
_cell_length_a   4.13459945\n_cell_length_b   4.13459945\n_cell_length_c   18.42557000\n\
_cell_angle_alpha   90.00000000\n_cell_angle_beta   90.00000000\n_cell_angle_gamma   119.99999121\n\
_symmetry_Int_Tables_number   1\nloop_\n _symmetry_equiv_pos_site_id\n _symmetry_equiv_pos_as_xyz\n  1  'x, y, z'\n\
loop_\n _atom_site_type_symbol\n _atom_site_label\n _atom_site_symmetry_multiplicity\n _atom_site_fract_x\n\
 _atom_site_fract_y\n _atom_site_fract_z\n _atom_site_occupancy\n\
  Ga  Ga0  1  0.33333300  0.66666700  0.18295900  1\n  Ga  Ga1  1  0.66666700  0.33333300  0.68295900  1\n\
  Ga  Ga2  1  0.66666700  0.33333300  0.81704100  1\n  Ga  Ga3  1  0.33333300  0.66666700  0.31704100  1\n\
  Te  Te4  1  0.33333300  0.66666700  0.88620400  1\n  Te  Te5  1  0.66666700  0.33333300  0.38620400  1\n\
  Te  Te6  1  0.66666700  0.33333300  0.11379600  1\n  Te  Te7  1  0.33333300  0.66666700  0.61379600  1\n";
    let path = scratch_dir("describe").join("GaTe.cif");
    std::fs::write(&path, cif).unwrap();
    let (ok, text, err) = describe(&path);
    assert!(ok, "{err}");
    assert!(
        text.starts_with(
            "GaTe (Ga4Te4) crystallizes in the hexagonal P6_3/mmc space group (No. 194)."
        ),
        "{text}"
    );
    assert!(
        text.contains("a = 4.135 Å, b = 4.135 Å, c = 18.426 Å"),
        "{text}"
    );
    assert!(text.contains("Ga (Wyckoff position f, 4 equivalent sites in the cell) is 4-coordinate: bonded to 1 Ga at 2.47 Å and 3 Te at 2.71 Å."), "{text}");

    // The structure in a real CHGCAR: bcc Fe, 8-coordinate.
    let (ok, text, err) = describe(&data_dir().join("samples/chgcar/Fe_CHGCAR_spin"));
    assert!(ok, "{err}");
    assert!(text.contains("cubic Im-3m space group (No. 229)"), "{text}");
    assert!(
        text.contains("is 8-coordinate: bonded to 8 Fe at 2.49 Å."),
        "{text}"
    );

    let (ok, _, err) = describe(&data_dir().join("README.md"));
    assert!(!ok && err.contains("not a structure file"), "{err}");
}
