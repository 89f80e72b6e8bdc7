//! Plugin libraries: loading with ABI checks, discovery on the search path, and
//! safe handles over the objects they create.

mod discovery;
mod handles;
mod library;

pub use discovery::{PluginSearch, Scan};
pub use handles::{EncoderHandle, FeaturizerHandle, LossHandle, PluginCallError};
pub use library::{LoadError, PluginDescription, PluginLibrary};
