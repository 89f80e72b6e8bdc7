//! The plugin search path and lock file, as the `mmhost` binary has them.

use std::path::PathBuf;

use mmhost::{plugins::PluginSearch, settings::Settings};
use pyo3::prelude::*;

use crate::errors;

/// `<target>/<profile>` of this build, where `cargo build` puts the plugins.
const BUILD_PROFILE_DIR: &str = env!("MMHOST_BUILD_PROFILE_DIR");

/// The configuration: `config` (TOML) with `overrides` (`key`, TOML value), as the
/// CLI's `--config` and `--set`; `MMHOST__…` environment variables apply too.
pub fn settings(config: Option<PathBuf>, overrides: Vec<(String, String)>) -> PyResult<Settings> {
    mmhost::settings::load(config.as_deref(), &overrides)
        .map_err(|e| errors::invalid(e.to_string()))
}

/// The binary's search path (`MMHOST_PLUGIN_PATH`, `extra`, `plugins.dir`, the
/// running executable's directory), then this build's profile directory in place
/// of the `mmhost` binary's own; with the lock file in force when there is one.
pub fn search(settings: &Settings, extra: &[PathBuf]) -> PyResult<PluginSearch> {
    PluginSearch::configured(settings, extra)
        .map(|s| s.with_last(PathBuf::from(BUILD_PROFILE_DIR)))
        .map_err(errors::from_load)
}

/// The directories searched for plugins with `extra` directories and `config`.
#[pyfunction]
#[pyo3(signature = (extra=Vec::new(), config=None))]
pub fn plugin_dirs(extra: Vec<PathBuf>, config: Option<PathBuf>) -> PyResult<Vec<PathBuf>> {
    let settings = settings(config, Vec::new())?;
    Ok(search(&settings, &extra)?.dirs().to_vec())
}

/// The `models/` folder of the repository this module was built from.
#[pyfunction]
pub fn repository_models_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../models"))
}

/// `<target>/<profile>` of the build this module comes from.
#[pyfunction]
pub fn build_profile_dir() -> PathBuf {
    PathBuf::from(BUILD_PROFILE_DIR)
}
