//! Safe handles over plugin objects: ABI results become `Result`s whose errors name
//! the plugin and the operation, and embeddings are checked before use.

use abi_stable::std_types::{RResult, RSlice, RString};
use mmhost_plugin_api::{
    Embeddings, EncoderBox, ErrorKind, FeaturizerBox, LossBox, LossOutput, ModalityEmbeddings,
    PluginError, Record, StepSettings,
};
use thiserror::Error;

/// A plugin call that failed (including a panic caught inside the plugin).
#[derive(Debug, Error, Clone, PartialEq)]
// The plugin's error is part of the message, not a separate cause: a chain of
// causes (`{:#}`) would print it twice.
#[error("plugin '{plugin}' failed in {operation}: {error}")]
pub struct PluginCallError {
    pub plugin: String,
    pub operation: &'static str,
    pub error: PluginError,
}

fn call<T>(
    plugin: &str,
    operation: &'static str,
    result: RResult<T, PluginError>,
) -> Result<T, PluginCallError> {
    result.into_result().map_err(|error| PluginCallError {
        plugin: plugin.to_string(),
        operation,
        error,
    })
}

fn checked(
    plugin: &str,
    operation: &'static str,
    rows: usize,
    result: RResult<Embeddings, PluginError>,
) -> Result<Embeddings, PluginCallError> {
    let fail = |kind, message: String| PluginCallError {
        plugin: plugin.to_string(),
        operation,
        error: PluginError::new(kind, message),
    };
    let z = call(plugin, operation, result)?;
    z.validate()
        .map_err(|e| fail(e.kind, e.message.to_string()))?;
    if z.rows as usize != rows {
        return Err(fail(
            ErrorKind::Internal,
            format!("returned {} rows for a batch of {rows}", z.rows),
        ));
    }
    if let Some(i) = z.values.iter().position(|v| !v.is_finite()) {
        return Err(fail(
            ErrorKind::NonFinite,
            format!(
                "embedding row {} holds {}",
                i / z.dim.max(1) as usize,
                z.values[i]
            ),
        ));
    }
    Ok(z)
}

/// A featurizer: thread-safe, shareable across loader threads.
pub struct FeaturizerHandle {
    plugin: String,
    inner: FeaturizerBox,
}

impl FeaturizerHandle {
    pub(crate) fn new(plugin: &str, inner: FeaturizerBox) -> Self {
        Self {
            plugin: plugin.to_string(),
            inner,
        }
    }

    /// Raw record → featurized record.
    pub fn featurize(&self, raw: &Record) -> Result<Record, PluginCallError> {
        call(&self.plugin, "featurize", self.inner.featurize(raw))
    }
}

/// One encoder instance.
pub struct EncoderHandle {
    plugin: String,
    modality: String,
    inner: EncoderBox,
}

impl EncoderHandle {
    pub(crate) fn new(plugin: &str, modality: &str, inner: EncoderBox) -> Self {
        Self {
            plugin: plugin.to_string(),
            modality: modality.to_string(),
            inner,
        }
    }

    /// Name of the plugin that made this encoder.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    /// Modality it encodes.
    pub fn modality(&self) -> &str {
        &self.modality
    }

    /// Embedding width.
    pub fn embed_dim(&self) -> usize {
        self.inner.embed_dim() as usize
    }

    /// Trainable scalar count.
    pub fn parameter_count(&self) -> u64 {
        self.inner.parameter_count()
    }

    /// Device the model runs on.
    pub fn device(&self) -> String {
        self.inner.device().to_string()
    }

    /// `[batch, dim]` embeddings of featurized records; `train` keeps the graph.
    pub fn forward(
        &mut self,
        batch: &[Record],
        train: bool,
    ) -> Result<Embeddings, PluginCallError> {
        let result = self.inner.forward(RSlice::from_slice(batch), train);
        checked(&self.plugin, "forward", batch.len(), result)
    }

    /// Back-propagates `dL/dZ` of the last training forward.
    pub fn backward(&mut self, grad: &Embeddings) -> Result<(), PluginCallError> {
        call(&self.plugin, "backward", self.inner.backward(grad))
    }

    /// Parameter gradients of the last backward, by parameter path.
    pub fn gradients(&self) -> Result<Record, PluginCallError> {
        call(&self.plugin, "gradients", self.inner.gradients())
    }

    /// One optimizer step; returns the gradient norm.
    pub fn step(&mut self, settings: &StepSettings) -> Result<f64, PluginCallError> {
        call(&self.plugin, "step", self.inner.step(settings))
    }

