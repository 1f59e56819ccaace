//! The trust policy: which public keys a host trusts, each at a trust
//! level, and what each level lets a plugin have. A plugin signed by a key
//! of level `untrusted` gets that level's limits and loses the permissions
//! it denies, whatever its manifest asks; a plugin signed by a key the
//! policy does not know, or whose signature does not hold, is refused. It
//! is a [`warden::Admission`]: give it to a manager and every load and
//! reload goes through it, with the decision in the audit log.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use warden::{Admission, Manifest};

use crate::error::DistError;
use crate::keys::PublicKey;
use crate::local::SignatureFile;

/// The permission names a level may deny (`[permissions]` keys).
pub const DENIABLE: &[&str] =
    &["network", "files", "env", "key-value", "publish", "subscribe", "modify-request", "modify-response"];

/// What plugins signed at one trust level get: caps on their limits (the
/// lower of the manifest's and the cap applies) and permissions withdrawn.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct TrustLevel {
    /// Largest linear memory.
    pub memory_bytes: Option<u64>,
    /// Per-call deadline.
    pub timeout: Option<Duration>,
    /// Fuel per call (needs a runtime with fuel metering).
    pub fuel: Option<u64>,
    /// Most instances at once.
    pub max_instances: Option<u32>,
    /// Largest result of a call.
    pub max_output_bytes: Option<u64>,
    /// `[permissions]` withdrawn whatever the manifest grants (names from
    /// [`DENIABLE`]).
    pub deny: Vec<String>,
}

impl TrustLevel {
    /// The level `trusted`: the manifest's limits and permissions as
    /// written.
    pub fn trusted() -> TrustLevel {
        TrustLevel::default()
    }

    /// The level `untrusted`: at most 32 MiB of memory, 250 ms per call,
    /// 4 instances, 1 MiB of output; no network, files, environment,
    /// key-value store or publishing.
    pub fn untrusted() -> TrustLevel {
        TrustLevel {
            memory_bytes: Some(32 << 20),
            timeout: Some(Duration::from_millis(250)),
            fuel: None,
            max_instances: Some(4),
            max_output_bytes: Some(1 << 20),
            deny: ["network", "files", "env", "key-value", "publish"].map(String::from).to_vec(),
        }
    }

    /// Applies the level to `manifest`; returns what it tightened.
    fn apply(&self, manifest: &mut Manifest) -> Value {
        let l = &mut manifest.limits;
        let mut capped = serde_json::Map::new();
        let mut cap = |name: &str, value: &mut u64, max: Option<u64>| {
            if let Some(max) = max.filter(|m| *value > *m) {
                capped.insert(name.into(), json!({ "asked": *value, "given": max }));
                *value = max;
            }
        };
        cap("memory_bytes", &mut l.memory_bytes, self.memory_bytes);
        cap("max_output_bytes", &mut l.max_output_bytes, self.max_output_bytes);
        let mut instances = u64::from(l.max_instances);
        cap("max_instances", &mut instances, self.max_instances.map(u64::from));
        l.max_instances = u32::try_from(instances).unwrap_or(u32::MAX);
        let mut ms = u64::try_from(l.timeout.as_millis()).unwrap_or(u64::MAX);
        cap("timeout_ms", &mut ms, self.timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)));
        l.timeout = l.timeout.min(Duration::from_millis(ms));
        if let Some(max) = self.fuel {
            let asked = l.fuel.unwrap_or(u64::MAX);
            if asked > max {
                capped.insert("fuel".into(), json!({ "asked": l.fuel, "given": max }));
                l.fuel = Some(max);
            }
        }
        let p = &mut manifest.permissions;
        let mut withdrawn = Vec::new();
        for name in &self.deny {
            let had = match name.as_str() {
                "network" => !std::mem::take(&mut p.network).is_empty(),
                "files" => !std::mem::take(&mut p.files).is_empty(),
                "env" => !std::mem::take(&mut p.env).is_empty(),
                "publish" => !std::mem::take(&mut p.publish).is_empty(),
                "subscribe" => !std::mem::take(&mut p.subscribe).is_empty(),
                "key-value" => std::mem::take(&mut p.key_value),
                "modify-request" => std::mem::take(&mut p.modify_request),
                "modify-response" => std::mem::take(&mut p.modify_response),
                _ => false,
            };
            if had {
                withdrawn.push(name.clone());
            }
        }
        json!({ "capped": capped, "withdrawn": withdrawn })
    }
}

