//! Plugin configuration: a TOML string holding runtime keys (`device`, `seed`,
//! `threads`, `preset`) beside the model's own keys.
//!
//! Resolution order: the model's defaults, then the named preset, then the keys the
//! user gave. Unknown keys are refused, naming the keys that exist.

use serde::{de::DeserializeOwned, Serialize};
use toml::{Table, Value};

use mmhost_plugin_api::{ErrorKind, PluginError};

use crate::DeviceSpec;

/// Settings every plugin takes besides its model configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeSettings {
    /// Where to run (`device = "cpu" | "cuda:N"`, default `cpu`).
    pub device: DeviceSpec,
    /// Seed for parameter initialization and any randomness (default 42).
    pub seed: u64,
    /// Threads of this library's CPU pool; 0 = one per core (default 0).
    pub threads: usize,
    /// Training batches are back-propagated in chunks of this many records, each
    /// chunk's forward recomputed, so that memory holds one chunk's graph instead
    /// of the batch's; 0 = off (default). The forward pass of a training step is
    /// then run in evaluation mode: for models whose training and evaluation
    /// forward agree (no batch norm or dropout), like the DOS transformer.
    pub recompute_chunk: usize,
}

/// A resolved configuration: runtime settings and the model configuration.
#[derive(Clone, Debug)]
pub struct Resolved<C> {
    /// Device, seed, threads and recomputation.
    pub runtime: RuntimeSettings,
    /// The model's own configuration (defaults < preset < given keys).
    pub model: C,
}

const RUNTIME_KEYS: [&str; 5] = ["device", "seed", "threads", "recompute_chunk", "preset"];

/// Parses `text` (TOML) into runtime settings and a model configuration, starting
/// from `defaults`, applying the preset named by the `preset` key (one of `presets`),
/// then the remaining keys.
pub fn resolve_config<C: Serialize + DeserializeOwned>(
    text: &str,
    defaults: C,
    presets: &[(&str, C)],
) -> Result<Resolved<C>, PluginError> {
    let mut user: Table = text
        .parse()
        .map_err(|e| invalid(format!("not TOML: {e}")))?;
    let runtime = RuntimeSettings {
        device: match user.remove("device") {
            Some(Value::String(s)) => s.parse()?,
            Some(other) => return Err(invalid(format!("device must be a string, got {other}"))),
            None => DeviceSpec::Cpu,
        },
        seed: take_unsigned(&mut user, "seed")?.unwrap_or(42),
        threads: take_unsigned(&mut user, "threads")?.unwrap_or(0) as usize,
        recompute_chunk: take_unsigned(&mut user, "recompute_chunk")?.unwrap_or(0) as usize,
    };
    let base = match user.remove("preset") {
        None => defaults,
        Some(Value::String(name)) => {
            let known: Vec<&str> = presets.iter().map(|(n, _)| *n).collect();
            let index = presets
                .iter()
                .position(|(n, _)| *n == name)
                .ok_or_else(|| invalid(format!("unknown preset '{name}' (presets: {known:?})")))?;
            // Presets are few and small; serialize-deserialize gives an owned copy.
            let table = to_table(&presets[index].1)?;
            from_table(table)?
        }
        Some(other) => return Err(invalid(format!("preset must be a string, got {other}"))),
    };
    let mut merged = to_table(&base)?;
    for (key, value) in user {
        if !merged.contains_key(&key) {
            let mut known: Vec<&str> = merged.keys().map(String::as_str).collect();
            known.extend(RUNTIME_KEYS);
            return Err(invalid(format!(
                "unknown key '{key}' (known keys: {known:?})"
            )));
        }
        merged.insert(key, value);
    }
    Ok(Resolved {
        runtime,
        model: from_table(merged)?,
    })
}

/// The full default configuration as TOML, runtime keys first.
pub(crate) fn default_config_toml<C: Serialize>(defaults: &C) -> String {
    let mut text = String::from("device = \"cpu\"\nseed = 42\nthreads = 0\nrecompute_chunk = 0\n");
    if let Ok(model) = toml::to_string(defaults) {
        text.push_str(&model);
    }
    text
}

fn take_unsigned(table: &mut Table, key: &str) -> Result<Option<u64>, PluginError> {
    match table.remove(key) {
        None => Ok(None),
        Some(Value::Integer(i)) if i >= 0 => Ok(Some(i as u64)),
        Some(other) => Err(invalid(format!(
            "{key} must be a non-negative integer, got {other}"
        ))),
    }
}

fn to_table<C: Serialize>(config: &C) -> Result<Table, PluginError> {
    Table::try_from(config).map_err(|e| invalid(format!("configuration is not a table: {e}")))
}

fn from_table<C: DeserializeOwned>(table: Table) -> Result<C, PluginError> {
    Value::Table(table)
        .try_into()
        .map_err(|e| invalid(format!("{e}")))
}

fn invalid(message: String) -> PluginError {
    PluginError::new(ErrorKind::InvalidConfig, message)
}
