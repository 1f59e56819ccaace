//! `warden verify`: check a plugin folder's signature.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::json;
use warden_dist::PublicKey;

/// Verify a plugin's signature (`plugin.sig`): made by one of the trusted
/// public keys, over exactly the component and plugin.toml in the folder
/// now. Exits 0 when it holds; otherwise names what does not (exit codes
/// 50–54).
#[derive(clap::Args)]
pub struct Args {
    /// Plugin folder (with plugin.toml, the component and plugin.sig).
    plugin: PathBuf,
    /// A trusted public key (`warden keygen`'s .pub file); repeat for more.
    #[arg(long = "key", value_name = "FILE", required = true)]
    keys: Vec<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let keys = args.keys.iter().map(|k| PublicKey::read(k)).collect::<Result<Vec<_>, _>>()?;
    let verified = warden_dist::verify_dir(&args.plugin, &keys)?;
    if args.json {
        let out = json!({
            "plugin": verified.name,
            "version": verified.version,
            "digest": verified.digest,
            "key": verified.key_id,
            "reference": verified.reference,
        });
        println!("{out}");
    } else {
        println!(
            "verified {} {} ({}): signed by key {} as {}",
            verified.name, verified.version, verified.digest, verified.key_id, verified.reference
        );
    }
    Ok(())
}
