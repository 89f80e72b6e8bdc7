//! A 3D ResNeXt for 32³ charge densities (after Hara et al.'s 3D ResNeXt, as used by
//! the MultiMat reference): a 7³ stride-2 stem, a 2³ max-pool, four stages of
//! grouped-convolution bottleneck blocks, global average pooling, Linear → 128.
//! The max-pool is 2³ with stride 2 (the reference uses 3³, stride 2, padding 1).
//! Activations flow channels-last as [`Volumes`]; every convolution, the stem's
//! included, is a burn [`Conv3d`] parameter applied by [`convolve`] (the SDK's
//! channels-last convolution, or a matrix product for pointwise ones), and the
//! ReLUs and the max-pool are the SDK's fused operations.

use burn::{
    nn::{
        conv::{Conv3d, Conv3dConfig},
        Linear, LinearConfig, PaddingConfig3d,
    },
    prelude::*,
};

use mmhost_plugin_sdk::ops::relu;

use crate::{
    channel_norm::{ChannelNorm, ChannelNormConfig},
    conv::convolve,
    volumes::Volumes,
};

/// Sizes of the charge encoder; defaults are the reference ResNeXt-50.
#[derive(Config, Debug)]
pub struct ChargeResNeXtConfig {
    /// Grid points per axis.
    #[config(default = 32)]
    pub grid: usize,
    #[config(default = 64)]
    pub stem_channels: usize,
    #[config(default = 7)]
    pub stem_kernel: usize,
    /// Bottleneck blocks per stage.
    #[config(default = "vec![3, 4, 6, 3]")]
    pub layers: Vec<usize>,
    /// Planes per stage (outputs are planes × expansion).
    #[config(default = "vec![128, 256, 512, 1024]")]
    pub planes: Vec<usize>,
    /// Groups of the 3³ convolutions.
    #[config(default = 32)]
    pub cardinality: usize,
    #[config(default = 2)]
    pub expansion: usize,
    /// Output embedding width.
    #[config(default = 128)]
    pub embed_dim: usize,
}

impl ChargeResNeXtConfig {
    /// A freshly initialized model.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ChargeResNeXt<B> {
        let k = self.stem_kernel;
        let mut blocks = Vec::new();
        let mut channels = self.stem_channels;
        for (stage, (&count, &planes)) in self.layers.iter().zip(&self.planes).enumerate() {
            for b in 0..count {
                let stride = if stage > 0 && b == 0 { 2 } else { 1 };
                let block = BottleneckConfig::new(
                    channels,
                    planes,
                    self.cardinality,
                    self.expansion,
                    stride,
                );
                blocks.push(block.init(device));
                channels = planes * self.expansion;
            }
        }
        ChargeResNeXt {
            stem: Conv3dConfig::new([1, self.stem_channels], [k, k, k])
                .with_stride([2, 2, 2])
                .with_padding(PaddingConfig3d::Explicit(k / 2, k / 2, k / 2))
                .with_bias(false)
                .init(device),
            stem_norm: ChannelNormConfig::new(self.stem_channels).init(device),
            blocks,
            head: LinearConfig::new(channels, self.embed_dim).init(device),
        }
    }
}

/// The charge-density encoder.
#[derive(Module, Debug)]
pub struct ChargeResNeXt<B: Backend> {
    stem: Conv3d<B>,
    stem_norm: ChannelNorm<B>,
    blocks: Vec<Bottleneck<B>>,
    head: Linear<B>,
}

impl<B: Backend> ChargeResNeXt<B> {
    /// `[batch, 1, n, n, n]` → `[batch, embed_dim]`.
    pub fn forward(&self, density: Tensor<B, 5>) -> Tensor<B, 2> {
        let mut x = convolve(&self.stem, Volumes::from_channels_first(density))
            .map_rows(|rows| relu(self.stem_norm.forward(rows)))
            .max_pool_2();
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.head.forward(x.global_mean())
    }
}

/// One ResNeXt bottleneck block.
#[derive(Config, Debug)]
pub struct BottleneckConfig {
    pub in_channels: usize,
    pub planes: usize,
    pub cardinality: usize,
    pub expansion: usize,
    pub stride: usize,
}

/// 1³ conv → grouped 3³ conv (stride) → 1³ conv, batch norm after each, ReLU, plus
/// the (projected) shortcut.
#[derive(Module, Debug)]
pub struct Bottleneck<B: Backend> {
    reduce: Conv3d<B>,
    reduce_norm: ChannelNorm<B>,
    grouped: Conv3d<B>,
    grouped_norm: ChannelNorm<B>,
    expand: Conv3d<B>,
    expand_norm: ChannelNorm<B>,
    shortcut: Option<(Conv3d<B>, ChannelNorm<B>)>,
}

/// Channels of a block's grouped 3³ convolution: `cardinality × planes / 32` (the
/// reference's width per group, 4 at 128 planes), at least one per group.
pub(crate) fn grouped_width(cardinality: usize, planes: usize) -> usize {
    (cardinality * planes / 32).max(cardinality)
}

impl BottleneckConfig {
    /// A freshly initialized block.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Bottleneck<B> {
        let mid = grouped_width(self.cardinality, self.planes);
        let out = self.planes * self.expansion;
        let s = self.stride;
        let conv = |from: usize, to: usize, k: usize, stride: usize, groups: usize| {
            Conv3dConfig::new([from, to], [k, k, k])
                .with_stride([stride; 3])
                .with_padding(PaddingConfig3d::Explicit(k / 2, k / 2, k / 2))
                .with_groups(groups)
                .with_bias(false)
                .init(device)
        };
        Bottleneck {
            reduce: conv(self.in_channels, mid, 1, 1, 1),
            reduce_norm: ChannelNormConfig::new(mid).init(device),
            grouped: conv(mid, mid, 3, s, self.cardinality),
            grouped_norm: ChannelNormConfig::new(mid).init(device),
            expand: conv(mid, out, 1, 1, 1),
            expand_norm: ChannelNormConfig::new(out).init(device),
            shortcut: (s != 1 || self.in_channels != out).then(|| {
                (
                    conv(self.in_channels, out, 1, s, 1),
                    ChannelNormConfig::new(out).init(device),
                )
            }),
        }
    }
}

impl<B: Backend> Bottleneck<B> {
    /// `[b·d·h·w, c_in]` volumes → `[b·d'·h'·w', planes × expansion]` with
    /// `d' = d / stride` (rounded up) per axis.
    pub fn forward(&self, x: Volumes<B>) -> Volumes<B> {
        let conv_norm = |conv: &Conv3d<B>, norm: &ChannelNorm<B>, x: Volumes<B>| {
            convolve(conv, x).map_rows(|rows| norm.forward(rows))
        };
        let y = conv_norm(&self.reduce, &self.reduce_norm, x.clone()).map_rows(relu);
        let y = conv_norm(&self.grouped, &self.grouped_norm, y).map_rows(relu);
        let y = conv_norm(&self.expand, &self.expand_norm, y);
        let shortcut = match &self.shortcut {
            Some((conv, norm)) => conv_norm(conv, norm, x).rows,
            None => x.rows,
        };
        y.map_rows(|rows| relu(rows + shortcut))
    }
}
