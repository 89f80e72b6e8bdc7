//! `mmhost train`: contrastive pretraining of any subset of two or more modality
//! encoders (README "Pretraining" and "Split back-propagation").
//!
//! A loader thread featurizes batches ahead of the encoders; each step runs the
//! encoders' forward passes concurrently, the loss plugin, their backward passes
//! concurrently, then AdamW in every plugin at the scheduled learning rate. Every
//! epoch ends with validation (loss, cross-modal retrieval) and a checkpoint.

pub(crate) mod curves;
pub(crate) mod progress;
mod record;
mod schedule;
mod setup;
mod validation;

use std::{
    io,
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use progress::format_duration;
pub use record::{EpochLine, MetricsLine, StepLine};
pub use schedule::CosineSchedule;
pub use validation::ValidationReport;

use crate::{
    backprop::{train_step, ModalityBatch},
    batches::{self, balanced_batches, epoch_order},
    dataset::{split_of, Dataset, DatasetError, Split},
    plugins::{LoadError, PluginCallError, PluginSearch},
    run::{
        read_run, write_run, EncoderInfo, EncoderState, HostState, MetricsLog, RunDir, RunDirError,
        RunInfo,
    },
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
    let run = RunDir::new(&request.out);
    let (settings, modalities, db, resumed) = if request.resume {
        let (settings, info) = read_run(&run)?;
        let db = request.db.clone().unwrap_or(info.db);
        (settings, info.modalities, db, run.latest()?)
    } else {
        if request.overwrite {
            run.clear()?;
        }
        setup::refuse_existing(&run)?;
        let db = request
            .db
            .clone()
            .ok_or_else(|| TrainError::Setup("a new run needs --db".into()))?;
        (request.settings, request.modalities, db, None)
    };
    if !db.is_file() {
        return Err(TrainError::Setup(format!(
            "{}: no such dataset (create it with `mmhost data import --db {} FILES`)",
            db.display(),
            db.display()
        )));
    }
    let dataset = Arc::new(Dataset::open(&db)?);
    let session = setup::Session::build(&settings, &request.search, &modalities, &dataset)?;
    let mut encoders = session.encoders;
    let mut loss = session.loss;
    let sources = Arc::new(session.sources);
    let compared = session.compared;
    let anchor = compared.anchor;

    let t = &settings.train;
    let ids = setup::trainable_ids(&sources, anchor);
    let split = |want| -> Vec<String> {
        ids.iter()
            .filter(|id| split_of(id, t.split_seed, t.splits) == want)
            .cloned()
            .collect()
    };
    let train_ids = if t.all_materials {
        ids.clone()
    } else {
        split(Split::Train)
    };
    let validation_ids = split(Split::Validation);
    if train_ids.is_empty() {
        return Err(TrainError::Setup(format!(
            "{}: no training material has two of the modalities {modalities:?}",
            db.display()
        )));
    }
    let batch_size = t.batch_size.max(1);
    let steps_per_epoch = train_ids.len().div_ceil(batch_size);
    let total_steps = steps_per_epoch * t.epochs;
    let schedule = CosineSchedule::new(t.lr, t.warmup_fraction, total_steps);
    let threads = t.worker_threads();

    run.create()?;
    let (mut state, mut log) = match resumed {
        Some(checkpoint) => {
            for encoder in encoders.iter_mut() {
                let modality = encoder.modality().to_string();
                encoder.load_weights(&checkpoint.weights(&modality)?)?;
                encoder.load_optimizer(&checkpoint.optimizer(&modality)?)?;
            }
            let log = MetricsLog::resume(&run.metrics_path(), checkpoint.state.metrics_bytes)
                .map_err(io_at(&run.metrics_path()))?;
            tracing::info!(checkpoint = %checkpoint.dir.display(), "resuming");
            (checkpoint.state, log)
        }
        None => {
            let info = RunInfo {
                db: std::fs::canonicalize(&db).unwrap_or_else(|_| db.clone()),
                modalities: modalities.clone(),
                encoders: session.infos.clone(),
                loss: settings.loss.plugin.clone(),
                train_materials: train_ids.len(),
                validation_materials: validation_ids.len(),
            };
            write_run(&run, &settings, &info)?;
            let log =
                MetricsLog::create(&run.metrics_path()).map_err(io_at(&run.metrics_path()))?;
            let state = HostState::new(
                steps_per_epoch,
                session.infos.iter().map(EncoderInfo::saved).collect(),
            );
            (state, log)
        }
    };
    if state.steps_per_epoch != steps_per_epoch {
        return Err(TrainError::Setup(format!(
            "{}: the run had {} steps per epoch, the dataset now gives {steps_per_epoch}; \
             resume with the dataset it started on",
            request.out.display(),
            state.steps_per_epoch
        )));
    }
    tracing::info!(
        train = train_ids.len(),
        validation = validation_ids.len(),
        steps_per_epoch,
        total_steps,
        "training"
    );

    let started = Instant::now();
    let elapsed_before = state.elapsed_s;
    let mut progress =
        progress::Progress::new(total_steps, t.epochs, state.global_step, request.progress);
    let mut finished = Vec::new();
    let mut last_checkpoint = run.latest()?.map(|c| c.dir);
    while state.epoch < t.epochs {
        let epoch = state.epoch;
        let order = epoch_order(&train_ids, settings.seed, epoch);
        let receiver = batches::spawn(
            dataset.clone(),
            sources.clone(),
            balanced_batches(&order, batch_size),
            state.next_batch,
            t.prefetch,
            threads,
        );
        let epoch_started = Instant::now();
        let mut epoch_materials = 0usize;
        while state.next_batch < steps_per_epoch {
            let step_started = Instant::now();
            let batch = receiver
                .recv()
                .map_err(|_| TrainError::Setup("the training data loader stopped".into()))??;
            for failure in &batch.failed {
                tracing::warn!("featurization failed, modality left out: {failure}");
            }
            let rows = batch.ids.len();
            state.next_batch = batch.index + 1;
            if !has_pair(&batch.modalities, anchor) {
                tracing::warn!(
                    batch = batch.index,
                    "no material of this batch has a modality pair; skipped"
                );
                continue;
            }
            let lr = schedule.learning_rate(state.global_step);
            let report = train_step(
                &mut encoders,
                &batch.modalities,
                &mut loss,
                &t.step_settings(lr),
            )
            .map_err(|e| stopped(&run, &state, e.to_string()))?;
            state.global_step += 1;
            state.epoch_loss_sum += report.loss;
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
                loss: report.loss,
                materials: rows,
                featurized: batch.computed,
                seconds,
                materials_per_s,
                grad_norm: encoders
                    .iter()
                    .zip(&report.grad_norms)
                    .map(|(e, n)| (e.modality().to_string(), *n))
                    .collect(),
                terms: report.metrics.iter().cloned().collect(),
            }))
            .map_err(io_at(&run.metrics_path()))?;
            progress.step(epoch, state.global_step, report.loss, materials_per_s);
            let every = t.checkpoint_every;
            if every > 0 && state.global_step % every == 0 && state.next_batch < steps_per_epoch {
                state.elapsed_s = elapsed_before + started.elapsed().as_secs_f64();
                save(&run, &mut state, &encoders, &mut log)?;
            }
        }
        drop(receiver);
        let train_seconds = epoch_started.elapsed().as_secs_f64();
        progress.break_line();
        let validation_batches = balanced_batches(&validation_ids, batch_size);
        let report = validation::validate(
            &mut encoders,
            &mut loss,
            &dataset,
            &sources,
            validation_batches,
            threads,
            &compared,
        )
        .map_err(|e| match e {
            TrainError::Validation(reason) => {
                stopped(&run, &state, format!("in validation: {reason}"))
            }
            other => other,
        })?;
        let metrics = EpochMetrics {
            epoch: epoch + 1,
            epochs: t.epochs,
            global_step: state.global_step,
            train_loss: state.epoch_loss_sum / state.epoch_steps.max(1) as f64,
            validation: report,
            materials_per_s: epoch_materials as f64 / train_seconds.max(1e-9),
        };
        state.end_epoch();
        state.elapsed_s = elapsed_before + started.elapsed().as_secs_f64();
        log.append(&MetricsLine::Epoch(EpochLine {
            epoch: metrics.epoch,
            global_step: metrics.global_step,
            train_loss: metrics.train_loss,
            validation: metrics.validation.clone(),
            materials_per_s: metrics.materials_per_s,
            elapsed_s: state.elapsed_s,
        }))
        .map_err(io_at(&run.metrics_path()))?;
        log.sync().map_err(io_at(&run.metrics_path()))?;
        if let Err(e) = curves::plot_loss_curves(&run.metrics_path(), &run.plot_path()) {
            tracing::warn!("loss curve {}: {e}", run.plot_path().display());
        }
        last_checkpoint = Some(save(&run, &mut state, &encoders, &mut log)?);
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
        run,
        epochs: finished,
        checkpoint,
        elapsed_s: state.elapsed_s,
    })
}

/// Saves every encoder and the host state as the run's latest checkpoint.
fn save(
    run: &RunDir,
    state: &mut HostState,
    encoders: &[crate::plugins::EncoderHandle],
    log: &mut MetricsLog,
) -> Result<PathBuf, TrainError> {
    state.metrics_bytes = log.sync().map_err(io_at(&run.metrics_path()))?;
    let mut parts = Vec::with_capacity(encoders.len());
    for encoder in encoders {
        parts.push(EncoderState {
            modality: encoder.modality().to_string(),
            weights: encoder.save_weights()?,
            optimizer: encoder.save_optimizer()?,
        });
    }
    let dir = run.save(state, &parts, &[])?;
    tracing::info!(checkpoint = %dir.display(), step = state.global_step, "checkpoint");
    Ok(dir)
}

/// The error for a step that failed, naming the last good checkpoint.
fn stopped(run: &RunDir, state: &HostState, reason: String) -> TrainError {
    let checkpoint = run
        .latest()
        .ok()
        .flatten()
        .map(|c| (c.dir, c.state.global_step));
    TrainError::Stopped {
        epoch: state.epoch + 1,
        step: state.global_step + 1,
        reason,
        checkpoint,
        out: run.root().to_path_buf(),
    }
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
