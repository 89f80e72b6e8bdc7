//! Multi-head self-attention of the DOS transformer: the fused projection to
//! queries, keys and values, the SDK's self-attention (a fused kernel on the CPU),
//! and the output projection.

use burn::{
    nn::{Linear, LinearConfig},
    prelude::*,
};
use mmhost_plugin_sdk::ops::{linear, self_attention};

/// Multi-head self-attention whose inner width (`heads × head_dim`) may differ from
/// the token width, as in the reference (128-d tokens, 8 heads × 64).
#[derive(Config, Debug)]
pub struct AttentionConfig {
    pub dim: usize,
    pub heads: usize,
    pub head_dim: usize,
}

/// Scaled dot-product self-attention.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    qkv: Linear<B>,
    out: Linear<B>,
    heads: usize,
    head_dim: usize,
}

impl AttentionConfig {
    /// A freshly initialized attention layer.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Attention<B> {
        let inner = self.heads * self.head_dim;
        Attention {
            qkv: LinearConfig::new(self.dim, 3 * inner)
                .with_bias(false)
                .init(device),
            out: LinearConfig::new(inner, self.dim).init(device),
            heads: self.heads,
            head_dim: self.head_dim,
        }
    }
}

impl<B: Backend> Attention<B> {
    /// `[batch, tokens, dim]` → `[batch, tokens, dim]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let qkv = linear(&self.qkv, x); // [batch, tokens, 3·heads·head_dim]
        linear(&self.out, self_attention(qkv, self.heads, self.head_dim))
    }
}
