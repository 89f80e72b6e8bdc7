//! What the export macros expand to. Not for direct use.

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RResult, RStr, RString},
};
use burn::module::AutodiffModule;
use mmhost_plugin_api::{
    EncoderBox, Encoder_TO, ErrorKind, FeaturizerBox, Featurizer_TO, LossBox, Loss_TO, PluginError,
    PluginInfo, PluginKind, ABI_VERSION,
};

use crate::{
    config::default_config_toml, device::cap_threads, guard, resolve_config, Cpu, CpuInner,
    DeviceSpec, EncoderAdapter, EncoderModel, FeaturizerAdapter, LossAdapter, LossFunction,
    Replicated, Resolved, Trainer, TrainerOps,
};

/// `PluginInfo` of an encoder plugin of crate version `version`.
pub fn encoder_info<S: EncoderModel>(version: &str) -> PluginInfo {
    let defaults = S::default_config();
    let presets: Vec<&str> = S::presets().iter().map(|(n, _)| *n).collect();
    PluginInfo {
        name: RString::from(S::NAME),
        version: RString::from(version),
        kind: PluginKind::Encoder,
        modality: RString::from(S::MODALITY),
        description: RString::from(S::DESCRIPTION),
        embed_dim: S::embed_dim(&defaults) as u64,
        default_config: RString::from(default_config_toml(&defaults)),
        presets: RString::from(presets.join(",")),
        abi_version: RString::from(ABI_VERSION),
    }
}

/// `PluginInfo` of a loss plugin of crate version `version`.
pub fn loss_info<L: LossFunction>(version: &str) -> PluginInfo {
    PluginInfo {
        name: RString::from(L::NAME),
        version: RString::from(version),
        kind: PluginKind::Loss,
        modality: RString::new(),
        description: RString::from(L::DESCRIPTION),
        embed_dim: 0,
        default_config: RString::from(default_config_toml(&L::default_config())),
        presets: RString::new(),
        abi_version: RString::from(ABI_VERSION),
    }
}

fn resolve_encoder<S: EncoderModel>(config: &str) -> Result<Resolved<S::Config>, PluginError> {
    let resolved = resolve_config(config, S::default_config(), &S::presets())?;
    S::check_config(&resolved.model)?;
    cap_threads(resolved.runtime.threads);
    Ok(resolved)
}

/// Featurizer constructor of an encoder plugin.
pub extern "C" fn new_featurizer<S: EncoderModel>(
    config: RStr<'_>,
) -> RResult<FeaturizerBox, PluginError> {
    guard("new_featurizer", || {
        let resolved = resolve_encoder::<S>(config.as_str())?;
        Ok(Featurizer_TO::from_value(
            FeaturizerAdapter::<S>::new(resolved.model),
            TD_Opaque,
        ))
    })
}

/// The encoder on the CPU: one trainer, or one replica per entry of `devices`.
fn cpu_trainer<S: EncoderModel>(
    resolved: Resolved<S::Config>,
) -> Result<Box<dyn TrainerOps>, PluginError>
where
    S::Model<Cpu>: AutodiffModule<Cpu, InnerModule = S::Model<CpuInner>>,
{
    let Resolved { model, runtime } = resolved;
    let replicas = runtime.devices.len();
    Ok(if replicas > 1 {
        let devices = vec![Default::default(); replicas];
        Box::new(Replicated::<Cpu, S>::new(model, &runtime, devices)?)
    } else {
        Box::new(Trainer::<Cpu, S>::new(model, &runtime, Default::default()))
    })
}

fn boxed(trainer: Box<dyn TrainerOps>) -> EncoderBox {
    Encoder_TO::from_value(EncoderAdapter::new(trainer), TD_Opaque)
}

