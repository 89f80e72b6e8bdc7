//! The PotNet network (Lin et al., ICML 2023; MultiMat's variant ending in a 128-d
//! embedding): atom embedding, local edges (−0.75/d through Gaussian RBFs) and
//! complete-potential edges (the weighted sum of the three lattice sums through
//! multiquadric RBFs) sharing one edge space, gated message-passing layers with batch
//! norm, mean pooling, Linear → embedding.

use burn::{
    nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig},
    prelude::*,
    tensor::{activation::relu, IndexingUpdateOp},
};
use mmhost_materials::CGCNN_FEATURES;
use mmhost_plugin_sdk::ops::{batch_norm, gather_sum, linear, matmul, sigmoid, silu, softplus};

/// Sizes of PotNet; defaults are the reference configuration.
#[derive(Config, Debug)]
pub struct PotNetConfig {
    /// Local-edge cutoff, Å (extended when an atom has fewer neighbours).
    #[config(default = 4.0)]
    pub cutoff: f64,
    /// Nearest neighbours per atom (ties included).
    #[config(default = 16)]
    pub max_neighbors: usize,
    /// Node and edge width.
    #[config(default = 256)]
    pub hidden_dim: usize,
    #[config(default = 3)]
    pub conv_layers: usize,
    /// Gaussian basis functions of local edges, on [−4, 4] of −0.75/d.
    #[config(default = 256)]
    pub local_rbf: usize,
    /// Multiquadric basis functions of complete-potential edges, on [−4, 4].
    #[config(default = 64)]
    pub infinite_rbf: usize,
    /// Weights of the Coulomb, London and Pauli sums.
    #[config(default = "-0.801")]
    pub coulomb_weight: f64,
    #[config(default = "-0.074")]
    pub london_weight: f64,
    #[config(default = 0.145)]
    pub pauli_weight: f64,
    /// Output embedding width.
    #[config(default = 128)]
    pub embed_dim: usize,
}

impl PotNetConfig {
    /// A freshly initialized model.
    pub fn init<B: Backend>(&self, device: &B::Device) -> PotNet<B> {
        let h = self.hidden_dim;
        PotNet {
            atom_embedding: LinearConfig::new(CGCNN_FEATURES, h).init(device),
            local_embedding: LinearConfig::new(self.local_rbf, h).init(device),
            infinite_embedding: LinearConfig::new(self.infinite_rbf, h).init(device),
            infinite_norm: BatchNormConfig::new(h).init(device),
            convs: (0..self.conv_layers)
                .map(|_| PotNetConvConfig::new(h).init(device))
                .collect(),
            head: LinearConfig::new(h, self.embed_dim).init(device),
            local_rbf: self.local_rbf,
            infinite_rbf: self.infinite_rbf,
            weights: [self.coulomb_weight, self.london_weight, self.pauli_weight],
        }
    }
}

/// The PotNet encoder.
#[derive(Module, Debug)]
pub struct PotNet<B: Backend> {
    atom_embedding: Linear<B>,
    local_embedding: Linear<B>,
    infinite_embedding: Linear<B>,
    infinite_norm: BatchNorm<B>,
    convs: Vec<PotNetConv<B>>,
    head: Linear<B>,
    local_rbf: usize,
    infinite_rbf: usize,
    weights: [f64; 3],
}

/// A flattened batch of crystal graphs, as tensors.
pub struct GraphTensors<B: Backend> {
    /// `[atoms, 92]`
    pub features: Tensor<B, 2>,
    /// `[E]` sources and targets of all edges: local edges first, then every ordered
    /// pair of atoms within each crystal.
    pub source: Tensor<B, 1, Int>,
    pub target: Tensor<B, 1, Int>,
    /// `[E_local]`, Å
    pub local_distance: Tensor<B, 1>,
    /// `[E_infinite, 3]`: Coulomb, London, Pauli sums.
    pub infinite_sums: Tensor<B, 2>,
    /// `[crystals, atoms]`: mean-pooling weights.
    pub pool: Tensor<B, 2>,
}

