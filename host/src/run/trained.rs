//! A finished (or checkpointed) `mmhost train` run used as a model: its encoders
//! with the weights of the latest checkpoint, and their featurizers.

use std::path::Path;

use thiserror::Error;

use super::{read_run, RunDir, RunDirError, RunInfo, SavedEncoder};
use crate::{
    dataset::{Dataset, DatasetError},
    plugins::{
        EncoderHandle, FeaturizerHandle, LoadError, PluginCallError, PluginDescription,
        PluginSearch,
    },
    session::{configured_encoder, encoder_from_settings, ModalitySource, SessionError},
    settings::Settings,
};

/// A run that could not be used as a model.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error(transparent)]
    Run(#[from] RunDirError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Plugin(#[from] PluginCallError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    PluginVersion(Box<PluginVersionMismatch>),
}

/// Weights written by another version of a plugin than the installed one.
#[derive(Debug, Error)]
#[error(
    "{model}: its {modality} encoder was trained with plugin '{plugin}' {trained}, but the \
     installed '{plugin}' is {installed} ({path}); its weights are that version's layout: \
     install plugin version {trained}, or train the model again"
)]
pub struct PluginVersionMismatch {
    pub model: String,
    pub modality: String,
    pub plugin: String,
    pub trained: String,
    pub installed: String,
    pub path: String,
}

/// Refuses weights that another version of a plugin than the installed one wrote:
/// each plugin version owns its weight layout.
pub fn check_plugin_version(
    model: &Path,
    saved: &SavedEncoder,
    installed: &PluginDescription,
) -> Result<(), ModelError> {
    if saved.version == installed.version {
        return Ok(());
    }
    Err(ModelError::PluginVersion(Box::new(PluginVersionMismatch {
        model: model.display().to_string(),
        modality: saved.modality.clone(),
        plugin: saved.plugin.clone(),
        trained: saved.version.clone(),
        installed: installed.version.clone(),
        path: installed.path.display().to_string(),
    })))
}

impl From<SessionError> for ModelError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Load(e) => ModelError::Load(e),
            SessionError::Plugin(e) => ModelError::Plugin(e),
            SessionError::Dataset(e) => ModelError::Dataset(e),
            SessionError::Invalid(e) => ModelError::Invalid(e),
        }
    }
}

/// A trained run: its configuration, description and latest checkpoint.
pub struct TrainedRun {
    run: RunDir,
    settings: Settings,
    info: RunInfo,
}

impl TrainedRun {
    /// Opens the run directory written by `mmhost train`.
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let run = RunDir::new(path);
        let (settings, info) = read_run(&run)?;
        Ok(Self {
            run,
            settings,
            info,
        })
    }

    /// Runs its encoders on `device` (`cpu`, `cuda:N`) rather than the one it
    /// was trained on.
    pub fn move_to(&mut self, device: &str) {
        self.settings.move_to(device);
    }

    /// The run's split seed: with [`TrainedRun::splits`], which split a material is in.
    pub fn split_seed(&self) -> u64 {
        self.settings.train.split_seed
    }

    /// The run's train / validation / test fractions.
    pub fn splits(&self) -> [f64; 3] {
        self.settings.train.splits
    }

    /// The run's resolved configuration.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The run's description (`run.json`).
    pub fn info(&self) -> &RunInfo {
        &self.info
    }

    /// The encoder of `modality` with its trained weights, and where its inputs
    /// come from in `dataset` (featurizer, cache key, materials that have it).
    pub fn encoder(
        &self,
        modality: &str,
        search: &PluginSearch,
        dataset: &Dataset,
    ) -> Result<(EncoderHandle, ModalitySource), ModelError> {
        let weights = self.weights(modality)?;
        let (mut encoder, source, installed) =
            encoder_from_settings(&self.settings, modality, search, dataset)?;
        if let Some(trained) = self.info.encoders.iter().find(|e| e.modality == modality) {
            check_plugin_version(self.run.root(), &trained.saved(), &installed)?;
        }
        encoder.load_weights(&weights)?;
        Ok((encoder, source))
    }

    /// The encoder of `modality` with its trained weights, its featurizer and the
    /// modality of the raw records that reads (usually `modality`), for inputs from
    /// outside any dataset (files, objects handed over by a caller).
    pub fn standalone_encoder(
        &self,
        modality: &str,
        search: &PluginSearch,
    ) -> Result<(EncoderHandle, FeaturizerHandle, String), ModelError> {
        let weights = self.weights(modality)?;
        let (mut encoder, featurizer, _, installed) =
            configured_encoder(&self.settings, modality, search)?;
        if let Some(trained) = self.info.encoders.iter().find(|e| e.modality == modality) {
            check_plugin_version(self.run.root(), &trained.saved(), &installed)?;
        }
        encoder.load_weights(&weights)?;
        let input = self
            .settings
            .encoders
            .get(modality)
            .map_or(modality, |e| e.input_modality(modality));
        Ok((encoder, featurizer, input.to_string()))
    }

    /// The safetensors bytes of `modality`'s encoder in the latest checkpoint.
    pub fn weights(&self, modality: &str) -> Result<Vec<u8>, ModelError> {
        if !self.info.modalities.iter().any(|m| m == modality) {
            return Err(ModelError::Invalid(format!(
                "{}: the run trained {:?}, not '{modality}'",
                self.run.root().display(),
                self.info.modalities
            )));
        }
        let checkpoint = self.run.latest()?.ok_or_else(|| {
            ModelError::Invalid(format!(
                "{}: the run has no checkpoint yet",
                self.run.root().display()
            ))
        })?;
        Ok(checkpoint.weights(modality)?)
    }
}
