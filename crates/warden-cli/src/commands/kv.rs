//! `warden kv`: read and change the data plugins keep in the key-value
//! store, and the store options `warden run` shares.
//!
//! Every plugin has its own namespace, named after the plugin. The store is
//! the one `warden run` uses (`kv.redb` in the data folder, by default),
//! another redb file, a Redis server, or the store of a gateway
//! configuration (`--config`), exactly as that gateway opens it.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::json;
use warden::{KeyValueError, KeyValueStore, Limits, Manifest};

use crate::{Cli, json};

/// The most keys one listing of the store returns; `warden kv list`
/// prints one fewer at most, so that asking for one more tells whether
/// there are more.
const MAX_LIST: u32 = 1000;

/// Where the key-value store is: shared by `warden kv` and `warden run`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StoreArgs {
    /// Key-value store: "redb" (kv.redb in the data folder), a path to a .redb file, or a
    /// redis://[user:password@]host:port[/db] URL [default: redb]
    #[arg(long, value_name = "SPEC")]
    kv: Option<String>,
    /// Data folder holding kv.redb [default: $WARDEN_DATA_DIR, else $XDG_DATA_HOME/warden, else
    /// ~/.local/share/warden]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Use the key-value store of this gateway configuration ([server] kv and data-dir), and find
    /// plugins by name in its plugin folder.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kv", "data_dir"])]
    config: Option<PathBuf>,
}

/// An open store, with how to name it in messages.
pub struct Store {
    /// The store.
    pub store: KeyValueStore,
    /// `kv.redb` path or (password-free) Redis URL.
    pub shown: String,
    /// The gateway's plugin folder, with `--config`.
    plugins: Option<PathBuf>,
}

impl StoreArgs {
    /// Opens the store these options name; a store that cannot be opened
    /// is a [`KvError::Store`] saying what to do.
    pub fn open(&self) -> Result<Store> {
        let (spec, data_dir, plugins) = match &self.config {
            Some(file) => {
                let config =
                    warden_gateway::GatewayConfig::from_file(file).map_err(warden_gateway::GatewayError::from)?;
                (config.server.kv, Some(config.server.data_dir), Some(config.server.plugins))
            }
            None => (self.kv.clone().unwrap_or_else(|| "redb".to_owned()), self.data_dir.clone(), None),
        };
        let spec = spec.trim();
        let (opened, shown) = if spec == "redb" {
            let dir = data_dir.or_else(default_data_dir).ok_or_else(|| {
                KvError::Store("no data folder: give --data-dir DIR or set WARDEN_DATA_DIR (or HOME)".to_owned())
            })?;
            create_private_dir(&dir)?;
            let file = dir.join("kv.redb");
            (KeyValueStore::open(&file), file.display().to_string())
        } else if spec.contains("://") {
            (KeyValueStore::from_spec(spec, "."), redact(spec))
        } else if spec.ends_with(".redb") || Path::new(spec).is_file() {
            (KeyValueStore::open(spec), spec.to_owned())
        } else {
            return Err(KvError::Store(format!(
                "--kv {spec:?} is not a key-value store: use \"redb\" (kv.redb in the data folder), a path ending in \
                 .redb, or a redis://host:port[/db] URL"
            ))
            .into());
        };
        let store = opened.map_err(|e| KvError::Store(open_error(&e)))?;
        Ok(Store { store, shown, plugins })
    }
}

/// The default data folder: `$WARDEN_DATA_DIR`, else `$XDG_DATA_HOME/warden`,
/// else `~/.local/share/warden`.
pub fn default_data_dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("WARDEN_DATA_DIR")
        .or_else(|| env("XDG_DATA_HOME").map(|d| d.join("warden")))
        .or_else(|| env("HOME").map(|d| d.join(".local").join("share").join("warden")))
}

/// Creates a missing data folder readable by its owner only (0700), as
/// the gateway does: it may later hold the gateway's admin token too.
fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| {
        KvError::Store(format!(
            "cannot create the data folder `{}`: {e}; give another with --data-dir or WARDEN_DATA_DIR",
            dir.display()
        ))
    })?;
    Ok(())
}

/// Why a store could not be opened, for a command-line user: a redb file
/// another process holds names the likely holder.
fn open_error(e: &KeyValueError) -> String {
    match e {
        KeyValueError::Open { path, message } if message.contains("already open") => format!(
            "the key-value store `{}` is in use by another process (a running `warden serve` or `warden run`?); \
             stop it and try again, or read a running gateway's data through its admin API; a redis:// store can \
             be shared",
            path.display()
        ),
        e => e.to_string(),
    }
}

