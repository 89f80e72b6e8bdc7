//! Loading one plugin library and checking it speaks this host's ABI.

use std::path::{Path, PathBuf};

use abi_stable::{
    abi_stability::abi_checking::{check_layout_compatibility, AbiInstability},
    library::{lib_header_from_path, LibHeader, LibraryError},
    type_layout::TLFieldOrFunction,
    StableAbi,
};
use mmhost_plugin_api::{PluginInfo, PluginKind, PluginModuleRef, ABI_VERSION};
use serde::Serialize;
use thiserror::Error;

use super::{EncoderHandle, FeaturizerHandle, LossHandle, PluginCallError};

/// Why a library could not be used as a plugin.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot load {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("{path} is not an mmhost plugin: it exports no plugin root module")]
    NotAPlugin { path: PathBuf },
    #[error(
        "{path} was built against mmhost plugin ABI {plugin_abi}, but this host speaks ABI \
         {host_abi}; rebuild the plugin against mmhost-plugin-api {host_abi}"
    )]
    AbiMismatch {
        path: PathBuf,
        plugin_abi: String,
        host_abi: String,
    },
    #[error("{path} is incompatible with this host's plugin ABI {host_abi}: {reason}")]
    Incompatible {
        path: PathBuf,
        host_abi: String,
        reason: String,
    },
    #[error("refusing {path}: {reason}")]
    Insecure { path: PathBuf, reason: String },
    #[error("lock file {lock}: {reason}")]
    Lock { lock: PathBuf, reason: String },
    #[error(
        "plugin '{name}' is not in the lock file {lock}; add it with `mmhost plugins lock` \
         if it is trusted"
    )]
    NotLocked { name: String, lock: PathBuf },
    #[error("plugin '{name}' is pinned by {lock} at {path}, which cannot be read: {reason}")]
    LockedMissing {
        name: String,
        path: PathBuf,
        lock: PathBuf,
        reason: String,
    },
    #[error(
        "plugin '{name}' at {path} has changed since it was locked: its SHA-256 is {actual}, \
         {lock} records {expected}; refusing it (run `mmhost plugins lock` again if the \
         change is trusted)"
    )]
    LockMismatch {
        name: String,
        path: PathBuf,
        lock: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("no plugin named '{name}' in {searched}{broken}")]
    NotFound {
        name: String,
        searched: String,
        broken: String,
    },
}

/// What `mmhost plugins list` shows of a plugin.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PluginDescription {
    pub name: String,
    pub version: String,
    /// `encoder` or `loss`.
    pub kind: String,
    /// Modality encoded; empty for losses.
    pub modality: String,
    pub description: String,
    /// Embedding width under the default configuration (0 for losses).
    pub embed_dim: u64,
    /// plugin-api version the library was built against.
    pub abi_version: String,
    pub path: PathBuf,
    /// Every configuration key with its default, as TOML.
    pub default_config: String,
    /// Named presets accepted by the `preset` key.
    pub presets: Vec<String>,
}

impl PluginDescription {
    fn new(info: &PluginInfo, path: &Path) -> Self {
        Self {
            name: info.name.to_string(),
            version: info.version.to_string(),
            kind: match info.kind {
                PluginKind::Encoder => "encoder",
                PluginKind::Loss => "loss",
            }
            .to_string(),
            modality: info.modality.to_string(),
            description: info.description.to_string(),
            embed_dim: info.embed_dim,
            abi_version: info.abi_version.to_string(),
            path: path.to_path_buf(),
            default_config: info.default_config.to_string(),
            presets: info
                .presets
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }
}

/// A loaded plugin library. Libraries are never unloaded; loading the same path
/// twice gives the same image, and any number of objects can be created from it.
#[derive(Clone)]
pub struct PluginLibrary {
    module: PluginModuleRef,
    description: PluginDescription,
}

impl PluginLibrary {
    /// Loads the library at `path`, refusing anything that is not a plugin built
    /// against this host's ABI version with matching type layouts.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        super::lock::check_permissions(path)?;
        let header = lib_header_from_path(path).map_err(|e| match e {
            LibraryError::GetSymbolError { .. } => LoadError::NotAPlugin {
                path: path.to_path_buf(),
            },
            other => LoadError::Open {
                path: path.to_path_buf(),
                reason: one_line(&other.to_string()),
            },
        })?;
        let plugin_abi = header.version_strings().version.to_string();
        if !abi_compatible(&plugin_abi, ABI_VERSION) {
            return Err(LoadError::AbiMismatch {
                path: path.to_path_buf(),
                plugin_abi,
                host_abi: ABI_VERSION.to_string(),
            });
        }
        let module = if only_appended_fields_missing(header) {
            // SAFETY: the layout check found no difference but optional fields
            // appended to prefix types (modules, vtables) after the plugin was built;
            // their accessors check at run time whether the plugin's vtable has them.
            unsafe { header.init_root_module_with_unchecked_layout::<PluginModuleRef>() }
        } else {
            header.init_root_module::<PluginModuleRef>()
        };
        let module = module.map_err(|e| match e {
            LibraryError::IncompatibleVersionNumber { actual_version, .. } => {
                LoadError::AbiMismatch {
                    path: path.to_path_buf(),
                    plugin_abi: actual_version.to_string(),
                    host_abi: ABI_VERSION.to_string(),
                }
            }
            other => {
                let text = other.to_string();
                LoadError::Incompatible {
                    path: path.to_path_buf(),
                    host_abi: ABI_VERSION.to_string(),
                    reason: layout_mismatches(&text).unwrap_or_else(|| one_line(&text)),
                }
            }
        })?;
        let info = (module.info())();
        tracing::debug!(path = %path.display(), name = %info.name, "loaded plugin");
        Ok(Self {
            module,
            description: PluginDescription::new(&info, path),
        })
    }

