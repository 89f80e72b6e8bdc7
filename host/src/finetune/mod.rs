//! `mmhost finetune`: the crystal encoder (pretrained by a run, or from scratch)
//! with a linear head on one property, MSE for regression and BCE for
//! classification (`is_metal`), early stopping on the validation split, scored on
//! the test split (README "Using a trained run").
//!
//! It runs on the training pipeline: every labelled structure is featurized once
//! into the dataset's cache (with a progress line), a loader thread prepares the
//! batches ahead of the encoder, each step is logged to `metrics.jsonl` and shown
//! on a progress line, every epoch is validated and plotted (`loss.png`), and
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

mod curves;
mod evaluate;
mod metrics;
mod model;
mod record;
mod spec;
mod state;

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use mmhost_plugin_api::Embeddings;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use metrics::{classification_metrics, regression_metrics, TestMetrics};
pub use model::{FinetunedModel, ModelInfo, Task};
pub use record::{EpochLine, MetricsLine, StepLine};
pub use spec::{FinetuneSpec, LrSchedule};

use evaluate::{Evaluator, Predictions, Scaling};
use state::{BestEpoch, FinetuneState};

use crate::{
    batches::{self, balanced_batches, epoch_order},
    dataset::{split_of, Dataset, DatasetError, Split, IS_METAL},
    featurize::fill_cache,
    head::LinearHead,
    plugins::{EncoderHandle, PluginCallError, PluginSearch},
    run::{
        Checkpoint, EncoderState, HostState, MetricsLog, ModelError, RunDir, RunDirError,
        SavedEncoder, TrainedRun,
    },
    session::{encoder_from_settings, ModalitySource},
    settings::Settings,
    train::{
        format_duration,
        progress::{CountProgress, Progress},
        CosineSchedule,
    },
};

/// A new fine-tuning, or the continuation of a stopped one.
pub enum FinetuneStart {
    /// Start `spec` with the configuration `settings` (for a `from` run, the
    /// run's own configuration is used instead).
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
    /// The test metric of always predicting the training mean (regression) or the
    /// majority class (classification).
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
    let started = Instant::now();
    let run = RunDir::new(&request.out);
    let (spec, settings, initial) = open_run(&request, &run)?;
    let task = spec
        .task
        .unwrap_or_else(|| Task::default_for(&spec.property));
    if !spec.db.is_file() {
        return Err(FinetuneError::Setup(format!(
            "{}: no such dataset (create it with `mmhost data import --db {} FILES`)",
            spec.db.display(),
            spec.db.display()
        )));
    }
    let dataset = Arc::new(Dataset::open(&spec.db)?);
    let (mut encoder, source, plugin) =
        encoder_from_settings(&settings, "crystal", &request.search, &dataset)
            .map_err(ModelError::from)?;
    let checkpoint = match initial {
        Initial::Checkpoint(checkpoint) => {
            encoder.load_weights(&checkpoint.weights("crystal")?)?;
            encoder.load_optimizer(&checkpoint.optimizer("crystal")?)?;
            Some(checkpoint)
        }
        Initial::Pretrained(weights) => {
            encoder.load_weights(&weights)?;
            None
        }
        Initial::Fresh => None,
    };
    let threads = settings.train.worker_threads();

