//! Plugins in OCI registries: push an artifact and its cosign-style
//! signature, fetch one back verified (digests, signature, the name it was
//! signed under) before anything is written where a manager looks, and list
//! a repository's versions. Everything fetched goes through the
//! content-addressed [`Cache`], so a reference fetched once installs
//! offline.
//!
//! Registries on a loopback address (`127.0.0.1`, `localhost`, `[::1]`) and
//! those listed in `WARDEN_INSECURE_REGISTRIES` (comma-separated
//! `host:port`) are spoken to over plain HTTP; every other one over HTTPS.
//! Credentials come from `WARDEN_REGISTRY_USERNAME` and
//! `WARDEN_REGISTRY_PASSWORD` for the registry `WARDEN_REGISTRY_HOST`
//! names, else from the docker config file
//! (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, its `auths`
//! entry for the registry), else none; they are never logged.

use std::path::PathBuf;
use std::sync::{Arc, Once};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::StreamExt as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::{Value, json};

use crate::artifact::{Artifact, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, PLUGIN_TOML_ANNOTATION, sha256_digest};
use crate::cache::Cache;
use crate::error::DistError;
use crate::keys::{PublicKey, SecretKey};
use crate::local::{SignatureFile, Verified};

use crate::signature::{PAYLOAD_MEDIA_TYPE, Payload, SIGNATURE_ANNOTATION};

/// The signature layer's annotation naming the key that signed (for
/// people; the signature decides).
pub const KEY_ID_ANNOTATION: &str = "dev.warden.key-id";
/// The OCI empty config, for signature manifests.
const EMPTY_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// Largest manifest read (a plugin's carries its plugin.toml).
const MAX_MANIFEST: usize = 4 << 20;
/// Largest config or signature payload read.
const MAX_SMALL_BLOB: u64 = 1 << 20;

/// Called as a transfer goes: what (e.g. `component`), bytes done, bytes
/// in all.
pub type Progress = Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

/// A registry client, with the cache it reads first and fills.
#[derive(Clone)]
pub struct Registry {
    client: Client,
    /// For loopback registries: plain HTTP.
    plain: Client,
    cache: Cache,
    progress: Option<Progress>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("cache", &self.cache.dir()).finish_non_exhaustive()
    }
}

/// A plugin fetched from a registry and verified, not yet written
/// anywhere.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Fetched {
    /// The reference asked for.
    pub reference: String,
    /// The artifact: plugin.toml, component, documents.
    pub artifact: Artifact,
    /// The signature, verified.
    pub verified: Verified,
    /// Whether it came from the cache without asking the registry (the
    /// registry could not be reached).
    pub offline: bool,
    pub(crate) signature: SignatureFile,
}

/// Parses `reference` (`registry/repository:tag` or `...@sha256:<hex>`).
pub fn parse_reference(reference: &str) -> Result<Reference, DistError> {
    reference.parse::<Reference>().map_err(|e| DistError::Registry {
        reference: reference.into(),
        message: format!(
            "not an OCI reference ({e}); write registry/repository:version, e.g. 127.0.0.1:5000/plugins/auth:1.0.0"
        ),
    })
}

