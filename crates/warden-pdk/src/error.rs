//! Constructors and conversions for [`PluginError`].

use crate::PluginError;

impl PluginError {
    /// An error with a machine-readable `code` (kebab-case by convention) and a `message` for people.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        PluginError { code: code.into(), message: message.into() }
    }
}

/// I/O errors become code `io` with the error's text as message.
impl From<std::io::Error> for PluginError {
    fn from(err: std::io::Error) -> Self {
        PluginError::new("io", err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors() {
        let err = PluginError::new("bad-config", "missing key");
        assert_eq!((err.code.as_str(), err.message.as_str()), ("bad-config", "missing key"));
        let io: PluginError = std::io::Error::new(std::io::ErrorKind::NotFound, "gone").into();
        assert_eq!((io.code.as_str(), io.message.as_str()), ("io", "gone"));
    }
}
