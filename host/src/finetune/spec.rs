//! What a fine-tuning trains and how: recorded as `finetune.json` in its output
//! directory, so that `--resume` continues with exactly the same recipe.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{model::Task, FinetuneError};
use crate::{
    head::SOLVABLE_RIDGE,
    settings::{MAX_BATCH_SIZE, MAX_EPOCHS},
};

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

/// What a regression minimizes on the standardized targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RegressionLoss {
    /// Mean squared error.
    #[default]
    Mse,
    /// Mean absolute error (L1): the metric reported, and the median rather than the
    /// mean where labels pile up (the many metals of a band-gap set sit at 0).
    L1,
}

/// How the new linear head starts before the first step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HeadInit {
    /// Zero weights and bias (the training mean): the encoder gets no gradient
    /// until the head has learnt some weights at the fine-tuning's learning rate.
    #[default]
    Zero,
    /// Fitted to the starting encoder's embeddings of the training materials before
    /// the first step (linear probing, then fine-tuning): least squares for the MSE
    /// loss, least absolute deviations for L1. A fine-tuning from a fine-tuned model
    /// then starts near that model's accuracy instead of the training mean's.
    /// Regression only.
    Fit,
}

/// The ridge of a fitted head when none is given: its weights at about the size a
/// zero head reaches in training (`models/README.md`, "Pretraining against scratch").
const DEFAULT_HEAD_RIDGE: f64 = 1.0;

impl HeadInit {
    /// Whether this is the default, left out of recorded recipes so that those
    /// written before the choice existed read and write the same.
    pub fn is_zero(&self) -> bool {
        *self == HeadInit::Zero
    }

    /// The ridge a new fine-tuning records: the `given` one, else for a fitted head
    /// the default (1).
    pub fn ridge(self, given: Option<f64>) -> Option<f64> {
        match self {
            HeadInit::Fit => Some(given.unwrap_or(DEFAULT_HEAD_RIDGE)),
            HeadInit::Zero => given,
        }
    }
}

/// The fine-tuning recipe and data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinetuneSpec {
    /// The dataset.
    pub db: PathBuf,
    /// A pretraining run or a fine-tuned model whose crystal encoder starts the
    /// fine-tuning; `None` trains from scratch with the configuration's crystal
    /// encoder.
    pub from: Option<PathBuf>,
    /// A label of the dataset, or `is_metal` (band gap 0 when not a label itself).
    pub property: String,
    /// Regression or classification (0/1 labels). Absent in fine-tunings begun
    /// before it was recorded: then [`Task::default_for`] the property.
    #[serde(default)]
    pub task: Option<Task>,
    /// The regression loss (MSE in fine-tunings begun before it was recorded).
    #[serde(default)]
    pub loss: RegressionLoss,
    /// Predictions below this value are raised to it, in validation, test and
    /// `predict` (e.g. 0 for a band gap); `None` leaves them as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<f64>,
    /// How the head starts (zero in fine-tunings begun before it was recorded).
    #[serde(default, skip_serializing_if = "HeadInit::is_zero")]
    pub head_init: HeadInit,
    /// Ridge of a fitted head on its weights, in multiples of the embeddings' mean
    /// square (see [`LinearHead::fitted`](crate::head::LinearHead::fitted)); `None` with a zero head, and in fitted
    /// ones begun before it was recorded, which used [`SOLVABLE_RIDGE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_ridge: Option<f64>,
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate of the encoder (AdamW) and of the head (Adam).
    pub lr: f64,
    pub schedule: LrSchedule,
    /// Fraction of the planned steps spent warming up (cosine schedule only).
    pub warmup_fraction: f64,
    /// Stop after this many epochs without a better validation score.
    pub patience: usize,
    /// Seed of the split by material id.
    pub split_seed: u64,
    /// Train / validation / test fractions, adding up to 1. A validation fraction
    /// of 0 trains on the validation materials too (a final fit of a recipe chosen
    /// on validation): every epoch runs and the last is kept. The test split
    /// depends only on the test fraction, so it stays the same.
    pub splits: [f64; 3],
}

