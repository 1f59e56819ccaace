//! Loading: manifests, hash pins, invalid components, limits vs runtime.

use warden::{Error, ErrorKind, Manifest};
use warden_fixtures::{ECHO, MALICIOUS};

use crate::common::{plugin_dir, runtime};

fn sha256_hex(path: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(std::fs::read(path).unwrap());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn sha256_pin_is_checked() {
    let good = plugin_dir(ECHO, &format!("sha256 = \"{}\"", sha256_hex(ECHO)));
    let plugin = runtime().load(good.path()).unwrap();
    assert_eq!(plugin.sha256(), sha256_hex(ECHO));

    let bad = plugin_dir(ECHO, &format!("sha256 = \"{}\"", "ab".repeat(32)));
    let err = runtime().load(bad.path()).unwrap_err();
    assert!(matches!(err, Error::HashMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("pins"), "{err}");
}

#[test]
fn invalid_component_is_a_typed_error() {
    let dir = plugin_dir(ECHO, "");
    std::fs::write(dir.path().join("plugin.wasm"), b"\0asm this is not wasm").unwrap();
    let err = runtime().load(dir.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidComponent, "{err:?}");
    assert!(err.to_string().contains("plugin 'test-plugin'") && err.to_string().contains("plugin.wasm"), "{err}");
}

/// A component file is judged by its size and its first eight bytes before
/// the rest is read: a 2 GiB sparse file costs nothing.
#[test]
fn huge_or_foreign_component_files_are_refused_before_they_are_read() {
    let dir = plugin_dir(ECHO, "");
    let file = dir.path().join("plugin.wasm");
    std::fs::OpenOptions::new().write(true).open(&file).unwrap().set_len(2 << 30).unwrap();
    let err = runtime().load(dir.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidComponent, "{err:?}");
    assert!(err.to_string().contains("is 2147483648 bytes, over the 134217728-byte limit"), "{err}");

    for (bytes, says) in [
        (&b"PK\x03\x04 a zip file"[..], "not a WebAssembly file (it starts with [50 4b 03 04"),
        (&b"\0asm\x01\x00\x00\x00"[..], "core WebAssembly module, not a component"),
    ] {
        std::fs::write(&file, bytes).unwrap();
        let err = runtime().load(dir.path()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidComponent, "{err:?}");
        assert!(err.to_string().contains(says), "{err}");
    }

    // The cap is the host's to set.
    std::fs::copy(ECHO, &file).unwrap();
    let small = warden::Runtime::builder().max_component_size(64 << 10).build().unwrap();
    let err = small.load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("over the 65536-byte limit"), "{err}");
    runtime().load(dir.path()).unwrap();
}

#[test]
fn missing_component_names_the_file() {
    let dir = plugin_dir(ECHO, "");
    std::fs::remove_file(dir.path().join("plugin.wasm")).unwrap();
    let err = runtime().load(dir.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains("plugin.wasm"), "{err}");
}

#[test]
fn bad_manifest_names_file_key_and_line() {
    let dir = plugin_dir(ECHO, "[limits]\ntimeout = \"soon\"");
    let err = runtime().load(dir.path()).unwrap_err();
    let Error::Manifest(m) = &err else { panic!("{err:?}") };
    assert_eq!(m.line, Some(6));
    assert_eq!(m.key.as_deref(), Some("limits.timeout"));
    assert!(err.to_string().contains("plugin.toml"), "{err}");
}

#[test]
fn limits_beyond_the_runtime_are_refused() {
    let dir = plugin_dir(MALICIOUS, "[limits]\nstack = \"8 MiB\"");
    let err = runtime().load(dir.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err:?}");
    let dir = plugin_dir(MALICIOUS, "[limits]\nmemory = \"2 GiB\"");
    assert_eq!(runtime().load(dir.path()).unwrap_err().kind(), ErrorKind::Unsupported);
}

#[test]
fn programmatic_manifest() {
    let mut manifest = Manifest::new("inline", ECHO);
    manifest.limits = manifest.limits.clone().max_instances(1);
    let plugin = runtime().load_manifest(manifest).unwrap();
    assert_eq!(plugin.name(), "inline");
    assert_eq!(plugin.handle("echo", b"hi").unwrap(), b"hi");
}