    // Every labelled structure is featurized into the cache before training.
    let mut labelled = labelled_materials(&dataset, &source, &spec.property, task)?;
    let ids: Vec<String> = labelled.iter().map(|(id, _)| id.clone()).collect();
    let mut shown = CountProgress::new(
        "featurizing crystal structures",
        ids.len(),
        request.progress,
    );
    let report = fill_cache(
        &dataset,
        &source.featurizer,
        &source.cache_key,
        &source.input,
        &ids,
        threads,
        &mut |done, computed| shown.update(done, computed),
    )?;
    shown.finish();
    tracing::info!(
        cached = report.cached,
        computed = report.computed,
        refused = report.failed.len(),
        "featurized {} structures",
        ids.len()
    );
    if !report.failed.is_empty() {
        for (id, reason) in report.failed.iter().take(5) {
            tracing::warn!("structure {id} left out: {reason}");
        }
        let refused: BTreeSet<&str> = report.failed.iter().map(|(id, _)| id.as_str()).collect();
        labelled.retain(|(id, _)| !refused.contains(id.as_str()));
    }
    let split = |want| -> Vec<(String, f64)> {
        labelled
            .iter()
            .filter(|(id, _)| split_of(id, spec.split_seed, spec.splits) == want)
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
            spec.db.display(),
            spec.property,
            labelled.len()
        )));
    }
    let scaling = standardization(task, &train);
    let batch_size = spec.batch_size.max(1);
    let sources = Arc::new(vec![source]);
    let evaluator = Evaluator {
        dataset: &dataset,
        source: &sources[0],
        scaling,
        batch_size,
        threads,
    };

    let steps_per_epoch = train.len().div_ceil(batch_size);
    let total_steps = steps_per_epoch * spec.epochs;
    let warmup = match spec.schedule {
        LrSchedule::Cosine => spec.warmup_fraction,
        LrSchedule::Constant => 0.0,
    };
    let schedule = CosineSchedule::new(spec.lr, warmup, total_steps);
    let learning_rate = |step: usize| match spec.schedule {
        LrSchedule::Cosine => schedule.learning_rate(step),
        LrSchedule::Constant => spec.lr,
    };
    let labels: HashMap<&str, f64> = train.iter().map(|(id, y)| (id.as_str(), *y)).collect();
    let train_ids: Vec<String> = train.iter().map(|(id, _)| id.clone()).collect();

    let (mut state, mut ft, mut best_weights, mut log) = match checkpoint {
        Some(checkpoint) => {
            let (ft, best) = FinetuneState::load(&checkpoint)?;
            let log = MetricsLog::resume(&run.metrics_path(), checkpoint.state.metrics_bytes)
                .map_err(io_at(&run.metrics_path()))?;
            tracing::info!(checkpoint = %checkpoint.dir.display(), "resuming");
            (checkpoint.state, ft, best, log)
        }
        None => {
            let state = HostState::new(
                steps_per_epoch,
                vec![SavedEncoder {
                    modality: "crystal".into(),
                    plugin: plugin.name.clone(),
                    version: plugin.version.clone(),
                }],
            );
            let ft = FinetuneState {
                head: LinearHead::new(encoder.embed_dim(), 0.0),
                best: None,
                stopped: false,
            };
            let log =
                MetricsLog::create(&run.metrics_path()).map_err(io_at(&run.metrics_path()))?;
            (state, ft, Vec::new(), log)
        }
    };
    if state.steps_per_epoch != steps_per_epoch {
        return Err(FinetuneError::Setup(format!(
            "{}: the fine-tuning had {} steps per epoch, the dataset now gives \
             {steps_per_epoch}; resume with the dataset it started on",
            request.out.display(),
            state.steps_per_epoch
        )));
    }
    tracing::info!(
        train = train.len(),
        validation = validation.len(),
        test = test.len(),
        steps_per_epoch,
        total_steps,
        "fine-tuning {}",
        spec.property
    );

    let process_started = Instant::now();
    let elapsed_before = state.elapsed_s;
    let mut progress = Progress::new(
        total_steps,
        spec.epochs,
        state.global_step,
        request.progress,
    );
    let checkpoint_every = settings.train.checkpoint_every;
    let score_name = match task {
        Task::Regression => format!("validation MAE of {}", spec.property),
        Task::Classification => "validation BCE".to_string(),
    };
    while state.epoch < spec.epochs && !ft.stopped {
        let epoch = state.epoch;
        let epoch_started = Instant::now();
        let order = epoch_order(&train_ids, settings.seed, epoch);
        let receiver = batches::spawn(
            dataset.clone(),
            sources.clone(),
            balanced_batches(&order, batch_size),
            state.next_batch,
            settings.train.prefetch,
            threads,
        );
        let mut epoch_materials = 0;
        while state.next_batch < steps_per_epoch {
            let step_started = Instant::now();
            let batch = receiver
                .recv()
                .map_err(|_| FinetuneError::Setup("the data loader stopped".into()))??;
            state.next_batch = batch.index + 1;
            let modality = &batch.modalities[0];
            if modality.records.is_empty() {
                continue;
            }
            let targets: Vec<f64> = batch
                .ids
                .iter()
                .zip(&modality.present)
                .filter(|(_, &present)| present)
                .map(|(id, _)| (labels[id.as_str()] - scaling.mean) / scaling.std)
                .collect();
            let lr = learning_rate(state.global_step);
            let z = encoder.forward(&modality.records, true)?;
            let (loss, grad) = match task {
                Task::Regression => ft.head.mse_step(&z.values, &targets, lr),
                Task::Classification => ft.head.bce_step(&z.values, &targets, lr),
            };
            if !loss.is_finite() {
                return Err(stopped(&run, &state, format!("the loss is {loss}")));
            }
            encoder.backward(&Embeddings::new(z.rows as usize, z.dim as usize, grad))?;
            let grad_norm = encoder.step(&settings.train.step_settings(lr))?;
            let rows = targets.len();
            state.global_step += 1;
            state.epoch_loss_sum += loss;
            state.epoch_steps += 1;
            state.epoch_materials += rows;
            epoch_materials += rows;
            let seconds = step_started.elapsed().as_secs_f64();
            let materials_per_s = rows as f64 / seconds.max(1e-9);
            log.append(&MetricsLine::Step(StepLine {
                epoch: epoch + 1,
                step: state.next_batch,
                global_step: state.global_step,
                lr,
                loss,
                grad_norm,
                materials: rows,
                seconds,
                materials_per_s,
            }))
            .map_err(io_at(&run.metrics_path()))?;
            progress.step(epoch, state.global_step, loss, materials_per_s);
            if checkpoint_every > 0
                && state.global_step % checkpoint_every == 0
                && state.next_batch < steps_per_epoch
            {
                state.elapsed_s = elapsed_before + process_started.elapsed().as_secs_f64();
                save(&run, &mut state, &encoder, &ft, &best_weights, &mut log)?;
            }
        }
        drop(receiver);
        progress.break_line();
        let train_seconds = epoch_started.elapsed().as_secs_f64();
        let score = evaluator.score(&mut encoder, &ft.head, &validation)?;
        if ft.best.as_ref().is_none_or(|b| score < b.score) {
            best_weights = encoder.save_weights()?;
            ft.best = Some(BestEpoch {
                score,
                epoch: epoch + 1,
                head: ft.head.clone(),
            });
        }
        let best_epoch = ft.best.as_ref().map_or(0, |b| b.epoch);
        ft.stopped = epoch + 1 - best_epoch >= spec.patience.max(1);
        let line = EpochLine {
            epoch: epoch + 1,
            global_step: state.global_step,
            train_loss: state.epoch_loss_sum / state.epoch_steps.max(1) as f64,
            validation: score,
            best_epoch,
            materials_per_s: epoch_materials as f64 / train_seconds.max(1e-9),
            seconds: epoch_started.elapsed().as_secs_f64(),
        };
        state.end_epoch();
        state.elapsed_s = elapsed_before + process_started.elapsed().as_secs_f64();
        log.append(&MetricsLine::Epoch(line.clone()))
            .map_err(io_at(&run.metrics_path()))?;
        save(&run, &mut state, &encoder, &ft, &best_weights, &mut log)?;
        if let Err(e) = curves::plot(
            &run.metrics_path(),
            &run.plot_path(),
            &spec.property,
            &score_name,
        ) {
            tracing::warn!("curves {}: {e}", run.plot_path().display());
        }
        on_epoch(&line);
    }

    let best = ft
        .best
        .clone()
        .ok_or_else(|| FinetuneError::Setup("no epoch ran (--epochs 0)".into()))?;
    encoder.load_weights(&best_weights)?;
    let Predictions {
        ids,
        truth,
        predicted,
    } = evaluator.predict(&mut encoder, &best.head, &test)?;
    let (test_metrics, baseline) = score_test(task, &train, scaling.mean, &truth, &predicted);
    let outcome = FinetuneOutcome {
        property: spec.property.clone(),
        task,
        from: spec.from.clone(),
        recipe: Some(spec.clone()),
        materials: SplitCounts {
            train: train.len(),
            validation: validation.len(),
            test: test.len(),
        },
        best_epoch: best.epoch,
        epochs_run: state.epoch,
        test: test_metrics,
        baseline,
        seconds: elapsed_before + process_started.elapsed().as_secs_f64(),
    };
    let info = ModelInfo {
        property: spec.property.clone(),
        task,
        label_mean: scaling.mean,
        label_std: scaling.std,
        head: best.head,
        outcome: outcome.clone(),
    };
    model::write(
        &request.out,
        &settings,
        &info,
        &best_weights,
        &ids,
        &truth,
        &predicted,
    )
    .map_err(io_at(&request.out))?;
    run.remove_checkpoints()?;
    tracing::info!(
        "fine-tuned {} in {} ({} this process)",
        spec.property,
        format_duration(outcome.seconds),
        format_duration(started.elapsed().as_secs_f64())
    );
    Ok(outcome)
}

