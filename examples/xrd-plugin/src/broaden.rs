//! Peaks to a fixed-length pattern: Gaussian line shapes sampled on a 2θ grid.

use crate::pattern::Peak;

/// A Gaussian extends this many standard deviations either side of its centre.
const GAUSSIAN_REACH: f64 = 5.0;

/// `points` evenly spaced 2θ values from `start` to `end` inclusive, degrees.
#[derive(Clone, Copy, Debug)]
pub struct Grid {
    /// First angle, degrees.
    pub start: f64,
    /// Last angle, degrees.
    pub end: f64,
    /// Number of samples (≥ 2).
    pub points: usize,
}

impl Grid {
    /// Spacing between samples, degrees.
    pub fn step(&self) -> f64 {
        (self.end - self.start) / (self.points - 1) as f64
    }

    /// The angle of sample `i`, degrees.
    pub fn angle(&self, i: usize) -> f64 {
        self.start + self.step() * i as f64
    }
}

/// The pattern on `grid`: each peak a Gaussian of full width at half maximum
/// `fwhm` (degrees) and height its intensity, summed, then divided by the maximum.
/// `[points]` in [0, 1]; all zeros when there are no peaks.
pub fn broaden(peaks: &[Peak], grid: &Grid, fwhm: f64) -> Vec<f32> {
    let sigma = fwhm / (2.0 * (2.0 * std::f64::consts::LN_2).sqrt());
    let step = grid.step();
    let mut pattern = vec![0.0f64; grid.points];
    for peak in peaks {
        let first = ((peak.two_theta - GAUSSIAN_REACH * sigma - grid.start) / step)
            .ceil()
            .max(0.0) as usize;
        let last = ((peak.two_theta + GAUSSIAN_REACH * sigma - grid.start) / step).floor();
        if last < 0.0 {
            continue;
        }
        let last = (last as usize).min(grid.points - 1);
        for (i, value) in pattern.iter_mut().enumerate().take(last + 1).skip(first) {
            let x = (grid.angle(i) - peak.two_theta) / sigma;
            *value += peak.intensity * (-0.5 * x * x).exp();
        }
    }
    let max = pattern.iter().copied().fold(0.0, f64::max);
    let scale = if max > 0.0 { 1.0 / max } else { 0.0 };
    pattern.iter().map(|v| (v * scale) as f32).collect()
}
