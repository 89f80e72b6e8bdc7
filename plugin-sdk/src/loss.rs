//! The trait a loss plugin implements, and its adapter to the ABI `Loss`.

use abi_stable::std_types::{RResult, RSlice, RString, RVec};
use burn::backend::flex::FlexDevice;
use burn::tensor::{backend::Backend, Tensor};
use serde::{de::DeserializeOwned, Serialize};

use mmhost_plugin_api::{
    Embeddings, ErrorKind, Loss, LossOutput, LossPairs, Metric, ModalityEmbeddings, ModalityPair,
    PluginError,
};

use crate::{embeddings_from_tensor, guard, tensor_from_embeddings, Cpu};

/// One modality's embeddings in a loss computation.
pub struct ModalityBatch<B: Backend> {
    /// Modality name.
    pub modality: String,
    /// `[batch, dim]`
    pub embeddings: Tensor<B, 2>,
    /// `[batch]`: whether each material has this modality.
    pub present: Vec<bool>,
}

/// What a [`LossFunction`] returns: the scalar loss (shape `[1]`) and named metrics.
pub struct LossTerms<B: Backend> {
    /// The loss, `[1]`, with its graph to the inputs.
    pub loss: Tensor<B, 1>,
    /// Named scalars to log.
    pub metrics: Vec<(String, f64)>,
}

/// A loss over the embeddings of several modalities, written in burn. The SDK
/// differentiates it: implement the forward computation only, then invoke
/// [`export_loss!`](crate::export_loss). Losses run on the CPU. The plugin's version is
/// its crate's (`CARGO_PKG_VERSION`, filled in by the export macro).
pub trait LossFunction: Sized + Send + 'static {
    /// Plugin name (e.g. `clip`).
    const NAME: &'static str;
    /// One-line description.
    const DESCRIPTION: &'static str;

    /// The loss configuration.
    type Config: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;

    /// The default configuration.
    fn default_config() -> Self::Config;

    /// A loss for `config`, validating it.
    fn new(config: Self::Config) -> Result<Self, PluginError>;

    /// The loss and metrics for one batch.
    fn loss<B: Backend>(&self, inputs: &[ModalityBatch<B>]) -> Result<LossTerms<B>, PluginError>;

    /// The modality pairs this loss compares among `modalities` (a run's, by
    /// index), which the host trains on and scores in validation. By default every
    /// pair, with no anchor.
    fn pairs(&self, modalities: &[String]) -> Result<ComparedPairs, PluginError> {
        Ok(ComparedPairs::all(modalities.len()))
    }
}

/// Which modalities a loss compares, by index into the modalities it is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComparedPairs {
    /// `(first, second)` pairs; the host scores retrieval of `second` → `first`.
    pub pairs: Vec<(usize, usize)>,
    /// The modality every pair includes, which a material must have to
    /// contribute (an anchored loss's anchor).
    pub anchor: Option<usize>,
}

impl ComparedPairs {
    /// Every pair `(i, j)` with `i < j` of `count` modalities.
    pub fn all(count: usize) -> Self {
        Self {
            pairs: (0..count)
                .flat_map(|i| (i + 1..count).map(move |j| (i, j)))
                .collect(),
            anchor: None,
        }
    }

    /// `(anchor, m)` for every other modality `m` of `count`.
    pub fn anchored(anchor: usize, count: usize) -> Self {
        Self {
            pairs: (0..count)
                .filter(|&m| m != anchor)
                .map(|m| (anchor, m))
                .collect(),
            anchor: Some(anchor),
        }
    }

    /// The ABI form.
    pub fn to_abi(&self) -> LossPairs {
        LossPairs {
            pairs: self
                .pairs
                .iter()
                .map(|&(first, second)| ModalityPair {
                    first: first as u64,
                    second: second as u64,
                })
                .collect(),
            anchor: self.anchor.map(|a| a as u64).into(),
        }
    }
}

/// The ABI `Loss` of a [`LossFunction`]: computes `L` and `dL/dZ` by autodiff.
pub struct LossAdapter<L: LossFunction> {
    loss: L,
}

impl<L: LossFunction> LossAdapter<L> {
    /// Wraps a loss.
    pub fn new(loss: L) -> Self {
        Self { loss }
    }
}

impl<L: LossFunction> Loss for LossAdapter<L> {
    fn compute(
        &mut self,
        inputs: RSlice<'_, ModalityEmbeddings>,
    ) -> RResult<LossOutput, PluginError> {
        guard("loss", || compute(&self.loss, inputs.as_slice()))
    }

    fn pairs(&self, modalities: RSlice<'_, RString>) -> RResult<LossPairs, PluginError> {
        guard("pairs", || {
            let names: Vec<String> = modalities.iter().map(|m| m.to_string()).collect();
            Ok(self.loss.pairs(&names)?.to_abi())
        })
    }
}

fn compute<L: LossFunction>(
    loss: &L,
    inputs: &[ModalityEmbeddings],
) -> Result<LossOutput, PluginError> {
    let device = FlexDevice;
    let mut batches = Vec::with_capacity(inputs.len());
    for input in inputs {
        if input.present.len() as u64 != input.embeddings.rows {
            return Err(PluginError::new(
                ErrorKind::InvalidInput,
                format!(
                    "modality '{}': {} presence flags for {} rows",
                    input.modality,
                    input.present.len(),
                    input.embeddings.rows
                ),
            ));
        }
        batches.push(ModalityBatch::<Cpu> {
            modality: input.modality.to_string(),
            embeddings: tensor_from_embeddings::<Cpu>(&input.embeddings, &device)?.require_grad(),
            present: input.present.iter().map(|&p| p != 0).collect(),
        });
    }
    let terms = loss.loss(&batches)?;
    let value: f32 = terms.loss.clone().into_scalar();
    if !value.is_finite() {
        return Err(PluginError::new(
            ErrorKind::NonFinite,
            format!("loss is {value}"),
        ));
    }
    let grads = terms.loss.backward();
    let mut gradients = RVec::with_capacity(batches.len());
    for (batch, input) in batches.iter().zip(inputs) {
        let grad = match batch.embeddings.grad(&grads) {
            Some(g) => embeddings_from_tensor(g)?,
            // A modality that did not enter the loss gets zero gradients.
            None => Embeddings::new(
                input.embeddings.rows as usize,
                input.embeddings.dim as usize,
                vec![0.0; input.embeddings.values.len()],
            ),
        };
        gradients.push(grad);
    }
    Ok(LossOutput {
        loss: f64::from(value),
        gradients,
        metrics: terms
            .metrics
            .into_iter()
            .map(|(name, value)| Metric {
                name: RString::from(name),
                value,
            })
            .collect(),
    })
}
