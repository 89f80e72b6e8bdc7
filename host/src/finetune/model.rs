//! The directory of a fine-tuned model, and predicting with it.
//!
//! ```text
//! FT/config.toml               the configuration its crystal encoder was built with
//! FT/model.json                property, task, label scaling, floor, head, test metrics,
//!                              training materials per element
//! FT/crystal.safetensors       encoder weights of the best validation epoch (the
//!                              last without a validation split)
//! FT/test_predictions.csv      material_id, true value, prediction on the test split
//! FT/parity.png                prediction against truth on the test split (regression)
//! ```

use std::{
    collections::BTreeSet,
    fs, io,
    path::{Path, PathBuf},
};

use mmhost_materials::Element;
use plotters::style::RGBColor;
use serde::{Deserialize, Serialize};

use super::{
    coverage::{rarest_element, unseen_elements, ElementCounts, RarestElement},
    evaluate::Scaling,
    FinetuneOutcome,
};
use crate::{
    atomic,
    dataset::IS_METAL,
    head::{sigmoid, LinearHead},
    plugins::{EncoderHandle, FeaturizerHandle, PluginSearch},
    run::{check_plugin_version, ModelError, SavedEncoder},
    session::configured_encoder,
    settings::Settings,
};

/// Regression (MSE or L1 loss; MAE, RMSE, R²) or binary classification (BCE loss;
/// accuracy and ROC-AUC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Regression,
    /// Labels 0 or 1.
    Classification,
}

impl Task {
    /// The task a fine-tuning of `property` has when none is stated: classification
    /// for the derived [`IS_METAL`], regression for every dataset label.
    pub fn default_for(property: &str) -> Self {
        if property == IS_METAL {
            Task::Classification
        } else {
            Task::Regression
        }
    }
}

/// `model.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelInfo {
    pub property: String,
    pub task: Task,
    /// Regression targets were `(y − mean) / std` for the head.
    pub label_mean: f64,
    pub label_std: f64,
    /// Lowest value predicted (regression; absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<f64>,
    pub head: LinearHead,
    pub outcome: FinetuneOutcome,
    /// The crystal encoder's plugin and version (absent in models written before it
    /// was recorded; those load with any version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder: Option<SavedEncoder>,
    /// Materials of this fine-tuning's training split containing each element, by
    /// symbol (not those of an earlier stage it started from; absent in models
    /// written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_elements: Option<ElementCounts>,
}

impl ModelInfo {
    /// How the head's outputs map to predictions.
    pub(crate) fn scaling(&self) -> Scaling {
        Scaling {
            task: self.task,
            mean: self.label_mean,
            std: self.label_std,
            floor: self.floor,
        }
    }
}

/// Head outputs for embeddings `z` (`[rows, dim]`): label units (at least the
/// floor) for regression, probabilities for classification.
pub fn outputs(head: &LinearHead, z: &[f32], scaling: &Scaling) -> Vec<f64> {
    let raw = head.predict(z);
    match scaling.task {
        Task::Regression => raw
            .iter()
            .map(|y| scaling.floored(y * scaling.std + scaling.mean))
            .collect(),
        Task::Classification => raw.into_iter().map(sigmoid).collect(),
    }
}

fn paths(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    (
        dir.join("config.toml"),
        dir.join("model.json"),
        dir.join("crystal.safetensors"),
    )
}

/// Writes the model directory atomically, file by file.
pub fn write(
    dir: &Path,
    settings: &Settings,
    info: &ModelInfo,
    weights: &[u8],
    ids: &[String],
    truth: &[f64],
    predicted: &[f64],
) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let (config, model, crystal) = paths(dir);
    atomic::write(&crystal, weights)?;
    let toml = toml::to_string(settings).map_err(io::Error::other)?;
    atomic::write(&config, toml.as_bytes())?;
    // Quoted where a field needs it: ids may hold commas or quotes.
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record([
        "material_id".to_string(),
        info.property.clone(),
        format!("predicted_{}", info.property),
    ])
    .map_err(io::Error::other)?;
    for ((id, t), p) in ids.iter().zip(truth).zip(predicted) {
        csv.write_record([id.clone(), t.to_string(), p.to_string()])
            .map_err(io::Error::other)?;
    }
    let csv = csv
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))?;
    atomic::write(&dir.join("test_predictions.csv"), &csv)?;
    if info.task == Task::Regression {
        let points: Vec<(f64, f64)> = truth
            .iter()
            .copied()
            .zip(predicted.iter().copied())
            .collect();
        let mae = info.outcome.test.mae.unwrap_or(f64::NAN);
        crate::plot::parity_chart(
            &dir.join("parity.png"),
            &format!(
                "{}: test MAE {mae:.4} ({} materials)",
                info.property,
                points.len()
            ),
            &format!("true {}", info.property),
            &format!("predicted {}", info.property),
            &points,
            RGBColor(31, 119, 180),
        )?;
    }
    // model.json last: a directory with it is complete.
    let json = serde_json::to_vec_pretty(info).map_err(io::Error::other)?;
    atomic::write(&model, &json)
}

