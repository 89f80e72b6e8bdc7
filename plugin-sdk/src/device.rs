use std::{fmt, str::FromStr};

use burn::backend::{Autodiff, Flex};
use mmhost_plugin_api::{ErrorKind, PluginError};

/// The CPU training backend: burn's pure-Rust Flex backend with autodiff.
pub type Cpu = Autodiff<Flex>;
/// The CPU inference backend.
pub type CpuInner = Flex;

/// The CUDA training backend.
#[cfg(feature = "cuda")]
pub type Gpu = Autodiff<burn::backend::Cuda>;
/// The CUDA inference backend.
#[cfg(feature = "cuda")]
pub type GpuInner = burn::backend::Cuda;

/// Where a model runs, parsed from the configuration's `device` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceSpec {
    /// `cpu`
    Cpu,
    /// `cuda:N` (or `cuda` for `cuda:0`)
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = PluginError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            PluginError::new(
                ErrorKind::InvalidConfig,
                format!("device '{text}' is not 'cpu', 'cuda' or 'cuda:N'"),
            )
        };
        match text.trim() {
            "cpu" => Ok(DeviceSpec::Cpu),
            "cuda" => Ok(DeviceSpec::Cuda(0)),
            other => {
                let index = other.strip_prefix("cuda:").ok_or_else(invalid)?;
                index.parse().map(DeviceSpec::Cuda).map_err(|_| invalid())
            }
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// Caps the size of this library's rayon pool (used by Flex). Each plugin library has
/// its own pool; the first call wins, later calls keep the existing pool. `0` leaves
/// rayon's default (one thread per core).
pub(crate) fn cap_threads(threads: usize) {
    if threads > 0 {
        // An error only means the pool already exists, which is what we want.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print_back() {
        for (text, device) in [
            ("cpu", DeviceSpec::Cpu),
            ("cuda", DeviceSpec::Cuda(0)),
            ("cuda:3", DeviceSpec::Cuda(3)),
            (" cpu ", DeviceSpec::Cpu),
        ] {
            assert_eq!(text.parse::<DeviceSpec>().unwrap(), device, "{text}");
        }
        assert_eq!(DeviceSpec::Cuda(3).to_string(), "cuda:3");
        for bad in ["gpu", "cuda:", "cuda:-1", "cuda:x", "CPU", ""] {
            let err = bad.parse::<DeviceSpec>().unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidConfig, "{bad}");
            assert!(
                err.message.contains("is not 'cpu', 'cuda' or 'cuda:N'"),
                "{bad}"
            );
        }
    }
}
