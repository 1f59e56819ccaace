//! Why the gateway could not start.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::ConfigError;

/// A startup failure: each names what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The configuration file is wrong.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// Plugin folders failed to load.
    #[error("{} plugin(s) in {} failed to load: {}", failures.len(), dir.display(), summary(failures))]
    Plugins {
        /// The plugin folder.
        dir: PathBuf,
        /// Each failed folder with its error.
        failures: Vec<(PathBuf, warden::Error)>,
    },
    /// The runtime, key-value store or plugin manager could not be set up.
    #[error("{0}")]
    Warden(#[from] warden::Error),
    /// The key-value store (`[server] kv`) could not be opened.
    #[error("key-value store ([server] kv): {0}")]
    KeyValue(#[from] warden::KeyValueError),
    /// A listener could not be opened.
    #[error(
        "cannot listen on {addr} ({what}): {source}; change {key} in the configuration or stop what uses that port"
    )]
    Listen {
        /// `"gateway"` or `"admin API"`.
        what: &'static str,
        /// The configuration key to change.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file or folder the gateway needs could not be used.
    #[error("{what} `{}`: {source}", path.display())]
    Io {
        /// What the gateway tried.
        what: String,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The admin token could not be read.
    #[error("admin token: {0}")]
    AdminToken(String),
}

fn summary(failures: &[(PathBuf, warden::Error)]) -> String {
    failures.iter().map(|(dir, e)| format!("{}: {e}", dir.display())).collect::<Vec<_>>().join("; ")
}
