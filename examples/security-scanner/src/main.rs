//! `security-scanner <file>... --plugins <dir>...`: scans each file with
//! each scanner plugin and prints the findings; `--reveal` opens the
//! secrets plugins had the host seal, to show the round trip.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Parser;
use security_scanner::crypto::key_from_hex;
use security_scanner::{Artifact, Finding, Keyring, MAX_ARTIFACT_BYTES, SEALING_KEY_ID, ScanReport, Severity};
use warden::{AuditSink, PluginManager};

/// Where the sealing key comes from when `--key-file` is not given.
const KEY_ENV: &str = "SCANNER_KEY";

/// Scans files for secrets with Warden plugins of the `example:scanner`
/// world. Plugins reach the host only through its `crypto` capability
/// (granted per plugin in plugin.toml) and a `system.execute` it never
/// grants.
#[derive(Parser)]
#[command(name = "security-scanner", version)]
struct Cli {
    /// Files to scan.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Plugin folders (each holding a plugin.toml), or folders of plugin
    /// folders.
    #[arg(long, required = true, num_args = 1.., value_name = "DIR")]
    plugins: Vec<PathBuf>,
    /// Open the sealed secrets on the host side and print them.
    #[arg(long)]
    reveal: bool,
    /// File holding the sealing key as 64 hex digits. Default: the
    /// SCANNER_KEY environment variable, else a random key for this run.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Append the audit log (JSON lines: loads, capability-denied, ...) to
    /// this file.
    #[arg(long, value_name = "FILE")]
    audit: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(&Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Scans; `Ok(false)` when a plugin failed to load or a scan failed.
fn run(cli: &Cli) -> Result<bool> {
    let (keys, origin) = keyring(cli.key_file.as_deref())?;
    let keys = Arc::new(keys);
    let artifacts = cli.files.iter().map(|f| read_artifact(f)).collect::<Result<Vec<_>>>()?;

    let runtime = security_scanner::runtime(Arc::clone(&keys)).context("cannot start the plugin runtime")?;
    let audit = cli.audit.clone().map_or(AuditSink::Off, AuditSink::File);
    let manager = PluginManager::builder(runtime).audit(audit).build().context("cannot open the audit log")?;

    // Plugins that fail to load are reported and left out; the others scan.
    let (mut names, mut failed) = (Vec::new(), 0);
    for dir in &cli.plugins {
        if dir.join("plugin.toml").is_file() {
            match manager.load(dir) {
                Ok(name) => names.push(name),
                Err(e) => {
                    eprintln!("error: plugin {} failed to load: {e}", dir.display());
                    failed += 1;
                }
            }
        } else {
            let report = manager
                .load_dir(dir)
                .with_context(|| format!("`{}` is neither a plugin folder nor a folder of them", dir.display()))?;
            names.extend(report.loaded);
            for (folder, e) in &report.failed {
                eprintln!("error: plugin {} failed to load: {e}", folder.display());
                failed += 1;
            }
        }
    }
    names.sort();
    names.dedup();
    if names.is_empty() && failed > 0 {
        bail!("no plugin loaded: {failed} failed (see above)");
    }
    if names.is_empty() {
        bail!(
            "no plugin found; build them first: cargo run -p warden-cli -- build examples/security-scanner/plugins/*"
        );
    }
    let mut ok = failed == 0;
    println!("sealing key '{SEALING_KEY_ID}': {origin}");
    println!("plugins: {}", names.join(", "));

    let (mut findings, mut sealed) = (0, 0);
    for artifact in &artifacts {
        for name in &names {
            println!("\n{} [{name}]", artifact.name);
            match manager.call(name, |p| security_scanner::scan(p, artifact)) {
                Ok(report) => {
                    print_report(&report, cli.reveal.then_some(&*keys));
                    findings += report.findings.len();
                    sealed += report.findings.iter().filter(|f| f.sealed.is_some()).count();
                }
                Err(e) => {
                    println!("  scan failed: {e}");
                    ok = false;
                }
            }
        }
    }
    println!(
        "\n{findings} finding(s), {sealed} secret(s) sealed, in {} file(s) scanned by {} plugin(s)",
        artifacts.len(),
        names.len()
    );
    Ok(ok)
}

/// The keyring with the sealing key, and where the key came from.
fn keyring(key_file: Option<&Path>) -> Result<(Keyring, String)> {
    let mut keys = Keyring::new();
    let origin = if let Some(path) = key_file {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read the key file `{}`", path.display()))?;
        keys.insert(SEALING_KEY_ID, key_from_hex(&text).with_context(|| format!("bad key in `{}`", path.display()))?);
        format!("from {}", path.display())
    } else if let Some(text) = std::env::var_os(KEY_ENV) {
        let text = text.into_string().map_err(|_| anyhow::anyhow!("${KEY_ENV} is not UTF-8"))?;
        keys.insert(SEALING_KEY_ID, key_from_hex(&text).with_context(|| format!("bad key in ${KEY_ENV}"))?);
        format!("from ${KEY_ENV}")
    } else {
        keys.insert_random(SEALING_KEY_ID)?;
        format!("random, for this run only (set ${KEY_ENV} or --key-file to keep one)")
    };
    Ok((keys, origin))
}

fn read_artifact(path: &Path) -> Result<Artifact> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot scan `{}`", path.display()))?;
    if !meta.is_file() {
        bail!("cannot scan `{}`: not a file", path.display());
    }
    if meta.len() > MAX_ARTIFACT_BYTES {
        bail!(
            "cannot scan `{}`: {} bytes is over the scanner's limit of {MAX_ARTIFACT_BYTES}",
            path.display(),
            meta.len()
        );
    }
    let content = std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(Artifact { name: path.display().to_string(), content })
}

fn print_report(report: &ScanReport, reveal: Option<&Keyring>) {
    if report.findings.is_empty() {
        println!("  no findings");
    }
    for finding in &report.findings {
        print_finding(finding, reveal);
    }
}

fn print_finding(f: &Finding, reveal: Option<&Keyring>) {
    let line = if f.line == 0 { "-".to_owned() } else { format!("line {}", f.line) };
    println!("  {:<8}  {line:<8}  {:<20}  {}", severity(f.severity), f.rule, f.message);
    if let Some(refusal) = &f.refusal {
        println!("            refused: {}: {}", refusal.code, refusal.message);
    }
    if let (Some(sealed), Some(keys)) = (&f.sealed, reveal) {
        match keys.decrypt(&sealed.key_id, &sealed.sealed) {
            Ok(secret) => println!("            revealed: {}", shown(&secret)),
            Err(e) => println!("            cannot reveal: {e}"),
        }
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

/// A secret as printable text: escaped, at most 72 characters.
fn shown(secret: &[u8]) -> String {
    let text = String::from_utf8_lossy(secret);
    let escaped: String = text.chars().flat_map(char::escape_debug).collect();
    match escaped.char_indices().nth(72) {
        Some((cut, _)) => format!("\"{}…\" ({} bytes)", &escaped[..cut], secret.len()),
        None => format!("\"{escaped}\""),
    }
}
