//! The root module every plugin library exports.

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings,
    sabi_types::VersionStrings,
    std_types::{RResult, RStr, RString},
    StableAbi,
};

use crate::{EncoderBox, FeaturizerBox, LossBox, PluginError};

/// What a plugin library provides.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PluginKind {
    /// A modality encoder (with its featurizer).
    Encoder,
    /// A loss over several modalities' embeddings.
    Loss,
}

/// Static description of a plugin.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq)]
pub struct PluginInfo {
    /// Name the host finds it by, e.g. `dos`.
    pub name: RString,
    /// The plugin's own version.
    pub version: RString,
    /// Encoder or loss.
    pub kind: PluginKind,
    /// Modality it encodes (`dos`, `crystal`, …); empty for losses.
    pub modality: RString,
    /// One-line description.
    pub description: RString,
    /// Embedding width under the default configuration; 0 for losses.
    pub embed_dim: u64,
    /// The full default configuration as TOML: every key with its default value.
    pub default_config: RString,
    /// Named presets (`small`, …) the configuration key `preset` accepts, comma-separated.
    pub presets: RString,
    /// The plugin-api version the library was built against.
    pub abi_version: RString,
}

/// The root module of a plugin library. Constructors take the plugin's configuration
/// as a TOML string; a constructor a plugin does not offer returns `Unsupported`.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    /// Name, version, kind, modality and defaults of the plugin.
    pub info: extern "C" fn() -> PluginInfo,
    /// A featurizer configured by the TOML `config` (encoders only).
    pub new_featurizer: extern "C" fn(config: RStr<'_>) -> RResult<FeaturizerBox, PluginError>,
    /// A new encoder instance configured by the TOML `config` (encoders only).
    pub new_encoder: extern "C" fn(config: RStr<'_>) -> RResult<EncoderBox, PluginError>,
    /// A new loss instance configured by the TOML `config` (losses only).
    #[sabi(last_prefix_field)]
    pub new_loss: extern "C" fn(config: RStr<'_>) -> RResult<LossBox, PluginError>,
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "mmhost_plugin";
    const NAME: &'static str = "mmhost plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
