//! Wall time of a run across restarts.

use std::time::Instant;

/// Seconds a run has trained: what earlier processes spent (from its checkpoint)
/// plus this process's time since it started.
#[derive(Clone, Copy, Debug)]
pub struct RunClock {
    before_s: f64,
    started: Instant,
}

impl RunClock {
    /// A clock that continues from `before_s` seconds spent by earlier processes.
    pub fn continuing(before_s: f64) -> Self {
        Self {
            before_s,
            started: Instant::now(),
        }
    }

    /// Seconds over the whole run, restarts excluded.
    pub fn elapsed_s(&self) -> f64 {
        self.before_s + self.started.elapsed().as_secs_f64()
    }

    /// Seconds spent by this process.
    pub fn this_process_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}
