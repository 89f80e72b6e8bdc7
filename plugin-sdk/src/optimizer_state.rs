//! The optimizer-state file of an encoder (`MODALITY.optimizer` in a checkpoint):
//! step count, AdamW settings and burn's record of the moments, as MessagePack.

use mmhost_plugin_api::{ErrorKind, PluginError, StepSettings};
use serde::{Deserialize, Serialize};

/// Identifies the format, so another file is refused by name rather than misread.
const FORMAT: &str = "mmhost-adamw/2";

/// What `save_optimizer` writes and `load_optimizer` reads.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OptimizerState {
    /// Optimizer steps taken.
    pub steps: u64,
    /// The AdamW settings the optimizer was built with, once a step was taken.
    pub settings: Option<StepSettings>,
    /// burn's binary record of the AdamW moments.
    pub moments: Vec<u8>,
}

/// The serialized form: the ABI's `StepSettings` as plain fields.
#[derive(Serialize, Deserialize)]
struct Stored {
    format: String,
    steps: u64,
    /// learning rate, weight decay, β₁, β₂, ε, gradient-clipping norm.
    settings: Option<[f64; 6]>,
    #[serde(with = "serde_bytes")]
    moments: Vec<u8>,
}

impl OptimizerState {
    /// The file's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, PluginError> {
        let stored = Stored {
            format: FORMAT.to_string(),
            steps: self.steps,
            settings: self.settings.map(|s| {
                [
                    s.learning_rate,
                    s.weight_decay,
                    s.beta1,
                    s.beta2,
                    s.epsilon,
                    s.grad_clip_norm,
                ]
            }),
            moments: self.moments.clone(),
        };
        rmp_serde::to_vec_named(&stored).map_err(|e| {
            PluginError::new(ErrorKind::Internal, format!("saving optimizer state: {e}"))
        })
    }

    /// Reads a file written by [`OptimizerState::encode`]; anything else is refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, PluginError> {
        let refused = |why: String| {
            PluginError::new(
                ErrorKind::InvalidInput,
                format!("not an mmhost optimizer state ({why})"),
            )
        };
        let stored: Stored = rmp_serde::from_slice(bytes).map_err(|e| refused(e.to_string()))?;
        if stored.format != FORMAT {
            return Err(refused(format!(
                "format '{}', expected '{FORMAT}'",
                stored.format
            )));
        }
        Ok(Self {
            steps: stored.steps,
            settings: stored.settings.map(
                |[learning_rate, weight_decay, beta1, beta2, epsilon, grad_clip_norm]| {
                    StepSettings {
                        learning_rate,
                        weight_decay,
                        beta1,
                        beta2,
                        epsilon,
                        grad_clip_norm,
                    }
                },
            ),
            moments: stored.moments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(settings: Option<StepSettings>) -> OptimizerState {
        OptimizerState {
            steps: 17,
            settings,
            moments: (0..=255).collect(),
        }
    }

    #[test]
    fn states_round_trip() {
        let settings = StepSettings {
            learning_rate: 1e-4,
            weight_decay: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            grad_clip_norm: 1.0,
        };
        for original in [state(Some(settings)), state(None)] {
            let bytes = original.encode().unwrap();
            assert_eq!(OptimizerState::decode(&bytes).unwrap(), original);
        }
    }

    #[test]
    fn other_bytes_are_refused_not_misread() {
        let bytes = state(None).encode().unwrap();
        for bad in [
            &b""[..],
            b"MMHADAM1 an older format",
            &bytes[..bytes.len() / 2],
        ] {
            let err = OptimizerState::decode(bad).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidInput);
            assert!(
                err.message.contains("not an mmhost optimizer state"),
                "{}",
                err.message
            );
        }
        let mut other = rmp_serde::to_vec_named(&Stored {
            format: "someone-else/1".into(),
            steps: 1,
            settings: None,
            moments: Vec::new(),
        })
        .unwrap();
        let err = OptimizerState::decode(&other).unwrap_err();
        assert!(
            err.message.contains("format 'someone-else/1'"),
            "{}",
            err.message
        );
        other.truncate(0);
    }
}
