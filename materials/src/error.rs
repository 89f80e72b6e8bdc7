use thiserror::Error;

/// Why a file could not be read as a structure (or other record). The caller adds
/// the file name; `line` is 1-based where it is known.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ParseError {
    #[error("line {line}: {message}")]
    AtLine { line: usize, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl ParseError {
    pub(crate) fn at(line: usize, message: impl Into<String>) -> Self {
        Self::AtLine {
            line,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}