/// Encoder constructor of an encoder plugin built without CUDA.
#[cfg(not(feature = "cuda"))]
pub extern "C" fn new_encoder<S: EncoderModel>(config: RStr<'_>) -> RResult<EncoderBox, PluginError>
where
    S::Model<Cpu>: AutodiffModule<Cpu, InnerModule = S::Model<CpuInner>>,
{
    guard("new_encoder", || {
        let resolved = resolve_encoder::<S>(config.as_str())?;
        match resolved.runtime.device {
            DeviceSpec::Cpu => Ok(boxed(cpu_trainer::<S>(resolved)?)),
            cuda @ DeviceSpec::Cuda(_) => Err(PluginError::new(
                ErrorKind::Unsupported,
                format!(
                    "device '{cuda}' asked for, but plugin '{}' was built without the `cuda` feature",
                    S::NAME
                ),
            )),
        }
    })
}

/// Encoder constructor of an encoder plugin built with CUDA.
#[cfg(feature = "cuda")]
pub extern "C" fn new_encoder<S: EncoderModel>(config: RStr<'_>) -> RResult<EncoderBox, PluginError>
where
    S::Model<Cpu>: AutodiffModule<Cpu, InnerModule = S::Model<CpuInner>>,
    S::Model<crate::Gpu>: AutodiffModule<crate::Gpu, InnerModule = S::Model<crate::GpuInner>>,
{
    guard("new_encoder", || {
        let resolved = resolve_encoder::<S>(config.as_str())?;
        match resolved.runtime.device {
            DeviceSpec::Cpu => Ok(boxed(cpu_trainer::<S>(resolved)?)),
            DeviceSpec::Cuda(index) => {
                use burn::backend::cuda::CudaDevice;
                let Resolved { model, runtime } = resolved;
                if runtime.devices.len() > 1 {
                    let mut devices = Vec::new();
                    for device in &runtime.devices {
                        if let DeviceSpec::Cuda(index) = *device {
                            check_cuda_device(index)?;
                            devices.push(CudaDevice::new(index));
                        }
                    }
                    let replicated = Replicated::<crate::Gpu, S>::new(model, &runtime, devices)?;
                    return Ok(boxed(Box::new(replicated)));
                }
                check_cuda_device(index)?;
                Ok(boxed(Box::new(Trainer::<crate::Gpu, S>::new(
                    model,
                    &runtime,
                    CudaDevice::new(index),
                ))))
            }
        }
    })
}

/// Whether the CUDA driver loads and has device `index`: burn's CUDA backend would
/// otherwise panic on its own device thread, and the caller only see that thread's
/// channel close.
#[cfg(feature = "cuda")]
fn check_cuda_device(index: usize) -> Result<(), PluginError> {
    use cudarc::driver::{result, sys};
    let unavailable = |why: String| {
        PluginError::new(
            ErrorKind::Unsupported,
            format!("device 'cuda:{index}' asked for, but {why}"),
        )
    };
    // SAFETY: loads the driver library by name (dlopen) without calling into it.
    if !unsafe { sys::is_culib_present() } {
        return Err(unavailable(
            "the CUDA driver library (libcuda.so) was not found: is an NVIDIA driver installed?"
                .into(),
        ));
    }
    result::init().map_err(|e| unavailable(format!("the CUDA driver did not start: {e}")))?;
    let count = result::device::get_count()
        .map_err(|e| unavailable(format!("the CUDA driver counts no devices: {e}")))?;
    if index >= count.max(0) as usize {
        return Err(unavailable(format!(
            "this machine has {count} CUDA device(s)"
        )));
    }
    Ok(())
}

/// Loss constructor of a loss plugin.
pub extern "C" fn new_loss<L: LossFunction>(config: RStr<'_>) -> RResult<LossBox, PluginError> {
    guard("new_loss", || {
        let resolved = resolve_config(config.as_str(), L::default_config(), &[])?;
        cap_threads(resolved.runtime.threads);
        let loss = L::new(resolved.model)?;
        Ok(Loss_TO::from_value(LossAdapter::new(loss), TD_Opaque))
    })
}

/// Featurizer/encoder constructors of a loss plugin: refused.
pub extern "C" fn no_featurizer(_config: RStr<'_>) -> RResult<FeaturizerBox, PluginError> {
    RResult::RErr(not_offered("a featurizer"))
}

/// See [`no_featurizer`].
pub extern "C" fn no_encoder(_config: RStr<'_>) -> RResult<EncoderBox, PluginError> {
    RResult::RErr(not_offered("an encoder"))
}

/// Loss constructor of an encoder plugin: refused.
pub extern "C" fn no_loss(_config: RStr<'_>) -> RResult<LossBox, PluginError> {
    RResult::RErr(not_offered("a loss"))
}

fn not_offered(what: &str) -> PluginError {
    PluginError::new(
        ErrorKind::Unsupported,
        format!("this plugin does not provide {what}"),
    )
}

/// Exports an [`EncoderModel`](crate::EncoderModel) implementation as the library's
/// plugin root module. Invoke once, at the crate root of a `cdylib`.
#[macro_export]
macro_rules! export_encoder {
    ($model:ty) => {
        #[::abi_stable::export_root_module]
        fn mmhost_plugin_root_module() -> $crate::api::PluginModuleRef {
            use ::abi_stable::prefix_type::PrefixTypeTrait;
            $crate::api::PluginModule {
                info: {
                    // In the plugin's crate, so that the version is the plugin's.
                    extern "C" fn info() -> $crate::api::PluginInfo {
                        $crate::__export::encoder_info::<$model>(env!("CARGO_PKG_VERSION"))
                    }
                    info
                },
                new_featurizer: $crate::__export::new_featurizer::<$model>,
                new_encoder: $crate::__export::new_encoder::<$model>,
                new_loss: $crate::__export::no_loss,
            }
            .leak_into_prefix()
        }
    };
}

/// Exports a [`LossFunction`](crate::LossFunction) implementation as the library's
/// plugin root module. Invoke once, at the crate root of a `cdylib`.
#[macro_export]
macro_rules! export_loss {
    ($loss:ty) => {
        #[::abi_stable::export_root_module]
        fn mmhost_plugin_root_module() -> $crate::api::PluginModuleRef {
            use ::abi_stable::prefix_type::PrefixTypeTrait;
            $crate::api::PluginModule {
                info: {
                    // In the plugin's crate, so that the version is the plugin's.
                    extern "C" fn info() -> $crate::api::PluginInfo {
                        $crate::__export::loss_info::<$loss>(env!("CARGO_PKG_VERSION"))
                    }
                    info
                },
                new_featurizer: $crate::__export::no_featurizer,
                new_encoder: $crate::__export::no_encoder,
                new_loss: $crate::__export::new_loss::<$loss>,
            }
            .leak_into_prefix()
        }
    };
}
