//! The `crypto` capability (`example:scanner/crypto`): authenticated
//! encryption with ChaCha20-Poly1305 (RFC 8439, RustCrypto's
//! `chacha20poly1305`) under keys the host holds.
//!
//! Plugins name a key by its id; the key itself stays in the host's
//! [`Keyring`]. `encrypt` draws a fresh random 96-bit nonce from the OS for
//! every call and returns `nonce || ciphertext || tag`; `decrypt` takes
//! that back. A plaintext (or sealed input) may be at most
//! [`MAX_PLAINTEXT_BYTES`].
//!
//! Granted per operation in `plugin.toml`:
//!
//! ```toml
//! [permissions]
//! crypto = ["encrypt"]            # or ["encrypt", "decrypt"]
//! ```
//!
//! Error codes a plugin sees: `capability-denied` (the operation is not
//! granted; audited once per call), `unknown-key`, `too-large`,
//! `decrypt-failed`, `unavailable` (the OS gave no random bytes).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, Generate};
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use warden::capability::{Capability, GrantContext, Has, HostView, Linker};
use warden::toml;

use crate::bindings::example::scanner::types::ScanError;
use crate::bindings::example::scanner::{crypto, types};

/// Largest plaintext `encrypt` seals, and (plus [`OVERHEAD`]) the largest
/// input `decrypt` opens: 1 MiB.
pub const MAX_PLAINTEXT_BYTES: usize = 1 << 20;

/// Bytes sealing adds: a 12-byte nonce and a 16-byte tag.
pub const OVERHEAD: usize = NONCE_BYTES + TAG_BYTES;

const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;

/// The operations a grant may list.
const OPERATIONS: [&str; 2] = ["encrypt", "decrypt"];

/// The host's keys, by key id. Plugins never see them: they name one in
/// each call.
#[derive(Default)]
pub struct Keyring {
    keys: BTreeMap<String, ChaCha20Poly1305>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the keys themselves.
        f.debug_struct("Keyring").field("key_ids", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// Adds (or replaces) the 256-bit key `key_id`.
    pub fn insert(&mut self, key_id: impl Into<String>, key: [u8; 32]) {
        self.keys.insert(key_id.into(), ChaCha20Poly1305::new(&Key::from(key)));
    }

    /// Adds a fresh random key from the OS under `key_id`: what it seals
    /// can be opened only by this keyring.
    pub fn insert_random(&mut self, key_id: impl Into<String>) -> Result<(), KeyError> {
        let key = Key::try_generate().map_err(|e| KeyError::Random(e.to_string()))?;
        self.keys.insert(key_id.into(), ChaCha20Poly1305::new(&key));
        Ok(())
    }

    /// The key ids, sorted.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    fn cipher(&self, key_id: &str) -> Result<&ChaCha20Poly1305, CryptoError> {
        self.keys.get(key_id).ok_or_else(|| CryptoError::UnknownKey {
            key_id: key_id.to_owned(),
            known: self.key_ids().map(str::to_owned).collect(),
        })
    }

    /// Seals `plaintext` with key `key_id`: a random 96-bit nonce from the
    /// OS, then the ciphertext and its 16-byte tag.
    pub fn encrypt(&self, key_id: &str, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let cipher = self.cipher(key_id)?;
        if plaintext.len() > MAX_PLAINTEXT_BYTES {
            return Err(CryptoError::TooLarge { len: plaintext.len(), max: MAX_PLAINTEXT_BYTES });
        }
        let nonce = Nonce::try_generate().map_err(|e| CryptoError::Random(e.to_string()))?;
        let ciphertext = cipher
            .encrypt(&nonce, plaintext)
            .map_err(|_| CryptoError::TooLarge { len: plaintext.len(), max: MAX_PLAINTEXT_BYTES })?;
        let mut sealed = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    /// Opens what [`encrypt`](Self::encrypt) sealed with key `key_id`.
    /// Fails with [`CryptoError::DecryptFailed`] if `sealed` was made with
    /// another key or changed since.
    pub fn decrypt(&self, key_id: &str, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let cipher = self.cipher(key_id)?;
        if sealed.len() > MAX_PLAINTEXT_BYTES + OVERHEAD {
            return Err(CryptoError::TooLarge { len: sealed.len(), max: MAX_PLAINTEXT_BYTES + OVERHEAD });
        }
        if sealed.len() < OVERHEAD {
            return Err(CryptoError::DecryptFailed);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        let nonce = Nonce::try_from(nonce).map_err(|_| CryptoError::DecryptFailed)?;
        cipher.decrypt(&nonce, ciphertext).map_err(|_| CryptoError::DecryptFailed)
    }
}

/// A 256-bit key from text: 64 hex digits (surrounding whitespace ignored).
pub fn key_from_hex(text: &str) -> Result<[u8; 32], KeyError> {
    let text = text.trim();
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(KeyError::Format);
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| KeyError::Format)?;
    }
    Ok(key)
}

