//! On-disk cache of compiled components.
//!
//! Compiling a component takes tens of milliseconds; loading a compiled one
//! takes microseconds. Entries are keyed by the sha256 of the wasm bytes and
//! a hash of the engine's settings, so a change of wasmtime version or
//! configuration never loads a stale artifact.
//!
//! Deserializing compiled code runs it as native code, so an entry is only
//! deserialized if Warden wrote it: every entry carries an HMAC-SHA256 over
//! its contents, keyed by a secret created in the cache directory (mode 0600)
//! the first time the cache is opened. A tampered, truncated or foreign entry
//! fails the check, is ignored (with a warning) and is rewritten after a
//! fresh compile.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::error::{Error, Result};

const MAGIC: &[u8; 16] = b"WARDEN-CWASM-v1\n";
const KEY_FILE: &str = "cache.key";

type HmacSha256 = Hmac<Sha256>;

/// A compile cache directory.
pub(crate) struct Cache {
    dir: PathBuf,
    key: [u8; 32],
    engine_hash: [u8; 32],
}

impl Cache {
    /// Opens (creating if needed) the cache directory for `engine`.
    pub(crate) fn open(dir: &Path, engine: &Engine) -> Result<Cache> {
        create_private_dir(dir)?;
        let key = load_or_create_key(&dir.join(KEY_FILE))?;
        let mut hasher = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Cache { dir: dir.to_owned(), key, engine_hash: hasher.0.finalize().into() })
    }

    fn entry_path(&self, wasm_sha256: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{}-{}.cwasm", hex(wasm_sha256), &hex(&self.engine_hash)[..16]))
    }

    fn mac(&self, wasm_sha256: &[u8; 32], artifact: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC accepts any key length");
        mac.update(MAGIC);
        mac.update(&self.engine_hash);
        mac.update(wasm_sha256);
        mac.update(artifact);
        mac
    }

    /// Returns the cached component for these wasm bytes, if a valid entry
    /// written by this cache exists.
    pub(crate) fn get(&self, engine: &Engine, wasm_sha256: &[u8; 32]) -> Option<Component> {
        let path = self.entry_path(wasm_sha256);
        let bytes = fs::read(&path).ok()?;
        let header = MAGIC.len() + 32 + 32;
        let valid = bytes.len() > header
            && &bytes[..MAGIC.len()] == MAGIC
            && bytes[MAGIC.len()..MAGIC.len() + 32] == wasm_sha256[..]
            && self.mac(wasm_sha256, &bytes[header..]).verify_slice(&bytes[MAGIC.len() + 32..header]).is_ok();
        if !valid {
            tracing::warn!(path = %path.display(), "ignoring compile cache entry that Warden did not write or that was modified");
            return None;
        }
        // SAFETY: the artifact was produced by `Component::serialize` of an
        // engine with the same compatibility hash, and the HMAC (keyed by a
        // secret only this cache directory's owner can read) proves the bytes
        // are exactly what Warden wrote. Wasmtime re-checks the engine
        // settings recorded in the artifact.
        #[allow(unsafe_code, reason = "deserializing our own authenticated artifact")]
        let component = unsafe { Component::deserialize(engine, &bytes[header..]) };
        match component {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring incompatible compile cache entry");
                None
            }
        }
    }

    /// Stores a compiled component. Failures are logged, never fatal: the
    /// cache only saves time.
    pub(crate) fn put(&self, wasm_sha256: &[u8; 32], component: &Component) {
        let result = (|| -> std::io::Result<()> {
            let artifact = component.serialize().map_err(std::io::Error::other)?;
            let tag = self.mac(wasm_sha256, &artifact).finalize().into_bytes();
            let path = self.entry_path(wasm_sha256);
            let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
            tmp.write_all(MAGIC)?;
            tmp.write_all(wasm_sha256)?;
            tmp.write_all(&tag)?;
            tmp.write_all(&artifact)?;
            tmp.as_file().sync_data()?;
            tmp.persist(&path).map_err(|e| e.error)?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not write compile cache entry");
        }
    }
}

/// Lowercase hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        unreachable!("only used to feed sha256")
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| Error::io("cannot create compile cache directory", dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir)
            .map_err(|e| Error::io("cannot read compile cache directory", dir, e))?
            .permissions()
            .mode();
        if mode & 0o022 != 0 {
            return Err(Error::Runtime(format!(
                "compile cache directory `{}` is writable by other users (mode {:o}); run `chmod 700` on it or choose another",
                dir.display(),
                mode & 0o777
            )));
        }
    }
    Ok(())
}

fn load_or_create_key(path: &Path) -> Result<[u8; 32]> {
    match fs::read(path) {
        Ok(bytes) if bytes.len() == 32 => return Ok(bytes.try_into().expect("length checked")),
        Ok(_) => tracing::warn!(path = %path.display(), "compile cache key has the wrong size; creating a new one"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("cannot read compile cache key", path, e)),
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| Error::Runtime(format!("no randomness for the compile cache key: {e}")))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let write = || -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?; // created with mode 0600
        tmp.write_all(&key)?;
        tmp.as_file().sync_data()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    };
    write().map_err(|e| Error::io("cannot write compile cache key", path, e))?;
    Ok(key)
}
