//! Structure parsing + neighbour-list throughput on the first 2,000 real structures of
//! `mp/structures.csv.gz`: CIF text → structure → all neighbours within 4 Å, one
//! thread. `benches/structures_vs_pymatgen.sh` runs this beside pymatgen doing the
//! same (`Structure.from_str` + `get_all_neighbors(4.0)`) and prints the ratio.

use std::{fs::File, path::PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flate2::read::GzDecoder;
use mmhost_materials::{all_neighbors, cif::read_cif};

const COUNT: usize = 2000;
const CUTOFF: f64 = 4.0;

fn cifs() -> Vec<String> {
    let data = std::env::var_os("MMHOST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let file = File::open(data.join("mp/structures.csv.gz")).expect("structures.csv.gz");
    let mut reader = csv::Reader::from_reader(GzDecoder::new(file));
    let cif = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "cif")
        .unwrap();
    reader
        .records()
        .take(COUNT)
        .map(|r| r.unwrap()[cif].to_string())
        .collect()
}

fn parse_and_neighbors(c: &mut Criterion) {
    let cifs = cifs();
    let mut group = c.benchmark_group("structures");
    group.throughput(Throughput::Elements(COUNT as u64));
    group.sample_size(10);
    group.bench_function("parse_cif_and_neighbors_4A_2000", |b| {
        b.iter(|| {
            let mut pairs = 0usize;
            for cif in &cifs {
                let structure = read_cif(cif).expect("real CIF").swap_remove(0);
                pairs += all_neighbors(&structure, CUTOFF)
                    .expect("neighbours")
                    .iter()
                    .map(Vec::len)
                    .sum::<usize>();
            }
            pairs
        })
    });
    group.bench_function("parse_cif_2000", |b| {
        b.iter(|| {
            cifs.iter()
                .map(|cif| read_cif(cif).expect("real CIF").len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, parse_and_neighbors);
criterion_main!(benches);
