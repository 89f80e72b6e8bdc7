//! The stable ABI between the `mmhost` host and its plugins.
//!
//! Everything here is plain `#[repr(C)]` data checked by `abi_stable`: no burn, no
//! logic beyond small accessors. A plugin library exports one [`PluginModule`] as its
//! root module; the host loads it, checks the ABI version and the type layouts, and
//! from then on talks to it only through the objects defined here:
//!
//! * [`Featurizer`] turns a raw record into a featurized record (pure, thread-safe);
//! * [`Encoder`] maps a batch of featurized records to an embedding matrix and trains
//!   through split back-propagation (`forward` → host loss → `backward` → `step`);
//! * [`Loss`] maps the embeddings of several modalities to a loss and its gradients.
//!
//! The interface grows only by appending fields and methods (after each prefix
//! type's last required field), so plugins built before an addition keep loading:
//! the host accepts a plugin whose layouts differ only by such missing trailing
//! members, and their accessors fall back (`Loss::pairs` to its default).

#![warn(missing_docs)]

mod array;
mod error;
mod module;
mod objects;

pub use array::{Array, DType, Embeddings, Field, Record};
pub use error::{ErrorKind, PluginError};
pub use module::{PluginInfo, PluginKind, PluginModule, PluginModuleRef};
pub use objects::{
    Encoder, EncoderBox, Encoder_TO, Featurizer, FeaturizerBox, Featurizer_TO, Loss, LossBox,
    LossOutput, LossPairs, Loss_TO, Metric, ModalityEmbeddings, ModalityPair, StepSettings,
};

/// Re-export of the `abi_stable` crate, so plugins use the very version the ABI uses.
pub use abi_stable;

/// Configuration keys every plugin takes besides its model's own: how it runs
/// (device or replica devices, seed, CPU threads, recomputation chunk), never what it computes, so a
/// host leaves them out of featurization cache keys. (`preset`, which selects
/// model settings, is not among them.)
pub const RUNTIME_KEYS: [&str; 5] = ["device", "devices", "seed", "threads", "recompute_chunk"];

/// The ABI version this crate defines: its package version.
pub const ABI_VERSION: &str = env!("CARGO_PKG_VERSION");
