//! `warden new`: a complete plugin project that builds and passes its own
//! tests on the first try, in any language `warden build` supports.
//!
//! Every project does the same small job, so the languages read alike: a
//! `greeting` setting from `[config]`; `http-filter` refuses `/admin` and
//! tags other requests with `x-greeting`; `handler` answers action `greet`;
//! `subscriber` logs what it receives. The manifest grants exactly what
//! that code needs, and `tests/<name>.toml` holds `warden test` cases for
//! each hook chosen. One module per language writes the source ([`rust`],
//! [`js`], [`python`], [`c`]).

mod c;
mod js;
mod python;
mod rust;
mod world;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use warden::Language;

/// Create a new plugin project: plugin.toml, source, tests, README.
///
/// The project builds with `warden build <dir>` and passes `warden test
/// <dir>` as created. See docs/PLUGIN_DEVELOPMENT.md ("The five-minute
/// journey").
#[derive(clap::Args)]
pub struct Args {
    /// Plugin name: lowercase letters, digits and `-`, starting with a
    /// letter. Also the folder created, unless --dir.
    #[arg(value_parser = parse_name)]
    name: String,
    /// Language: rust, js, ts, python or c.
    #[arg(long, default_value = "rust", value_parser = parse_lang)]
    lang: Lang,
    /// Hooks to implement, comma-separated: http-filter, handler, subscriber
    /// [default: http-filter].
    #[arg(long, value_delimiter = ',', value_parser = parse_hook, conflicts_with = "world")]
    hooks: Vec<Hook>,
    /// A plugin of a host's own world instead of Warden's hooks: the WIT
    /// folder and the world, e.g. `--world wit:analyzer` (Rust only).
    #[arg(long, value_name = "WIT-DIR:WORLD")]
    world: Option<String>,
    /// Folder to create [default: ./<name>]. It must not exist or be empty.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The warden-pdk crate a Rust project depends on, by path [default:
    /// the one in the Warden source tree this binary was built from].
    #[arg(long, value_name = "DIR")]
    pdk: Option<PathBuf>,
}

/// A language, with TypeScript apart from JavaScript (same SDK, typed source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lang {
    Rust,
    Js,
    Ts,
    Python,
    C,
}

fn parse_lang(s: &str) -> Result<Lang, String> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "rust" | "rs" => Lang::Rust,
        "js" | "javascript" => Lang::Js,
        "ts" | "typescript" => Lang::Ts,
        "python" | "py" => Lang::Python,
        "c" => Lang::C,
        other => return Err(format!("`{other}` is not a language warden new knows: rust, js, ts, python or c")),
    })
}

/// A hook interface the templates implement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Hook {
    HttpFilter,
    Handler,
    Subscriber,
}

fn parse_hook(s: &str) -> Result<Hook, String> {
    Ok(match s.trim() {
        "http-filter" => Hook::HttpFilter,
        "handler" => Hook::Handler,
        "subscriber" => Hook::Subscriber,
        other => {
            return Err(format!(
                "`{other}` is not a hook warden new writes: http-filter, handler or subscriber \
                 (add connect, capture or rule-match by hand; see docs/PLUGIN_DEVELOPMENT.md)"
            ));
        }
    })
}

impl Hook {
    fn interface(self) -> &'static str {
        match self {
            Hook::HttpFilter => "http-filter",
            Hook::Handler => "handler",
            Hook::Subscriber => "subscriber",
        }
    }
}

/// What every language's writer gets.
pub(crate) struct Plan {
    /// The plugin name, e.g. `hello-filter`.
    pub name: String,
    /// `hello_filter`: Rust crate and component file stem.
    pub snake: String,
    /// `HelloFilter`: type name.
    pub camel: String,
    /// The topic a subscriber subscribes to: `<name>.events`.
    pub topic: String,
    hooks: Vec<Hook>,
}

