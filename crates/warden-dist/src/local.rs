//! Signatures beside a plugin folder: `plugin.sig`, a JSON file holding
//! what a registry would hold (the artifact's manifest and config, the
//! cosign payload naming the manifest digest, the base64 signature) so a
//! verifier needs nothing else than the folder and a public key.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::artifact::Artifact;
use crate::error::DistError;
use crate::keys::{PublicKey, SecretKey};
use crate::signature::Payload;

/// The signature file's name, beside `plugin.toml`.
pub const SIGNATURE_FILE: &str = "plugin.sig";
/// The signature file's `format`.
const FORMAT: &str = "warden-signature/v1";
/// Largest signature file read: the documents and a signature are small,
/// but plugin.toml travels inside.
const MAX_SIGNATURE_FILE: u64 = 1 << 20;

/// `plugin.sig`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct SignatureFile {
    format: String,
    /// The key that signed (its id), for people; the signature decides.
    key_id: String,
    /// The OCI image manifest, as signed.
    pub(crate) manifest: String,
    /// The config, as signed.
    config: String,
    /// The cosign payload, base64.
    payload: String,
    /// The ed25519 signature of the payload's bytes, base64.
    signature: String,
}

/// What [`sign_dir`] did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Signed {
    /// The signature file written.
    pub path: PathBuf,
    /// The artifact's manifest digest, `sha256:<hex>`.
    pub digest: String,
    /// The signing key's id.
    pub key_id: String,
}

/// What [`verify_dir`] found.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Verified {
    /// The plugin's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The signed manifest digest.
    pub digest: String,
    /// The trusted key that signed it.
    pub key_id: String,
    /// The reference the signer named.
    pub reference: String,
}

/// Signs the plugin in `dir` (plugin.toml and its component) with `key`,
/// writing `plugin.sig` beside plugin.toml (replacing an older one).
/// `reference` names the artifact in the payload (default
/// `local/<name>:<version>`).
pub fn sign_dir(dir: &Path, key: &SecretKey, reference: Option<&str>) -> Result<Signed, DistError> {
    let artifact = Artifact::from_dir(dir)?;
    let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let payload = Payload {
        reference: reference.map_or_else(|| format!("local/{}:{}", artifact.name, artifact.version), str::to_owned),
        digest: artifact.digest(),
        timestamp: Some(timestamp),
    }
    .to_bytes();
    let key_id = key.public().id().to_owned();
    let file = SignatureFile::from_parts(&key_id, &artifact.manifest, &artifact.config, &payload, &key.sign(&payload));
    let path = file.write(dir)?;
    Ok(Signed { path, digest: artifact.digest(), key_id })
}

/// Verifies the plugin in `dir` against its `plugin.sig`: the signature is
/// by one of `trusted`, over a payload naming the manifest digest of the
/// signed documents, and those documents describe exactly the component
/// and plugin.toml in the folder now.
pub fn verify_dir(dir: &Path, trusted: &[PublicKey]) -> Result<Verified, DistError> {
    let manifest = warden::Manifest::from_dir(dir)?;
    let plugin_toml = std::fs::read_to_string(&manifest.file).map_err(|e| DistError::io(&manifest.file, e))?;
    let Some(file) = SignatureFile::read(dir, &manifest.name)? else {
        return Err(DistError::Unsigned { plugin: manifest.name, path: dir.join(SIGNATURE_FILE) });
    };
    let component = std::fs::read(&manifest.component).map_err(|e| DistError::io(&manifest.component, e))?;
    file.verify(&manifest, &plugin_toml, &crate::sha256_digest(&component), trusted)
}

