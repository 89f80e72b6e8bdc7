//! Plugin libraries: loading with ABI and permission checks, discovery on the
//! search path, pinning by SHA-256, and safe handles over the objects they create.

mod handles;
mod library;
mod lock;
mod search;

pub use handles::{ComparedPairs, EncoderHandle, FeaturizerHandle, LossHandle, PluginCallError};
pub use library::{LoadError, PluginDescription, PluginLibrary};
pub use lock::{sha256_file, LockedPlugin, PluginLock, DEFAULT_LOCK_FILE};
pub use search::{lock_path, PluginSearch, Scan};
