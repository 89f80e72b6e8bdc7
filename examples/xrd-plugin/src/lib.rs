//! An example third-party mmhost plugin for a modality the host has never heard of:
//! the powder X-ray diffraction (XRD) pattern.
//!
//! It is built outside the mmhost workspace against `mmhost-plugin-sdk` only, and
//! loads into the unchanged host. Its featurizer reads the crystal structure the host
//! stores (configure `input = "crystal"`), computes the Cu Kα powder pattern over
//! 2θ = 5–90° ([`diffraction_peaks`]: reciprocal lattice, Bragg's law, X-ray atomic
//! scattering factors from Doyle & Turner's table, Lorentz-polarization factor,
//! multiplicities by merging equivalent reflections) and broadens the peaks onto a
//! fixed grid ([`broaden`]). The encoder is a 1D CNN ([`XrdEncoder`]).
//!
//! ```toml
//! [encoders.xrd]
//! plugin = "xrd"
//! input = "crystal"
//! config = { preset = "small" }
//! ```

#![warn(missing_docs)]

mod broaden;
mod model;
mod pattern;
mod scattering;
#[rustfmt::skip]
#[allow(clippy::approx_constant)] // tabulated values, not approximations of π
mod scattering_table;
mod structure;

pub use broaden::{broaden, Grid};
pub use model::{ConvStage, ConvStageConfig, XrdEncoder, XrdEncoderConfig};
pub use pattern::{diffraction_peaks, lorentz_polarization, Peak, MERGE_TOLERANCE, MIN_INTENSITY};
pub use scattering::{element, Element};
pub use structure::{Crystal, Site, StructureError};

use burn::tensor::{backend::Backend, Tensor};
use mmhost_plugin_sdk::{
    api::{Array, ErrorKind, PluginError, Record},
    limits::{require, within, MAX_WIDTH},
    stack_field, EncoderModel,
};

/// The `xrd` plugin.
pub struct XrdPlugin;

impl XrdPlugin {
    /// The peaks and the broadened pattern (`[points]`, max 1) of `crystal` under
    /// `config`'s radiation, range and grid; refused for a cell too large to search
    /// (see [`diffraction_peaks`]).
    pub fn pattern(
        config: &XrdEncoderConfig,
        crystal: &Crystal,
    ) -> Result<(Vec<Peak>, Vec<f32>), String> {
        let peaks = diffraction_peaks(
            crystal,
            config.wavelength,
            (config.two_theta_min, config.two_theta_max),
        )?;
        let pattern = broaden(&peaks, &config.grid(), config.fwhm);
        Ok((peaks, pattern))
    }
}

impl EncoderModel for XrdPlugin {
    const NAME: &'static str = "xrd";
    const MODALITY: &'static str = "xrd";
    const DESCRIPTION: &'static str =
        "Powder XRD (Cu Kα, 2θ 5–90°) computed from the crystal structure, 1D CNN encoder (example third-party plugin)";

    type Config = XrdEncoderConfig;
    type Model<B: Backend> = XrdEncoder<B>;

    fn default_config() -> Self::Config {
        XrdEncoderConfig::new()
    }

    fn presets() -> Vec<(&'static str, Self::Config)> {
        vec![
            ("reference", XrdEncoderConfig::new()),
            (
                "small",
                XrdEncoderConfig::new()
                    .with_channels(vec![8, 16, 32])
                    .with_pooled(8)
                    .with_hidden(64),
            ),
        ]
    }

    fn check_config(config: &Self::Config) -> Result<(), PluginError> {
        require(config.wavelength > 0.0, || {
            format!("wavelength must be positive, got {} Å", config.wavelength)
        })?;
        require(
            0.0 <= config.two_theta_min
                && config.two_theta_min < config.two_theta_max
                && config.two_theta_max < 180.0,
            || {
                format!(
                    "2θ range must lie within [0°, 180°) with min < max, got {}–{}°",
                    config.two_theta_min, config.two_theta_max
                )
            },
        )?;
        require(config.fwhm > 0.0, || {
            format!("fwhm must be positive, got {}°", config.fwhm)
        })?;
        within("points", config.points, 2..=65_536)?;
        within("stages (channels)", config.channels.len(), 1..=16)?;
        for &width in &config.channels {
            within("channels", width, 1..=MAX_WIDTH)?;
        }
        within("kernel_size", config.kernel_size, 1..=63)?;
        within("pooled", config.pooled, 1..=config.points)?;
        within("hidden", config.hidden, 1..=MAX_WIDTH)?;
        within("embed_dim", config.embed_dim, 1..=MAX_WIDTH)
    }

    fn embed_dim(config: &Self::Config) -> usize {
        config.embed_dim
    }

    /// Raw `structure` (pymatgen JSON bytes) → featurized `xrd` f32 `(points)`.
    fn featurize(config: &Self::Config, raw: &Record) -> Result<Record, PluginError> {
        let invalid = |message: String| PluginError::new(ErrorKind::InvalidInput, message);
        let crystal = Crystal::from_record(raw).map_err(|e| invalid(e.to_string()))?;
        let (peaks, pattern) = Self::pattern(config, &crystal).map_err(invalid)?;
        if peaks.is_empty() {
            return Err(invalid(format!(
                "the structure has no reflections with 2θ in {}–{}° at λ = {} Å",
                config.two_theta_min, config.two_theta_max, config.wavelength
            )));
        }
        Ok(Record::single(
            "xrd",
            Array::from_f32(&[config.points], &pattern),
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
        let patterns = stack_field::<B, 2>(batch, "xrd", device)?; // [batch, points]
        let [_, points] = patterns.dims();
        if points != model.points() {
            return Err(PluginError::new(
                ErrorKind::InvalidInput,
                format!(
                    "featurized 'xrd' has {points} samples, the encoder expects {}: featurize raw records with the same configuration",
                    model.points()
                ),
            ));
        }
        Ok(model.forward(patterns))
    }
}

mmhost_plugin_sdk::export_encoder!(XrdPlugin);