/// What happens to a plugin folder without a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unsigned {
    /// It is refused (the default).
    Refuse,
    /// It loads at the named level.
    Level(String),
}

/// Trusted keys with their levels, the levels, and what unsigned plugins
/// get. Start from [`TrustPolicy::new`]: levels `trusted` and `untrusted`,
/// no key, unsigned plugins refused.
///
/// ```
/// # fn main() -> Result<(), warden_dist::DistError> {
/// use warden_dist::{SecretKey, TrustPolicy, Unsigned};
///
/// let release = SecretKey::generate().public();
/// let community = SecretKey::generate().public();
/// let policy = TrustPolicy::new()
///     .trust(release, "trusted")?
///     .trust(community, "untrusted")?
///     .unsigned(Unsigned::Level("untrusted".into()))?;
/// assert_eq!(policy.keys().len(), 2);
/// // let manager = warden::PluginManager::builder(runtime).admission(policy).build()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    keys: Vec<(PublicKey, String)>,
    levels: BTreeMap<String, TrustLevel>,
    unsigned: Unsigned,
}

impl Default for TrustPolicy {
    fn default() -> Self {
        TrustPolicy::new()
    }
}

/// What the policy decided for one plugin.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Decision {
    /// The key that signed, if any.
    pub key_id: Option<String>,
    /// The level applied.
    pub level: String,
    /// The signed manifest digest, if signed.
    pub digest: Option<String>,
    /// What the level tightened (`capped` limits, `withdrawn` permissions).
    pub tightened: Value,
}

impl TrustPolicy {
    /// Levels `trusted` and `untrusted`, no key, unsigned plugins refused.
    pub fn new() -> TrustPolicy {
        let levels = BTreeMap::from([
            ("trusted".to_owned(), TrustLevel::trusted()),
            ("untrusted".to_owned(), TrustLevel::untrusted()),
        ]);
        TrustPolicy { keys: Vec::new(), levels, unsigned: Unsigned::Refuse }
    }

    /// Defines (or redefines) the level `name`.
    pub fn level(mut self, name: &str, level: TrustLevel) -> Result<TrustPolicy, DistError> {
        if let Some(bad) = level.deny.iter().find(|d| !DENIABLE.contains(&d.as_str())) {
            return Err(DistError::Policy(format!(
                "level '{name}' denies '{bad}', which is not a permission; deny any of: {}",
                DENIABLE.join(", ")
            )));
        }
        self.levels.insert(name.to_owned(), level);
        Ok(self)
    }

    /// Trusts `key` at the level `level` (which must be defined).
    pub fn trust(mut self, key: PublicKey, level: &str) -> Result<TrustPolicy, DistError> {
        self.known_level(level, &format!("key {}", key.id()))?;
        self.keys.retain(|(k, _)| k.id() != key.id());
        self.keys.push((key, level.to_owned()));
        Ok(self)
    }

    /// What unsigned plugin folders get.
    pub fn unsigned(mut self, unsigned: Unsigned) -> Result<TrustPolicy, DistError> {
        if let Unsigned::Level(level) = &unsigned {
            self.known_level(level, "unsigned plugins")?;
        }
        self.unsigned = unsigned;
        Ok(self)
    }

    /// The trusted keys, whatever their level.
    pub fn keys(&self) -> Vec<PublicKey> {
        self.keys.iter().map(|(k, _)| k.clone()).collect()
    }

    /// The level of the trusted key `key_id`.
    pub fn level_of(&self, key_id: &str) -> Option<&str> {
        self.keys.iter().find(|(k, _)| k.id() == key_id).map(|(_, l)| l.as_str())
    }

