//! Admission: the host's say, on every load and reload, over whether a
//! plugin folder may run and with what. A trust policy (signatures
//! required, limits by the signer's trust level) is one; the manager calls
//! it with the manifest just read, before anything is compiled.

use serde_json::Value;

use crate::Manifest;

/// Decides whether a plugin may load, and may tighten what it gets.
/// Set one with [`ManagerBuilder::admission`](crate::ManagerBuilder::admission).
///
/// [`admit`](Admission::admit) runs on every [`load`](crate::PluginManager::load)
/// and reload, with the manifest parsed from `text` (the exact `plugin.toml`
/// read). It may change `manifest` before the plugin is built: lower its
/// [`limits`](Manifest::limits), withdraw [`permissions`](Manifest::permissions),
/// or pin the component's hash in [`sha256`](Manifest::sha256) so the bytes
/// loaded are the ones it checked. It returns the fields the audit log's
/// `admitted` event records (a JSON object: which key, which level), or
/// why the plugin is refused; a refusal is audited as `refused` and the
/// load fails with [`Error::NotAdmitted`](crate::Error::NotAdmitted). A
/// reload of a folder whose plugin.toml, component and
/// [`fingerprint`](Admission::fingerprint) did not change is not asked again.
///
/// ```
/// use warden::{Admission, Manifest};
///
/// /// Admits every plugin, with at most 16 MiB of memory.
/// struct SmallMemory;
///
/// impl Admission for SmallMemory {
///     fn admit(&self, manifest: &mut Manifest, _text: &str) -> Result<serde_json::Value, String> {
///         manifest.limits.memory_bytes = manifest.limits.memory_bytes.min(16 << 20);
///         Ok(serde_json::json!({ "memory_bytes": manifest.limits.memory_bytes }))
///     }
/// }
///
/// # fn main() -> Result<(), warden::Error> {
/// let manager = warden::PluginManager::builder(warden::Runtime::new()?).admission(SmallMemory).build()?;
/// # let _ = manager; Ok(()) }
/// ```
pub trait Admission: Send + Sync + 'static {
    /// Admits the plugin `manifest` describes (possibly changed), or says
    /// why not.
    fn admit(&self, manifest: &mut Manifest, text: &str) -> Result<Value, String>;

    /// Bytes the decision depends on besides plugin.toml and the
    /// component (a trust policy: the folder's signature file). A folder
    /// change that leaves plugin.toml and the component as they were is
    /// ignored unless this changed too. Default: nothing.
    fn fingerprint(&self, manifest: &Manifest) -> Vec<u8> {
        let _ = manifest;
        Vec::new()
    }
}