/// `[E]` → `[E, bins]`: `base = γ (x − c_k)`, centres `linspace(−4, 4, bins)`,
/// γ = 1/spacing.
fn rbf_base<B: Backend>(x: Tensor<B, 1>, bins: usize) -> Tensor<B, 2> {
    let device = x.device();
    let [n] = x.dims();
    let spacing = 8.0 / (bins - 1) as f64;
    let centers: Vec<f32> = (0..bins)
        .map(|k| (-4.0 + k as f64 * spacing) as f32)
        .collect();
    let centers =
        Tensor::<B, 1>::from_data(TensorData::new(centers, [bins]), &device).reshape([1, bins]);
    (x.reshape([n, 1]) - centers).div_scalar(spacing)
}

impl<B: Backend> PotNet<B> {
    /// A batch of graphs → `[crystals, embed_dim]`.
    pub fn forward(&self, graph: GraphTensors<B>) -> Tensor<B, 2> {
        // Local edges: Gaussian RBF of −0.75/d, Linear, SiLU.
        let local = rbf_base(
            graph.local_distance.recip().mul_scalar(-0.75),
            self.local_rbf,
        );
        let local = silu(linear(
            &self.local_embedding,
            (local.clone() * local).neg().exp(),
        ));
        // Complete-potential edges: multiquadric RBF of the weighted sums, Linear,
        // softplus, batch norm.
        let [pairs, _] = graph.infinite_sums.dims();
        let device = graph.infinite_sums.device();
        let weights: Vec<f32> = self.weights.iter().map(|&w| w as f32).collect();
        let weights = Tensor::<B, 2>::from_data(TensorData::new(weights, [3, 1]), &device);
        let potential = matmul(graph.infinite_sums, weights).reshape([pairs]);
        let infinite = rbf_base(potential, self.infinite_rbf);
        let infinite = (infinite.clone() * infinite).add_scalar(1.0).sqrt();
        let infinite = batch_norm(
            &self.infinite_norm,
            softplus(linear(&self.infinite_embedding, infinite), 1.0),
        );
        let edges = Tensor::cat(vec![local, infinite], 0); // [E, H]

        let mut x = linear(&self.atom_embedding, graph.features); // [atoms, H]
        for conv in &self.convs {
            x = conv.forward(x, graph.source.clone(), graph.target.clone(), edges.clone());
        }
        linear(&self.head, matmul(graph.pool, x))
    }
}

/// One PotNet convolution.
#[derive(Config, Debug)]
pub struct PotNetConvConfig {
    pub hidden_dim: usize,
}

/// For edge j → i with `z = x_i ⊕ x_j ⊕ e_ij`: `m_ij = σ(BN(MLP_g(z))) ⊙ MLP_m(z)`;
/// `x_i ← ReLU(x_i + BN(Σ_j m_ij))`. Each MLP is Linear(3H → H), SiLU, Linear(H → H).
#[derive(Module, Debug)]
pub struct PotNetConv<B: Backend> {
    gate_in: Linear<B>,
    gate_out: Linear<B>,
    gate_norm: BatchNorm<B>,
    message_in: Linear<B>,
    message_out: Linear<B>,
    node_norm: BatchNorm<B>,
}

impl PotNetConvConfig {
    /// A freshly initialized convolution.
    pub fn init<B: Backend>(&self, device: &B::Device) -> PotNetConv<B> {
        let h = self.hidden_dim;
        PotNetConv {
            gate_in: LinearConfig::new(3 * h, h).init(device),
            gate_out: LinearConfig::new(h, h).init(device),
            gate_norm: BatchNormConfig::new(h).init(device),
            message_in: LinearConfig::new(3 * h, h).init(device),
            message_out: LinearConfig::new(h, h).init(device),
            node_norm: BatchNormConfig::new(h).init(device),
        }
    }
}

