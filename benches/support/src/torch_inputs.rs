//! Featurized batches written as the PyTorch counterparts in `benches/torch/` read
//! them: one folder per encoder with its inputs as `.npy`, the fixed dL/dZ as
//! `grad.npy` `[batch, embed_dim]` and the encoder's configuration (its plugin
//! config, serialized) as `config.json`.

use std::path::Path;

use mmhost_plugin_sdk::api::Record;

use crate::write_npy;

/// PotNet: concatenated atom features `[atoms, features]`, local edges `[edges, 2]`
/// (offset per crystal), distances `[edges]` (Å), lattice sums `[pairs, 3]`,
/// crystal sizes `[batch]`.
pub fn write_potnet(dir: &Path, batch: &[Record], grad: &[f32], config: &serde_json::Value) {
    let (mut features, mut edges, mut distance, mut sums, mut sizes) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut offset = 0i64;
    let mut width = 0;
    for r in batch {
        let atom_features = r.require("atom_features").expect("atom_features");
        let n = atom_features.dims()[0];
        width = atom_features.dims()[1];
        features.extend(atom_features.to_f32().expect("f32 features"));
        let local = r.require("local_edges").expect("local_edges");
        edges.extend(
            local
                .to_i64()
                .expect("i64 edges")
                .iter()
                .map(|k| k + offset),
        );
        let local_distance = r.require("local_distance").expect("local_distance");
        distance.extend(local_distance.to_f32().expect("f32 distances"));
        let infinite = r.require("infinite_sums").expect("infinite_sums");
        sums.extend(infinite.to_f32().expect("f32 sums"));
        sizes.push(n as i64);
        offset += n as i64;
    }
    let atoms = offset as u64;
    write_npy(&dir.join("features.npy"), &[atoms, width as u64], &features);
    let edge_count = edges.len() as u64 / 2;
    write_npy(&dir.join("local_edges.npy"), &[edge_count, 2], &edges);
    write_npy(
        &dir.join("local_distance.npy"),
        &[distance.len() as u64],
        &distance,
    );
    write_npy(
        &dir.join("infinite_sums.npy"),
        &[sums.len() as u64 / 3, 3],
        &sums,
    );
    write_npy(&dir.join("sizes.npy"), &[sizes.len() as u64], &sizes);
    write_common(dir, batch.len(), grad, config);
}

/// DOS: the featurized spectra `[batch, 2, points]`.
pub fn write_dos(dir: &Path, batch: &[Record], grad: &[f32], config: &serde_json::Value) {
    let (spectra, points) = stack(batch, "dos");
    write_npy(
        &dir.join("dos.npy"),
        &[batch.len() as u64, 2, points as u64 / 2],
        &spectra,
    );
    write_common(dir, batch.len(), grad, config);
}

/// Charge density: the featurized grids `[batch, 1, n, n, n]`.
pub fn write_charge(dir: &Path, batch: &[Record], grad: &[f32], config: &serde_json::Value) {
    let (densities, points) = stack(batch, "density");
    let side = (points as f64).cbrt().round() as u64;
    let shape = [batch.len() as u64, 1, side, side, side];
    write_npy(&dir.join("density.npy"), &shape, &densities);
    write_common(dir, batch.len(), grad, config);
}

/// Field `name` of every record, concatenated, and its length per record.
fn stack(batch: &[Record], name: &str) -> (Vec<f32>, usize) {
    let mut values = Vec::new();
    let mut each = 0;
    for record in batch {
        let field = record.require(name).expect("featurized field");
        let field = field.to_f32().expect("f32 field");
        each = field.len();
        values.extend(field);
    }
    (values, each)
}

fn write_common(dir: &Path, batch: usize, grad: &[f32], config: &serde_json::Value) {
    let width = (grad.len() / batch) as u64;
    write_npy(&dir.join("grad.npy"), &[batch as u64, width], grad);
    std::fs::write(dir.join("config.json"), config.to_string()).expect("config.json");
}
