//! A plugin folder as an OCI artifact, in the CNCF wasm layout: an image
//! manifest whose config (`application/vnd.wasm.config.v0+json`) says what
//! the component is (created, `wasm`/`wasip2`, its layer digests, imports
//! and exports), with exactly one `application/wasm` layer, the component.
//! `plugin.toml` travels in the manifest's [`PLUGIN_TOML_ANNOTATION`], so
//! the manifest digest, which a signature covers, covers the component
//! (through its layer digest) and the manifest together.

use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use wit_component::DecodedWasm;

use crate::error::DistError;
use crate::keys::hex;

/// The OCI image manifest's media type.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The config's media type (CNCF wasm OCI artifact, v0).
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// The one layer's media type: the component.
pub const LAYER_MEDIA_TYPE: &str = "application/wasm";
/// The manifest annotation holding `plugin.toml`, as text.
pub const PLUGIN_TOML_ANNOTATION: &str = "dev.warden.plugin.toml";

/// A plugin as an artifact: its parts and the JSON documents that describe
/// them, as pushed to a registry or signed beside a folder.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// `[plugin] name`.
    pub name: String,
    /// `[plugin] version`.
    pub version: String,
    /// plugin.toml's text.
    pub plugin_toml: String,
    /// The component's bytes.
    pub component: Vec<u8>,
    /// The config document.
    pub config: Vec<u8>,
    /// The image manifest document; its digest names the artifact.
    pub manifest: Vec<u8>,
}

impl Artifact {
    /// The artifact of the plugin folder `dir` (plugin.toml and its
    /// component), created now.
    pub fn from_dir(dir: &Path) -> Result<Artifact, DistError> {
        let manifest = warden::Manifest::from_dir(dir)?;
        let plugin_toml = std::fs::read_to_string(&manifest.file).map_err(|e| DistError::io(&manifest.file, e))?;
        let component = read_component(&manifest.component)?;
        let (imports, exports) = interfaces(&component).map_err(|reason| DistError::SignatureInvalid {
            plugin: manifest.name.clone(),
            reason: format!("`{}` {reason}", manifest.component.display()),
        })?;
        let created = warden::rfc3339(std::time::SystemTime::now());
        let layer = sha256_digest(&component);
        let config = serde_json::to_vec(&json!({
            "created": created,
            "architecture": "wasm",
            "os": "wasip2",
            "layerDigests": [layer],
            "component": { "imports": imports, "exports": exports },
        }))
        .unwrap_or_default();
        let document = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "artifactType": CONFIG_MEDIA_TYPE,
            "config": { "mediaType": CONFIG_MEDIA_TYPE, "digest": sha256_digest(&config), "size": config.len() },
            "layers": [{
                "mediaType": LAYER_MEDIA_TYPE,
                "digest": layer,
                "size": component.len(),
                "annotations": { "org.opencontainers.image.title": file_name(&manifest.component) },
            }],
            "annotations": {
                "org.opencontainers.image.created": created,
                "org.opencontainers.image.title": manifest.name,
                "org.opencontainers.image.version": manifest.version.to_string(),
                PLUGIN_TOML_ANNOTATION: plugin_toml,
            },
        });
        Ok(Artifact {
            name: manifest.name,
            version: manifest.version.to_string(),
            plugin_toml,
            component,
            config,
            manifest: serde_json::to_vec(&document).unwrap_or_default(),
        })
    }

    /// The artifact's name: the digest of its manifest, `sha256:<hex>`.
    pub fn digest(&self) -> String {
        sha256_digest(&self.manifest)
    }

    /// Checks that `manifest` and `config` (the signed documents) describe
    /// exactly the component of digest `component` (`sha256:<hex>`, see
    /// [`sha256_digest`]) and `plugin_toml`, for the plugin `plugin`.
    pub fn check(
        plugin: &str,
        manifest: &[u8],
        config: &[u8],
        component: &str,
        plugin_toml: &str,
    ) -> Result<(), DistError> {
        let invalid = |reason: String| DistError::SignatureInvalid { plugin: plugin.into(), reason };
        let tampered = |what, signed: &str, found: String| DistError::Tampered {
            plugin: plugin.into(),
            what,
            signed: signed.into(),
            found,
        };
        let document: Value =
            serde_json::from_slice(manifest).map_err(|e| invalid(format!("the signed manifest is not JSON: {e}")))?;
        if document["mediaType"] != MANIFEST_MEDIA_TYPE || document["config"]["mediaType"] != CONFIG_MEDIA_TYPE {
            return Err(invalid(format!("the signed manifest is not a {MANIFEST_MEDIA_TYPE} with a wasm config")));
        }
        let layers = document["layers"].as_array().map(Vec::as_slice).unwrap_or_default();
        let [layer] = layers else {
            return Err(invalid(format!("the signed manifest has {} layers; a plugin has exactly one", layers.len())));
        };
        if layer["mediaType"] != LAYER_MEDIA_TYPE {
            return Err(invalid(format!("the signed layer is not {LAYER_MEDIA_TYPE}")));
        }
        let signed = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let layer_digest = signed(&layer["digest"]);
        if layer_digest != component {
            return Err(tampered("the component", &layer_digest, component.to_owned()));
        }
        let config_digest = signed(&document["config"]["digest"]);
        let found = sha256_digest(config);
        if config_digest != found {
            return Err(tampered("the config", &config_digest, found));
        }
        let signed_toml = document["annotations"][PLUGIN_TOML_ANNOTATION].as_str();
        if signed_toml != Some(plugin_toml) {
            let short =
                |t: &str| format!("plugin.toml of {} bytes, sha256:{}", t.len(), &hex(&Sha256::digest(t))[..16]);
            return Err(tampered("plugin.toml", &signed_toml.map_or("none".into(), short), short(plugin_toml)));
        }
        Ok(())
    }
}

/// `sha256:<hex>` of `bytes`, as OCI names content.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

pub(crate) fn read_component(path: &Path) -> Result<Vec<u8>, DistError> {
    let size = std::fs::metadata(path).map_err(|e| DistError::io(path, e))?.len();
    if size > warden::DEFAULT_MAX_COMPONENT_BYTES {
        let message =
            format!("{size} bytes is more than a component may have ({})", warden::DEFAULT_MAX_COMPONENT_BYTES);
        return Err(DistError::io(path, std::io::Error::other(message)));
    }
    std::fs::read(path).map_err(|e| DistError::io(path, e))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// The interfaces and functions a component imports and exports, by WIT
/// name.
fn interfaces(component: &[u8]) -> Result<(Vec<String>, Vec<String>), String> {
    let decoded = wit_component::decode(component).map_err(|e| format!("is not a WebAssembly component: {e:#}"))?;
    let DecodedWasm::Component(resolve, world) = decoded else {
        return Err("is a WIT package, not a component".into());
    };
    let world = &resolve.worlds[world];
    let imports = world.imports.keys().map(|k| resolve.name_world_key(k)).collect();
    let exports = world.exports.keys().map(|k| resolve.name_world_key(k)).collect();
    Ok((imports, exports))
}
