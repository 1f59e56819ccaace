//! `warden serve`: run the HTTP gateway on a configuration file until
//! SIGTERM or Ctrl-C, then drain in-flight requests and exit.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use warden_gateway::{GatewayConfig, Mode, Running};

/// Run the HTTP gateway: requests flow through plugin pipelines (see docs/GATEWAY.md).
#[derive(clap::Args)]
pub struct Args {
    /// Gateway configuration file.
    #[arg(long, short, default_value = "warden.toml", value_name = "FILE")]
    pub config: PathBuf,
    /// Listen here instead of [server] listen (e.g. 127.0.0.1:0 for any free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Serve the admin API here instead of [admin] listen.
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
}

/// Reads the configuration (before logging starts, so its log format applies).
pub fn load(args: &Args) -> Result<GatewayConfig, warden_gateway::ConfigError> {
    let mut config = GatewayConfig::from_file(&args.config)?;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let (Some(listen), Some(admin)) = (args.admin_listen, config.admin.as_mut()) {
        admin.listen = listen;
    }
    Ok(config)
}

/// How `warden serve` ended without an error.
pub enum Stopped {
    /// Every request in flight at the stop was answered.
    Drained,
    /// The drain timeout cut requests that were still running.
    Cut,
}

pub fn run(config: GatewayConfig) -> Result<Stopped> {
    if let Some(files) = warden_gateway::raise_open_file_limit() {
        tracing::debug!(files, "open-file limit");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start tokio")?;
    let stopped = runtime.block_on(async move {
        let data_dir = config.server.data_dir.clone();
        let banner = banner_lines(&config);
        let running = warden_gateway::start(config).await?;
        print_banner(&running, &banner, &data_dir);
        wait_for_stop(&running).await;
        tracing::info!(target: "warden_gateway", "stopping; draining in-flight requests");
        if running.shutdown().await {
            Ok(Stopped::Drained)
        } else {
            tracing::error!(target: "warden_gateway", "drain-timeout passed with requests still running; they were cut");
            Ok(Stopped::Cut)
        }
    });
    if let Ok(Stopped::Cut) = stopped {
        // Plugin calls of cut requests end at their own deadline: the
        // process exits without waiting for them (dropping the runtime
        // would, and shutting it down under them would fail their waits).
        std::mem::forget(runtime);
    }
    stopped
}

/// One line per route, and the curl to try for the first with `example-body`
/// or else the first route.
pub(crate) fn banner_lines(config: &GatewayConfig) -> Vec<String> {
    config
        .routes
        .iter()
        .map(|r| {
            let target = match &r.mode {
                Mode::Proxy { upstream, .. } => format!("proxy -> {upstream}"),
                _ => "respond".to_owned(),
            };
            let plugins: Vec<&str> = r.on_request.iter().map(|s| s.plugin.as_str()).collect();
            format!("  route {:<12} {:<10} {target}  on-request: [{}]", r.name, r.path, plugins.join(", "))
        })
        .collect()
}

pub(crate) fn print_banner(running: &Running, routes: &[String], data_dir: &std::path::Path) {
    let url = format!("http://{}", running.addr());
    println!("warden gateway listening on {url}");
    for line in routes {
        println!("{line}");
    }
    if let Some(admin) = running.admin_addr() {
        println!(
            "admin API on http://{admin} (bearer token in {}, or as configured); web page: http://{admin}/ui",
            warden_gateway::token_path(data_dir).display()
        );
    }
    let routes = running.gateway().routes();
    if let Some(route) = routes.iter().find(|r| r.example_body.is_some()).or(routes.first()) {
        let method = route.methods.first().map_or("GET", |m| m.as_str());
        let path = if route.path == "/" { "/" } else { route.path.as_str() };
        match &route.example_body {
            Some(body) => {
                println!("try:\n  curl -i -X {method} {url}{path} -H 'content-type: application/json' -d '{body}'")
            }
            None => println!("try:\n  curl -i -X {method} {url}{path}"),
        }
    }
    println!("stop with Ctrl-C (SIGINT) or SIGTERM");
}

/// Waits for SIGTERM or SIGINT (Ctrl-C). SIGHUP reloads every plugin from
/// its folder, as `POST /plugins/reload` does, in the background: a stop
/// signal during a reload is not delayed by it.
pub(crate) async fn wait_for_stop(running: &Running) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let signals = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()));
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = signals else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => return,
                _ = int.recv() => return,
                _ = hup.recv() => {
                    tokio::spawn(reload_all(running.gateway().manager().clone()));
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = running;
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// SIGHUP: reload every plugin; a failed one keeps its previous version.
async fn reload_all(manager: warden::PluginManager) {
    tracing::info!(target: "warden_gateway", "SIGHUP: reloading every plugin from its folder");
    let results = tokio::task::spawn_blocking(move || manager.reload_all()).await.unwrap_or_default();
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    tracing::info!(target: "warden_gateway", reloaded = results.len() - failed, failed, "SIGHUP reload done");
}
