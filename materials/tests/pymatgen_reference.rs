//! The CIF reader and the neighbour list against pymatgen on real Materials Project
//! structures (`tests/fixtures/make_structure_reference.py` made the fixtures).

use std::{fs::File, io::Read, path::PathBuf};

use flate2::read::GzDecoder;
use mmhost_materials::{
    all_neighbors,
    cif::{blocks, read_cif},
    Structure,
};
use serde_json::Value;

fn data_dir() -> PathBuf {
    std::env::var_os("MMHOST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read_gz_json(path: PathBuf) -> Value {
    let mut text = String::new();
    GzDecoder::new(File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .read_to_string(&mut text)
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `material_id → cif` for the first `count` rows of `mp/structures.csv.gz`.
fn real_cifs(count: usize) -> Vec<(String, String)> {
    let path = data_dir().join("mp/structures.csv.gz");
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = csv::Reader::from_reader(GzDecoder::new(file));
    let headers = reader.headers().unwrap().clone();
    let id = headers.iter().position(|h| h == "material_id").unwrap();
    let cif = headers.iter().position(|h| h == "cif").unwrap();
    reader
        .records()
        .take(count)
        .map(|r| {
            let r = r.unwrap();
            (r[id].to_string(), r[cif].to_string())
        })
        .collect()
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn assert_same_structure(id: &str, ours: &Structure, reference: &Value, ordered: bool) {
    for (row, want) in ours
        .lattice
        .matrix
        .iter()
        .zip(reference["lattice"].as_array().unwrap())
    {
        for (x, y) in row.iter().zip(f64s(want)) {
            assert!((x - y).abs() < 1e-6, "{id}: lattice {x} vs {y}");
        }
    }
    let volume = reference["volume"].as_f64().unwrap();
    assert!(
        (ours.lattice.volume() - volume).abs() < 1e-6 * volume,
        "{id}: volume"
    );
    let species: Vec<&str> = reference["species"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let frac: Vec<Vec<f64>> = reference["frac"]
        .as_array()
        .unwrap()
        .iter()
        .map(f64s)
        .collect();
    assert_eq!(ours.len(), species.len(), "{id}: site count");
    let mut unmatched: Vec<usize> = (0..species.len()).collect();
    for (k, site) in ours.sites.iter().enumerate() {
        let close = |r: usize| {
            site.element().symbol() == species[r]
                && site.frac.iter().zip(&frac[r]).all(|(a, b)| {
                    let d = (a - b).abs();
                    d.min((1.0 - d).abs()) < 1e-6
                })
        };
        if ordered {
            assert!(
                close(k),
                "{id}: site {k} {:?} vs {} {:?}",
                site.frac,
                species[k],
                frac[k]
            );
        } else {
            let at = unmatched.iter().position(|&r| close(r));
            let at =
                at.unwrap_or_else(|| panic!("{id}: site {k} {:?} not in pymatgen's", site.frac));
            unmatched.remove(at);
        }
    }
}

#[test]
fn cif_reader_matches_pymatgen_on_200_real_structures() {
    let reference = read_gz_json(fixture("pymatgen_structures.json.gz"));
    let entries = reference["structures"].as_array().unwrap();
    let cifs = real_cifs(entries.len());
    assert_eq!(cifs.len(), 200);
    for ((id, cif), entry) in cifs.iter().zip(entries) {
        assert_eq!(id, entry["material_id"].as_str().unwrap());
        let structures = read_cif(cif).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(structures.len(), 1);
        assert_same_structure(id, &structures[0], entry, true);
    }
}

#[test]
fn neighbour_lists_match_pymatgen_on_200_real_structures() {
    let reference = read_gz_json(fixture("pymatgen_structures.json.gz"));
    let cutoff = reference["cutoff"].as_f64().unwrap();
    let entries = reference["structures"].as_array().unwrap();
    let mut pairs = 0;
    for ((id, cif), entry) in real_cifs(entries.len()).iter().zip(entries) {
        let structure = &read_cif(cif).unwrap()[0];
        // Pairs at the cutoff within rounding are allowed either way.
        let near_cutoff = |d: f64| (d - cutoff).abs() < 1e-6;
        let mut ours: Vec<(usize, usize, [i32; 3], f64)> = all_neighbors(structure, cutoff)
            .expect("neighbours")
            .iter()
            .enumerate()
            .flat_map(|(i, list)| list.iter().map(move |n| (i, n.index, n.image, n.distance)))
            .filter(|p| !near_cutoff(p.3))
            .collect();
        ours.sort_by_key(|a| (a.0, a.1, a.2));
        let theirs: Vec<(usize, usize, [i32; 3], f64)> = entry["neighbours"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                let v = f64s(n);
                (
                    v[0] as usize,
                    v[1] as usize,
                    [v[2] as i32, v[3] as i32, v[4] as i32],
                    v[5],
                )
            })
            .filter(|p| !near_cutoff(p.3))
            .collect();
        assert_eq!(ours.len(), theirs.len(), "{id}: neighbour count");
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!((a.0, a.1, a.2), (b.0, b.1, b.2), "{id}");
            assert!((a.3 - b.3).abs() < 1e-6, "{id}: {a:?} vs {b:?}");
        }
        pairs += ours.len();
    }
    assert!(pairs > 20_000, "{pairs} pairs compared");
}

#[test]
fn symmetrized_cifs_expand_like_pymatgen() {
    let path = fixture("pymatgen_symmetrized_cifs.json");
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let entries = reference.as_object().unwrap();
    assert!(entries.len() >= 6);
    for (id, entry) in entries {
        let cif = entry["cif"].as_str().unwrap();
        assert!(!cif.contains("'P 1'"), "{id} is symmetrized");
        let structure = &read_cif(cif).unwrap_or_else(|e| panic!("{id}: {e}"))[0];
        assert_same_structure(id, structure, entry, false);
    }
}

/// Tags, values, `loop_` and `data_` tokens of a CIF text, counted from its blocks.
fn tokens_of(cif: &str) -> usize {
    blocks(cif)
        .map(|block| {
            let block = block.unwrap();
            let looped: usize = (block.loops.iter())
                .map(|(tags, columns)| 1 + tags.len() + columns.iter().map(Vec::len).sum::<usize>())
                .sum();
            1 + 2 * block.items.len() + looped
        })
        .sum()
}

#[test]
fn a_text_of_many_blocks_is_read_past_one_block_s_token_limit() {
    // The symmetrized structures, repeated until the text holds more tokens than one
    // data block may (2^22): a file of many structures is read block by block.
    let path = fixture("pymatgen_symmetrized_cifs.json");
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let entries = reference.as_object().unwrap();
    let cifs: Vec<&str> = entries
        .values()
        .map(|e| e["cif"].as_str().unwrap())
        .collect();
    let tokens: usize = cifs.iter().map(|cif| tokens_of(cif)).sum();
    let rounds = (1 << 22) / tokens + 1;
    let text = (cifs.join("\n") + "\n").repeat(rounds);
    let structures = read_cif(&text).unwrap();
    assert_eq!(structures.len(), rounds * cifs.len());
    let last_round = &structures[structures.len() - cifs.len()..];
    for ((id, entry), structure) in entries.iter().zip(last_round) {
        assert_same_structure(id, structure, entry, false);
    }
}
