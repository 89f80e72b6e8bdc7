//! Material discovery from a target density of states (DOS): the target DOS's
//! embedding queries the crystal embeddings, and each of the nearest crystals is
//! scored by how far its own DOS is from the target (README "Using a trained run").

use mmhost_plugin_api::Record;

/// A density of states: energies (eV, increasing) and densities (states/eV/cell).
#[derive(Clone, Debug, PartialEq)]
pub struct Spectrum {
    pub energies: Vec<f64>,
    pub density: Vec<f64>,
    /// E_Fermi (eV) when known.
    pub efermi: Option<f64>,
}

impl Spectrum {
    /// From a raw `dos` record: field `dos` `(2, N)`, optional `efermi`.
    pub fn from_record(raw: &Record) -> Result<Self, String> {
        let array = raw.get("dos").ok_or("no 'dos' field")?;
        let dims = array.dims();
        if dims.len() != 2 || dims[0] != 2 || dims[1] < 2 {
            return Err(format!("'dos' has shape {dims:?}, expected (2, N)"));
        }
        let values = array.to_f32().map_err(|e| e.message.to_string())?;
        let (energies, density) = values.split_at(dims[1]);
        let efermi = raw
            .get("efermi")
            .and_then(|e| e.to_f32().ok())
            .and_then(|v| v.first().copied())
            .map(f64::from);
        Ok(Self {
            energies: energies.iter().map(|&e| f64::from(e)).collect(),
            density: density.iter().map(|&d| f64::from(d)).collect(),
            efermi,
        })
    }

    /// Energies relative to E_Fermi when known, absolute otherwise.
    fn relative_energies(&self) -> Vec<f64> {
        let shift = self.efermi.unwrap_or(0.0);
        self.energies.iter().map(|e| e - shift).collect()
    }

    /// The density at `energy` (same frame as [`Spectrum::relative_energies`]),
    /// linearly interpolated; 0 outside the sampled range.
    fn density_at(&self, relative: &[f64], energy: f64) -> f64 {
        let i = relative.partition_point(|&e| e <= energy);
        if i == 0 || i == relative.len() {
            return 0.0;
        }
        let (e0, e1) = (relative[i - 1], relative[i]);
        let t = (energy - e0) / (e1 - e0);
        self.density[i - 1] * (1.0 - t) + self.density[i] * t
    }
}

/// Points of the integration grid of [`normalized_mae`].
const GRID_POINTS: usize = 1001;

/// `∫|D_candidate − D_target| dE / ∫D_target dE` over the window: ±`half_window`
/// eV around E_Fermi when both spectra know it, otherwise the overlap of their
/// energy ranges. `None` when the window is empty or the target integrates to 0.
pub fn normalized_mae(target: &Spectrum, candidate: &Spectrum, half_window: f64) -> Option<f64> {
    let (t_energies, c_energies) = (target.relative_energies(), candidate.relative_energies());
    let (lo, hi) = if target.efermi.is_some() && candidate.efermi.is_some() {
        (-half_window, half_window)
    } else {
        (
            t_energies[0].max(c_energies[0]),
            t_energies[t_energies.len() - 1].min(c_energies[c_energies.len() - 1]),
        )
    };
    if hi <= lo {
        return None;
    }
    let step = (hi - lo) / (GRID_POINTS - 1) as f64;
    let (mut difference, mut total) = (0.0, 0.0);
    for k in 0..GRID_POINTS {
        let e = lo + step * k as f64;
        let weight = if k == 0 || k == GRID_POINTS - 1 {
            0.5
        } else {
            1.0
        };
        let (t, c) = (
            target.density_at(&t_energies, e),
            candidate.density_at(&c_energies, e),
        );
        difference += weight * (c - t).abs();
        total += weight * t;
    }
    (total > 0.0).then(|| difference / total)
}

/// For N = 1..=len: the best (lowest-MAE) candidate among the N nearest. Input:
/// normalized MAE per neighbour, nearest first (`None`: not comparable).
pub fn best_of_first(maes: &[Option<f64>]) -> Vec<Option<(usize, f64)>> {
    let mut best: Option<(usize, f64)> = None;
    maes.iter()
        .enumerate()
        .map(|(i, mae)| {
            if let Some(m) = mae {
                if best.is_none_or(|(_, b)| *m < b) {
                    best = Some((i, *m));
                }
            }
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spectrum(energies: Vec<f64>, density: Vec<f64>, efermi: Option<f64>) -> Spectrum {
        Spectrum {
            energies,
            density,
            efermi,
        }
    }

    #[test]
    fn mae_of_known_spectra() {
        let grid: Vec<f64> = (0..=200).map(|i| -10.0 + 0.1 * f64::from(i)).collect();
        let flat = spectrum(grid.clone(), vec![2.0; grid.len()], Some(0.0));
        let half = spectrum(grid.clone(), vec![1.0; grid.len()], Some(0.0));
        assert!(normalized_mae(&flat, &flat, 5.0).unwrap().abs() < 1e-12);
        assert!((normalized_mae(&flat, &half, 5.0).unwrap() - 0.5).abs() < 1e-9);
        // Shifted by E_Fermi: the same spectrum 3 eV up compares as identical.
        let shifted: Vec<f64> = grid.iter().map(|e| e + 3.0).collect();
        let ramp: Vec<f64> = grid.iter().map(|e| e + 20.0).collect();
        let a = spectrum(grid.clone(), ramp.clone(), Some(0.0));
        let b = spectrum(shifted, ramp, Some(3.0));
        assert!(normalized_mae(&a, &b, 5.0).unwrap() < 1e-9);
        let curve = best_of_first(&[Some(0.4), None, Some(0.6), Some(0.1)]);
        assert_eq!(curve[2], Some((0, 0.4)));
        assert_eq!(curve[3], Some((3, 0.1)));
    }
}