/// Where the crystal encoder's weights come from.
enum Initial {
    /// A checkpoint of this fine-tuning (resume): weights, optimizer and state.
    Checkpoint(Checkpoint),
    /// The crystal encoder of the pretraining run `--from` (safetensors bytes).
    Pretrained(Vec<u8>),
    /// Freshly initialized (`--scratch`).
    Fresh,
}

/// The recipe, configuration and starting weights; a new fine-tuning records its
/// recipe and configuration in `run`. A `--from` run is opened once, for both its
/// configuration and its crystal encoder's weights.
fn open_run(
    request: &FinetuneRequest,
    run: &RunDir,
) -> Result<(FinetuneSpec, Settings, Initial), FinetuneError> {
    let out = run.root();
    let spec_path = FinetuneSpec::path(out);
    let model_path = out.join("model.json");
    match &request.start {
        FinetuneStart::Resume => {
            let text = std::fs::read(&spec_path).map_err(|e| {
                FinetuneError::Setup(format!(
                    "{}: {e}; --resume continues a fine-tuning started with --out {}",
                    spec_path.display(),
                    out.display()
                ))
            })?;
            let spec: FinetuneSpec = serde_json::from_slice(&text)
                .map_err(|e| FinetuneError::Setup(format!("{}: {e}", spec_path.display())))?;
            let config = run.config_path();
            let toml = std::fs::read_to_string(&config).map_err(io_at(&config))?;
            let settings: Settings = toml::from_str(&toml)
                .map_err(|e| FinetuneError::Setup(format!("{}: {e}", config.display())))?;
            let Some(checkpoint) = run.latest()? else {
                return Err(FinetuneError::Setup(if model_path.is_file() {
                    format!(
                        "{}: this fine-tuning finished; its model is there (start again with \
                         --overwrite)",
                        out.display()
                    )
                } else {
                    format!(
                        "{}: no checkpoint to resume from yet (one is written every epoch and \
                         every train.checkpoint_every steps); start again with --overwrite",
                        out.display()
                    )
                }));
            };
            run.create()?;
            Ok((spec, settings, Initial::Checkpoint(checkpoint)))
        }
        FinetuneStart::New { spec, settings } => {
            if request.overwrite {
                run.clear()?;
                for file in [&spec_path, &model_path] {
                    match std::fs::remove_file(file) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(io_at(file)(e))
                        }
                        _ => {}
                    }
                }
            }
            if spec_path.exists() || model_path.exists() {
                return Err(FinetuneError::Setup(format!(
                    "{} already holds a fine-tuning; continue it with --resume, or replace it \
                     with --overwrite",
                    out.display()
                )));
            }
            let (settings, initial) = match &spec.from {
                Some(from) => {
                    let pretrained = TrainedRun::open(from)?;
                    let weights = pretrained.weights("crystal")?;
                    (pretrained.settings().clone(), Initial::Pretrained(weights))
                }
                None => ((**settings).clone(), Initial::Fresh),
            };
            // Absolute paths, so that `--resume` works from any directory.
            let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            let spec = FinetuneSpec {
                db: absolute(&spec.db),
                from: spec.from.as_deref().map(absolute),
                ..spec.clone()
            };
            run.create()?;
            let toml = toml::to_string(&settings)
                .map_err(|e| FinetuneError::Setup(format!("configuration: {e}")))?;
            let config = run.config_path();
            crate::atomic::write(&config, toml.as_bytes()).map_err(io_at(&config))?;
            let json = serde_json::to_vec_pretty(&spec)
                .map_err(|e| FinetuneError::Setup(format!("recipe: {e}")))?;
            crate::atomic::write(&spec_path, &json).map_err(io_at(&spec_path))?;
            Ok((spec, settings, initial))
        }
    }
}