impl Registry {
    /// A client using `cache`.
    pub fn new(cache: Cache) -> Registry {
        static RUSTLS: Once = Once::new();
        RUSTLS.call_once(|| {
            // Fails only if another provider is installed: that one serves.
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let insecure: Vec<String> = std::env::var("WARDEN_INSECURE_REGISTRIES")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        let config = |protocol| ClientConfig {
            protocol,
            read_timeout: Some(std::time::Duration::from_secs(60)),
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            user_agent: concat!("warden/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        Registry {
            client: Client::new(config(ClientProtocol::HttpsExcept(insecure))),
            plain: Client::new(config(ClientProtocol::Http)),
            cache,
            progress: None,
        }
    }

    /// Reports transfers to `progress`.
    pub fn with_progress(mut self, progress: Progress) -> Registry {
        self.progress = Some(progress);
        self
    }

    /// The cache.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The client for `reference`: plain HTTP for a loopback registry.
    fn client_for(&self, reference: &Reference) -> Client {
        match is_loopback(reference.resolve_registry()) {
            true => self.plain.clone(),
            false => self.client.clone(),
        }
    }

    /// Pushes the plugin `artifact` as `reference` and, with `key`, its
    /// signature (payload naming `reference` and the manifest digest) under
    /// the cosign tag `sha256-<hex>.sig`, before the tag itself, so a
    /// follower never sees the tag unsigned. Returns the manifest digest.
    pub async fn push(
        &self,
        reference: &str,
        artifact: &Artifact,
        key: Option<&SecretKey>,
    ) -> Result<String, DistError> {
        let image = parse_reference(reference)?;
        let client = self.client_for(&image);
        let auth = credentials(image.resolve_registry());
        let err = |e: OciDistributionError| registry_error(reference, e);
        client.auth(&image, &auth, oci_client::RegistryOperation::Push).await.map_err(err)?;
        self.push_blob(&client, &image, "config", &artifact.config).await.map_err(err)?;
        self.push_blob(&client, &image, "component", &artifact.component).await.map_err(err)?;
        let digest = artifact.digest();
        // The signature goes first: whoever sees the tag finds it signed.
        if let Some(key) = key {
            let signed_as = format!("{}/{}:{}", image.registry(), image.repository(), image.tag().unwrap_or("latest"));
            self.push_signature(&client, &image, &digest, &signed_as, key).await.map_err(err)?;
        }
        let content_type = http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE);
        client.push_manifest_raw(&image, artifact.manifest.clone(), content_type).await.map_err(err)?;
        Ok(digest)
    }

    async fn push_blob(
        &self,
        client: &Client,
        image: &Reference,
        what: &str,
        bytes: &[u8],
    ) -> Result<(), OciDistributionError> {
        let digest = sha256_digest(bytes);
        let total = bytes.len() as u64;
        if !client.blob_exists(image, &digest).await? {
            client.push_blob(image, bytes.to_vec(), &digest).await?;
        }
        if let Some(progress) = &self.progress {
            progress(what, total, total);
        }
        Ok(())
    }

    async fn push_signature(
        &self,
        client: &Client,
        image: &Reference,
        digest: &str,
        signed_as: &str,
        key: &SecretKey,
    ) -> Result<(), OciDistributionError> {
        let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let payload =
            Payload { reference: signed_as.into(), digest: digest.into(), timestamp: Some(timestamp) }.to_bytes();
        let signature = key.sign(&payload);
        self.push_blob(client, image, "signature", &payload).await?;
        self.push_blob(client, image, "config", b"{}").await?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": { "mediaType": EMPTY_CONFIG_MEDIA_TYPE, "digest": sha256_digest(b"{}"), "size": 2 },
            "layers": [{
                "mediaType": PAYLOAD_MEDIA_TYPE,
                "digest": sha256_digest(&payload),
                "size": payload.len(),
                "annotations": {
                    SIGNATURE_ANNOTATION: BASE64.encode(signature),
                    KEY_ID_ANNOTATION: key.public().id(),
                },
            }],
        });
        let tag = signature_tag(digest);
        let sig_ref = Reference::with_tag(image.registry().into(), image.repository().into(), tag);
        let content_type = http::HeaderValue::from_static(MANIFEST_MEDIA_TYPE);
        client.push_manifest_raw(&sig_ref, serde_json::to_vec(&manifest).unwrap_or_default(), content_type).await?;
        Ok(())
    }

    /// The versions of `repository` (`registry/repository`, a tag or
    /// digest after it is ignored): its tags that are semantic versions,
    /// highest first. Other tags (signatures, `latest`) are left out.
    pub async fn versions(&self, repository: &str) -> Result<Vec<semver::Version>, DistError> {
        let mut versions: Vec<semver::Version> =
            self.tags(repository).await?.iter().filter_map(|t| semver::Version::parse(t).ok()).collect();
        versions.sort_by(|a, b| b.cmp(a));
        Ok(versions)
    }

