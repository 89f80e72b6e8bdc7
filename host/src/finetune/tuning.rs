//! A fine-tuning in progress: the crystal encoder and head, their data, schedule and
//! bookkeeping; its epochs, steps, checkpoints, and the model it writes at the end.

use std::{collections::HashMap, path::PathBuf, sync::Arc, time::Instant};

use mmhost_plugin_api::Embeddings;

use super::{
    coverage::element_counts,
    evaluate::{Evaluator, Predictions, Scaling},
    io_at,
    materials::{labelled_splits, standardization, LabelledSplits},
    metrics::{classification_metrics, regression_metrics},
    model::{self, ModelInfo},
    open::{open_run, Initial},
    probe::fitted_head,
    state::{BestEpoch, FinetuneState},
    EpochLine, FinetuneError, FinetuneOutcome, FinetuneRequest, FinetuneSpec, HeadInit, LrSchedule,
    MetricsLine, RegressionLoss, SplitCounts, StepLine, Task, TestMetrics,
};
use crate::{
    batches::{self, balanced_batches, epoch_order, LoadedBatch},
    dataset::Dataset,
    head::LinearHead,
    plugins::{EncoderHandle, PluginCallError},
    run::{
        EncoderState, HostState, Interrupt, MetricsLog, ModelError, RunClock, RunDir, SavedEncoder,
    },
    session::{encoder_from_settings, ModalitySource},
    settings::Settings,
    train::{format_duration, progress::Progress, CosineSchedule},
};

/// A fine-tuning in progress.
pub(super) struct FineTuning {
    run: RunDir,
    spec: FinetuneSpec,
    settings: Settings,
    task: Task,
    dataset: Arc<Dataset>,
    /// The crystal source, alone: the batch loader's list of modalities.
    sources: Arc<Vec<ModalitySource>>,
    encoder: EncoderHandle,
    splits: LabelledSplits,
    /// Training labels by id.
    labels: HashMap<String, f64>,
    scaling: Scaling,
    steps_per_epoch: usize,
    schedule: CosineSchedule,
    pub state: HostState,
    ft: FinetuneState,
    /// Encoder weights of the best validation epoch so far.
    best_weights: Vec<u8>,
    log: MetricsLog,
    clock: RunClock,
    interrupt: Interrupt,
}

impl FineTuning {
    /// Opens the recipe and dataset, loads the crystal encoder with its starting
    /// weights, featurizes and splits the labelled materials, and starts the
    /// fine-tuning or restores its latest checkpoint.
    pub fn open(request: &FinetuneRequest) -> Result<Self, FinetuneError> {
        let run = RunDir::new(&request.out);
        let (spec, settings, initial) = open_run(request, &run)?;
        let task = spec.task();
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
            Initial::From(weights) => {
                encoder.load_weights(&weights)?;
                None
            }
            Initial::Fresh => None,
        };
        let threads = settings.train.worker_threads();
        let splits = labelled_splits(&dataset, &source, &spec, task, threads, request.progress)?;
        let scaling = standardization(task, &splits.train, spec.floor);
        let steps_per_epoch = splits.train.len().div_ceil(spec.batch_size.max(1));
        let total_steps = steps_per_epoch * spec.epochs;
        let warmup = match spec.schedule {
            LrSchedule::Cosine => spec.warmup_fraction,
            LrSchedule::Constant => 0.0,
        };
        let schedule = CosineSchedule::new(spec.lr, warmup, total_steps);

        let (state, ft, best_weights, log) = match checkpoint {
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
                let head = match spec.head_init {
                    HeadInit::Zero => LinearHead::new(encoder.embed_dim(), 0.0),
                    HeadInit::Fit => fitted_head(
                        &evaluator(&dataset, &source, scaling, &spec, &settings),
                        &mut encoder,
                        &splits.train,
                        spec.loss,
                        spec.head_ridge(),
                        request.progress,
                        &request.interrupt,
                    )?,
                };
                let ft = FinetuneState {
                    head,
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
            train = splits.train.len(),
            validation = splits.validation.len(),
            test = splits.test.len(),
            steps_per_epoch,
            total_steps,
            "fine-tuning {}",
            spec.property
        );
        Ok(Self {
            clock: RunClock::continuing(state.elapsed_s),
            labels: splits.train.iter().cloned().collect(),
            run,
            spec,
            settings,
            task,
            dataset,
            sources: Arc::new(vec![source]),
            encoder,
            splits,
            scaling,
            steps_per_epoch,
            schedule,
            state,
            ft,
            best_weights,
            log,
            interrupt: request.interrupt.clone(),
        })
    }

