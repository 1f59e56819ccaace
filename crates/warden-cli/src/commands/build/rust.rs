//! Rust plugins: `cargo build --target wasm32-wasip2`, which emits a
//! component directly (wit-bindgen and warden-pdk declare the exports).
//!
//! The default profile, `release`, is built without debug info whatever
//! the crate's Cargo.toml says (`--config profile.release.debug=false`:
//! cargo's `--config` wins over Cargo.toml). A workspace that keeps line
//! tables in release builds for its native code would otherwise put
//! megabytes of DWARF into every component (2.9 MiB instead of 128 KiB for
//! `plugins/validator`) that the runtime never reads. Without debug info
//! cargo strips the standard library's too (its default `strip =
//! "debuginfo"`; a `strip` the crate sets is kept), and the name section
//! stays, so backtraces still name functions. Another `--profile` is built
//! as the crate defines it, and `CARGO_PROFILE_RELEASE_DEBUG` set in the
//! environment is respected.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::Project;
use super::tools::{copy, output};

pub(crate) fn build(project: &Project) -> Result<()> {
    let cargo_toml = project.dir().join("Cargo.toml");
    if !cargo_toml.is_file() {
        bail!("`{}` has no Cargo.toml; a Rust plugin is a cdylib crate", project.dir().display());
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let (status, stdout) = output(
        Command::new(cargo)
            .args(["build", "--target", "wasm32-wasip2", "--message-format", "json-render-diagnostics", "--profile"])
            .arg(&project.profile)
            .args(lean_overrides(&project.profile, |k| std::env::var_os(k).is_some()))
            .arg("--manifest-path")
            .arg(&cargo_toml)
            .stderr(Stdio::inherit()),
    )
    .context("cannot run cargo; install Rust from https://rustup.rs")?;
    if !status.success() {
        bail!("cargo build failed (is the target installed? `rustup target add wasm32-wasip2`)");
    }
    let artifact = find_artifact(&stdout).context("cargo built no .wasm file; is the crate a cdylib?")?;
    copy(&artifact, project.out())
}

/// The `--config` flags that build `profile` without debug info: only for
/// `release`, unless the environment (`is_set`) sets its debug level.
fn lean_overrides(profile: &str, is_set: impl Fn(&str) -> bool) -> &'static [&'static str] {
    if profile == "release" && !is_set("CARGO_PROFILE_RELEASE_DEBUG") {
        &["--config", "profile.release.debug=false"]
    } else {
        &[]
    }
}

/// The last `.wasm` among cargo's `compiler-artifact` messages.
fn find_artifact(stdout: &[u8]) -> Option<PathBuf> {
    stdout
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact")
        .flat_map(|msg| msg["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .rfind(|f: &PathBuf| f.extension().is_some_and(|e| e == "wasm"))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn finds_the_last_wasm_artifact() {
        let stdout = br#"{"reason":"compiler-artifact","filenames":["/t/libx.rlib"]}
not json
{"reason":"compiler-artifact","filenames":["/t/a.wasm","/t/a.d"]}
{"reason":"build-finished","success":true}"#;
        assert_eq!(find_artifact(stdout).as_deref(), Some(Path::new("/t/a.wasm")));
        assert_eq!(find_artifact(b"{}"), None);
    }

    #[test]
    fn release_builds_drop_debug_info_unless_the_environment_says_otherwise() {
        let none = |_: &str| false;
        assert_eq!(lean_overrides("release", none), ["--config", "profile.release.debug=false"]);
        assert!(lean_overrides("dev", none).is_empty());
        assert!(lean_overrides("guest", none).is_empty());
        assert!(lean_overrides("release", |k| k == "CARGO_PROFILE_RELEASE_DEBUG").is_empty());
    }
}
