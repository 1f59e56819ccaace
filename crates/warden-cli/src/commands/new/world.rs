//! `warden new --world <wit-dir>:<world>`: a Rust plugin of a host's own
//! world. The host's WIT is copied into the project's `wit/` (with
//! Warden's package in `wit/deps/` when the host's WIT imports it and does
//! not carry it), so the project builds wherever it is; `src/lib.rs`
//! implements every exported function with wit-bindgen's types, returning
//! a default value of the result type; `tests/<name>.toml` calls each
//! function with default arguments and expects that default back.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wit_bindgen_core::wit_parser::{
    Function, FunctionKind, InterfaceId, Resolve, Type, TypeDefKind, TypeId, TypeOwner, WorldId, WorldItem, WorldKey,
};

use super::{File, Plan};
use crate::commands::build::WARDEN_WIT;

/// The host world a project implements.
pub(crate) struct HostWorld {
    resolve: Resolve,
    world: WorldId,
    /// The WIT folder given, copied into the project.
    dir: PathBuf,
    /// Whether Warden's package must be added to the copy's `deps/`.
    needs_warden: bool,
    /// The named types the source uses, by short name: their modules, for
    /// `use` lines (a name two modules share is written in full instead).
    uses: RefCell<BTreeMap<String, String>>,
    /// The plugin's own type name, which no `use` may shadow.
    plugin_type: String,
    /// The named types [`check`](Self::check) found writable.
    checked: RefCell<HashSet<TypeId>>,
}

/// An exported function and the Rust trait it belongs to.
struct Export<'a> {
    /// `name`, or `interface#name`, as `warden test` calls it.
    call: String,
    function: &'a Function,
    /// `bindings::Guest`, or `bindings::exports::ns::pkg::iface::Guest`.
    guest: String,
}

impl HostWorld {
    /// Reads `<wit-dir>:<world>` (`world` as the WIT names it, with or
    /// without its package: `analyzer` or `example:graph/analyzer`).
    pub fn open(spec: &str, plugin_type: &str) -> Result<HostWorld> {
        let (dir, world) = spec.split_once(':').with_context(|| {
            format!("`--world {spec}`: write the WIT folder and the world, e.g. `--world wit:analyzer`")
        })?;
        let dir = PathBuf::from(dir);
        if !dir.is_dir() {
            bail!("`--world {spec}`: `{}` is not a folder of WIT files", dir.display());
        }
        // The host's WIT may carry Warden's package in its deps/ or
        // expect it beside (as the example hosts do): try both.
        let (mut resolve, mut needs_warden) = (Resolve::default(), false);
        let package = match resolve.push_path(&dir) {
            Ok((package, _)) => package,
            Err(alone) => {
                resolve = Resolve::default();
                needs_warden = true;
                resolve.push_str("warden-plugin.wit", WARDEN_WIT).context("Warden's own WIT does not parse")?;
                resolve
                    .push_path(&dir)
                    .map(|(p, _)| p)
                    // The second error also names a real mistake in the WIT.
                    .map_err(|again| again.context(alone))
                    .with_context(|| format!("`--world {spec}`: the WIT in `{}` does not parse", dir.display()))?
            }
        };
        let world = resolve
            .select_world(&[package], Some(world))
            .with_context(|| format!("`--world {spec}`: no world `{world}` in `{}`", dir.display()))?;
        // The plugin's type must not clash with what `bindings` declares:
        // the world's own types and its `Guest` trait.
        let items = || resolve.worlds[world].imports.values().chain(resolve.worlds[world].exports.values());
        let world_type = |name: &str| {
            items().any(|item| match item {
                WorldItem::Type { id, .. } => resolve.types[*id].name.as_deref().map(camel).as_deref() == Some(name),
                _ => false,
            })
        };
        let plugin_type = match plugin_type == "Guest" || world_type(plugin_type) {
            true => format!("{plugin_type}Plugin"),
            false => plugin_type.to_owned(),
        };
        Ok(HostWorld {
            resolve,
            world,
            dir,
            needs_warden,
            uses: RefCell::default(),
            checked: RefCell::default(),
            plugin_type,
        })
    }

