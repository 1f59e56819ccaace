//! `warden dev`: build a plugin, serve it in a gateway, and rebuild and
//! hot-reload it whenever its source changes.
//!
//! The build is `warden build`'s. The gateway is the one `--config`
//! describes (the plugin folder must be one of its plugin folders), or one
//! of its own with a single route `/` whose pipelines hold just this plugin
//! and which answers with the request's body when the plugin lets the
//! request through (a `respond` route). Its configuration, data and a link
//! to the plugin folder live in `<plugin>/target/warden/dev/`.
//!
//! The sources are watched with `notify` and changes debounced, as the
//! library's directory watcher does. A build that works is swapped into the
//! running gateway by the plugin manager (calls in flight finish on the old
//! version); a build that fails prints the compiler's messages, and the
//! last good build keeps serving.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use warden::{Interface, Language, Manifest, PluginManager, SyncAction};
use warden_gateway::{GatewayConfig, GatewayError};

use super::build;
use super::serve::{self, Stopped};

/// How long the sources must stay quiet after a change before a rebuild:
/// an editor's save in several writes gives one build.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Most file changes waiting to be looked at; more are dropped, which loses
/// nothing: one waiting change already triggers the rebuild.
const MAX_PENDING_CHANGES: usize = 1024;

/// A plugin folder's manifest.
const MANIFEST_FILE: &str = "plugin.toml";

/// Where the default gateway listens.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// Develop a plugin: build it, serve it in a gateway, and on every change to
/// its source rebuild it and hot-reload it. A failed build prints the
/// compiler's messages and the last good build keeps serving.
///
/// Without --config the plugin gets a gateway of its own on 127.0.0.1 with
/// one route `/`: its on-request and on-response pipelines are this plugin
/// (and on-capture, on-connect or a rule, for plugins that export those
/// hooks); a request the plugin lets through is answered 200 with its own
/// body. See docs/PLUGIN_DEVELOPMENT.md.
#[derive(clap::Args)]
pub struct Args {
    /// The plugin folder (with plugin.toml).
    plugin: PathBuf,
    /// Serve the plugin in the gateway this configuration describes instead;
    /// the plugin folder must be in (or linked into) its `[server] plugins`
    /// folder.
    #[arg(long, short, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen here [default: 127.0.0.1:8080, or [server] listen of --config]
    /// (127.0.0.1:0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Cargo profile (Rust plugins).
    #[arg(long, default_value = "release")]
    profile: String,
}

