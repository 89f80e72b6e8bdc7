//! Volumetric and DOS readers against pymatgen on the real sample files
//! (`tests/fixtures/make_sample_reference.py` made the reference).

use std::{fs, io::Read, path::PathBuf};

use flate2::read::GzDecoder;
use mmhost_materials::{
    dos_from_pymatgen, read_chgcar, read_doscar, read_vasprun_dos, resample_periodic,
    structure_from_pymatgen, Dos, Structure,
};
use serde_json::Value;

fn samples() -> PathBuf {
    std::env::var_os("MMHOST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
        .join("samples")
}

fn reference() -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pymatgen_samples.json");
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

fn read(path: PathBuf) -> String {
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if path.extension().is_some_and(|e| e == "gz") {
        let mut text = String::new();
        GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        text
    } else {
        String::from_utf8(bytes).unwrap()
    }
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * b.abs().max(1.0)
}

fn assert_structure(what: &str, s: &Structure, r: &Value) {
    for (row, want) in s
        .lattice
        .matrix
        .iter()
        .zip(r["lattice"].as_array().unwrap())
    {
        for (x, y) in row.iter().zip(f64s(want)) {
            assert!(close(*x, y, 1e-9), "{what}: lattice {x} vs {y}");
        }
    }
    assert!(
        close(s.lattice.volume(), r["volume"].as_f64().unwrap(), 1e-9),
        "{what}: volume"
    );
    let species: Vec<&str> = r["species"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    let ours: Vec<&str> = s.sites.iter().map(|site| site.element().symbol()).collect();
    assert_eq!(ours, species, "{what}");
    for (site, want) in s.sites.iter().zip(r["frac"].as_array().unwrap()) {
        for (x, y) in site.frac.iter().zip(f64s(want)) {
            assert!(close(*x, y, 1e-9), "{what}: frac {x} vs {y}");
        }
    }
}

#[test]
fn chgcar_family_matches_pymatgen() {
    let reference = reference();
    for (name, r) in reference["volumetric"].as_object().unwrap() {
        let data = read_chgcar(&read(samples().join("chgcar").join(name)))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_structure(name, &data.structure, r);
        let grid: Vec<usize> = r["grid"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(data.grid.to_vec(), grid, "{name}");
        for (x, y) in data.total.iter().zip(f64s(&r["total_head"])) {
            assert!(close(*x, y, 1e-12), "{name}: {x} vs {y}");
        }
        for (x, y) in data.total[data.total.len() - 8..]
            .iter()
            .zip(f64s(&r["total_tail"]))
        {
            assert!(close(*x, y, 1e-12), "{name}: {x} vs {y}");
        }
        assert!(
            close(data.electrons(), r["electrons"].as_f64().unwrap(), 1e-12),
            "{name}"
        );
        match (&data.diff, r.get("magnetization")) {
            (Some(diff), Some(m)) => {
                let mean = diff.iter().sum::<f64>() / diff.len() as f64;
                assert!(
                    close(mean, m.as_f64().unwrap(), 1e-9),
                    "{name}: magnetization"
                );
                for (x, y) in diff.iter().zip(f64s(&r["diff_head"])) {
                    assert!(close(*x, y, 1e-12), "{name}: diff {x} vs {y}");
                }
            }
            (None, None) => {}
            (ours, theirs) => panic!(
                "{name}: spin data {} vs {}",
                ours.is_some(),
                theirs.is_some()
            ),
        }
    }
}

#[test]
fn resampling_fe_to_32_cubed_keeps_the_electron_count() {
    let data = read_chgcar(&read(samples().join("chgcar/Fe_CHGCAR_no_spin"))).unwrap();
    assert_eq!(data.grid, [28, 28, 28]);
    let resampled = resample_periodic(&data.total, data.grid, 32);
    assert_eq!(resampled.len(), 32 * 32 * 32);
    let electrons = resampled.iter().sum::<f64>() / resampled.len() as f64;
    let error = (electrons - data.electrons()).abs() / data.electrons();
    assert!(
        error < 0.005,
        "{electrons} vs {} electrons ({:.3} %)",
        data.electrons(),
        error * 100.0
    );
}

/// `precision`: relative tolerance of the file's printed digits.
fn assert_dos(what: &str, dos: &Dos, r: &Value, precision: f64) {
    assert_eq!(
        dos.energies.len() as u64,
        r["points"].as_u64().unwrap(),
        "{what}"
    );
    assert!(
        close(dos.efermi.unwrap(), r["efermi"].as_f64().unwrap(), 1e-12),
        "{what}: efermi"
    );
    for (x, y) in dos.energies.iter().zip(f64s(&r["energies_head"])) {
        assert!(close(*x, y, precision), "{what}: energy {x} vs {y}");
    }
    let spins = r["spins"].as_object().unwrap();
    assert_eq!(dos.densities.len(), spins.len(), "{what}: spins");
    for (row, spin) in dos.densities.iter().zip(["up", "down"]) {
        let sum: f64 = row.iter().sum();
        let max = row.iter().cloned().fold(f64::MIN, f64::max);
        assert!(
            close(sum, spins[spin]["sum"].as_f64().unwrap(), precision),
            "{what} {spin}: sum {sum}"
        );
        assert!(
            close(max, spins[spin]["max"].as_f64().unwrap(), precision),
            "{what} {spin}: max {max}"
        );
    }
}

#[test]
fn dos_readers_match_pymatgen() {
    let reference = reference();
    let r = &reference["dos"]["Fe2_vasprun.xml"];
    let vasprun = read_vasprun_dos(&read(samples().join("dos/Fe2_vasprun.xml"))).unwrap();
    assert_dos("vasprun", &vasprun, r, 1e-9);
    // The DOSCAR comes from the same calculation as the vasprun.xml, printed with
    // fewer digits (energies to 1 meV, densities to 4 significant digits).
    let doscar = read_doscar(&read(samples().join("dos/Fe2_DOSCAR"))).unwrap();
    assert_dos("DOSCAR", &doscar, r, 1e-3);

    let json: Value =
        serde_json::from_str(&read(samples().join("dos/Fe_CompleteDos.json.gz"))).unwrap();
    let complete = dos_from_pymatgen(&json).unwrap();
    assert_dos(
        "CompleteDos",
        &complete,
        &reference["dos"]["Fe_CompleteDos.json.gz"],
        1e-9,
    );
    let structure = structure_from_pymatgen(&json["structure"]).unwrap();
    assert_structure(
        "CompleteDos structure",
        &structure,
        &reference["structures"]["Fe_CompleteDos.json.gz"],
    );
}

#[test]
fn mp_summary_document_structures_match_pymatgen() {
    let reference = reference();
    let text = read(samples().join("mp-docs/mp_summary_docs.jsonl.gz"));
    let expected = reference["structures"]["mp_summary_docs.jsonl.gz"]
        .as_array()
        .unwrap();
    for (i, (line, r)) in text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .zip(expected)
        .enumerate()
    {
        let doc: Value = serde_json::from_str(line).unwrap();
        let s =
            structure_from_pymatgen(&doc["structure"]).unwrap_or_else(|e| panic!("doc {i}: {e}"));
        assert_structure(&format!("doc {i}"), &s, r);
    }
}

#[test]
fn truncated_files_are_refused_with_the_line() {
    let text = read(samples().join("chgcar/Li_CHG"));
    let truncated: String = text.lines().take(40).collect::<Vec<_>>().join("\n");
    let err = read_chgcar(&truncated).unwrap_err();
    assert!(err.to_string().contains("grid ends after"), "{err}");
    let doscar = read(samples().join("dos/Fe2_DOSCAR"));
    let truncated: String = doscar.lines().take(100).collect::<Vec<_>>().join("\n");
    let err = read_doscar(&truncated).unwrap_err();
    assert!(
        err.to_string()
            .contains("line 6: NEDOS is 301, but the file has 94 lines of DOS rows"),
        "{err}"
    );
    assert!(read_vasprun_dos("<modeling></modeling>")
        .unwrap_err()
        .to_string()
        .contains("no <dos>"));
}

#[test]
fn spin_polarized_doscar_columns() {
    // The real Fe2 DOSCAR rewritten with the 5-column layout of ISPIN = 2
    // (E, up, down, integrated up, integrated down), down = up / 2.
    let text = read(samples().join("dos/Fe2_DOSCAR"));
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let cols: Vec<f64> = line
                .split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect();
            if (6..6 + 301).contains(&i) && cols.len() == 3 {
                format!(
                    "{} {} {} {} {}",
                    cols[0],
                    cols[1],
                    cols[1] / 2.0,
                    cols[2],
                    cols[2] / 2.0
                )
            } else {
                line.to_string()
            }
        })
        .collect();
    let dos = read_doscar(&lines.join("\n")).unwrap();
    assert_eq!(dos.densities.len(), 2);
    for (up, down) in dos.densities[0].iter().zip(&dos.densities[1]) {
        assert!((down - up / 2.0).abs() < 1e-12);
    }
    let total = dos.total();
    assert!((total[150] - 1.5 * dos.densities[0][150]).abs() < 1e-12);
}
