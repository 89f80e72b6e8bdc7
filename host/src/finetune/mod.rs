//! `mmhost finetune`: the crystal encoder (pretrained by a run, taken from another
//! fine-tuned model, or from scratch) with a linear head on one property, MSE or L1
//! for regression and BCE for classification (`is_metal`), early stopping on the
//! validation split (without one, every epoch runs and the last is kept), scored on
//! the test split (README "Using a trained run").
//!
//! It runs on the training pipeline: every labelled structure is featurized once
//! into the dataset's cache (with a progress line), a loader thread prepares the
//! batches ahead of the encoder, each step is logged to `metrics.jsonl` and shown
//! on a progress line, every epoch is validated (where there is a validation split)
//! and plotted (`loss.png`), and
//! atomic checkpoints (encoder, optimizer, head, best epoch) let `--resume`
//! continue a run that was stopped. The output directory:
//!
//! ```text
//! FT/finetune.json      the recipe (data, property, schedule, epochs, …)
//! FT/config.toml        the configuration the crystal encoder was built with
//! FT/metrics.jsonl      one line per step and per epoch (see `record`)
//! FT/loss.png           training loss and validation score
//! FT/checkpoints/       while training; removed once the model is written
//! FT/model.json, crystal.safetensors, test_predictions.csv, parity.png (see `model`)
//! ```

mod coverage;
mod curves;
mod evaluate;
mod materials;
mod metrics;
mod model;
mod open;
mod origin;
mod probe;
mod record;
mod spec;
mod state;
mod tuning;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use coverage::{element_counts, rarest_element, unseen_elements, ElementCounts, RarestElement};
pub use materials::training_ids;
pub use metrics::{classification_metrics, regression_metrics, TestMetrics};
pub use model::{FinetunedModel, ModelInfo, Task};
pub use record::{EpochLine, MetricsLine, StepLine};
pub use spec::{FinetuneSpec, HeadInit, LrSchedule, RegressionLoss};

use tuning::FineTuning;

use crate::{
    dataset::DatasetError,
    plugins::{PluginCallError, PluginSearch},
    run::{Interrupt, ModelError, RunDirError},
    settings::Settings,
    train::progress::Progress,
};

/// A new fine-tuning, or the continuation of a stopped one.
pub enum FinetuneStart {
    /// Start `spec` with the configuration `settings` (for a `from` run, the
    /// run's own configuration, with the seed, threads and devices of `settings`).
    New {
        spec: FinetuneSpec,
        settings: Box<Settings>,
    },
    /// Continue from the latest checkpoint with the recipe and configuration
    /// saved in the output directory.
    Resume,
}

/// What to fine-tune, where it goes, and how it reports.
pub struct FinetuneRequest {
    pub start: FinetuneStart,
    pub search: PluginSearch,
    /// Output (model) directory.
    pub out: PathBuf,
    /// Replace a fine-tuning already in `out` instead of refusing to start.
    pub overwrite: bool,
    /// Show progress lines on stderr.
    pub progress: bool,
    /// Stops the fine-tuning after the current step, with a checkpoint of it.
    pub interrupt: Interrupt,
}

/// A fine-tuning that could not run.
#[derive(Debug, Error)]
pub enum FinetuneError {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Model(Box<ModelError>),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error(transparent)]
    Plugin(#[from] PluginCallError),
    #[error(transparent)]
    Checkpoint(#[from] RunDirError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("fine-tuning stopped at epoch {epoch}, step {step}: {reason}; {hint}")]
    Stopped {
        epoch: usize,
        step: usize,
        reason: String,
        hint: String,
    },
}

impl From<ModelError> for FinetuneError {
    fn from(error: ModelError) -> Self {
        Self::Model(Box::new(error))
    }
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> FinetuneError + '_ {
    move |source| FinetuneError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a fine-tuning reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FinetuneOutcome {
    pub property: String,
    pub task: Task,
    pub from: Option<PathBuf>,
    /// The recipe (absent in models written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<FinetuneSpec>,
    pub materials: SplitCounts,
    /// 1-based epoch whose weights were kept.
    pub best_epoch: usize,
    pub epochs_run: usize,
    pub test: TestMetrics,
    /// The test metric of always predicting the training mean, raised to the floor
    /// where there is one (regression), or the majority class (classification).
    pub baseline: TestMetrics,
    /// Wall seconds over all processes of the fine-tuning (restarts excluded).
    pub seconds: f64,
}

/// Materials per split.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SplitCounts {
    pub train: usize,
    pub validation: usize,
    pub test: usize,
}

/// Fine-tunes (or resumes), writes the model directory, and returns the test
/// metrics; `on_epoch` sees every finished epoch.
pub fn finetune(
    request: FinetuneRequest,
    on_epoch: &mut dyn FnMut(&EpochLine),
) -> Result<FinetuneOutcome, FinetuneError> {
    let mut tuning = FineTuning::open(&request)?;
    let mut progress = Progress::new(
        tuning.total_steps(),
        tuning.epochs(),
        tuning.state.global_step,
        request.progress,
    );
    while tuning.continues() {
        let (materials, seconds) = tuning.train_epoch(&mut progress)?;
        progress.break_line();
        on_epoch(&tuning.end_epoch(materials, seconds)?);
    }
    tuning.finish()
}
