//! The CGCNN network: atom embedding, gated graph convolutions with batch norm,
//! mean pooling, a hidden layer and the output embedding.

use burn::{
    nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig},
    prelude::*,
    tensor::activation::sigmoid,
};
use mmhost_materials::CGCNN_FEATURES;
use mmhost_plugin_sdk::ops::softplus;

/// Sizes of the CGCNN encoder; defaults follow the reference code.
#[derive(Config, Debug)]
pub struct CgcnnConfig {
    /// Neighbour search radius, Å.
    #[config(default = 8.0)]
    pub radius: f64,
    /// Neighbours kept per atom.
    #[config(default = 12)]
    pub max_neighbors: usize,
    /// Spacing (and width) of the Gaussian distance expansion, Å.
    #[config(default = 0.2)]
    pub gaussian_step: f64,
    /// Atom feature width in the convolutions.
    #[config(default = 64)]
    pub atom_dim: usize,
    #[config(default = 3)]
    pub conv_layers: usize,
    /// Width of the layer after pooling.
    #[config(default = 128)]
    pub hidden_dim: usize,
    /// Output embedding width.
    #[config(default = 128)]
    pub embed_dim: usize,
}

impl CgcnnConfig {
    /// Gaussian centres 0, step, …, radius.
    fn centers(&self) -> usize {
        (self.radius / self.gaussian_step).round() as usize + 1
    }

    /// A freshly initialized model.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Cgcnn<B> {
        let edge_dim = self.centers();
        Cgcnn {
            embedding: LinearConfig::new(CGCNN_FEATURES, self.atom_dim).init(device),
            convs: (0..self.conv_layers)
                .map(|_| ConvLayerConfig::new(self.atom_dim, edge_dim).init(device))
                .collect(),
            hidden: LinearConfig::new(self.atom_dim, self.hidden_dim).init(device),
            head: LinearConfig::new(self.hidden_dim, self.embed_dim).init(device),
            centers: edge_dim,
            gaussian_step: self.gaussian_step,
            max_neighbors: self.max_neighbors,
        }
    }
}

/// The CGCNN encoder.
#[derive(Module, Debug)]
pub struct Cgcnn<B: Backend> {
    embedding: Linear<B>,
    convs: Vec<ConvLayer<B>>,
    hidden: Linear<B>,
    head: Linear<B>,
    centers: usize,
    gaussian_step: f64,
    max_neighbors: usize,
}

impl<B: Backend> Cgcnn<B> {
    /// Neighbours per atom the model was configured for.
    pub fn max_neighbors(&self) -> usize {
        self.max_neighbors
    }

    /// `features` `[atoms, 92]`, `index` `[atoms × M]` (neighbour of each atom's
    /// slots, batch-global), `distance` `[atoms, M]` Å, `pool` `[crystals, atoms]` →
    /// `[crystals, embed_dim]`.
    pub fn forward(
        &self,
        features: Tensor<B, 2>,
        index: Tensor<B, 1, Int>,
        distance: Tensor<B, 2>,
        pool: Tensor<B, 2>,
    ) -> Tensor<B, 2> {
        let device = features.device();
        let [atoms, m] = distance.dims();
        let centers: Vec<f32> = (0..self.centers)
            .map(|k| (k as f64 * self.gaussian_step) as f32)
            .collect();
        let centers = Tensor::<B, 1>::from_data(TensorData::new(centers, [self.centers]), &device)
            .reshape([1, 1, self.centers]);
        let offset = distance.reshape([atoms, m, 1]) - centers; // [atoms, M, E]
        let width = self.gaussian_step * self.gaussian_step;
        let edges = (offset.clone() * offset).div_scalar(-width).exp();
        let mut x = self.embedding.forward(features); // [atoms, A]
        for conv in &self.convs {
            x = conv.forward(x, index.clone(), edges.clone());
        }
        let pooled = pool.matmul(x); // [crystals, A]
        let hidden = softplus(self.hidden.forward(softplus(pooled, 1.0)), 1.0);
        self.head.forward(hidden)
    }
}

/// One CGCNN convolution.
#[derive(Config, Debug)]
pub struct ConvLayerConfig {
    pub atom_dim: usize,
    pub edge_dim: usize,
}

/// `v_i ← softplus(v_i + BN(Σ_j σ(z_ij W_f) ⊙ softplus(z_ij W_s)))`,
/// `z_ij = v_i ⊕ v_j ⊕ u_ij`, with batch norm on `z W`.
#[derive(Module, Debug)]
pub struct ConvLayer<B: Backend> {
    full: Linear<B>,
    norm_messages: BatchNorm<B>,
    norm_sum: BatchNorm<B>,
    atom_dim: usize,
}

impl ConvLayerConfig {
    /// A freshly initialized convolution.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ConvLayer<B> {
        ConvLayer {
            full: LinearConfig::new(2 * self.atom_dim + self.edge_dim, 2 * self.atom_dim)
                .init(device),
            norm_messages: BatchNormConfig::new(2 * self.atom_dim).init(device),
            norm_sum: BatchNormConfig::new(self.atom_dim).init(device),
            atom_dim: self.atom_dim,
        }
    }
}

impl<B: Backend> ConvLayer<B> {
    /// `x` `[atoms, A]`, `index` `[atoms × M]`, `edges` `[atoms, M, E]` → `[atoms, A]`.
    pub fn forward(
        &self,
        x: Tensor<B, 2>,
        index: Tensor<B, 1, Int>,
        edges: Tensor<B, 3>,
    ) -> Tensor<B, 2> {
        let [atoms, m, edge_dim] = edges.dims();
        let a = self.atom_dim;
        let neighbors = x.clone().select(0, index).reshape([atoms, m, a]);
        let center = x.clone().reshape([atoms, 1, a]).expand([atoms, m, a]);
        let z =
            Tensor::cat(vec![center, neighbors, edges], 2).reshape([atoms * m, 2 * a + edge_dim]);
        let gated = self
            .norm_messages
            .forward(self.full.forward(z))
            .reshape([atoms, m, 2 * a]);
        let mut parts = gated.chunk(2, 2).into_iter();
        let (filter, core) = match (parts.next(), parts.next()) {
            (Some(f), Some(c)) => (f, c),
            _ => unreachable!("chunk(2) yields two tensors"),
        };
        let messages = (sigmoid(filter) * softplus(core, 1.0))
            .sum_dim(1)
            .reshape([atoms, a]);
        softplus(x + self.norm_sum.forward(messages), 1.0)
    }
}