/// Runs `warden dev` until SIGTERM or Ctrl-C, then drains like `warden serve`.
pub fn run(args: &Args) -> Result<Stopped> {
    let dir = plugin_folder(&args.plugin)?;
    let given = args.config.as_deref().map(|file| given_gateway(file, &dir, args.listen)).transpose()?;
    let mut sources = Sources::watch(&dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start tokio")?;
    let (running, served, banner, data_dir) = loop {
        first_build(&dir, &args.profile, &mut sources)?;
        let (config, served) = match &given {
            Some((config, served)) => (config.clone(), served.clone()),
            None => own_gateway(&dir, args.listen)?,
        };
        let (banner, data_dir) = (serve::banner_lines(&config), config.server.data_dir.clone());
        match runtime.block_on(warden_gateway::start(config)) {
            Ok(running) => break (running, served, banner, data_dir),
            Err(e @ GatewayError::Plugins { .. }) => {
                eprintln!("error: {e}");
                eprintln!("the gateway did not start; fix the plugin and save: warden dev builds and starts again");
                let changed = sources.next_change(&AtomicBool::new(false)).context("the source watcher stopped")?;
                println!("{changed} changed: rebuilding");
            }
            Err(e) => return Err(e.into()),
        }
    };

    let name = Manifest::from_dir(&served).map(|m| m.name).unwrap_or_default();
    println!("watching the sources of '{name}' in {}: each change rebuilds and reloads it", dir.display());
    serve::print_banner(&running, &banner, &data_dir);
    let stop = Arc::new(AtomicBool::new(false));
    let rebuilds = Rebuilds {
        dir,
        profile: args.profile.clone(),
        served,
        manager: running.gateway().manager().clone(),
        stop: stop.clone(),
    };
    // From here a signal stops the gateway, which stops a running build.
    build::stoppable_builds();
    let rebuilding = std::thread::Builder::new()
        .name("warden-dev".into())
        .spawn(move || rebuilds.run(sources))
        .context("cannot start the rebuild thread")?;

    let stopped = runtime.block_on(async move {
        serve::wait_for_stop(&running).await;
        stop.store(true, Ordering::SeqCst);
        build::stop_builds();
        tracing::info!(target: "warden_gateway", "stopping; draining in-flight requests");
        if running.shutdown().await {
            Stopped::Drained
        } else {
            tracing::error!(target: "warden_gateway", "drain-timeout passed with requests still running; they were cut");
            Stopped::Cut
        }
    });
    // A build still running is being stopped (within seconds): no compiler
    // outlives `warden dev`.
    let _ = rebuilding.join();
    if let Stopped::Cut = stopped {
        // As in `warden serve`: cut calls end at their own deadline.
        std::mem::forget(runtime);
    }
    Ok(stopped)
}

/// The plugin folder, canonical, checked to hold a plugin.toml.
fn plugin_folder(given: &Path) -> Result<PathBuf> {
    let dir = given.canonicalize().with_context(|| format!("cannot open the plugin folder `{}`", given.display()))?;
    if !dir.join(MANIFEST_FILE).is_file() {
        bail!("`{}` has no {}: give the folder of a plugin (`warden new` makes one)", given.display(), MANIFEST_FILE);
    }
    Ok(dir)
}

/// The gateway `--config` describes, and the path under its plugin folder
/// by which it loads the plugin in `dir`.
fn given_gateway(file: &Path, dir: &Path, listen: Option<SocketAddr>) -> Result<(GatewayConfig, PathBuf)> {
    let mut config = GatewayConfig::from_file(file).map_err(GatewayError::from)?;
    if let Some(listen) = listen {
        config.server.listen = listen;
    }
    // `warden dev` reloads after each good build; the gateway's own
    // watcher would reload the same files a second time.
    config.server.watch = false;
    let plugins = &config.server.plugins;
    let Some(served) = member_of(plugins, dir) else {
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        bail!(
            "`{}` is not one of the plugins of `{}`, which loads the folders in `{}`: move the plugin folder \
             there, or link it (`ln -s {} {}`), or leave out --config to serve the plugin in a gateway of its own",
            dir.display(),
            file.display(),
            plugins.display(),
            dir.display(),
            plugins.join(&*name).display()
        );
    };
    if let Ok(manifest) = Manifest::from_dir(&served)
        && !config.plugin_uses().iter().any(|(plugin, _, _)| *plugin == manifest.name)
    {
        eprintln!(
            "note: no route or rule of `{}` names '{}': it is loaded and reloaded, but no request reaches it",
            file.display(),
            manifest.name
        );
    }
    Ok((config, served))
}

/// The entry of `plugins` (a gateway's plugin folder) that is `dir`, as the
/// gateway names it (a link into the folder counts).
fn member_of(plugins: &Path, dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(plugins)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.canonicalize().is_ok_and(|p| p == dir))
}

/// The gateway of the plugin's own, in `<dir>/target/warden/dev/`: its
/// configuration (written to `gateway.toml` there, to read or copy),
/// `data/` (key-value store, compile cache, admin token) and `plugins/`
/// holding a link to the plugin folder, the path returned.
fn own_gateway(dir: &Path, listen: Option<SocketAddr>) -> Result<(GatewayConfig, PathBuf)> {
    let manifest = Manifest::from_dir(dir)?;
    let exports = exported_interfaces(&manifest.component)?;
    let listen = listen.unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("a valid address"));
    let text = default_config(&manifest.name, &exports, listen)?;
    let work = dir.join("target").join("warden").join("dev");
    let plugins = work.join("plugins");
    std::fs::create_dir_all(&plugins).with_context(|| format!("cannot create `{}`", plugins.display()))?;
    // Links left by an earlier run (the plugin may have had another name).
    for entry in std::fs::read_dir(&plugins).with_context(|| format!("cannot read `{}`", plugins.display()))? {
        let path = entry?.path();
        if path.is_symlink() {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove `{}`", path.display()))?;
        }
    }
    let link = plugins.join(&manifest.name);
    link_folder(dir, &link).with_context(|| format!("cannot link `{}` to `{}`", link.display(), dir.display()))?;
    let file = work.join("gateway.toml");
    std::fs::write(&file, &text).with_context(|| format!("cannot write `{}`", file.display()))?;
    let config = GatewayConfig::parse(&text, &file).map_err(GatewayError::from)?;
    Ok((config, link))
}

