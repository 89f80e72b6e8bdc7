//! CGCNN featurization against the CGCNN reference's construction with pymatgen
//! (`tests/fixtures/make_graph_reference.py` made the reference) on real Materials
//! Project structures: 20 drawn at random and 4 whose graphs need padding. Atom
//! features must be the rows of `features/cgcnn_atom_init.json`; each atom's 12
//! neighbour distances must match to 1e-5 Å (f32), and its neighbours must be the
//! reference's, up to the order among neighbours tied at the 12th distance.

use std::{collections::HashMap, fs::File, io::Read, path::PathBuf};

use flate2::read::GzDecoder;
use mmhost_crystal_cgcnn::featurize_structure;
use mmhost_materials::{cif::read_cif, records::crystal_record};
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

fn read_json(path: PathBuf, gzipped: bool) -> Value {
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    if gzipped {
        GzDecoder::new(file).read_to_string(&mut text).unwrap();
    } else {
        std::io::BufReader::new(file)
            .read_to_string(&mut text)
            .unwrap();
    }
    serde_json::from_str(&text).unwrap()
}

fn indices(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

#[test]
fn cgcnn_graphs_and_atom_features_match_the_reference_construction() {
    let cifs = real_cifs();
    let reference = read_json(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/graph_reference.json.gz"),
        true,
    );
    let atom_init = read_json(data_dir().join("features/cgcnn_atom_init.json"), false);
    let reference = reference.as_object().unwrap();
    assert_eq!(reference.len(), 24);
    let (radius, neighbors) = (8.0, 12);
    let mut padded_structures = 0;
    for (id, want) in reference {
        let mut padded = false;
        let structure = read_cif(&cifs[id])
            .unwrap_or_else(|e| panic!("{id}: {e}"))
            .remove(0);
        let graph = featurize_structure(&crystal_record(&structure), radius, neighbors).unwrap();
        let features = graph.require("atom_features").unwrap().to_f32().unwrap();
        let index = graph.require("neighbor_index").unwrap().to_i64().unwrap();
        let distance = graph
            .require("neighbor_distance")
            .unwrap()
            .to_f32()
            .unwrap();
        let atoms = want["atoms"].as_array().unwrap();
        assert_eq!(features.len(), atoms.len() * 92, "{id}");
        for (i, atom) in atoms.iter().enumerate() {
            let z = atom["z"].as_u64().unwrap().to_string();
            let row: Vec<f32> = atom_init[&z]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(&features[i * 92..(i + 1) * 92], &row[..], "{id} atom {i}");
            let slots = i * neighbors..(i + 1) * neighbors;
            assert_eq!(atom["distances"].as_array().unwrap().len(), neighbors);
            for (k, (ours, theirs)) in distance[slots.clone()]
                .iter()
                .zip(atom["distances"].as_array().unwrap())
                .enumerate()
            {
                let theirs = theirs.as_f64().unwrap();
                assert!(
                    (f64::from(*ours) - theirs).abs() < 1e-5,
                    "{id} atom {i} slot {k}: {ours} vs {theirs}"
                );
            }
            let (sure, tied) = (indices(&atom["sure"]), indices(&atom["tied"]));
            let ours = &index[slots.clone()];
            padded |= distance[slots.end - 1] == (radius + 1.0) as f32;
            // The neighbours below the 12th distance, as a multiset; the rest among
            // the reference's tied ones (or the padding index).
            let mut ours_sure = ours[..sure.len()].to_vec();
            ours_sure.sort_unstable();
            assert_eq!(ours_sure, sure, "{id} atom {i}");
            for j in &ours[sure.len()..] {
                assert!(tied.contains(j), "{id} atom {i}: {j} not in {tied:?}");
            }
        }
        assert_eq!(padded, want["group"] == "padded", "{id}: padding");
        padded_structures += usize::from(padded);
    }
    assert_eq!(
        padded_structures, 4,
        "structures with padded neighbour lists"
    );
}
