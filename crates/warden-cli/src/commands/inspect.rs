//! `warden inspect`: what a plugin is, exports, imports and may do.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::json;
use warden::{Manifest, Plugin};

use crate::Cli;

/// Show a plugin's name, version, hooks, imports, permissions, limits and sha256.
#[derive(clap::Args)]
pub struct Args {
    /// Plugin folder (with plugin.toml) or a bare component `.wasm` file.
    plugin: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(cli: &Cli, args: &Args) -> Result<()> {
    let runtime = cli.runtime()?;
    let plugin = if args.plugin.is_dir() {
        runtime.load(&args.plugin)?
    } else {
        let name = args.plugin.file_stem().map_or("plugin".into(), |s| s.to_string_lossy().replace('_', "-"));
        runtime.load_manifest(Manifest::new(name, &args.plugin))?
    };
    let report = report(&plugin);
    plugin.shutdown();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(())
}

fn report(plugin: &Plugin) -> serde_json::Value {
    let m = plugin.manifest();
    let p = &m.permissions;
    let l = plugin.limits();
    json!({
        "name": plugin.name(),
        "version": plugin.version().to_string(),
        "description": m.description,
        "component": m.component.display().to_string(),
        "sha256": plugin.sha256(),
        "hooks": plugin.hooks().iter().map(|h| h.as_str()).collect::<Vec<_>>(),
        "imports": plugin.imports(),
        "permissions": {
            "files": p.files.iter().map(|f| json!({
                "host": f.host.display().to_string(), "guest": f.guest, "mode": f.access.as_str(),
            })).collect::<Vec<_>>(),
            "env": p.env,
            "network": p.network.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            "modify-request": p.modify_request,
            "modify-response": p.modify_response,
            "key-value": p.key_value,
            "publish": p.publish.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            "subscribe": p.subscribe.iter().map(|t| t.to_string()).collect::<Vec<_>>(),
            "host": serde_json::to_value(&p.host).unwrap_or_default(),
        },
        "limits": {
            "memory": l.memory_bytes,
            "timeout-ms": l.timeout.as_millis() as u64,
            "fuel": l.fuel,
            "stack": l.stack_bytes,
            "max-instances": l.max_instances,
            "max-wait-ms": l.max_wait.as_millis() as u64,
            "max-output": l.max_output_bytes,
            "instance-policy": l.instance_policy.as_str(),
            "key-value-quota": l.key_value_quota_bytes,
            "max-outbound-requests": l.max_outbound_requests,
            "max-outbound-response": l.max_outbound_response_bytes,
        },
    })
}

fn print_text(r: &serde_json::Value) {
    let list = |v: &serde_json::Value| {
        let items: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
            .collect();
        if items.is_empty() { "none".to_owned() } else { items.join(", ") }
    };
    println!("name:        {}", r["name"].as_str().unwrap_or_default());
    println!("version:     {}", r["version"].as_str().unwrap_or_default());
    if let Some(d) = r["description"].as_str() {
        println!("description: {d}");
    }
    println!("component:   {}", r["component"].as_str().unwrap_or_default());
    println!("sha256:      {}", r["sha256"].as_str().unwrap_or_default());
    println!("hooks:       {}", list(&r["hooks"]));
    println!("imports:");
    for i in r["imports"].as_array().into_iter().flatten() {
        println!("  {}", i.as_str().unwrap_or_default());
    }
    let p = &r["permissions"];
    println!("permissions:");
    let files: Vec<String> = p["files"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            format!(
                "{} -> {} ({})",
                f["host"].as_str().unwrap_or_default(),
                f["guest"].as_str().unwrap_or_default(),
                f["mode"].as_str().unwrap_or_default()
            )
        })
        .collect();
    println!("  files:           {}", if files.is_empty() { "none".into() } else { files.join(", ") });
    println!("  env:             {}", list(&p["env"]));
    println!("  network:         {}", list(&p["network"]));
    println!("  modify-request:  {}", p["modify-request"]);
    println!("  modify-response: {}", p["modify-response"]);
    println!("  key-value:       {}", p["key-value"]);
    println!("  publish:         {}", list(&p["publish"]));
    println!("  subscribe:       {}", list(&p["subscribe"]));
    for (key, value) in p["host"].as_object().into_iter().flatten() {
        println!("  {:<16} {value}", format!("{key}:"));
    }
    let l = &r["limits"];
    println!("limits:");
    println!("  memory:          {} bytes", l["memory"]);
    println!("  timeout:         {} ms", l["timeout-ms"]);
    println!("  fuel:            {}", if l["fuel"].is_null() { "unmetered".into() } else { l["fuel"].to_string() });
    println!("  stack:           {} bytes", l["stack"]);
    println!("  max-instances:   {}", l["max-instances"]);
    println!("  max-wait:        {} ms", l["max-wait-ms"]);
    println!("  max-output:      {} bytes", l["max-output"]);
    println!("  instance-policy: {}", l["instance-policy"].as_str().unwrap_or_default());
    println!("  key-value-quota: {} bytes", l["key-value-quota"]);
    println!("  max-outbound-requests: {}", l["max-outbound-requests"]);
    println!("  max-outbound-response: {} bytes", l["max-outbound-response"]);
}
