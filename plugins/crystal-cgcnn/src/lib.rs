//! CGCNN crystal encoder plugin (Xie & Grossman, PRL 120, 145301, 2018), a
//! swappable alternative to PotNet exposing the same `crystal` modality.
//!
//! Raw record: `structure` (u8, pymatgen Structure JSON). Featurized record:
//! `atom_features` f32 `(N, 92)`, `neighbor_index` i64 `(N, M)` and
//! `neighbor_distance` f32 `(N, M)` (Å): the M nearest neighbours within the radius,
//! padded with index 0 at distance radius + 1 as in the reference code.

mod featurize;
mod model;

pub use featurize::featurize_structure;
pub use model::{Cgcnn, CgcnnConfig, ConvLayer, ConvLayerConfig};

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use mmhost_materials::CGCNN_FEATURES;
use mmhost_plugin_sdk::{
    api::{ErrorKind, PluginError, Record},
    limits::{within, MAX_DEPTH, MAX_WIDTH},
    mean_pool_weights, EncoderModel,
};

/// The `crystal-cgcnn` plugin.
pub struct CgcnnPlugin;

impl EncoderModel for CgcnnPlugin {
    const NAME: &'static str = "crystal-cgcnn";
    const MODALITY: &'static str = "crystal";
    const DESCRIPTION: &'static str =
        "CGCNN graph convolutions over the 12 nearest neighbours within 8 Å (Xie & Grossman 2018)";

    type Config = CgcnnConfig;
    type Model<B: Backend> = Cgcnn<B>;

    fn default_config() -> Self::Config {
        CgcnnConfig::new()
    }

    fn presets() -> Vec<(&'static str, Self::Config)> {
        vec![
            ("reference", CgcnnConfig::new()),
            (
                "small",
                CgcnnConfig::new()
                    .with_atom_dim(32)
                    .with_conv_layers(2)
                    .with_hidden_dim(64),
            ),
        ]
    }

    fn check_config(config: &Self::Config) -> Result<(), PluginError> {
        within("radius", config.radius, 0.5..=32.0)?;
        within("max_neighbors", config.max_neighbors, 1..=256)?;
        // at most MAX_WIDTH Gaussian centres
        within(
            "gaussian_step",
            config.gaussian_step,
            config.radius / MAX_WIDTH as f64..=config.radius,
        )?;
        within("atom_dim", config.atom_dim, 1..=MAX_WIDTH)?;
        within("conv_layers", config.conv_layers, 1..=MAX_DEPTH)?;
        within("hidden_dim", config.hidden_dim, 1..=MAX_WIDTH)?;
        within("embed_dim", config.embed_dim, 1..=MAX_WIDTH)
    }

    fn embed_dim(config: &Self::Config) -> usize {
        config.embed_dim
    }

    fn featurize(config: &Self::Config, raw: &Record) -> Result<Record, PluginError> {
        featurize_structure(raw, config.radius, config.max_neighbors)
    }

    fn init<B: Backend>(config: &Self::Config, device: &B::Device) -> Self::Model<B> {
        config.init(device)
    }

    fn forward<B: Backend>(
        model: &Self::Model<B>,
        batch: &[Record],
        device: &B::Device,
    ) -> Result<Tensor<B, 2>, PluginError> {
        let graph = GraphBatch::collate(batch, model.max_neighbors())?;
        let atoms = graph.atoms;
        let m = graph.neighbors_per_atom;
        let features = Tensor::<B, 2>::from_data(
            TensorData::new(graph.features, [atoms, CGCNN_FEATURES]),
            device,
        );
        let index =
            Tensor::<B, 1, Int>::from_data(TensorData::new(graph.index, [atoms * m]), device);
        let distance =
            Tensor::<B, 2>::from_data(TensorData::new(graph.distance, [atoms, m]), device);
        let pool =
            Tensor::<B, 2>::from_data(TensorData::new(graph.pool, [batch.len(), atoms]), device);
        Ok(model.forward(features, index, distance, pool))
    }
}

/// A batch of crystal graphs flattened into one graph.
struct GraphBatch {
    atoms: usize,
    neighbors_per_atom: usize,
    /// `[atoms, 92]`
    features: Vec<f32>,
    /// `[atoms × M]`, indices into the batch's atoms.
    index: Vec<i64>,
    /// `[atoms, M]`
    distance: Vec<f32>,
    /// `[crystals, atoms]`: 1/n for the n atoms of each crystal (mean pooling).
    pool: Vec<f32>,
}

impl GraphBatch {
    fn collate(batch: &[Record], m: usize) -> Result<Self, PluginError> {
        let invalid = |i: usize, message: String| {
            PluginError::new(ErrorKind::InvalidInput, format!("record {i}: {message}"))
        };
        let mut graph = GraphBatch {
            atoms: 0,
            neighbors_per_atom: m,
            features: Vec::new(),
            index: Vec::new(),
            distance: Vec::new(),
            pool: Vec::new(),
        };
        let mut sizes = Vec::with_capacity(batch.len());
        for (i, record) in batch.iter().enumerate() {
            let features = record.require("atom_features")?;
            let index = record.require("neighbor_index")?;
            let distance = record.require("neighbor_distance")?;
            let n = features.dims().first().copied().unwrap_or(0);
            if features.dims() != [n, CGCNN_FEATURES]
                || index.dims() != [n, m]
                || distance.dims() != [n, m]
                || n == 0
            {
                return Err(invalid(
                    i,
                    format!(
                        "expected (N, {CGCNN_FEATURES}), (N, {m}), (N, {m}) arrays; got {:?}, {:?}, {:?} (featurize first)",
                        features.dims(),
                        index.dims(),
                        distance.dims()
                    ),
                ));
            }
            graph.features.extend(features.to_f32()?);
            let offset = graph.atoms as i64;
            for j in index.to_i64()? {
                if !(0..n as i64).contains(&j) {
                    return Err(invalid(i, format!("neighbour index {j} outside 0..{n}")));
                }
                graph.index.push(j + offset);
            }
            graph.distance.extend(distance.to_f32()?);
            graph.atoms += n;
            sizes.push(n);
        }
        graph.pool = mean_pool_weights(&sizes);
        Ok(graph)
    }
}

mmhost_plugin_sdk::export_encoder!(CgcnnPlugin);