/// A key that could not be made or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not a key.
    #[error("a key is 64 hex digits (32 bytes), e.g. the output of `openssl rand -hex 32`")]
    Format,
    /// The OS gave no random bytes.
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(String),
}

/// Why [`Keyring::encrypt`] or [`Keyring::decrypt`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// No key has this id.
    #[error("no host key has id '{key_id}'; this host holds: {}", known.join(", "))]
    UnknownKey {
        /// The id asked for.
        key_id: String,
        /// The ids the keyring holds.
        known: Vec<String>,
    },
    /// The input is over the size bound.
    #[error("{len} bytes is over the limit of {max} bytes; seal large data in parts")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Made with another key, or changed since it was sealed.
    #[error("the sealed bytes do not open with this key: sealed with another key, or changed since")]
    DecryptFailed,
    /// The OS gave no random bytes for a nonce.
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(String),
}

impl CryptoError {
    /// The code a plugin sees: `unknown-key`, `too-large`,
    /// `decrypt-failed` or `unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            CryptoError::UnknownKey { .. } => "unknown-key",
            CryptoError::TooLarge { .. } => "too-large",
            CryptoError::DecryptFailed => "decrypt-failed",
            CryptoError::Random(_) => "unavailable",
        }
    }
}

/// What a plugin's `[permissions] crypto` grants.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CryptoGrant {
    /// `"encrypt"` is listed.
    pub encrypt: bool,
    /// `"decrypt"` is listed.
    pub decrypt: bool,
}

impl CryptoGrant {
    /// Reads `[permissions] crypto`: absent grants nothing; otherwise an
    /// array of distinct `"encrypt"` / `"decrypt"`. The error says which
    /// entry is wrong and what to write.
    pub fn parse(value: Option<&toml::Value>) -> Result<CryptoGrant, String> {
        let mut grant = CryptoGrant::default();
        let Some(value) = value else { return Ok(grant) };
        let toml::Value::Array(entries) = value else {
            return Err(format!(
                "expected a list of operations, found {}; write crypto = [\"encrypt\"] or crypto = [\"encrypt\", \"decrypt\"]",
                describe(value)
            ));
        };
        for (i, entry) in entries.iter().enumerate() {
            let op = match entry {
                toml::Value::String(op) => op.as_str(),
                other => {
                    return Err(format!(
                        "entry {i} is {}, not an operation; list \"encrypt\" and/or \"decrypt\"",
                        describe(other)
                    ));
                }
            };
            let flag = match op {
                "encrypt" => &mut grant.encrypt,
                "decrypt" => &mut grant.decrypt,
                _ => {
                    return Err(format!(
                        "entry {i}, {op:?}, is not a crypto operation; the operations are \"encrypt\" and \"decrypt\", e.g. crypto = [\"encrypt\"]"
                    ));
                }
            };
            if *flag {
                return Err(format!("entry {i}, {op:?}, is listed twice; list each operation once"));
            }
            *flag = true;
        }
        Ok(grant)
    }

    /// The grant to write in `plugin.toml` to also allow `op`, e.g.
    /// `crypto = ["encrypt", "decrypt"]`.
    fn with(self, op: &str) -> String {
        let listed = OPERATIONS
            .iter()
            .filter(|o| **o == op || (**o == "encrypt" && self.encrypt) || (**o == "decrypt" && self.decrypt));
        let list: Vec<String> = listed.map(|o| format!("{o:?}")).collect();
        format!("crypto = [{}]", list.join(", "))
    }
}

/// A TOML value's kind and the value, for error messages.
fn describe(value: &toml::Value) -> String {
    format!("{} {value}", value.type_str())
}

/// The capability: register it with
/// `warden::Runtime::builder().capability(Crypto::new(keys))`.
#[derive(Debug, Clone)]
pub struct Crypto {
    keys: Arc<Keyring>,
}

impl Crypto {
    /// The capability serving `keys` to every plugin granted it. Keep a
    /// clone of the `Arc` to open sealed results on the host side.
    pub fn new(keys: Arc<Keyring>) -> Crypto {
        Crypto { keys }
    }
}

/// The crypto state of one plugin instance: its grant and the host's keys.
pub struct CryptoState {
    grant: CryptoGrant,
    keys: Arc<Keyring>,
}

impl Capability for Crypto {
    type Grant = CryptoGrant;
    type State = CryptoState;

    fn name(&self) -> &str {
        "crypto"
    }

    fn interfaces(&self) -> &[&str] {
        // `types` holds only types: Rust guests (wit-bindgen) do not import
        // it, components from other toolchains may; an empty instance
        // satisfies them.
        &["example:scanner/crypto", "example:scanner/types"]
    }