    fn known_level(&self, level: &str, whose: &str) -> Result<(), DistError> {
        match self.levels.contains_key(level) {
            true => Ok(()),
            false => Err(DistError::Policy(format!(
                "{whose}: no trust level '{level}'; defined levels: {}",
                self.levels.keys().cloned().collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Decides for the plugin `manifest` (parsed from `text`, the exact
    /// plugin.toml read): verifies its folder's signature, applies the
    /// signer's level, and pins the component's hash to the signed one, so
    /// the bytes compiled are the bytes verified.
    pub fn decide(&self, manifest: &mut Manifest, text: &str) -> Result<Decision, DistError> {
        let Some(file) = SignatureFile::read(&manifest.dir, &manifest.name)? else {
            let Unsigned::Level(level) = &self.unsigned else {
                return Err(DistError::Unsigned {
                    plugin: manifest.name.clone(),
                    path: manifest.dir.join(crate::SIGNATURE_FILE),
                });
            };
            let tightened = self.levels[level].apply(manifest);
            return Ok(Decision { key_id: None, level: level.clone(), digest: None, tightened });
        };
        let component = crate::sha256_digest(&crate::artifact::read_component(&manifest.component)?);
        let verified = file.verify(manifest, text, &component, &self.keys())?;
        let level = self.level_of(&verified.key_id).unwrap_or("trusted").to_owned();
        // The load checks the bytes it reads against this: those verified.
        manifest.sha256 = component.strip_prefix("sha256:").map(str::to_owned);
        let tightened = self.levels[&level].apply(manifest);
        Ok(Decision { key_id: Some(verified.key_id), level, digest: Some(verified.digest), tightened })
    }
}

impl Admission for TrustPolicy {
    fn admit(&self, manifest: &mut Manifest, text: &str) -> Result<Value, String> {
        let d = self.decide(manifest, text).map_err(|e| format!("{e} [{}]", e.kind()))?;
        Ok(json!({ "key": d.key_id, "level": d.level, "digest": d.digest, "tightened": d.tightened }))
    }

    /// The signature file: a new signer (another level) is a change.
    fn fingerprint(&self, manifest: &Manifest) -> Vec<u8> {
        let sig = manifest.dir.join(crate::SIGNATURE_FILE);
        crate::sha256_digest(&std::fs::read(sig).unwrap_or_default()).into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(toml_extra: &str) -> (tempfile::TempDir, Manifest, String) {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("[plugin]\nname = \"demo\"\nversion = \"1.0.0\"\ncomponent = \"demo.wasm\"\n{toml_extra}");
        std::fs::write(dir.path().join("plugin.toml"), &text).unwrap();
        std::fs::write(dir.path().join("demo.wasm"), b"\0asm\x0d\0\x01\0").unwrap();
        let manifest = Manifest::from_dir(dir.path()).unwrap();
        (dir, manifest, text)
    }

    #[test]
    fn levels_cap_limits_and_withdraw_permissions() {
        let extra = "[permissions]\nnetwork = [\"https://api.example.com\"]\nkey-value = true\n[limits]\nmemory = \"128MiB\"\ntimeout = \"10ms\"\n";
        let (dir, mut manifest, text) = folder(extra);
        let key = crate::SecretKey::generate();
        crate::sign_dir(dir.path(), &key, None).unwrap();
        let policy = TrustPolicy::new().trust(key.public(), "untrusted").unwrap();
        let d = policy.decide(&mut manifest, &text).unwrap();
        assert_eq!(d.level, "untrusted");
        assert_eq!(manifest.limits.memory_bytes, 32 << 20);
        assert_eq!(manifest.limits.timeout, Duration::from_millis(10), "a lower limit stays");
        assert!(manifest.permissions.network.is_empty() && !manifest.permissions.key_value);
        assert_eq!(d.tightened["withdrawn"], json!(["network", "key-value"]));
        assert!(manifest.sha256.is_some(), "the verified bytes are pinned");
    }

    #[test]
    fn unknown_keys_unsigned_folders_and_bad_levels_are_refused() {
        let (dir, mut manifest, text) = folder("");
        let policy = TrustPolicy::new();
        assert_eq!(policy.decide(&mut manifest.clone(), &text).unwrap_err().kind(), "unsigned");
        let lenient = TrustPolicy::new().unsigned(Unsigned::Level("untrusted".into())).unwrap();
        assert_eq!(lenient.decide(&mut manifest.clone(), &text).unwrap().level, "untrusted");
        crate::sign_dir(dir.path(), &crate::SecretKey::generate(), None).unwrap();
        assert_eq!(policy.decide(&mut manifest, &text).unwrap_err().kind(), "untrusted-key");
        let key = crate::SecretKey::generate().public();
        assert!(TrustPolicy::new().trust(key, "gold").unwrap_err().to_string().contains("no trust level 'gold'"));
        let bad = TrustLevel { deny: vec!["internet".into()], ..TrustLevel::default() };
        assert!(TrustPolicy::new().level("x", bad).is_err());
    }
}
