//! What a fine-tuning checkpoint holds beyond the encoder's weights and optimizer:
//! the head, the best validation epoch so far with its weights, and whether early
//! stopping ended the training.

use serde::{Deserialize, Serialize};

use crate::{
    head::LinearHead,
    run::{Checkpoint, RunDirError},
};

/// File of [`FinetuneState`] in a checkpoint.
const STATE_FILE: &str = "finetune.json";
/// File of the best epoch's encoder weights in a checkpoint.
const BEST_WEIGHTS_FILE: &str = "best.safetensors";

/// The best validation epoch so far (the last without a validation split).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BestEpoch {
    /// Validation MAE (regression, label units) or BCE (classification); `None`
    /// without a validation split.
    pub score: Option<f64>,
    /// 1-based.
    pub epoch: usize,
    pub head: LinearHead,
}

/// The fine-tuning's own state, saved with every checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FinetuneState {
    /// The head as trained so far.
    pub head: LinearHead,
    pub best: Option<BestEpoch>,
    /// Early stopping ended the training: only the test evaluation is left.
    pub stopped: bool,
}

impl FinetuneState {
    /// The files to save beside the encoder: the state and the best weights.
    pub fn files(
        &self,
        best_weights: &[u8],
    ) -> Result<Vec<(&'static str, Vec<u8>)>, serde_json::Error> {
        let mut files = vec![(STATE_FILE, serde_json::to_vec_pretty(self)?)];
        if self.best.is_some() {
            files.push((BEST_WEIGHTS_FILE, best_weights.to_vec()));
        }
        Ok(files)
    }

    /// The state and best weights (empty before the first validation) of `checkpoint`.
    pub fn load(checkpoint: &Checkpoint) -> Result<(Self, Vec<u8>), RunDirError> {
        let bytes = checkpoint.file(STATE_FILE)?;
        let state: Self = serde_json::from_slice(&bytes).map_err(|e| RunDirError::Invalid {
            path: checkpoint.dir.join(STATE_FILE),
            reason: e.to_string(),
        })?;
        let best = match state.best {
            Some(_) => checkpoint.file(BEST_WEIGHTS_FILE)?,
            None => Vec::new(),
        };
        Ok((state, best))
    }
}