impl Plan {
    pub fn has(&self, interface: &str) -> bool {
        self.hooks.iter().any(|h| h.interface() == interface)
    }
}

/// A file to write: path relative to the project, contents.
pub(crate) type File = (String, String);

pub fn run(args: &Args) -> Result<()> {
    let mut hooks = args.hooks.clone();
    if hooks.is_empty() && args.world.is_none() {
        hooks.push(Hook::HttpFilter);
    }
    hooks.sort();
    hooks.dedup();
    let plan = Plan {
        snake: args.name.replace('-', "_"),
        camel: args.name.split('-').map(capitalize).collect(),
        topic: format!("{}.events", args.name),
        name: args.name.clone(),
        hooks,
    };
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() && std::fs::read_dir(&dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("`{}` already exists and is not empty; choose another name or --dir", dir.display());
    }
    let language = match args.lang {
        Lang::Rust => Language::Rust,
        Lang::Js | Lang::Ts => Language::JavaScript,
        Lang::Python => Language::Python,
        Lang::C => Language::C,
    };
    if let Some(spec) = &args.world {
        if args.lang != Lang::Rust {
            bail!(
                "`--world` makes Rust projects only: `warden build` builds JavaScript, Python and C plugins \
                 for Warden's own hooks, not yet for a host's world; drop `--lang` or write the plugin by hand"
            );
        }
        let world = world::HostWorld::open(spec, &plan.camel)?;
        let mut files = world.files(&plan, &pdk_path(args.pdk.as_deref())?)?;
        files.push(("plugin.toml".into(), world_manifest(&plan, &world.name())));
        files.push(("README.md".into(), world_readme(&plan, &world.name(), &dir)));
        return write_project(&plan, Language::Rust, &dir, files);
    }
    let mut files = match args.lang {
        Lang::Rust => rust::files(&plan, &pdk_path(args.pdk.as_deref())?),
        Lang::Js => js::files(&plan, false),
        Lang::Ts => js::files(&plan, true),
        Lang::Python => python::files(&plan),
        Lang::C => c::files(&plan),
    };
    let source = files.iter().map(|(p, _)| p.as_str()).find(|p| p.starts_with("plugin.")).unwrap_or_default();
    let manifest = manifest(&plan, language, source);
    files.push(("plugin.toml".into(), manifest));
    files.push((format!("tests/{}.toml", plan.name), cases(&plan)));
    files.push(("README.md".into(), readme(&plan, language, &dir)));
    write_project(&plan, language, &dir, files)
}

/// Writes the project's files (and a .gitignore) into `dir`.
fn write_project(plan: &Plan, language: Language, dir: &Path, mut files: Vec<File>) -> Result<()> {
    files.push((".gitignore".into(), "target/\n*.wasm\nnode_modules/\n__pycache__/\n".into()));
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    let shown = dir.display();
    println!("created {} ({language}) in {shown}", plan.name);
    println!("  warden test {shown}     # build it and run tests/{}.toml", plan.name);
    if plan.has("http-filter") {
        println!("  warden dev {shown}      # serve it on 127.0.0.1, rebuilt and reloaded on every change");
    }
    Ok(())
}

