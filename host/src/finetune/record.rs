//! The lines of a fine-tuning's `metrics.jsonl`: one per optimizer step and one
//! per epoch, tagged by `kind`.

use serde::{Deserialize, Serialize};

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MetricsLine {
    Step(StepLine),
    Epoch(EpochLine),
}

/// One optimizer step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepLine {
    /// 1-based epoch and step within it; global step over the run.
    pub epoch: usize,
    pub step: usize,
    pub global_step: usize,
    pub lr: f64,
    /// MSE or L1 (`--loss`) on standardized targets (regression) or BCE
    /// (classification).
    pub loss: f64,
    /// Encoder gradient norm before clipping.
    pub grad_norm: f64,
    pub materials: usize,
    pub seconds: f64,
    pub materials_per_s: f64,
}

/// One finished epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochLine {
    /// 1-based.
    pub epoch: usize,
    pub global_step: usize,
    /// Mean training loss over the epoch's steps.
    pub train_loss: f64,
    /// Validation MAE (regression, label units) or BCE (classification); `None`
    /// without a validation split.
    pub validation: Option<f64>,
    /// The best epoch so far (1-based); the last without a validation split.
    pub best_epoch: usize,
    /// Training throughput over the epoch (validation excluded).
    pub materials_per_s: f64,
    /// Wall seconds of the epoch, validation included.
    pub seconds: f64,
}
