//! The XRD encoder: a 1D convolutional network over the broadened pattern.
//! Strided Conv1d → GroupNorm → GELU stages halve the 2θ axis, an adaptive average
//! pool keeps `pooled` positions (so peak positions still matter), then an MLP maps
//! the flattened features to the shared latent space.

use burn::{
    nn::{
        conv::{Conv1d, Conv1dConfig},
        pool::{AdaptiveAvgPool1d, AdaptiveAvgPool1dConfig},
        Gelu, GroupNorm, GroupNormConfig, Linear, LinearConfig, PaddingConfig1d,
    },
    prelude::*,
};

use crate::broaden::Grid;

/// Pattern and model settings; defaults are the reference sizes.
#[derive(Config, Debug)]
pub struct XrdEncoderConfig {
    /// X-ray wavelength, Å (Cu Kα, the weighted mean of Kα₁ and Kα₂).
    #[config(default = 1.54184)]
    pub wavelength: f64,
    /// Lowest 2θ of the pattern, degrees.
    #[config(default = 5.0)]
    pub two_theta_min: f64,
    /// Highest 2θ of the pattern, degrees.
    #[config(default = 90.0)]
    pub two_theta_max: f64,
    /// Samples on the 2θ grid (1701: 0.05° apart over 5–90°).
    #[config(default = 1701)]
    pub points: usize,
    /// Full width at half maximum of each Gaussian peak, degrees.
    #[config(default = 0.2)]
    pub fwhm: f64,
    /// Output channels of each stride-2 convolution stage.
    #[config(default = "vec![32, 64, 128, 256]")]
    pub channels: Vec<usize>,
    /// Convolution kernel width, samples (odd).
    #[config(default = 7)]
    pub kernel_size: usize,
    /// Positions kept by the adaptive average pool.
    #[config(default = 16)]
    pub pooled: usize,
    /// Hidden width of the MLP head.
    #[config(default = 512)]
    pub hidden: usize,
    /// Output embedding width (the shared latent space).
    #[config(default = 128)]
    pub embed_dim: usize,
}

impl XrdEncoderConfig {
    /// The 2θ grid the pattern is sampled on: `points` from `two_theta_min` to
    /// `two_theta_max`.
    pub fn grid(&self) -> Grid {
        Grid {
            start: self.two_theta_min,
            end: self.two_theta_max,
            points: self.points,
        }
    }
}

/// One stage: Conv1d (stride 2) → GroupNorm → GELU.
#[derive(Config, Debug)]
pub struct ConvStageConfig {
    /// Input channels.
    pub channels_in: usize,
    /// Output channels.
    pub channels_out: usize,
    /// Kernel width, samples.
    pub kernel_size: usize,
}

/// See [`ConvStageConfig`].
#[derive(Module, Debug)]
pub struct ConvStage<B: Backend> {
    conv: Conv1d<B>,
    norm: GroupNorm<B>,
    activation: Gelu,
}

impl ConvStageConfig {
    /// A freshly initialized stage on `device`; GroupNorm uses the largest of
    /// 8, 4, 2, 1 groups that divides the channels.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ConvStage<B> {
        let groups = [8, 4, 2, 1]
            .into_iter()
            .find(|&g| self.channels_out.is_multiple_of(g))
            .unwrap_or(1);
        let pad = self.kernel_size / 2;
        ConvStage {
            conv: Conv1dConfig::new(self.channels_in, self.channels_out, self.kernel_size)
                .with_stride(2)
                .with_padding(PaddingConfig1d::Explicit(pad, pad))
                .init(device),
            norm: GroupNormConfig::new(groups, self.channels_out).init(device),
            activation: Gelu::new(),
        }
    }
}

impl<B: Backend> ConvStage<B> {
    /// `[batch, channels_in, length]` → `[batch, channels_out, ⌈length / 2⌉]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.activation
            .forward(self.norm.forward(self.conv.forward(x)))
    }
}

/// The XRD pattern encoder.
#[derive(Module, Debug)]
pub struct XrdEncoder<B: Backend> {
    stages: Vec<ConvStage<B>>,
    pool: AdaptiveAvgPool1d,
    hidden: Linear<B>,
    activation: Gelu,
    head: Linear<B>,
    points: usize,
}

impl XrdEncoderConfig {
    /// A freshly initialized encoder on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> XrdEncoder<B> {
        let mut channels_in = 1;
        let stages = self
            .channels
            .iter()
            .map(|&channels_out| {
                let stage =
                    ConvStageConfig::new(channels_in, channels_out, self.kernel_size).init(device);
                channels_in = channels_out;
                stage
            })
            .collect();
        XrdEncoder {
            stages,
            pool: AdaptiveAvgPool1dConfig::new(self.pooled).init(),
            hidden: LinearConfig::new(channels_in * self.pooled, self.hidden).init(device),
            activation: Gelu::new(),
            head: LinearConfig::new(self.hidden, self.embed_dim).init(device),
            points: self.points,
        }
    }
}

impl<B: Backend> XrdEncoder<B> {
    /// Samples per pattern the encoder was configured for.
    pub fn points(&self) -> usize {
        self.points
    }

    /// `patterns`: `[batch, points]` intensities in [0, 1] → `[batch, embed_dim]`.
    pub fn forward(&self, patterns: Tensor<B, 2>) -> Tensor<B, 2> {
        let mut x = patterns.unsqueeze_dim::<3>(1); // [batch, 1, points]
        for stage in &self.stages {
            x = stage.forward(x);
        }
        let x = self.pool.forward(x); // [batch, channels, pooled]
        let x = x.flatten::<2>(1, 2); // [batch, channels · pooled]
        self.head
            .forward(self.activation.forward(self.hidden.forward(x)))
    }
}
