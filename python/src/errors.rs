//! mmhost's errors as Python exceptions, with mmhost's messages: unusable input is a
//! `ValueError`, a plugin that cannot be found or loaded a `PluginError` (an
//! `ImportError`), anything else an `MmhostError` (a `RuntimeError`).

use pyo3::{
    create_exception,
    exceptions::{PyImportError, PyRuntimeError, PyValueError},
    prelude::*,
};

use mmhost::{
    dataset::DatasetError, downstream::DownstreamError, finetune::FinetuneError,
    plugins::LoadError, run::ModelError, train::TrainError,
};

create_exception!(
    mmhost,
    PluginError,
    PyImportError,
    "A plugin library that cannot be found, loaded or used (the message names the search path or the version)."
);
create_exception!(
    mmhost,
    MmhostError,
    PyRuntimeError,
    "A failure inside mmhost (plugin call, dataset, checkpoint), with mmhost's message."
);

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add("PluginError", py.get_type::<PluginError>())?;
    module.add("MmhostError", py.get_type::<MmhostError>())?;
    Ok(())
}

/// Input the caller handed over that cannot be used.
pub fn invalid(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}

/// Any other failure.
pub fn failed(error: impl std::fmt::Display) -> PyErr {
    MmhostError::new_err(error.to_string())
}

pub fn from_load(error: LoadError) -> PyErr {
    PluginError::new_err(error.to_string())
}

pub fn from_model(error: ModelError) -> PyErr {
    match error {
        ModelError::Load(e) => from_load(e),
        e @ ModelError::PluginVersion(_) => PluginError::new_err(e.to_string()),
        e @ (ModelError::Invalid(_) | ModelError::Run(_)) => invalid(e.to_string()),
        e => failed(e),
    }
}

pub fn from_downstream(error: DownstreamError) -> PyErr {
    match error {
        DownstreamError::Model(e) => from_model(e),
        e @ DownstreamError::Invalid(_) => invalid(e.to_string()),
        e => failed(e),
    }
}

pub fn from_dataset(error: DatasetError) -> PyErr {
    failed(error)
}

pub fn from_train(error: TrainError) -> PyErr {
    match error {
        TrainError::Load(e) => from_load(e),
        e @ TrainError::Setup(_) => invalid(e.to_string()),
        e => failed(e),
    }
}

pub fn from_finetune(error: FinetuneError) -> PyErr {
    match error {
        FinetuneError::Model(e) => from_model(*e),
        e @ FinetuneError::Setup(_) => invalid(e.to_string()),
        e => failed(e),
    }
}
