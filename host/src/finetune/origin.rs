//! What `mmhost finetune --from` names: a pretraining run (`mmhost train --out`)
//! or a fine-tuned model (`mmhost finetune --out`, such as
//! `models/potnet-mp-formation-energy`), whose crystal encoder a new fine-tuning
//! starts from. A fine-tuned model hands on its encoder alone: the new fine-tuning
//! trains a new head.

use std::path::{Path, PathBuf};

use super::{FinetuneError, FinetuneSpec, FinetunedModel};
use crate::{
    run::{SavedEncoder, TrainedRun},
    settings::Settings,
};

/// The crystal encoder a fine-tuning starts from, and what it was trained on.
pub(super) struct Origin {
    /// The directory `--from` named.
    pub path: PathBuf,
    /// The configuration its crystal encoder was built with.
    pub settings: Settings,
    /// The crystal encoder's weights (safetensors bytes).
    pub weights: Vec<u8>,
    /// The plugin and version that wrote the weights, where recorded.
    pub encoder: Option<SavedEncoder>,
    /// Split seed and train / validation / test fractions of the materials it held
    /// out; `None` when it trained on every material.
    pub held_out: Option<(u64, [f64; 3])>,
}

impl Origin {
    /// Opens `path`: a fine-tuned model when it holds a `model.json`, else a
    /// pretraining run. A fine-tuning that has not finished is refused: its best
    /// weights are not chosen yet.
    pub fn open(path: &Path) -> Result<Self, FinetuneError> {
        if path.join("model.json").is_file() {
            Self::finetuned(path)
        } else if FinetuneSpec::path(path).is_file() {
            Err(FinetuneError::Setup(format!(
                "{}: this fine-tuning has not finished (no model.json yet); finish it with \
                 `mmhost finetune --out {} --resume`, or start from a finished model",
                path.display(),
                path.display()
            )))
        } else {
            Self::pretraining(path)
        }
    }

    fn pretraining(path: &Path) -> Result<Self, FinetuneError> {
        let run = TrainedRun::open(path)?;
        let weights = run.weights("crystal")?;
        let encoder = run
            .info()
            .encoders
            .iter()
            .find(|e| e.modality == "crystal")
            .map(|e| e.saved());
        let held_out =
            (!run.settings().train.all_materials).then(|| (run.split_seed(), run.splits()));
        Ok(Self {
            path: path.to_path_buf(),
            settings: run.settings().clone(),
            weights,
            encoder,
            held_out,
        })
    }

    fn finetuned(path: &Path) -> Result<Self, FinetuneError> {
        let model = FinetunedModel::open(path)?;
        // Its recipe says which materials it did not train on: in model.json, or in
        // finetune.json beside it for models written before model.json held it.
        let spec = match &model.info.outcome.recipe {
            Some(spec) => spec.clone(),
            None => {
                let recipe = FinetuneSpec::path(path);
                let text = std::fs::read(&recipe).map_err(|e| {
                    FinetuneError::Setup(format!(
                        "{}: {e}; a fine-tuned model's recipe (written by `mmhost finetune`) \
                         names the materials it held out",
                        recipe.display()
                    ))
                })?;
                serde_json::from_slice(&text)
                    .map_err(|e| FinetuneError::Setup(format!("{}: {e}", recipe.display())))?
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            weights: model.weights().to_vec(),
            encoder: model.info.encoder,
            settings: model.settings,
            held_out: Some((spec.split_seed, spec.splits)),
        })
    }
}
