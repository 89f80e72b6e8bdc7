//! The lines of a pretraining run's `metrics.jsonl`: one per optimizer step and
//! one per epoch, tagged by `kind`. Written by the training loop, read back for
//! the loss curves and by anyone analysing a run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ValidationReport;

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
    /// The loss plugin's total loss.
    pub loss: f64,
    /// Materials in the batch.
    pub materials: usize,
    /// Records featurized for this batch (not read from the cache).
    pub featurized: usize,
    pub seconds: f64,
    pub materials_per_s: f64,
    /// Gradient norm of each encoder's parameters, by modality.
    pub grad_norm: BTreeMap<String, f64>,
    /// The loss plugin's named terms (`dos-crystal/loss`, `dos-crystal/rows`, …).
    pub terms: BTreeMap<String, f64>,
}

/// One finished epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochLine {
    /// 1-based.
    pub epoch: usize,
    pub global_step: usize,
    /// Mean training loss over the epoch's steps.
    pub train_loss: f64,
    pub validation: ValidationReport,
    /// Training throughput over the epoch (validation excluded).
    pub materials_per_s: f64,
    /// Wall seconds of training over the whole run so far (restarts excluded).
    pub elapsed_s: f64,
}
