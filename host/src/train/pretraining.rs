//! A pretraining run in progress: opening (new or resumed), the materials it trains
//! and validates on, its epochs and steps, validation and checkpoints.

use std::{path::PathBuf, sync::Arc, time::Instant};

use super::{
    has_pair, io_at, progress::Progress, setup, validation, CosineSchedule, EpochLine,
    EpochMetrics, MetricsLine, StepLine, TrainError, TrainRequest,
};
use crate::{
    backprop::train_step,
    batches::{self, balanced_batches, epoch_order, LoadedBatch},
    dataset::{split_of, Dataset, Split},
    plugins::{ComparedPairs, EncoderHandle, LossHandle},
    run::{
        read_run, write_run, Checkpoint, EncoderInfo, EncoderState, HostState, Interrupt,
        MetricsLog, RunClock, RunDir, RunInfo,
    },
    session::ModalitySource,
    settings::{Settings, TrainSettings},
};

/// The run's settings, modalities and dataset: the request's for a new run, the
/// run's own on resume (with the latest checkpoint to continue from).
struct Opened {
    settings: Settings,
    modalities: Vec<String>,
    db: PathBuf,
    resumed: Option<Checkpoint>,
}

fn open_run(request: &TrainRequest, run: &RunDir) -> Result<Opened, TrainError> {
    let opened = if request.resume {
        let (settings, info) = read_run(run)?;
        Opened {
            settings,
            modalities: info.modalities,
            db: request.db.clone().unwrap_or(info.db),
            resumed: run.latest()?,
        }
    } else {
        if request.overwrite {
            run.clear()?;
        }
        setup::refuse_existing(run)?;
        let db = request
            .db
            .clone()
            .ok_or_else(|| TrainError::Setup("a new run needs --db".into()))?;
        Opened {
            settings: request.settings.clone(),
            modalities: request.modalities.clone(),
            db,
            resumed: None,
        }
    };
    if !opened.db.is_file() {
        return Err(TrainError::Setup(format!(
            "{}: no such dataset (create it with `mmhost data import --db {} FILES`)",
            opened.db.display(),
            opened.db.display()
        )));
    }
    Ok(opened)
}

/// The materials a run trains and validates on.
struct Materials {
    train: Vec<String>,
    validation: Vec<String>,
}

impl Materials {
    /// The trainable materials of `sources` in the training and validation splits
    /// (every trainable material trains with `all_materials`).
    fn of(sources: &[ModalitySource], anchor: Option<usize>, t: &TrainSettings) -> Self {
        let ids = setup::trainable_ids(sources, anchor);
        let split = |want| -> Vec<String> {
            ids.iter()
                .filter(|id| split_of(id, t.split_seed, t.splits) == want)
                .cloned()
                .collect()
        };
        Self {
            train: if t.all_materials {
                ids.clone()
            } else {
                split(Split::Train)
            },
            validation: split(Split::Validation),
        }
    }
}

/// A pretraining run in progress: its plugins, data, schedule and bookkeeping.
pub(super) struct Pretraining {
    pub run: RunDir,
    settings: Settings,
    dataset: Arc<Dataset>,
    sources: Arc<Vec<ModalitySource>>,
    encoders: Vec<EncoderHandle>,
    loss: LossHandle,
    compared: ComparedPairs,
    materials: Materials,
    steps_per_epoch: usize,
    schedule: CosineSchedule,
    pub state: HostState,
    log: MetricsLog,
    clock: RunClock,
    interrupt: Interrupt,
}