/// Makes `link` a symbolic link to the folder `target`.
fn link_folder(target: &Path, link: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    return std::os::unix::fs::symlink(target, link);
    #[cfg(windows)]
    return std::os::windows::fs::symlink_dir(target, link);
    #[cfg(not(any(unix, windows)))]
    return Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "no symbolic links here; use --config"));
}

/// The hook interfaces the component at `path` exports, read from its type
/// (without compiling it).
fn exported_interfaces(path: &Path) -> Result<Vec<Interface>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read the built component `{}`", path.display()))?;
    let decoded = wit_component::decode(&bytes)
        .with_context(|| format!("`{}` is not a WebAssembly component", path.display()))?;
    let wit_component::DecodedWasm::Component(resolve, world) = &decoded else {
        bail!("`{}` is a WIT package, not a plugin component", path.display());
    };
    let unversioned = |name: &str| name.split('@').next().unwrap_or(name).to_owned();
    let names: Vec<String> =
        resolve.worlds[*world].exports.keys().map(|key| unversioned(&resolve.name_world_key(key))).collect();
    Ok(Interface::ALL.into_iter().filter(|i| names.contains(&unversioned(i.wit_name()))).collect())
}

/// The configuration of the plugin's own gateway: `listen`, admin API on a
/// free loopback port, one `respond` route `/` whose pipelines are the
/// plugin for each HTTP hook it exports.
fn default_config(name: &str, exports: &[Interface], listen: SocketAddr) -> Result<String> {
    // A JSON string is a TOML basic string.
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    let list = format!("[{}]", quote(name));
    let mut server = format!(
        "[server]\nlisten = {}\nplugins = \"plugins\"\ndata-dir = \"data\"\n\
         # warden dev reloads the plugin after each build.\nwatch = false\n",
        quote(&listen.to_string())
    );
    let mut route = "[[route]]\nname = \"dev\"\npath = \"/\"\nmode = \"respond\"\n".to_owned();
    let mut rule = String::new();
    if exports.contains(&Interface::HttpFilter) {
        route += &format!("on-request = {list}\non-response = {list}\n");
    }
    if exports.contains(&Interface::Capture) {
        route += &format!("on-capture = {list}\n");
    }
    if exports.contains(&Interface::Connect) {
        server += &format!("on-connect = {list}\n");
    }
    if exports.contains(&Interface::RuleMatch) {
        rule = format!("\n[[rule]]\nname = \"dev\"\npath = \"*\"\nplugins = {list}\n");
    }
    let served = [Interface::HttpFilter, Interface::Capture, Interface::Connect, Interface::RuleMatch];
    if !exports.iter().any(|i| served.contains(i)) {
        bail!(
            "plugin '{name}' exports none of the hooks a gateway calls (http-filter, capture, connect, rule-match): \
             try it with `warden run` or `warden test`, or pass --config with a gateway that calls it"
        );
    }
    Ok(format!(
        "# Written by `warden dev` for plugin '{name}' at each start; edit a copy and pass it with --config.\n\
         {server}\n[admin]\nlisten = \"127.0.0.1:0\"\n\n{route}{rule}"
    ))
}

/// `warden build` of the plugin in `dir`, reporting on stdout; the
/// compilers' messages go to stderr.
fn build(dir: &Path, profile: &str) -> Result<()> {
    build::build_dir(dir, profile, &[], &mut std::io::stdout())
}

/// Builds the plugin, again after each change, until there is a component
/// to serve: this build's, or (when it fails) one an earlier build left.
fn first_build(dir: &Path, profile: &str, sources: &mut Sources) -> Result<()> {
    loop {
        let built = build(dir, profile);
        sources.refresh();
        let Err(e) = built else { return Ok(()) };
        eprintln!("error: {e:#}");
        if let Ok(manifest) = Manifest::from_dir(dir)
            && manifest.component.is_file()
        {
            eprintln!(
                "the build failed; serving the component an earlier build left, `{}`, until a build works",
                manifest.component.display()
            );
            return Ok(());
        }
        eprintln!("the build failed and no earlier build is there to serve: fix it and save, warden dev builds again");
        let changed = sources.next_change(&AtomicBool::new(false)).context("the source watcher stopped")?;
        println!("{changed} changed: rebuilding");
    }
}

