//! Distribution of Warden plugins: a plugin folder as an OCI artifact in
//! the CNCF wasm layout, ed25519 keys, and cosign-style signatures over the
//! artifact's manifest digest, which covers the component and `plugin.toml`
//! together, so neither can be swapped. The format is documented in
//! docs/DISTRIBUTION.md, so that other tools can verify it. Plugins travel
//! through OCI registries ([`Registry`]: push, fetch verified, tags), are
//! [installed](install) atomically and pinned in [`Lock`] (`warden.lock`),
//! and a [`TrustPolicy`] decides, on every load, who may run and with what.
//!
//! ```
//! # fn main() -> Result<(), warden_dist::DistError> {
//! # let dir = tempfile::tempdir().unwrap();
//! # std::fs::write(dir.path().join("plugin.toml"), "[plugin]\nname = \"demo\"\nversion = \"1.0.0\"\ncomponent = \"demo.wasm\"\n").unwrap();
//! # std::fs::write(dir.path().join("demo.wasm"), b"\0asm\x0d\0\x01\0").unwrap();
//! let key = warden_dist::SecretKey::generate();
//! let signed = warden_dist::sign_dir(dir.path(), &key, None)?; // writes plugin.sig beside plugin.toml
//! let verified = warden_dist::verify_dir(dir.path(), &[key.public()])?;
//! assert_eq!(verified.digest, signed.digest);
//! assert_eq!(verified.key_id, key.public().id());
//! # Ok(()) }
//! ```

mod artifact;
mod cache;
mod error;
mod install;
mod keys;
mod local;
mod registry;
mod signature;
mod trust;

pub use artifact::{
    Artifact, CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, PLUGIN_TOML_ANNOTATION, sha256_digest,
};
pub use cache::Cache;
pub use error::DistError;
pub use install::{InstallLock, Installed, LOCK_FILE, Lock, LockEntry, came_up, install, repository_of, rollback};
pub use keys::{PublicKey, SecretKey};
pub use local::{SIGNATURE_FILE, Signed, Verified, sign_dir, verify_dir};
pub use registry::{Fetched, KEY_ID_ANNOTATION, Progress, Registry, parse_reference, signature_tag};
pub use signature::{PAYLOAD_MEDIA_TYPE, Payload, SIGNATURE_ANNOTATION, SIGNATURE_TYPE};
pub use trust::{DENIABLE, Decision, TrustLevel, TrustPolicy, Unsigned};