    /// Embeddings without a graph.
    pub fn embed(&mut self, batch: &[Record]) -> Result<Embeddings, PluginCallError> {
        let result = self.inner.embed(RSlice::from_slice(batch));
        checked(&self.plugin, "embed", batch.len(), result)
    }

    /// Weights as safetensors bytes.
    pub fn save_weights(&self) -> Result<Vec<u8>, PluginCallError> {
        call(&self.plugin, "save_weights", self.inner.save_weights()).map(|b| b.into_vec())
    }

    /// Loads weights written by `save_weights`.
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<(), PluginCallError> {
        let result = self.inner.load_weights(RSlice::from_slice(bytes));
        call(&self.plugin, "load_weights", result)
    }

    /// Optimizer state bytes.
    pub fn save_optimizer(&self) -> Result<Vec<u8>, PluginCallError> {
        call(&self.plugin, "save_optimizer", self.inner.save_optimizer()).map(|b| b.into_vec())
    }

    /// Restores optimizer state.
    pub fn load_optimizer(&mut self, bytes: &[u8]) -> Result<(), PluginCallError> {
        let result = self.inner.load_optimizer(RSlice::from_slice(bytes));
        call(&self.plugin, "load_optimizer", result)
    }
}

/// Which of a run's modalities a loss compares, by index into them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComparedPairs {
    /// `(first, second)` pairs; validation scores retrieval of `second` → `first`.
    pub pairs: Vec<(usize, usize)>,
    /// The modality every pair includes, which a material must have to train.
    pub anchor: Option<usize>,
}

/// One loss instance.
pub struct LossHandle {
    plugin: String,
    inner: LossBox,
}

impl LossHandle {
    pub(crate) fn new(plugin: &str, inner: LossBox) -> Self {
        Self {
            plugin: plugin.to_string(),
            inner,
        }
    }

    /// The pairs of `modalities` (a run's, in run order) the loss compares, and its
    /// anchor (for a loss plugin built before losses stated them: every pair, no
    /// anchor). Indices outside the modalities are refused.
    pub fn pairs(&self, modalities: &[String]) -> Result<ComparedPairs, PluginCallError> {
        let names: Vec<RString> = modalities
            .iter()
            .map(|m| RString::from(m.as_str()))
            .collect();
        let stated = call(
            &self.plugin,
            "pairs",
            self.inner.pairs(RSlice::from_slice(&names)),
        )?;
        let count = modalities.len();
        let index = |i: u64| usize::try_from(i).ok().filter(|&i| i < count);
        let invalid = |what: String| PluginCallError {
            plugin: self.plugin.clone(),
            operation: "pairs",
            error: PluginError::new(
                ErrorKind::Internal,
                format!("stated {what} among {count} modalities"),
            ),
        };
        let mut pairs = Vec::with_capacity(stated.pairs.len());
        for pair in stated.pairs.iter() {
            match (index(pair.first), index(pair.second)) {
                (Some(first), Some(second)) if first != second => pairs.push((first, second)),
                _ => {
                    return Err(invalid(format!(
                        "the pair ({}, {})",
                        pair.first, pair.second
                    )))
                }
            }
        }
        let anchor = match stated.anchor.into_option() {
            Some(a) => Some(index(a).ok_or_else(|| invalid(format!("the anchor {a}")))?),
            None => None,
        };
        Ok(ComparedPairs { pairs, anchor })
    }

    /// Loss, `dL/dZ` per modality and metrics; refuses a non-finite loss or gradient.
    pub fn compute(
        &mut self,
        inputs: &[ModalityEmbeddings],
    ) -> Result<LossOutput, PluginCallError> {
        let out = call(
            &self.plugin,
            "compute",
            self.inner.compute(RSlice::from_slice(inputs)),
        )?;
        let non_finite = !out.loss.is_finite()
            || out
                .gradients
                .iter()
                .any(|g| g.values.iter().any(|v| !v.is_finite()));
        if non_finite || out.gradients.len() != inputs.len() {
            return Err(PluginCallError {
                plugin: self.plugin.clone(),
                operation: "compute",
                error: PluginError::new(
                    if non_finite {
                        ErrorKind::NonFinite
                    } else {
                        ErrorKind::Internal
                    },
                    format!(
                        "loss {} with {} gradient matrices for {} modalities",
                        out.loss,
                        out.gradients.len(),
                        inputs.len()
                    ),
                ),
            });
        }
        Ok(out)
    }
}
