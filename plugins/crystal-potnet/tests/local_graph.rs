//! PotNet's local graph against pymatgen's neighbour lists on real Materials Project
//! structures (`tests/fixtures/make_local_graph_reference.py` made the reference):
//! 24 drawn at random from the whole dataset, 6 whose graphs need the cutoff
//! extended, 6 with ties at the 16th neighbour. Every directed edge must match, with
//! distances to 1e-6 Å.

use std::{collections::HashMap, fs::File, io::Read, path::PathBuf};

use flate2::read::GzDecoder;
use mmhost_crystal_potnet::local_edges;
use mmhost_materials::cif::read_cif;
use serde_json::Value;

fn data_dir() -> PathBuf {
    std::env::var_os("MMHOST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

/// `material_id → cif` of the whole of `mp/structures.csv.gz`.
fn real_cifs() -> HashMap<String, String> {
    let path = data_dir().join("mp/structures.csv.gz");
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = csv::Reader::from_reader(GzDecoder::new(file));
    let headers = reader.headers().unwrap().clone();
    let id = headers.iter().position(|h| h == "material_id").unwrap();
    let cif = headers.iter().position(|h| h == "cif").unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[id].to_string(), r[cif].to_string())
        })
        .collect()
}

fn reference() -> serde_json::Map<String, Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/local_graph_reference.json.gz");
    let mut text = String::new();
    GzDecoder::new(File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .read_to_string(&mut text)
        .unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Object(map) => map,
        other => panic!("reference is not an object: {other}"),
    }
}

#[test]
fn local_graphs_match_pymatgen_with_ties_and_extended_cutoffs() {
    let cifs = real_cifs();
    let reference = reference();
    let count = |group: &str, flag: &str| {
        reference
            .values()
            .filter(|v| v["group"] == group && v[flag] == true)
            .count()
    };
    assert_eq!(reference.len(), 36);
    assert_eq!(count("extended", "extended"), 6);
    assert_eq!(count("ties", "ties"), 6);
    for (id, want) in &reference {
        let structure = read_cif(&cifs[id])
            .unwrap_or_else(|e| panic!("{id}: {e}"))
            .remove(0);
        let mut ours = local_edges(&structure, 4.0, 16).expect("edges");
        ours.sort_by(|a, b| (a.0, a.1, a.2).partial_cmp(&(b.0, b.1, b.2)).unwrap());
        let theirs: Vec<(usize, usize, f64)> = want["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e[0].as_u64().unwrap() as usize,
                    e[1].as_u64().unwrap() as usize,
                    e[2].as_f64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            ours.len(),
            theirs.len(),
            "{id} ({}): edge count",
            want["group"]
        );
        for (k, (a, b)) in ours.iter().zip(&theirs).enumerate() {
            assert!(
                a.0 == b.0 && a.1 == b.1 && (a.2 - b.2).abs() < 1e-6,
                "{id} ({}): edge {k}: ours {a:?}, pymatgen {b:?}",
                want["group"]
            );
        }
    }
}