impl Pretraining {
    /// Loads the plugins and the dataset, and starts the run or restores its
    /// latest checkpoint.
    pub fn open(request: &TrainRequest) -> Result<Self, TrainError> {
        let run = RunDir::new(&request.out);
        let Opened {
            settings,
            modalities,
            db,
            resumed,
        } = open_run(request, &run)?;
        let dataset = Arc::new(Dataset::open(&db)?);
        let session = setup::Session::build(&settings, &request.search, &modalities, &dataset)?;
        let mut encoders = session.encoders;
        let t = &settings.train;
        let materials = Materials::of(&session.sources, session.compared.anchor, t);
        if materials.train.is_empty() {
            return Err(TrainError::Setup(format!(
                "{}: no training material has two of the modalities {modalities:?}",
                db.display()
            )));
        }
        let steps_per_epoch = materials.train.len().div_ceil(t.batch_size.max(1));
        let total_steps = steps_per_epoch * t.epochs;
        let schedule = CosineSchedule::new(t.lr, t.warmup_fraction, total_steps);

        run.create()?;
        let (state, log) = match resumed {
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
                    train_materials: materials.train.len(),
                    validation_materials: materials.validation.len(),
                };
                write_run(&run, &settings, &info)?;
                let log =
                    MetricsLog::create(&run.metrics_path()).map_err(io_at(&run.metrics_path()))?;
                let saved = session.infos.iter().map(EncoderInfo::saved).collect();
                (HostState::new(steps_per_epoch, saved), log)
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
            train = materials.train.len(),
            validation = materials.validation.len(),
            steps_per_epoch,
            total_steps,
            "training"
        );
        Ok(Self {
            clock: RunClock::continuing(state.elapsed_s),
            run,
            settings,
            dataset,
            sources: Arc::new(session.sources),
            encoders,
            loss: session.loss,
            compared: session.compared,
            materials,
            steps_per_epoch,
            schedule,
            state,
            log,
            interrupt: request.interrupt.clone(),
        })
    }

    pub fn epochs(&self) -> usize {
        self.settings.train.epochs
    }

    pub fn total_steps(&self) -> usize {
        self.steps_per_epoch * self.epochs()
    }

    /// Trains the rest of the current epoch; returns the materials trained on and
    /// the seconds it took.
    pub fn train_epoch(&mut self, progress: &mut Progress) -> Result<(usize, f64), TrainError> {
        let t = &self.settings.train;
        let order = epoch_order(&self.materials.train, self.settings.seed, self.state.epoch);
        let receiver = batches::spawn(
            self.dataset.clone(),
            self.sources.clone(),
            balanced_batches(&order, t.batch_size.max(1)),
            self.state.next_batch,
            t.prefetch,
            t.worker_threads(),
        );
        let started = Instant::now();
        let mut materials = 0usize;
        while self.state.next_batch < self.steps_per_epoch {
            let batch = receiver
                .recv()
                .map_err(|_| TrainError::Setup("the training data loader stopped".into()))??;
            materials += self.step(batch, progress)?;
            if self
                .state
                .mid_epoch_checkpoint_due(self.settings.train.checkpoint_every)
            {
                self.save()?;
            }
            if self.interrupt.is_requested() {
                self.save()?;
                return Err(stopped(&self.run, &self.state, "interrupted".into()));
            }
        }
        Ok((materials, started.elapsed().as_secs_f64()))
    }

    /// One training step on `batch`; returns the materials it trained on (0 for a
    /// batch with no modality pair, which is skipped).
    fn step(&mut self, batch: LoadedBatch, progress: &mut Progress) -> Result<usize, TrainError> {
        let started = Instant::now();
        for failure in &batch.failed {
            tracing::warn!("featurization failed, modality left out: {failure}");
        }
        let state = &mut self.state;
        state.next_batch = batch.index + 1;
        if !has_pair(&batch.modalities, self.compared.anchor) {
            tracing::warn!(
                batch = batch.index,
                "no material of this batch has a modality pair; skipped"
            );
            return Ok(0);
        }
        let rows = batch.ids.len();
        let lr = self.schedule.learning_rate(state.global_step);
        let report = train_step(
            &mut self.encoders,
            &batch.modalities,
            &mut self.loss,
            &self.settings.train.step_settings(lr),
        )
        .map_err(|e| stopped(&self.run, state, e.to_string()))?;
        state.global_step += 1;
        state.epoch_loss_sum += report.loss;
        state.epoch_steps += 1;
        state.epoch_materials += rows;
        let seconds = started.elapsed().as_secs_f64();
        let materials_per_s = rows as f64 / seconds.max(1e-9);
        self.log
            .append(&MetricsLine::Step(StepLine {
                epoch: state.epoch + 1,
                step: state.next_batch,
                global_step: state.global_step,
                lr,
                loss: report.loss,
                materials: rows,
                featurized: batch.computed,
                seconds,
                materials_per_s,
                grad_norm: self
                    .encoders
                    .iter()
                    .zip(&report.grad_norms)
                    .map(|(e, n)| (e.modality().to_string(), *n))
                    .collect(),
                terms: report.metrics.iter().cloned().collect(),
            }))
            .map_err(io_at(&self.run.metrics_path()))?;
        progress.step(state.epoch, state.global_step, report.loss, materials_per_s);
        Ok(rows)
    }

    /// Validates, logs and plots the epoch just trained (`materials` in `seconds`)
    /// and checkpoints it; returns its metrics and the checkpoint.
    pub fn end_epoch(
        &mut self,
        materials: usize,
        seconds: f64,
    ) -> Result<(EpochMetrics, PathBuf), TrainError> {
        let t = &self.settings.train;
        let report = validation::validate(
            &mut self.encoders,
            &mut self.loss,
            &self.dataset,
            &self.sources,
            balanced_batches(&self.materials.validation, t.batch_size.max(1)),
            t.worker_threads(),
            &self.compared,
        )
        .map_err(|e| match e {
            TrainError::Validation(reason) => {
                stopped(&self.run, &self.state, format!("in validation: {reason}"))
            }
            other => other,
        })?;
        let metrics = EpochMetrics {
            epoch: self.state.epoch + 1,
            epochs: t.epochs,
            global_step: self.state.global_step,
            train_loss: self.state.epoch_loss_sum / self.state.epoch_steps.max(1) as f64,
            validation: report,
            materials_per_s: materials as f64 / seconds.max(1e-9),
        };
        self.state.end_epoch();
        self.state.elapsed_s = self.clock.elapsed_s();
        let metrics_path = self.run.metrics_path();
        self.log
            .append(&MetricsLine::Epoch(EpochLine {
                epoch: metrics.epoch,
                global_step: metrics.global_step,
                train_loss: metrics.train_loss,
                validation: metrics.validation.clone(),
                materials_per_s: metrics.materials_per_s,
                elapsed_s: self.state.elapsed_s,
            }))
            .map_err(io_at(&metrics_path))?;
        self.log.sync().map_err(io_at(&metrics_path))?;
        if let Err(e) = super::curves::plot_loss_curves(&metrics_path, &self.run.plot_path()) {
            tracing::warn!("loss curve {}: {e}", self.run.plot_path().display());
        }
        let checkpoint = self.save()?;
        Ok((metrics, checkpoint))
    }

    /// Saves every encoder and the host state as the run's latest checkpoint.
    fn save(&mut self) -> Result<PathBuf, TrainError> {
        let state = &mut self.state;
        state.elapsed_s = self.clock.elapsed_s();
        state.metrics_bytes = self.log.sync().map_err(io_at(&self.run.metrics_path()))?;
        let mut parts = Vec::with_capacity(self.encoders.len());
        for encoder in &self.encoders {
            parts.push(EncoderState {
                modality: encoder.modality().to_string(),
                weights: encoder.save_weights()?,
                optimizer: encoder.save_optimizer()?,
            });
        }
        let dir = self.run.save(state, &parts, &[])?;
        tracing::info!(checkpoint = %dir.display(), step = state.global_step, "checkpoint");
        Ok(dir)
    }
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
