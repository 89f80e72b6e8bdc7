//! The DOS transformer: energy and density each embedded by Linear(1 → dim),
//! concatenated and projected to `dim`, `depth` pre-norm blocks of multi-head
//! attention and a GELU MLP, a final LayerNorm, mean pooling, Linear → `embed_dim`.

use burn::{
    nn::{Gelu, LayerNorm, LayerNormConfig, Linear, LinearConfig},
    prelude::*,
};

use crate::attention::{Attention, AttentionConfig};

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
            norm: LayerNormConfig::new(self.dim).init(device),
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
                self.energy_embed.forward(energy),
                self.density_embed.forward(density),
            ],
            2,
        ); // [batch, points, 2·dim]
        let mut x = self.token_proj.forward(tokens); // [batch, points, dim]
        for block in &self.blocks {
            x = block.forward(x);
        }
        let pooled = self.norm.forward(x).mean_dim(1).squeeze_dim::<2>(1); // [batch, dim]
        self.head.forward(pooled)
    }
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
            attention_norm: LayerNormConfig::new(self.dim).init(device),
            attention: AttentionConfig::new(self.dim, self.heads, self.head_dim).init(device),
            mlp_norm: LayerNormConfig::new(self.dim).init(device),
            mlp: FeedForwardConfig::new(self.dim, self.mlp_dim).init(device),
        }
    }
}

impl<B: Backend> Block<B> {
    /// `[batch, tokens, dim]` → `[batch, tokens, dim]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = x.clone() + self.attention.forward(self.attention_norm.forward(x));
        x.clone() + self.mlp.forward(self.mlp_norm.forward(x))
    }
}

/// The block MLP: Linear → GELU → Linear.
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
    activation: Gelu,
}

impl FeedForwardConfig {
    /// A freshly initialized MLP.
    pub fn init<B: Backend>(&self, device: &B::Device) -> FeedForward<B> {
        FeedForward {
            up: LinearConfig::new(self.dim, self.hidden).init(device),
            down: LinearConfig::new(self.hidden, self.dim).init(device),
            activation: Gelu::new(),
        }
    }
}

impl<B: Backend> FeedForward<B> {
    /// `[batch, tokens, dim]` → `[batch, tokens, dim]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.down
            .forward(self.activation.forward(self.up.forward(x)))
    }
}
