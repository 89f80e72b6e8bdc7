//! What a fine-tuning trains and how: recorded as `finetune.json` in its output
//! directory, so that `--resume` continues with exactly the same recipe.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::model::Task;

/// The learning-rate schedule of encoder and head.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// Linear warm-up from 0 to the peak, then cosine decay to 0 at the last
    /// planned step (the MultiMat reference recipe).
    Cosine,
    /// The peak learning rate at every step.
    Constant,
}

/// The fine-tuning recipe and data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinetuneSpec {
    /// The dataset.
    pub db: PathBuf,
    /// A pretraining run whose crystal encoder starts the fine-tuning; `None`
    /// trains from scratch with the configuration's crystal encoder.
    pub from: Option<PathBuf>,
    /// A label of the dataset, or `is_metal` (band gap 0 when not a label itself).
    pub property: String,
    /// Regression or classification (0/1 labels). Absent in fine-tunings begun
    /// before it was recorded: then [`Task::default_for`] the property.
    #[serde(default)]
    pub task: Option<Task>,
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate of the encoder (AdamW) and of the head (Adam).
    pub lr: f64,
    pub schedule: LrSchedule,
    /// Fraction of the planned steps spent warming up (cosine schedule only).
    pub warmup_fraction: f64,
    /// Stop after this many epochs without a better validation score.
    pub patience: usize,
    /// Split seed and train / validation / test fractions.
    pub split_seed: u64,
    pub splits: [f64; 3],
}

impl FinetuneSpec {
    /// Where the spec of the fine-tuning in `out` is kept.
    pub fn path(out: &Path) -> PathBuf {
        out.join("finetune.json")
    }
}
