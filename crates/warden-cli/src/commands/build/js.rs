//! JavaScript and TypeScript plugins: esbuild bundles the entry module, the
//! modules it imports and the SDK into one ES module (transpiling
//! TypeScript), then componentize-js turns that module into a component: it
//! embeds the SpiderMonkey engine and snapshots it (with wizer) after
//! running the module's top level, so no call pays for parsing or for
//! module-level set-up.
//!
//! Files written to `<plugin>/target/warden/`: `sdk/` (the SDK this binary
//! carries, which plugins import as `"warden"`), `main.js` (the bundle's
//! entry: it imports the plugin's default export and exports one object per
//! WIT interface under the name componentize-js expects), `bundle.js`
//! (esbuild's output) and `wit/` (the world).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use warden::Interface;

use super::Project;
use super::tools::{Tool, has_extension, output, run, write};
use super::wit;

/// How to install the npm tools, shown when one is missing.
const NPM_INSTALL: &str = "run `npm install --save-dev @bytecodealliance/componentize-js@0.23 \
                           @bytecodealliance/preview2-shim@0.25 esbuild` in the plugin's folder or a parent (Node.js \
                           18 or newer is needed; componentize-js 0.23 imports preview2-shim without declaring it); \
                           in the Warden repository, `npm ci` at its root";

/// Bundles the plugin's modules and the SDK into one ES module.
const ESBUILD: Tool = Tool { name: "esbuild", install: NPM_INSTALL };

/// Makes a component from an ES module.
const COMPONENTIZE_JS: Tool = Tool { name: "componentize-js", install: NPM_INSTALL };

/// Runs both.
const NODE: Tool = Tool {
    name: "node",
    install: "install Node.js 18 or newer (e.g. `apt-get install nodejs npm`, or from https://nodejs.org)",
};

/// The SDK, file by file, as `warden build` writes it into `<work>/sdk/`.
const SDK: &[(&str, &str)] = &[
    ("warden.js", include_str!("../../../../../sdk/js/warden.js")),
    ("json.js", include_str!("../../../../../sdk/js/json.js")),
];

/// Entry modules esbuild can bundle.
const EXTENSIONS: &[&str] = &["js", "mjs", "ts", "mts"];

pub(crate) fn build(project: &Project) -> Result<()> {
    let source = &project.sources[0];
    if !has_extension(source, EXTENSIONS) {
        bail!("`{}` is not a JavaScript or TypeScript module (.js, .mjs, .ts or .mts)", source.display());
    }
    check_node()?;
    let esbuild = ESBUILD.in_node_modules(project.dir())?;
    let componentize = COMPONENTIZE_JS.in_node_modules(project.dir())?;

    // Absolute: esbuild resolves an alias against its working folder.
    let sdk = std::path::absolute(project.work.join("sdk")).context("cannot resolve the build folder")?;
    for (name, text) in SDK {
        write(&sdk.join(name), text)?;
    }
    let main = project.work.join("main.js");
    let source = source.canonicalize().with_context(|| format!("cannot resolve `{}`", source.display()))?;
    write(&main, entry(&source, project.exports()))?;

    let bundle = project.work.join("bundle.js");
    run(
        Command::new(&esbuild)
            .arg(&main)
            .args(["--bundle", "--format=esm", "--platform=neutral", "--main-fields=module,main"])
            .args(["--external:warden:*", "--log-level=warning", "--charset=utf8"])
            .arg(format!("--alias:warden={}", sdk.join("warden.js").display()))
            .arg(format!("--outfile={}", bundle.display())),
        "esbuild (bundling the plugin's modules; the entry must `export default definePlugin({ ... })`)",
    )?;

    let wit = wit::write_package(project)?;
    // The engine's `http` and `fetch-event` features would import wasi:http,
    // which Warden does not provide; `stdio` (console, uncaught errors on
    // stderr), `random` and `clocks` (Math.random, Date.now) stay.
    run(
        Command::new(&componentize)
            .arg(&bundle)
            .arg("--wit")
            .arg(&wit)
            .args(["--world-name", wit::WORLD, "--disable", "http", "fetch-event", "--out"])
            .arg(project.out()),
        "componentize-js",
    )
}

