//! `warden versions`: the versions of a plugin in a registry.

use anyhow::Result;
use serde_json::json;

/// List the versions (semver tags, highest first) of a plugin repository
/// in a registry. Tags that are not versions (signatures, `latest`) are
/// left out.
#[derive(clap::Args)]
pub struct Args {
    /// registry/repository, e.g. 127.0.0.1:5000/plugins/auth.
    repository: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let registry = super::dist::registry(true)?;
    let versions = super::dist::block_on(registry.versions(&args.repository))??;
    if args.json {
        let list: Vec<String> = versions.iter().map(ToString::to_string).collect();
        println!("{}", json!({ "repository": args.repository, "versions": list }));
    } else if versions.is_empty() {
        println!("{}: no versions", args.repository);
    } else {
        for v in versions {
            println!("{v}");
        }
    }
    Ok(())
}
