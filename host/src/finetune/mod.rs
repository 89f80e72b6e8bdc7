//! `mmhost finetune`: the crystal encoder (pretrained by a run, or from scratch)
//! with a linear head on one property, MSE for regression and BCE for
//! classification (`is_metal`), early stopping on the validation split, scored on
//! the test split (DESIGN.md "Training and downstream").

mod metrics;
mod model;

use std::{path::PathBuf, sync::Arc};

use mmhost_plugin_api::StepSettings;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use metrics::{classification_metrics, regression_metrics, TestMetrics};
pub use model::{FinetunedModel, ModelInfo, Task};

use crate::{
    dataset::{split_of, Dataset, DatasetError, Split},
    embed::embed_ids,
    head::LinearHead,
    model::{encoder_from_settings, ModalitySource, ModelError, TrainedRun},
    plugins::{EncoderHandle, PluginCallError, PluginSearch},
    settings::Settings,
    train::{balanced_batches, epoch_order, format_duration, load_batch},
};

/// What to fine-tune on what.
pub struct FinetuneRequest {
    pub db: PathBuf,
    /// A pretraining run whose crystal encoder starts the fine-tuning; `None`
    /// trains from scratch with `settings`' crystal encoder.
    pub from: Option<PathBuf>,
    pub settings: Settings,
    pub search: PluginSearch,
    /// A label of the dataset, or `is_metal` (band gap 0 when not a label itself).
    pub property: String,
    pub out: PathBuf,
    pub epochs: usize,
    pub batch_size: usize,
    /// AdamW learning rate of the encoder and Adam learning rate of the head.
    pub lr: f64,
    /// Stop after this many epochs without a better validation score.
    pub patience: usize,
    /// Split seed and fractions (70/20/10 and 42 by default).
    pub split_seed: u64,
    pub splits: [f64; 3],
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
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<ModelError> for FinetuneError {
    fn from(error: ModelError) -> Self {
        Self::Model(Box::new(error))
    }
}

/// What a fine-tuning reports.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FinetuneOutcome {
    pub property: String,
    pub task: Task,
    pub from: Option<PathBuf>,
    pub materials: SplitCounts,
    /// 1-based epoch whose weights were kept.
    pub best_epoch: usize,
    pub epochs_run: usize,
    pub test: TestMetrics,
    /// The test metric of always predicting the training mean (regression) or the
    /// majority class (classification).
    pub baseline: TestMetrics,
    pub seconds: f64,
}

/// Materials per split.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SplitCounts {
    pub train: usize,
    pub validation: usize,
    pub test: usize,
}

