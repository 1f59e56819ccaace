//! `warden push`: a plugin folder to an OCI registry, signed.

use std::path::PathBuf;

use anyhow::{Result, bail};
use serde_json::json;
use warden_dist::{Artifact, SecretKey};

/// Push a built plugin to an OCI registry as a wasm artifact (CNCF
/// layout, plugin.toml in the manifest) and, with --key, its signature
/// under the cosign tag `sha256-<digest>.sig`. Installs refuse unsigned
/// artifacts. See docs/DISTRIBUTION.md.
#[derive(clap::Args)]
pub struct Args {
    /// Plugin folder (with plugin.toml and the built component).
    plugin: PathBuf,
    /// Where to: registry/repository:version, e.g. 127.0.0.1:5000/plugins/auth:1.0.0.
    reference: String,
    /// The secret key to sign with (`warden keygen`'s .key file).
    #[arg(long, value_name = "FILE", required_unless_present = "unsigned")]
    key: Option<PathBuf>,
    /// Push without a signature (nothing installs it until it is signed).
    #[arg(long, conflicts_with = "key")]
    unsigned: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let key = args.key.as_ref().map(|k| SecretKey::read(k)).transpose()?;
    let artifact = Artifact::from_dir(&args.plugin)?;
    let image = warden_dist::parse_reference(&args.reference)?;
    if let Some(tag) = image.tag().filter(|_| image.digest().is_none())
        && tag != artifact.version
    {
        bail!(
            "{} is version {}, but the reference's tag is {tag}: push versions under their own tag ({}:{})",
            artifact.name,
            artifact.version,
            warden_dist::repository_of(&args.reference),
            artifact.version
        );
    }
    let registry = super::dist::registry(args.json)?;
    let started = std::time::Instant::now();
    let digest = super::dist::block_on(registry.push(&args.reference, &artifact, key.as_ref()))??;
    let key_id = key.as_ref().map(|k| k.public().id().to_owned());
    if args.json {
        let out = json!({
            "reference": args.reference,
            "digest": digest,
            "plugin": artifact.name,
            "version": artifact.version,
            "bytes": artifact.component.len(),
            "key": key_id,
            "ms": started.elapsed().as_millis(),
        });
        println!("{out}");
    } else {
        let signed = key_id.map_or_else(|| "unsigned".to_owned(), |k| format!("signed by key {k}"));
        println!("pushed {} {} -> {}@{digest} ({signed})", artifact.name, artifact.version, args.reference);
    }
    Ok(())
}
