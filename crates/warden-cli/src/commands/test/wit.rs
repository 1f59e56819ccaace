//! What the component's WIT says, read once per run: the functions it
//! exports (as `call` names them), whether it is a plugin of Warden's
//! hooks, and the interfaces it imports from its host (neither Warden's
//! nor WASI's).

use std::path::Path;

use anyhow::{Context, Result, bail};
use wit_bindgen_core::wit_parser::WorldItem;
use wit_component::DecodedWasm;

/// The packages whose imports Warden's own capabilities provide.
const WARDEN_PACKAGES: &[&str] = &["warden:", "wasi:"];

/// A component's WIT, as the test host needs it.
pub struct ComponentWit {
    /// Exported functions: `name` at the top level, `interface#name` (the
    /// interface with its version) in an exported interface.
    pub exports: Vec<String>,
    /// Whether it exports any of Warden's hook interfaces.
    pub warden_hooks: bool,
    /// Imported host interfaces with functions (with version) and their
    /// functions.
    pub host_imports: Vec<(String, Vec<String>)>,
}

impl ComponentWit {
    /// Reads the WIT of the component at `path`.
    pub fn read(path: &Path) -> Result<ComponentWit> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
        let DecodedWasm::Component(resolve, world) =
            wit_component::decode(&bytes).with_context(|| format!("`{}` is not a component", path.display()))?
        else {
            bail!("`{}` is a WIT package, not a component", path.display());
        };
        let world = &resolve.worlds[world];
        let mut wit = ComponentWit { exports: Vec::new(), warden_hooks: false, host_imports: Vec::new() };
        for (key, item) in &world.exports {
            let name = resolve.name_world_key(key);
            match item {
                WorldItem::Function(f) => wit.exports.push(f.name.clone()),
                WorldItem::Interface { id, .. } => {
                    let lifecycle = name.starts_with("warden:plugin/lifecycle@");
                    wit.warden_hooks |= name.starts_with("warden:plugin/") && !lifecycle;
                    let functions = resolve.interfaces[*id].functions.keys();
                    wit.exports.extend(functions.map(|f| format!("{name}#{f}")));
                }
                WorldItem::Type { .. } => {}
            }
        }
        for (key, item) in &world.imports {
            let name = resolve.name_world_key(key);
            if let WorldItem::Interface { id, .. } = item
                && !WARDEN_PACKAGES.iter().any(|p| name.starts_with(p))
            {
                // An interface of types only (`use types.{...}`) has nothing to answer.
                let functions: Vec<String> = resolve.interfaces[*id].functions.keys().cloned().collect();
                if !functions.is_empty() {
                    wit.host_imports.push((name, functions));
                }
            }
        }
        Ok(wit)
    }

    /// The exported function `name` names, as the component spells it:
    /// `interface#function` may leave the interface's version out.
    pub fn export(&self, name: &str) -> Option<&str> {
        self.exports.iter().map(String::as_str).find(|e| *e == name || same_function(name, e))
    }
}

/// Whether `a` and `b` name the same `interface#function`, each with or
/// without the interface's version.
pub fn same_function(a: &str, b: &str) -> bool {
    match (a.split_once('#'), b.split_once('#')) {
        (Some((ai, af)), Some((bi, bf))) => af == bf && ai.split('@').next() == bi.split('@').next(),
        _ => false,
    }
}

/// `interface#function` without the interface's version.
pub fn unversioned(name: &str) -> String {
    match name.split_once('#') {
        Some((interface, function)) => format!("{}#{function}", interface.split('@').next().unwrap_or(interface)),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_are_named_with_or_without_the_interface_version() {
        let name = "example:clock/clock#now-ms";
        assert!(same_function("example:clock/clock#now-ms", name));
        assert!(same_function("example:clock/clock@0.1.0#now-ms", name));
        assert!(!same_function("example:clock/clock#now", name));
        assert!(!same_function("example:clock/other@0.1.0#now-ms", name));
        assert!(!same_function("now-ms", name));
        assert_eq!(unversioned("a:b/c@1.0.0#f"), "a:b/c#f");
        assert_eq!(unversioned("f"), "f");
    }
}
