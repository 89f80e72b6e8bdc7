//! Encoders as a configuration sets them up: the plugin of each modality, its
//! encoder and featurizer, the featurization cache key, and where its inputs come
//! from in a dataset. Training, fine-tuning and the downstream commands all start
//! here.

use std::collections::HashSet;

use mmhost_plugin_api::RUNTIME_KEYS;
use thiserror::Error;

use crate::{
    dataset::{Dataset, DatasetError},
    featurize::cache_key,
    plugins::{
        EncoderHandle, FeaturizerHandle, LoadError, PluginCallError, PluginDescription,
        PluginSearch,
    },
    settings::Settings,
};

/// An encoder that could not be set up.
#[derive(Debug, Error)]
pub enum SessionError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Plugin(#[from] PluginCallError),
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("{0}")]
    Invalid(String),
}

/// Where one modality's inputs come from.
pub struct ModalitySource {
    pub modality: String,
    /// The modality of the raw records it reads (usually the same).
    pub input: String,
    pub featurizer: FeaturizerHandle,
    /// Featurization cache key (plugin, version, configuration).
    pub cache_key: String,
    /// Materials with a raw record of this modality.
    pub available: HashSet<String>,
}

/// The part of an encoder's configuration that can change its features, as TOML
/// (the cache key): everything but the runtime keys.
pub fn featurizer_config(config: &toml::Table) -> String {
    let mut table = config.clone();
    for runtime_key in RUNTIME_KEYS {
        table.remove(runtime_key);
    }
    toml::to_string(&table).unwrap_or_default()
}

/// A freshly initialized encoder of `modality` as `settings` configure it, where
/// its inputs come from in `dataset`, and the plugin that made it.
pub fn encoder_from_settings(
    settings: &Settings,
    modality: &str,
    search: &PluginSearch,
    dataset: &Dataset,
) -> Result<(EncoderHandle, ModalitySource, PluginDescription), SessionError> {
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
) -> Result<(EncoderHandle, FeaturizerHandle, String, PluginDescription), SessionError> {
    let configured = settings.encoders.get(modality).ok_or_else(|| {
        let known: Vec<&str> = settings.encoders.keys().map(String::as_str).collect();
        SessionError::Invalid(format!(
            "modality '{modality}' has no [encoders.{modality}] table in the configuration \
             (configured: {})",
            known.join(", ")
        ))
    })?;
    let library = search.find(&configured.plugin)?;
    let description = library.description().clone();
    if description.modality != modality {
        return Err(SessionError::Invalid(format!(
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
        &featurizer_config(&configured.config),
    );
    Ok((encoder, featurizer, key, description))
}
