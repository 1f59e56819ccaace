//! Python plugins: componentize-py bundles a CPython interpreter, the
//! author's modules, the SDK and the bindings for the plugin's world into
//! one component, importing the app at build time and snapshotting the
//! interpreter, so no call pays for the imports.
//!
//! Files written to `<plugin>/target/warden/`: `wit/` (the world) and
//! `python/`, which goes first on the component's module path: `warden/`
//! (the SDK this binary carries) and `warden_app.py`, the app module
//! componentize-py exports: it imports the entry module and defines one
//! class per exported interface, delegating to the SDK.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use warden::Interface;

use super::Project;
use super::tools::{Tool, run, write};
use super::wit;

/// The toolchain: one PyPI package (its wheel carries CPython and wasm tools).
const COMPONENTIZE_PY: Tool = Tool { name: "componentize-py", install: "pip install componentize-py==0.25.1" };

/// The SDK package `warden`, file by file, as plugins import it.
const SDK: &[(&str, &str)] = &[
    ("__init__.py", include_str!("../../../../../sdk/python/warden/__init__.py")),
    ("_export.py", include_str!("../../../../../sdk/python/warden/_export.py")),
    ("_wit.py", include_str!("../../../../../sdk/python/warden/_wit.py")),
    ("config.py", include_str!("../../../../../sdk/python/warden/config.py")),
    ("host.py", include_str!("../../../../../sdk/python/warden/host.py")),
    ("http.py", include_str!("../../../../../sdk/python/warden/http.py")),
    ("jsonscan.py", include_str!("../../../../../sdk/python/warden/jsonscan.py")),
    ("kv.py", include_str!("../../../../../sdk/python/warden/kv.py")),
    ("log.py", include_str!("../../../../../sdk/python/warden/log.py")),
    ("plugin.py", include_str!("../../../../../sdk/python/warden/plugin.py")),
    ("types.py", include_str!("../../../../../sdk/python/warden/types.py")),
    ("py.typed", ""),
];

/// The generated app module; its name must not be one of the author's.
const APP: &str = "warden_app";

pub(crate) fn build(project: &Project) -> Result<()> {
    let componentize_py = COMPONENTIZE_PY.on_path()?;
    let source = project.sources.first().context("a Python plugin has one entry module")?;
    let module = module_name(source)?;
    let wit_dir = wit::write_package(project)?;

    let python = project.work.join("python");
    let sdk = python.join("warden");
    if sdk.is_dir() {
        // Drop files an older SDK had.
        std::fs::remove_dir_all(&sdk).with_context(|| format!("cannot remove `{}`", sdk.display()))?;
    }
    for (name, text) in SDK {
        write(&sdk.join(name), text)?;
    }
    write(&python.join(format!("{APP}.py")), app(&project.manifest.name, &module, project.exports()))?;

    let source_dir = source.parent().unwrap_or(Path::new("."));
    run(
        Command::new(componentize_py)
            .arg("--wit-path")
            .arg(&wit_dir)
            .args(["--world", wit::WORLD, "componentize", "--python-path"])
            .arg(&python)
            .arg("--python-path")
            .arg(source_dir)
            .arg(APP)
            .arg("--output")
            .arg(project.out()),
        "componentize-py",
    )
}

/// The module name of the entry file `source`: its stem, which must be a
/// Python identifier and not shadow the SDK or the app.
fn module_name(source: &Path) -> Result<String> {
    let stem = source.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let identifier = stem.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && stem.chars().all(|c| c.is_alphanumeric() || c == '_');
    if source.extension().is_none_or(|e| e != "py") || !identifier {
        bail!(
            "`{}`: a Python plugin's entry is a module file named like `plugin.py` (a Python identifier, `.py`)",
            source.display()
        );
    }
    if stem == "warden" || stem == APP {
        bail!("`{}`: the entry module cannot be named `{stem}`, which the SDK uses", source.display());
    }
    Ok(stem.to_owned())
}

/// The text of the app module for `module` exporting `exports`.
fn app(plugin: &str, module: &str, exports: &[Interface]) -> String {
    let names: Vec<&str> = exports.iter().map(|i| short_name(*i)).collect();
    let quoted: String = names.iter().map(|n| format!("{n:?}, ")).collect();
    let mut text = format!(
        "# Written by `warden build` for plugin `{plugin}`: the app componentize-py\n\
         # exports. It imports `{module}` now, at build time, into the snapshot.\n\
         import sys\n\n\
         # No __pycache__ in the plugin's folder.\n\
         sys.dont_write_bytecode = True\n\n\
         import warden._export as _export\n\n\
         _export.load({module:?}, ({quoted}))\n\n\
         Lifecycle = _export.Lifecycle\n"
    );
    for name in names {
        let class = class_name(name);
        text += &format!("{class} = _export.{class}\n");
    }
    text
}

/// `http-filter` for `warden:plugin/http-filter@0.2.0`.
fn short_name(interface: Interface) -> &'static str {
    let name = interface.wit_name();
    let start = name.find('/').map_or(0, |i| i + 1);
    &name[start..name.rfind('@').unwrap_or(name.len())]
}

/// The class componentize-py looks for: `HttpFilter` for `http-filter`.
fn class_name(interface: &str) -> String {
    interface
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_loads_the_module_and_names_a_class_per_export() {
        let text = app("validator", "plugin", &[Interface::HttpFilter, Interface::RuleMatch]);
        assert!(text.contains("_export.load(\"plugin\", (\"http-filter\", \"rule-match\", ))\n"), "{text}");
        let classes: Vec<&str> = text.lines().filter(|l| l.contains(" = _export.")).collect();
        assert_eq!(
            classes,
            ["Lifecycle = _export.Lifecycle", "HttpFilter = _export.HttpFilter", "RuleMatch = _export.RuleMatch"]
        );
        assert!(app("p", "m", &[]).contains("_export.load(\"m\", ())"));
    }

    #[test]
    fn every_interface_has_a_class_in_the_sdk() {
        let export = SDK.iter().find(|(name, _)| *name == "_export.py").unwrap().1;
        for interface in Interface::ALL {
            let class = class_name(short_name(interface));
            assert!(export.contains(&format!("\nclass {class}:\n")), "{class}");
            if interface != Interface::Lifecycle {
                assert!(export.contains(&format!("\n    {:?}: (", short_name(interface))), "{interface:?}");
            }
        }
    }

    #[test]
    fn entry_modules_are_python_identifiers() {
        assert_eq!(module_name(Path::new("/p/plugin.py")).unwrap(), "plugin");
        assert_eq!(module_name(Path::new("src/_my_plugin2.py")).unwrap(), "_my_plugin2");
        for bad in ["my-plugin.py", "2plugin.py", "plugin.txt", "plugin", "warden.py", "warden_app.py"] {
            assert!(module_name(Path::new(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_embedded_sdk_is_the_whole_package() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/python/warden");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".py") || n == "py.typed")
            .collect();
        on_disk.sort();
        let mut embedded: Vec<&str> = SDK.iter().map(|(name, _)| *name).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }
}
