//! Structure → CGCNN graph: atom feature vectors and the nearest neighbours.

use mmhost_materials::{
    all_neighbors, cgcnn_feature_matrix, records::structure_from_record, CGCNN_FEATURES,
};
use mmhost_plugin_sdk::api::{Array, ErrorKind, PluginError, Record};

/// Raw `structure` record → `atom_features` `(N, 92)`, `neighbor_index` `(N, M)`,
/// `neighbor_distance` `(N, M)`: each atom's `max_neighbors` nearest neighbours
/// within `radius` Å, padded with index 0 at `radius + 1`.
pub fn featurize_structure(
    raw: &Record,
    radius: f64,
    max_neighbors: usize,
) -> Result<Record, PluginError> {
    let invalid = |message: String| PluginError::new(ErrorKind::InvalidInput, message);
    let structure = structure_from_record(raw)?;
    let n = structure.len();
    let features = cgcnn_feature_matrix(&structure)
        .map_err(|element| invalid(format!("no CGCNN features for {element} (Z > 100)")))?;
    let mut index = Vec::with_capacity(n * max_neighbors);
    let mut distance = Vec::with_capacity(n * max_neighbors);
    for list in all_neighbors(&structure, radius).map_err(|e| invalid(e.to_string()))? {
        for k in 0..max_neighbors {
            match list.get(k) {
                Some(neighbor) => {
                    index.push(neighbor.index as i64);
                    distance.push(neighbor.distance as f32);
                }
                None => {
                    index.push(0);
                    distance.push((radius + 1.0) as f32);
                }
            }
        }
    }
    let mut record = Record::single(
        "atom_features",
        Array::from_f32(&[n, CGCNN_FEATURES], &features),
    );
    record.push(
        "neighbor_index",
        Array::from_i64(&[n, max_neighbors], &index),
    );
    record.push(
        "neighbor_distance",
        Array::from_f32(&[n, max_neighbors], &distance),
    );
    Ok(record)
}
