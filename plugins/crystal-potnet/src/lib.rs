//! PotNet crystal encoder plugin (Lin et al., ICML 2023), the crystal encoder of
//! MultiMat: local edges plus complete-potential edges from infinite lattice sums.
//!
//! Raw record: `structure` (u8, pymatgen Structure JSON). Featurized record: see
//! [`featurize_structure`].

mod featurize;
mod graph;
mod model;

pub use featurize::featurize_structure;
pub use graph::local_edges;
pub use model::{GraphTensors, PotNet, PotNetConfig, PotNetConv, PotNetConvConfig};

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use mmhost_materials::CGCNN_FEATURES;
use mmhost_plugin_sdk::{
    api::{ErrorKind, PluginError, Record},
    limits::{within, MAX_DEPTH, MAX_WIDTH},
    mean_pool_weights, EncoderModel,
};

/// The `crystal-potnet` plugin.
pub struct PotNetPlugin;

impl EncoderModel for PotNetPlugin {
    const NAME: &'static str = "crystal-potnet";
    const MODALITY: &'static str = "crystal";
    const DESCRIPTION: &'static str =
        "PotNet: 16-NN local edges and Coulomb/London/Pauli lattice-sum edges, 3 gated convolutions x 256";

    type Config = PotNetConfig;
    type Model<B: Backend> = PotNet<B>;

    fn default_config() -> Self::Config {
        PotNetConfig::new()
    }

    fn presets() -> Vec<(&'static str, Self::Config)> {
        vec![
            ("reference", PotNetConfig::new()),
            (
                "small",
                PotNetConfig::new()
                    .with_hidden_dim(32)
                    .with_conv_layers(2)
                    .with_local_rbf(64)
                    .with_infinite_rbf(32),
            ),
        ]
    }

    fn check_config(config: &Self::Config) -> Result<(), PluginError> {
        within("cutoff", config.cutoff, 0.5..=32.0)?;
        within("max_neighbors", config.max_neighbors, 1..=256)?;
        within("hidden_dim", config.hidden_dim, 1..=MAX_WIDTH)?;
        within("conv_layers", config.conv_layers, 1..=MAX_DEPTH)?;
        within("local_rbf", config.local_rbf, 1..=MAX_WIDTH)?;
        within("infinite_rbf", config.infinite_rbf, 1..=MAX_WIDTH)?;
        for (key, weight) in [
            ("coulomb_weight", config.coulomb_weight),
            ("london_weight", config.london_weight),
            ("pauli_weight", config.pauli_weight),
        ] {
            within(key, weight, -1e3..=1e3)?;
        }
        within("embed_dim", config.embed_dim, 1..=MAX_WIDTH)
    }

    fn embed_dim(config: &Self::Config) -> usize {
        config.embed_dim
    }

    fn featurize(config: &Self::Config, raw: &Record) -> Result<Record, PluginError> {
        featurize_structure(raw, config.cutoff, config.max_neighbors)
    }

    fn init<B: Backend>(config: &Self::Config, device: &B::Device) -> Self::Model<B> {
        config.init(device)
    }

    fn forward<B: Backend>(
        model: &Self::Model<B>,
        batch: &[Record],
        device: &B::Device,
    ) -> Result<Tensor<B, 2>, PluginError> {
        Ok(model.forward(collate(batch, device)?))
    }
}

/// Flattens featurized records into one graph.
fn collate<B: Backend>(
    batch: &[Record],
    device: &B::Device,
) -> Result<GraphTensors<B>, PluginError> {
    let invalid = |i: usize, message: String| {
        PluginError::new(
            ErrorKind::InvalidInput,
            format!("record {i}: {message} (featurize first)"),
        )
    };
    let (mut features, mut local_source, mut local_target, mut distance) =
        (vec![], vec![], vec![], vec![]);
    let (mut pair_source, mut pair_target, mut sums) = (vec![], vec![], vec![]);
    let mut sizes = Vec::with_capacity(batch.len());
    let mut offset = 0i64;
    for (i, record) in batch.iter().enumerate() {
        let atom_features = record.require("atom_features")?;
        let edges = record.require("local_edges")?;
        let local_distance = record.require("local_distance")?;
        let infinite = record.require("infinite_sums")?;
        let n = atom_features.dims().first().copied().unwrap_or(0);
        let e = edges.dims().first().copied().unwrap_or(0);
        if n == 0
            || atom_features.dims() != [n, CGCNN_FEATURES]
            || edges.dims() != [e, 2]
            || local_distance.dims() != [e]
            || infinite.dims() != [n * n, 3]
        {
            return Err(invalid(i, "unexpected array shapes".into()));
        }
        features.extend(atom_features.to_f32()?);
        for pair in edges.to_i64()?.chunks_exact(2) {
            if pair.iter().any(|&k| !(0..n as i64).contains(&k)) {
                return Err(invalid(i, format!("edge {pair:?} outside 0..{n}")));
            }
            local_source.push(pair[0] + offset);
            local_target.push(pair[1] + offset);
        }
        distance.extend(local_distance.to_f32()?);
        for a in 0..n as i64 {
            for b in 0..n as i64 {
                pair_source.push(a + offset);
                pair_target.push(b + offset);
            }
        }
        sums.extend(infinite.to_f32()?);
        sizes.push(n);
        offset += n as i64;
    }
    let atoms = offset as usize;
    let pool = mean_pool_weights(&sizes);
    let edges = local_source.len() + pair_source.len();
    let pairs = pair_source.len();
    let local_count = local_source.len();
    local_source.extend(pair_source);
    local_target.extend(pair_target);
    Ok(GraphTensors {
        features: Tensor::from_data(TensorData::new(features, [atoms, CGCNN_FEATURES]), device),
        source: Tensor::<B, 1, Int>::from_data(TensorData::new(local_source, [edges]), device),
        target: Tensor::<B, 1, Int>::from_data(TensorData::new(local_target, [edges]), device),
        local_distance: Tensor::from_data(TensorData::new(distance, [local_count]), device),
        infinite_sums: Tensor::from_data(TensorData::new(sums, [pairs, 3]), device),
        pool: Tensor::from_data(TensorData::new(pool, [batch.len(), atoms]), device),
    })
}

mmhost_plugin_sdk::export_encoder!(PotNetPlugin);
