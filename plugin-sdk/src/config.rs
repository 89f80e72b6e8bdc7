//! Plugin configuration: a TOML string holding runtime keys (`device`, `seed`,
//! `threads`, `preset`) beside the model's own keys.
//!
//! Resolution order: the model's defaults, then the named preset, then the keys the
//! user gave. Unknown keys are refused, naming the keys that exist.

use serde::{de::DeserializeOwned, Serialize};
use toml::{Table, Value};

use mmhost_plugin_api::{ErrorKind, PluginError, RUNTIME_KEYS};

use crate::DeviceSpec;

/// Settings every plugin takes besides its model configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimeSettings {
    /// Where to run (`device = "cpu" | "cuda:N"`, default `cpu`); with `devices`,
    /// where replica 0 runs.
    pub device: DeviceSpec,
    /// One replica per device for data parallelism (`devices = ["cpu", "cpu"]`,
    /// `["cuda:0", "cuda:1"]`): all CPU or all CUDA. Empty (default) or one: a
    /// single replica on `device`.
    pub devices: Vec<DeviceSpec>,
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

/// The most CPU threads a plugin's pool may be given.
const MAX_THREADS: u64 = 1024;

/// The key naming a preset: resolved before the model's keys.
const PRESET_KEY: &str = "preset";

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
    let device = match user.remove("device") {
        Some(Value::String(s)) => Some(s.parse()?),
        Some(other) => return Err(invalid(format!("device must be a string, got {other}"))),
        None => None,
    };
    let devices = take_devices(&mut user)?;
    let threads = take_unsigned(&mut user, "threads")?.unwrap_or(0);
    crate::limits::within("threads", threads, 0..=MAX_THREADS)?;
    let runtime = RuntimeSettings {
        device: match (device, devices.first()) {
            (Some(device), Some(&first)) if device != first => {
                return Err(invalid(format!(
                    "device '{device}' is not the first of devices {}: replica 0 runs there",
                    list(&devices)
                )))
            }
            (Some(device), _) => device,
            (None, Some(&first)) => first,
            (None, None) => DeviceSpec::Cpu,
        },
        devices,
        seed: take_unsigned(&mut user, "seed")?.unwrap_or(42),
        threads: threads as usize,
        recompute_chunk: take_unsigned(&mut user, "recompute_chunk")?.unwrap_or(0) as usize,
    };
    let base = match user.remove(PRESET_KEY) {
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
            known.push(PRESET_KEY);
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
    let mut text = String::from(
        "device = \"cpu\"\ndevices = []\nseed = 42\nthreads = 0\nrecompute_chunk = 0\n",
    );
    if let Ok(model) = toml::to_string(defaults) {
        text.push_str(&model);
    }
    text
}

/// The `devices` key: device strings, all CPU or all CUDA.
fn take_devices(table: &mut Table) -> Result<Vec<DeviceSpec>, PluginError> {
    let items = match table.remove("devices") {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(invalid(format!(
                "devices must be a list of device strings, got {other}"
            )))
        }
    };
    let devices = items
        .into_iter()
        .map(|item| match item {
            Value::String(s) => s.parse(),
            other => Err(invalid(format!(
                "devices: '{other}' is not a device string"
            ))),
        })
        .collect::<Result<Vec<DeviceSpec>, _>>()?;
    let on_cpu = devices.iter().filter(|d| **d == DeviceSpec::Cpu).count();
    if on_cpu != 0 && on_cpu != devices.len() {
        return Err(invalid(format!(
            "devices {} mix the CPU and CUDA: replicas share one backend",
            list(&devices)
        )));
    }
    Ok(devices)
}

fn list(devices: &[DeviceSpec]) -> String {
    let names: Vec<String> = devices.iter().map(ToString::to_string).collect();
    format!("[{}]", names.join(", "))
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

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Model {
        depth: u32,
        width: u32,
    }

    fn presets() -> [(&'static str, Model); 1] {
        [("small", Model { depth: 1, width: 8 })]
    }

    fn resolve(text: &str) -> Result<Resolved<Model>, PluginError> {
        resolve_config(
            text,
            Model {
                depth: 4,
                width: 64,
            },
            &presets(),
        )
    }

    #[test]
    fn defaults_then_preset_then_given_keys() {
        let r = resolve("").unwrap();
        assert_eq!(
            r.model,
            Model {
                depth: 4,
                width: 64
            }
        );
        assert_eq!(
            r.runtime,
            RuntimeSettings {
                device: DeviceSpec::Cpu,
                devices: Vec::new(),
                seed: 42,
                threads: 0,
                recompute_chunk: 0
            }
        );
        let r = resolve("preset = \"small\"\nwidth = 16\nseed = 7\nthreads = 2").unwrap();
        assert_eq!(
            r.model,
            Model {
                depth: 1,
                width: 16
            }
        );
        assert_eq!((r.runtime.seed, r.runtime.threads), (7, 2));
        let r = resolve("device = \"cuda:1\"\nrecompute_chunk = 8").unwrap();
        assert_eq!(r.runtime.device, DeviceSpec::Cuda(1));
        assert_eq!(r.runtime.recompute_chunk, 8);
        let r = resolve("devices = [\"cuda:2\", \"cuda:3\"]").unwrap();
        assert_eq!(r.runtime.device, DeviceSpec::Cuda(2));
        assert_eq!(
            r.runtime.devices,
            vec![DeviceSpec::Cuda(2), DeviceSpec::Cuda(3)]
        );
    }

    #[test]
    fn replica_devices_are_one_backend_and_agree_with_device() {
        let message = |text: &str| resolve(text).unwrap_err().message.to_string();
        assert!(message("devices = [\"cpu\", \"cuda:0\"]").contains("mix the CPU and CUDA"));
        assert!(message("devices = \"cpu\"").contains("must be a list"));
        assert!(message("devices = [1]").contains("not a device string"));
        let disagree = message("device = \"cuda:1\"\ndevices = [\"cuda:0\", \"cuda:1\"]");
        assert!(
            disagree.contains("not the first of devices [cuda:0, cuda:1]"),
            "{disagree}"
        );
        assert!(resolve("device = \"cpu\"\ndevices = [\"cpu\", \"cpu\"]").is_ok());
    }

    #[test]
    fn bad_keys_and_values_are_refused_naming_what_exists() {
        let message = |text: &str| resolve(text).unwrap_err().message.to_string();
        let unknown = message("widht = 3");
        assert!(unknown.contains("unknown key 'widht'"), "{unknown}");
        for key in [
            "depth",
            "width",
            "device",
            "devices",
            "seed",
            "threads",
            "recompute_chunk",
            "preset",
        ] {
            assert!(unknown.contains(&format!("\"{key}\"")), "{key}: {unknown}");
        }
        assert!(message("preset = \"huge\"").contains("unknown preset 'huge'"));
        assert!(message("seed = -1").contains("seed must be a non-negative integer"));
        assert!(message("depth = \"four\"").contains("depth"));
        assert!(message("not toml [").contains("not TOML"));
        assert!(message("device = 3").contains("device must be a string"));
    }

    #[test]
    fn the_default_configuration_lists_every_key() {
        let text = default_config_toml(&Model {
            depth: 4,
            width: 64,
        });
        let table: Table = text.parse().unwrap();
        for key in RUNTIME_KEYS.iter().chain(&["depth", "width"]) {
            assert!(table.contains_key(*key), "{key} missing from {text}");
        }
        // Every key listed is accepted back.
        assert!(resolve(&text).is_ok());
    }
}
