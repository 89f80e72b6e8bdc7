use std::panic::{catch_unwind, AssertUnwindSafe};

use abi_stable::std_types::RResult;
use mmhost_plugin_api::{ErrorKind, PluginError};

/// Runs `body`, turning a panic into a [`PluginError`] of kind `Panic` that names
/// `operation`. Every ABI entry point of the SDK goes through here: a panic must never
/// unwind into `abi_stable`'s shims (that aborts the host).
pub fn guard<T>(
    operation: &str,
    body: impl FnOnce() -> Result<T, PluginError>,
) -> RResult<T, PluginError> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result.into(),
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_string());
            RResult::RErr(PluginError::new(
                ErrorKind::Panic,
                format!("{operation} panicked: {message}"),
            ))
        }
    }
}
