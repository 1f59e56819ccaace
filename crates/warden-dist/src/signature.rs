//! What is signed: cosign's "simple signing" payload, a JSON document that
//! names the artifact (`docker-reference`) and its manifest digest
//! (`docker-manifest-digest`). The signature is ed25519 over the payload's
//! exact bytes. In a registry the payload is the layer of a signature
//! manifest tagged `sha256-<hex>.sig`, with the base64 signature in the
//! layer's [`SIGNATURE_ANNOTATION`], as cosign stores it.

use serde_json::{Value, json};

/// The payload's media type.
pub const PAYLOAD_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding the base64 signature in a registry.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The payload's `critical.type`.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// The parts of a payload a verifier checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// What the signer named the artifact, e.g. `registry.example/team/auth:1.2.0`.
    pub reference: String,
    /// The signed manifest digest, `sha256:<hex>`.
    pub digest: String,
    /// When it was signed (seconds since the epoch), if the payload says.
    pub timestamp: Option<u64>,
}

impl Payload {
    /// The payload's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut optional = json!({ "creator": concat!("warden ", env!("CARGO_PKG_VERSION")) });
        if let Some(t) = self.timestamp {
            optional["timestamp"] = json!(t);
        }
        let payload = json!({
            "critical": {
                "identity": { "docker-reference": self.reference },
                "image": { "docker-manifest-digest": self.digest },
                "type": SIGNATURE_TYPE,
            },
            "optional": optional,
        });
        serde_json::to_vec(&payload).unwrap_or_default()
    }

    /// Reads a payload; `Err` says what is missing or wrong.
    pub fn parse(bytes: &[u8]) -> Result<Payload, String> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("the payload is not JSON: {e}"))?;
        let critical = &value["critical"];
        if critical["type"] != SIGNATURE_TYPE {
            return Err(format!("the payload's critical.type is not {SIGNATURE_TYPE:?}"));
        }
        let text =
            |v: &Value, what: &str| v.as_str().map(str::to_owned).ok_or_else(|| format!("the payload has no {what}"));
        // cosign writes `docker-manifest-digest`; early documents spelt it
        // with a capital D.
        let image = &critical["image"];
        let digest = image.get("docker-manifest-digest").or_else(|| image.get("Docker-manifest-digest"));
        Ok(Payload {
            reference: text(&critical["identity"]["docker-reference"], "critical.identity.docker-reference")?,
            digest: text(digest.unwrap_or(&Value::Null), "critical.image.docker-manifest-digest")?,
            timestamp: value["optional"]["timestamp"].as_u64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_foreign_ones_are_refused() {
        let p = Payload { reference: "r/x:1.0.0".into(), digest: "sha256:ab".into(), timestamp: Some(7) };
        assert_eq!(Payload::parse(&p.to_bytes()).unwrap(), p);
        let cosign = br#"{"critical":{"identity":{"docker-reference":"r"},"image":{"Docker-manifest-digest":"sha256:cd"},"type":"cosign container image signature"},"optional":null}"#;
        assert_eq!(Payload::parse(cosign).unwrap().digest, "sha256:cd");
        let other = br#"{"critical":{"type":"something else"}}"#;
        assert!(Payload::parse(other).unwrap_err().contains("critical.type"));
        assert!(Payload::parse(b"nope").is_err());
    }
}
