//! ed25519 keys: a secret key in a PKCS#8 PEM file (mode 0600) and its
//! public key in an SPKI PEM file, as `openssl` and cosign read them. A
//! key's id is `ed25519:` and the first 16 hex digits of the SHA-256 of
//! its public key (SPKI DER): what errors, audit records and `warden
//! verify` show.

use std::io::Write as _;
use std::path::Path;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::error::DistError;

/// Largest key file read: a PEM key is a few hundred bytes.
const MAX_KEY_FILE: u64 = 16 << 10;

/// A secret signing key.
pub struct SecretKey(SigningKey);

/// A public key, which verifies what its secret key signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: String,
}

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> SecretKey {
        SecretKey(SigningKey::generate(&mut rand_core::OsRng))
    }

    /// Its public key.
    pub fn public(&self) -> PublicKey {
        PublicKey::new(self.0.verifying_key())
    }

    /// Reads a PKCS#8 PEM file (`-----BEGIN PRIVATE KEY-----`).
    pub fn read(path: &Path) -> Result<SecretKey, DistError> {
        let text = read_key_file(path)?;
        SigningKey::from_pkcs8_pem(&text).map(SecretKey).map_err(|e| DistError::Key {
            path: path.into(),
            message: format!("not an ed25519 private key in PKCS#8 PEM ({e}); make one with `warden keygen`"),
        })
    }

    /// Writes the key as PKCS#8 PEM to a new file that only its owner may
    /// read (mode 0600); an existing file is never overwritten.
    pub fn write(&self, path: &Path) -> Result<(), DistError> {
        let pem = self
            .0
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| DistError::Key { path: path.into(), message: format!("cannot encode the key: {e}") })?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(|e| DistError::io(path, e))?;
        file.write_all(pem.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| DistError::io(path, e))
    }

    /// Signs `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.public().id)
    }
}

impl PublicKey {
    fn new(key: VerifyingKey) -> PublicKey {
        let der = key.to_public_key_der().map(|d| d.as_bytes().to_vec()).unwrap_or_default();
        let hash = Sha256::digest(&der);
        let id = format!("ed25519:{}", hex(&hash[..8]));
        PublicKey { key, id }
    }

    /// `ed25519:` and 16 hex digits: the key's short, stable name.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Reads an SPKI PEM file (`-----BEGIN PUBLIC KEY-----`).
    pub fn read(path: &Path) -> Result<PublicKey, DistError> {
        let text = read_key_file(path)?;
        PublicKey::from_pem(&text).map_err(|message| DistError::Key { path: path.into(), message })
    }

    /// Parses an SPKI PEM text.
    pub fn from_pem(text: &str) -> Result<PublicKey, String> {
        VerifyingKey::from_public_key_pem(text)
            .map(PublicKey::new)
            .map_err(|e| format!("not an ed25519 public key in SPKI PEM ({e}); `warden keygen` writes one (.pub)"))
    }

    /// The key as SPKI PEM.
    pub fn to_pem(&self) -> String {
        self.key.to_public_key_pem(LineEnding::LF).unwrap_or_default()
    }

    /// Writes the key as SPKI PEM to a new file (never overwriting one).
    pub fn write(&self, path: &Path) -> Result<(), DistError> {
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| DistError::io(path, e))?;
        file.write_all(self.to_pem().as_bytes()).map_err(|e| DistError::io(path, e))
    }

    /// Whether `signature` is this key's signature of `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 64]>::try_from(signature) else { return false };
        self.key.verify(message, &Signature::from_bytes(&bytes)).is_ok()
    }
}

fn read_key_file(path: &Path) -> Result<String, DistError> {
    let size = std::fs::metadata(path).map_err(|e| DistError::io(path, e))?.len();
    if size > MAX_KEY_FILE {
        return Err(DistError::Key { path: path.into(), message: format!("{size} bytes is too large for a key file") });
    }
    std::fs::read_to_string(path).map_err(|e| DistError::io(path, e))
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_pem_files_and_the_secret_one_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate();
        key.write(&dir.path().join("k.key")).unwrap();
        key.public().write(&dir.path().join("k.pub")).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join("k.key")).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(dir.path().join("k.key")).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{text}");
        let read = SecretKey::read(&dir.path().join("k.key")).unwrap();
        let public = PublicKey::read(&dir.path().join("k.pub")).unwrap();
        assert_eq!(read.public(), public);
        assert!(public.id().starts_with("ed25519:") && public.id().len() == 24, "{}", public.id());
        assert!(public.verifies(b"m", &read.sign(b"m")));
        assert!(!public.verifies(b"other", &read.sign(b"m")));
        assert!(!SecretKey::generate().public().verifies(b"m", &read.sign(b"m")));

        let again = key.write(&dir.path().join("k.key")).unwrap_err();
        assert_eq!(again.kind(), "io", "an existing key file is never overwritten");
        let wrong = SecretKey::read(&dir.path().join("k.pub")).unwrap_err();
        assert!(wrong.to_string().contains("not an ed25519 private key"), "{wrong}");
    }
}
