//! Bounds on configuration values, for [`EncoderModel::check_config`](crate::EncoderModel::check_config):
//! a value in a user's TOML that would make a model divide by zero or allocate without
//! bound is refused with a message naming the key, the value and the allowed range.

use std::{fmt::Display, ops::RangeInclusive};

use mmhost_plugin_api::{ErrorKind, PluginError};

/// The widest layer a bundled encoder accepts (channels, hidden or embedding width):
/// 32× the reference sizes, and a bound on the memory of its weights.
pub const MAX_WIDTH: usize = 8192;

/// The most blocks (layers, convolutions) a bundled encoder stacks.
pub const MAX_DEPTH: usize = 64;

/// Refuses `value` of the configuration key `key` when it lies outside `range` (a NaN
/// lies outside every range).
pub fn within<T: PartialOrd + Display>(
    key: &str,
    value: T,
    range: RangeInclusive<T>,
) -> Result<(), PluginError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(PluginError::new(
            ErrorKind::InvalidConfig,
            format!(
                "{key} = {value} is outside the allowed range {}..={}",
                range.start(),
                range.end()
            ),
        ))
    }
}

/// Refuses a configuration whose `rule` does not hold, with `message` saying which.
pub fn require(rule: bool, message: impl FnOnce() -> String) -> Result<(), PluginError> {
    if rule {
        Ok(())
    } else {
        Err(PluginError::new(ErrorKind::InvalidConfig, message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_inside_the_range_pass_and_others_are_named_in_the_error() {
        assert!(within("depth", 1usize, 1..=64).is_ok());
        assert!(within("depth", 64usize, 1..=64).is_ok());
        let error = within("depth", 0usize, 1..=64).unwrap_err();
        assert_eq!(error.kind, ErrorKind::InvalidConfig);
        assert_eq!(
            error.message.as_str(),
            "depth = 0 is outside the allowed range 1..=64"
        );
        assert!(within("cutoff", f64::NAN, 0.5..=32.0).is_err());
        assert!(within("cutoff", 1e9, 0.5..=32.0).is_err());
    }

    #[test]
    fn a_rule_that_fails_is_refused_with_its_message() {
        assert!(require(true, || unreachable!()).is_ok());
        let error = require(false, || "planes must be divisible".into()).unwrap_err();
        assert_eq!(error.message.as_str(), "planes must be divisible");
    }
}
