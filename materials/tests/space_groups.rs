//! Space groups from moyo against the `spacegroup_number` column of the real
//! Materials Project structures (all rows that have one).

use std::{fs::File, path::PathBuf};

use flate2::read::GzDecoder;
use mmhost_materials::{cif::read_cif, space_group, CrystalSystem};

fn data_dir() -> PathBuf {
    std::env::var_os("MMHOST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

#[test]
fn space_groups_agree_with_materials_project_labels() {
    let path = data_dir().join("mp/structures.csv.gz");
    let mut reader = csv::Reader::from_reader(GzDecoder::new(File::open(&path).unwrap()));
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (id, number, cif) = (col("material_id"), col("spacegroup_number"), col("cif"));
    let (mut labelled, mut agree) = (0usize, 0usize);
    let mut disagreements = Vec::new();
    for record in reader.records() {
        let record = record.unwrap();
        let Ok(expected) = record[number].parse::<f64>() else {
            continue;
        };
        labelled += 1;
        let structure = &read_cif(&record[cif]).unwrap()[0];
        // Materials Project labels come from spglib at symprec 0.1.
        let found = space_group(structure, 0.1).unwrap_or_else(|e| panic!("{}: {e}", &record[id]));
        if found.number == expected as u32 {
            agree += 1;
        } else if disagreements.len() < 10 {
            disagreements.push(format!("{}: {} vs {expected}", &record[id], found.number));
        }
    }
    let share = agree as f64 / labelled as f64;
    eprintln!("space groups: {agree} of {labelled} labelled rows agree");
    assert!(labelled > 7_000, "{labelled} labelled rows");
    assert!(
        share >= 0.99,
        "{agree}/{labelled} agree; e.g. {disagreements:?}"
    );
    assert_eq!(
        CrystalSystem::of_space_group(225),
        Some(CrystalSystem::Cubic)
    );
}
