//! The density-of-states encoder plugin (README "What works today").
//!
//! Input: a record with field `dos` of shape `(2, N)` — row 0 energies (eV), row 1
//! DOS (states/eV/cell) — and optionally `efermi` (eV, one value). The featurizer
//! shifts energies by E_Fermi when given and resamples to `points` (601) evenly spaced
//! energies. The model is a pre-norm transformer over the `points` tokens.

mod attention;
mod featurize;
mod model;

pub use attention::{Attention, AttentionConfig};
pub use featurize::{featurize_dos, resample_linear};
pub use model::{
    Block, BlockConfig, DosTransformer, DosTransformerConfig, FeedForward, FeedForwardConfig,
};

use burn::tensor::{backend::Backend, Tensor};
use mmhost_plugin_sdk::{
    api::{ErrorKind, PluginError, Record},
    limits::{within, MAX_DEPTH, MAX_WIDTH},
    stack_field, EncoderModel,
};

/// The `dos` plugin.
pub struct DosPlugin;

impl EncoderModel for DosPlugin {
    const NAME: &'static str = "dos";
    const MODALITY: &'static str = "dos";
    const DESCRIPTION: &'static str =
        "Transformer over energy/DOS tokens (MultiMat reference: depth 4, 8 heads x 64, MLP 512)";

    type Config = DosTransformerConfig;
    type Model<B: Backend> = DosTransformer<B>;

    fn default_config() -> Self::Config {
        DosTransformerConfig::new()
    }

    fn presets() -> Vec<(&'static str, Self::Config)> {
        vec![
            ("reference", DosTransformerConfig::new()),
            (
                "small",
                DosTransformerConfig::new()
                    .with_dim(32)
                    .with_depth(1)
                    .with_heads(2)
                    .with_head_dim(16)
                    .with_mlp_dim(64),
            ),
        ]
    }

    fn check_config(config: &Self::Config) -> Result<(), PluginError> {
        // attention is quadratic in the tokens: 4096 is 7× the reference
        within("points", config.points, 2..=4096)?;
        within("dim", config.dim, 1..=MAX_WIDTH)?;
        within("depth", config.depth, 1..=MAX_DEPTH)?;
        within("heads", config.heads, 1..=64)?;
        within(
            "heads × head_dim",
            config.heads * config.head_dim,
            1..=MAX_WIDTH,
        )?;
        within("mlp_dim", config.mlp_dim, 1..=MAX_WIDTH)?;
        within("embed_dim", config.embed_dim, 1..=MAX_WIDTH)
    }

    fn embed_dim(config: &Self::Config) -> usize {
        config.embed_dim
    }

    fn featurize(config: &Self::Config, raw: &Record) -> Result<Record, PluginError> {
        featurize_dos(raw, config.points)
    }

    fn init<B: Backend>(config: &Self::Config, device: &B::Device) -> Self::Model<B> {
        config.init(device)
    }

    fn forward<B: Backend>(
        model: &Self::Model<B>,
        batch: &[Record],
        device: &B::Device,
    ) -> Result<Tensor<B, 2>, PluginError> {
        let dos = stack_field::<B, 3>(batch, "dos", device)?; // [batch, 2, points]
        let [_, rows, points] = dos.dims();
        if (rows, points) != (2, model.points()) {
            return Err(PluginError::new(
                ErrorKind::InvalidInput,
                format!(
                    "featurized 'dos' must be (2, {}), got ({rows}, {points}): featurize raw records first",
                    model.points()
                ),
            ));
        }
        Ok(model.forward(dos))
    }
}

mmhost_plugin_sdk::export_encoder!(DosPlugin);