/// `url` without its password.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            match rest[..end].rfind('@') {
                Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// A `warden kv` or `warden run` failure with its own exit code (see `warden --help`).
#[derive(Debug)]
pub enum KvError {
    /// The plugin has no such key, or no data at all.
    NotFound(String),
    /// The store could not be opened, or refused the operation.
    Store(String),
}

impl KvError {
    /// The kind printed in `error[<kind>]`.
    pub fn kind(&self) -> &'static str {
        match self {
            KvError::NotFound(_) => "not-found",
            KvError::Store(_) => "key-value",
        }
    }

    /// The exit code, documented in `warden --help`.
    pub fn exit_code(&self) -> u8 {
        match self {
            KvError::NotFound(_) => 34,
            KvError::Store(_) => 35,
        }
    }
}

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvError::NotFound(m) | KvError::Store(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for KvError {}

impl From<KeyValueError> for KvError {
    fn from(e: KeyValueError) -> KvError {
        KvError::Store(e.to_string())
    }
}

/// Read and change the data plugins keep in the key-value store.
///
/// Each plugin has its own namespace, named after it. Without --kv,
/// --data-dir or --config, this is the store `warden run` uses. A redb
/// store can be open in one process at a time: stop a gateway that uses
/// it first (or use its admin API, or Redis).
///
/// Exit codes: 34 (not-found) when the plugin has no such key or no data
/// at all; 35 (key-value) when the store cannot be opened or refuses the
/// operation (bad key, over quota).
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: KvCommand,
}

#[derive(clap::Subcommand)]
enum KvCommand {
    List(ListArgs),
    Get(GetArgs),
    Set(SetArgs),
    Delete(DeleteArgs),
}

/// List a plugin's keys, one per line, in byte order (control characters in keys are escaped as
/// \n, \u{1b}, ...; --json keeps them exact).
#[derive(clap::Args)]
struct ListArgs {
    /// Plugin name, or the plugin's folder (with plugin.toml).
    plugin: String,
    /// Only keys starting with this.
    #[arg(long, default_value = "")]
    prefix: String,
    /// Most keys to print (1 to 999); a note on stderr says when there are more.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..MAX_LIST as i64))]
    limit: u32,
    /// Print JSON: {"plugin", "prefix", "keys", "more", "usage"}.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// Print the value of a key: text as it is, a value that is not UTF-8 as base64 (with a note on
/// stderr).
#[derive(clap::Args)]
struct GetArgs {
    /// Plugin name, or the plugin's folder (with plugin.toml).
    plugin: String,
    /// The key.
    key: String,
    /// Write the value's bytes exactly, without a newline.
    #[arg(long, conflicts_with_all = ["base64", "json"])]
    raw: bool,
    /// Print the value as base64, text or not.
    #[arg(long, conflicts_with = "json")]
    base64: bool,
    /// Print JSON: {"plugin", "key", "bytes", and "value" (UTF-8) or "value_base64"}.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// Store a value under a key, within the plugin's key-value quota.
#[derive(clap::Args)]
#[command(
    group(clap::ArgGroup::new("input").required(true).args(["value", "file"])),
    override_usage = "warden kv set [OPTIONS] <PLUGIN> <KEY> <VALUE | --file FILE>"
)]
struct SetArgs {
    /// Plugin name, or the plugin's folder (with plugin.toml).
    plugin: String,
    /// The key (UTF-8, 1 to 512 bytes, no NUL).
    key: String,
    /// The value, as text.
    value: Option<String>,
    /// Read the value from this file ("-" for stdin), bytes as they are.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// The namespace's quota in bytes or with a unit ("64 KiB") [default: the plugin's [limits]
    /// key-value-quota when its folder is given or found through --config, else 1 MiB]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    quota: Option<u64>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Remove a key.
#[derive(clap::Args)]
struct DeleteArgs {
    /// Plugin name, or the plugin's folder (with plugin.toml).
    plugin: String,
    /// The key.
    key: String,
    #[command(flatten)]
    store: StoreArgs,
}

fn parse_size(s: &str) -> Result<u64, String> {
    warden::parse_size(s).ok_or_else(|| format!("{s:?} is not a size; use bytes or a unit, e.g. 4096 or \"64 KiB\""))
}

/// A plugin named on the command line: its namespace and quota.
struct Target {
    name: String,
    quota: u64,
}

impl Store {
    /// The plugin `arg` names: a plugin folder (its manifest's name and
    /// quota), a plugin of the `--config` gateway's folder, or just a name.
    fn target(&self, arg: &str) -> Result<Target> {
        let dir = Path::new(arg);
        if dir.join("plugin.toml").is_file() {
            let manifest = Manifest::from_dir(dir)?;
            return Ok(Target { name: manifest.name, quota: manifest.limits.key_value_quota_bytes });
        }
        let quota = self
            .plugins
            .as_deref()
            .and_then(|plugins| find_plugin(plugins, arg))
            .map_or(Limits::default().key_value_quota_bytes, |m| m.limits.key_value_quota_bytes);
        Ok(Target { name: arg.to_owned(), quota })
    }

