//! Run configuration, layered: TOML file < `MMHOST__…` environment variables <
//! command-line overrides (DESIGN.md "configs/").

use std::{collections::BTreeMap, path::Path, path::PathBuf};

use config::{Config, Environment, File, FileFormat};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use toml::{Table, Value};

/// A configuration that could not be read.
#[derive(Debug, Error)]
#[error("configuration: {0}")]
pub struct SettingsError(String);

/// The resolved run configuration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Settings {
    /// Device for every encoder unless its own config says otherwise: `cpu`, `cuda:N`.
    #[serde(default = "default_device")]
    pub device: String,
    /// Base seed; each encoder gets it unless its config sets `seed`.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// CPU threads per plugin library (0 = one per core).
    #[serde(default)]
    pub threads: usize,
    #[serde(default)]
    pub plugins: PluginDirs,
    /// Encoder per modality name: which plugin, with which configuration.
    #[serde(default)]
    pub encoders: BTreeMap<String, EncoderSettings>,
    #[serde(default)]
    pub loss: LossSettings,
}

/// Extra plugin directories (`[plugins] dir = [...]`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PluginDirs {
    #[serde(default)]
    pub dir: Vec<PathBuf>,
}

/// One modality's encoder: the plugin's name (or a path to its library) and its
/// configuration table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EncoderSettings {
    pub plugin: String,
    #[serde(default)]
    pub config: Table,
}

/// The loss plugin and its configuration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LossSettings {
    #[serde(default = "default_loss")]
    pub plugin: String,
    #[serde(default)]
    pub config: Table,
}

impl Default for LossSettings {
    fn default() -> Self {
        Self {
            plugin: default_loss(),
            config: Table::new(),
        }
    }
}

fn default_device() -> String {
    "cpu".to_string()
}

fn default_seed() -> u64 {
    42
}

fn default_loss() -> String {
    "clip".to_string()
}

/// Reads `file` (if any), then `MMHOST__A__B=value` variables (for key `a.b`), then
/// `overrides` (`key`, TOML value or bare string), later layers winning.
pub fn load(
    file: Option<&Path>,
    overrides: &[(String, String)],
) -> Result<Settings, SettingsError> {
    let mut builder = Config::builder();
    if let Some(path) = file {
        if !path.is_file() {
            return Err(SettingsError(format!("{} does not exist", path.display())));
        }
        builder = builder.add_source(File::from(path).format(FileFormat::Toml));
    }
    builder = builder.add_source(
        Environment::with_prefix("MMHOST")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true),
    );
    for (key, value) in overrides {
        builder = builder
            .set_override(key.as_str(), override_value(value))
            .map_err(|e| SettingsError(format!("override {key}: {e}")))?;
    }
    let built = builder.build().map_err(|e| SettingsError(e.to_string()))?;
    built
        .try_deserialize()
        .map_err(|e| SettingsError(e.to_string()))
}

/// A command-line value as the config crate's value: TOML scalars keep their type.
fn override_value(text: &str) -> config::Value {
    match format!("v = {text}")
        .parse::<Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
    {
        Some(Value::Integer(i)) => config::Value::from(i),
        Some(Value::Float(f)) => config::Value::from(f),
        Some(Value::Boolean(b)) => config::Value::from(b),
        Some(Value::String(s)) => config::Value::from(s),
        _ => config::Value::from(text.to_string()),
    }
}

impl Settings {
    /// The TOML a plugin receives: its own table, with `device`, `seed` and
    /// `threads` filled from the run settings where the table does not set them.
    pub fn plugin_config(&self, table: &Table) -> String {
        let mut table = table.clone();
        table
            .entry("device")
            .or_insert_with(|| Value::String(self.device.clone()));
        table
            .entry("seed")
            .or_insert_with(|| Value::Integer(self.seed as i64));
        table
            .entry("threads")
            .or_insert_with(|| Value::Integer(self.threads as i64));
        toml::to_string(&table).unwrap_or_default()
    }
}
