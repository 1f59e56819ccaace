//! `warden build`: make a plugin's component from its source, in any
//! language Warden supports, and put it where its plugin.toml says.
//!
//! One module per language; each turns a [`Project`] into the component at
//! [`Project::out`]. The languages other than Rust build against a world
//! that `warden build` writes from its own copy of the WIT package
//! ([`wit`]), exporting `lifecycle` and the hook interfaces `[build]
//! exports` lists, and bundle the language's SDK, which this binary also
//! carries, so the SDK always matches the WIT. Afterwards the component is
//! compiled into the compile cache, so no load waits for the compiler.

mod c;
mod js;
mod python;
mod rust;
mod tools;
mod wit;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use warden::Interface;
use warden::{Language, Manifest};

use crate::Cli;

pub(crate) use tools::{stop_builds, stoppable_builds};
/// Warden's WIT package, `warden:plugin@0.2.0`, as this binary carries it.
pub(crate) use wit::PACKAGE as WARDEN_WIT;

/// Build plugins from source (Rust, JavaScript/TypeScript, Python, C/C++)
/// into components, each written to the path its plugin.toml names, and
/// compile them into the compile cache.
///
/// The language comes from `[build] language`, else from the files:
/// Cargo.toml (Rust), package.json or a .js/.ts entry (JavaScript), a .py
/// entry (Python), .c/.cpp sources (C/C++). See docs/PLUGIN_DEVELOPMENT.md.
#[derive(clap::Args)]
pub struct Args {
    /// Plugin folders, each with a plugin.toml.
    #[arg(required = true)]
    plugins: Vec<PathBuf>,
    /// Cargo profile (Rust plugins).
    #[arg(long, default_value = "release")]
    profile: String,
    /// Also compile into the cache of the gateway this config describes
    /// (`<data-dir>/cache`, with its engine settings), so its start does not
    /// wait for the compiler.
    #[arg(long, value_name = "CONFIG")]
    gateway: Option<PathBuf>,
    /// Do not compile the built components into any compile cache.
    #[arg(long)]
    no_precompile: bool,
}

pub fn run(cli: &Cli, args: &Args) -> Result<()> {
    let mut runtimes = Vec::new();
    if !args.no_precompile {
        if !cli.no_cache {
            runtimes.push(cli.runtime()?);
        }
        if let Some(config) = &args.gateway {
            let config = warden_gateway::GatewayConfig::from_file(config)?;
            runtimes.push(warden_gateway::compile_settings(&config).build()?);
        }
    }
    for dir in &args.plugins {
        build_dir(dir, &args.profile, &runtimes, &mut std::io::stdout())?;
    }
    Ok(())
}

/// Builds the plugin in `dir`, reports what it built to `log`, and
/// compiles the component into each runtime's cache.
pub(crate) fn build_dir(
    dir: &Path,
    profile: &str,
    runtimes: &[warden::Runtime],
    log: &mut dyn std::io::Write,
) -> Result<()> {
    let project = Project::open(dir, profile)?;
    let started = Instant::now();
    match project.language {
        Language::Rust => rust::build(&project)?,
        Language::JavaScript => js::build(&project)?,
        Language::Python => python::build(&project)?,
        _ => c::build(&project)?,
    }
    let size = std::fs::metadata(project.out()).map(|m| m.len()).unwrap_or(0);
    writeln!(
        log,
        "built {} ({}) -> {} ({} KiB, {:.1}s)",
        project.manifest.name,
        project.language,
        project.out().display(),
        size.div_ceil(1024),
        started.elapsed().as_secs_f64()
    )?;
    for runtime in runtimes {
        let started = Instant::now();
        if !runtime.precompile(&project.manifest)? {
            writeln!(
                log,
                "compiled {} into the cache ({:.1}s)",
                project.manifest.name,
                started.elapsed().as_secs_f64()
            )?;
        }
    }
    Ok(())
}

/// A plugin folder about to be built.
pub(crate) struct Project {
    /// Its parsed plugin.toml.
    pub manifest: Manifest,
    /// The language it is written in.
    pub language: Language,
    /// Its source files (for Rust: none; cargo finds them), each checked to exist.
    pub sources: Vec<PathBuf>,
    /// Scratch folder for generated files: `<dir>/target/warden` (created
    /// for every language but Rust, whose cargo has its own).
    pub work: PathBuf,
    /// Cargo profile, for Rust.
    pub profile: String,
}