/// Fine-tunes, writes the model directory, and returns the test metrics;
/// `on_epoch` sees `(epoch, train loss, validation score)` (score: MAE or BCE).
pub fn finetune(
    request: FinetuneRequest,
    on_epoch: &mut dyn FnMut(usize, f64, f64),
) -> Result<FinetuneOutcome, FinetuneError> {
    let started = std::time::Instant::now();
    let dataset = Arc::new(Dataset::open(&request.db)?);
    let settings = match &request.from {
        Some(run) => TrainedRun::open(run)?.settings().clone(),
        None => request.settings.clone(),
    };
    let (mut encoder, source) = match &request.from {
        Some(run) => TrainedRun::open(run)?.encoder("crystal", &request.search, &dataset)?,
        None => encoder_from_settings(&settings, "crystal", &request.search, &dataset)
            .map(|(encoder, source, _)| (encoder, source))?,
    };
    let task = Task::of(&request.property);
    let labelled = labelled_materials(&dataset, &source, &request.property)?;
    let split = |want| -> Vec<(String, f64)> {
        labelled
            .iter()
            .filter(|(id, _)| split_of(id, request.split_seed, request.splits) == want)
            .cloned()
            .collect()
    };
    let (train, validation, test) = (
        split(Split::Train),
        split(Split::Validation),
        split(Split::Test),
    );
    if train.is_empty() || validation.is_empty() || test.is_empty() {
        return Err(FinetuneError::Setup(format!(
            "{}: '{}' is known for {} materials with a structure: too few for train, \
             validation and test splits",
            request.db.display(),
            request.property,
            labelled.len()
        )));
    }
    // Regression targets are standardized with the training statistics.
    let (mean, std) = match task {
        Task::Regression => {
            let n = train.len() as f64;
            let mean = train.iter().map(|(_, y)| y).sum::<f64>() / n;
            let var = train.iter().map(|(_, y)| (y - mean).powi(2)).sum::<f64>() / n;
            (mean, var.sqrt().max(1e-12))
        }
        Task::Classification => (0.0, 1.0),
    };
    let mut head = LinearHead::new(encoder.embed_dim(), 0.0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let step_settings = StepSettings {
        learning_rate: request.lr,
        weight_decay: settings.train.weight_decay,
        beta1: settings.train.betas[0],
        beta2: settings.train.betas[1],
        epsilon: settings.train.epsilon,
        grad_clip_norm: settings.train.grad_clip_norm,
    };
    let labels: std::collections::HashMap<&str, f64> =
        train.iter().map(|(id, y)| (id.as_str(), *y)).collect();
    let train_ids: Vec<String> = train.iter().map(|(id, _)| id.clone()).collect();
    let mut best: Option<(f64, usize, Vec<u8>, LinearHead)> = None;
    let mut epochs_run = 0;
    for epoch in 0..request.epochs {
        epochs_run = epoch + 1;
        let order = epoch_order(&train_ids, settings.seed, epoch);
        let mut loss_sum = 0.0;
        let batches = balanced_batches(&order, request.batch_size);
        for (index, ids) in batches.iter().enumerate() {
            let batch = load_batch(&dataset, std::slice::from_ref(&source), index, ids, threads)?;
            let modality = &batch.modalities[0];
            if modality.records.is_empty() {
                continue;
            }
            let targets: Vec<f64> = ids
                .iter()
                .zip(&modality.present)
                .filter(|(_, &p)| p)
                .map(|(id, _)| (labels[id.as_str()] - mean) / std)
                .collect();
            let z = encoder.forward(&modality.records, true)?;
            let (loss, grad) = match task {
                Task::Regression => head.mse_step(&z.values, &targets, request.lr),
                Task::Classification => head.bce_step(&z.values, &targets, request.lr),
            };
            encoder.backward(&mmhost_plugin_api::Embeddings::new(
                z.rows as usize,
                z.dim as usize,
                grad,
            ))?;
            encoder.step(&step_settings)?;
            loss_sum += loss;
        }
        let train_loss = loss_sum / batches.len().max(1) as f64;
        let score = validation_score(
            &dataset,
            &mut encoder,
            &source,
            &head,
            &validation,
            task,
            mean,
            std,
            threads,
        )?;
        on_epoch(epoch + 1, train_loss, score);
        if best.as_ref().is_none_or(|(b, ..)| score < *b) {
            best = Some((score, epoch + 1, encoder.save_weights()?, head.clone()));
        } else if best
            .as_ref()
            .is_some_and(|(_, e, ..)| epoch + 1 - e >= request.patience)
        {
            break;
        }
    }
    let (_, best_epoch, weights, best_head) =
        best.ok_or_else(|| FinetuneError::Setup("no epoch ran (--epochs 0)".into()))?;
    encoder.load_weights(&weights)?;
    let Predictions {
        ids,
        truth,
        predicted,
    } = predict_split(
        &dataset,
        &mut encoder,
        &source,
        &best_head,
        &test,
        mean,
        std,
        task,
        threads,
    )?;
    let train_values: Vec<f64> = train.iter().map(|(_, y)| *y).collect();
    let (test_metrics, baseline) = match task {
        Task::Regression => {
            let constant = vec![mean; truth.len()];
            (
                regression_metrics(&truth, &predicted),
                regression_metrics(&truth, &constant),
            )
        }
        Task::Classification => {
            let positive =
                train_values.iter().filter(|&&y| y > 0.5).count() * 2 >= train_values.len();
            let constant = vec![if positive { 0.99 } else { 0.01 }; truth.len()];
            (
                classification_metrics(&truth, &predicted),
                classification_metrics(&truth, &constant),
            )
        }
    };
    let outcome = FinetuneOutcome {
        property: request.property.clone(),
        task,
        from: request.from.clone(),
        materials: SplitCounts {
            train: train.len(),
            validation: validation.len(),
            test: test.len(),
        },
        best_epoch,
        epochs_run,
        test: test_metrics,
        baseline,
        seconds: started.elapsed().as_secs_f64(),
    };
    let info = ModelInfo {
        property: request.property.clone(),
        task,
        label_mean: mean,
        label_std: std,
        head: best_head,
        outcome: outcome.clone(),
    };
    model::write(
        &request.out,
        &settings,
        &info,
        &weights,
        &ids,
        &truth,
        &predicted,
    )
    .map_err(|source| FinetuneError::Io {
        path: request.out.clone(),
        source,
    })?;
    tracing::info!(
        "fine-tuned {} in {}",
        request.property,
        format_duration(outcome.seconds)
    );
    Ok(outcome)
}

/// `(id, label)` of every material with a crystal record and a value of `property`.
fn labelled_materials(
    dataset: &Dataset,
    source: &ModalitySource,
    property: &str,
) -> Result<Vec<(String, f64)>, FinetuneError> {
    let mut out = Vec::new();
    let mut known = std::collections::BTreeSet::new();
    for id in dataset.material_ids()? {
        let Some(material) = dataset.material(&id)? else {
            continue;
        };
        known.extend(material.labels.keys().cloned());
        if !source.available.contains(&id) {
            continue;
        }
        let value = match (property, material.labels.get(property)) {
            (_, Some(v)) => Some(*v),
            ("is_metal", None) => material
                .labels
                .get("band_gap")
                .map(|g| f64::from(u8::from(*g <= 0.0))),
            _ => None,
        };
        if let Some(v) = value.filter(|v| v.is_finite()) {
            out.push((id, v));
        }
    }
    if out.is_empty() {
        known.insert("is_metal".into());
        return Err(FinetuneError::Setup(format!(
            "no material with a structure has the property '{property}'; labels in this \
             dataset: {}",
            known.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(out)
}

/// Validation MAE (regression, in label units) or mean BCE (classification).
#[allow(clippy::too_many_arguments)]
fn validation_score(
    dataset: &Dataset,
    encoder: &mut EncoderHandle,
    source: &ModalitySource,
    head: &LinearHead,
    validation: &[(String, f64)],
    task: Task,
    mean: f64,
    std: f64,
    threads: usize,
) -> Result<f64, FinetuneError> {
    let p = predict_split(
        dataset, encoder, source, head, validation, mean, std, task, threads,
    )?;
    Ok(match task {
        Task::Regression => regression_metrics(&p.truth, &p.predicted)
            .mae
            .unwrap_or(f64::MAX),
        Task::Classification => metrics::bce(&p.truth, &p.predicted),
    })
}

/// Ids, true labels and predictions (label units, or probabilities) of `items`.
#[allow(clippy::too_many_arguments)]
fn predict_split(
    dataset: &Dataset,
    encoder: &mut EncoderHandle,
    source: &ModalitySource,
    head: &LinearHead,
    items: &[(String, f64)],
    mean: f64,
    std: f64,
    task: Task,
    threads: usize,
) -> Result<Predictions, FinetuneError> {
    let ids: Vec<String> = items.iter().map(|(id, _)| id.clone()).collect();
    let embedded = embed_ids(dataset, encoder, source, &ids, 64, threads, &mut |_, _| {})?;
    let labels: std::collections::HashMap<&str, f64> =
        items.iter().map(|(id, y)| (id.as_str(), *y)).collect();
    let truth: Vec<f64> = embedded.ids.iter().map(|id| labels[id.as_str()]).collect();
    let predicted = model::outputs(head, &embedded.values, task, mean, std);
    Ok(Predictions {
        ids: embedded.ids,
        truth,
        predicted,
    })
}

/// Ids, true labels and predictions of one split, row by row.
struct Predictions {
    ids: Vec<String>,
    truth: Vec<f64>,
    predicted: Vec<f64>,
}
