//! The scanner's runtime: its world and both capabilities, and one scan.

use std::sync::Arc;

use warden::{Plugin, Runtime, RuntimeBuilder};

use crate::{Artifact, Crypto, Keyring, ScanReport, Scanner, System};

/// The key id the host serves its sealing key under: the one the
/// `secret-sealer` plugin seals with.
pub const SEALING_KEY_ID: &str = "scanner";

/// Largest file the scanner hands a plugin: 16 MiB.
pub const MAX_ARTIFACT_BYTES: u64 = 16 << 20;

/// A runtime builder set up for scanner plugins: world
/// [`Scanner`], capabilities [`Crypto`] (serving `keys`) and [`System`].
/// Add settings (a compile cache, ...) before `build`.
pub fn runtime_builder(keys: Arc<Keyring>) -> RuntimeBuilder {
    Runtime::builder().world::<Scanner>().capability(Crypto::new(keys)).capability(System)
}

/// [`runtime_builder`], built.
pub fn runtime(keys: Arc<Keyring>) -> Result<Runtime, warden::Error> {
    runtime_builder(keys).build()
}

/// Scans `artifact` with `plugin`, under the plugin's limits. Through a
/// [`warden::PluginManager`]: `manager.call(name, |p| scan(p, &artifact))`.
pub fn scan(plugin: &Plugin, artifact: &Artifact) -> Result<ScanReport, warden::Error> {
    plugin.call::<Scanner, _>("scan", |exports, store| exports.call_scan(store, artifact))
}
