//! DOS featurization: Fermi shift and resampling to a fixed number of energies.

use mmhost_plugin_sdk::{
    api::{Array, ErrorKind, PluginError, Record},
    records::{dos_from_record, DosSpectrum},
};

/// Raw `dos` `(2, N)` (+ optional `efermi`) → featurized `dos` `(2, points)`: energies
/// shifted so that E_Fermi = 0 when `efermi` is given, then the DOS resampled by
/// linear interpolation onto `points` evenly spaced energies spanning the input range.
/// A row of `points` evenly spaced energies with no `efermi` passes through unchanged.
pub fn featurize_dos(raw: &Record, points: usize) -> Result<Record, PluginError> {
    let DosSpectrum {
        energies,
        density,
        efermi,
    } = dos_from_record(raw)?;
    let values = energies.iter().chain(&density);
    if let Some(i) = values.into_iter().position(|v| !v.is_finite()) {
        return Err(invalid(format!(
            "field 'dos' holds a non-finite value at index {i}"
        )));
    }
    if let Some(i) = energies.windows(2).position(|w| w[1] <= w[0]) {
        return Err(invalid(format!(
            "energies must increase strictly; they do not at index {}",
            i + 1
        )));
    }
    let shift = efermi.unwrap_or(0.0);
    let shifted: Vec<f32> = energies.iter().map(|e| e - shift).collect();
    let (grid, resampled) = if shift == 0.0 && is_even_grid(&shifted, points) {
        (shifted, density)
    } else {
        let first = shifted[0];
        let last = shifted[shifted.len() - 1];
        let step = (last - first) / (points - 1) as f32;
        let grid: Vec<f32> = (0..points).map(|i| first + step * i as f32).collect();
        let resampled = resample_linear(&shifted, &density, &grid);
        (grid, resampled)
    };
    let mut out = grid;
    out.extend(resampled);
    Ok(Record::single("dos", Array::from_f32(&[2, points], &out)))
}

fn is_even_grid(energies: &[f32], points: usize) -> bool {
    if energies.len() != points {
        return false;
    }
    let step = (energies[points - 1] - energies[0]) / (points - 1) as f32;
    energies
        .iter()
        .enumerate()
        .all(|(i, &e)| (e - (energies[0] + step * i as f32)).abs() <= 1e-4 * step.abs().max(1.0))
}

/// Linear interpolation of `(xs, ys)` at `at` (`xs` strictly increasing); values
/// outside `xs` take the nearest end value.
pub fn resample_linear(xs: &[f32], ys: &[f32], at: &[f32]) -> Vec<f32> {
    let mut j = 0;
    at.iter()
        .map(|&x| {
            if x <= xs[0] {
                return ys[0];
            }
            if x >= xs[xs.len() - 1] {
                return ys[ys.len() - 1];
            }
            while xs[j + 1] < x {
                j += 1;
            }
            let t = (x - xs[j]) / (xs[j + 1] - xs[j]);
            ys[j] + t * (ys[j + 1] - ys[j])
        })
        .collect()
}

fn invalid(message: String) -> PluginError {
    PluginError::new(ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_reproduces_a_linear_function() {
        let xs: Vec<f32> = (0..50).map(|i| i as f32 * 0.37 - 3.0).collect();
        let ys: Vec<f32> = xs.iter().map(|x| 2.0 * x + 1.0).collect();
        let at: Vec<f32> = (0..601)
            .map(|i| -3.0 + i as f32 * (49.0 * 0.37) / 600.0)
            .collect();
        for (x, y) in at.iter().zip(resample_linear(&xs, &ys, &at)) {
            assert!((y - (2.0 * x + 1.0)).abs() < 1e-4, "{x}: {y}");
        }
    }

    #[test]
    fn fermi_shift_moves_the_grid_and_keeps_the_density() {
        let energies: Vec<f32> = (0..601).map(|i| i as f32 * 0.05).collect();
        let density: Vec<f32> = energies.iter().map(|e| e.sin().abs()).collect();
        let mut raw = Record::single(
            "dos",
            Array::from_f32(&[2, 601], &[energies.clone(), density.clone()].concat()),
        );
        raw.push("efermi", Array::from_f32(&[1], &[10.0]));
        let out = featurize_dos(&raw, 601)
            .unwrap()
            .require("dos")
            .unwrap()
            .to_f32()
            .unwrap();
        assert!((out[0] + 10.0).abs() < 1e-5 && (out[600] - 20.0).abs() < 1e-4);
        for (a, b) in out[601..].iter().zip(&density) {
            assert!((a - b).abs() < 1e-4);
        }
    }

    #[test]
    fn bad_records_are_refused_with_a_reason() {
        let flat = Record::single("dos", Array::from_f32(&[4], &[0.0; 4]));
        let err = featurize_dos(&flat, 601).unwrap_err();
        assert!(err.message.contains("expected (2, N)"), "{err}");
        let unsorted = Record::single(
            "dos",
            Array::from_f32(&[2, 3], &[0.0, 2.0, 1.0, 1.0, 1.0, 1.0]),
        );
        let err = featurize_dos(&unsorted, 601).unwrap_err();
        assert!(err.message.contains("increase strictly"), "{err}");
        assert!(featurize_dos(&Record::default(), 601)
            .unwrap_err()
            .message
            .contains("no field 'dos'"));
    }
}