/// Regression targets are standardized with the training statistics;
/// classification targets stay 0/1.
fn standardization(task: Task, train: &[(String, f64)]) -> Scaling {
    match task {
        Task::Regression => {
            let n = train.len() as f64;
            let mean = train.iter().map(|(_, y)| y).sum::<f64>() / n;
            let var = train.iter().map(|(_, y)| (y - mean).powi(2)).sum::<f64>() / n;
            Scaling {
                task,
                mean,
                std: var.sqrt().max(1e-12),
            }
        }
        Task::Classification => Scaling {
            task,
            mean: 0.0,
            std: 1.0,
        },
    }
}

/// Test metrics of `predicted`, and of the constant predictor (training mean, or
/// majority class) beside them.
fn score_test(
    task: Task,
    train: &[(String, f64)],
    mean: f64,
    truth: &[f64],
    predicted: &[f64],
) -> (TestMetrics, TestMetrics) {
    match task {
        Task::Regression => (
            regression_metrics(truth, predicted),
            regression_metrics(truth, &vec![mean; truth.len()]),
        ),
        Task::Classification => {
            let positive = train.iter().filter(|(_, y)| *y > 0.5).count() * 2 >= train.len();
            let constant = vec![if positive { 0.99 } else { 0.01 }; truth.len()];
            (
                classification_metrics(truth, predicted),
                classification_metrics(truth, &constant),
            )
        }
    }
}