    /// Steps over all epochs.
    pub fn total_steps(&self) -> usize {
        self.steps_per_epoch * self.spec.epochs
    }

    /// Epochs of the recipe.
    pub fn epochs(&self) -> usize {
        self.spec.epochs
    }

    /// Whether another epoch is to run: epochs left and no early stop.
    pub fn continues(&self) -> bool {
        self.state.epoch < self.spec.epochs && !self.ft.stopped
    }

    fn learning_rate(&self, step: usize) -> f64 {
        match self.spec.schedule {
            LrSchedule::Cosine => self.schedule.learning_rate(step),
            LrSchedule::Constant => self.spec.lr,
        }
    }

    /// Trains the rest of the current epoch; returns the materials trained on and
    /// the seconds it took.
    pub fn train_epoch(&mut self, progress: &mut Progress) -> Result<(usize, f64), FinetuneError> {
        let train_ids: Vec<String> = self.splits.train.iter().map(|(id, _)| id.clone()).collect();
        let order = epoch_order(&train_ids, self.settings.seed, self.state.epoch);
        let receiver = batches::spawn(
            self.dataset.clone(),
            self.sources.clone(),
            balanced_batches(&order, self.spec.batch_size.max(1)),
            self.state.next_batch,
            self.settings.train.prefetch,
            self.settings.train.worker_threads(),
        );
        let started = Instant::now();
        let mut materials = 0;
        while self.state.next_batch < self.steps_per_epoch {
            let batch = receiver
                .recv()
                .map_err(|_| FinetuneError::Setup("the data loader stopped".into()))??;
            materials += self.step(batch, progress)?;
            if self
                .state
                .mid_epoch_checkpoint_due(self.settings.train.checkpoint_every)
            {
                self.save()?;
            }
            if self.interrupt.is_requested() {
                self.save()?;
                return Err(stopped(&self.run, &self.state, StopCause::Interrupted));
            }
        }
        Ok((materials, started.elapsed().as_secs_f64()))
    }

