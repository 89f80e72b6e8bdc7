//! The learning-rate schedule: linear warm-up from 0 to the peak, then cosine
//! decay to 0 at the last step.

use std::f64::consts::PI;

/// Warm-up then cosine decay over `total_steps` optimizer steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CosineSchedule {
    peak: f64,
    warmup_steps: usize,
    total_steps: usize,
}

impl CosineSchedule {
    /// `warmup_fraction` of `total_steps` (rounded up, at least 1 when the fraction
    /// is positive) warm up; the rest decay.
    pub fn new(peak: f64, warmup_fraction: f64, total_steps: usize) -> Self {
        let warmup_steps = (warmup_fraction.clamp(0.0, 1.0) * total_steps as f64).ceil() as usize;
        Self {
            peak,
            warmup_steps,
            total_steps: total_steps.max(1),
        }
    }

    /// The learning rate of optimizer step `step` (0-based).
    pub fn learning_rate(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / decay_steps as f64).min(1.0);
        self.peak * 0.5 * (1.0 + (PI * progress).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::CosineSchedule;

    #[test]
    fn warms_up_linearly_then_decays_by_cosine() {
        let s = CosineSchedule::new(1e-3, 0.1, 100);
        assert!((s.learning_rate(0) - 1e-4).abs() < 1e-15);
        assert!((s.learning_rate(9) - 1e-3).abs() < 1e-15);
        assert!((s.learning_rate(10) - 1e-3).abs() < 1e-15);
        // Halfway through the decay: half the peak.
        assert!((s.learning_rate(55) - 5e-4).abs() < 1e-12);
        assert!(s.learning_rate(99) < 1e-6);
        let lrs: Vec<f64> = (10..100).map(|i| s.learning_rate(i)).collect();
        assert!(lrs.windows(2).all(|w| w[1] <= w[0]));
    }
}
