//! The `warden` command: run, inspect, validate and build Warden plugins, and
//! manage a directory of them.

mod commands;
mod json;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

const EXIT_CODES: &str = "\
EXIT CODES:
  0   success
  1   other error (bad input file, I/O outside a plugin)
  2   usage error
  3   test-failed       warden test: at least one case failed
  10  manifest          plugin.toml is missing or invalid
  11  io                a plugin file could not be read
  12  invalid-component the .wasm is not a valid component
  13  hash-mismatch     the component does not match its sha256 pin
  14  unsupported       imports or limits Warden cannot provide
  15  init-failed       the plugin's init returned an error
  16  dependency        a [dependencies] entry is missing, incompatible or cyclic
  20  timeout           a call exceeded [limits] timeout
  21  out-of-fuel       a call used up [limits] fuel
  22  memory-limit      the plugin hit [limits] memory
  23  stack-overflow    the plugin overflowed its stack
  24  output-too-large  a result exceeded [limits] max-output
  25  trap              the plugin trapped or panicked
  26  hook-not-exported the plugin does not export that hook
  27  capability-denied the plugin lacks a permission
  28  plugin-error      the plugin returned its own error
  29  busy              all instances stayed busy
  31  unknown-plugin    no plugin of that name is loaded
  32  unavailable       the plugin is disabled, failed or backing off
  33  service-unavailable a host-side service (the key-value store) did not answer in time
  34  not-found         warden kv: the plugin has no such key, or no data at all
  35  key-value         the key-value store could not be opened or refused the operation (warden kv, warden run)
  36  not-admitted      the trust policy refused the plugin (unsigned, untrusted key)
  30  runtime           engine or instantiation failure
  40  config            the gateway configuration is invalid (warden serve)
  41  startup           the gateway could not open a listener, its data folder or key-value store
  42  drain             at shutdown, the drain-timeout cut requests still running (warden serve)
  50  key               a key file is missing or not an ed25519 key in PEM (warden sign, verify)
  51  unsigned          the plugin has no plugin.sig, or the registry no signature for it
  52  signature-invalid the signature is malformed or does not verify
  53  untrusted-key     the signature is valid, by a key not given with --key
  54  tampered          the component, plugin.toml, a signed document or a registry's bytes are not what was signed
  55  policy            the trust policy is inconsistent (an unknown level or permission)
  56  registry          the registry cannot be reached, refused the request, or has no such plugin
  57  downgrade         an older version would replace a newer one (pass --allow-downgrade)
  58  lock              warden.lock is malformed, or a plugin is not what it pins
  59  rolled-back       warden update: the new version failed to load, init or pass its health check

On failure, stderr gets one line: error[<kind>]: <message>";

/// Run, inspect, validate and build Warden WebAssembly plugins, and manage a directory of them.
#[derive(Parser)]
#[command(name = "warden", version, about, after_help = EXIT_CODES)]
struct Cli {
    /// Compile cache directory [default: $WARDEN_CACHE_DIR, else $XDG_CACHE_HOME/warden, else ~/.cache/warden]
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every time instead of using the cache.
    #[arg(long, global = true)]
    no_cache: bool,
    /// More log output (-v: debug, -vv: trace). Plugin logs at info and above are always shown.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    New(commands::new::Args),
    Test(commands::test::Args),
    Run(commands::run::Args),
    Inspect(commands::inspect::Args),
    Validate(commands::validate::Args),
    Build(commands::build::Args),
    Plugins(commands::plugins::Args),
    Serve(commands::serve::Args),
    Dev(commands::dev::Args),
    Kv(commands::kv::Args),
    Keygen(commands::keygen::Args),
    Sign(commands::sign::Args),
    Verify(commands::verify::Args),
    Push(commands::push::Args),
    Pull(commands::pull::Args),
    Install(commands::install::Args),
    Update(commands::update::Args),
    Versions(commands::versions::Args),
}

impl Cli {
    fn runtime(&self) -> Result<warden::Runtime, warden::Error> {
        self.runtime_builder().build()
    }

    /// A runtime builder with the compile cache the flags choose.
    fn runtime_builder(&self) -> warden::RuntimeBuilder {
        let mut builder = warden::Runtime::builder();
        if !self.no_cache
            && let Some(dir) = self.cache_dir.clone().or_else(default_cache_dir)
        {
            builder = builder.cache_dir(dir);
        }
        builder
    }
}

pub(crate) fn default_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("WARDEN_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("warden")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("warden")))
}

/// Exit code for a library error kind (documented in `--help`).
fn exit_code(kind: warden::ErrorKind) -> u8 {
    use warden::ErrorKind as K;
    match kind {
        K::Manifest => 10,
        K::Io => 11,
        K::InvalidComponent => 12,
        K::HashMismatch => 13,
        K::Unsupported => 14,
        K::InitFailed => 15,
        K::Timeout => 20,
        K::OutOfFuel => 21,
        K::MemoryLimit => 22,
        K::StackOverflow => 23,
        K::OutputTooLarge => 24,
        K::Trap => 25,
        K::HookNotExported => 26,
        K::CapabilityDenied => 27,
        K::Plugin => 28,
        K::Busy => 29,
        K::Dependency => 16,
        K::UnknownPlugin => 31,
        K::Unavailable => 32,
        K::ServiceUnavailable => 33,
        K::NotAdmitted => 36,
        _ => 30,
    }
}