    /// One step of encoder and head on `batch`; returns the materials it trained on.
    fn step(
        &mut self,
        batch: LoadedBatch,
        progress: &mut Progress,
    ) -> Result<usize, FinetuneError> {
        let started = Instant::now();
        self.state.next_batch = batch.index + 1;
        let modality = &batch.modalities[0];
        if modality.records.is_empty() {
            return Ok(0);
        }
        let Scaling { mean, std, .. } = self.scaling;
        let targets: Vec<f64> = batch
            .ids
            .iter()
            .zip(&modality.present)
            .filter(|(_, &present)| present)
            .map(|(id, _)| (self.labels[id.as_str()] - mean) / std)
            .collect();
        let lr = self.learning_rate(self.state.global_step);
        let failed = |run: &RunDir, state: &HostState, e: PluginCallError| {
            stopped(run, state, StopCause::Failed(e.to_string()))
        };
        let z = self
            .encoder
            .forward(&modality.records, true)
            .map_err(|e| failed(&self.run, &self.state, e))?;
        let (loss, grad) = match self.task {
            Task::Regression => match self.spec.loss {
                RegressionLoss::Mse => self.ft.head.mse_step(&z.values, &targets, lr),
                RegressionLoss::L1 => self.ft.head.l1_step(&z.values, &targets, lr),
            },
            Task::Classification => self.ft.head.bce_step(&z.values, &targets, lr),
        };
        if !loss.is_finite() {
            return Err(stopped(
                &self.run,
                &self.state,
                StopCause::Failed(format!("non-finite loss ({loss})")),
            ));
        }
        self.encoder
            .backward(&Embeddings::new(z.rows as usize, z.dim as usize, grad))
            .map_err(|e| failed(&self.run, &self.state, e))?;
        let grad_norm = self
            .encoder
            .step(&self.settings.train.step_settings(lr))
            .map_err(|e| failed(&self.run, &self.state, e))?;
        let rows = targets.len();
        let state = &mut self.state;
        state.global_step += 1;
        state.epoch_loss_sum += loss;
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
                loss,
                grad_norm,
                materials: rows,
                seconds,
                materials_per_s,
            }))
            .map_err(io_at(&self.run.metrics_path()))?;
        progress.step(state.epoch, state.global_step, loss, materials_per_s);
        Ok(rows)
    }

    /// Scores the epoch just trained (`materials` in `seconds`) on the validation
    /// split, keeps the best epoch (the last without a validation split), decides
    /// early stopping, logs, checkpoints and plots it. `seconds` of the line counts
    /// training and validation.
    pub fn end_epoch(
        &mut self,
        materials: usize,
        seconds: f64,
    ) -> Result<EpochLine, FinetuneError> {
        let started = Instant::now();
        let epoch = self.state.epoch;
        let score = if self.spec.validates() {
            let scorer = evaluator(
                &self.dataset,
                &self.sources[0],
                self.scaling,
                &self.spec,
                &self.settings,
            );
            Some(scorer.score(&mut self.encoder, &self.ft.head, &self.splits.validation)?)
        } else {
            None
        };
        let improves = |best: &BestEpoch| match (score, best.score) {
            (Some(score), Some(best)) => score < best,
            _ => true,
        };
        if self.ft.best.as_ref().is_none_or(improves) {
            self.best_weights = self.encoder.save_weights()?;
            self.ft.best = Some(BestEpoch {
                score,
                epoch: epoch + 1,
                head: self.ft.head.clone(),
            });
        }
        let best_epoch = self.ft.best.as_ref().map_or(0, |b| b.epoch);
        self.ft.stopped = epoch + 1 - best_epoch >= self.spec.patience.max(1);
        let line = EpochLine {
            epoch: epoch + 1,
            global_step: self.state.global_step,
            train_loss: self.state.epoch_loss_sum / self.state.epoch_steps.max(1) as f64,
            validation: score,
            best_epoch,
            materials_per_s: materials as f64 / seconds.max(1e-9),
            seconds: seconds + started.elapsed().as_secs_f64(),
        };
        self.state.end_epoch();
        self.log
            .append(&MetricsLine::Epoch(line.clone()))
            .map_err(io_at(&self.run.metrics_path()))?;
        self.save()?;
        let score_name = match self.task {
            Task::Regression => format!("validation MAE of {}", self.spec.property),
            Task::Classification => "validation BCE".to_string(),
        };
        if let Err(e) = super::curves::plot(
            &self.run.metrics_path(),
            &self.run.plot_path(),
            &self.spec.property,
            &score_name,
        ) {
            tracing::warn!("curves {}: {e}", self.run.plot_path().display());
        }
        Ok(line)
    }

    /// Saves the encoder, the optimizer, the head and the best epoch as the latest
    /// checkpoint.
    fn save(&mut self) -> Result<PathBuf, FinetuneError> {
        let state = &mut self.state;
        state.elapsed_s = self.clock.elapsed_s();
        state.metrics_bytes = self.log.sync().map_err(io_at(&self.run.metrics_path()))?;
        let encoders = [EncoderState {
            modality: "crystal".into(),
            weights: self.encoder.save_weights()?,
            optimizer: self.encoder.save_optimizer()?,
        }];
        let files = self
            .ft
            .files(&self.best_weights)
            .map_err(|e| FinetuneError::Setup(format!("fine-tuning state: {e}")))?;
        let borrowed: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
        Ok(self.run.save(state, &encoders, &borrowed)?)
    }

    /// Restores the best epoch, scores it on the test split, writes the model
    /// directory and removes the checkpoints.
    pub fn finish(mut self) -> Result<FinetuneOutcome, FinetuneError> {
        let best = self
            .ft
            .best
            .clone()
            .ok_or_else(|| FinetuneError::Setup("no epoch ran (--epochs 0)".into()))?;
        self.encoder.load_weights(&self.best_weights)?;
        let Predictions {
            ids,
            truth,
            predicted,
        } = evaluator(
            &self.dataset,
            &self.sources[0],
            self.scaling,
            &self.spec,
            &self.settings,
        )
        .predict(&mut self.encoder, &best.head, &self.splits.test)?;
        let (test, baseline) = score_test(self.scaling, &self.splits.train, &truth, &predicted);
        let outcome = FinetuneOutcome {
            property: self.spec.property.clone(),
            task: self.task,
            from: self.spec.from.clone(),
            recipe: Some(self.spec.clone()),
            materials: SplitCounts {
                train: self.splits.train.len(),
                validation: self.splits.validation.len(),
                test: self.splits.test.len(),
            },
            best_epoch: best.epoch,
            epochs_run: self.state.epoch,
            test,
            baseline,
            seconds: self.clock.elapsed_s(),
        };
        let info = ModelInfo {
            property: self.spec.property.clone(),
            task: self.task,
            label_mean: self.scaling.mean,
            label_std: self.scaling.std,
            floor: self.scaling.floor,
            head: best.head,
            outcome: outcome.clone(),
            encoder: self.state.encoders.first().cloned(),
            training_elements: Some(element_counts(
                &self.dataset,
                self.splits.train.iter().map(|(id, _)| id.as_str()),
            )?),
        };
        let out = self.run.root().to_path_buf();
        model::write(
            &out,
            &self.settings,
            &info,
            &self.best_weights,
            &ids,
            &truth,
            &predicted,
        )
        .map_err(io_at(&out))?;
        self.run.remove_checkpoints()?;
        tracing::info!(
            "fine-tuned {} in {} ({} this process)",
            self.spec.property,
            format_duration(outcome.seconds),
            format_duration(self.clock.this_process_s())
        );
        Ok(outcome)
    }
}

