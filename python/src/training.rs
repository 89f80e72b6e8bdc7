//! `train` and `finetune` with the CLI's options; every finished epoch goes to a
//! Python callable as JSON, and Ctrl-C stops at the next step with a checkpoint.

use std::path::PathBuf;

use mmhost::{
    finetune::{finetune as run_finetune, FinetuneRequest, FinetuneSpec, FinetuneStart, HeadInit},
    run::Interrupt,
    train::{train as run_train, TrainRequest},
};
use pyo3::prelude::*;
use serde::{de::DeserializeOwned, Serialize};

use crate::{errors, interrupt, search};

/// One epoch's metrics as JSON for the Python callable.
fn json<T: Serialize>(metrics: &T) -> String {
    serde_json::to_string(metrics).unwrap_or_default()
}

/// A value of an enum that reads its lowercase name (`"cosine"`, `"regression"`).
fn named<T: DeserializeOwned>(what: &str, name: &str) -> PyResult<T> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|e| errors::invalid(format!("{what} '{name}': {e}")))
}

/// Contrastive pretraining, as `mmhost train`; returns the final checkpoint.
#[pyfunction]
#[pyo3(signature = (out, on_epoch, db=None, modalities=Vec::new(), config=None, overrides=Vec::new(), plugin_dirs=Vec::new(), resume=false, overwrite=false, progress=true))]
#[allow(clippy::too_many_arguments)]
pub fn train(
    py: Python<'_>,
    out: PathBuf,
    on_epoch: Py<PyAny>,
    db: Option<PathBuf>,
    modalities: Vec<String>,
    config: Option<PathBuf>,
    overrides: Vec<(String, String)>,
    plugin_dirs: Vec<PathBuf>,
    resume: bool,
    overwrite: bool,
    progress: bool,
) -> PyResult<PathBuf> {
    let settings = search::settings(config, overrides)?;
    let search = search::search(&settings, &plugin_dirs)?;
    let interrupt = Interrupt::default();
    let request = TrainRequest {
        db,
        modalities,
        settings,
        search,
        out,
        resume,
        overwrite,
        progress,
        interrupt: interrupt.clone(),
    };
    let outcome = interrupt::run(py, &interrupt, Some(&on_epoch), |report| {
        run_train(request, &mut |m| report(json(m)))
    })?
    .map_err(errors::from_train)?;
    Ok(outcome.checkpoint)
}

/// Fine-tuning with a linear head, as `mmhost finetune`; returns the outcome
/// (test metrics, baseline, epochs) as JSON.
#[pyfunction]
#[pyo3(signature = (out, on_epoch, db=None, property=None, start_from=None, task=None, loss="mse", floor=None, head_init="zero", head_ridge=None, epochs=50, batch_size=64, lr=1e-3, schedule="cosine", warmup=0.05, patience=10, split_seed=42, splits=(0.7, 0.2, 0.1), config=None, overrides=Vec::new(), plugin_dirs=Vec::new(), resume=false, overwrite=false, progress=true))]
#[allow(clippy::too_many_arguments)]
pub fn finetune(
    py: Python<'_>,
    out: PathBuf,
    on_epoch: Py<PyAny>,
    db: Option<PathBuf>,
    property: Option<String>,
    start_from: Option<PathBuf>,
    task: Option<&str>,
    loss: &str,
    floor: Option<f64>,
    head_init: &str,
    head_ridge: Option<f64>,
    epochs: usize,
    batch_size: usize,
    lr: f64,
    schedule: &str,
    warmup: f64,
    patience: usize,
    split_seed: u64,
    splits: (f64, f64, f64),
    config: Option<PathBuf>,
    overrides: Vec<(String, String)>,
    plugin_dirs: Vec<PathBuf>,
    resume: bool,
    overwrite: bool,
    progress: bool,
) -> PyResult<String> {
    let settings = search::settings(config, overrides)?;
    let search = search::search(&settings, &plugin_dirs)?;
    let start = if resume {
        FinetuneStart::Resume
    } else {
        let (Some(db), Some(property)) = (db, property) else {
            return Err(errors::invalid("a new fine-tuning needs db and property"));
        };
        let task = match task {
            Some(name) => named("task", name)?,
            None => mmhost::finetune::Task::default_for(&property),
        };
        let head_init: HeadInit = named("head_init", head_init)?;
        FinetuneStart::New {
            spec: FinetuneSpec {
                db,
                from: start_from,
                task: Some(task),
                property,
                loss: named("loss", loss)?,
                floor,
                head_init,
                head_ridge: head_init.ridge(head_ridge),
                epochs,
                batch_size,
                lr,
                schedule: named("schedule", schedule)?,
                warmup_fraction: warmup,
                patience,
                split_seed,
                splits: [splits.0, splits.1, splits.2],
            },
            settings: Box::new(settings),
        }
    };
    let interrupt = Interrupt::default();
    let request = FinetuneRequest {
        start,
        search,
        out,
        overwrite,
        progress,
        interrupt: interrupt.clone(),
    };
    let outcome = interrupt::run(py, &interrupt, Some(&on_epoch), |report| {
        run_finetune(request, &mut |line| report(json(line)))
    })?
    .map_err(errors::from_finetune)?;
    serde_json::to_string(&outcome).map_err(errors::failed)
}
