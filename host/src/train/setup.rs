//! Setting a run up: the plugins of the chosen modalities, the materials that can
//! train, and the run's saved description.

use std::collections::BTreeSet;

use super::TrainError;
use crate::{
    dataset::Dataset,
    plugins::{ComparedPairs, EncoderHandle, LossHandle, PluginSearch},
    run::{EncoderInfo, RunDir},
    session::{encoder_from_settings, ModalitySource},
    settings::Settings,
};

/// The plugins of one run, instantiated.
pub(crate) struct Session {
    pub encoders: Vec<EncoderHandle>,
    pub sources: Vec<ModalitySource>,
    pub infos: Vec<EncoderInfo>,
    pub loss: LossHandle,
    /// The modality pairs the loss compares and its anchor, as the loss plugin
    /// states them; validation scores retrieval of each pair.
    pub compared: ComparedPairs,
}

impl Session {
    /// Loads the encoder plugin of every modality in `modalities` and the loss plugin.
    pub fn build(
        settings: &Settings,
        search: &PluginSearch,
        modalities: &[String],
        dataset: &Dataset,
    ) -> Result<Self, TrainError> {
        if modalities.len() < 2 {
            return Err(TrainError::Setup(format!(
                "contrastive training needs two or more modalities, got {modalities:?}"
            )));
        }
        let unique: BTreeSet<&String> = modalities.iter().collect();
        if unique.len() != modalities.len() {
            return Err(TrainError::Setup(format!(
                "a modality is named twice in {modalities:?}"
            )));
        }
        let mut encoders = Vec::new();
        let mut sources = Vec::new();
        let mut infos = Vec::new();
        for modality in modalities {
            let (encoder, source, description) =
                encoder_from_settings(settings, modality, search, dataset)
                    .map_err(|e| TrainError::Setup(e.to_string()))?;
            sources.push(source);
            infos.push(EncoderInfo {
                modality: modality.clone(),
                plugin: description.name.clone(),
                version: description.version.clone(),
                path: description.path.clone(),
                parameters: encoder.parameter_count(),
                embed_dim: encoder.embed_dim(),
            });
            encoders.push(encoder);
        }
        let loss_library = search.find(&settings.loss.plugin)?;
        let loss = loss_library.loss(&settings.plugin_config(&settings.loss.config))?;
        let compared = loss.pairs(modalities)?;
        if compared.pairs.is_empty() {
            return Err(TrainError::Setup(format!(
                "loss plugin '{}' compares no pair of {modalities:?}",
                settings.loss.plugin
            )));
        }
        Ok(Self {
            encoders,
            sources,
            infos,
            loss,
            compared,
        })
    }
}

/// Sorted ids of the materials that can contribute to the loss: two or more of
/// the run's modalities, including the anchor if there is one.
pub(crate) fn trainable_ids(sources: &[ModalitySource], anchor: Option<usize>) -> Vec<String> {
    let all: BTreeSet<&String> = sources.iter().flat_map(|s| s.available.iter()).collect();
    let has = |source: &ModalitySource, id: &String| source.available.contains(id);
    all.into_iter()
        .filter(|id| {
            let count = sources.iter().filter(|s| has(s, id)).count();
            count >= 2 && anchor.is_none_or(|a| has(&sources[a], id))
        })
        .cloned()
        .collect()
}

/// Refuses to start a new run over an existing one.
pub(crate) fn refuse_existing(run: &RunDir) -> Result<(), TrainError> {
    if run.config_path().exists() || run.latest()?.is_some() {
        return Err(TrainError::Setup(format!(
            "{} already holds a run; pass --resume to continue it, or choose another --out",
            run.root().display()
        )));
    }
    Ok(())
}
