//! Powder X-ray diffraction peaks of a crystal (kinematic theory, no Debye–Waller
//! factors): every reciprocal-lattice point inside the limiting sphere, Bragg's law,
//! structure factors from the X-ray atomic scattering factors, the
//! Lorentz-polarization factor, and reflections at the same 2θ merged into one peak
//! (so each peak's multiplicity is the number of reflections in it).

use std::f64::consts::PI;

use crate::structure::{dot, Crystal};

/// Reflections closer than this in 2θ (degrees) form one peak.
pub const MERGE_TOLERANCE: f64 = 1e-5;

/// Peaks weaker than this (on the 0–100 scale) are dropped.
pub const MIN_INTENSITY: f64 = 1e-3;

/// The most Miller-index triples [`diffraction_peaks`] visits (a cubic cell of some
/// 400 Å at Cu Kα over 5–90°; 10 Å needs a few thousand): the work, and the
/// reflections kept, grow with the cell's volume.
pub const MAX_CANDIDATES: f64 = 67_108_864.0;

/// One powder diffraction peak.
#[derive(Clone, Debug, PartialEq)]
pub struct Peak {
    /// Diffraction angle 2θ, degrees.
    pub two_theta: f64,
    /// Intensity relative to the strongest peak (100).
    pub intensity: f64,
    /// Interplanar spacing d = 1/|g|, Å.
    pub d_spacing: f64,
    /// Miller indices (h, k, l) of every reflection in the peak, Friedel pairs
    /// included: their count is the peak's multiplicity.
    pub reflections: Vec<[i32; 3]>,
}

/// One reflection before merging: 2θ (degrees), unscaled intensity, |g| (Å⁻¹), hkl.
struct Reflection {
    two_theta: f64,
    intensity: f64,
    g: f64,
    hkl: [i32; 3],
}

/// The peaks of `crystal` for radiation of `wavelength` (Å) with 2θ in
/// `two_theta_range` (degrees, within [0, 180): the Lorentz factor diverges at
/// 180°), by increasing 2θ, scaled so that the strongest is 100. Empty when no
/// reflection falls in the range. Refused when the search would visit more than
/// [`MAX_CANDIDATES`] Miller-index triples.
pub fn diffraction_peaks(
    crystal: &Crystal,
    wavelength: f64,
    two_theta_range: (f64, f64),
) -> Result<Vec<Peak>, String> {
    let radius = |two_theta: f64| 2.0 * (two_theta / 2.0).to_radians().sin() / wavelength;
    let (min_g, max_g) = (radius(two_theta_range.0), radius(two_theta_range.1));
    let reciprocal = crystal.reciprocal_lattice();
    // |h| = |g · a₁| ≤ |g| |a₁|, and likewise for k and l.
    let extents = crystal.lattice.map(|a| (max_g * dot(a, a).sqrt()).floor());
    let candidates = (extents[0] + 1.0) * (2.0 * extents[1] + 1.0) * (2.0 * extents[2] + 1.0);
    if candidates.is_nan() || candidates > MAX_CANDIDATES {
        return Err(format!(
            "the cell's reflections up to 2θ = {}° at λ = {wavelength} Å take {candidates:.3e} \
             Miller indices to search, more than the limit of {MAX_CANDIDATES:.3e}",
            two_theta_range.1
        ));
    }
    let bounds = extents.map(|extent| extent as i32);
    let mut reflections = Vec::new();
    for h in 0..=bounds[0] {
        for k in -bounds[1]..=bounds[1] {
            for l in -bounds[2]..=bounds[2] {
                // One of each Friedel pair ±(h, k, l): |F(−g)| = |F(g)| without
                // anomalous dispersion, so the other is added with the same intensity.
                let upper_half = h > 0 || (h == 0 && (k > 0 || (k == 0 && l > 0)));
                if !upper_half {
                    continue;
                }
                let hkl = [h, k, l];
                let vector: [f64; 3] = std::array::from_fn(|i| {
                    f64::from(h) * reciprocal[0][i]
                        + f64::from(k) * reciprocal[1][i]
                        + f64::from(l) * reciprocal[2][i]
                });
                let g = dot(vector, vector).sqrt();
                if g < min_g || g > max_g {
                    continue;
                }
                let theta = (wavelength * g / 2.0).asin();
                let intensity =
                    structure_factor_squared(crystal, hkl, g) * lorentz_polarization(theta);
                let two_theta = (2.0 * theta).to_degrees();
                for hkl in [hkl, hkl.map(|x| -x)] {
                    reflections.push(Reflection {
                        two_theta,
                        intensity,
                        g,
                        hkl,
                    });
                }
            }
        }
    }
    Ok(merge(reflections))
}

