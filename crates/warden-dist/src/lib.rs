//! Distribution of Warden plugins: a plugin folder as an OCI artifact in
//! the CNCF wasm layout, ed25519 keys, and cosign-style signatures over the
//! artifact's manifest digest, which covers the component and `plugin.toml`
//! together, so neither can be swapped. The format is documented in
//! docs/DISTRIBUTION.md, so that other tools can verify it.
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
mod error;
mod keys;
mod local;
mod signature;

pub use artifact::{
    Artifact, CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, PLUGIN_TOML_ANNOTATION, sha256_digest,
};
pub use error::DistError;
pub use keys::{PublicKey, SecretKey};
pub use local::{SIGNATURE_FILE, Signed, Verified, sign_dir, verify_dir};
pub use signature::{PAYLOAD_MEDIA_TYPE, Payload, SIGNATURE_ANNOTATION, SIGNATURE_TYPE};
