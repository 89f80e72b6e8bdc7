//! A run's description: `config.toml` (the resolved configuration, used again on
//! resume) and `run.json` (dataset, modalities, plugins, loss).

use std::{fs, path::PathBuf};

use serde::{Deserialize, Serialize};

use super::checkpoint::{RunDir, RunDirError, SavedEncoder};
use crate::{atomic, settings::Settings};

/// `run.json`: what a run trains, so that it can be resumed and its encoders used.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunInfo {
    /// The dataset it trained on.
    pub db: PathBuf,
    /// Modalities, in run order.
    pub modalities: Vec<String>,
    pub encoders: Vec<EncoderInfo>,
    /// The loss plugin.
    pub loss: String,
    pub train_materials: usize,
    pub validation_materials: usize,
}

/// One encoder of a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EncoderInfo {
    pub modality: String,
    pub plugin: String,
    pub version: String,
    /// The library it was loaded from.
    pub path: PathBuf,
    pub parameters: u64,
    pub embed_dim: usize,
}

impl EncoderInfo {
    pub(crate) fn saved(&self) -> SavedEncoder {
        SavedEncoder {
            modality: self.modality.clone(),
            plugin: self.plugin.clone(),
            version: self.version.clone(),
        }
    }
}

/// Writes `config.toml` and `run.json` of a new run, atomically.
pub fn write_run(run: &RunDir, settings: &Settings, info: &RunInfo) -> Result<(), RunDirError> {
    fs::create_dir_all(run.root()).map_err(RunDirError::io(run.root()))?;
    let config_path = run.config_path();
    let config = toml::to_string(settings).map_err(|e| RunDirError::Invalid {
        path: config_path.clone(),
        reason: format!("serializing the configuration: {e}"),
    })?;
    let header = "# The resolved configuration of this run; `mmhost train --resume` uses it.\n";
    atomic::write(&config_path, format!("{header}{config}").as_bytes())
        .map_err(RunDirError::io(&config_path))?;
    let info_path = run.run_info_path();
    let json = serde_json::to_vec_pretty(info).map_err(|e| RunDirError::Invalid {
        path: info_path.clone(),
        reason: format!("serializing: {e}"),
    })?;
    atomic::write(&info_path, &json).map_err(RunDirError::io(&info_path))
}

/// The configuration and description of an existing run.
pub fn read_run(run: &RunDir) -> Result<(Settings, RunInfo), RunDirError> {
    let config_path = run.config_path();
    let text = fs::read_to_string(&config_path).map_err(|e| RunDirError::Invalid {
        path: config_path.clone(),
        reason: format!(
            "{e}; is {} a run directory written by `mmhost train`?",
            run.root().display()
        ),
    })?;
    let settings = Settings::from_toml(&text).map_err(|e| RunDirError::Invalid {
        path: config_path.clone(),
        reason: e.to_string(),
    })?;
    let info_path = run.run_info_path();
    let text = fs::read_to_string(&info_path).map_err(RunDirError::io(&info_path))?;
    let info: RunInfo = serde_json::from_str(&text).map_err(|e| RunDirError::Invalid {
        path: info_path.clone(),
        reason: e.to_string(),
    })?;
    Ok((settings, info))
}
