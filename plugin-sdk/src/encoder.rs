//! The trait an encoder plugin implements, and its adapters to the ABI objects.

use abi_stable::std_types::{RResult, RSlice, RString, RVec};
use burn::{module::Module, tensor::backend::Backend, tensor::Tensor};
use serde::{de::DeserializeOwned, Serialize};

use mmhost_plugin_api::{Embeddings, Encoder, Featurizer, PluginError, Record, StepSettings};

use crate::{guard, TrainerOps};

/// A modality encoder written in burn. Implement this, then invoke
/// [`export_encoder!`](crate::export_encoder) with the implementing type. The plugin's
/// version is its crate's (`CARGO_PKG_VERSION`, filled in by the export macro).
pub trait EncoderModel: 'static {
    /// Plugin name the host finds it by (e.g. `dos`).
    const NAME: &'static str;
    /// Modality encoded (e.g. `dos`, `crystal`).
    const MODALITY: &'static str;
    /// One-line description for `mmhost plugins list`.
    const DESCRIPTION: &'static str;

    /// The model configuration (a burn `#[derive(Config)]` type).
    type Config: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;
    /// The burn module, generic over the backend.
    type Model<B: Backend>: Module<B>;

    /// The reference configuration.
    fn default_config() -> Self::Config;

    /// Named alternative configurations (e.g. `small` for tests and CPU demos).
    fn presets() -> Vec<(&'static str, Self::Config)> {
        Vec::new()
    }

    /// Refuses a configuration the model cannot be built from, or one that would make
    /// it allocate without bound (widths, depths or grids past the plugin's limits;
    /// see [`limits`](crate::limits)). Checked before the featurizer or the model is
    /// made. Default: every configuration is accepted.
    fn check_config(_config: &Self::Config) -> Result<(), PluginError> {
        Ok(())
    }

    /// Width of the embeddings under `config`.
    fn embed_dim(config: &Self::Config) -> usize;

    /// Raw record → featurized record (pure; runs on the host's loader threads).
    fn featurize(config: &Self::Config, raw: &Record) -> Result<Record, PluginError>;

    /// A freshly initialized model (the SDK seeds the backend first).
    fn init<B: Backend>(config: &Self::Config, device: &B::Device) -> Self::Model<B>;

    /// Embeds a batch of featurized records: `[batch, embed_dim]`.
    fn forward<B: Backend>(
        model: &Self::Model<B>,
        batch: &[Record],
        device: &B::Device,
    ) -> Result<Tensor<B, 2>, PluginError>;
}

/// The ABI `Featurizer` of an [`EncoderModel`].
pub struct FeaturizerAdapter<S: EncoderModel> {
    config: S::Config,
}

impl<S: EncoderModel> FeaturizerAdapter<S> {
    /// A featurizer for `config`.
    pub fn new(config: S::Config) -> Self {
        Self { config }
    }
}

impl<S: EncoderModel> Featurizer for FeaturizerAdapter<S> {
    fn featurize(&self, raw: &Record) -> RResult<Record, PluginError> {
        guard("featurize", || S::featurize(&self.config, raw))
    }
}

/// The ABI `Encoder` over a backend-erased [`TrainerOps`].
pub struct EncoderAdapter {
    trainer: Box<dyn TrainerOps>,
}

impl EncoderAdapter {
    /// Wraps a trainer.
    pub fn new(trainer: Box<dyn TrainerOps>) -> Self {
        Self { trainer }
    }
}

impl Encoder for EncoderAdapter {
    fn embed_dim(&self) -> u64 {
        self.trainer.embed_dim() as u64
    }

    fn parameter_count(&self) -> u64 {
        self.trainer.parameter_count() as u64
    }

    fn device(&self) -> RString {
        RString::from(self.trainer.device().to_string())
    }

    fn forward(
        &mut self,
        batch: RSlice<'_, Record>,
        train: bool,
    ) -> RResult<Embeddings, PluginError> {
        guard("forward", || self.trainer.forward(batch.as_slice(), train))
    }

    fn backward(&mut self, grad: &Embeddings) -> RResult<(), PluginError> {
        guard("backward", || self.trainer.backward(grad))
    }

    fn gradients(&self) -> RResult<Record, PluginError> {
        guard("gradients", || {
            let mut record = Record::default();
            for g in self.trainer.gradients()? {
                record.push(
                    &g.name,
                    mmhost_plugin_api::Array::from_f32(&g.shape, &g.values),
                );
            }
            Ok(record)
        })
    }

    fn step(&mut self, settings: &StepSettings) -> RResult<f64, PluginError> {
        guard("step", || self.trainer.step(settings))
    }

    fn embed(&mut self, batch: RSlice<'_, Record>) -> RResult<Embeddings, PluginError> {
        guard("embed", || self.trainer.embed(batch.as_slice()))
    }

    fn save_weights(&self) -> RResult<RVec<u8>, PluginError> {
        guard("save_weights", || {
            self.trainer.save_weights().map(RVec::from)
        })
    }

    fn load_weights(&mut self, bytes: RSlice<'_, u8>) -> RResult<(), PluginError> {
        guard("load_weights", || {
            self.trainer.load_weights(bytes.as_slice())
        })
    }

    fn save_optimizer(&self) -> RResult<RVec<u8>, PluginError> {
        guard("save_optimizer", || {
            self.trainer.save_optimizer().map(RVec::from)
        })
    }

    fn load_optimizer(&mut self, bytes: RSlice<'_, u8>) -> RResult<(), PluginError> {
        guard("load_optimizer", || {
            self.trainer.load_optimizer(bytes.as_slice())
        })
    }
}
