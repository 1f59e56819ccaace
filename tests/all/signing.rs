//! Keys and signatures through the real `warden` binary: `warden keygen`,
//! `warden sign`, `warden verify` on plugin folders built from source, and
//! the local tamper cases, each refused with its own exit code: a flipped
//! byte in the component, plugin.toml changed after signing, a signature
//! swapped in from another plugin, a key that is not trusted, no
//! signature, a signature that is not one, a key file that is not a key.

use std::path::Path;
use std::process::{Command, Output};

use warden_fixtures::{HEADER_MODIFIER, LOGGER, PLUGINS_DIR};

fn warden(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `dir/<name>`: the example plugin's plugin.toml and its component built
/// from source.
fn plugin(dir: &Path, name: &str, wasm: &str) {
    let folder = dir.join(name);
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(Path::new(PLUGINS_DIR).join(name).join("plugin.toml"), folder.join("plugin.toml")).unwrap();
    let manifest = warden::Manifest::from_dir(&folder).unwrap();
    std::fs::copy(wasm, &manifest.component).unwrap();
}

/// Runs `warden verify`, expecting exit `code` and `message` in the output.
fn refused(dir: &Path, args: &[&str], code: i32, message: &str) {
    let out = warden(dir, args);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
    assert!(text(&out).contains(message), "{args:?}: expected {message:?} in {}", text(&out));
}

#[test]
fn signed_plugins_verify_and_every_tampering_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let out = warden(dir, &["keygen", "--name", "alice"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("key ed25519:"), "{}", text(&out));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(dir.join("alice.key")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the secret key is readable by its owner only");
    assert!(std::fs::read_to_string(dir.join("alice.pub")).unwrap().starts_with("-----BEGIN PUBLIC KEY-----"));
    refused(dir, &["keygen", "--name", "alice"], 1, "never overwrites");
    assert!(warden(dir, &["keygen", "--name", "mallory"]).status.success());

    plugin(dir, "header-modifier", HEADER_MODIFIER);
    plugin(dir, "logger", LOGGER);
    refused(dir, &["verify", "header-modifier", "--key", "alice.pub"], 51, "is not signed");
    for name in ["header-modifier", "logger"] {
        let out = warden(dir, &["sign", name, "--key", "alice.key"]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = warden(dir, &["verify", "header-modifier", "--key", "alice.pub", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["plugin"], "header-modifier");
    assert!(report["digest"].as_str().unwrap().starts_with("sha256:"), "{report}");
    assert_eq!(report["reference"], "local/header-modifier:0.1.0");

    // A key that is not trusted; trusting it too makes it verify.
    refused(dir, &["verify", "header-modifier", "--key", "mallory.pub"], 53, "which is not trusted");
    let both = ["verify", "header-modifier", "--key", "mallory.pub", "--key", "alice.pub"];
    assert!(warden(dir, &both).status.success());

    // One flipped byte in the component.
    let wasm = warden::Manifest::from_dir(dir.join("header-modifier")).unwrap().component;
    let original = std::fs::read(&wasm).unwrap();
    let mut flipped = original.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    std::fs::write(&wasm, &flipped).unwrap();
    refused(dir, &["verify", "header-modifier", "--key", "alice.pub"], 54, "the component is not what was signed");
    std::fs::write(&wasm, &original).unwrap();

    // plugin.toml changed after signing (a permission added).
    let toml_path = dir.join("header-modifier/plugin.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    std::fs::write(&toml_path, toml.replace("[permissions]", "[permissions]\nkey-value = true")).unwrap();
    refused(dir, &["verify", "header-modifier", "--key", "alice.pub"], 54, "plugin.toml is not what was signed");
    std::fs::write(&toml_path, &toml).unwrap();
    assert!(warden(dir, &["verify", "header-modifier", "--key", "alice.pub"]).status.success());

    // Another plugin's signature, valid and by the same key, swapped in.
    let own = std::fs::read(dir.join("header-modifier/plugin.sig")).unwrap();
    std::fs::copy(dir.join("logger/plugin.sig"), dir.join("header-modifier/plugin.sig")).unwrap();
    refused(dir, &["verify", "header-modifier", "--key", "alice.pub"], 54, "is not what was signed");

    // The signed manifest edited inside the signature file.
    let mut sig: serde_json::Value = serde_json::from_slice(&own).unwrap();
    let manifest = sig["manifest"].as_str().unwrap().replace("\"schemaVersion\":2", "\"schemaVersion\":2 ");
    sig["manifest"] = manifest.into();
    std::fs::write(dir.join("header-modifier/plugin.sig"), sig.to_string()).unwrap();
    refused(dir, &["verify", "header-modifier", "--key", "alice.pub"], 54, "the manifest is not what was signed");

    // A signature that is not one; a key file that is not a key.
    let mut sig: serde_json::Value = serde_json::from_slice(&own).unwrap();
    sig["signature"] = "not base64!".into();
    std::fs::write(dir.join("header-modifier/plugin.sig"), sig.to_string()).unwrap();
    refused(dir, &["verify", "header-modifier", "--key", "alice.pub"], 52, "the signature is not base64");
    std::fs::write(dir.join("header-modifier/plugin.sig"), "{}").unwrap();
    refused(dir, &["verify", "header-modifier", "--key", "alice.pub"], 52, "is not a signature file");
    refused(dir, &["verify", "header-modifier", "--key", "alice.key"], 50, "not an ed25519 public key");
    refused(dir, &["sign", "header-modifier", "--key", "alice.pub"], 50, "not an ed25519 private key");

    // Signed again, it verifies again.
    assert!(warden(dir, &["sign", "header-modifier", "--key", "alice.key"]).status.success());
    assert!(warden(dir, &["verify", "header-modifier", "--key", "alice.pub"]).status.success());
}