    fn permissions(&self) -> &[&str] {
        &["crypto"]
    }

    fn add_to_linker(&self, linker: &mut Linker) -> wasmtime::Result<()> {
        types::add_to_linker::<_, Has<CryptoState>>(linker, warden::capability::view)?;
        crypto::add_to_linker::<_, Has<CryptoState>>(linker, warden::capability::view)
    }

    fn grant(&self, cx: &GrantContext<'_>) -> Result<CryptoGrant, warden::Error> {
        CryptoGrant::parse(cx.permission("crypto")).map_err(|message| cx.invalid("crypto", message))
    }

    fn instantiate(&self, grant: &Arc<CryptoGrant>) -> wasmtime::Result<CryptoState> {
        Ok(CryptoState { grant: **grant, keys: Arc::clone(&self.keys) })
    }
}

impl From<warden::capability::Refusal> for ScanError {
    fn from(refusal: warden::capability::Refusal) -> ScanError {
        ScanError { code: refusal.code, message: refusal.message }
    }
}

/// Runs `op` (`"encrypt"` or `"decrypt"`) for the calling plugin if its
/// grant lists it, refusing it (audited) otherwise; a failure becomes the
/// plugin's error with its code.
fn run(
    view: &mut HostView<'_, CryptoState>,
    op: &str,
    work: impl FnOnce(&Keyring) -> Result<Vec<u8>, CryptoError>,
) -> Result<Vec<u8>, ScanError> {
    let function = format!("crypto.{op}");
    let grant = view.state().grant;
    let granted = if op == "encrypt" { grant.encrypt } else { grant.decrypt };
    if !granted {
        return Err(view.deny(&function, &grant.with(op)).into());
    }
    let keys = Arc::clone(&view.state().keys);
    work(&keys).map_err(|e| {
        let message = format!("plugin '{}': {function} failed: {e}", view.plugin());
        view.refuse(&function, e.code(), message).into()
    })
}

impl crypto::Host for HostView<'_, CryptoState> {
    fn encrypt(&mut self, key_id: String, plaintext: Vec<u8>) -> Result<Vec<u8>, ScanError> {
        run(self, "encrypt", |keys| keys.encrypt(&key_id, &plaintext))
    }

    fn decrypt(&mut self, key_id: String, sealed: Vec<u8>) -> Result<Vec<u8>, ScanError> {
        run(self, "decrypt", |keys| keys.decrypt(&key_id, &sealed))
    }
}