impl FinetuneSpec {
    /// Refuses epochs or a batch size outside their bounds, a floor that is not a
    /// number, fractions that are not shares of 1 (the validation one may be 0), what
    /// only a regression can use (another loss, a floor, a fitted head) on a
    /// classification, and a head ridge without a fitted head or that is not a
    /// positive number.
    pub fn check(&self) -> Result<(), FinetuneError> {
        if !(1..=MAX_EPOCHS).contains(&self.epochs)
            || !(1..=MAX_BATCH_SIZE).contains(&self.batch_size)
        {
            return Err(FinetuneError::Setup(format!(
                "--epochs {} and --batch-size {}: need 1 to {MAX_EPOCHS} epochs of 1 to \
                 {MAX_BATCH_SIZE} materials per step",
                self.epochs, self.batch_size
            )));
        }
        if let Some(floor) = self.floor.filter(|f| !f.is_finite()) {
            return Err(FinetuneError::Setup(format!(
                "--floor {floor}: the lowest prediction must be a finite number"
            )));
        }
        let [train, validation, test] = self.splits;
        let positive = |f: f64| f.is_finite() && f > 0.0;
        let total: f64 = self.splits.iter().sum();
        if !(positive(train) && positive(test) && (validation == 0.0 || positive(validation)))
            || (total - 1.0).abs() > 1e-6
        {
            return Err(FinetuneError::Setup(format!(
                "--splits {:?}: the train and test fractions must be positive numbers, the \
                 validation one positive or 0, adding up to 1",
                self.splits
            )));
        }
        if let Some(ridge) = self.head_ridge {
            if self.head_init != HeadInit::Fit {
                return Err(FinetuneError::Setup(
                    "--head-ridge applies to a fitted head only (--head-init fit)".into(),
                ));
            }
            if !positive(ridge) {
                return Err(FinetuneError::Setup(format!(
                    "--head-ridge {ridge}: the ridge must be a positive finite number"
                )));
            }
        }
        if self.task() == Task::Classification
            && (self.loss != RegressionLoss::Mse
                || self.floor.is_some()
                || self.head_init == HeadInit::Fit)
        {
            return Err(FinetuneError::Setup(format!(
                "'{}' is fine-tuned as a classification (BCE loss, probabilities): \
                 --loss, --floor and --head-init fit apply to regression only",
                self.property
            )));
        }
        Ok(())
    }

    /// The task as stated, or else [`Task::default_for`] the property.
    pub fn task(&self) -> Task {
        self.task
            .unwrap_or_else(|| Task::default_for(&self.property))
    }

    /// The ridge a fitted head is fitted with.
    pub fn head_ridge(&self) -> f64 {
        self.head_ridge.unwrap_or(SOLVABLE_RIDGE)
    }

    /// Whether a validation split scores each epoch (a validation fraction above 0);
    /// without one, every epoch runs and the last is kept.
    pub fn validates(&self) -> bool {
        self.splits[1] > 0.0
    }

    /// Where the spec of the fine-tuning in `out` is kept.
    pub fn path(out: &Path) -> PathBuf {
        out.join("finetune.json")
    }
}

#[cfg(test)]
mod tests {
    use super::{FinetuneSpec, HeadInit, SOLVABLE_RIDGE};

    fn recipe(head_init: Option<&str>) -> serde_json::Value {
        let mut value = serde_json::json!({
            "db": "db.redb", "from": null, "property": "band_gap", "task": "regression",
            "loss": "l1", "epochs": 10, "batch_size": 64, "lr": 0.001,
            "schedule": "cosine", "warmup_fraction": 0.05, "patience": 10,
            "split_seed": 42, "splits": [0.8, 0.1, 0.1]
        });
        if let Some(init) = head_init {
            value["head_init"] = init.into();
        }
        value
    }

    /// A recipe written before `head_init` existed reads as a zero head and writes
    /// back unchanged; a fitted head is recorded.
    #[test]
    fn head_init_is_recorded_only_when_fitted() {
        let old: FinetuneSpec = serde_json::from_value(recipe(None)).unwrap();
        assert_eq!(old.head_init, HeadInit::Zero);
        assert_eq!(serde_json::to_value(&old).unwrap(), recipe(None));
        let fitted: FinetuneSpec = serde_json::from_value(recipe(Some("fit"))).unwrap();
        assert_eq!(fitted.head_init, HeadInit::Fit);
        assert_eq!(serde_json::to_value(&fitted).unwrap(), recipe(Some("fit")));
        assert_eq!(fitted.head_ridge(), SOLVABLE_RIDGE);
    }

    /// A ridge needs a fitted head and a positive value.
    #[test]
    fn head_ridge_is_checked() {
        let with_ridge = |init: &str, ridge: f64| {
            let mut value = recipe(Some(init));
            value["head_ridge"] = ridge.into();
            serde_json::from_value::<FinetuneSpec>(value).unwrap()
        };
        assert!(with_ridge("fit", 1.0).check().is_ok());
        assert_eq!(with_ridge("fit", 1.0).head_ridge(), 1.0);
        assert!(with_ridge("zero", 1.0).check().is_err());
        assert!(with_ridge("fit", 0.0).check().is_err());
        assert!(with_ridge("fit", -1.0).check().is_err());
    }
}
