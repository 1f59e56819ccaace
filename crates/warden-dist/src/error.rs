//! The errors of distribution: each names the plugin or file, what is
//! wrong and what to do.

use std::path::PathBuf;

/// Something a key, a signature or an artifact got wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistError {
    /// A key file is missing, unreadable or not an ed25519 key in PEM.
    #[error("{}: {message}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The plugin folder's manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] warden::ManifestError),
    /// The plugin carries no signature.
    #[error("plugin '{plugin}' is not signed: `{}` does not exist; sign it with `warden sign`", path.display())]
    Unsigned {
        /// The plugin's name.
        plugin: String,
        /// Where the signature was looked for.
        path: PathBuf,
    },
    /// A signature, payload or artifact is malformed, or the signature does
    /// not verify against the key that claims it.
    #[error("plugin '{plugin}': the signature is not valid: {reason}")]
    SignatureInvalid {
        /// The plugin's name.
        plugin: String,
        /// What does not hold.
        reason: String,
    },
    /// The signature is valid, but by a key the caller does not trust.
    #[error(
        "plugin '{plugin}' is signed by key {key_id}, which is not trusted; trust its public key (--key) if you mean to"
    )]
    UntrustedKey {
        /// The plugin's name.
        plugin: String,
        /// The id of the key that signed.
        key_id: String,
    },
    /// A part of the plugin is not what was signed: it changed after
    /// signing, or was swapped.
    #[error(
        "plugin '{plugin}': {what} is not what was signed (signed {signed}, found {found}); it changed after signing: sign it again, or restore it"
    )]
    Tampered {
        /// The plugin's name.
        plugin: String,
        /// Which part: the component, plugin.toml, the config, the manifest.
        what: &'static str,
        /// The signed digest (or value).
        signed: String,
        /// What is there now.
        found: String,
    },
    /// A registry served bytes whose digest is not the one asked for.
    #[error(
        "{reference}: the registry served {what} of digest {found} for {expected}; its content is damaged or was tampered with, and nothing was installed"
    )]
    DigestMismatch {
        /// The reference asked for.
        reference: String,
        /// Which part: the manifest, the config, the component, a signature payload.
        what: String,
        /// The digest asked for.
        expected: String,
        /// The digest of what came.
        found: String,
    },
    /// A trust policy is inconsistent (an unknown level, a bad permission).
    #[error("trust policy: {0}")]
    Policy(String),
    /// A registry could not be reached or refused a request.
    #[error("{reference}: {message}")]
    Registry {
        /// The reference (or repository) asked for.
        reference: String,
        /// What went wrong and what to do.
        message: String,
    },
    /// The artifact in a registry carries no signature.
    #[error(
        "{reference} ({digest}) is not signed: the registry has no `{tag}`; sign it (warden push --key) before installing it"
    )]
    NotSigned {
        /// The reference asked for.
        reference: String,
        /// Its manifest digest.
        digest: String,
        /// The signature tag looked for.
        tag: String,
    },
    /// A signed older version would replace a newer one.
    #[error(
        "plugin '{plugin}': {offered} is older than the installed {installed}; pass --allow-downgrade if you mean to go back"
    )]
    Downgrade {
        /// The plugin's name.
        plugin: String,
        /// The version installed.
        installed: String,
        /// The version offered.
        offered: String,
    },
    /// `warden.lock` is malformed, or a directory does not match it.
    #[error("{}: {message}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What is wrong and what to do.
        message: String,
    },
}

impl DistError {
    /// A short, stable name of the error's kind, e.g. `untrusted-key`.
    pub fn kind(&self) -> &'static str {
        match self {
            DistError::Key { .. } => "key",
            DistError::Io { .. } => "io",
            DistError::Manifest(_) => "manifest",
            DistError::Unsigned { .. } => "unsigned",
            DistError::SignatureInvalid { .. } => "signature-invalid",
            DistError::UntrustedKey { .. } => "untrusted-key",
            DistError::Tampered { .. } => "tampered",
            DistError::DigestMismatch { .. } => "tampered",
            DistError::Policy(_) => "policy",
            DistError::Registry { .. } => "registry",
            DistError::NotSigned { .. } => "unsigned",
            DistError::Downgrade { .. } => "downgrade",
            DistError::Lock { .. } => "lock",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> DistError {
        DistError::Io { path: path.into(), source }
    }
}