    /// `NotFound` for a plugin without any data in the store.
    fn no_data(&self, plugin: &str) -> anyhow::Error {
        KvError::NotFound(format!(
            "plugin '{plugin}' has no data in the key-value store {}; check the plugin name and the store (--kv, \
             --data-dir or --config)",
            self.shown
        ))
        .into()
    }

    /// `NotFound` with `missing` when the plugin has data, else [`no_data`](Self::no_data).
    fn missing(&self, plugin: &str, missing: String) -> anyhow::Error {
        match self.store.usage(plugin) {
            Ok(0) => self.no_data(plugin),
            Ok(_) => KvError::NotFound(missing).into(),
            Err(e) => KvError::from(e).into(),
        }
    }
}

/// The manifest of the plugin named `name` in the folder `plugins`.
fn find_plugin(plugins: &Path, name: &str) -> Option<Manifest> {
    std::fs::read_dir(plugins)
        .ok()?
        .flatten()
        .filter(|e| e.path().join("plugin.toml").is_file())
        .filter_map(|e| Manifest::from_dir(e.path()).ok())
        .find(|m| m.name == name)
}

pub fn run(_cli: &Cli, args: &Args) -> Result<()> {
    match &args.command {
        KvCommand::List(a) => list(a),
        KvCommand::Get(a) => get(a),
        KvCommand::Set(a) => set(a),
        KvCommand::Delete(a) => delete(a),
    }
}

fn list(args: &ListArgs) -> Result<()> {
    let store = args.store.open()?;
    let plugin = store.target(&args.plugin)?.name;
    // One more than asked (the limit stays under the store's cap) tells
    // whether there are more.
    let mut keys = store.store.list_keys(&plugin, &args.prefix, args.limit + 1).map_err(KvError::from)?;
    let usage = store.store.usage(&plugin).map_err(KvError::from)?;
    if usage == 0 {
        return Err(store.no_data(&plugin));
    }
    let more = keys.len() > args.limit as usize;
    keys.truncate(args.limit as usize);
    if args.json {
        let out = json!({"plugin": plugin, "prefix": args.prefix, "keys": keys, "more": more, "usage": usage});
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    for key in &keys {
        writeln!(stdout, "{}", printable(key))?;
    }
    if more {
        eprintln!(
            "note: more keys than the {} shown; narrow with --prefix or raise --limit (at most {})",
            keys.len(),
            MAX_LIST - 1
        );
    }
    Ok(())
}

/// `key` on one line: control characters escaped, everything else as is.
fn printable(key: &str) -> String {
    if key.chars().any(char::is_control) {
        key.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
    } else {
        key.to_owned()
    }
}

fn get(args: &GetArgs) -> Result<()> {
    let store = args.store.open()?;
    let plugin = store.target(&args.plugin)?.name;
    let Some(value) = store.store.get(&plugin, &args.key).map_err(KvError::from)? else {
        let missing = format!(
            "plugin '{plugin}' has no key {:?} in the key-value store {}; `warden kv list {plugin}` shows its keys",
            args.key, store.shown
        );
        return Err(store.missing(&plugin, missing));
    };
    let mut stdout = std::io::stdout().lock();
    if args.raw {
        stdout.write_all(&value)?;
    } else if args.json {
        let mut obj = serde_json::Map::new();
        obj.insert("plugin".into(), json!(plugin));
        obj.insert("key".into(), json!(args.key));
        obj.insert("bytes".into(), json!(value.len()));
        json::put_bytes(&mut obj, "value", &value);
        writeln!(stdout, "{}", serde_json::to_string_pretty(&obj)?)?;
    } else if args.base64 {
        writeln!(stdout, "{}", BASE64.encode(&value))?;
    } else if let Ok(text) = std::str::from_utf8(&value) {
        writeln!(stdout, "{text}")?;
    } else {
        eprintln!(
            "note: the value is not UTF-8 ({} bytes), printed as base64; --raw writes its bytes as they are",
            value.len()
        );
        writeln!(stdout, "{}", BASE64.encode(&value))?;
    }
    stdout.flush()?;
    Ok(())
}

fn set(args: &SetArgs) -> Result<()> {
    let store = args.store.open()?;
    let target = store.target(&args.plugin)?;
    let quota = args.quota.unwrap_or(target.quota);
    let value = match (&args.value, &args.file) {
        (Some(text), _) => text.clone().into_bytes(),
        (None, Some(file)) => read_bounded(file, quota)?,
        (None, None) => anyhow::bail!("give the value, or --file FILE"),
    };
    let plugin = &target.name;
    store.store.set(plugin, &args.key, &value, quota).map_err(KvError::from)?;
    store.store.flush().map_err(KvError::from)?;
    let usage = store.store.usage(plugin).map_err(KvError::from)?;
    println!(
        "ok: set {:?} for plugin '{plugin}' ({} bytes; the namespace uses {usage} of its {quota} bytes)",
        args.key,
        value.len()
    );
    Ok(())
}

/// The bytes of `path` ("-": stdin), refusing more than `quota` bytes
/// (no value that large fits) without reading them all.
fn read_bounded(path: &Path, quota: u64) -> Result<Vec<u8>> {
    let too_big = |size: String| {
        KvError::Store(format!(
            "`{}` holds {size} bytes, more than the plugin's key-value quota of {quota} bytes; store less or give \
             --quota",
            path.display()
        ))
    };
    let mut buf = Vec::new();
    if path == Path::new("-") {
        std::io::stdin().lock().take(quota.saturating_add(1)).read_to_end(&mut buf).context("cannot read stdin")?;
        if buf.len() as u64 > quota {
            return Err(too_big("more than".to_owned()).into());
        }
        return Ok(buf);
    }
    let file = std::fs::File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > quota {
        return Err(too_big(size.to_string()).into());
    }
    file.take(quota.saturating_add(1))
        .read_to_end(&mut buf)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    if buf.len() as u64 > quota {
        return Err(too_big("more than".to_owned()).into());
    }
    Ok(buf)
}

fn delete(args: &DeleteArgs) -> Result<()> {
    let store = args.store.open()?;
    let plugin = store.target(&args.plugin)?.name;
    if !store.store.delete(&plugin, &args.key).map_err(KvError::from)? {
        let missing = format!(
            "plugin '{plugin}' has no key {:?} in the key-value store {}; nothing deleted",
            args.key, store.shown
        );
        return Err(store.missing(&plugin, missing));
    }
    store.store.flush().map_err(KvError::from)?;
    println!("ok: deleted {:?} of plugin '{plugin}'", args.key);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_documented_and_distinct_from_the_librarys() {
        for e in [KvError::NotFound(String::new()), KvError::Store(String::new())] {
            let line = format!("  {}  {}", e.exit_code(), e.kind());
            assert!(crate::EXIT_CODES.contains(&line), "{line} missing from --help");
            assert!(warden::ErrorKind::ALL.into_iter().all(|k| crate::exit_code(k) != e.exit_code()));
        }
    }

    #[test]
    fn keys_print_on_one_line_and_urls_without_passwords() {
        assert_eq!(printable("user:42"), "user:42");
        assert_eq!(printable("a\nb\u{1b}[2J"), "a\\nb\\u{1b}[2J");
        assert_eq!(printable("ключ"), "ключ");
        assert_eq!(redact("redis://u:pw@h:6379/1"), "redis://***@h:6379/1");
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
    }

    #[test]
    fn unknown_store_specs_are_refused() {
        let args = StoreArgs { kv: Some("memcached".into()), ..StoreArgs::default() };
        let err = args.open().err().unwrap();
        assert_eq!(err.downcast_ref::<KvError>().map(KvError::kind), Some("key-value"));
        assert!(err.to_string().contains("not a key-value store"), "{err}");
    }
}