    /// The world's full name, `example:graph/analyzer`.
    pub fn name(&self) -> String {
        let world = &self.resolve.worlds[self.world];
        match world.package {
            Some(p) => {
                let p = &self.resolve.packages[p].name;
                format!("{}:{}/{}", p.namespace, p.name, world.name)
            }
            None => world.name.clone(),
        }
    }

    /// Whether the world imports Warden's `log` (the skeleton then logs).
    fn imports_log(&self) -> bool {
        self.resolve.worlds[self.world].imports.keys().any(|key| {
            let name = self.resolve.name_world_key(key);
            name.starts_with("warden:plugin/log@")
        })
    }

    fn exports(&self) -> Result<Vec<Export<'_>>> {
        let mut exports = Vec::new();
        for (key, item) in &self.resolve.worlds[self.world].exports {
            match item {
                WorldItem::Function(f) => {
                    synchronous(f)?;
                    exports.push(Export { call: f.name.clone(), function: f, guest: "bindings::Guest".into() })
                }
                WorldItem::Interface { id, .. } => {
                    let interface = self.resolve.name_world_key(key);
                    let module = self.module(*id, true)?;
                    let types = &self.resolve.interfaces[*id].types;
                    if types.values().any(|t| matches!(self.resolve.types[*t].kind, TypeDefKind::Resource)) {
                        bail!(
                            "{}",
                            unsupported(&format!("a resource defined in the exported interface `{interface}`"))
                        );
                    }
                    for f in self.resolve.interfaces[*id].functions.values() {
                        synchronous(f)?;
                        exports.push(Export {
                            call: format!("{interface}#{}", f.name),
                            function: f,
                            guest: format!("{module}::Guest"),
                        });
                    }
                }
                WorldItem::Type { .. } => {}
            }
        }
        if exports.is_empty() {
            bail!("world `{}` exports no function: a plugin of it would have nothing to implement", self.name());
        }
        Ok(exports)
    }

    /// The module wit-bindgen generates for an interface:
    /// `bindings::ns::pkg::iface`, or `bindings::exports::…` for an export.
    fn module(&self, id: InterfaceId, exported: bool) -> Result<String> {
        let interface = &self.resolve.interfaces[id];
        let (Some(name), Some(package)) = (&interface.name, interface.package) else {
            bail!("an interface defined inline in the world is not supported by `warden new --world`; name it");
        };
        let package = &self.resolve.packages[package].name;
        let prefix = if exported { "bindings::exports" } else { "bindings" };
        // Package modules are plain snake case; interface modules are
        // escaped like any identifier (wit-bindgen's naming).
        let snake = |s: &str| s.replace('-', "_").to_ascii_lowercase();
        Ok(format!("{prefix}::{}::{}::{}", snake(&package.namespace), snake(&package.name), ident(name)))
    }

    /// Whether the world exports the interface (its types then live under
    /// `bindings::exports`).
    fn exported(&self, id: InterfaceId) -> bool {
        self.resolve.worlds[self.world]
            .exports
            .iter()
            .any(|(key, item)| matches!((key, item), (WorldKey::Interface(i), _) if *i == id))
    }

    /// A named type's path, through aliases to its definition.
    fn path(&self, mut id: TypeId) -> Result<String> {
        while let TypeDefKind::Type(Type::Id(next)) = self.resolve.types[id].kind {
            id = next;
        }
        let def = &self.resolve.types[id];
        let name = camel(def.name.as_deref().context("an anonymous type has no path")?);
        if name == "Guest" {
            bail!("{}", unsupported("a type named `guest` (wit-bindgen renames it)"));
        }
        let module = match def.owner {
            TypeOwner::Interface(i) => self.module(i, self.exported(i))?,
            TypeOwner::World(_) | TypeOwner::None => "bindings".into(),
        };
        // Names the source already uses for something else stay in full.
        const TAKEN: &[&str] = &["Vec", "String", "Option", "Result", "Some", "None", "Ok", "Err", "Box", "Guest"];
        let mut uses = self.uses.borrow_mut();
        match uses.get(&name) {
            _ if TAKEN.contains(&name.as_str()) || name == self.plugin_type => Ok(format!("{module}::{name}")),
            Some(m) if *m != module => Ok(format!("{module}::{name}")),
            _ => {
                uses.insert(name.clone(), module);
                Ok(name)
            }
        }
    }

    /// `use` lines for the types [`path`](Self::path) shortened.
    fn use_lines(&self) -> String {
        let mut by_module: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let uses = self.uses.borrow();
        for (name, module) in uses.iter() {
            by_module.entry(module).or_default().push(name);
        }
        let mut t = String::new();
        for (module, names) in by_module {
            match names.as_slice() {
                [one] => _ = writeln!(t, "use {module}::{one};"),
                many => _ = writeln!(t, "use {module}::{{{}}};", many.join(", ")),
            }
        }
        t
    }

    /// A WIT type as Rust, as wit-bindgen writes it.
    fn rust(&self, ty: &Type) -> Result<String> {
        Ok(match ty {
            Type::Bool => "bool".into(),
            Type::U8 => "u8".into(),
            Type::U16 => "u16".into(),
            Type::U32 => "u32".into(),
            Type::U64 => "u64".into(),
            Type::S8 => "i8".into(),
            Type::S16 => "i16".into(),
            Type::S32 => "i32".into(),
            Type::S64 => "i64".into(),
            Type::F32 => "f32".into(),
            Type::F64 => "f64".into(),
            Type::Char => "char".into(),
            Type::String => "String".into(),
            Type::ErrorContext => bail!("{}", unsupported("an error-context")),
            Type::Id(id) => {
                let def = &self.resolve.types[*id];
                match &def.kind {
                    _ if def.name.is_some() => {
                        self.check(ty)?;
                        self.path(*id)?
                    }
                    TypeDefKind::List(t) => format!("Vec<{}>", self.rust(t)?),
                    TypeDefKind::Option(t) => format!("Option<{}>", self.rust(t)?),
                    TypeDefKind::Result(r) => format!("Result<{}, {}>", self.unit(r.ok)?, self.unit(r.err)?),
                    TypeDefKind::Tuple(t) => {
                        let types: Vec<String> = t.types.iter().map(|t| self.rust(t)).collect::<Result<_>>()?;
                        tuple(&types)
                    }
                    TypeDefKind::Type(t) => self.rust(t)?,
                    _ => bail!("{}", unsupported(kind(&def.kind))),
                }
            }
        })
    }

    fn unit(&self, ty: Option<Type>) -> Result<String> {
        ty.map_or(Ok("()".into()), |t| self.rust(&t))
    }

    /// Refuses what the skeleton cannot write: resources, maps, streams.
    /// Each named type is checked once.
    fn check(&self, ty: &Type) -> Result<()> {
        let id = match ty {
            Type::Id(id) => *id,
            Type::ErrorContext => bail!("{}", unsupported("an error-context")),
            _ => return Ok(()),
        };
        if !self.checked.borrow_mut().insert(id) {
            return Ok(());
        }
        match &self.resolve.types[id].kind {
            TypeDefKind::Record(r) => r.fields.iter().try_for_each(|f| self.check(&f.ty)),
            TypeDefKind::Variant(v) => v.cases.iter().filter_map(|c| c.ty.as_ref()).try_for_each(|t| self.check(t)),
            TypeDefKind::Enum(_) | TypeDefKind::Flags(_) => Ok(()),
            TypeDefKind::Type(t) | TypeDefKind::List(t) | TypeDefKind::Option(t) => self.check(t),
            TypeDefKind::Result(r) => r.ok.iter().chain(&r.err).try_for_each(|t| self.check(t)),
            TypeDefKind::Tuple(t) => t.types.iter().try_for_each(|t| self.check(t)),
            other => bail!("{}", unsupported(kind(other))),
        }
    }

    /// A Rust expression of the type's default value.
    fn default_rust(&self, ty: &Type) -> Result<String> {
        Ok(match ty {
            Type::Bool => "false".into(),
            Type::F32 | Type::F64 => "0.0".into(),
            Type::Char => "'?'".into(),
            Type::String => "String::new()".into(),
            Type::ErrorContext => bail!("{}", unsupported("an error-context")),
            Type::Id(id) => {
                let def = &self.resolve.types[*id];
                match &def.kind {
                    TypeDefKind::Record(r) => {
                        let fields: Vec<String> = r
                            .fields
                            .iter()
                            .map(|f| Ok(format!("{}: {}", ident(&f.name), self.default_rust(&f.ty)?)))
                            .collect::<Result<_>>()?;
                        format!("{} {{ {} }}", self.path(*id)?, fields.join(", "))
                    }
                    TypeDefKind::Variant(v) => {
                        let case = v.cases.first().context("a variant without cases")?;
                        match case.ty {
                            Some(t) => {
                                format!("{}::{}({})", self.path(*id)?, camel(&case.name), self.default_rust(&t)?)
                            }
                            None => format!("{}::{}", self.path(*id)?, camel(&case.name)),
                        }
                    }
                    TypeDefKind::Enum(e) => {
                        format!(
                            "{}::{}",
                            self.path(*id)?,
                            camel(&e.cases.first().context("an enum without cases")?.name)
                        )
                    }
                    TypeDefKind::Flags(_) => format!("{}::empty()", self.path(*id)?),
                    TypeDefKind::List(_) => "Vec::new()".into(),
                    TypeDefKind::Option(_) => "None".into(),
                    TypeDefKind::Result(r) => {
                        format!("Ok({})", r.ok.map_or(Ok("()".into()), |t| self.default_rust(&t))?)
                    }
                    TypeDefKind::Tuple(t) => {
                        let items: Vec<String> = t.types.iter().map(|t| self.default_rust(t)).collect::<Result<_>>()?;
                        tuple(&items)
                    }
                    TypeDefKind::Type(t) => self.default_rust(t)?,
                    other => bail!("{}", unsupported(kind(other))),
                }
            }
            _ => "0".into(),
        })
    }

    /// The default value as a case file writes it (see `warden test`).
    fn default_toml(&self, ty: &Type) -> Result<String> {
        Ok(match ty {
            Type::Bool => "false".into(),
            Type::F32 | Type::F64 => "0.0".into(),
            Type::Char => "\"?\"".into(),
            Type::String => "\"\"".into(),
            Type::ErrorContext => bail!("{}", unsupported("an error-context")),
            Type::Id(id) => match &self.resolve.types[*id].kind {
                TypeDefKind::Record(r) => {
                    let mut fields = Vec::new();
                    for f in &r.fields {
                        // An omitted option field is none.
                        if !self.is_option(&f.ty) {
                            fields.push(format!("{} = {}", f.name, self.default_toml(&f.ty)?));
                        }
                    }
                    format!("{{ {} }}", fields.join(", "))
                }
                TypeDefKind::Variant(v) => {
                    let case = v.cases.first().context("a variant without cases")?;
                    match case.ty {
                        Some(t) => format!("{{ {} = {} }}", case.name, self.default_toml(&t)?),
                        None => format!("\"{}\"", case.name),
                    }
                }
                TypeDefKind::Enum(e) => format!("\"{}\"", e.cases.first().context("an enum without cases")?.name),
                TypeDefKind::Flags(_) | TypeDefKind::List(_) => "[]".into(),
                TypeDefKind::Option(_) => "{}".into(),
                TypeDefKind::Result(r) => match r.ok {
                    Some(t) => format!("{{ ok = {} }}", self.default_toml(&t)?),
                    None => "\"ok\"".into(),
                },
                TypeDefKind::Tuple(t) => {
                    let items: Vec<String> = t.types.iter().map(|t| self.default_toml(t)).collect::<Result<_>>()?;
                    format!("[{}]", items.join(", "))
                }
                TypeDefKind::Type(t) => self.default_toml(t)?,
                other => bail!("{}", unsupported(kind(other))),
            },
            _ => "0".into(),
        })
    }

    fn is_option(&self, ty: &Type) -> bool {
        match ty {
            Type::Id(id) => match &self.resolve.types[*id].kind {
                TypeDefKind::Option(_) => true,
                TypeDefKind::Type(t) => self.is_option(t),
                _ => false,
            },
            _ => false,
        }
    }

    /// The project's files: the WIT copy, Cargo.toml, src/lib.rs and the
    /// cases, for a plugin of this world.
    pub fn files(&self, plan: &Plan, pdk: &Path) -> Result<Vec<File>> {
        let exports = self.exports()?;
        let mut files = self.wit_files()?;
        files.push(("Cargo.toml".into(), cargo(plan, pdk)));
        files.push(("src/lib.rs".into(), self.lib(plan, &exports)?));
        files.push((format!("tests/{}.toml", plan.name), self.cases(plan, &exports)?));
        Ok(files)
    }

    fn lib(&self, plan: &Plan, exports: &[Export<'_>]) -> Result<String> {
        let camel = &self.plugin_type;
        let log = self.imports_log();
        let mut t = format!(
            r#"//! {name}: a plugin of the host world `{world}`. Every exported
//! function returns a default value for now: write what it should do, and
//! what it should return in tests/{name}.toml. Build and test it with
//! `warden test .`.

#[allow(missing_docs, unsafe_code, unused_qualifications, reason = "generated by wit-bindgen")]
mod bindings {{
    wit_bindgen::generate!({{
        path: "wit",
        world: "{world}",
        generate_all,
    }});

    use super::{camel};
    export!({camel} with_types_in self);
}}

/// The plugin. wit-bindgen makes a fresh call of each function; keep what
/// must outlive a call in the host, not here.
struct {camel};
"#,
            name = plan.name,
            world = self.name(),
        );
        let mut guests: Vec<&str> = Vec::new();
        for export in exports {
            if !guests.contains(&export.guest.as_str()) {
                guests.push(&export.guest);
            }
        }
        for guest in guests {
            let _ = writeln!(t, "\nimpl {guest} for {camel} {{");
            for (i, export) in exports.iter().filter(|e| e.guest == guest).enumerate() {
                let f = export.function;
                let params: Vec<String> = f
                    .params
                    .iter()
                    .map(|p| Ok(format!("_{}: {}", ident(&p.name), self.rust(&p.ty)?)))
                    .collect::<Result<_>>()?;
                let result = match &f.result {
                    Some(ty) => format!(" -> {}", self.rust(ty)?),
                    None => String::new(),
                };
                let _ = writeln!(
                    t,
                    "{}    fn {}({}){result} {{",
                    if i > 0 { "\n" } else { "" },
                    ident(f.item_name()),
                    params.join(", ")
                );
                if log {
                    let _ = writeln!(t, "        warden_pdk::info!(\"{} called\");", export.call);
                }
                if let Some(ty) = &f.result {
                    let _ = writeln!(t, "        {}", self.default_rust(ty)?);
                }
                t.push_str("    }\n");
            }
            t.push_str("}\n");
        }
        let uses = self.use_lines();
        if !uses.is_empty() {
            let at = t.find("\n/// The plugin.").unwrap_or(t.len());
            t.insert_str(at, &format!("\n{uses}"));
        }
        Ok(t)
    }

    fn cases(&self, plan: &Plan, exports: &[Export<'_>]) -> Result<String> {
        let mut t = format!(
            "# `warden test` cases for {}: each calls one function of the world\n\
             # `{}` with `args` and checks what it returns. Format: docs/TESTING.md\n\
             # (\"Plugins of a host's own world\").\n",
            plan.name,
            self.name()
        );
        for export in exports {
            let f = export.function;
            let _ =
                write!(t, "\n[[case]]\nname = \"{} returns its default\"\ncall = \"{}\"\n", export.call, export.call);
            if !f.params.is_empty() {
                t.push_str("[case.args]\n");
                for p in &f.params {
                    let _ = writeln!(t, "{} = {}", p.name, self.default_toml(&p.ty)?);
                }
            }
            t.push_str("[case.expect]\n");
            if let Some(ty) = &f.result {
                let _ = writeln!(t, "result = {}", self.default_toml(ty)?);
            }
            if self.imports_log() {
                let _ = writeln!(t, "logs = [\"INFO {} called\"]", export.call);
            }
        }
        Ok(t)
    }

    /// The host's WIT files (top level and `deps/`), and Warden's package
    /// if the host's WIT does not carry it.
    fn wit_files(&self) -> Result<Vec<File>> {
        let mut files = Vec::new();
        copy_wit(&self.dir, Path::new("wit"), 0, &mut files)?;
        if self.needs_warden {
            files.push(("wit/deps/warden-plugin.wit".into(), WARDEN_WIT.into()));
        }
        Ok(files)
    }
}

/// Most folders deep a WIT copy goes (`deps/<package>/…`).
const MAX_DEPTH: usize = 3;

/// Copies the `.wit` files of `from` (and its `deps/`, recursively) as
/// files under `to`.
fn copy_wit(from: &Path, to: &Path, depth: usize, files: &mut Vec<File>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(from)
        .with_context(|| format!("cannot read `{}`", from.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let deps = depth == 0 && name == "deps";
        if path.is_dir() && (deps || depth > 0) && depth < MAX_DEPTH {
            copy_wit(&path, &to.join(&name), depth + 1, files)?;
        } else if path.extension().is_some_and(|e| e == "wasm" || e == "wat") {
            bail!(
                "`{}` is a WIT package in wasm form, which `warden new --world` does not copy; \
                 give the host's WIT as .wit files",
                path.display()
            );
        } else if path.extension().is_some_and(|e| e == "wit") {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read `{}`", path.display()))?;
            files.push((to.join(&name).to_string_lossy().into_owned(), text));
        }
    }
    Ok(())
}

fn cargo(plan: &Plan, pdk: &Path) -> String {
    let bindings = "# The bindings of the host's world (wit/), same version as Warden's.\n\
                    wit-bindgen = { version = \"=0.61.1\", default-features = false, features = [\"macros\", \"realloc\"] }\n";
    super::rust::cargo_toml(plan, pdk, bindings)
}

/// A Rust tuple of `items`: `(a, b)`, or `(a,)` for one.
fn tuple(items: &[String]) -> String {
    match items {
        [one] => format!("({one},)"),
        _ => format!("({})", items.join(", ")),
    }
}

/// Refuses async and resource functions, which the skeleton does not write.
fn synchronous(f: &Function) -> Result<()> {
    match f.kind {
        FunctionKind::Freestanding => Ok(()),
        _ => bail!("{}", unsupported(&format!("the async or resource function `{}`", f.name))),
    }
}

fn unsupported(what: &str) -> String {
    format!(
        "the world's exports use {what}, which `warden new --world` cannot write a skeleton for yet; \
         start from a world without it, or write the plugin by hand (see docs/PLUGIN_DEVELOPMENT.md)"
    )
}

fn kind(kind: &TypeDefKind) -> &'static str {
    match kind {
        TypeDefKind::Resource | TypeDefKind::Handle(_) => "a resource",
        TypeDefKind::Map(..) => "a map",
        TypeDefKind::FixedLengthList(..) => "a fixed-length list",
        TypeDefKind::Future(_) | TypeDefKind::Stream(_) => "a future or stream",
        _ => "a type",
    }
}

/// `graph-node` as a Rust type: `GraphNode`.
fn camel(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase())
                .unwrap_or_default()
        })
        .collect()
}

/// `node-type` as a Rust identifier: `node_type`, with `_` after a keyword
/// (`type_`), as wit-bindgen writes it.
fn ident(name: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn",
        "else", "enum", "extern", "false", "final", "fn", "for", "if", "impl", "in", "let", "loop", "macro", "match",
        "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static", "struct", "super", "trait",
        "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
    ];
    let snake = name.replace('-', "_").to_ascii_lowercase();
    match KEYWORDS.contains(&snake.as_str()) {
        true => snake + "_",
        false => snake,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_wit_bindgen() {
        assert_eq!(camel("graph-node"), "GraphNode");
        assert_eq!(camel("HTTP-request"), "HttpRequest");
        assert_eq!(ident("node-type"), "node_type");
        assert_eq!(ident("type"), "type_");
    }
}
