//! Structure → PotNet graph: atom features, local edges, and the three lattice sums
//! of every ordered pair of atoms.

use mmhost_materials::{
    cgcnn_feature_matrix, potnet_infinite_sums, records::structure_from_record, CGCNN_FEATURES,
};
use mmhost_plugin_sdk::api::{Array, ErrorKind, PluginError, Record};

use crate::graph::local_edges;

/// Raw `structure` → `atom_features` f32 `(N, 92)`, `local_edges` i64 `(E, 2)`
/// (source, target), `local_distance` f32 `(E)` Å, `infinite_sums` f32 `(N², 3)`
/// (Coulomb Å⁻¹, London Å⁻⁶, Pauli for pairs (i, j), i outer; source i, target j).
pub fn featurize_structure(
    raw: &Record,
    cutoff: f64,
    max_neighbors: usize,
) -> Result<Record, PluginError> {
    let invalid = |message: String| PluginError::new(ErrorKind::InvalidInput, message);
    let structure = structure_from_record(raw)?;
    let n = structure.len();
    let features = cgcnn_feature_matrix(&structure)
        .map_err(|element| invalid(format!("no CGCNN features for {element} (Z > 100)")))?;
    let edges =
        local_edges(&structure, cutoff, max_neighbors).map_err(|e| invalid(e.to_string()))?;
    let pairs: Vec<i64> = edges
        .iter()
        .flat_map(|&(s, t, _)| [s as i64, t as i64])
        .collect();
    let distance: Vec<f32> = edges.iter().map(|&(_, _, d)| d as f32).collect();
    let sums = potnet_infinite_sums(&structure).map_err(|e| invalid(e.to_string()))?;
    let sums: Vec<f32> = sums
        .iter()
        .flat_map(|s| [s.coulomb as f32, s.london as f32, s.pauli as f32])
        .collect();
    let mut record = Record::single(
        "atom_features",
        Array::from_f32(&[n, CGCNN_FEATURES], &features),
    );
    record.push("local_edges", Array::from_i64(&[edges.len(), 2], &pairs));
    record.push("local_distance", Array::from_f32(&[edges.len()], &distance));
    record.push("infinite_sums", Array::from_f32(&[n * n, 3], &sums));
    Ok(record)
}