    /// The tags of `repository`, as the registry lists them.
    async fn tags(&self, repository: &str) -> Result<Vec<String>, DistError> {
        let image = parse_reference(repository)?;
        let client = self.client_for(&image);
        let auth = credentials(image.resolve_registry());
        let mut tags: Vec<String> = Vec::new();
        let mut last: Option<String> = None;
        // Pages of 1000, at most 100 pages: a repository with more tags
        // than that is not a plugin's.
        for _ in 0..100 {
            let page = client
                .list_tags(&image, &auth, Some(1000), last.as_deref())
                .await
                .map_err(|e| registry_error(repository, e))?;
            let done = page.tags.len() < 1000;
            last = page.tags.last().cloned();
            tags.extend(page.tags);
            if done || last.is_none() {
                break;
            }
        }
        Ok(tags)
    }

    /// Fetches `reference` and verifies it against `trusted`: the manifest
    /// is the one the reference names (its digest, when given), a
    /// signature under its cosign tag is by a trusted key over that digest,
    /// it was signed under the same repository and tag that were asked
    /// for, and the config and component are the bytes the manifest names.
    /// Nothing is written but the cache.
    pub async fn fetch(&self, reference: &str, trusted: &[PublicKey]) -> Result<Fetched, DistError> {
        let image = parse_reference(reference)?;
        let client = self.client_for(&image);
        let auth = credentials(image.resolve_registry());
        let (manifest, digest, offline) = self.manifest(&client, &auth, &image, reference).await?;
        let document: Value = serde_json::from_slice(&manifest).map_err(|e| DistError::Registry {
            reference: reference.into(),
            message: format!("the manifest {digest} is not JSON: {e}"),
        })?;
        let not_plugin = |why: &str| DistError::Registry {
            reference: reference.into(),
            message: format!("{digest} is not a Warden plugin: {why}; push plugins with `warden push`"),
        };
        let layers = document["layers"].as_array().map(Vec::as_slice).unwrap_or_default();
        let [layer] = layers else { return Err(not_plugin("it does not have exactly one layer")) };
        if layer["mediaType"] != LAYER_MEDIA_TYPE {
            return Err(not_plugin("its layer is not application/wasm"));
        }
        let Some(plugin_toml) = document["annotations"][PLUGIN_TOML_ANNOTATION].as_str() else {
            return Err(not_plugin("it has no plugin.toml annotation"));
        };
        let plugin_toml = plugin_toml.to_owned();
        let manifest_path = PathBuf::from("plugin.toml");
        let parsed = warden::Manifest::parse(&plugin_toml, &manifest_path)?;

        // The signature first: nothing big is downloaded for an unsigned
        // or untrusted artifact.
        let signatures = self.signatures(&client, &auth, &image, reference, &digest, offline).await?;
        let config_digest = document["config"]["digest"].as_str().unwrap_or_default();
        let layer_digest = layer["digest"].as_str().unwrap_or_default();
        let layer_size = layer["size"].as_u64().unwrap_or(u64::MAX);
        if layer_size > warden::DEFAULT_MAX_COMPONENT_BYTES {
            return Err(not_plugin(&format!(
                "its component is {layer_size} bytes, more than a component may have ({})",
                warden::DEFAULT_MAX_COMPONENT_BYTES
            )));
        }
        let mut refusal = None;
        let mut chosen = None;
        for (key_id, payload, signature) in signatures {
            // Checked with a placeholder component first: only the
            // signature, payload and manifest digest.
            let file = SignatureFile::from_parts(&key_id, &manifest, b"", &payload, &signature);
            match file.check_signature(&parsed.name, trusted) {
                Ok((_, signed)) => {
                    // Before anything big is downloaded: signed under this name?
                    check_identity(&image, reference, &parsed.name, &signed.reference)?;
                    chosen = Some((key_id, payload, signature));
                    break;
                }
                Err(e) => {
                    refusal.get_or_insert(e);
                }
            }
        }
        let Some((key_id, payload, signature)) = chosen else {
            return Err(refusal.unwrap_or_else(|| DistError::NotSigned {
                reference: reference.into(),
                digest: digest.clone(),
                tag: signature_tag(&digest),
            }));
        };
        let config = self.blob(&client, &image, reference, "config", config_digest, MAX_SMALL_BLOB, offline).await?;
        let component = self.blob(&client, &image, reference, "component", layer_digest, layer_size, offline).await?;
        let file = SignatureFile::from_parts(&key_id, &manifest, &config, &payload, &signature);
        // `blob` checked the component's bytes against `layer_digest`.
        let verified = file.verify(&parsed, &plugin_toml, layer_digest, trusted)?;
        let artifact = Artifact {
            name: parsed.name.clone(),
            version: parsed.version.to_string(),
            plugin_toml,
            component,
            config,
            manifest: manifest.to_vec(),
        };
        Ok(Fetched { reference: reference.into(), artifact, verified, offline, signature: file })
    }

