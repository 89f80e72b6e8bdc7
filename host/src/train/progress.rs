//! Training progress on the terminal: one self-updating line on a terminal, a line
//! every few seconds otherwise (logs, CI).

use std::{
    io::{IsTerminal, Write},
    time::{Duration, Instant},
};

/// Seconds between lines when stderr is not a terminal.
const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

/// A progress line on stderr: rewritten in place on a terminal, printed every
/// [`PLAIN_INTERVAL`] otherwise.
struct StatusLine {
    terminal: bool,
    last_line: Option<Instant>,
    enabled: bool,
}

impl StatusLine {
    fn new(enabled: bool) -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            last_line: None,
            enabled,
        }
    }

    /// Shows `line`; `last` forces it out even between plain-output intervals.
    fn show(&mut self, line: &str, last: bool) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if !self.terminal
            && !last
            && self
                .last_line
                .is_some_and(|t| now.duration_since(t) < PLAIN_INTERVAL)
        {
            return;
        }
        self.last_line = Some(now);
        let mut err = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }

    fn break_line(&self) {
        if self.enabled && self.terminal {
            eprint!("\r\x1b[2K");
        }
    }
}

/// Progress of a run of `total_steps` optimizer steps.
pub struct Progress {
    total_steps: usize,
    epochs: usize,
    started: Instant,
    /// Steps done when this process started (a resumed run starts above 0).
    first_step: usize,
    line: StatusLine,
}

impl Progress {
    pub fn new(total_steps: usize, epochs: usize, first_step: usize, enabled: bool) -> Self {
        Self {
            total_steps,
            epochs,
            started: Instant::now(),
            first_step,
            line: StatusLine::new(enabled),
        }
    }

    /// Reports step `done` (1-based over the run) of `epoch` (0-based).
    pub fn step(&mut self, epoch: usize, done: usize, loss: f64, materials_per_s: f64) {
        let this_process = done.saturating_sub(self.first_step).max(1);
        let per_step = self.started.elapsed().as_secs_f64() / this_process as f64;
        let eta = per_step * self.total_steps.saturating_sub(done) as f64;
        let line = format!(
            "epoch {}/{}  step {done}/{}  loss {loss:.4}  {materials_per_s:.1} materials/s  ETA {}",
            epoch + 1,
            self.epochs,
            self.total_steps,
            format_duration(eta)
        );
        self.line.show(&line, done >= self.total_steps);
    }

    /// Ends the self-updating line before other output.
    pub fn break_line(&self) {
        self.line.break_line();
    }
}

/// Progress of a pass over `total` items (featurizing a dataset): count, rate and ETA.
pub struct CountProgress {
    what: String,
    total: usize,
    started: Instant,
    line: StatusLine,
}

impl CountProgress {
    /// `what` names the pass, e.g. `featurizing crystal`.
    pub fn new(what: &str, total: usize, enabled: bool) -> Self {
        Self {
            what: what.to_string(),
            total,
            started: Instant::now(),
            line: StatusLine::new(enabled),
        }
    }

    /// Reports `done` of the total, `computed` of them computed now (not cached).
    pub fn update(&mut self, done: usize, computed: usize) {
        self.show(done, &format!(" ({computed} computed, the rest cached)"));
    }

    /// Reports `done` of the total.
    pub fn advance(&mut self, done: usize) {
        self.show(done, "");
    }

    fn show(&mut self, done: usize, detail: &str) {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = done as f64 / seconds;
        let eta = self.total.saturating_sub(done) as f64 / rate.max(1e-9);
        let line = format!(
            "{}: {done}/{}{detail}  {rate:.1}/s  ETA {}",
            self.what,
            self.total,
            format_duration(eta)
        );
        self.line.show(&line, done >= self.total);
    }

    /// Ends the self-updating line before other output.
    pub fn finish(&self) {
        self.line.break_line();
    }
}

/// `75.0` → `1m15s`.
pub fn format_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
