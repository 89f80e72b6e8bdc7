//! Run configuration, layered: TOML file < `MMHOST__…` environment variables <
//! command-line overrides (README "Configuration").

use std::{collections::BTreeMap, path::Path, path::PathBuf};

use config::{Config, Environment, File, FileFormat};
use mmhost_plugin_api::StepSettings;
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
    /// Data parallelism: every encoder unless its own config says otherwise holds
    /// one replica per device (`["cpu", "cpu"]`, `["cuda:0", "cuda:1"]`); each step
    /// splits the batch across them and sums their gradients. Empty: one replica
    /// on `device`.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Base seed; each encoder gets it unless its config sets `seed`.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// CPU threads per plugin library (0 = one per core).
    #[serde(default)]
    pub threads: usize,
    #[serde(default)]
    pub plugins: PluginDirs,
    /// Encoder per modality name: which plugin, with which configuration. Without
    /// an `[encoders]` table: the bundled plugins at reference sizes.
    #[serde(default = "default_encoders")]
    pub encoders: BTreeMap<String, EncoderSettings>,
    #[serde(default)]
    pub loss: LossSettings,
    #[serde(default)]
    pub train: TrainSettings,
}

/// Pretraining hyperparameters (`[train]`); defaults are MultiMat's (README
/// "Pretraining").
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSettings {
    pub epochs: usize,
    /// Materials per step.
    pub batch_size: usize,
    /// Peak AdamW learning rate, reached at the end of the warm-up.
    pub lr: f64,
    pub weight_decay: f64,
    /// AdamW (β₁, β₂).
    pub betas: [f64; 2],
    pub epsilon: f64,
    /// Fraction of all steps spent warming up linearly from 0 to `lr`; cosine
    /// decay to 0 follows.
    pub warmup_fraction: f64,
    /// Gradient-norm clipping per encoder; 0 disables it.
    pub grad_clip_norm: f64,
    /// Train / validation / test fractions of the materials (by id hash and
    /// `split_seed`).
    pub splits: [f64; 3],
    /// Seed of the split, kept apart from the model seed so that runs with other
    /// seeds hold out the same materials (and `mmhost finetune`'s default, 42,
    /// holds out the same test materials as pretraining).
    pub split_seed: u64,
    /// Pretrain on every material (as the MultiMat reference does); the splits
    /// then serve only evaluation: validation retrieval is measured on materials
    /// the encoders trained on, and the test split is held out from fine-tuning
    /// only.
    pub all_materials: bool,
    /// Also checkpoint every this many steps within an epoch (0: only at epoch ends).
    pub checkpoint_every: usize,
    /// Batches featurized ahead of the encoders.
    pub prefetch: usize,
    /// Featurization worker threads (0 = one per core).
    pub loader_threads: usize,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self {
            epochs: 20,
            batch_size: 128,
            lr: 1e-4,
            weight_decay: 0.05,
            betas: [0.9, 0.95],
            epsilon: 1e-8,
            warmup_fraction: 0.1,
            grad_clip_norm: 1.0,
            splits: [0.7, 0.2, 0.1],
            split_seed: 42,
            all_materials: false,
            checkpoint_every: 0,
            prefetch: 4,
            loader_threads: 0,
        }
    }
}

/// The most epochs a run (pretraining or fine-tuning) may plan: a bound on its
/// schedule's step count.
pub(crate) const MAX_EPOCHS: usize = 1_000_000;

/// The most materials per step (pretraining or fine-tuning).
pub(crate) const MAX_BATCH_SIZE: usize = 65_536;

/// The most batches featurized ahead, and the most threads of a pool: each is
/// allocated up front.
const MAX_PREFETCH: usize = 256;
const MAX_THREADS: usize = 1024;

impl TrainSettings {
    /// Refuses sizes that would allocate without bound or break the schedule, and
    /// optimizer settings that are not finite numbers in their range, naming the key.
    pub fn check(&self) -> Result<(), SettingsError> {
        let counts = [
            ("epochs", self.epochs, 1, MAX_EPOCHS),
            ("batch_size", self.batch_size, 1, MAX_BATCH_SIZE),
            ("prefetch", self.prefetch, 0, MAX_PREFETCH),
            ("loader_threads", self.loader_threads, 0, MAX_THREADS),
        ];
        for (key, value, least, most) in counts {
            if !(least..=most).contains(&value) {
                return Err(SettingsError(format!(
                    "train.{key} = {value} is outside {least}..={most}"
                )));
            }
        }
        let [beta1, beta2] = self.betas;
        let rates = [
            ("lr", self.lr, 0.0, f64::MAX),
            ("weight_decay", self.weight_decay, 0.0, f64::MAX),
            ("epsilon", self.epsilon, 0.0, f64::MAX),
            ("grad_clip_norm", self.grad_clip_norm, 0.0, f64::MAX),
            ("warmup_fraction", self.warmup_fraction, 0.0, 1.0),
            ("betas[0]", beta1, 0.0, 1.0),
            ("betas[1]", beta2, 0.0, 1.0),
        ];
        for (key, value, least, most) in rates {
            if !(least..=most).contains(&value) {
                return Err(SettingsError(format!(
                    "train.{key} = {value} must be a number within {least}..={most}"
                )));
            }
        }
        Ok(())
    }