    /// The manifest `image` names, its digest, and whether it came from the
    /// cache because the registry could not be reached.
    async fn manifest(
        &self,
        client: &Client,
        auth: &RegistryAuth,
        image: &Reference,
        reference: &str,
    ) -> Result<(Vec<u8>, String, bool), DistError> {
        if let Some(digest) = image.digest()
            && let Some(bytes) = self.cache.blob(digest)
        {
            return Ok((bytes, digest.to_owned(), false));
        }
        match client.pull_manifest_raw(image, auth, &[MANIFEST_MEDIA_TYPE]).await {
            Ok((bytes, _)) => {
                if bytes.len() > MAX_MANIFEST {
                    return Err(DistError::Registry {
                        reference: reference.into(),
                        message: format!("the manifest is {} bytes; a plugin's is at most {MAX_MANIFEST}", bytes.len()),
                    });
                }
                // Our own digest of the bytes: the registry's header is not
                // trusted, and a digest reference must name these bytes.
                let digest = sha256_digest(&bytes);
                if let Some(asked) = image.digest()
                    && asked != digest
                {
                    return Err(tampered(reference, "manifest", asked, digest));
                }
                self.cache.put(&digest, &bytes);
                if let Some(tag) = image.tag() {
                    self.cache.put_tag(image.registry(), image.repository(), tag, &digest);
                }
                Ok((bytes.to_vec(), digest, false))
            }
            Err(e) if is_unreachable(&e) => {
                let cached = image.tag().and_then(|t| self.cache.tag(image.registry(), image.repository(), t));
                match cached.and_then(|d| self.cache.blob(&d).map(|b| (b, d))) {
                    Some((bytes, digest)) => Ok((bytes, digest, true)),
                    None => Err(registry_error(reference, e)),
                }
            }
            Err(e) => Err(registry_error(reference, e)),
        }
    }

    /// The signatures stored for `digest`: (key id, payload, signature).
    async fn signatures(
        &self,
        client: &Client,
        auth: &RegistryAuth,
        image: &Reference,
        reference: &str,
        digest: &str,
        offline: bool,
    ) -> Result<Vec<(String, Vec<u8>, Vec<u8>)>, DistError> {
        let tag = signature_tag(digest);
        let sig_ref = Reference::with_tag(image.registry().into(), image.repository().into(), tag.clone());
        let sig_reference = format!("{}/{}:{tag}", image.registry(), image.repository());
        let cached = || self.cache.tag(image.registry(), image.repository(), &tag).and_then(|d| self.cache.blob(&d));
        let manifest = match offline {
            true => cached(),
            false => match client.pull_manifest_raw(&sig_ref, auth, &[MANIFEST_MEDIA_TYPE]).await {
                Ok((bytes, _)) if bytes.len() <= MAX_MANIFEST => {
                    let d = sha256_digest(&bytes);
                    self.cache.put(&d, &bytes);
                    self.cache.put_tag(image.registry(), image.repository(), &tag, &d);
                    Some(bytes.to_vec())
                }
                Ok(_) => None,
                Err(e) if is_not_found(&e) => None,
                Err(e) if is_unreachable(&e) => cached(),
                Err(e) => return Err(registry_error(&sig_reference, e)),
            },
        };
        let Some(manifest) = manifest else {
            return Err(DistError::NotSigned { reference: reference.into(), digest: digest.into(), tag });
        };
        let document: Value = serde_json::from_slice(&manifest).unwrap_or_default();
        let mut found = Vec::new();
        for layer in document["layers"].as_array().into_iter().flatten().take(16) {
            if layer["mediaType"] != PAYLOAD_MEDIA_TYPE {
                continue;
            }
            let Some(signature) = layer["annotations"][SIGNATURE_ANNOTATION].as_str() else { continue };
            let Ok(signature) = BASE64.decode(signature) else { continue };
            let key_id = layer["annotations"][KEY_ID_ANNOTATION].as_str().unwrap_or("an unknown key").to_owned();
            let payload_digest = layer["digest"].as_str().unwrap_or_default();
            let payload =
                self.blob(client, image, &sig_reference, "signature", payload_digest, MAX_SMALL_BLOB, offline).await?;
            found.push((key_id, payload, signature));
        }
        Ok(found)
    }