/// How the validation and test splits are scored.
fn evaluator<'a>(
    dataset: &'a Dataset,
    source: &'a ModalitySource,
    scaling: Scaling,
    spec: &FinetuneSpec,
    settings: &Settings,
) -> Evaluator<'a> {
    Evaluator {
        dataset,
        source,
        scaling,
        batch_size: spec.batch_size.max(1),
        threads: settings.train.worker_threads(),
    }
}

/// Test metrics of `predicted`, and of the constant predictor (training mean raised
/// to the floor, or majority class) beside them.
fn score_test(
    scaling: Scaling,
    train: &[(String, f64)],
    truth: &[f64],
    predicted: &[f64],
) -> (TestMetrics, TestMetrics) {
    match scaling.task {
        Task::Regression => {
            let constant = scaling.floored(scaling.mean);
            (
                regression_metrics(truth, predicted),
                regression_metrics(truth, &vec![constant; truth.len()]),
            )
        }
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

/// Why a fine-tuning stopped before its end.
enum StopCause {
    /// Ctrl-C (or the Python caller's interrupt).
    Interrupted,
    /// A step that failed: non-finite values, a plugin error.
    Failed(String),
}

/// The error for a fine-tuning that stopped at the current step, naming the last
/// good checkpoint and how to go on from it.
fn stopped(run: &RunDir, state: &HostState, cause: StopCause) -> FinetuneError {
    let resume = format!("`mmhost finetune --out {} --resume`", run.root().display());
    let (reason, next) = match cause {
        StopCause::Interrupted => ("interrupted".to_string(), format!("continue with {resume}")),
        StopCause::Failed(reason) => (
            reason,
            format!(
                "once the cause is fixed, continue with {resume}; it keeps this recipe, so \
                 a recipe at fault (a learning rate too high) needs a new fine-tuning \
                 (--overwrite)"
            ),
        ),
    };
    let hint = match run.latest().ok().flatten() {
        Some(c) => format!(
            "the last good checkpoint is intact: {} (after step {}); {next}",
            c.dir.display(),
            c.state.global_step,
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