/// A fine-tuned model read back from its directory.
pub struct FinetunedModel {
    dir: PathBuf,
    pub settings: Settings,
    pub info: ModelInfo,
    weights: Vec<u8>,
}

impl FinetunedModel {
    /// Reads the directory written by `mmhost finetune`.
    pub fn open(dir: &Path) -> Result<Self, ModelError> {
        let (config, model, crystal) = paths(dir);
        let read = |path: &Path| {
            fs::read(path).map_err(|e| {
                ModelError::Invalid(format!(
                    "{}: {e}; is {} a model written by `mmhost finetune`?",
                    path.display(),
                    dir.display()
                ))
            })
        };
        let settings = Settings::from_toml(&String::from_utf8_lossy(&read(&config)?))
            .map_err(|e| ModelError::Invalid(format!("{}: {e}", config.display())))?;
        let info: ModelInfo = serde_json::from_slice(&read(&model)?)
            .map_err(|e| ModelError::Invalid(format!("{}: {e}", model.display())))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            settings,
            info,
            weights: read(&crystal)?,
        })
    }

    /// The trained crystal encoder and its featurizer.
    pub fn encoder(
        &self,
        search: &PluginSearch,
    ) -> Result<(EncoderHandle, FeaturizerHandle), ModelError> {
        let (mut encoder, featurizer, _, installed) =
            configured_encoder(&self.settings, "crystal", search)?;
        if let Some(trained) = &self.info.encoder {
            check_plugin_version(&self.dir, trained, &installed)?;
        }
        if encoder.embed_dim() != self.info.head.dim() {
            return Err(ModelError::Invalid(format!(
                "{}: the head reads {}-d embeddings, the configured crystal encoder makes {}-d",
                self.dir.display(),
                self.info.head.dim(),
                encoder.embed_dim()
            )));
        }
        encoder.load_weights(&self.weights)?;
        Ok((encoder, featurizer))
    }

    /// The crystal encoder's weights (safetensors bytes).
    pub fn weights(&self) -> &[u8] {
        &self.weights
    }

    /// Predictions (label units, or probabilities) for embeddings `z`.
    pub fn predict(&self, z: &[f32]) -> Vec<f64> {
        outputs(&self.info.head, z, &self.info.scaling())
    }

    /// The element of `elements` that the fewest of this model's training materials
    /// contained (`None` for a model that does not record them).
    pub fn rarest_element(&self, elements: &BTreeSet<Element>) -> Option<RarestElement> {
        rarest_element(elements, self.info.training_elements.as_ref()?)
    }

    /// The elements of `elements` that none of this model's training materials
    /// contained (none for a model that does not record them).
    pub fn unseen_elements(&self, elements: &BTreeSet<Element>) -> Vec<Element> {
        self.info
            .training_elements
            .as_ref()
            .map(|counts| unseen_elements(elements, counts))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::{outputs, Scaling, Task};
    use crate::head::LinearHead;

    #[test]
    fn the_floor_raises_low_predictions_and_keeps_nan() {
        // y = z on a 1-wide embedding; labels scaled back by std 2, mean 0.5.
        let head: LinearHead = serde_json::from_str(
            r#"{"weights":[1.0],"bias":0.0,"moments":[[0.0,0.0],[0.0,0.0]],"steps":0}"#,
        )
        .unwrap();
        let z = [-1.0f32, 0.0, 1.0, f32::NAN]; // [4, 1]
        let scaling = |floor| Scaling {
            task: Task::Regression,
            mean: 0.5,
            std: 2.0,
            floor,
        };
        let free = outputs(&head, &z, &scaling(None));
        assert_eq!(free[..3], [-1.5, 0.5, 2.5]);
        let floored = outputs(&head, &z, &scaling(Some(0.0)));
        assert_eq!(floored[..3], [0.0, 0.5, 2.5]);
        assert!(free[3].is_nan() && floored[3].is_nan());
    }
}
