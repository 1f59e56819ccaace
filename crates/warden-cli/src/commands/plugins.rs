//! `warden plugins`: load a plugin directory through the plugin manager and
//! report on it (`list`, `info`), or prove its plugins reload (`reload`).
//! `list` and `info` can also ask a running gateway's admin API
//! (`--admin URL`) instead of loading anything.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use warden::{LoadReport, PluginInfo, PluginManager};

use crate::Cli;

/// Manage a directory of plugin folders, or look at a running gateway's.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Load every plugin folder under DIR and list each with its state
    /// (or, with --admin, list a running gateway's plugins).
    List {
        /// Directory of plugin folders (each with a plugin.toml); leave it out with --admin.
        #[arg(required_unless_present = "admin")]
        dir: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one plugin: state, version, health, instances, memory, latency
    /// and fuel per call, recent errors with the plugin's stderr.
    /// `warden plugins info DIR NAME` loads DIR here;
    /// `warden plugins info --admin URL NAME` asks a running gateway.
    Info {
        /// Directory of plugin folders (leave it out with --admin).
        #[arg(value_name = "DIR")]
        dir: Option<String>,
        /// Plugin name.
        #[arg(value_name = "NAME")]
        name: Option<String>,
        /// Print JSON instead of text (the admin API's form).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Load DIR, then reload every plugin (or one) in place from its folder,
    /// as a running host would; fails if any reload fails.
    Reload {
        /// Directory of plugin folders.
        dir: PathBuf,
        /// Only this plugin.
        name: Option<String>,
    },
}

/// A running gateway's admin API, instead of a directory loaded here.
#[derive(clap::Args)]
struct Remote {
    /// Ask the admin API at this URL (e.g. http://127.0.0.1:9090) instead of loading a directory.
    #[arg(long, value_name = "URL")]
    admin: Option<String>,
    /// The admin token [default: $WARDEN_ADMIN_TOKEN]. Others on this machine can see a command
    /// line: prefer --token-file or the variable.
    #[arg(long, value_name = "TOKEN", requires = "admin", conflicts_with = "token_file")]
    token: Option<String>,
    /// Read the admin token from this file (its first line), e.g. <data-dir>/admin-token.
    #[arg(long, value_name = "FILE", requires = "admin")]
    token_file: Option<PathBuf>,
}

pub fn run(cli: &Cli, args: &Args) -> Result<()> {
    match &args.command {
        Command::List { dir, json, remote } => match (&remote.admin, dir) {
            (Some(url), _) => {
                let admin = Admin::new(url, remote)?;
                let list = admin.get("/plugins")?;
                if *json {
                    println!("{}", serde_json::to_string_pretty(&list)?);
                } else {
                    print_table(list["plugins"].as_array().map_or(&[][..], Vec::as_slice), &[]);
                }
            }
            (None, Some(dir)) => list_local(cli, dir, *json)?,
            (None, None) => usage("list", "give the plugin directory, or --admin URL for a running gateway"),
        },
        Command::Info { dir, name, json, remote } => {
            let plugin = match (&remote.admin, dir, name) {
                (Some(url), Some(name), None) => {
                    let admin = Admin::new(url, remote)?;
                    admin.plugin(name)?
                }
                (Some(_), Some(_), Some(_)) => {
                    usage("info", "with --admin give only the plugin name: warden plugins info --admin URL NAME")
                }
                (None, Some(dir), Some(name)) => {
                    let manager = PluginManager::new(cli.runtime()?);
                    manager.load_dir(dir)?;
                    manager.check_health();
                    warden_gateway::plugin_json(&manager.info(name)?)
                }
                _ => usage(
                    "info",
                    "give the directory and the plugin name (warden plugins info DIR NAME), or --admin URL NAME",
                ),
            };
            if *json {
                println!("{}", serde_json::to_string_pretty(&plugin)?);
            } else {
                print_info(&plugin);
            }
        }
        Command::Reload { dir, name } => {
            let manager = PluginManager::new(cli.runtime()?);
            manager.load_dir(dir)?;
            let results = match name {
                Some(name) => vec![(name.clone(), manager.reload(name))],
                None => manager.reload_all(),
            };
            let mut first_error = None;
            for (name, result) in results {
                match result {
                    Ok(()) => println!("reloaded {name} {}", manager.info(&name).map(version).unwrap_or_default()),
                    Err(e) => {
                        println!("failed   {name}: {e}");
                        first_error.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_error {
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// Exits with clap's usage error (code 2), with the usage of
/// `warden plugins <sub>`.
fn usage(sub: &str, message: &str) -> ! {
    use clap::CommandFactory;
    let mut root = Cli::command();
    root.build();
    let plugins = root.find_subcommand_mut("plugins").expect("the plugins command");
    let sub = plugins.find_subcommand_mut(sub).expect("a plugins subcommand");
    sub.error(clap::error::ErrorKind::MissingRequiredArgument, message).exit()
}

fn list_local(cli: &Cli, dir: &Path, json: bool) -> Result<()> {
    let manager = PluginManager::new(cli.runtime()?);
    let report = manager.load_dir(dir)?;
    manager.check_health();
    let plugins = manager.list();
    let failed = unnamed_failures(&report, &plugins);
    let listed: Vec<Value> = plugins.iter().map(warden_gateway::plugin_json).collect();
    if json {
        let out = json!({
            "plugins": listed,
            "unreadable": failed.iter().map(|(d, e)| json!({"dir": d.display().to_string(), "kind": e.kind().as_str(), "error": e.to_string()})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let unreadable: Vec<(String, String)> = failed.iter().map(|(d, e)| (dir_name(d), e.to_string())).collect();
        print_table(&listed, &unreadable);
    }
    Ok(())
}

/// The plugin table of `warden plugins list`, from the plugins' JSON.
fn print_table(plugins: &[Value], unreadable: &[(String, String)]) {
    println!("{:<24} {:<12} {:<10} {:<10} LAST ERROR", "NAME", "STATE", "VERSION", "HEALTH");
    for p in plugins {
        let text = |key: &str| p[key].as_str().unwrap_or("-").to_owned();
        let error = p["last-error"].as_str().unwrap_or("");
        println!("{:<24} {:<12} {:<10} {:<10} {error}", text("name"), text("state"), text("version"), text("health"));
    }
    for (dir, e) in unreadable {
        println!("{:<24} {:<12} {:<10} {:<10} {e}", dir, "unreadable", "-", "-");
    }
}

/// Load failures that have no entry in the manager (the manifest itself was unreadable).
fn unnamed_failures<'a>(report: &'a LoadReport, plugins: &[PluginInfo]) -> Vec<&'a (PathBuf, warden::Error)> {
    report.failed.iter().filter(|(d, _)| !plugins.iter().any(|p| p.dir == *d)).collect()
}

fn dir_name(dir: &Path) -> String {
    dir.file_name().map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn version(p: PluginInfo) -> String {
    p.version.map(|v| v.to_string()).unwrap_or_default()
}

/// `warden plugins info` as text, from the plugin's JSON (the admin API's form).
fn print_info(p: &Value) {
    let s = &p["stats"];
    let text = |v: &Value| v.as_str().map_or_else(|| "-".to_owned(), str::to_owned);
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    println!("name:            {}", text(&p["name"]));
    println!("folder:          {}", text(&p["dir"]));
    let backoff = p["backoff-remaining-ms"].as_u64().map(|ms| format!(" ({ms} ms left)")).unwrap_or_default();
    println!("state:           {}{backoff}", text(&p["state"]));
    println!("version:         {}", text(&p["version"]));
    println!("sha256:          {}", text(&p["sha256"]));
    let reason = p["health-reason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default();
    println!("health:          {}{reason}", text(&p["health"]));
    let retired = n(&s["instances-retired"]);
    let retired = if retired > 0 { format!("; {retired} retired near the memory cap") } else { String::new() };
    println!(
        "instances:       {} live: {} busy, {} idle{retired}",
        n(&s["instances"]),
        n(&s["instances-busy"]),
        n(&s["instances-idle"])
    );
    println!(
        "memory:          {} in use now; peak of one instance {}",
        size(n(&s["memory-in-use"])),
        size(n(&s["peak-memory"]))
    );
    println!(
        "calls:           {} ({} errors, {} traps, {} timeouts)",
        n(&s["calls"]),
        n(&s["errors"]),
        n(&s["traps"]),
        n(&s["timeouts"])
    );
    let l = &s["latency-us"];
    let us = |v: &Value| format!("{:?}", Duration::from_micros(n(v)));
    println!(
        "latency:         p50 {}  p90 {}  p99 {}  max {}",
        us(&l["p50"]),
        us(&l["p90"]),
        us(&l["p99"]),
        us(&l["max"])
    );
    let f = &s["fuel-per-call"];
    if f.is_object() {
        println!(
            "fuel per call:   p50 {}  p90 {}  p99 {}  max {}",
            n(&f["p50"]),
            n(&f["p90"]),
            n(&f["p99"]),
            n(&f["max"])
        );
    } else {
        println!("fuel per call:   - (no call with fuel metering yet)");
    }
    println!("reloads:         {} ({} failed)", n(&s["reloads"]), n(&s["reload-failures"]));
    let recent = p["recent-errors"].as_array().map_or(&[][..], Vec::as_slice);
    if let Some(e) = recent.first() {
        println!("last error:      {}", text(&e["message"]));
        println!("  when:          {}, kind {}", ago(n(&e["at-ms"])), text(&e["kind"]));
        if let Some(stderr) = e["stderr"].as_str().filter(|s| !s.is_empty()) {
            println!("  plugin stderr:");
            for line in stderr.lines() {
                println!("    {line}");
            }
        }
        if recent.len() > 1 {
            println!("recent errors:   {} kept (all of them with --json)", recent.len());
        }
    } else if let Some(e) = p["last-error"].as_str() {
        println!("last error:      {e}");
    }
}

/// Bytes in binary units, e.g. `1.5 MiB`.
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let (mut value, mut unit) = (bytes as f64, 0);
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// How long ago a Unix time in milliseconds was, e.g. `12 s ago`.
fn ago(at_ms: u64) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let secs = now.saturating_sub(at_ms) / 1000;
    match secs {
        0..120 => format!("{secs} s ago"),
        120..7200 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}

/// Most bytes read from the admin API for one answer.
const MAX_ANSWER: u64 = 16 << 20;

/// How long to wait for the admin API to connect, or to send its answer.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A running gateway's admin API, over plain HTTP/1.1 (one connection per
/// request).
struct Admin {
    /// `host:port`, for the connection and the `host` header.
    authority: String,
    /// A path prefix from the URL (empty, or starting with `/`).
    base: String,
    token: String,
}

impl Admin {
    fn new(url: &str, remote: &Remote) -> Result<Admin> {
        let rest = match url.strip_prefix("http://") {
            Some(rest) => rest,
            None if url.starts_with("https://") => bail!(
                "--admin {url}: the admin API speaks plain HTTP (keep it on loopback or a private network); use http://"
            ),
            None => bail!("--admin {url}: give the admin API's URL, e.g. http://127.0.0.1:9090"),
        };
        let (authority, base) = rest.split_once('/').map_or((rest, ""), |(a, b)| (a, b));
        if authority.is_empty() {
            bail!("--admin {url}: the URL names no host");
        }
        let authority = if authority.contains(':') && !authority.ends_with(']') {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let base = match base.trim_end_matches('/') {
            "" => String::new(),
            b => format!("/{b}"),
        };
        let token = match (&remote.token, &remote.token_file) {
            (Some(t), _) => t.clone(),
            (None, Some(file)) => std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the admin token from {}", file.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned(),
            (None, None) => std::env::var("WARDEN_ADMIN_TOKEN").map_err(|_| {
                anyhow::anyhow!(
                    "the admin API needs its token: pass --token-file FILE (e.g. <data-dir>/admin-token), set $WARDEN_ADMIN_TOKEN, or pass --token"
                )
            })?,
        };
        Ok(Admin { authority, base, token: token.trim().to_owned() })
    }

    /// One plugin's JSON; an unknown name is `unknown-plugin` (exit 31), as
    /// when loading a directory.
    fn plugin(&self, name: &str) -> Result<Value> {
        let (status, body) = self.request(&format!("/plugins/{}", encode(name)))?;
        if status == 404 {
            let list = self.get("/plugins")?;
            let known = list["plugins"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| p["name"].as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            return Err(warden::Error::UnknownPlugin { plugin: name.to_owned(), known }.into());
        }
        self.check(status, body)
    }

    /// `GET path`, which must answer 200 with JSON.
    fn get(&self, path: &str) -> Result<Value> {
        let (status, body) = self.request(path)?;
        self.check(status, body)
    }

    fn check(&self, status: u16, body: Value) -> Result<Value> {
        let message = || body["error"].as_str().unwrap_or("no message").to_owned();
        match status {
            200 => Ok(body),
            401 => bail!(
                "the admin API at {} refused the token (401): give that gateway's token (--token-file, $WARDEN_ADMIN_TOKEN or --token)",
                self.authority
            ),
            _ => bail!("the admin API at {} answered {status}: {}", self.authority, message()),
        }
    }

    /// Sends `GET path` and returns the status and the JSON body.
    fn request(&self, path: &str) -> Result<(u16, Value)> {
        let where_ = || format!("the admin API at {}", self.authority);
        let addrs: Vec<_> =
            self.authority.to_socket_addrs().with_context(|| format!("cannot resolve {}", self.authority))?.collect();
        let mut stream = None;
        let mut last_error = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, ADMIN_TIMEOUT) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let Some(mut stream) = stream else {
            let why = last_error.map_or_else(|| "no address".to_owned(), |e| e.to_string());
            bail!("cannot connect to {}: {why}; is the gateway running with [admin] enabled?", where_());
        };
        stream.set_read_timeout(Some(ADMIN_TIMEOUT))?;
        stream.set_write_timeout(Some(ADMIN_TIMEOUT))?;
        let head = format!(
            "GET {}{path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\naccept: application/json\r\nconnection: close\r\n\r\n",
            self.base, self.authority, self.token
        );
        stream.write_all(head.as_bytes()).with_context(where_)?;
        let mut raw = Vec::new();
        stream.take(MAX_ANSWER + 1).read_to_end(&mut raw).with_context(where_)?;
        if raw.len() as u64 > MAX_ANSWER {
            bail!("{} sent more than {} MiB; is that URL a Warden admin API?", where_(), MAX_ANSWER >> 20);
        }
        let (status, body) = parse_response(&raw).with_context(where_)?;
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if json.is_null() && status == 200 {
            bail!("{} did not answer with JSON; is that URL a Warden admin API?", where_());
        }
        Ok((status, json))
    }
}

/// The status and body of an HTTP/1.1 response read to its end.
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>)> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").context("the answer is not HTTP")?;
    let head = std::str::from_utf8(&raw[..end]).context("the answer is not HTTP")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .context("the answer is not HTTP")?;
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
        })
    });
    let mut body = raw[end + 4..].to_vec();
    if chunked {
        let (mut rest, mut out) = (&body[..], Vec::new());
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").context("a broken chunked body")?;
            let size = std::str::from_utf8(&rest[..line_end])
                .ok()
                .and_then(|l| usize::from_str_radix(l.split(';').next().unwrap_or("").trim(), 16).ok());
            let size = size.context("a broken chunked body")?;
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            out.extend_from_slice(rest.get(..size).context("a cut chunked body")?);
            rest = rest.get(size + 2..).unwrap_or_default();
        }
        body = out;
    }
    Ok((status, body))
}

/// Percent-encodes a path segment.
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_answers() {
        let (status, body) = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((status, body.as_slice()), (200, &b"{}"[..]));
        let raw = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        let (status, body) = parse_response(raw).unwrap();
        assert_eq!((status, body.as_slice()), (404, &b"{\"a\":1}"[..]));
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn sizes_and_names() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(3 << 19), "1.5 MiB");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}