/// Saves the encoder, the optimizer, the head and the best epoch as the latest
/// checkpoint.
fn save(
    run: &RunDir,
    state: &mut HostState,
    encoder: &EncoderHandle,
    ft: &FinetuneState,
    best_weights: &[u8],
    log: &mut MetricsLog,
) -> Result<PathBuf, FinetuneError> {
    state.metrics_bytes = log.sync().map_err(io_at(&run.metrics_path()))?;
    let encoders = [EncoderState {
        modality: "crystal".into(),
        weights: encoder.save_weights()?,
        optimizer: encoder.save_optimizer()?,
    }];
    let files = ft
        .files(best_weights)
        .map_err(|e| FinetuneError::Setup(format!("fine-tuning state: {e}")))?;
    let borrowed: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    Ok(run.save(state, &encoders, &borrowed)?)
}

/// The error for a step that failed, naming the last good checkpoint.
fn stopped(run: &RunDir, state: &HostState, reason: String) -> FinetuneError {
    let hint = match run.latest().ok().flatten() {
        Some(c) => format!(
            "the last good checkpoint is intact: {} (after step {}); continue with \
             `mmhost finetune --out {} --resume`",
            c.dir.display(),
            c.state.global_step,
            run.root().display()
        ),
        None => "no checkpoint had been written yet".into(),
    };
    FinetuneError::Stopped {
        epoch: state.epoch + 1,
        step: state.global_step + 1,
        reason,
        hint,
    }
}

/// `(id, label)` of every material with a crystal record and a value of `property`;
/// for classification, every label must be 0 or 1.
fn labelled_materials(
    dataset: &Dataset,
    source: &ModalitySource,
    property: &str,
    task: Task,
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
            (IS_METAL, None) => material
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
        known.insert(IS_METAL.into());
        return Err(FinetuneError::Setup(format!(
            "no material with a structure has the property '{property}'; labels in this \
             dataset: {}",
            known.into_iter().collect::<Vec<_>>().join(", ")
        )));
    }
    if task == Task::Classification {
        if let Some((id, value)) = out.iter().find(|(_, v)| *v != 0.0 && *v != 1.0) {
            return Err(FinetuneError::Setup(format!(
                "classification needs labels 0 or 1, but '{property}' of {id} is {value} \
                 (use --task regression)"
            )));
        }
    }
    Ok(out)
}