/// |F(hkl)|² in electrons², F = Σ_sites Σ_species occupancy · f(s) · exp(2πi hkl · r),
/// with s = |g| / 2 = sin θ / λ.
fn structure_factor_squared(crystal: &Crystal, hkl: [i32; 3], g: f64) -> f64 {
    let s2 = (g / 2.0) * (g / 2.0);
    let hkl = hkl.map(f64::from);
    let (mut real, mut imaginary) = (0.0, 0.0);
    for site in &crystal.sites {
        let phase = 2.0 * PI * dot(hkl, site.frac);
        let factor: f64 = site
            .species
            .iter()
            .map(|(element, occupancy)| occupancy * element.xray_factor(s2))
            .sum();
        real += factor * phase.cos();
        imaginary += factor * phase.sin();
    }
    real * real + imaginary * imaginary
}

/// The Lorentz-polarization factor (1 + cos² 2θ) / (sin² θ cos θ) of an
/// unpolarized beam on a powder, at Bragg angle `theta` (radians).
pub fn lorentz_polarization(theta: f64) -> f64 {
    let cos_2theta = (2.0 * theta).cos();
    (1.0 + cos_2theta * cos_2theta) / (theta.sin().powi(2) * theta.cos())
}

/// Reflections sorted by 2θ and merged into peaks within [`MERGE_TOLERANCE`] of a
/// peak's first reflection, scaled to a maximum of 100, weak peaks dropped.
fn merge(mut reflections: Vec<Reflection>) -> Vec<Peak> {
    reflections.sort_by(|a, b| a.two_theta.total_cmp(&b.two_theta).then(b.hkl.cmp(&a.hkl)));
    let mut peaks: Vec<Peak> = Vec::new();
    for reflection in reflections {
        match peaks.last_mut() {
            Some(peak) if reflection.two_theta - peak.two_theta < MERGE_TOLERANCE => {
                peak.intensity += reflection.intensity;
                peak.reflections.push(reflection.hkl);
            }
            _ => peaks.push(Peak {
                two_theta: reflection.two_theta,
                intensity: reflection.intensity,
                d_spacing: 1.0 / reflection.g,
                reflections: vec![reflection.hkl],
            }),
        }
    }
    let strongest = peaks.iter().map(|p| p.intensity).fold(0.0, f64::max);
    if strongest <= 0.0 {
        return Vec::new();
    }
    for peak in &mut peaks {
        peak.intensity *= 100.0 / strongest;
    }
    peaks.retain(|p| p.intensity > MIN_INTENSITY);
    peaks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reflection(two_theta: f64, intensity: f64, h: i32) -> Reflection {
        Reflection {
            two_theta,
            intensity,
            g: 1.0,
            hkl: [h, 0, 0],
        }
    }

    #[test]
    fn reflections_within_the_tolerance_of_a_peaks_first_one_merge() {
        let t = 30.0;
        let peaks = merge(vec![
            reflection(t + 0.6 * MERGE_TOLERANCE, 1.0, 2),
            reflection(t, 1.0, 1),
            // 0.6 from the second, 1.2 from the first: a new peak, not a chain.
            reflection(t + 1.2 * MERGE_TOLERANCE, 1.0, 3),
            reflection(t + 1.0, 4.0, 4),
            reflection(t + 2.0, 1e-6, 5),
        ]);
        assert_eq!(peaks.len(), 3, "{peaks:?}");
        assert_eq!(peaks[0].two_theta, t);
        assert_eq!(peaks[0].reflections, [[1, 0, 0], [2, 0, 0]]);
        assert_eq!(peaks[1].reflections, [[3, 0, 0]]);
        // Scaled to 100 at the strongest; the weakest (< 1e-3 of 100) dropped.
        assert_eq!(peaks[2].intensity, 100.0);
        assert_eq!(peaks[0].intensity, 50.0);
        assert_eq!(peaks[1].intensity, 25.0);
    }
}
