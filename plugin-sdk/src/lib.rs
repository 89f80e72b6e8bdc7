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

#![warn(missing_docs)]

mod config;
mod cpu;
mod device;
mod encoder;
#[doc(hidden)]
pub mod __export {
    pub use crate::export::*;
}
mod export;
mod fused_adamw;
mod guard;
pub mod limits;
mod loss;
pub mod ops;
mod optimizer_state;
mod params;
mod replicas;
mod tensors;
mod trainer;

pub use config::{resolve_config, Resolved, RuntimeSettings};
pub use device::{Cpu, CpuInner, DeviceSpec};
pub use encoder::{EncoderAdapter, EncoderModel, FeaturizerAdapter};
pub use guard::guard;
pub use loss::{ComparedPairs, LossAdapter, LossFunction, LossTerms, ModalityBatch};
pub use params::{assign_path_ids, named_gradients, NamedTensor};
pub use replicas::Replicated;
pub use tensors::{embeddings_from_tensor, mean_pool_weights, stack_field, tensor_from_embeddings};
pub use trainer::{Trainer, TrainerOps};

#[cfg(feature = "cuda")]
pub use device::{Gpu, GpuInner};

/// burn, re-exported so plugins build their models against the SDK's version.
pub use burn;
/// Crystal structures, materials formats and neighbour lists, re-exported so plugins
/// read structures as the host writes them.
pub use mmhost_materials as materials;
/// The raw records of the built-in modalities (`crystal`, `dos`, `charge`, `text`):
/// field names, shapes, and the functions that write and read them.
pub use mmhost_materials::records;
/// The ABI crate, re-exported so plugins need no separate dependency on it.
pub use mmhost_plugin_api as api;

/// Every plugin allocates through mimalloc: training allocates and frees tensors of
/// hundreds of megabytes every step (attention scores, activations of 3D
/// convolutions). The system allocator hands such blocks back to the kernel and
/// gets them again as fresh zeroed pages, which took a third of a DOS-transformer
/// step; see [`keep_freed_memory`].
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tells mimalloc to keep freed memory for reuse instead of returning it to the
/// operating system (the process stays at its peak resident size), and to stop
/// asking for transparent huge pages: with the kernel's usual `defrag = madvise`, each
/// fault in a huge-page region compacts memory and zeroes 2 MiB, which took a sixth
/// of a PotNet benchmark's CPU time, in loading and the first steps. A variable the
/// user set (`MIMALLOC_PURGE_DELAY`, `MIMALLOC_ALLOW_THP`) wins. Called when a model
/// is created.
pub(crate) fn keep_freed_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    /// `mi_option_purge_delay` in the option enumeration of mimalloc 2 (and 3).
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    /// `mi_option_allow_thp` in the option enumeration of mimalloc 2.
    const ALLOW_THP: libmimalloc_sys::mi_option_t = 37;
    ONCE.call_once(|| {
        for (variable, option, value) in [
            ("MIMALLOC_PURGE_DELAY", PURGE_DELAY, -1),
            ("MIMALLOC_ALLOW_THP", ALLOW_THP, 0),
        ] {
            if std::env::var_os(variable).is_none() {
                // SAFETY: sets a process-wide allocator option; no memory is touched.
                unsafe { libmimalloc_sys::mi_option_set(option, value) };
            }
        }
    });
}
