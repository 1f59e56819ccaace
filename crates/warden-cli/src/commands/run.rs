//! `warden run`: call one hook of a plugin and print the result as JSON.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde_json::json;
use warden::{CallContext, Hook, Manifest};

use crate::commands::kv::StoreArgs;
use crate::{Cli, json};

/// Call one hook of a plugin with JSON input and print its result as JSON.
///
/// Input shapes: on-request takes a request
/// (`{"method":"GET","uri":"/hello","headers":[["host","example.com"]],"body":"text"}`);
/// on-response takes `{"request":{...},"response":{"status":200,...}}`;
/// on-connect `{"client_addr":"1.2.3.4:5","server_addr":"0.0.0.0:80"}`;
/// on-capture `{"request":{...},"response":{...},"duration_us":12}`;
/// on-rule-match `{"rule":"name","request":{...},"details":[["k","v"]]}`;
/// handle takes `--action` and `--payload FILE`; on-message takes `--topic`
/// and `--payload FILE`; health takes nothing.
///
/// A plugin with `[permissions] key-value = true` gets its namespace in a
/// key-value store, with its `[limits] key-value-quota`, as in the gateway:
/// by default `kv.redb` in the data folder, which `warden kv` reads too.
#[derive(clap::Args)]
pub struct Args {
    /// Plugin folder (with plugin.toml).
    plugin: PathBuf,
    /// Hook to call: on-request, on-response, on-connect, on-capture, on-rule-match, handle, on-message, health.
    #[arg(long, visible_alias = "call", default_value = "on-request")]
    hook: Hook,
    /// JSON input file for the hook ("-" for stdin).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Action name for `handle`.
    #[arg(long)]
    action: Option<String>,
    /// Topic for `on-message`.
    #[arg(long)]
    topic: Option<String>,
    /// Payload file for `handle` and `on-message` ("-" for stdin; empty if absent).
    #[arg(long, value_name = "FILE")]
    payload: Option<PathBuf>,
    /// Request id passed in the call context.
    #[arg(long, default_value = "cli-1")]
    request_id: String,
    #[command(flatten)]
    store: StoreArgs,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).context("cannot read stdin")?;
        return Ok(buf);
    }
    std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))
}

fn input<T: DeserializeOwned>(args: &Args) -> Result<T> {
    let path = args
        .input
        .as_deref()
        .with_context(|| format!("{} needs --input FILE (see `warden run --help` for its JSON shape)", args.hook))?;
    let bytes = read(path)?;
    serde_json::from_slice(&bytes).with_context(|| format!("`{}` is not valid {} input", path.display(), args.hook))
}

pub fn run(cli: &Cli, args: &Args) -> Result<()> {
    // The store is opened only for a plugin that may use it: a redb file is
    // open in one process at a time, and others need no data folder.
    let store = if Manifest::from_dir(&args.plugin)?.permissions.key_value {
        let store = args.store.open()?;
        tracing::debug!(store = %store.shown, "key-value store");
        Some(store.store)
    } else {
        None
    };
    let mut builder = cli.runtime_builder();
    if let Some(store) = &store {
        builder = builder.key_value(store.clone());
    }
    let runtime = builder.build()?;
    let plugin = runtime.load(&args.plugin)?;
    let ctx = CallContext::new(args.request_id.clone());
    let output = match args.hook {
        Hook::OnRequest => {
            let mut req = input::<json::RequestJson>(args)?.into_request()?;
            let before = json::request(&req);
            let action = plugin.on_request(&ctx, &mut req)?;
            let changed = json::request(&req) != before;
            json::request_action(&action, changed.then_some(&req))
        }
        Hook::OnResponse => {
            let (head, mut resp) = input::<json::ResponseInput>(args)?.into_parts()?;
            let before = json::lent_response(&resp);
            let action = plugin.on_response(&ctx, &std::sync::Arc::new(head), &mut resp)?;
            let changed = json::lent_response(&resp) != before;
            json::response_action(&action, changed.then_some(&resp))
        }
        Hook::OnConnect => {
            json::connect_action(&plugin.on_connect(&input::<json::ConnectionJson>(args)?.into_connection())?)
        }
        Hook::OnCapture => {
            plugin.on_capture(&input::<json::ExchangeInput>(args)?.into_exchange(ctx)?)?;
            json!({"ok": true})
        }
        Hook::OnRuleMatch => {
            plugin.on_rule_match(&input::<json::RuleInput>(args)?.into_event(ctx)?)?;
            json!({"ok": true})
        }
        Hook::Handle => {
            let action = args.action.as_deref().context("handle needs --action NAME")?;
            let payload = args.payload.as_deref().map(read).transpose()?.unwrap_or_default();
            let out = plugin.handle(action, &payload)?;
            let mut obj = serde_json::Map::new();
            json::put_bytes(&mut obj, "output", &out);
            serde_json::Value::Object(obj)
        }
        Hook::OnMessage => {
            let topic = args.topic.as_deref().context("on-message needs --topic NAME")?;
            let payload = args.payload.as_deref().map(read).transpose()?.unwrap_or_default();
            plugin.on_message(topic, &payload)?;
            json!({"ok": true})
        }
        Hook::Health => json::health(&plugin.health()?),
        other => anyhow::bail!(
            "`{other}` is called by the host itself; call on-request, on-response, on-connect, on-capture, on-rule-match, handle, on-message or health"
        ),
    };
    plugin.shutdown();
    if let Some(store) = &store {
        // What the plugin wrote is on disk before the process exits.
        store.flush().map_err(crate::commands::kv::KvError::from)?;
    }
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}
