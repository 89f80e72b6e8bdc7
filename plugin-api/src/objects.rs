#![allow(non_local_definitions)] // abi_stable's #[sabi_trait] expands impl blocks inside consts.

//! The trait objects a plugin hands to the host.

use abi_stable::{
    sabi_trait,
    std_types::{RBox, ROption, RResult, RSlice, RString, RVec},
    StableAbi,
};

use crate::{Embeddings, PluginError, Record};

/// Optimizer settings for one [`Encoder::step`] (AdamW). The host owns the schedule,
/// so the learning rate is passed at every step.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq)]
pub struct StepSettings {
    /// Learning rate of this step (the host's schedule sets it every step).
    pub learning_rate: f64,
    /// Decoupled (AdamW) weight decay.
    pub weight_decay: f64,
    /// First-moment decay β₁.
    pub beta1: f64,
    /// Second-moment decay β₂.
    pub beta2: f64,
    /// Denominator guard ε.
    pub epsilon: f64,
    /// Gradient-norm clipping threshold; `0` disables clipping.
    pub grad_clip_norm: f64,
}

/// One named scalar reported by a plugin (a loss term, an accuracy).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct Metric {
    /// Name, e.g. `crystal-dos/top1`.
    pub name: RString,
    /// Value.
    pub value: f64,
}

/// The embeddings of one modality for a batch, with a presence mask.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct ModalityEmbeddings {
    /// Modality name (e.g. `crystal`, `dos`).
    pub modality: RString,
    /// `[batch, dim]`; rows of absent materials hold any finite values.
    pub embeddings: Embeddings,
    /// `[batch]`: 1 where the material has this modality, 0 where it is missing.
    pub present: RVec<u8>,
}

/// What a [`Loss`] returns: the scalar loss, `dL/dZ` per modality (same order and
/// shapes as the inputs; zero rows for absent materials) and metrics.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct LossOutput {
    /// The scalar loss.
    pub loss: f64,
    /// `dL/dZ` per input modality, `[batch, dim]` each.
    pub gradients: RVec<Embeddings>,
    /// Named scalars to log.
    pub metrics: RVec<Metric>,
}

/// Raw record → featurized record. Pure and thread-safe: the host runs it on loader
/// threads and caches its output.
#[sabi_trait]
pub trait Featurizer: Send + Sync {
    /// Featurizes one raw record of this plugin's modality.
    #[sabi(last_prefix_field)]
    fn featurize(&self, raw: &Record) -> RResult<Record, PluginError>;
}

/// A trainable modality encoder living inside a plugin, trained by split
/// back-propagation: `forward(train = true)` keeps the autodiff graph inside the
/// plugin, `backward(dL/dZ)` back-propagates `sum(Z ⊙ G)` and `step` applies AdamW.
#[sabi_trait]
pub trait Encoder: Send {
    /// Output embedding width.
    fn embed_dim(&self) -> u64;

    /// Number of trainable scalar parameters.
    fn parameter_count(&self) -> u64;

    /// The device the model runs on, e.g. `cpu` or `cuda:0`.
    fn device(&self) -> RString;

    /// Embeds a batch of featurized records, `[batch, embed_dim]`. With `train` the
    /// graph is kept for one following `backward`.
    fn forward(
        &mut self,
        batch: RSlice<'_, Record>,
        train: bool,
    ) -> RResult<Embeddings, PluginError>;

    /// Back-propagates `dL/dZ` (`[batch, embed_dim]`) of the last training forward,
    /// storing parameter gradients for `step`.
    fn backward(&mut self, grad: &Embeddings) -> RResult<(), PluginError>;

    /// The parameter gradients stored by the last `backward`, one field per
    /// parameter named by its module path (e.g. `blocks.0.attention.qkv.weight`).
    fn gradients(&self) -> RResult<Record, PluginError>;

    /// Applies one optimizer step with the stored gradients and clears them.
    /// Returns the gradient L2 norm before clipping.
    fn step(&mut self, settings: &StepSettings) -> RResult<f64, PluginError>;

    /// Embeds without building a graph (evaluation mode).
    fn embed(&mut self, batch: RSlice<'_, Record>) -> RResult<Embeddings, PluginError>;

    /// The weights as safetensors bytes.
    fn save_weights(&self) -> RResult<RVec<u8>, PluginError>;

    /// Replaces the weights from safetensors bytes written by `save_weights`.
    fn load_weights(&mut self, bytes: RSlice<'_, u8>) -> RResult<(), PluginError>;

    /// The optimizer state (moments, step count) as bytes; empty before any step.
    fn save_optimizer(&self) -> RResult<RVec<u8>, PluginError>;

    /// Restores optimizer state written by `save_optimizer`.
    #[sabi(last_prefix_field)]
    fn load_optimizer(&mut self, bytes: RSlice<'_, u8>) -> RResult<(), PluginError>;
}

/// A contrastive (or other) loss over the embeddings of several modalities.
#[sabi_trait]
pub trait Loss: Send {
    /// Loss value, gradients and metrics for one batch.
    #[sabi(last_prefix_field)]
    fn compute(
        &mut self,
        inputs: RSlice<'_, ModalityEmbeddings>,
    ) -> RResult<LossOutput, PluginError>;

    /// Which of `modalities` (a run's, in run order) the loss compares, and its
    /// anchor. Appended after the first release: for a loss built before it, the
    /// host runs this default, every pair and no anchor.
    fn pairs(&self, modalities: RSlice<'_, RString>) -> RResult<LossPairs, PluginError> {
        let count = modalities.len() as u64;
        RResult::ROk(LossPairs {
            pairs: (0..count)
                .flat_map(|first| {
                    (first + 1..count).map(move |second| ModalityPair { first, second })
                })
                .collect(),
            anchor: ROption::RNone,
        })
    }
}

/// Two modalities a loss compares, as indices into the run's modalities; the host
/// scores retrieval of `second` → `first` in validation (`dos→crystal` for the
/// pair (crystal, dos)).
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModalityPair {
    /// The target of retrieval (an anchored loss's anchor).
    pub first: u64,
    /// The query of retrieval.
    pub second: u64,
}

/// Which modalities a loss compares.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct LossPairs {
    /// Every pair the loss compares.
    pub pairs: RVec<ModalityPair>,
    /// The modality every pair includes (Anchored CLIP's anchor): a material
    /// without it cannot contribute to the loss. None when pairs are free.
    pub anchor: ROption<u64>,
}

/// An owned featurizer object.
pub type FeaturizerBox = Featurizer_TO<'static, RBox<()>>;
/// An owned encoder object.
pub type EncoderBox = Encoder_TO<'static, RBox<()>>;
/// An owned loss object.
pub type LossBox = Loss_TO<'static, RBox<()>>;
