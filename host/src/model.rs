//! A finished (or checkpointed) `mmhost train` run used as a model: its encoders
//! with the weights of the latest checkpoint, and their featurizers.

use std::{collections::HashSet, path::Path};

use thiserror::Error;

use crate::{
    dataset::{Dataset, DatasetError},
    featurize::cache_key,
    plugins::{
        EncoderHandle, FeaturizerHandle, LoadError, PluginCallError, PluginDescription,
        PluginSearch,
    },
    settings::Settings,
    train::{read_run, CheckpointError, RunDir, RunInfo, TrainError},
};

pub use crate::train::ModalitySource;

/// A run that could not be used as a model.
#[derive(Debug, Error)]
pub enum ModelError {
    #[error(transparent)]
    Run(#[from] TrainError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Plugin(#[from] PluginCallError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("{0}")]
    Invalid(String),
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
        let (mut encoder, source) =
            encoder_from_settings(&self.settings, modality, search, dataset)
                .map(|(encoder, source, _)| (encoder, source))?;
        encoder.load_weights(&weights)?;
        Ok((encoder, source))
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

/// A freshly initialized encoder of `modality` as `settings` configure it, where
/// its inputs come from in `dataset`, and the plugin that made it.
pub fn encoder_from_settings(
    settings: &Settings,
    modality: &str,
    search: &PluginSearch,
    dataset: &Dataset,
) -> Result<(EncoderHandle, ModalitySource, PluginDescription), ModelError> {
    let (encoder, featurizer, cache_key, description) =
        configured_encoder(settings, modality, search)?;
    let input = settings
        .encoders
        .get(modality)
        .map_or(modality, |e| e.input_modality(modality));
    let source = ModalitySource {
        modality: modality.to_string(),
        input: input.to_string(),
        featurizer,
        cache_key,
        available: dataset.ids_with(input)?.into_iter().collect::<HashSet<_>>(),
    };
    Ok((encoder, source, description))
}

/// The encoder and featurizer of `modality` as `settings` configure them, the
/// featurization cache key, and the plugin's description.
pub fn configured_encoder(
    settings: &Settings,
    modality: &str,
    search: &PluginSearch,
) -> Result<(EncoderHandle, FeaturizerHandle, String, PluginDescription), ModelError> {
    let configured = settings.encoders.get(modality).ok_or_else(|| {
        let known: Vec<&str> = settings.encoders.keys().map(String::as_str).collect();
        ModelError::Invalid(format!(
            "modality '{modality}' has no [encoders.{modality}] table in the configuration \
             (configured: {})",
            known.join(", ")
        ))
    })?;
    let library = search.find(&configured.plugin)?;
    let description = library.description().clone();
    if description.modality != modality {
        return Err(ModelError::Invalid(format!(
            "modality '{modality}' is configured with plugin '{}', which encodes '{}'",
            description.name, description.modality
        )));
    }
    let config = settings.plugin_config(&configured.config);
    let encoder = library.encoder(&config)?;
    let featurizer = library.featurizer(&config)?;
    let key = cache_key(
        &description.name,
        &description.version,
        &crate::train::featurizer_config(&configured.config),
    );
    Ok((encoder, featurizer, key, description))
}
