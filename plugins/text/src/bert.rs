//! A frozen BERT encoder (HuggingFace `BertModel` layout) for sentence embeddings:
//! weights from `model.safetensors`, sizes from `config.json`, inference only.

use std::{collections::HashMap, path::Path};

use burn::tensor::{
    activation::{gelu, softmax},
    backend::Backend,
    Int, Tensor, TensorData,
};
use safetensors::SafeTensors;
use serde::Deserialize;

/// The parts of a HuggingFace BERT `config.json` the encoder needs.
#[derive(Clone, Debug, Deserialize)]
pub struct BertConfig {
    pub hidden_size: usize,
    pub num_attention_heads: usize,
    pub num_hidden_layers: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
}

fn default_eps() -> f64 {
    1e-12
}

struct Dense<B: Backend> {
    /// `[in, out]`
    weight: Tensor<B, 2>,
    /// `[out]`
    bias: Tensor<B, 1>,
}

impl<B: Backend> Dense<B> {
    /// `[n, in]` → `[n, out]`
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        x.matmul(self.weight.clone()) + self.bias.clone().unsqueeze_dim(0)
    }
}

struct Norm<B: Backend> {
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    eps: f64,
}

impl<B: Backend> Norm<B> {
    /// LayerNorm over the last dimension of `[n, d]`.
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let mean = x.clone().mean_dim(1);
        let centered = x - mean;
        let var = centered.clone().powf_scalar(2.0).mean_dim(1);
        centered / (var + self.eps).sqrt() * self.gamma.clone().unsqueeze_dim(0)
            + self.beta.clone().unsqueeze_dim(0)
    }
}

struct Layer<B: Backend> {
    query: Dense<B>,
    key: Dense<B>,
    value: Dense<B>,
    attention_out: Dense<B>,
    attention_norm: Norm<B>,
    intermediate: Dense<B>,
    output: Dense<B>,
    output_norm: Norm<B>,
}

/// A loaded, frozen BERT encoder.
pub struct Bert<B: Backend> {
    config: BertConfig,
    word: Tensor<B, 2>,
    position: Tensor<B, 2>,
    token_type: Tensor<B, 2>,
    embedding_norm: Norm<B>,
    layers: Vec<Layer<B>>,
}

impl<B: Backend> Bert<B> {
    /// Loads `config.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path, device: &B::Device) -> Result<Self, String> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| format!("{}: {e}", dir.join(name).display()))
        };
        let config: BertConfig = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| format!("config.json: {e}"))?;
        let bytes = read("model.safetensors")?;
        let tensors =
            SafeTensors::deserialize(&bytes).map_err(|e| format!("model.safetensors: {e}"))?;
        let mut weights: HashMap<String, (Vec<usize>, Vec<f32>)> = HashMap::new();
        for (name, view) in tensors.tensors() {
            if view.dtype() != safetensors::Dtype::F32 {
                continue; // position_ids (I64) and the like
            }
            let values = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            // Checkpoints name the model's tensors with or without a `bert.` prefix.
            let name = name.strip_prefix("bert.").unwrap_or(&name).to_string();
            weights.insert(name, (view.shape().to_vec(), values));
        }
        let take = |name: &str| -> Result<(Vec<usize>, Vec<f32>), String> {
            weights
                .get(name)
                .cloned()
                .ok_or_else(|| format!("model.safetensors has no tensor '{name}'"))
        };
        let matrix = |name: &str| -> Result<Tensor<B, 2>, String> {
            let (shape, values) = take(name)?;
            let [rows, cols] = shape[..] else {
                return Err(format!("'{name}' is not a matrix: {shape:?}"));
            };
            Ok(Tensor::from_data(
                TensorData::new(values, [rows, cols]),
                device,
            ))
        };
        let vector = |name: &str| -> Result<Tensor<B, 1>, String> {
            let (shape, values) = take(name)?;
            Ok(Tensor::from_data(
                TensorData::new(values, [shape.iter().product::<usize>()]),
                device,
            ))
        };
        // PyTorch stores Linear weights as [out, in].
        let dense = |prefix: &str| -> Result<Dense<B>, String> {
            Ok(Dense {
                weight: matrix(&format!("{prefix}.weight"))?.transpose(),
                bias: vector(&format!("{prefix}.bias"))?,
            })
        };
        let norm = |prefix: &str| -> Result<Norm<B>, String> {
            Ok(Norm {
                gamma: vector(&format!("{prefix}.weight"))?,
                beta: vector(&format!("{prefix}.bias"))?,
                eps: config.layer_norm_eps,
            })
        };
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                Ok(Layer {
                    query: dense(&format!("{p}.attention.self.query"))?,
                    key: dense(&format!("{p}.attention.self.key"))?,
                    value: dense(&format!("{p}.attention.self.value"))?,
                    attention_out: dense(&format!("{p}.attention.output.dense"))?,
                    attention_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                    intermediate: dense(&format!("{p}.intermediate.dense"))?,
                    output: dense(&format!("{p}.output.dense"))?,
                    output_norm: norm(&format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            word: matrix("embeddings.word_embeddings.weight")?,
            position: matrix("embeddings.position_embeddings.weight")?,
            token_type: matrix("embeddings.token_type_embeddings.weight")?,
            embedding_norm: norm("embeddings.LayerNorm")?,
            layers,
            config,
        })
    }

    /// Hidden width.
    pub fn hidden_size(&self) -> usize {
        self.config.hidden_size
    }

    /// Token ids of one sequence → mean-pooled, L2-normalized embedding `[hidden]`
    /// (sentence-transformers' Pooling(mean) + Normalize).
    pub fn sentence_embedding(&self, ids: &[u32]) -> Tensor<B, 1> {
        let device = self.word.device();
        let n = ids.len();
        let index = Tensor::<B, 1, Int>::from_data(
            TensorData::new(ids.iter().map(|&i| i as i64).collect::<Vec<_>>(), [n]),
            &device,
        );
        let positions = Tensor::<B, 1, Int>::arange(0..n as i64, &device);
        let types = Tensor::<B, 1, Int>::zeros([n], &device);
        let x = self.word.clone().select(0, index)
            + self.position.clone().select(0, positions)
            + self.token_type.clone().select(0, types);
        let mut x = self.embedding_norm.forward(x); // [n, d]
        let d = self.config.hidden_size;
        let heads = self.config.num_attention_heads;
        let head_dim = d / heads;
        for layer in &self.layers {
            let split = |t: Tensor<B, 2>| t.reshape([n, heads, head_dim]).swap_dims(0, 1); // [h, n, hd]
            let q = split(layer.query.forward(x.clone()));
            let k = split(layer.key.forward(x.clone()));
            let v = split(layer.value.forward(x.clone()));
            let scores = q
                .matmul(k.swap_dims(1, 2))
                .div_scalar((head_dim as f64).sqrt());
            let context = softmax(scores, 2).matmul(v).swap_dims(0, 1).reshape([n, d]);
            let attended = layer
                .attention_norm
                .forward(x + layer.attention_out.forward(context));
            let hidden = gelu(layer.intermediate.forward(attended.clone()));
            x = layer
                .output_norm
                .forward(attended + layer.output.forward(hidden));
        }
        let pooled = x.mean_dim(0).reshape([d]);
        let norm = pooled
            .clone()
            .powf_scalar(2.0)
            .sum()
            .sqrt()
            .clamp_min(1e-12);
        pooled / norm
    }
}