    /// The plugin's name, version, kind and defaults.
    pub fn description(&self) -> &PluginDescription {
        &self.description
    }

    /// A featurizer configured by `config` (TOML).
    pub fn featurizer(&self, config: &str) -> Result<FeaturizerHandle, PluginCallError> {
        let result = (self.module.new_featurizer())(config.into());
        self.wrap("new_featurizer", result.into_result())
            .map(|inner| FeaturizerHandle::new(&self.description.name, inner))
    }

    /// A new encoder instance configured by `config` (TOML).
    pub fn encoder(&self, config: &str) -> Result<EncoderHandle, PluginCallError> {
        let result = (self.module.new_encoder())(config.into());
        self.wrap("new_encoder", result.into_result()).map(|inner| {
            EncoderHandle::new(&self.description.name, &self.description.modality, inner)
        })
    }

    /// A new loss instance configured by `config` (TOML).
    pub fn loss(&self, config: &str) -> Result<LossHandle, PluginCallError> {
        let result = (self.module.new_loss())(config.into());
        self.wrap("new_loss", result.into_result())
            .map(|inner| LossHandle::new(&self.description.name, inner))
    }

    fn wrap<T>(
        &self,
        operation: &'static str,
        result: Result<T, mmhost_plugin_api::PluginError>,
    ) -> Result<T, PluginCallError> {
        result.map_err(|error| PluginCallError {
            plugin: self.description.name.clone(),
            operation,
            error,
        })
    }
}

/// Whether the plugin's root module differs from this host's only by fields or
/// methods appended to prefix types (the root module, trait-object vtables) after
/// the plugin was built: abi_stable's check refuses that ("too many fields"), but
/// the ABI grows append-only so that such older plugins keep loading.
fn only_appended_fields_missing(header: &LibHeader) -> bool {
    let Some(found) = header.layout() else {
        return false;
    };
    let Err(report) = check_layout_compatibility(<PluginModuleRef as StableAbi>::LAYOUT, found)
    else {
        return false;
    };
    // Each error lists the instabilities found at one place (the enclosing
    // places are reported too, with none of their own).
    let mut found_any = false;
    let all_appended = report
        .errors
        .iter()
        .filter(|error| !error.errs.is_empty())
        .all(|error| {
            found_any = true;
            let layout = match error.stack_trace.last().map(|at| &at.expected) {
                None => report.interface,
                Some(TLFieldOrFunction::Field(field)) => field.layout(),
                Some(TLFieldOrFunction::Function(_)) => return false,
            };
            layout.is_prefix_kind()
                && error.errs.iter().all(|instability| {
                    matches!(instability,
                        AbiInstability::FieldCountMismatch(count) if count.expected > count.found)
                })
        });
    found_any && all_appended
}

/// Whether a plugin built against plugin-api `plugin` can be used by a host built
/// against `host`: the same major version, and while the major is 0 the same minor
/// (semver). Unparsable versions are incompatible.
fn abi_compatible(plugin: &str, host: &str) -> bool {
    let parse = |v: &str| -> Option<(u64, u64)> {
        let mut parts = v.split('.');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    };
    match (parse(plugin), parse(host)) {
        (Some((p_major, p_minor)), Some((h_major, h_minor))) => {
            p_major == h_major && (h_major != 0 || p_minor == h_minor)
        }
        _ => false,
    }
}

/// abi_stable's messages span many lines (a layout diff can run to kilobytes): keep
/// the start, on one line.
/// abi_stable's type-layout error (pages of layout dumps) as the field path and
/// error of each mismatch: `info.__returns.embed_dim: mismatched type Expected: u64
/// Found: u32`. `None` when the text has no mismatch in that form.
fn layout_mismatches(text: &str) -> Option<String> {
    const ERROR_LIMIT: usize = 160;
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut mismatches: Vec<String> = Vec::new();
    for chunk in flat.split("error(s)inside:").skip(1) {
        let Some((context, error)) = chunk.split_once("Error:") else {
            continue;
        };
        let context = context.split("Layout of expected type:").next()?;
        let fields: Vec<&str> = context
            .split("field_name:")
            .skip(1)
            .filter_map(|field| field.split_whitespace().next())
            .filter(|name| *name != "0")
            .collect();
        let error: String = error.chars().take(ERROR_LIMIT).collect();
        let mismatch = format!("{}: {}", fields.join("."), error.trim());
        if !mismatches.contains(&mismatch) {
            mismatches.push(mismatch);
        }
    }
    (!mismatches.is_empty()).then(|| format!("type layouts differ at {}", mismatches.join("; ")))
}

fn one_line(text: &str) -> String {
    const LIMIT: usize = 400;
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{} …", &flat[..cut]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::abi_compatible;

    #[test]
    fn abi_versions_follow_semver() {
        assert!(abi_compatible("0.1.0", "0.1.0"));
        assert!(abi_compatible("0.1.3", "0.1.0"));
        assert!(!abi_compatible("0.2.0", "0.1.0"));
        assert!(!abi_compatible("0.0.9", "0.1.0"));
        assert!(abi_compatible("1.4.0", "1.2.0"));
        assert!(!abi_compatible("2.0.0", "1.2.0"));
        assert!(!abi_compatible("garbage", "0.1.0"));
    }
}