    /// The optimizer settings of a step at `learning_rate`.
    pub fn step_settings(&self, learning_rate: f64) -> StepSettings {
        StepSettings {
            learning_rate,
            weight_decay: self.weight_decay,
            beta1: self.betas[0],
            beta2: self.betas[1],
            epsilon: self.epsilon,
            grad_clip_norm: self.grad_clip_norm,
        }
    }

    /// Featurization worker threads: `loader_threads`, or one per core when 0.
    pub fn worker_threads(&self) -> usize {
        match self.loader_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

impl Settings {
    /// Parses a run's or a model's `config.toml` (as written by [`Settings`]'
    /// serialization), with the checks of [`load`].
    pub fn from_toml(text: &str) -> Result<Self, SettingsError> {
        let settings: Settings = toml::from_str(text).map_err(|e| SettingsError(e.to_string()))?;
        settings.check()?;
        Ok(settings)
    }

    /// Refuses a thread count past [`MAX_THREADS`] and what [`TrainSettings::check`]
    /// refuses.
    pub fn check(&self) -> Result<(), SettingsError> {
        if self.threads > MAX_THREADS {
            return Err(SettingsError(format!(
                "threads = {} is outside 0..={MAX_THREADS}",
                self.threads
            )));
        }
        self.train.check()
    }
}

/// Extra plugin directories (`[plugins] dir = [...]`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PluginDirs {
    #[serde(default)]
    pub dir: Vec<PathBuf>,
    /// Lock file pinning the plugin libraries (`mmhost plugins lock`); default
    /// `mmhost.lock` in the working directory when it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<PathBuf>,
}

/// One modality's encoder: the plugin's name (or a path to its library) and its
/// configuration table.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EncoderSettings {
    pub plugin: String,
    #[serde(default)]
    pub config: Table,
    /// The modality whose raw records the encoder reads, when not its own: an
    /// encoder of a derived modality (e.g. a diffraction pattern computed from the
    /// `crystal` structure in its featurizer) reads `input = "crystal"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

impl EncoderSettings {
    /// The modality of the raw records this encoder reads for `modality`.
    pub fn input_modality<'a>(&'a self, modality: &'a str) -> &'a str {
        self.input.as_deref().unwrap_or(modality)
    }
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

/// The bundled encoder of every modality, at its default (reference) configuration.
fn default_encoders() -> BTreeMap<String, EncoderSettings> {
    [
        ("crystal", "crystal-potnet"),
        ("dos", "dos"),
        ("charge", "charge"),
        ("text", "text"),
    ]
    .into_iter()
    .map(|(modality, plugin)| {
        let settings = EncoderSettings {
            plugin: plugin.to_string(),
            config: Table::new(),
            input: None,
        };
        (modality.to_string(), settings)
    })
    .collect()
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
    let settings: Settings = built
        .try_deserialize()
        .map_err(|e| SettingsError(e.to_string()))?;
    settings.check()?;
    Ok(settings)
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
    /// Moves every encoder to `device` (`cpu`, `cuda:N`): the run-wide device, and
    /// no encoder keeps a `device` key of its own (a model trained on one device,
    /// used on another).
    pub fn move_to(&mut self, device: &str) {
        self.device = device.to_string();
        self.devices.clear();
        for encoder in self.encoders.values_mut() {
            encoder.config.remove("device");
            encoder.config.remove("devices");
        }
    }

    /// Runs on the device (or devices) of `command` rather than its own: the
    /// configuration of a trained model, used by a command that chose where to run.
    pub fn run_on_devices_of(&mut self, command: &Settings) {
        self.move_to(&command.device);
        self.devices = command.devices.clone();
    }

    /// The TOML a plugin receives: its own table, with `device` (or `devices`),
    /// `seed` and `threads` filled from the run settings where the table does not
    /// set them.
    pub fn plugin_config(&self, table: &Table) -> String {
        let mut table = table.clone();
        let own_device = table.contains_key("device") || table.contains_key("devices");
        if !own_device && !self.devices.is_empty() {
            let devices = self.devices.iter().cloned().map(Value::String).collect();
            table.insert("devices".to_string(), Value::Array(devices));
        } else if !own_device {
            table.insert("device".to_string(), Value::String(self.device.clone()));
        }
        table
            .entry("seed")
            .or_insert_with(|| Value::Integer(self.seed as i64));
        table
            .entry("threads")
            .or_insert_with(|| Value::Integer(self.threads as i64));
        toml::to_string(&table).unwrap_or_default()
    }
}