    /// The blob `digest` of at most `max` bytes, from the cache or the
    /// registry, checked against its digest.
    #[allow(clippy::too_many_arguments, reason = "one transfer's parts: client, image, names for errors, offline")]
    async fn blob(
        &self,
        client: &Client,
        image: &Reference,
        reference: &str,
        what: &str,
        digest: &str,
        max: u64,
        offline: bool,
    ) -> Result<Vec<u8>, DistError> {
        if let Some(bytes) = self.cache.blob(digest) {
            return Ok(bytes);
        }
        if offline {
            return Err(DistError::Registry {
                reference: reference.into(),
                message: format!("the registry cannot be reached and the {what} {digest} is not in the cache"),
            });
        }
        let mut stream = client.pull_blob_stream(image, digest).await.map_err(|e| registry_error(reference, e))?;
        let total = stream.content_length.unwrap_or(0).min(max);
        let mut bytes = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| match e.get_ref().and_then(|i| i.downcast_ref::<DigestError>()) {
                // The client checks the digest as the stream ends.
                Some(DigestError::VerificationError { actual, .. }) => {
                    tampered(reference, what, digest, actual.clone())
                }
                _ => DistError::Registry {
                    reference: reference.into(),
                    message: format!("the transfer of the {what} {digest} broke off: {e}"),
                },
            })?;
            if (bytes.len() + chunk.len()) as u64 > max {
                return Err(DistError::Registry {
                    reference: reference.into(),
                    message: format!(
                        "the registry sent more than the {max} bytes the manifest names for the {what} {digest}; nothing was installed"
                    ),
                });
            }
            bytes.extend_from_slice(&chunk);
            if let Some(progress) = &self.progress {
                progress(what, bytes.len() as u64, total.max(bytes.len() as u64));
            }
        }
        let found = sha256_digest(&bytes);
        if found != digest {
            return Err(tampered(reference, what, digest, found));
        }
        self.cache.put(digest, &bytes);
        Ok(bytes)
    }
}

/// Whether the registry `host[:port]` is `localhost` or a loopback address.
fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((h, port)) if !h.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The cosign tag of the signatures of `digest`: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// The artifact was signed under the repository asked for, and under the
/// tag asked for (when a tag was): a signed manifest served under another
/// plugin's name, or an older version's under a newer tag, is refused. A
/// signature naming the repository only (as cosign writes them) binds the
/// repository only.
fn check_identity(image: &Reference, reference: &str, plugin: &str, signed_as: &str) -> Result<(), DistError> {
    let signed = signed_as.parse::<Reference>().ok();
    let same_repo = signed.as_ref().is_some_and(|s| s.repository() == image.repository());
    let tag_named = signed_as.rsplit('/').next().is_some_and(|last| last.contains(':') || last.contains('@'));
    let same_tag = match image.tag().filter(|_| image.digest().is_none() && tag_named) {
        Some(tag) => signed.as_ref().and_then(Reference::tag) == Some(tag),
        None => true,
    };
    if same_repo && same_tag {
        return Ok(());
    }
    Err(DistError::Tampered {
        plugin: plugin.into(),
        what: "the name it was signed under",
        signed: signed_as.into(),
        found: format!(
            "{reference} (a signed artifact served under another name or tag: refuse it and check the registry)"
        ),
    })
}

