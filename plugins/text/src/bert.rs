//! A frozen BERT encoder (HuggingFace `BertModel` layout) for sentence embeddings:
//! weights from `model.safetensors`, sizes from `config.json`, inference only.

use std::{collections::HashMap, path::Path};

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use mmhost_plugin_sdk::ops::{gelu, layer_norm, matmul, self_attention};
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

impl BertConfig {
    /// Refuses sizes the encoder cannot run with: no heads, or a hidden width the
    /// heads do not divide. (Every weight's shape is then checked against these sizes
    /// as it is loaded, so a size larger than the weights present is refused too.)
    fn check(&self) -> Result<(), String> {
        let heads = self.num_attention_heads;
        if heads == 0 || self.hidden_size == 0 || !self.hidden_size.is_multiple_of(heads) {
            return Err(format!(
                "config.json: hidden_size {} is not a positive multiple of \
                 num_attention_heads {heads}",
                self.hidden_size
            ));
        }
        if self.intermediate_size == 0 || self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0
        {
            return Err(format!(
                "config.json: intermediate_size {} and layer_norm_eps {} must be positive",
                self.intermediate_size, self.layer_norm_eps
            ));
        }
        Ok(())
    }
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
        matmul(x, self.weight.clone()) + self.bias.clone().unsqueeze_dim(0)
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
        layer_norm(x, self.gamma.clone(), Some(self.beta.clone()), self.eps)
    }
}

struct Layer<B: Backend> {
    /// Query, key and value projections side by side: weight `[hidden, 3·hidden]`.
    qkv: Dense<B>,
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
        config.check()?;
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
        let d = config.hidden_size;
        // An embedding table: `[rows, hidden_size]`.
        let table = |name: &str| -> Result<Tensor<B, 2>, String> {
            let (shape, values) = take(name)?;
            let [rows, cols] = shape[..] else {
                return Err(format!("'{name}' is not a matrix: {shape:?}"));
            };
            if cols != d || rows == 0 {
                return Err(format!(
                    "'{name}' is {shape:?}, not [rows, {d}] (config.json's hidden_size)"
                ));
            }
            Ok(Tensor::from_data(
                TensorData::new(values, [rows, cols]),
                device,
            ))
        };
        let vector = |name: &str| -> Result<Tensor<B, 1>, String> {
            let (shape, values) = take(name)?;
            if shape != [d] {
                return Err(format!("'{name}' is {shape:?}, not [{d}]"));
            }
            Ok(Tensor::from_data(TensorData::new(values, [d]), device))
        };
        // PyTorch stores Linear weights as [out, in]; `Dense` keeps [in, out],
        // contiguous (a transposed view of [out, in] made the text benchmark 4 %
        // slower). Several Linear layers side by side share one product; together
        // they must read `inputs` values and write `outputs`.
        let dense = |prefixes: &[String], inputs: usize, outputs: usize| {
            let mut parts = Vec::with_capacity(prefixes.len());
            let mut biases = Vec::new(); // `outputs` is config.json's word, not yet checked
            for prefix in prefixes {
                let (shape, values) = take(&format!("{prefix}.weight"))?;
                let [rows, columns] = shape[..] else {
                    return Err(format!("'{prefix}.weight' is not a matrix: {shape:?}"));
                };
                if columns != inputs || values.len() != rows * columns {
                    return Err(format!(
                        "'{prefix}.weight' holds {} values as {shape:?}, not [rows, {inputs}] \
                         (config.json: hidden_size {d}, intermediate_size {})",
                        values.len(),
                        config.intermediate_size
                    ));
                }
                let (bias_shape, bias) = take(&format!("{prefix}.bias"))?;
                if bias_shape != [rows] {
                    return Err(format!("'{prefix}.bias' is {bias_shape:?}, not [{rows}]"));
                }
                parts.push((rows, values));
                biases.extend(bias);
            }
            if biases.len() != outputs {
                return Err(format!(
                    "{prefixes:?} write {} values, not {outputs} (config.json: hidden_size \
                     {d}, intermediate_size {})",
                    biases.len(),
                    config.intermediate_size
                ));
            }
            let mut weight = Vec::with_capacity(inputs * outputs);
            for row in 0..inputs {
                for (rows, values) in &parts {
                    weight.extend((0..*rows).map(|column| values[column * inputs + row]));
                }
            }
            Ok(Dense {
                weight: Tensor::from_data(TensorData::new(weight, [inputs, outputs]), device),
                bias: Tensor::from_data(TensorData::new(biases, [outputs]), device),
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
                let one = |name: &str| [format!("{p}.{name}")];
                Ok(Layer {
                    qkv: dense(
                        &["query", "key", "value"].map(|part| format!("{p}.attention.self.{part}")),
                        d,
                        3 * d,
                    )?,
                    attention_out: dense(&one("attention.output.dense"), d, d)?,
                    attention_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                    intermediate: dense(&one("intermediate.dense"), d, config.intermediate_size)?,
                    output: dense(&one("output.dense"), config.intermediate_size, d)?,
                    output_norm: norm(&format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            word: table("embeddings.word_embeddings.weight")?,
            position: table("embeddings.position_embeddings.weight")?,
            token_type: table("embeddings.token_type_embeddings.weight")?,
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
    /// (sentence-transformers' Pooling(mean) + Normalize). Refused: no ids, more ids
    /// than the model has positions, or an id past its vocabulary.
    pub fn sentence_embedding(&self, ids: &[u32]) -> Result<Tensor<B, 1>, String> {
        let device = self.word.device();
        let n = ids.len();
        let [vocabulary, _] = self.word.dims();
        let [positions, _] = self.position.dims();
        if n == 0 || n > positions {
            return Err(format!(
                "{n} tokens: the model takes 1 to {positions} (set max_tokens ≤ {positions})"
            ));
        }
        if let Some(id) = ids.iter().find(|&&id| id as usize >= vocabulary) {
            return Err(format!(
                "token id {id} is past the model's {vocabulary} word embeddings \
                 (tokenizer.json and model.safetensors disagree)"
            ));
        }
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
            let qkv = layer.qkv.forward(x.clone()).unsqueeze_dim(0); // [1, n, 3d]
            let context = self_attention(qkv, heads, head_dim).reshape([n, d]);
            let attended = layer
                .attention_norm
                .forward(x + layer.attention_out.forward(context));
            let hidden = gelu(layer.intermediate.forward(attended.clone())); // [n, intermediate]
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
        Ok(pooled / norm)
    }
}