impl<B: Backend> PotNetConv<B> {
    /// `x` `[atoms, H]`, `source`/`target` `[E]`, `edges` `[E, H]` → `[atoms, H]`.
    pub fn forward(
        &self,
        x: Tensor<B, 2>,
        source: Tensor<B, 1, Int>,
        target: Tensor<B, 1, Int>,
        edges: Tensor<B, 2>,
    ) -> Tensor<B, 2> {
        // Both MLPs' first layers on z = x_i ⊕ x_j ⊕ e_ij, without building z: each
        // [3H, H] weight is three [H, H] blocks, so z·W = (x·W_i)[i] + (x·W_j)[j] + e·W_e,
        // and x·W_i and x·W_j are products over atoms instead of edges (a third of the
        // edge-sized products).
        let [h, _] = self.gate_out.weight.dims();
        let first_layer = |linear: &Linear<B>| {
            let block = |part: usize| linear.weight.val().slice([part * h..(part + 1) * h, 0..h]);
            gather_sum(
                matmul(x.clone(), block(0)),
                target.clone(),
                matmul(x.clone(), block(1)),
                source.clone(),
                matmul(edges.clone(), block(2)),
                linear.bias.as_ref().map(|bias| bias.val()),
            ) // [E, H]
        };
        let gate = sigmoid(batch_norm(
            &self.gate_norm,
            linear(&self.gate_out, silu(first_layer(&self.gate_in))),
        ));
        let message = linear(&self.message_out, silu(first_layer(&self.message_in)));
        let aggregated =
            x.zeros_like()
                .select_assign(0, target, gate * message, IndexingUpdateOp::Add);
        relu(x + batch_norm(&self.node_norm, aggregated))
    }
}

#[cfg(test)]
mod tests {
    use burn::{
        backend::{Autodiff, Flex},
        tensor::Distribution,
    };

    use super::*;

    fn all_finite<const D: usize>(tensor: Tensor<Flex, D>) -> bool {
        let values = tensor.into_data().to_vec::<f32>().expect("f32 values");
        values.iter().all(|v| v.is_finite())
    }

    /// Two atoms whose London sum (1e7 Å⁻⁶, atoms 0.07 Å apart) is far beyond any
    /// real crystal's: the complete-potential edges' softplus inputs pass the range
    /// of `f32` e^x, where burn's softplus is infinite and every gradient NaN. The
    /// embedding and the gradients stay finite.
    #[test]
    fn extreme_lattice_sums_keep_the_embedding_and_its_gradients_finite() {
        type Training = Autodiff<Flex>;
        let device = Default::default();
        let model = PotNetConfig::new()
            .with_hidden_dim(16)
            .with_local_rbf(8)
            .with_infinite_rbf(8)
            .with_embed_dim(4)
            .init::<Training>(&device);
        // Local edges 0 → 1 and 1 → 0, then the four ordered pairs.
        let graph = GraphTensors {
            features: Tensor::random([2, CGCNN_FEATURES], Distribution::Default, &device),
            source: Tensor::from_ints([0, 1, 0, 0, 1, 1], &device),
            target: Tensor::from_ints([1, 0, 0, 1, 0, 1], &device),
            local_distance: Tensor::from_floats([2.1, 2.1], &device),
            infinite_sums: Tensor::from_floats(
                [
                    [-1.0, 1e7, 0.5],
                    [-3.0, 1e7, 0.1],
                    [-3.0, 1e7, 0.1],
                    [-1.0, 1e7, 0.5],
                ],
                &device,
            ),
            pool: Tensor::from_floats([[0.5, 0.5]], &device),
        };
        let embedding = model.forward(graph); // [1, 4]
        let grads = embedding.clone().sum().backward();
        assert!(all_finite(embedding.inner()));
        for weight in [
            &model.infinite_embedding.weight,
            &model.atom_embedding.weight,
        ] {
            assert!(all_finite(weight.val().grad(&grads).expect("gradient")));
        }
    }
}
