//! An "Aurora-style" security scanner host built on Warden: plugins of its
//! own WIT world (`example:scanner/scanner`, in `wit/scanner.wit`) scan
//! files, and reach the host only through the capabilities it defines:
//!
//! - [`Crypto`] (`example:scanner/crypto`): ChaCha20-Poly1305 with keys the
//!   host holds, granted per operation by `[permissions] crypto =
//!   ["encrypt"]` (or `["encrypt", "decrypt"]`);
//! - [`System`] (`example:scanner/system`): a `system.execute` that this
//!   host never grants: every call is `capability-denied`, and a manifest
//!   asking for `[permissions] execute` fails to load.
//!
//! ```
//! use std::sync::Arc;
//! use security_scanner::Keyring;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut keys = Keyring::new();
//! keys.insert("scanner", [7; 32]);
//! let keys = Arc::new(keys);
//! let runtime = security_scanner::runtime(Arc::clone(&keys))?;
//! // let plugin = runtime.load("plugins/secret-sealer")?;
//! // let report = security_scanner::scan(&plugin, &artifact)?;
//! // The host opens what plugins sealed:
//! let sealed = keys.encrypt("scanner", b"hunter2")?;
//! assert_eq!(keys.decrypt("scanner", &sealed)?, b"hunter2");
//! # drop(runtime);
//! # Ok(()) }
//! ```
//!
//! The `security-scanner` binary scans files with every plugin of the
//! folders it is given; see the README.

#[allow(missing_docs, reason = "generated: the WIT docs cover the types")]
mod bindings;
pub mod crypto;
mod host;
pub mod system;
mod world;

pub use bindings::Scanner;
pub use bindings::example::scanner::types::{Artifact, Finding, ScanError, ScanReport, SealedSecret, Severity};
pub use crypto::{Crypto, CryptoError, CryptoGrant, KeyError, Keyring};
pub use host::{MAX_ARTIFACT_BYTES, SEALING_KEY_ID, runtime, runtime_builder, scan};
pub use system::System;