/// What the rebuild thread needs.
struct Rebuilds {
    /// The plugin folder (canonical).
    dir: PathBuf,
    /// Cargo profile.
    profile: String,
    /// The plugin folder as the gateway loaded it.
    served: PathBuf,
    manager: PluginManager,
    /// Set once the gateway stops.
    stop: Arc<AtomicBool>,
}

impl Rebuilds {
    /// Rebuilds after each change and swaps a working build in, until the
    /// gateway stops.
    fn run(self, mut sources: Sources) {
        while let Some(changed) = sources.next_change(&self.stop) {
            println!("\n{changed} changed: rebuilding");
            let built = build(&self.dir, &self.profile);
            sources.refresh();
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            match built {
                Ok(()) => self.reload(),
                Err(e) => {
                    eprintln!("error: {e:#}");
                    eprintln!("the build failed; the previous build keeps serving. Fix it and save to build again.");
                }
            }
        }
    }

    /// Swaps the new build in: compiled and initialised first, then calls
    /// go to it while those in flight finish on the old one.
    fn reload(&self) {
        match self.manager.sync_folder(&self.served) {
            Ok(SyncAction::Reloaded(name)) => println!("reloaded '{name}': the new build is serving"),
            Ok(SyncAction::Unchanged) => println!("neither the component nor plugin.toml changed: nothing to reload"),
            Ok(SyncAction::Loaded(name)) => println!(
                "the folder now holds plugin '{name}' and it is serving; pipelines that name the old name fail \
                 until you restart warden dev"
            ),
            Ok(other) => println!("plugin folder synced: {other:?}"),
            Err(e) => {
                eprintln!("error[{}]: {e}", e.kind());
                eprintln!(
                    "the new build did not load; the previous build keeps serving. Fix it and save to try again."
                );
            }
        }
    }
}

/// The plugin's sources as watched: the watcher, which folders it watches
/// and the changes it saw.
struct Sources {
    /// The plugin folder (canonical).
    dir: PathBuf,
    watcher: RecommendedWatcher,
    /// What counts as a change, shared with the watcher's callback.
    filter: Arc<Mutex<Filter>>,
    /// Changed files that count.
    changes: Receiver<PathBuf>,
}

/// The files whose changes count.
#[derive(Debug, Default)]
struct Filter {
    watched: Vec<Watch>,
    /// The built component, which the build writes and which never counts.
    component: Option<PathBuf>,
}

/// A folder watched.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Watch {
    folder: PathBuf,
    /// With its subfolders.
    recursive: bool,
    /// The names of the files that count in it; `None`: every file.
    only: Option<&'static [&'static str]>,
}

impl Watch {
    fn tree(folder: PathBuf) -> Watch {
        Watch { folder, recursive: true, only: None }
    }

    fn files(folder: PathBuf) -> Watch {
        Watch { folder, recursive: false, only: None }
    }

    fn some(folder: PathBuf, only: &'static [&'static str]) -> Watch {
        Watch { folder, recursive: false, only: Some(only) }
    }
}

