//! The text encoder plugin (README "What works today"): a frozen BERT-family sentence
//! encoder (all-MiniLM-L6-v2 by default, MatBERT or any BERT checkpoint in the
//! HuggingFace layout) computes a mean-pooled sentence embedding once per
//! description, in the featurizer, so the dataset caches it; the trainable part is
//! an MLP → 512 → 512 → 128.
//!
//! Raw record: `text` (u8, UTF-8). Featurized record: `sentence` f32 `(text_dim)`.

mod bert;
mod featurize;

pub use bert::{Bert, BertConfig};
pub use featurize::{model_dir, sentence_embedding, INSTALL_SCRIPT};

use burn::{
    nn::{Gelu, Linear, LinearConfig},
    prelude::*,
};
use mmhost_plugin_sdk::{
    api::{Array, PluginError, Record},
    limits::{within, MAX_WIDTH},
    records::text_from_record,
    stack_field, EncoderModel,
};

/// Text encoder settings.
#[derive(Config, Debug)]
pub struct TextConfig {
    /// Folder holding `config.json`, `tokenizer.json` and `model.safetensors`;
    /// empty: `$MMHOST_TEXT_MODEL`, else the install script's folder.
    #[config(default = "String::new()")]
    pub model_dir: String,
    /// Tokens per description (longer ones are truncated, as sentence-transformers).
    #[config(default = 256)]
    pub max_tokens: usize,
    /// Width of the frozen sentence embeddings (the language model's hidden size).
    #[config(default = 384)]
    pub text_dim: usize,
    #[config(default = 512)]
    pub hidden_dim: usize,
    #[config(default = 128)]
    pub embed_dim: usize,
}

/// The trainable projection: Linear → GELU → Linear → GELU → Linear.
#[derive(Module, Debug)]
pub struct TextProjection<B: Backend> {
    first: Linear<B>,
    second: Linear<B>,
    out: Linear<B>,
    activation: Gelu,
    text_dim: usize,
}

impl TextConfig {
    /// A freshly initialized projection.
    pub fn init<B: Backend>(&self, device: &B::Device) -> TextProjection<B> {
        TextProjection {
            first: LinearConfig::new(self.text_dim, self.hidden_dim).init(device),
            second: LinearConfig::new(self.hidden_dim, self.hidden_dim).init(device),
            out: LinearConfig::new(self.hidden_dim, self.embed_dim).init(device),
            activation: Gelu::new(),
            text_dim: self.text_dim,
        }
    }
}

impl<B: Backend> TextProjection<B> {
    /// `[batch, text_dim]` → `[batch, embed_dim]`.
    pub fn forward(&self, sentences: Tensor<B, 2>) -> Tensor<B, 2> {
        let x = self.activation.forward(self.first.forward(sentences));
        let x = self.activation.forward(self.second.forward(x));
        self.out.forward(x)
    }
}

/// The `text` plugin.
pub struct TextPlugin;

impl EncoderModel for TextPlugin {
    const NAME: &'static str = "text";
    const MODALITY: &'static str = "text";
    const DESCRIPTION: &'static str =
        "Frozen BERT sentence embeddings (all-MiniLM-L6-v2 or MatBERT), cached; MLP -> 512 -> 512 -> 128";

    type Config = TextConfig;
    type Model<B: Backend> = TextProjection<B>;

    fn default_config() -> Self::Config {
        TextConfig::new()
    }

    fn check_config(config: &Self::Config) -> Result<(), PluginError> {
        // [CLS] and [SEP] at least
        within("max_tokens", config.max_tokens, 2..=4096)?;
        within("text_dim", config.text_dim, 1..=MAX_WIDTH)?;
        within("hidden_dim", config.hidden_dim, 1..=MAX_WIDTH)?;
        within("embed_dim", config.embed_dim, 1..=MAX_WIDTH)
    }

    fn embed_dim(config: &Self::Config) -> usize {
        config.embed_dim
    }

    fn featurize(config: &Self::Config, raw: &Record) -> Result<Record, PluginError> {
        let embedding = sentence_embedding(config, text_from_record(raw)?)?;
        Ok(Record::single(
            "sentence",
            Array::from_f32(&[embedding.len()], &embedding),
        ))
    }

    fn init<B: Backend>(config: &Self::Config, device: &B::Device) -> Self::Model<B> {
        config.init(device)
    }

    fn forward<B: Backend>(
        model: &Self::Model<B>,
        batch: &[Record],
        device: &B::Device,
    ) -> Result<Tensor<B, 2>, PluginError> {
        let sentences = stack_field::<B, 2>(batch, "sentence", device)?; // [batch, text_dim]
        if sentences.dims()[1] != model.text_dim {
            return Err(mmhost_plugin_sdk::api::PluginError::new(
                mmhost_plugin_sdk::api::ErrorKind::InvalidInput,
                format!(
                    "sentence embeddings are {}-d, the model expects {}",
                    sentences.dims()[1],
                    model.text_dim
                ),
            ));
        }
        Ok(model.forward(sentences))
    }
}

mmhost_plugin_sdk::export_encoder!(TextPlugin);
