//! `warden build`: compile a Rust plugin crate to a component and put it
//! where its manifest says.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use warden::Manifest;

/// Build Rust plugins (cargo, wasm32-wasip2) and copy each component to the
/// path its plugin.toml names.
#[derive(clap::Args)]
pub struct Args {
    /// Plugin folders (each with plugin.toml and Cargo.toml).
    #[arg(required = true)]
    plugins: Vec<PathBuf>,
    /// Cargo profile.
    #[arg(long, default_value = "release")]
    profile: String,
}

pub fn run(args: &Args) -> Result<()> {
    for plugin in &args.plugins {
        build(plugin, &args.profile)?;
    }
    Ok(())
}

fn build(plugin: &Path, profile: &str) -> Result<()> {
    let manifest = Manifest::from_dir(plugin)?;
    let cargo_toml = plugin.join("Cargo.toml");
    if !cargo_toml.is_file() {
        bail!("`{}` has no Cargo.toml; `warden build` builds Rust plugin crates", plugin.display());
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--target", "wasm32-wasip2", "--message-format", "json-render-diagnostics", "--profile"])
        .arg(profile)
        .arg("--manifest-path")
        .arg(&cargo_toml)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo")?;
    if !output.status.success() {
        bail!("cargo build failed (is the target installed? `rustup target add wasm32-wasip2`)");
    }
    let artifact = find_artifact(&output.stdout).context("cargo built no .wasm file; is the crate a cdylib?")?;
    copy(&artifact, &manifest.component)?;
    println!("built {} -> {}", manifest.name, manifest.component.display());
    Ok(())
}

/// The last `.wasm` among cargo's `compiler-artifact` messages.
fn find_artifact(stdout: &[u8]) -> Option<PathBuf> {
    stdout
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact")
        .flat_map(|msg| msg["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .rfind(|f| f.extension().is_some_and(|e| e == "wasm"))
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    std::fs::copy(from, to).with_context(|| format!("cannot copy `{}` to `{}`", from.display(), to.display()))?;
    Ok(())
}
