//! The 92-dimensional CGCNN atom feature vectors (elements 1–100), used by the
//! crystal encoders (`data/cgcnn_atom_init.json`, from the CGCNN code, MIT).

use std::sync::OnceLock;

/// Width of a CGCNN atom feature vector.
pub const CGCNN_FEATURES: usize = 92;

/// The CGCNN feature vector of atomic number `z` (1–100); `None` beyond.
pub fn cgcnn_atom_features(z: u32) -> Option<&'static [f32]> {
    static TABLE: OnceLock<Vec<Vec<f32>>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let json: serde_json::Value =
            serde_json::from_str(include_str!("../data/cgcnn_atom_init.json")).unwrap_or_default();
        (1..=100u32)
            .map(|z| {
                json.get(z.to_string())
                    .and_then(|v| v.as_array())
                    .map(|v| v.iter().map(|x| x.as_f64().unwrap_or(0.0) as f32).collect())
                    .unwrap_or_default()
            })
            .collect()
    });
    table
        .get((z as usize).checked_sub(1)?)
        .filter(|v| v.len() == CGCNN_FEATURES)
        .map(Vec::as_slice)
}

/// The `[sites, 92]` CGCNN feature matrix of a structure (row-major), or the
/// element that has no features (Z > 100).
pub fn cgcnn_feature_matrix(structure: &crate::Structure) -> Result<Vec<f32>, crate::Element> {
    let mut features = Vec::with_capacity(structure.len() * CGCNN_FEATURES);
    for site in &structure.sites {
        let element = site.element();
        features.extend_from_slice(cgcnn_atom_features(element.z()).ok_or(element)?);
    }
    Ok(features)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete() {
        for z in 1..=100 {
            assert!(cgcnn_atom_features(z).is_some(), "Z = {z}");
        }
        assert!(cgcnn_atom_features(101).is_none() && cgcnn_atom_features(0).is_none());
        // One-hot blocks: each vector is 0/1 valued.
        assert!(cgcnn_atom_features(26)
            .unwrap()
            .iter()
            .all(|&x| x == 0.0 || x == 1.0));
    }
}