fn parse_name(name: &str) -> Result<String, String> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    match ok {
        true => Ok(name.to_owned()),
        false => Err(format!(
            "`{name}` is not a plugin name: use lowercase letters, digits and single `-`, starting with a letter \
             (at most 64 characters), e.g. `hello-filter`"
        )),
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

/// The warden-pdk crate for a Rust project: `--pdk`, else the one beside
/// this binary's source, if it is still there.
fn pdk_path(given: Option<&Path>) -> Result<PathBuf> {
    let path = match given {
        Some(path) => path.to_owned(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../warden-pdk"),
    };
    let path = std::fs::canonicalize(&path).ok().filter(|p| p.join("Cargo.toml").is_file()).with_context(|| {
        format!(
            "warden-pdk is not at `{}`; warden-pdk is not on crates.io yet, so point --pdk at \
             crates/warden-pdk in a Warden source tree",
            path.display()
        )
    })?;
    Ok(path)
}

/// plugin.toml: least privilege for the code the templates write.
fn manifest(plan: &Plan, language: Language, source: &str) -> String {
    let interpreted = matches!(language, Language::JavaScript | Language::Python);
    let mut t = String::new();
    let _ = writeln!(t, "[plugin]\nname = \"{}\"\nversion = \"0.1.0\"", plan.name);
    let _ = writeln!(t, "description = \"A Warden plugin\"\ncomponent = \"{}.wasm\"\n", plan.snake);
    t.push_str("# Least privilege: only what the code needs. See docs/MANIFEST.md.\n[permissions]\n");
    if plan.has("http-filter") {
        t.push_str("modify-request = true # on-request sets x-greeting\n");
    }
    if plan.has("subscriber") {
        let _ = writeln!(t, "subscribe = [\"{}\"]", plan.topic);
    }
    t.push_str("\n[limits]\n");
    if interpreted {
        t.push_str(
            "# The language's interpreter lives in the plugin's memory and starts in init.\n\
             timeout = \"500ms\"\nmemory = \"32 MiB\"\n",
        );
    } else {
        t.push_str("timeout = \"100ms\"\nmemory = \"16 MiB\"\n");
    }
    t.push_str("\n[config]\ngreeting = \"hello\"\n");
    if language != Language::Rust {
        let exports: Vec<String> = plan.hooks.iter().map(|h| format!("\"{}\"", h.interface())).collect();
        let lang = match language {
            Language::JavaScript => "js",
            Language::Python => "python",
            _ => "c",
        };
        let _ = write!(
            t,
            "\n# How `warden build` makes the component (docs/MANIFEST.md, [build]).\n[build]\nlanguage = \"{lang}\"\nsource = \"{source}\"\nexports = [{}]\n",
            exports.join(", ")
        );
    }
    t
}

/// tests/<name>.toml: a case or two per hook.
fn cases(plan: &Plan) -> String {
    let mut t = format!(
        "# `warden test` cases for {}: each calls one hook of the built component\n\
         # under the real runtime and checks what came out. Format: docs/TESTING.md.\n",
        plan.name
    );
    if plan.has("http-filter") {
        t.push_str(
            r#"
[[case]]
name = "requests are tagged with the greeting"
request = { method = "GET", uri = "/hello" }
[case.expect]
action = "continue"
request.header = { "x-greeting" = "hello" }

[[case]]
name = "the greeting comes from the config"
config = { greeting = "bonjour" }
request = { method = "GET", uri = "/hello" }
[case.expect]
request.header = { "x-greeting" = "bonjour" }

[[case]]
name = "admin paths are refused"
request = { method = "GET", uri = "/admin/users" }
[case.expect]
action = "reject"
status = 403
reason = "forbidden"
request.headers-absent = ["x-greeting"]
"#,
        );
    }
    if plan.has("handler") {
        t.push_str(
            r#"
[[case]]
name = "greet answers with the greeting"
hook = "handle"
handle = { action = "greet", payload = "Ada" }
[case.expect]
output.body = "hello, Ada!"

[[case]]
name = "unknown actions are errors"
hook = "handle"
handle = { action = "shout", payload = "" }
[case.expect]
error = { kind = "plugin-error", code = "unknown-action" }
"#,
        );
    }
    if plan.has("subscriber") {
        let _ = write!(
            t,
            r#"
[[case]]
name = "messages are logged"
hook = "on-message"
message = {{ topic = "{}", payload = "ping" }}
[case.expect]
logs = ["INFO {}: 4 bytes"]
"#,
            plan.topic, plan.topic
        );
    }
    t
}

fn readme(plan: &Plan, language: Language, dir: &Path) -> String {
    let dir = dir.display();
    let hooks: Vec<&str> = plan.hooks.iter().map(|h| h.interface()).collect();
    let mut t = format!(
        "# {name}\n\nA Warden plugin in {language}, made by `warden new`. It implements {hooks}.\n\n\
         ```sh\nwarden test {dir}    # build, then run the cases in tests/\nwarden build {dir}   # only build: {snake}.wasm\n{dev}```\n\n\
         - `plugin.toml`: name, permissions (only what the code needs), limits, `[config]`{build}.\n\
         - `tests/{name}.toml`: `warden test` cases (docs/TESTING.md in the Warden repository).\n",
        name = plan.name,
        hooks = hooks.join(", "),
        snake = plan.snake,
        build = if language == Language::Rust { "" } else { ", `[build]`" },
        dev = if plan.has("http-filter") {
            format!("warden dev {dir}     # serve it on 127.0.0.1, rebuilt and reloaded on every change\n")
        } else if plan.has("handler") {
            format!("warden run {dir} --hook handle --action greet   # call it once\n")
        } else {
            format!("warden run {dir} --hook on-message --topic {}   # call it once\n", plan.topic)
        },
    );
    match language {
        Language::Rust => t.push_str(
            "- `src/lib.rs`: the plugin, and native unit tests (`cargo test`) that run against\n  \
             `warden_pdk::testing::MockHost`.\n\nGuide: docs/PLUGIN_DEVELOPMENT.md.\n",
        ),
        Language::JavaScript => t.push_str(
            "\nBuilding needs Node.js 18+ and, in this folder or a parent, `npm install --save-dev \
             @bytecodealliance/componentize-js@0.23 esbuild`. Guide: docs/JAVASCRIPT.md.\n",
        ),
        Language::Python => {
            t.push_str("\nBuilding needs `pip install componentize-py==0.25.1`. Guide: docs/PYTHON.md.\n")
        }
        _ => t.push_str(
            "\nBuilding needs clang, lld and wasi-libc (Debian: `apt-get install clang lld wasi-libc \
             libclang-rt-14-dev-wasm32`). Guide: docs/C.md.\n",
        ),
    }
    t
}

/// plugin.toml of a plugin of a host's world: no permission at all (the
/// skeleton needs none), small limits.
fn world_manifest(plan: &Plan, world: &str) -> String {
    format!(
        "[plugin]\nname = \"{name}\"\nversion = \"0.1.0\"\ndescription = \"A plugin of {world}\"\n\
         component = \"{snake}.wasm\"\n\n\
         # Least privilege: nothing is granted until the code needs it. See docs/MANIFEST.md.\n\
         [permissions]\n\n[limits]\ntimeout = \"100ms\"\nmemory = \"16 MiB\"\n",
        name = plan.name,
        snake = plan.snake,
    )
}

fn world_readme(plan: &Plan, world: &str, dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "# {name}\n\nA plugin of the host world `{world}`, in Rust, made by `warden new --world`.\n\n\
         ```sh\nwarden test {dir}    # build, then call each function as tests/{name}.toml says\n\
         warden build {dir}   # only build: {snake}.wasm\n```\n\n\
         - `wit/`: the host's WIT, copied (and Warden's package in `wit/deps/` if the host's WIT uses it);\n  \
         copy it again when the host's WIT changes.\n\
         - `src/lib.rs`: one function per export of the world, each returning a default value for now.\n\
         - `tests/{name}.toml`: `warden test` cases that call the functions by name with `args` and check\n  \
         the `result` (docs/TESTING.md, \"Plugins of a host's own world\"); a case answers the\n  \
         plugin's calls of the host's own imports with `[[case.import]]`.\n\
         - `plugin.toml`: name, permissions (none yet), limits.\n\nGuide: docs/PLUGIN_DEVELOPMENT.md.\n",
        name = plan.name,
        snake = plan.snake,
    )
}
