//! The DOS transformer: energy and density each embedded by Linear(1 → dim),
//! concatenated and projected to `dim`, `depth` pre-norm blocks of multi-head
//! attention and a GELU MLP, a final LayerNorm, mean pooling, Linear → `embed_dim`.

use burn::{
    nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig},
    prelude::*,
};
use mmhost_plugin_sdk::ops::{gelu, layer_norm, linear};

use crate::attention::{Attention, AttentionConfig};

/// ε of every layer norm (burn's and PyTorch's default).
const LAYER_NORM_EPSILON: f64 = 1e-5;

/// Sizes of the DOS transformer; defaults are the MultiMat reference.
#[derive(Config, Debug)]
pub struct DosTransformerConfig {
    /// Energies per spectrum after featurization.
    #[config(default = 601)]
    pub points: usize,
    /// Token width.
    #[config(default = 128)]
    pub dim: usize,
    /// Number of transformer blocks.
    #[config(default = 4)]
    pub depth: usize,
    /// Attention heads per block.
    #[config(default = 8)]
    pub heads: usize,
    /// Width of each attention head.
    #[config(default = 64)]
    pub head_dim: usize,
    /// Hidden width of each block's MLP.
    #[config(default = 512)]
    pub mlp_dim: usize,
    /// Output embedding width (the shared latent space).
    #[config(default = 128)]
    pub embed_dim: usize,
}

/// The DOS encoder.
#[derive(Module, Debug)]
pub struct DosTransformer<B: Backend> {
    energy_embed: Linear<B>,
    density_embed: Linear<B>,
    token_proj: Linear<B>,
    blocks: Vec<Block<B>>,
    norm: LayerNorm<B>,
    head: Linear<B>,
    points: usize,
}

impl DosTransformerConfig {
    /// A freshly initialized model on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> DosTransformer<B> {
        let block = BlockConfig::new(self.dim, self.heads, self.head_dim, self.mlp_dim);
        DosTransformer {
            energy_embed: LinearConfig::new(1, self.dim).init(device),
            density_embed: LinearConfig::new(1, self.dim).init(device),
            token_proj: LinearConfig::new(2 * self.dim, self.dim).init(device),
            blocks: (0..self.depth).map(|_| block.init(device)).collect(),
            norm: LayerNormConfig::new(self.dim)
                .with_epsilon(LAYER_NORM_EPSILON)
                .init(device),
            head: LinearConfig::new(self.dim, self.embed_dim).init(device),
            points: self.points,
        }
    }
}

impl<B: Backend> DosTransformer<B> {
    /// Energies per spectrum the model was configured for.
    pub fn points(&self) -> usize {
        self.points
    }

    /// `dos`: `[batch, 2, points]` (row 0 energies, row 1 density) → `[batch, embed_dim]`.
    pub fn forward(&self, dos: Tensor<B, 3>) -> Tensor<B, 2> {
        let [batch, _, points] = dos.dims();
        let energy = dos.clone().narrow(1, 0, 1).reshape([batch, points, 1]);
        let density = dos.narrow(1, 1, 1).reshape([batch, points, 1]);
        let tokens = Tensor::cat(
            vec![
                linear(&self.energy_embed, energy),
                linear(&self.density_embed, density),
            ],
            2,
        ); // [batch, points, 2·dim]
        let mut x = linear(&self.token_proj, tokens); // [batch, points, dim]
        for block in &self.blocks {
            x = block.forward(x);
        }
        let pooled = normalize(&self.norm, x).mean_dim(1).squeeze_dim::<2>(1); // [batch, dim]
        linear(&self.head, pooled)
    }
}

/// `norm` applied to `x` `[batch, tokens, dim]` through the SDK's fused layer norm.
fn normalize<B: Backend>(norm: &LayerNorm<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let beta = norm.beta.as_ref().map(|beta| beta.val());
    layer_norm(x, norm.gamma.val(), beta, LAYER_NORM_EPSILON)
}

/// One pre-norm transformer block.
#[derive(Config, Debug)]
pub struct BlockConfig {
    pub dim: usize,
    pub heads: usize,
    pub head_dim: usize,
    pub mlp_dim: usize,
}

/// `x + attention(norm(x))`, then `x + mlp(norm(x))`.
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    attention_norm: LayerNorm<B>,
    attention: Attention<B>,
    mlp_norm: LayerNorm<B>,
    mlp: FeedForward<B>,
}

impl BlockConfig {
    /// A freshly initialized block.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Block<B> {
        Block {
            attention_norm: LayerNormConfig::new(self.dim)
                .with_epsilon(LAYER_NORM_EPSILON)
                .init(device),
            attention: AttentionConfig::new(self.dim, self.heads, self.head_dim).init(device),
            mlp_norm: LayerNormConfig::new(self.dim)
                .with_epsilon(LAYER_NORM_EPSILON)
                .init(device),
            mlp: FeedForwardConfig::new(self.dim, self.mlp_dim).init(device),
        }
    }
}

impl<B: Backend> Block<B> {
    /// `[batch, tokens, dim]` → `[batch, tokens, dim]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = x.clone() + self.attention.forward(normalize(&self.attention_norm, x));
        x.clone() + self.mlp.forward(normalize(&self.mlp_norm, x))
    }
}

/// The block MLP: Linear → GELU (exact, erf) → Linear.
#[derive(Config, Debug)]
pub struct FeedForwardConfig {
    pub dim: usize,
    pub hidden: usize,
}

/// Two linear layers with a GELU between.
#[derive(Module, Debug)]
pub struct FeedForward<B: Backend> {
    up: Linear<B>,
    down: Linear<B>,
}

impl FeedForwardConfig {
    /// A freshly initialized MLP.
    pub fn init<B: Backend>(&self, device: &B::Device) -> FeedForward<B> {
        FeedForward {
            up: LinearConfig::new(self.dim, self.hidden).init(device),
            down: LinearConfig::new(self.hidden, self.dim).init(device),
        }
    }
}

impl<B: Backend> FeedForward<B> {
    /// `[batch, tokens, dim]` → `[batch, tokens, dim]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        linear(&self.down, gelu(linear(&self.up, x)))
    }
}