impl types::Host for HostView<'_, CryptoState> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        let mut keys = Keyring::new();
        keys.insert("scanner", [1; 32]);
        keys.insert("other", [2; 32]);
        keys
    }

    #[test]
    fn round_trip() {
        let keys = keyring();
        let secret = b"password=hunter2";
        let sealed = keys.encrypt("scanner", secret).unwrap();
        assert_eq!(sealed.len(), secret.len() + OVERHEAD);
        assert!(!sealed.windows(secret.len()).any(|w| w == secret), "the plaintext is not in the sealed bytes");
        assert_eq!(keys.decrypt("scanner", &sealed).unwrap(), secret);
        // Empty plaintexts seal too.
        let empty = keys.encrypt("scanner", b"").unwrap();
        assert_eq!(keys.decrypt("scanner", &empty).unwrap(), b"");
    }

    #[test]
    fn every_seal_has_a_fresh_nonce() {
        let keys = keyring();
        let a = keys.encrypt("scanner", b"same").unwrap();
        let b = keys.encrypt("scanner", b"same").unwrap();
        assert_ne!(a[..NONCE_BYTES], b[..NONCE_BYTES]);
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_key_fails() {
        let keys = keyring();
        let sealed = keys.encrypt("scanner", b"secret").unwrap();
        assert_eq!(keys.decrypt("other", &sealed), Err(CryptoError::DecryptFailed));
        // The same id with other key bytes (another host) fails too.
        let mut elsewhere = Keyring::new();
        elsewhere.insert("scanner", [9; 32]);
        assert_eq!(elsewhere.decrypt("scanner", &sealed), Err(CryptoError::DecryptFailed));
    }

    #[test]
    fn tampered_ciphertext_fails() {
        let keys = keyring();
        let sealed = keys.encrypt("scanner", b"secret").unwrap();
        for i in [0, NONCE_BYTES, sealed.len() - 1] {
            let mut tampered = sealed.clone();
            tampered[i] ^= 1;
            assert_eq!(keys.decrypt("scanner", &tampered), Err(CryptoError::DecryptFailed), "byte {i} flipped");
        }
        assert_eq!(keys.decrypt("scanner", &sealed[..sealed.len() - 1]), Err(CryptoError::DecryptFailed));
        assert_eq!(keys.decrypt("scanner", &sealed[..OVERHEAD - 1]), Err(CryptoError::DecryptFailed));
        assert_eq!(keys.decrypt("scanner", &[]), Err(CryptoError::DecryptFailed));
    }

    #[test]
    fn unknown_key_and_size_bound() {
        let keys = keyring();
        let err = keys.encrypt("nope", b"x").unwrap_err();
        assert_eq!(err.code(), "unknown-key");
        assert_eq!(err.to_string(), "no host key has id 'nope'; this host holds: other, scanner");
        assert_eq!(keys.decrypt("nope", &[0; 40]).unwrap_err().code(), "unknown-key");

        let big = vec![0u8; MAX_PLAINTEXT_BYTES + 1];
        let err = keys.encrypt("scanner", &big).unwrap_err();
        assert_eq!(err, CryptoError::TooLarge { len: MAX_PLAINTEXT_BYTES + 1, max: MAX_PLAINTEXT_BYTES });
        assert_eq!(err.code(), "too-large");
        let largest = vec![0u8; MAX_PLAINTEXT_BYTES];
        let sealed = keys.encrypt("scanner", &largest).unwrap();
        assert_eq!(keys.decrypt("scanner", &sealed).unwrap(), largest);
        let mut over = sealed;
        over.push(0);
        assert_eq!(keys.decrypt("scanner", &over).unwrap_err().code(), "too-large");
    }

    #[test]
    fn random_keys_differ() {
        let mut keys = Keyring::new();
        keys.insert_random("a").unwrap();
        keys.insert_random("b").unwrap();
        let sealed = keys.encrypt("a", b"x").unwrap();
        assert_eq!(keys.decrypt("b", &sealed), Err(CryptoError::DecryptFailed));
        assert_eq!(format!("{keys:?}"), r#"Keyring { key_ids: ["a", "b"] }"#);
    }

    #[test]
    fn hex_keys() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF\n";
        let key = key_from_hex(hex).unwrap();
        assert_eq!(key[..4], [0x00, 0x11, 0x22, 0x33]);
        assert_eq!(key[31], 0xff);
        assert!(matches!(key_from_hex("abcd"), Err(KeyError::Format)));
        assert!(matches!(key_from_hex(&"zz".repeat(32)), Err(KeyError::Format)));
        // Multi-byte characters of the right byte length are not hex.
        assert!(matches!(key_from_hex(&"é".repeat(32)), Err(KeyError::Format)));
    }

    fn parse(text: &str) -> Result<CryptoGrant, String> {
        let table: toml::Table = toml::from_str(text).unwrap();
        CryptoGrant::parse(table.get("crypto"))
    }

    #[test]
    fn grants() {
        let none = CryptoGrant::default();
        assert_eq!(CryptoGrant::parse(None), Ok(none));
        assert_eq!(parse("crypto = []"), Ok(none));
        assert_eq!(parse(r#"crypto = ["encrypt"]"#), Ok(CryptoGrant { encrypt: true, decrypt: false }));
        assert_eq!(parse(r#"crypto = ["decrypt"]"#), Ok(CryptoGrant { encrypt: false, decrypt: true }));
        assert_eq!(parse(r#"crypto = ["decrypt", "encrypt"]"#), Ok(CryptoGrant { encrypt: true, decrypt: true }));
    }

    #[test]
    fn bad_grants_name_the_entry() {
        let err = parse(r#"crypto = ["encrypt", "sign"]"#).unwrap_err();
        assert!(err.starts_with(r#"entry 1, "sign", is not a crypto operation"#), "{err}");
        let err = parse(r#"crypto = ["encrypt", "encrypt"]"#).unwrap_err();
        assert_eq!(err, r#"entry 1, "encrypt", is listed twice; list each operation once"#);
        let err = parse(r#"crypto = ["encrypt", 3]"#).unwrap_err();
        assert!(err.starts_with("entry 1 is integer 3, not an operation"), "{err}");
        let err = parse("crypto = true").unwrap_err();
        assert!(err.starts_with("expected a list of operations, found boolean true;"), "{err}");
        assert!(err.contains(r#"crypto = ["encrypt"]"#), "{err}");
        let err = parse(r#"crypto = "encrypt""#).unwrap_err();
        assert!(err.starts_with(r#"expected a list of operations, found string "encrypt";"#), "{err}");
    }

    #[test]
    fn denial_hints_add_the_operation() {
        let none = CryptoGrant::default();
        assert_eq!(none.with("encrypt"), r#"crypto = ["encrypt"]"#);
        let decrypt_only = CryptoGrant { encrypt: false, decrypt: true };
        assert_eq!(decrypt_only.with("encrypt"), r#"crypto = ["encrypt", "decrypt"]"#);
        let encrypt_only = CryptoGrant { encrypt: true, decrypt: false };
        assert_eq!(encrypt_only.with("decrypt"), r#"crypto = ["encrypt", "decrypt"]"#);
    }
}