impl Sources {
    /// Starts watching what the plugin's plugin.toml names.
    fn watch(dir: &Path) -> Result<Sources> {
        let (tx, changes) = mpsc::sync_channel(MAX_PENDING_CHANGES);
        let filter = Arc::new(Mutex::new(Filter::default()));
        let seen = filter.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if !matches!(event.kind, EventKind::Access(_)) => {
                let filter = seen.lock().unwrap_or_else(PoisonError::into_inner);
                for path in event.paths.into_iter().filter(|p| filter.counts(p)) {
                    send(&tx, path);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "source watch error"),
        })
        .with_context(|| format!("cannot watch `{}`", dir.display()))?;
        let mut sources = Sources { dir: dir.to_owned(), watcher, filter, changes };
        sources.refresh();
        Ok(sources)
    }

    /// Re-reads plugin.toml and watches what it names now.
    fn refresh(&mut self) {
        let manifest = Manifest::from_dir(&self.dir).ok();
        let wanted = watch_set(&self.dir, manifest.as_ref());
        let current = self.filter.lock().unwrap_or_else(PoisonError::into_inner).watched.clone();
        // Without holding the filter: the watcher's thread may be waiting
        // for it while `watch` waits for that thread.
        if wanted != current {
            for watch in &current {
                let _ = self.watcher.unwatch(&watch.folder);
            }
            for watch in &wanted {
                let mode = if watch.recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
                if let Err(e) = self.watcher.watch(&watch.folder, mode)
                    && watch.folder.exists()
                {
                    eprintln!("warning: cannot watch `{}`: {e}", watch.folder.display());
                }
            }
        }
        let mut filter = self.filter.lock().unwrap_or_else(PoisonError::into_inner);
        filter.watched = wanted;
        filter.component = manifest.map(|m| m.component);
    }

    /// Waits for a change, then until the sources have been quiet for
    /// [`DEBOUNCE`]; returns what changed, for a message. `None` once `stop`
    /// is set.
    fn next_change(&self, stop: &AtomicBool) -> Option<String> {
        let mut changed = vec![loop {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            match self.changes.recv_timeout(Duration::from_millis(250)) {
                Ok(path) => break path,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }];
        let mut quiet = Instant::now() + DEBOUNCE;
        loop {
            match self.changes.recv_timeout(quiet.saturating_duration_since(Instant::now())) {
                Ok(path) => {
                    if !changed.contains(&path) && changed.len() < MAX_PENDING_CHANGES {
                        changed.push(path);
                    }
                    quiet = Instant::now() + DEBOUNCE;
                }
                Err(RecvTimeoutError::Timeout) => return Some(self.describe(&changed)),
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// The files changed, relative to the plugin folder, leaving out those
    /// gone again (an editor's or `sed -i`'s temporary files).
    fn describe(&self, changed: &[PathBuf]) -> String {
        let present: Vec<&PathBuf> = changed.iter().filter(|p| p.exists()).collect();
        let shown = if present.is_empty() { changed.iter().collect() } else { present };
        let mut names: Vec<String> =
            shown.iter().take(3).map(|p| p.strip_prefix(&self.dir).unwrap_or(p).display().to_string()).collect();
        if shown.len() > 3 {
            names.push(format!("{} more", shown.len() - 3));
        }
        names.join(", ")
    }
}

/// Queues a change unless [`MAX_PENDING_CHANGES`] are waiting.
fn send(tx: &SyncSender<PathBuf>, path: PathBuf) {
    match tx.try_send(path) {
        Ok(()) | Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
    }
}

impl Filter {
    /// Whether a change to `path` calls for a rebuild.
    fn counts(&self, path: &Path) -> bool {
        if self.component.as_deref() == Some(path) || ignored(path) {
            return false;
        }
        self.watched.iter().any(|w| match path.strip_prefix(&w.folder) {
            Ok(rest) if w.recursive => !rest.iter().any(|part| SCRATCH.contains(&part.to_str().unwrap_or_default())),
            Ok(rest) => {
                let name = rest.to_str().unwrap_or_default();
                !name.is_empty()
                    && !name.contains(std::path::MAIN_SEPARATOR)
                    && w.only.is_none_or(|o| o.contains(&name))
            }
            Err(_) => false,
        })
    }
}

/// Folders that builds and tools write into, never sources.
const SCRATCH: &[&str] = &["target", "node_modules", "__pycache__", ".git"];

/// Files that are never sources: build outputs, editors' temporary and
/// backup files, hidden files, and the scratch folders.
fn ignored(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return true };
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
    name.starts_with('.')
        || name.starts_with('#')
        || name.ends_with('~')
        || name == "4913"
        || ["wasm", "cwasm", "o", "swp", "swx", "tmp"].contains(&extension)
        || SCRATCH.contains(&name)
}

/// What to watch for a plugin: plugin.toml always; for Rust, Cargo.toml,
/// build.rs, `src/` and `wit/`; for the other languages, every file in the
/// folders of the `[build]` sources (or in the plugin folder and its `src/`
/// when plugin.toml names none). Everything in the folder when plugin.toml
/// cannot be read.
fn watch_set(dir: &Path, manifest: Option<&Manifest>) -> Vec<Watch> {
    const MANIFEST: &[&str] = &[MANIFEST_FILE];
    const RUST: &[&str] = &[MANIFEST_FILE, "Cargo.toml", "build.rs"];
    let Some(manifest) = manifest else { return vec![Watch::files(dir.to_owned())] };
    let rust = match manifest.build.language {
        Some(language) => language == Language::Rust,
        None => dir.join("Cargo.toml").is_file(),
    };
    if rust {
        return vec![Watch::some(dir.to_owned(), RUST), Watch::tree(dir.join("src")), Watch::tree(dir.join("wit"))];
    }
    let folders: Vec<PathBuf> = match manifest.build.sources.as_slice() {
        [] => vec![dir.to_owned(), dir.join("src")],
        sources => sources.iter().filter_map(|s| s.parent()).map(Path::to_path_buf).collect(),
    };
    let mut set = vec![Watch::some(dir.to_owned(), MANIFEST)];
    for folder in folders {
        match set.iter_mut().find(|w| w.folder == folder) {
            Some(watch) => watch.only = None,
            None => set.push(Watch::files(folder)),
        }
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(dir: &Path, extra: &str) -> Manifest {
        let text = format!("[plugin]\nname = \"p\"\nversion = \"1.0.0\"\ncomponent = \"p.wasm\"\n{extra}");
        Manifest::parse(&text, &dir.join("plugin.toml")).unwrap()
    }

    fn filter(dir: &Path, extra: &str) -> Filter {
        let manifest = manifest(dir, extra);
        Filter { watched: watch_set(dir, Some(&manifest)), component: Some(manifest.component) }
    }

    #[test]
    fn c_plugins_rebuild_on_their_sources_and_the_files_beside_them() {
        let dir = Path::new("/p");
        let f = filter(
            dir,
            "[build]\nlanguage = \"c\"\nsource = [\"plugin.c\", \"lib/util.c\"]\nexports = [\"http-filter\"]\n",
        );
        for path in ["/p/plugin.c", "/p/plugin.h", "/p/plugin.toml", "/p/lib/util.c", "/p/lib/util.h"] {
            assert!(f.counts(Path::new(path)), "{path}");
        }
        for path in [
            "/p/p.wasm",
            "/p/target",
            "/p/target/warden/guest.c",
            "/p/.plugin.c.swp",
            "/p/plugin.c~",
            "/p/4913",
            "/p/lib/deeper/x.c",
            "/elsewhere/plugin.c",
        ] {
            assert!(!f.counts(Path::new(path)), "{path}");
        }
    }

    #[test]
    fn scripts_without_named_sources_watch_the_folder_and_src() {
        let f = filter(Path::new("/p"), "[build]\nlanguage = \"python\"\nexports = [\"http-filter\"]\n");
        assert!(f.counts(Path::new("/p/plugin.py")));
        assert!(f.counts(Path::new("/p/src/helpers.py")));
        assert!(!f.counts(Path::new("/p/__pycache__")));
        assert!(!f.counts(Path::new("/p/node_modules")));
    }

    #[test]
    fn rust_plugins_rebuild_on_src_and_cargo_toml_only() {
        let f = filter(Path::new("/p"), "[build]\nlanguage = \"rust\"\n");
        for path in ["/p/src/lib.rs", "/p/src/a/b.rs", "/p/Cargo.toml", "/p/plugin.toml", "/p/wit/world.wit"] {
            assert!(f.counts(Path::new(path)), "{path}");
        }
        for path in ["/p/Cargo.lock", "/p/README.md", "/p/target/release/x.rlib", "/p/src/target/x"] {
            assert!(!f.counts(Path::new(path)), "{path}");
        }
    }

    #[test]
    fn an_unreadable_manifest_watches_the_whole_folder() {
        let f = Filter { watched: watch_set(Path::new("/p"), None), component: None };
        assert!(f.counts(Path::new("/p/plugin.toml")));
        assert!(f.counts(Path::new("/p/anything.c")));
    }

    #[test]
    fn the_default_gateway_routes_every_http_hook_the_plugin_exports() {
        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let exports = [Interface::Lifecycle, Interface::HttpFilter, Interface::Capture, Interface::RuleMatch];
        let text = default_config("my-plugin", &exports, listen).unwrap();
        let config = GatewayConfig::parse(&text, Path::new("/dev/gateway.toml")).unwrap();
        assert_eq!(config.server.listen, listen);
        assert_eq!(config.server.plugins, Path::new("/dev/plugins"));
        assert!(!config.server.watch);
        let hooks: Vec<String> = config.plugin_uses().iter().map(|(p, hook, _)| format!("{p} {hook}")).collect();
        assert_eq!(
            hooks,
            ["my-plugin on-request", "my-plugin on-response", "my-plugin on-capture", "my-plugin on-rule-match"]
        );
        assert_eq!(config.routes[0].mode, warden_gateway::Mode::Respond);

        let err = default_config("h", &[Interface::Lifecycle, Interface::Handler], listen).unwrap_err();
        assert!(err.to_string().contains("none of the hooks a gateway calls"), "{err}");
    }
}
