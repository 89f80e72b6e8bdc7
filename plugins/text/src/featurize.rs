//! Sentence embeddings with a frozen language model, loaded once per model folder.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex, OnceLock},
};

use burn::backend::{flex::FlexDevice, Flex};
use mmhost_plugin_sdk::api::{ErrorKind, PluginError};
use tokenizers::Tokenizer;

use crate::{Bert, TextConfig};

/// The script that installs the default model.
pub const INSTALL_SCRIPT: &str = "scripts/install-text-model.sh";

/// Where the language model is: the config's `model_dir`, `$MMHOST_TEXT_MODEL`, or
/// the install script's folder (`$MMHOST_MODEL_CACHE`, else `~/.cache/mmhost/models`,
/// then `all-MiniLM-L6-v2`).
pub fn model_dir(config: &TextConfig) -> PathBuf {
    if !config.model_dir.is_empty() {
        return PathBuf::from(&config.model_dir);
    }
    if let Some(dir) = std::env::var_os("MMHOST_TEXT_MODEL") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("MMHOST_MODEL_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/mmhost/models")))
        .unwrap_or_else(|| PathBuf::from(".cache/mmhost/models"));
    cache.join("all-MiniLM-L6-v2")
}

type Loaded = Arc<(Tokenizer, Bert<Flex>)>;

fn load(dir: &PathBuf) -> Result<Loaded, PluginError> {
    static MODELS: OnceLock<Mutex<HashMap<PathBuf, Loaded>>> = OnceLock::new();
    let models = MODELS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut models = models.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(loaded) = models.get(dir) {
        return Ok(loaded.clone());
    }
    if !dir.join("model.safetensors").is_file() {
        return Err(PluginError::new(
            ErrorKind::InvalidConfig,
            format!(
                "no language model at {} (model.safetensors missing): run {INSTALL_SCRIPT}, or set the text \
                 encoder's model_dir (or MMHOST_TEXT_MODEL) to a BERT folder with config.json, tokenizer.json \
                 and model.safetensors",
                dir.display()
            ),
        ));
    }
    let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| {
        PluginError::new(
            ErrorKind::InvalidConfig,
            format!("{}: {e}", dir.join("tokenizer.json").display()),
        )
    })?;
    // One unpadded sequence at a time, truncated by `max_tokens` below: the file's own
    // padding (to 128) would enter the mean and its truncation differs from
    // sentence-transformers' max_seq_length.
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| PluginError::new(ErrorKind::InvalidConfig, format!("tokenizer: {e}")))?;
    let bert = Bert::<Flex>::load(dir, &FlexDevice)
        .map_err(|e| PluginError::new(ErrorKind::InvalidConfig, e))?;
    let loaded = Arc::new((tokenizer, bert));
    models.insert(dir.clone(), loaded.clone());
    Ok(loaded)
}

/// Bytes of a text the tokenizer reads per token kept: real text averages under 8
/// bytes a token, so the first `max_tokens × 64` bytes hold its first `max_tokens`.
const BYTES_PER_TOKEN: usize = 64;

/// The start of `text` that the tokenizer reads: `max_tokens ×` [`BYTES_PER_TOKEN`]
/// bytes, cut at a character boundary, so that a text of any length costs the
/// tokenizer at most that much.
fn tokenized_part(text: &str, max_tokens: usize) -> &str {
    let mut end = text.len().min(max_tokens.saturating_mul(BYTES_PER_TOKEN));
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The frozen model's mean-pooled, normalized embedding of `text` (its first
/// `max_tokens` tokens).
pub fn sentence_embedding(config: &TextConfig, text: &str) -> Result<Vec<f32>, PluginError> {
    let dir = model_dir(config);
    let loaded = load(&dir)?;
    let (tokenizer, bert) = (&loaded.0, &loaded.1);
    if bert.hidden_size() != config.text_dim {
        return Err(PluginError::new(
            ErrorKind::InvalidConfig,
            format!(
                "the model is {}-d; set text_dim = {}",
                bert.hidden_size(),
                bert.hidden_size()
            ),
        ));
    }
    let encoding = tokenizer
        .encode(tokenized_part(text, config.max_tokens), true)
        .map_err(|e| PluginError::new(ErrorKind::InvalidInput, format!("tokenizing: {e}")))?;
    let mut ids: Vec<u32> = encoding.get_ids().to_vec();
    if ids.len() > config.max_tokens {
        // Keep [CLS] … and the final [SEP], as a truncating tokenizer does.
        let last = ids[ids.len() - 1];
        ids.truncate(config.max_tokens - 1);
        ids.push(last);
    }
    let embedding = bert.sentence_embedding(&ids).map_err(|e| {
        PluginError::new(ErrorKind::InvalidInput, format!("{}: {e}", dir.display()))
    })?;
    embedding
        .into_data()
        .to_vec::<f32>()
        .map_err(|e| PluginError::new(ErrorKind::Internal, format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tokenizer_reads_a_bounded_start_cut_at_a_character() {
        assert_eq!(tokenized_part("a cubic crystal", 1), "a cubic crystal");
        // 'é' is two bytes: byte 64 falls inside the 32nd one
        let accents = format!("a{}", "é".repeat(100));
        assert_eq!(tokenized_part(&accents, 1), &accents[..63]);
        assert_eq!(tokenized_part(&"x".repeat(1 << 20), 256).len(), 256 * 64);
    }
}