/// Logs to stderr; `WARDEN_LOG` (an `EnvFilter`) overrides the level.
fn init_logging(filter: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG").unwrap_or_else(|_| filter.into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if json {
        builder.json().with_current_span(false).init();
        // A panic message too is one JSON line, not plain text.
        std::panic::set_hook(Box::new(|info| tracing::error!(target: "warden", panic = %info, "a thread panicked")));
    } else {
        builder.with_target(false).init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match cli.verbose {
        0 => "warn,warden::plugin=info",
        1 => "debug",
        _ => "trace",
    };
    if let Command::Dev(args) = &cli.command {
        let filter = match cli.verbose {
            0 => "warn,warden::plugin=info,warden::access=info,warden_gateway=info",
            _ => filter,
        };
        init_logging(filter, false);
        return match commands::dev::run(args) {
            Ok(commands::serve::Stopped::Drained) => ExitCode::SUCCESS,
            Ok(commands::serve::Stopped::Cut) => ExitCode::from(42),
            Err(err) => report(&err),
        };
    }
    if let Command::Serve(args) = &cli.command {
        let config = match commands::serve::load(args) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error[config]: {e}");
                return ExitCode::from(40);
            }
        };
        let filter = match cli.verbose {
            0 => "warn,warden::plugin=info,warden::access=info,warden::audit=info,warden_gateway=info",
            _ => filter,
        };
        let json = config.server.log_format == warden_gateway::LogFormat::Json;
        init_logging(filter, json);
        return match commands::serve::run(config) {
            Ok(commands::serve::Stopped::Drained) => ExitCode::SUCCESS,
            Ok(commands::serve::Stopped::Cut) => ExitCode::from(42),
            Err(err) if json => {
                // One JSON line, like every other line in this mode.
                let (kind, code, message) = describe(&err);
                tracing::error!(target: "warden", kind, exit_code = code, "{message}");
                ExitCode::from(code)
            }
            Err(err) => report(&err),
        };
    }
    match &cli.command {
        Command::Test(_) => commands::test::init_logging(filter),
        _ => init_logging(filter, false),
    }

    let result = match &cli.command {
        Command::Run(args) => commands::run::run(&cli, args),
        Command::Inspect(args) => commands::inspect::run(&cli, args),
        Command::Validate(args) => commands::validate::run(&cli, args),
        Command::Build(args) => commands::build::run(&cli, args),
        Command::Plugins(args) => commands::plugins::run(&cli, args),
        Command::Test(args) => commands::test::run(&cli, args),
        Command::New(args) => commands::new::run(args),
        Command::Kv(args) => commands::kv::run(&cli, args),
        Command::Keygen(args) => commands::keygen::run(args),
        Command::Sign(args) => commands::sign::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Push(args) => commands::push::run(args),
        Command::Pull(args) => commands::pull::run(args),
        Command::Install(args) => commands::install::run(args),
        Command::Update(args) => commands::update::run(&cli, args),
        Command::Versions(args) => commands::versions::run(args),
        Command::Serve(_) | Command::Dev(_) => unreachable!("handled above"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => report(&err),
    }
}

/// Prints `error[<kind>]: <message>` and picks the exit code.
fn report(err: &anyhow::Error) -> ExitCode {
    match describe(err) {
        ("other", code, message) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
        (kind, code, message) => {
            eprintln!("error[{kind}]: {message}");
            ExitCode::from(code)
        }
    }
}

/// The kind (`"other"` for errors outside the library and the gateway),
/// exit code and one-line message of an error.
fn describe(err: &anyhow::Error) -> (&'static str, u8, String) {
    let one_line = |s: String| s.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(e) = err.downcast_ref::<commands::test::CasesFailed>() {
        return ("test-failed", 3, e.to_string());
    }
    if let Some(e) = err.downcast_ref::<commands::update::RolledBack>() {
        return ("rolled-back", 59, one_line(e.to_string()));
    }
    if let Some(e) = err.downcast_ref::<commands::kv::KvError>() {
        return (e.kind(), e.exit_code(), one_line(e.to_string()));
    }
    if let Some(e) = err.downcast_ref::<warden_dist::DistError>() {
        let code = match e.kind() {
            "manifest" => 10,
            "io" => 11,
            "key" => 50,
            "unsigned" => 51,
            "signature-invalid" => 52,
            "untrusted-key" => 53,
            "tampered" => 54,
            "policy" => 55,
            "registry" => 56,
            "downgrade" => 57,
            "lock" => 58,
            _ => 1,
        };
        return (e.kind(), code, one_line(e.to_string()));
    }
    if let Some(e) = err.downcast_ref::<warden::Error>() {
        return (e.kind().as_str(), exit_code(e.kind()), one_line(e.to_string()));
    }
    if let Some(e) = err.downcast_ref::<warden_gateway::GatewayError>() {
        use warden_gateway::GatewayError as G;
        let (kind, code) = match e {
            G::Config(_) => ("config", 40),
            G::Plugins { failures, .. } => {
                let kind = failures.first().map_or(warden::ErrorKind::Runtime, |(_, e)| e.kind());
                (kind.as_str(), exit_code(kind))
            }
            G::Warden(w) => (w.kind().as_str(), exit_code(w.kind())),
            _ => ("startup", 41),
        };
        return (kind, code, one_line(e.to_string()));
    }
    ("other", 1, one_line(format!("{err:#}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_has_a_distinct_documented_exit_code() {
        let mut seen = std::collections::HashSet::new();
        for kind in warden::ErrorKind::ALL {
            let code = exit_code(kind);
            assert!(seen.insert(code), "{kind} shares exit code {code}");
            assert!(EXIT_CODES.contains(&format!("  {code}  {kind}")), "{kind} ({code}) missing from --help");
        }
    }

    #[test]
    fn cli_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