impl Project {
    fn open(dir: &Path, profile: &str) -> Result<Project> {
        let manifest = Manifest::from_dir(dir)?;
        let spec = &manifest.build;
        let language = match spec.language {
            Some(language) => language,
            None => detect(&manifest)?,
        };
        let sources = match language {
            Language::Rust => Vec::new(),
            _ if !spec.sources.is_empty() => spec.sources.clone(),
            _ => vec![default_source(&manifest.dir, language)?],
        };
        for source in &sources {
            if !source.is_file() {
                bail!("{}: [build] source `{}` does not exist", manifest.file.display(), source.display());
            }
        }
        let single = matches!(language, Language::JavaScript | Language::Python);
        if single && sources.len() > 1 {
            bail!(
                "{}: [build] source names {} files; a {language} plugin has one entry module, which imports the others",
                manifest.file.display(),
                sources.len()
            );
        }
        if language != Language::Rust && spec.exports.is_empty() {
            bail!(
                "{}: a {language} plugin must list the hook interfaces it exports, e.g. \
                 `[build] exports = [\"http-filter\"]` (any of http-filter, connect, capture, rule-match, \
                 handler, subscriber)",
                manifest.file.display()
            );
        }
        let work = manifest.dir.join("target").join("warden");
        if language != Language::Rust {
            std::fs::create_dir_all(&work).with_context(|| format!("cannot create `{}`", work.display()))?;
        }
        Ok(Project { manifest, language, sources, work, profile: profile.to_owned() })
    }

    /// The plugin's folder.
    pub fn dir(&self) -> &Path {
        &self.manifest.dir
    }

    /// Where the component goes: `[plugin] component`.
    pub fn out(&self) -> &Path {
        &self.manifest.component
    }

    /// The hook interfaces the plugin exports besides `lifecycle`.
    pub fn exports(&self) -> &[Interface] {
        &self.manifest.build.exports
    }

    /// `[build] flags`.
    pub fn flags(&self) -> &[String] {
        &self.manifest.build.flags
    }
}

/// The language of a plugin folder without `[build] language`.
fn detect(manifest: &Manifest) -> Result<Language> {
    let dir = &manifest.dir;
    if dir.join("Cargo.toml").is_file() {
        return Ok(Language::Rust);
    }
    let by_extension = |path: &Path| match path.extension().and_then(|e| e.to_str()) {
        Some("js" | "mjs" | "ts" | "mts") => Some(Language::JavaScript),
        Some("py") => Some(Language::Python),
        Some("c" | "cc" | "cpp" | "cxx") => Some(Language::C),
        _ => None,
    };
    if let Some(language) = manifest.build.sources.first().and_then(|s| by_extension(s)) {
        return Ok(language);
    }
    if dir.join("package.json").is_file() {
        return Ok(Language::JavaScript);
    }
    if dir.join("pyproject.toml").is_file() {
        return Ok(Language::Python);
    }
    for language in [Language::JavaScript, Language::Python, Language::C] {
        if default_source(dir, language).is_ok() {
            return Ok(language);
        }
    }
    bail!(
        "{}: cannot tell the plugin's language; add `[build] language = \"...\"` (rust, js, python or c) \
         and `source = \"...\"`, or a Cargo.toml for Rust",
        manifest.file.display()
    )
}

/// The conventional entry file of a language, if the folder has one.
fn default_source(dir: &Path, language: Language) -> Result<PathBuf> {
    let names: &[&str] = match language {
        Language::JavaScript => &["plugin.ts", "plugin.js", "src/plugin.ts", "src/plugin.js"],
        Language::Python => &["plugin.py", "src/plugin.py"],
        _ => &["plugin.c", "plugin.cpp", "src/plugin.c", "src/plugin.cpp"],
    };
    names.iter().map(|name| dir.join(name)).find(|path| path.is_file()).with_context(|| {
        format!(
            "no source for this {language} plugin in `{}`: name it with `[build] source = \"...\"` or use {}",
            dir.display(),
            names.join(" or ")
        )
    })
}