/// Fails unless `node` is on `PATH` and at least version 18.
fn check_node() -> Result<()> {
    let node = NODE.on_path()?;
    let (_, stdout) = output(Command::new(&node).arg("--version"))?;
    let version = String::from_utf8_lossy(&stdout);
    match major_version(&version) {
        Some(major) if major >= 18 => Ok(()),
        _ => bail!("`node --version` says `{}`: {}", version.trim(), NODE.install),
    }
}

/// The major version in `node --version`'s output, e.g. 20 for `v20.11.1`.
fn major_version(version: &str) -> Option<u32> {
    version.trim().strip_prefix('v')?.split('.').next()?.parse().ok()
}

/// The bundle's entry module: the plugin's default export, exported as one
/// object per WIT interface (`lifecycle` and `exports`), named as
/// componentize-js expects (the interface name in camelCase).
fn entry(source: &Path, exports: &[Interface]) -> String {
    // A JSON string is a valid JavaScript string literal.
    let path = serde_json::to_string(&source.to_string_lossy()).expect("a string serializes");
    let mut text = format!(
        "// Written by `warden build`: exports the plugin's hooks under the names componentize-js expects.\n\
         import plugin from {path};\n\
         import {{ exportInterface }} from \"warden\";\n\n"
    );
    for interface in std::iter::once(&Interface::Lifecycle).chain(exports) {
        let name = short_name(*interface);
        text += &format!("export const {} = exportInterface(plugin, \"{name}\");\n", camel_case(name));
    }
    text
}

/// `http-filter` for `warden:plugin/http-filter@0.2.0`.
fn short_name(interface: Interface) -> &'static str {
    let name = interface.wit_name();
    let name = name.split_once('/').map_or(name, |(_, rest)| rest);
    name.split_once('@').map_or(name, |(name, _)| name)
}

/// `httpFilter` for `http-filter`.
fn camel_case(kebab: &str) -> String {
    let mut words = kebab.split('-');
    let first = words.next().unwrap_or_default().to_owned();
    words.fold(first, |mut out, word| {
        let mut chars = word.chars();
        out.extend(chars.next().map(|c| c.to_ascii_uppercase()));
        out.push_str(chars.as_str());
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_exports_each_interface_under_its_camel_case_name() {
        let text = entry(Path::new("/p/plug\"in.ts"), &[Interface::HttpFilter, Interface::RuleMatch]);
        let lines: Vec<_> = text.lines().skip(1).collect();
        assert_eq!(
            lines,
            [
                r#"import plugin from "/p/plug\"in.ts";"#,
                r#"import { exportInterface } from "warden";"#,
                "",
                r#"export const lifecycle = exportInterface(plugin, "lifecycle");"#,
                r#"export const httpFilter = exportInterface(plugin, "http-filter");"#,
                r#"export const ruleMatch = exportInterface(plugin, "rule-match");"#,
            ]
        );
    }

    #[test]
    fn every_interface_has_a_name_the_sdk_knows() {
        let sdk = SDK[0].1;
        for interface in Interface::ALL {
            let name = short_name(interface);
            assert!(!name.contains([':', '/', '@']), "{name}");
            assert!(sdk.contains(&format!("\"{name}\"")) || sdk.contains(&format!("  {name}: (p)")), "{name}");
        }
        assert_eq!(camel_case("lifecycle"), "lifecycle");
        assert_eq!(camel_case("a-b-cd"), "aBCd");
    }

    #[test]
    fn reads_node_versions() {
        assert_eq!(major_version("v20.11.1\n"), Some(20));
        assert_eq!(major_version("v8.0.0"), Some(8));
        assert_eq!(major_version("20"), None);
    }
}
