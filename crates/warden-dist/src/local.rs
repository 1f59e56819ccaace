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
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct SignatureFile {
    format: String,
    /// The key that signed (its id), for people; the signature decides.
    key_id: String,
    /// The OCI image manifest, as signed.
    manifest: String,
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
    let file = SignatureFile {
        format: FORMAT.into(),
        key_id: key_id.clone(),
        manifest: String::from_utf8_lossy(&artifact.manifest).into_owned(),
        config: String::from_utf8_lossy(&artifact.config).into_owned(),
        payload: BASE64.encode(&payload),
        signature: BASE64.encode(key.sign(&payload)),
    };
    let path = dir.join(SIGNATURE_FILE);
    let text = serde_json::to_string_pretty(&file).unwrap_or_default() + "\n";
    // Written beside and renamed, so a reader never sees half a file.
    let partial = dir.join(format!(".{SIGNATURE_FILE}.partial"));
    std::fs::write(&partial, text).map_err(|e| DistError::io(&partial, e))?;
    std::fs::rename(&partial, &path).map_err(|e| DistError::io(&path, e))?;
    Ok(Signed { path, digest: artifact.digest(), key_id })
}

/// Verifies the plugin in `dir` against its `plugin.sig`: the signature is
/// by one of `trusted`, over a payload naming the manifest digest of the
/// signed documents, and those documents describe exactly the component
/// and plugin.toml in the folder now.
pub fn verify_dir(dir: &Path, trusted: &[PublicKey]) -> Result<Verified, DistError> {
    let manifest = warden::Manifest::from_dir(dir)?;
    let plugin = manifest.name.clone();
    let invalid = |reason: String| DistError::SignatureInvalid { plugin: plugin.clone(), reason };
    let path = dir.join(SIGNATURE_FILE);
    let size = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(DistError::Unsigned { plugin: plugin.clone(), path });
        }
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
    let payload = BASE64.decode(&file.payload).map_err(|e| invalid(format!("the payload is not base64: {e}")))?;
    let signature = BASE64.decode(&file.signature).map_err(|e| invalid(format!("the signature is not base64: {e}")))?;

    // Who signed: a trusted key, or the refusal names the claimed one.
    let Some(key) = trusted.iter().find(|k| k.verifies(&payload, &signature)) else {
        return Err(match trusted.iter().any(|k| k.id() == file.key_id) {
            true => invalid(format!("the signature does not verify with key {}", file.key_id)),
            false => DistError::UntrustedKey { plugin: plugin.clone(), key_id: file.key_id },
        });
    };
    let payload = Payload::parse(&payload).map_err(invalid)?;
    let digest = crate::artifact::sha256_digest(file.manifest.as_bytes());
    if payload.digest != digest {
        return Err(DistError::Tampered { plugin, what: "the manifest", signed: payload.digest, found: digest });
    }
    let plugin_toml = std::fs::read_to_string(&manifest.file).map_err(|e| DistError::io(&manifest.file, e))?;
    let component = std::fs::read(&manifest.component).map_err(|e| DistError::io(&manifest.component, e))?;
    Artifact::check(&plugin, file.manifest.as_bytes(), file.config.as_bytes(), &component, &plugin_toml)?;
    Ok(Verified {
        name: manifest.name,
        version: manifest.version.to_string(),
        digest,
        key_id: key.id().to_owned(),
        reference: payload.reference,
    })
}
