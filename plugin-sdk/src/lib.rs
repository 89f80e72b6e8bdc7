//! Glue between burn models and the mmhost plugin ABI.
//!
//! A plugin author implements [`EncoderModel`] (a modality encoder) or
//! [`LossFunction`] (a loss over several modalities) and invokes
//! [`export_encoder!`] or [`export_loss!`] once. The SDK supplies everything the ABI
//! asks for: configuration parsing with presets, device selection, seeding, split
//! back-propagation, AdamW, safetensors weights, optimizer state, and a
//! `catch_unwind` around every entry point so that a panic becomes an error value.
//!
//! The plugin crate must be a `cdylib` and depend on `abi_stable` directly (the
//! export macro expands to `abi_stable`'s root-module export).

mod config;
mod device;
mod encoder;
#[doc(hidden)]
pub mod __export {
    pub use crate::export::*;
}
mod export;
mod guard;
mod loss;
mod params;
mod tensors;
mod trainer;

pub use config::{resolve_config, Resolved, RuntimeSettings};
pub use device::{Cpu, CpuInner, DeviceSpec};
pub use encoder::{EncoderAdapter, EncoderModel, FeaturizerAdapter};
pub use guard::guard;
pub use loss::{LossAdapter, LossFunction, LossTerms, ModalityBatch};
pub use params::{assign_path_ids, named_gradients, NamedTensor};
pub use tensors::{embeddings_from_tensor, mean_pool_weights, stack_field, tensor_from_embeddings};
pub use trainer::{Trainer, TrainerOps};

#[cfg(feature = "cuda")]
pub use device::{Gpu, GpuInner};

/// burn, re-exported so plugins build their models against the SDK's version.
pub use burn;
/// The ABI crate, re-exported so plugins need no separate dependency on it.
pub use mmhost_plugin_api as api;
