//! The content-addressed cache of registry content: every manifest and
//! blob fetched is kept under `blobs/sha256/<hex>` and checked against its
//! name when read back, and each tag fetched remembers its digest under
//! `refs/`, so an install of a reference fetched before works offline.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::keys::hex;

/// A cache folder (`<cache dir>/oci`).
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    /// Its folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        valid.then(|| self.dir.join("blobs").join("sha256").join(hex))
    }

    /// The content named `digest`, if cached and intact (a damaged entry is
    /// removed and reported missing).
    pub fn blob(&self, digest: &str) -> Option<Vec<u8>> {
        let path = self.blob_path(digest)?;
        let bytes = std::fs::read(&path).ok()?;
        if format!("sha256:{}", hex(&Sha256::digest(&bytes))) != digest {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        Some(bytes)
    }

    /// Keeps `bytes` under `digest` (which the caller checked). Failing to
    /// cache is not an error of the fetch: the cache is best effort.
    pub fn put(&self, digest: &str, bytes: &[u8]) {
        if let Some(path) = self.blob_path(digest) {
            write_atomic(&path, bytes);
        }
    }

    fn ref_path(&self, registry: &str, repository: &str, tag: &str) -> PathBuf {
        let clean = |s: &str| s.replace(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)), "_");
        let mut path = self.dir.join("refs").join(clean(registry));
        for part in repository.split('/') {
            path.push(clean(part));
        }
        path.join(clean(tag))
    }

    /// The digest `tag` of `registry/repository` had when last fetched.
    pub fn tag(&self, registry: &str, repository: &str, tag: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.ref_path(registry, repository, tag)).ok()?;
        let digest = text.trim().to_owned();
        self.blob_path(&digest).map(|_| digest)
    }

    /// Remembers that `tag` names `digest`.
    pub fn put_tag(&self, registry: &str, repository: &str, tag: &str, digest: &str) {
        write_atomic(&self.ref_path(registry, repository, tag), digest.as_bytes());
    }
}

fn write_atomic(path: &Path, bytes: &[u8]) {
    let Some(parent) = path.parent() else { return };
    if std::fs::create_dir_all(parent).is_err() {
        return;
    }
    let Ok(mut partial) = tempfile::NamedTempFile::new_in(parent) else { return };
    if std::io::Write::write_all(&mut partial, bytes).is_ok() {
        let _ = partial.persist(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_checked_when_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let digest = crate::sha256_digest(b"hello");
        cache.put(&digest, b"hello");
        assert_eq!(cache.blob(&digest).as_deref(), Some(&b"hello"[..]));
        let path = cache.blob_path(&digest).unwrap();
        std::fs::write(&path, b"hellO").unwrap();
        assert_eq!(cache.blob(&digest), None, "a damaged entry is not served");
        assert!(!path.exists());
        assert_eq!(cache.blob("sha256:../../etc/passwd"), None);
        cache.put_tag("127.0.0.1:5000", "plugins/auth", "1.0.0", &digest);
        assert_eq!(cache.tag("127.0.0.1:5000", "plugins/auth", "1.0.0"), Some(digest));
        assert_eq!(cache.tag("127.0.0.1:5000", "plugins/auth", "2.0.0"), None);
    }
}
