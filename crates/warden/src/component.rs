//! Reading a plugin's component file: refused by size before it is read,
//! refused by its header before the rest is read, hashed as it is read.
//!
//! A file given as a component may be anything: a 2 GiB sparse file, a
//! core module, a text file. None of these should cost the host more than
//! a look at the file's size and first eight bytes.

use std::fs::File;
use std::io::Read;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// Default cap on a component file: 128 MiB (interpreter-based components,
/// JavaScript or Python, weigh 15 to 40 MiB).
pub const DEFAULT_MAX_COMPONENT_BYTES: u64 = 128 << 20;

/// The WebAssembly magic number.
const MAGIC: [u8; 4] = *b"\0asm";
/// Version and layer of a core module (version 1, layer 0).
const CORE_MODULE: [u8; 4] = [1, 0, 0, 0];
/// Layer 1 marks a component, whatever its (pre-release) version.
const COMPONENT_LAYER: [u8; 2] = [1, 0];

/// A component file's bytes and their sha256, computed while reading.
pub(crate) struct ComponentFile {
    pub bytes: Vec<u8>,
    pub sha256: [u8; 32],
}

/// Reads the component `manifest` names, at most `max` bytes of it.
pub(crate) fn read(manifest: &Manifest, max: u64) -> Result<ComponentFile> {
    let path = &manifest.component;
    let io = |e| Error::io(format!("plugin '{}': cannot read component", manifest.name), path, e);
    let invalid =
        |message: String| Error::InvalidComponent { plugin: manifest.name.clone(), file: path.clone(), message };
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let too_large = |size: &str| {
        invalid(format!(
            "it is {size} bytes, over the {max}-byte limit for components (the host raises it with RuntimeBuilder::max_component_size; `warden serve`: [server] max-component-size)"
        ))
    };
    if len > max {
        return Err(too_large(&len.to_string()));
    }
    let mut header = [0u8; 8];
    let got = read_up_to(&mut file, &mut header).map_err(io)?;
    check_header(&header[..got]).map_err(invalid)?;

    let mut hasher = Sha256::new();
    hasher.update(&header[..got]);
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    bytes.extend_from_slice(&header[..got]);
    // The file may have grown since `metadata`: read one byte past the cap
    // at most, to tell.
    let mut rest = file.take(max.saturating_add(1).saturating_sub(got as u64));
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = match rest.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        hasher.update(&chunk[..n]);
        bytes.extend_from_slice(&chunk[..n]);
    }
    if bytes.len() as u64 > max {
        return Err(too_large("more than that"));
    }
    Ok(ComponentFile { bytes, sha256: hasher.finalize().into() })
}

/// Fills `buf` as far as the file allows; returns how many bytes were read.
fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Checks the first eight bytes: the wasm magic number and the component
/// layer. Other component versions are left to the compiler, which names
/// the version it supports.
fn check_header(header: &[u8]) -> std::result::Result<(), String> {
    if header.len() < 8 || header[..4] != MAGIC {
        let shown: Vec<String> = header.iter().map(|b| format!("{b:02x}")).collect();
        return Err(format!(
            "it is not a WebAssembly file (it starts with [{}], not the magic number 00 61 73 6d)",
            shown.join(" ")
        ));
    }
    if header[4..8] == CORE_MODULE {
        return Err(
            "it is a core WebAssembly module, not a component; build for wasm32-wasip2, or wrap the module with `wasm-tools component new`"
                .to_owned(),
        );
    }
    if header[6..8] != COMPONENT_LAYER {
        return Err(format!(
            "its header has layer {} (a component has layer 1)",
            u16::from_le_bytes([header[6], header[7]])
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn manifest(dir: &Path, bytes: &[u8]) -> Manifest {
        let path = dir.join("c.wasm");
        std::fs::write(&path, bytes).unwrap();
        Manifest::new("p", path)
    }

    fn component_header() -> Vec<u8> {
        b"\0asm\x0d\x00\x01\x00".to_vec()
    }

    #[test]
    fn headers_are_checked_before_the_rest_is_read() {
        let dir = tempfile::TempDir::new().unwrap();
        let err =
            |bytes: &[u8]| read(&manifest(dir.path(), bytes), 1 << 20).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err(b"hello world").contains("not a WebAssembly file (it starts with [68 65 6c 6c 6f 20 77 6f]"));
        assert!(err(b"").contains("not a WebAssembly file (it starts with []"));
        assert!(err(b"\0asm\x01\x00\x00\x00rest").contains("core WebAssembly module, not a component"));
        assert!(err(b"\0asm\x0d\x00\x02\x00").contains("layer 2"));
        let ok = read(&manifest(dir.path(), &component_header()), 1 << 20).unwrap();
        assert_eq!(ok.bytes, component_header());
    }

    #[test]
    fn hashed_while_read() {
        let dir = tempfile::TempDir::new().unwrap();
        let mut bytes = component_header();
        bytes.extend((0..200_000u32).map(|i| i as u8));
        let file = read(&manifest(dir.path(), &bytes), 1 << 20).unwrap();
        assert_eq!(file.sha256, <[u8; 32]>::from(Sha256::digest(&bytes)));
        assert_eq!(file.bytes, bytes);
    }

    #[test]
    fn files_over_the_cap_are_refused_by_size() {
        let dir = tempfile::TempDir::new().unwrap();
        let m = manifest(dir.path(), &component_header());
        // A sparse 2 GiB file: refused from its size, never read.
        std::fs::OpenOptions::new().write(true).open(&m.component).unwrap().set_len(2 << 30).unwrap();
        let Err(e) = read(&m, DEFAULT_MAX_COMPONENT_BYTES) else { panic!("a 2 GiB file is refused") };
        assert_eq!(e.kind(), crate::ErrorKind::InvalidComponent);
        assert!(e.to_string().contains("it is 2147483648 bytes, over the 134217728-byte limit"), "{e}");
        assert!(e.to_string().contains("max_component_size"), "{e}");
    }
}
