//! The charge-density encoder plugin (README "What works today"): a 3D ResNeXt over the
//! periodic 32³ grid of a material's valence + core charge.
//!
//! Raw record: `charge` f32 `(32, 32, 32)`, ρ·V_cell as in a CHGCAR (the dataset
//! stores it resampled to 32³). Featurized record: `density` f32 `(1, 32, 32, 32)`,
//! normalized as [`normalize_density`] documents.

mod channel_norm;
mod conv;
mod model;
mod normalize;
mod volumes;

pub use channel_norm::{ChannelNorm, ChannelNormConfig};
use model::grouped_width;
pub use model::{Bottleneck, BottleneckConfig, ChargeResNeXt, ChargeResNeXtConfig};
pub use normalize::normalize_density;
pub use volumes::Volumes;

use burn::tensor::{backend::Backend, Tensor};
use mmhost_plugin_sdk::{
    api::{Array, ErrorKind, PluginError, Record},
    limits::{require, within, MAX_DEPTH, MAX_WIDTH},
    records::charge_grid_from_record,
    stack_field, EncoderModel,
};

/// The `charge` plugin.
pub struct ChargePlugin;

impl EncoderModel for ChargePlugin {
    const NAME: &'static str = "charge";
    const MODALITY: &'static str = "charge";
    const DESCRIPTION: &'static str =
        "3D ResNeXt ([3,4,6,3] blocks, cardinality 32) over the 32^3 charge-density grid";

    type Config = ChargeResNeXtConfig;
    type Model<B: Backend> = ChargeResNeXt<B>;

    fn default_config() -> Self::Config {
        ChargeResNeXtConfig::new()
    }

    fn presets() -> Vec<(&'static str, Self::Config)> {
        vec![
            ("reference", ChargeResNeXtConfig::new()),
            (
                "small",
                ChargeResNeXtConfig::new()
                    .with_stem_channels(16)
                    .with_layers(vec![1, 1, 1, 1])
                    .with_planes(vec![32, 64, 128, 256])
                    .with_cardinality(8),
            ),
        ]
    }

    fn check_config(config: &Self::Config) -> Result<(), PluginError> {
        within("grid", config.grid, 4..=128)?;
        within("stem_channels", config.stem_channels, 1..=MAX_WIDTH)?;
        within("stem_kernel", config.stem_kernel, 1..=15)?;
        within("stages", config.layers.len(), 1..=8)?;
        require(config.planes.len() == config.layers.len(), || {
            format!(
                "layers {:?} and planes {:?} must name the same number of stages",
                config.layers, config.planes
            )
        })?;
        within("cardinality", config.cardinality, 1..=256)?;
        within("expansion", config.expansion, 1..=8)?;
        for (&blocks, &planes) in config.layers.iter().zip(&config.planes) {
            within("blocks of a stage (layers)", blocks, 1..=MAX_DEPTH)?;
            within("planes", planes * config.expansion, 1..=MAX_WIDTH)?;
            let width = grouped_width(config.cardinality, planes);
            require(width.is_multiple_of(config.cardinality), || {
                format!(
                    "cardinality {} does not divide the {width} channels of the grouped \
                     convolution at {planes} planes",
                    config.cardinality
                )
            })?;
        }
        within("embed_dim", config.embed_dim, 1..=MAX_WIDTH)
    }

    fn embed_dim(config: &Self::Config) -> usize {
        config.embed_dim
    }

    fn featurize(config: &Self::Config, raw: &Record) -> Result<Record, PluginError> {
        let n = config.grid;
        let grid = charge_grid_from_record(raw, n)?;
        let density = normalize_density(&grid)
            .map_err(|message| PluginError::new(ErrorKind::InvalidInput, message))?;
        Ok(Record::single(
            "density",
            Array::from_f32(&[1, n, n, n], &density),
        ))
    }

    fn init<B: Backend>(config: &Self::Config, device: &B::Device) -> Self::Model<B> {
        config.init(device)
    }

    fn forward<B: Backend>(
        model: &Self::Model<B>,
        batch: &[Record],
        device: &B::Device,
    ) -> Result<Tensor<B, 2>, PluginError> {
        let density = stack_field::<B, 5>(batch, "density", device)?; // [batch, 1, n, n, n]
        Ok(model.forward(density))
    }
}

mmhost_plugin_sdk::export_encoder!(ChargePlugin);
