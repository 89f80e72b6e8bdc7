//! `mmhost train`: contrastive pretraining of any subset of two or more modality
//! encoders (README "Pretraining" and "Split back-propagation").
//!
//! A loader thread featurizes batches ahead of the encoders; each step runs the
//! encoders' forward passes concurrently, the loss plugin, their backward passes
//! concurrently, then AdamW in every plugin at the scheduled learning rate. Every
//! epoch ends with validation (loss, cross-modal retrieval) and a checkpoint.

pub(crate) mod curves;
mod pretraining;
pub(crate) mod progress;
mod record;
mod schedule;
mod setup;
mod validation;

use std::{
    io,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use progress::format_duration;
pub use record::{EpochLine, MetricsLine, StepLine};
pub use schedule::CosineSchedule;
pub use validation::ValidationReport;

use pretraining::Pretraining;

use crate::{
    backprop::ModalityBatch,
    dataset::DatasetError,
    plugins::{LoadError, PluginCallError, PluginSearch},
    run::{Interrupt, RunDir, RunDirError},
    settings::Settings,
};

/// What to train, on what, and where the run goes.
pub struct TrainRequest {
    /// The dataset; on resume, `None` means the run's own.
    pub db: Option<PathBuf>,
    /// Modalities to train, in run order. Ignored on resume (the run's own are used).
    pub modalities: Vec<String>,
    /// The resolved configuration. Ignored on resume (the run's `config.toml` is used).
    pub settings: Settings,
    pub search: PluginSearch,
    pub out: PathBuf,
    pub resume: bool,
    /// Replace a run already in `out` instead of refusing to start.
    pub overwrite: bool,
    /// Show progress on stderr.
    pub progress: bool,
    /// Stops the run after the current step, with a checkpoint of it.
    pub interrupt: Interrupt,
}

/// A training run that could not start or did not finish.
#[derive(Debug, Error)]
pub enum TrainError {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Checkpoint(#[from] RunDirError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Plugin(#[from] PluginCallError),
    #[error("validation failed: {0}")]
    Validation(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "training stopped at epoch {epoch}, step {step}: {reason}\n{}",
        checkpoint_hint(.checkpoint, .out)
    )]
    Stopped {
        /// 1-based epoch and global step of the failed step.
        epoch: usize,
        step: usize,
        reason: String,
        /// The last good checkpoint and its step, if one was written.
        checkpoint: Option<(PathBuf, usize)>,
        out: PathBuf,
    },
}

fn checkpoint_hint(checkpoint: &Option<(PathBuf, usize)>, out: &Path) -> String {
    match checkpoint {
        Some((dir, step)) => format!(
            "the last good checkpoint is intact: {} (after step {step}); once the cause is \
             fixed, continue with `mmhost train --out {} --resume`",
            dir.display(),
            out.display()
        ),
        None => "no checkpoint had been written yet".to_string(),
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The metrics of one finished epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    /// Epochs the run trains in all.
    pub epochs: usize,
    pub global_step: usize,
    /// Mean training loss over the epoch's steps.
    pub train_loss: f64,
    pub validation: ValidationReport,
    /// Training throughput over the epoch (validation excluded).
    pub materials_per_s: f64,
}

/// What a finished run leaves.
pub struct TrainOutcome {
    pub run: RunDir,
    /// Epochs finished by this process.
    pub epochs: Vec<EpochMetrics>,
    /// The final checkpoint.
    pub checkpoint: PathBuf,
    /// Wall seconds spent training over the whole run (restarts excluded).
    pub elapsed_s: f64,
}

/// Trains (or resumes) a run; `on_epoch` sees every finished epoch.
pub fn train(
    request: TrainRequest,
    on_epoch: &mut dyn FnMut(&EpochMetrics),
) -> Result<TrainOutcome, TrainError> {
    let mut pretraining = Pretraining::open(&request)?;
    let mut progress = progress::Progress::new(
        pretraining.total_steps(),
        pretraining.epochs(),
        pretraining.state.global_step,
        request.progress,
    );
    let mut finished = Vec::new();
    let mut last_checkpoint = pretraining.run.latest()?.map(|c| c.dir);
    while pretraining.state.epoch < pretraining.epochs() {
        let (materials, seconds) = pretraining.train_epoch(&mut progress)?;
        progress.break_line();
        let (metrics, checkpoint) = pretraining.end_epoch(materials, seconds)?;
        last_checkpoint = Some(checkpoint);
        on_epoch(&metrics);
        finished.push(metrics);
    }
    let checkpoint = last_checkpoint.ok_or_else(|| {
        TrainError::Setup(format!(
            "{}: the run has no checkpoint",
            request.out.display()
        ))
    })?;
    Ok(TrainOutcome {
        run: pretraining.run,
        epochs: finished,
        checkpoint,
        elapsed_s: pretraining.state.elapsed_s,
    })
}

/// Whether some material of the batch has a modality pair the loss can use: two
/// present modalities, one of them the anchor when there is one.
pub(crate) fn has_pair(modalities: &[ModalityBatch], anchor: Option<usize>) -> bool {
    let rows = modalities.first().map_or(0, |m| m.present.len());
    (0..rows).any(|row| {
        let present = modalities.iter().filter(|m| m.present[row]).count();
        present >= 2 && anchor.is_none_or(|a| modalities[a].present[row])
    })
}