impl SignatureFile {
    /// The signature file of the folder `dir` of plugin `plugin`; `None`
    /// when there is none.
    pub(crate) fn read(dir: &Path, plugin: &str) -> Result<Option<SignatureFile>, DistError> {
        let invalid = |reason: String| DistError::SignatureInvalid { plugin: plugin.into(), reason };
        let path = dir.join(SIGNATURE_FILE);
        let size = match std::fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(DistError::io(&path, e)),
        };
        if size > MAX_SIGNATURE_FILE {
            return Err(invalid(format!(
                "`{}` is {size} bytes; a signature file is at most {MAX_SIGNATURE_FILE}",
                path.display()
            )));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| DistError::io(&path, e))?;
        let file: SignatureFile = serde_json::from_str(&text)
            .map_err(|e| invalid(format!("`{}` is not a signature file: {e}", path.display())))?;
        if file.format != FORMAT {
            return Err(invalid(format!(
                "`{}` is of format {:?}; this warden reads {FORMAT:?}",
                path.display(),
                file.format
            )));
        }
        Ok(Some(file))
    }

    /// The signature file of parts fetched from a registry.
    pub(crate) fn from_parts(key_id: &str, manifest: &[u8], config: &[u8], payload: &[u8], signature: &[u8]) -> Self {
        SignatureFile {
            format: FORMAT.into(),
            key_id: key_id.into(),
            manifest: String::from_utf8_lossy(manifest).into_owned(),
            config: String::from_utf8_lossy(config).into_owned(),
            payload: BASE64.encode(payload),
            signature: BASE64.encode(signature),
        }
    }

    /// Writes the file into `dir`.
    pub(crate) fn write(&self, dir: &Path) -> Result<PathBuf, DistError> {
        let path = dir.join(SIGNATURE_FILE);
        let text = serde_json::to_string_pretty(self).unwrap_or_default() + "\n";
        // Written beside and renamed, so a reader never sees half a file.
        let partial = dir.join(format!(".{SIGNATURE_FILE}.partial"));
        std::fs::write(&partial, text).map_err(|e| DistError::io(&partial, e))?;
        std::fs::rename(&partial, &path).map_err(|e| DistError::io(&path, e))?;
        Ok(path)
    }

    /// Verifies this signature for the plugin `manifest` (parsed from
    /// `plugin_toml`) with the component of digest `component`.
    pub(crate) fn verify(
        &self,
        manifest: &warden::Manifest,
        plugin_toml: &str,
        component: &str,
        trusted: &[PublicKey],
    ) -> Result<Verified, DistError> {
        let (key, payload) = self.check_signature(&manifest.name, trusted)?;
        Artifact::check(&manifest.name, self.manifest.as_bytes(), self.config.as_bytes(), component, plugin_toml)?;
        Ok(Verified {
            name: manifest.name.clone(),
            version: manifest.version.to_string(),
            digest: payload.digest,
            key_id: key.id().to_owned(),
            reference: payload.reference,
        })
    }

    /// Checks that the signature is by one of `trusted` over a payload
    /// naming the digest of the manifest; returns the key and the payload.
    pub(crate) fn check_signature<'k>(
        &self,
        plugin: &str,
        trusted: &'k [PublicKey],
    ) -> Result<(&'k PublicKey, Payload), DistError> {
        let invalid = |reason: String| DistError::SignatureInvalid { plugin: plugin.into(), reason };
        let payload = BASE64.decode(&self.payload).map_err(|e| invalid(format!("the payload is not base64: {e}")))?;
        let signature =
            BASE64.decode(&self.signature).map_err(|e| invalid(format!("the signature is not base64: {e}")))?;

        // Who signed: a trusted key, or the refusal names the claimed one.
        let Some(key) = trusted.iter().find(|k| k.verifies(&payload, &signature)) else {
            return Err(match trusted.iter().any(|k| k.id() == self.key_id) {
                true => invalid(format!("the signature does not verify with key {}", self.key_id)),
                false => DistError::UntrustedKey { plugin: plugin.into(), key_id: self.key_id.clone() },
            });
        };
        let payload = Payload::parse(&payload).map_err(invalid)?;
        let digest = crate::artifact::sha256_digest(self.manifest.as_bytes());
        if payload.digest != digest {
            let plugin = plugin.into();
            return Err(DistError::Tampered { plugin, what: "the manifest", signed: payload.digest, found: digest });
        }
        Ok((key, payload))
    }
}
