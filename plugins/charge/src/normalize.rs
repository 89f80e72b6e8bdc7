//! Input normalization of charge-density grids.

/// ρ·V_cell grid values → `ln(1 + max(ρV, 0) / ⟨ρV⟩)`.
///
/// * Dividing by the grid mean ⟨ρV⟩ (the electron count of the cell) gives the
///   density relative to the cell's average: the same for any cell volume or
///   electron count, and for ρ or ρ·V inputs alike.
/// * Small negative values (interpolation artefacts of the stored grids) are
///   clipped to 0.
/// * The logarithm compresses the near-nucleus peaks (hundreds of times the mean)
///   into a range a network can use while keeping the valence structure resolved.
///
/// Errors for grids that are empty, hold non-finite values, or have no positive mean.
pub fn normalize_density(values: &[f32]) -> Result<Vec<f32>, String> {
    if values.is_empty() {
        return Err("empty charge grid".into());
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(format!("charge grid holds a non-finite value at index {i}"));
    }
    let mean = values.iter().map(|&v| f64::from(v.max(0.0))).sum::<f64>() / values.len() as f64;
    if mean <= 0.0 {
        return Err("charge grid has no positive density".into());
    }
    Ok(values
        .iter()
        .map(|&v| (f64::from(v.max(0.0)) / mean).ln_1p() as f32)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::normalize_density;

    #[test]
    fn scale_invariant_clipped_and_log_compressed() {
        let grid: Vec<f32> = (0..64).map(|i| (i as f32 - 3.0) * 0.5).collect();
        let a = normalize_density(&grid).unwrap();
        let scaled: Vec<f32> = grid.iter().map(|v| v * 37.0).collect();
        let b = normalize_density(&scaled).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6);
        }
        assert_eq!(a[0], 0.0, "negative values clip to zero density");
        let recovered: f64 = a.iter().map(|&x| f64::from(x).exp_m1()).sum::<f64>() / 64.0;
        assert!(
            (recovered - 1.0).abs() < 1e-5,
            "mean relative density is 1: {recovered}"
        );
        assert!(normalize_density(&[0.0; 8]).is_err());
        assert!(normalize_density(&[f32::NAN; 8]).is_err());
    }
}
