//! The trained models shipped in a folder (the repository's `models/`): each a
//! directory with its weights, `MODEL.md` for people and `card.json` for `mmhost
//! models`, which lists them with their key figures and checks that the weights are
//! the ones the card names and that the installed plugins can load them.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{
    plugins::{sha256_file, PluginSearch},
    run::SavedEncoder,
};

/// What a model is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// A fine-tuned crystal encoder with a head: `mmhost predict --model`.
    Property,
    /// A multimodal pretraining run: `mmhost embed`/`retrieve`/`discover --model`.
    Pretrained,
}

/// `card.json`: a model's key figures (the long form is its `MODEL.md`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelCard {
    pub name: String,
    pub kind: ModelKind,
    /// One line on what it does.
    pub summary: String,
    /// Modalities it encodes.
    pub modalities: Vec<String>,
    /// The predicted property (property models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// Test-split mean absolute error, in the property's units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_mae: Option<f64>,
    /// The training-mean predictor's test MAE, for scale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_mae: Option<f64>,
    /// Trainable parameters of its encoders, and of its head for a property model.
    pub parameters: u64,
    /// The plugin and version of each encoder the weights belong to.
    pub plugins: Vec<SavedEncoder>,
    /// SHA-256 of each weight file, by path relative to the model directory.
    pub weights_sha256: BTreeMap<String, String>,
}

/// A model directory that cannot be listed.
#[derive(Debug, Error)]
pub enum CatalogError {
    #[error("{path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
}

/// One model found in the folder, with the outcome of its checks.
#[derive(Debug, Serialize)]
pub struct ListedModel {
    pub path: PathBuf,
    pub card: ModelCard,
    /// Weight files whose SHA-256 differs from the card's (or that are missing).
    pub changed_weights: Vec<String>,
    /// Plugins that are not installed or not at the card's version, with why.
    pub plugin_problems: Vec<String>,
}

impl ListedModel {
    /// Whether the model loads as shipped.
    pub fn usable(&self) -> bool {
        self.changed_weights.is_empty() && self.plugin_problems.is_empty()
    }
}

/// Every model directory (one with a `card.json`) directly inside `folder`, by name.
pub fn list(folder: &Path, search: &PluginSearch) -> Result<Vec<ListedModel>, CatalogError> {
    let unreadable = |path: &Path, reason: String| CatalogError::Unreadable {
        path: path.to_path_buf(),
        reason,
    };
    let entries = fs::read_dir(folder).map_err(|e| unreadable(folder, e.to_string()))?;
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("card.json").is_file())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let card_path = dir.join("card.json");
            let text = fs::read_to_string(&card_path)
                .map_err(|e| unreadable(&card_path, e.to_string()))?;
            let card: ModelCard =
                serde_json::from_str(&text).map_err(|e| unreadable(&card_path, e.to_string()))?;
            Ok(check(dir, card, search))
        })
        .collect()
}

fn check(path: PathBuf, card: ModelCard, search: &PluginSearch) -> ListedModel {
    let changed_weights = card
        .weights_sha256
        .iter()
        .filter(|(file, sha)| sha256_file(&path.join(file)).ok().as_ref() != Some(*sha))
        .map(|(file, _)| file.clone())
        .collect();
    let plugin_problems = card
        .plugins
        .iter()
        .filter_map(|saved| match search.find(&saved.plugin) {
            Ok(library) if library.description().version == saved.version => None,
            Ok(library) => Some(format!(
                "plugin '{}' is {} ({}), the model needs {}",
                saved.plugin,
                library.description().version,
                library.description().path.display(),
                saved.version
            )),
            Err(e) => Some(format!("plugin '{}': {e}", saved.plugin)),
        })
        .collect();
    ListedModel {
        path,
        card,
        changed_weights,
        plugin_problems,
    }
}