fn tampered(reference: &str, what: &str, expected: &str, found: String) -> DistError {
    let what = match what {
        "component" | "config" | "manifest" => format!("a {what}"),
        "signature" => "a signature payload".into(),
        other => other.into(),
    };
    DistError::DigestMismatch { reference: reference.into(), what, expected: expected.into(), found }
}

fn is_not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(e.code, OciErrorCode::ManifestUnknown | OciErrorCode::NotFound | OciErrorCode::NameUnknown)
        }),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        _ => false,
    }
}

fn is_unreachable(e: &OciDistributionError) -> bool {
    matches!(e, OciDistributionError::RequestError(r) if r.is_connect() || r.is_timeout())
}

fn registry_error(reference: &str, e: OciDistributionError) -> DistError {
    let message = match &e {
        e if is_not_found(e) => "the registry has no such repository or tag; list versions with `warden versions`".into(),
        OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
            "the registry refused the credentials; set WARDEN_REGISTRY_USERNAME and WARDEN_REGISTRY_PASSWORD, or log in with docker".into()
        }
        OciDistributionError::DigestError(DigestError::VerificationError { expected, actual }) => {
            return tampered(reference, "manifest", expected, actual.clone());
        }
        e if is_unreachable(e) => format!("the registry cannot be reached ({e}) and nothing for it is in the cache"),
        e => format!("the registry failed: {e}"),
    };
    DistError::Registry { reference: reference.into(), message }
}

/// Credentials for `registry`: the environment, else the docker config.
fn credentials(registry: &str) -> RegistryAuth {
    // Only to the registry they are meant for.
    if let (Ok(host), Ok(user), Ok(password)) = (
        std::env::var("WARDEN_REGISTRY_HOST"),
        std::env::var("WARDEN_REGISTRY_USERNAME"),
        std::env::var("WARDEN_REGISTRY_PASSWORD"),
    ) && host == registry
    {
        return RegistryAuth::Basic(user, password);
    }
    let config = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .map(|d| d.join("config.json"));
    let Some(text) = config.and_then(|c| std::fs::read_to_string(c).ok()) else {
        return RegistryAuth::Anonymous;
    };
    let document: Value = serde_json::from_str(&text).unwrap_or_default();
    let auths = &document["auths"];
    let entry = [registry.to_owned(), format!("https://{registry}"), format!("http://{registry}")]
        .iter()
        .find_map(|k| auths.get(k))
        .cloned()
        .unwrap_or_default();
    if let Some(auth) = entry["auth"].as_str()
        && let Ok(decoded) = BASE64.decode(auth)
        && let Some((user, password)) = String::from_utf8_lossy(&decoded).split_once(':')
    {
        return RegistryAuth::Basic(user.to_owned(), password.to_owned());
    }
    match (entry["username"].as_str(), entry["password"].as_str()) {
        (Some(u), Some(p)) => RegistryAuth::Basic(u.to_owned(), p.to_owned()),
        _ => RegistryAuth::Anonymous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_registries_are_plain_http() {
        for host in ["localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000", "localhost"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["127.evil.example:5000", "registry.example.com", "10.0.0.1:5000", "[2001:db8::1]:443"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn signatures_bind_the_repository_and_the_tag_they_name() {
        let asked: Reference = "127.0.0.1:5000/plugins/a:1.1.0".parse().unwrap();
        let check = |signed: &str| check_identity(&asked, "asked", "a", signed).is_ok();
        assert!(check("127.0.0.1:5000/plugins/a:1.1.0"));
        assert!(check("mirror.example/plugins/a:1.1.0"), "a mirror keeps the repository");
        assert!(!check("127.0.0.1:5000/plugins/a:1.0.0"), "an older version re-tagged");
        assert!(!check("127.0.0.1:5000/plugins/b:1.1.0"), "another plugin's artifact");
        assert!(check("127.0.0.1:5000/plugins/a"), "cosign names the repository only");
        assert!(!check("127.0.0.1:5000/plugins/b"));
    }
}
