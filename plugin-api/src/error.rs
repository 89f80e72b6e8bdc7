use abi_stable::{std_types::RString, StableAbi};
use std::fmt;

/// What kind of failure a plugin reports.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A record or batch the plugin cannot use (missing field, wrong shape, bad value).
    InvalidInput,
    /// The configuration string could not be parsed or holds invalid values.
    InvalidConfig,
    /// The operation is not offered by this plugin or build (e.g. a CUDA device
    /// asked of a CPU-only build, or `backward` before `forward`).
    Unsupported,
    /// The computation produced NaN or infinite values.
    NonFinite,
    /// The plugin panicked; the panic was caught at the ABI boundary.
    Panic,
    /// Any other failure inside the plugin.
    Internal,
}

/// An error returned across the ABI: a kind and a human-readable message.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct PluginError {
    /// What went wrong, for programs.
    pub kind: ErrorKind,
    /// What went wrong, for people: names the field, value or file concerned.
    pub message: RString,
}

impl PluginError {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: RString::from(message.into()),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::InvalidConfig => "invalid configuration",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::NonFinite => "non-finite values",
            ErrorKind::Panic => "panic",
            ErrorKind::Internal => "internal error",
        };
        f.write_str(text)
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for PluginError {}
