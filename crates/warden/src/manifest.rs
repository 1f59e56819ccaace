//! The plugin manifest: `plugin.toml`, parsed and checked into a [`Manifest`].
//!
//! A plugin folder holds the component and a `plugin.toml` that names it and
//! says what it may do (`[permissions]`), what it may use (`[limits]`) and
//! what settings it gets (`[config]`). `docs/MANIFEST.md` describes every
//! field. Anything unknown or invalid is a [`ManifestError`] that names the
//! file, line, column and key, and says how to fix it.
//!
//! ```
//! use std::path::Path;
//! use std::time::Duration;
//! use warden::Manifest;
//!
//! let text = r#"
//! [plugin]
//! name = "hello"
//! version = "0.1.0"
//! component = "hello.wasm"
//!
//! [permissions]
//! env = ["GREETING"]
//!
//! [limits]
//! timeout = "250ms"
//! "#;
//! let manifest = Manifest::parse(text, Path::new("plugins/hello/plugin.toml"))?;
//! assert_eq!(manifest.component, Path::new("plugins/hello/hello.wasm"));
//! assert_eq!(manifest.permissions.env, ["GREETING"]);
//! assert_eq!(manifest.limits.timeout, Duration::from_millis(250));
//!
//! let err = Manifest::parse("[plugin]\nname = 5\n", Path::new("plugin.toml")).unwrap_err();
//! assert_eq!(err.to_string(), "plugin.toml:2:8: plugin.name: expected a string, found an integer");
//! # Ok::<(), warden::ManifestError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde_spanned::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use crate::build::{self, BuildSpec, Language};
use crate::limits::{InstancePolicy, Limits};
use crate::messaging::bus::{TopicError, TopicPattern};
use crate::permissions::{Access, FileGrant, HostPattern, HostPatternError, Permissions};
use crate::units::{parse_duration, parse_size};

/// File name of the manifest inside a plugin folder.
pub const MANIFEST_FILE: &str = "plugin.toml";

/// A parsed and validated `plugin.toml`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Manifest {
    /// The manifest path as given.
    pub file: PathBuf,
    /// The folder holding the manifest (`.` when the path has no folder).
    pub dir: PathBuf,
    /// Plugin name: a lowercase letter, then up to 63 of `a-z 0-9 _ -`.
    pub name: String,
    /// Plugin version.
    pub version: semver::Version,
    /// One-line description.
    pub description: Option<String>,
    /// Authors, e.g. `"Ann <ann@example.org>"`.
    pub authors: Vec<String>,
    /// SPDX license expression.
    pub license: Option<String>,
    /// The component file, resolved against [`dir`](Self::dir); not checked
    /// to exist.
    pub component: PathBuf,
    /// Expected SHA-256 of the component bytes, lowercase hex.
    pub sha256: Option<String>,
    /// What the plugin may do; everything not listed is denied.
    pub permissions: Permissions,
    /// Resource limits, including the instance policy.
    pub limits: Limits,
    /// Settings passed to the plugin.
    pub config: BTreeMap<String, String>,
    /// Plugins this one needs, with the versions it accepts. It may call
    /// exactly these (through the `warden:plugin/plugins` import).
    pub dependencies: BTreeMap<String, semver::VersionReq>,
    /// How `warden build` makes the component (`[build]`); the runtime
    /// ignores it.
    pub build: BuildSpec,
    /// Where the host capabilities' `[permissions]` values are in the file.
    pub(crate) positions: Positions,
}

impl Manifest {
    /// A manifest for a component without a `plugin.toml`: version 0.0.0,
    /// default limits, no permissions, no config. Adjust the public fields
    /// before [`Runtime::load_manifest`](crate::Runtime::load_manifest).
    ///
    /// ```
    /// let mut manifest = warden::Manifest::new("inline", "/plugins/inline.wasm");
    /// manifest.limits = manifest.limits.clone().max_instances(1);
    /// manifest.config.insert("greeting".into(), "hi".into());
    /// assert_eq!(manifest.dir, std::path::Path::new("/plugins"));
    /// ```
    pub fn new(name: impl Into<String>, component: impl Into<PathBuf>) -> Manifest {
        let component = component.into();
        let dir = match component.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Manifest {
            file: dir.join(MANIFEST_FILE),
            dir,
            name: name.into(),
            version: semver::Version::new(0, 0, 0),
            description: None,
            authors: Vec::new(),
            license: None,
            component,
            sha256: None,
            permissions: Permissions::default(),
            limits: Limits::default(),
            config: BTreeMap::new(),
            dependencies: BTreeMap::new(),
            build: BuildSpec::default(),
            positions: Positions::new(),
        }
    }

    /// Everything the manifest grants, one line each (`"key-value"`,
    /// `"network: https://api.example.com"`, `"files: ./data at /data (rw)"`,
    /// `"calls: auth ^1"`...), sorted: what the audit log compares when a
    /// plugin is reloaded.
    pub(crate) fn grants(&self) -> Vec<String> {
        let p = &self.permissions;
        let mut grants: Vec<String> = [("modify-request", p.modify_request), ("modify-response", p.modify_response)]
            .into_iter()
            .chain([("key-value", p.key_value)])
            .filter(|(_, on)| *on)
            .map(|(name, _)| name.to_owned())
            .collect();
        grants.extend(
            p.files.iter().map(|f| format!("files: {} at {} ({})", f.host.display(), f.guest, f.access.as_str())),
        );
        grants.extend(p.env.iter().map(|e| format!("env: {e}")));
        grants.extend(p.network.iter().map(|n| format!("network: {n}")));
        grants.extend(p.publish.iter().map(|t| format!("publish: {t}")));
        grants.extend(p.subscribe.iter().map(|t| format!("subscribe: {t}")));
        grants.extend(self.dependencies.iter().map(|(name, req)| format!("calls: {name} {req}")));
        grants.extend(p.host.iter().map(|(key, value)| format!("{key}: {value}")));
        grants.sort();
        grants.dedup();
        grants
    }

    /// Reads and parses the manifest at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Manifest, ManifestError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
            file: path.to_path_buf(),
            line: None,
            column: None,
            key: None,
            message: format!("cannot read the plugin manifest: {e}"),
        })?;
        Manifest::parse(&text, path)
    }

    /// Reads and parses `dir/plugin.toml`.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Manifest, ManifestError> {
        Manifest::from_file(dir.as_ref().join(MANIFEST_FILE))
    }

    /// Parses manifest text. `file` is used in error messages and to resolve
    /// relative paths; it is not read.
    pub fn parse(text: &str, file: &Path) -> Result<Manifest, ManifestError> {
        let dir = match file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let cx = Cx { file, text };
        let doc = DeTable::parse(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let mut message = format!("invalid TOML: {}", e.message());
            if e.message() == "duplicate key" {
                let name = text.get(span.clone()).unwrap_or_default();
                message = format!("invalid TOML: `{name}` is defined twice; remove one");
            }
            cx.err(span, "", message)
        })?;
        let mut plugin = None;
        let mut permissions = Permissions::default();
        let mut limits = Limits::default();
        let mut config = BTreeMap::new();
        let mut dependencies = BTreeMap::new();
        let mut positions = Positions::new();
        let mut build = BuildSpec::default();
        for (key, value) in cx.entries(doc.get_ref(), "", TABLES)? {
            match key {
                "plugin" => plugin = Some(cx.plugin(value, &dir)?),
                "permissions" => permissions = cx.permissions(value, &mut positions)?,
                "limits" => limits = cx.limits(value)?,
                "dependencies" => dependencies = cx.dependencies(value)?,
                "build" => build = cx.build(value, &dir)?,
                _ => config = cx.config(value)?,
            }
        }
        let plugin = plugin.ok_or_else(|| ManifestError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            key: Some("plugin".to_owned()),
            message: "missing [plugin] table; add one with name, version and component".to_owned(),
        })?;
        Ok(Manifest {
            file: file.to_path_buf(),
            dir,
            name: plugin.name,
            version: plugin.version,
            description: plugin.description,
            authors: plugin.authors,
            license: plugin.license,
            component: plugin.component,
            sha256: plugin.sha256,
            permissions,
            limits: limits.instance_policy(plugin.instance_policy),
            config,
            dependencies,
            build,
            positions,
        })
    }
}

impl Manifest {
    /// An error about `key` (dotted, e.g. `permissions.crypto`) found when
    /// the plugin loads: at the key's value in the file, if it came from one.
    pub(crate) fn error_at(&self, key: String, message: String) -> ManifestError {
        let position = self.positions.get(&key).copied();
        ManifestError {
            file: self.file.clone(),
            line: position.map(|p| p.0),
            column: position.map(|p| p.1),
            key: Some(key),
            message,
        }
    }
}

/// Line and column of keys' values, by dotted key (`permissions.crypto`).
pub(crate) type Positions = BTreeMap<String, (usize, usize)>;

/// A parsed TOML value as a `toml::Value`, for a host capability to read.
fn to_value(value: &DeValue<'_>) -> toml::Value {
    match value {
        DeValue::String(s) => toml::Value::String(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => toml::Value::Integer(n),
            // Out of i64's range: kept as written, for the capability to refuse.
            Err(_) => toml::Value::String(i.as_str().to_owned()),
        },
        DeValue::Float(f) => toml::Value::Float(f.as_str().parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => toml::Value::Boolean(*b),
        DeValue::Datetime(d) => toml::Value::Datetime(*d),
        DeValue::Array(a) => toml::Value::Array(a.iter().map(|v| to_value(v.get_ref())).collect()),
        DeValue::Table(t) => {
            toml::Value::Table(t.iter().map(|(k, v)| (k.get_ref().to_string(), to_value(v.get_ref()))).collect())
        }
    }
}

/// Why a manifest could not be loaded: where, which key, and what to fix.
///
/// Displays as `file:line:column: key: message`, leaving out what is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ManifestError {
    /// The manifest path.
    pub file: PathBuf,
    /// 1-based line of the offending text, if the error points into the file.
    pub line: Option<usize>,
    /// 1-based column (in characters) of the offending text.
    pub column: Option<usize>,
    /// Dotted key, e.g. `limits.timeout` or `permissions.files[0].guest`.
    pub key: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::write_location(f, &self.file, self.line, self.column, self.key.as_deref(), &self.message)
    }
}

const TABLES: &[&str] = &["plugin", "permissions", "limits", "config", "dependencies", "build"];
const BUILD_KEYS: &[&str] = &["language", "source", "exports", "flags"];
const PLUGIN_KEYS: &[&str] =
    &["name", "version", "description", "authors", "license", "component", "sha256", "instance-policy"];
/// The `[permissions]` keys Warden itself reads.
pub(crate) const PERMISSION_KEYS: &[&str] =
    &["files", "env", "network", "modify-request", "modify-response", "publish", "subscribe", "key-value"];
const FILE_KEYS: &[&str] = &["path", "guest", "mode"];
const LIMIT_KEYS: &[&str] = &[
    "memory",
    "timeout",
    "fuel",
    "stack",
    "max-instances",
    "max-wait",
    "max-output",
    "max-outbound-requests",
    "max-outbound-response",
    "key-value-quota",
];

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

type Item<'i> = Spanned<DeValue<'i>>;

/// The `[plugin]` table, checked.
struct PluginTable {
    name: String,
    version: semver::Version,
    description: Option<String>,
    authors: Vec<String>,
    license: Option<String>,
    component: PathBuf,
    sha256: Option<String>,
    instance_policy: InstancePolicy,
}

/// Error context: the file name and its text, to turn spans into positions.
struct Cx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Cx<'_> {
    fn err(&self, span: Range<usize>, key: &str, message: impl Into<String>) -> ManifestError {
        let (line, column) = crate::text_position(self.text, span.start);
        ManifestError {
            file: self.file.to_path_buf(),
            line: Some(line),
            column: Some(column),
            key: (!key.is_empty()).then(|| key.to_owned()),
            message: message.into(),
        }
    }

    fn type_err(&self, value: &Item<'_>, key: &str, expected: &str) -> ManifestError {
        let found = match value.get_ref() {
            DeValue::String(_) => "a string",
            DeValue::Integer(_) => "an integer",
            DeValue::Float(_) => "a float",
            DeValue::Boolean(_) => "a boolean",
            DeValue::Datetime(_) => "a date-time",
            DeValue::Array(_) => "an array",
            DeValue::Table(_) => "a table",
        };
        self.err(value.span(), key, format!("expected {expected}, found {found}"))
    }

    /// The entries of `table` in file order; keys not in `allowed` are errors.
    fn entries<'t, 'i>(
        &self,
        table: &'t DeTable<'i>,
        prefix: &str,
        allowed: &[&str],
    ) -> Result<Vec<(&'t str, &'t Item<'i>)>, ManifestError> {
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        entries
            .into_iter()
            .map(|(key, value)| {
                let name: &str = key.get_ref();
                if allowed.contains(&name) {
                    return Ok((name, value));
                }
                let list = allowed.join(", ");
                let message = if prefix.is_empty() {
                    format!("unknown table [{name}]; allowed tables: {list}")
                } else {
                    format!("unknown key in [{prefix}]; allowed keys: {list}")
                };
                Err(self.err(key.span(), &join(prefix, name), message))
            })
            .collect()
    }

    fn table<'t, 'i>(&self, value: &'t Item<'i>, key: &str) -> Result<&'t DeTable<'i>, ManifestError> {
        match value.get_ref() {
            DeValue::Table(table) => Ok(table),
            _ => Err(self.type_err(value, key, "a table")),
        }
    }

    fn array<'t, 'i>(&self, value: &'t Item<'i>, key: &str) -> Result<&'t DeArray<'i>, ManifestError> {
        match value.get_ref() {
            DeValue::Array(array) => Ok(array),
            _ => Err(self.type_err(value, key, "an array")),
        }
    }

    fn str<'t>(&self, value: &'t Item<'_>, key: &str) -> Result<&'t str, ManifestError> {
        match value.get_ref() {
            DeValue::String(s) => Ok(s),
            _ => Err(self.type_err(value, key, "a string")),
        }
    }

    fn bool(&self, value: &Item<'_>, key: &str) -> Result<bool, ManifestError> {
        match value.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.type_err(value, key, "true or false")),
        }
    }

    fn strings(&self, value: &Item<'_>, key: &str) -> Result<Vec<String>, ManifestError> {
        let array = self.array(value, key)?;
        let items = array.iter().enumerate();
        items.map(|(i, item)| Ok(self.str(item, &format!("{key}[{i}]"))?.to_owned())).collect()
    }

    /// An integer in `min..=max`.
    fn int(&self, value: &Item<'_>, key: &str, min: u64, max: u64) -> Result<u64, ManifestError> {
        let DeValue::Integer(int) = value.get_ref() else {
            return Err(self.type_err(value, key, "an integer"));
        };
        let n = i128::from_str_radix(int.as_str(), int.radix()).unwrap_or(i128::MIN);
        let message = if n < 0 && min == 0 {
            "must not be negative".to_owned()
        } else if max == u64::MAX {
            format!("{n} is too small; the minimum is {min}")
        } else {
            format!("{n} is out of range; use {min} to {max}")
        };
        u64::try_from(n).ok().filter(|n| (min..=max).contains(n)).ok_or_else(|| self.err(value.span(), key, message))
    }

    /// A size in bytes: an integer or a string with a unit, in `min..=max`.
    fn size(&self, value: &Item<'_>, key: &str, min: u64, max: u64) -> Result<u64, ManifestError> {
        let bytes = match value.get_ref() {
            DeValue::Integer(_) => self.int(value, key, 0, u64::MAX)?,
            DeValue::String(s) => parse_size(s).ok_or_else(|| {
                let msg = format!("{s:?} is not a size; write e.g. \"64 MiB\", \"512 KiB\" or a number of bytes");
                self.err(value.span(), key, msg)
            })?,
            _ => {
                return Err(self.type_err(value, key, "a size such as \"64 MiB\" or a number of bytes"));
            }
        };
        if bytes < min {
            let msg = format!("{} is too small; the minimum is {}", show_size(bytes), show_size(min));
            return Err(self.err(value.span(), key, msg));
        }
        if bytes > max {
            let msg = format!("{} is too large; the maximum is {}", show_size(bytes), show_size(max));
            return Err(self.err(value.span(), key, msg));
        }
        Ok(bytes)
    }

    /// A duration: integer milliseconds or a string with a unit; > 0, <= 1 h.
    fn duration(&self, value: &Item<'_>, key: &str) -> Result<Duration, ManifestError> {
        let duration = match value.get_ref() {
            DeValue::Integer(_) => Duration::from_millis(self.int(value, key, 0, u64::MAX)?),
            DeValue::String(s) => parse_duration(s).ok_or_else(|| {
                let msg = format!("{s:?} is not a duration; write e.g. \"250ms\" or \"2s\"");
                self.err(value.span(), key, msg)
            })?,
            _ => {
                return Err(self.type_err(value, key, "a duration such as \"250ms\" or a number of milliseconds"));
            }
        };
        if duration.is_zero() {
            return Err(self.err(value.span(), key, "must be greater than 0"));
        }
        if duration > MAX_TIMEOUT {
            return Err(self.err(value.span(), key, "must be at most 1 hour (\"1h\")"));
        }
        Ok(duration)
    }

    fn plugin(&self, value: &Item<'_>, dir: &Path) -> Result<PluginTable, ManifestError> {
        let table = self.table(value, "plugin")?;
        let (mut name, mut version, mut component) = (None, None, None);
        let mut plugin = PluginTable {
            name: String::new(),
            version: semver::Version::new(0, 0, 0),
            description: None,
            authors: Vec::new(),
            license: None,
            component: PathBuf::new(),
            sha256: None,
            instance_policy: InstancePolicy::default(),
        };
        for (k, v) in self.entries(table, "plugin", PLUGIN_KEYS)? {
            let key = &format!("plugin.{k}");
            match k {
                "name" => {
                    let s = self.str(v, key)?;
                    if !valid_name(s) {
                        let msg = format!(
                            "{s:?} is not a valid name; use a lowercase letter followed by up to 63 lowercase letters, digits, '_' or '-'"
                        );
                        return Err(self.err(v.span(), key, msg));
                    }
                    name = Some(s.to_owned());
                }
                "version" => {
                    let s = self.str(v, key)?;
                    let parsed = semver::Version::parse(s).map_err(|e| {
                        let msg = format!("{s:?} is not a semantic version ({e}); write e.g. \"0.1.0\"");
                        self.err(v.span(), key, msg)
                    })?;
                    version = Some(parsed);
                }
                "description" => plugin.description = Some(self.str(v, key)?.to_owned()),
                "authors" => plugin.authors = self.strings(v, key)?,
                "license" => plugin.license = Some(self.str(v, key)?.to_owned()),
                "component" => {
                    let s = self.str(v, key)?;
                    if s.is_empty() {
                        let msg = "must not be empty; name the .wasm file, e.g. \"my_plugin.wasm\"";
                        return Err(self.err(v.span(), key, msg));
                    }
                    component = Some(dir.join(s));
                }
                "sha256" => {
                    let s = self.str(v, key)?;
                    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                        let msg = "must be 64 hex digits (the SHA-256 of the component, e.g. from `sha256sum`)";
                        return Err(self.err(v.span(), key, msg));
                    }
                    plugin.sha256 = Some(s.to_ascii_lowercase());
                }
                _ => {
                    plugin.instance_policy = match self.str(v, key)? {
                        "reuse" => InstancePolicy::Reuse,
                        "fresh" => InstancePolicy::Fresh,
                        other => {
                            let msg = format!("{other:?} is not an instance policy; use \"reuse\" or \"fresh\"");
                            return Err(self.err(v.span(), key, msg));
                        }
                    }
                }
            }
        }
        let missing = |key: &str, example: &str| {
            let msg = format!("missing; add {} = {example} to [plugin]", key.trim_start_matches("plugin."));
            self.err(value.span(), key, msg)
        };
        plugin.name = name.ok_or_else(|| missing("plugin.name", "\"my-plugin\""))?;
        plugin.version = version.ok_or_else(|| missing("plugin.version", "\"0.1.0\""))?;
        plugin.component = component.ok_or_else(|| missing("plugin.component", "\"my_plugin.wasm\""))?;
        Ok(plugin)
    }

    /// `[permissions]`: Warden's own keys, checked here, and the host's
    /// (any other key), kept with their positions for the capability that
    /// claims them to check when the plugin loads.
    fn permissions(&self, value: &Item<'_>, positions: &mut Positions) -> Result<Permissions, ManifestError> {
        let mut perms = Permissions::default();
        let table = self.table(value, "permissions")?;
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        for (k, v) in entries {
            let (k, key_span): (&str, _) = (k.get_ref(), k.span());
            let key = &format!("permissions.{k}");
            if !PERMISSION_KEYS.contains(&k) {
                if !valid_name(k) {
                    let message = format!(
                        "unknown key in [permissions]; allowed keys: {}, or a key of one of the host's capabilities (lowercase, e.g. \"crypto\")",
                        PERMISSION_KEYS.join(", ")
                    );
                    return Err(self.err(key_span, key, message));
                }
                positions.insert(key.clone(), crate::text_position(self.text, v.span().start));
                perms.host.insert(k.to_owned(), to_value(v.get_ref()));
                continue;
            }
            match k {
                "files" => {
                    for (i, item) in self.array(v, key)?.iter().enumerate() {
                        let key = &format!("{key}[{i}]");
                        let (grant, guest_span) = self.file_grant(item, key)?;
                        if let Some(j) = perms.files.iter().position(|g| g.guest == grant.guest) {
                            let msg = format!(
                                "guest path {:?} is already mounted by permissions.files[{j}]; mount each guest path once",
                                grant.guest
                            );
                            return Err(self.err(guest_span, &format!("{key}.guest"), msg));
                        }
                        perms.files.push(grant);
                    }
                }
                "env" => {
                    for (i, item) in self.array(v, key)?.iter().enumerate() {
                        let key = &format!("{key}[{i}]");
                        let name = self.str(item, key)?;
                        if !valid_env_name(name) {
                            let msg = format!(
                                "{name:?} is not an environment variable name; use letters, digits and '_', not starting with a digit"
                            );
                            return Err(self.err(item.span(), key, msg));
                        }
                        if perms.env.iter().any(|e| e == name) {
                            return Err(self.err(item.span(), key, format!("{name:?} is listed twice; remove one")));
                        }
                        perms.env.push(name.to_owned());
                    }
                }
                "network" => {
                    for (i, item) in self.array(v, key)?.iter().enumerate() {
                        let key = &format!("{key}[{i}]");
                        let pattern: HostPattern = self
                            .str(item, key)?
                            .parse()
                            .map_err(|e: HostPatternError| self.err(item.span(), key, e.to_string()))?;
                        perms.network.push(pattern);
                    }
                }
                "publish" | "subscribe" => {
                    let mut patterns = Vec::new();
                    for (i, item) in self.array(v, key)?.iter().enumerate() {
                        let key = &format!("{key}[{i}]");
                        let pattern: TopicPattern = self
                            .str(item, key)?
                            .parse()
                            .map_err(|e: TopicError| self.err(item.span(), key, e.to_string()))?;
                        patterns.push(pattern);
                    }
                    if k == "publish" { perms.publish = patterns } else { perms.subscribe = patterns }
                }
                "modify-request" => perms.modify_request = self.bool(v, key)?,
                "key-value" => perms.key_value = self.bool(v, key)?,
                _ => perms.modify_response = self.bool(v, key)?,
            }
        }
        Ok(perms)
    }

    /// One `{ path, guest, mode }` entry; also returns the span to blame for a
    /// duplicate guest path.
    fn file_grant(&self, value: &Item<'_>, key: &str) -> Result<(FileGrant, Range<usize>), ManifestError> {
        let table = self.table(value, key)?;
        let (mut path, mut guest, mut access) = (None, None, Access::ReadOnly);
        for (k, v) in self.entries(table, key, FILE_KEYS)? {
            let key = &format!("{key}.{k}");
            let s = self.str(v, key)?;
            match k {
                "path" if s.is_empty() => {
                    return Err(self.err(v.span(), key, "must not be empty; name a host folder, e.g. \"data\""));
                }
                "path" => path = Some(PathBuf::from(s)),
                "guest" => {
                    let normalized = normalize_guest(s).ok_or_else(|| {
                        let msg = format!("{s:?} must be an absolute guest path without '..', e.g. \"/data\"");
                        self.err(v.span(), key, msg)
                    })?;
                    guest = Some((normalized, v.span()));
                }
                _ => {
                    access = match s {
                        "ro" => Access::ReadOnly,
                        "rw" => Access::ReadWrite,
                        _ => {
                            let msg = format!("{s:?} is not a mode; use \"ro\" (read-only) or \"rw\" (read-write)");
                            return Err(self.err(v.span(), key, msg));
                        }
                    }
                }
            }
        }
        let path = path.ok_or_else(|| {
            let msg = "missing; add path = \"<host folder>\"";
            self.err(value.span(), &format!("{key}.path"), msg)
        })?;
        let (guest, span) = match guest {
            Some(guest) => guest,
            None => {
                let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
                    let msg = "cannot derive a guest path from this host path; add guest = \"/some/path\"";
                    self.err(value.span(), &format!("{key}.guest"), msg)
                })?;
                (format!("/{name}"), value.span())
            }
        };
        let grant = FileGrant { host: path, guest, access };
        Ok((grant, span))
    }

    fn limits(&self, value: &Item<'_>) -> Result<Limits, ManifestError> {
        let mut limits = Limits::default();
        let table = self.table(value, "limits")?;
        for (k, v) in self.entries(table, "limits", LIMIT_KEYS)? {
            let key = &format!("limits.{k}");
            limits = match k {
                "memory" => limits.memory(self.size(v, key, 64 * KIB, u64::MAX)?),
                "timeout" => limits.timeout(self.duration(v, key)?),
                "fuel" => limits.fuel(Some(self.int(v, key, 1, u64::MAX)?)),
                "stack" => {
                    let bytes = self.size(v, key, 16 * KIB, 64 * MIB)?;
                    limits.stack(usize::try_from(bytes).unwrap_or(usize::MAX))
                }
                "max-wait" => limits.max_wait(self.duration(v, key)?),
                "max-instances" => {
                    let n = self.int(v, key, 1, 1024)?;
                    limits.max_instances(u32::try_from(n).unwrap_or(u32::MAX))
                }
                "max-outbound-requests" => {
                    let n = self.int(v, key, 0, 10_000)?;
                    limits.max_outbound_requests(u32::try_from(n).unwrap_or(u32::MAX))
                }
                "max-outbound-response" => limits.max_outbound_response(self.size(v, key, 1, u64::MAX)?),
                "key-value-quota" => limits.key_value_quota(self.size(v, key, 1, u64::MAX)?),
                _ => limits.max_output(self.size(v, key, 1, u64::MAX)?),
            };
        }
        Ok(limits)
    }

    fn config(&self, value: &Item<'_>) -> Result<BTreeMap<String, String>, ManifestError> {
        let table = self.table(value, "config")?;
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        let mut config = BTreeMap::new();
        for (k, v) in entries {
            let name: &str = k.get_ref();
            let key = &join("config", name);
            let DeValue::String(s) = v.get_ref() else {
                let raw = self.text.get(v.span()).unwrap_or_default();
                let msg = match v.get_ref() {
                    DeValue::Array(_) | DeValue::Table(_) => {
                        "values must be strings; [config] only holds key = \"value\" pairs".to_owned()
                    }
                    _ => format!("values must be strings; quote it: {name} = \"{raw}\""),
                };
                return Err(self.err(v.span(), key, msg));
            };
            config.insert(name.to_owned(), s.to_string());
        }
        Ok(config)
    }

    fn build(&self, value: &Item<'_>, dir: &Path) -> Result<BuildSpec, ManifestError> {
        let table = self.table(value, "build")?;
        let mut spec = BuildSpec::default();
        for (k, v) in self.entries(table, "build", BUILD_KEYS)? {
            let key = &format!("build.{k}");
            match k {
                "language" => {
                    let s = self.str(v, key)?;
                    let language = Language::parse(s).ok_or_else(|| {
                        let names: Vec<_> = Language::ALL.iter().map(|l| l.name()).collect();
                        self.err(v.span(), key, format!("unknown language {s:?}; use one of {}", names.join(", ")))
                    })?;
                    spec.language = Some(language);
                }
                "source" => {
                    let sources = match v.get_ref() {
                        DeValue::String(s) => vec![s.to_string()],
                        DeValue::Array(_) => self.strings(v, key)?,
                        _ => return Err(self.type_err(v, key, "a file name or an array of file names")),
                    };
                    if sources.is_empty() || sources.iter().any(|s| s.is_empty()) {
                        return Err(self.err(v.span(), key, "name at least one source file, none empty"));
                    }
                    spec.sources = sources.iter().map(|s| dir.join(s)).collect();
                }
                "exports" => {
                    for (i, item) in self.array(v, key)?.iter().enumerate() {
                        let name = self.str(item, &format!("{key}[{i}]"))?;
                        let interface = build::exports().find(|i| build::short_name(*i) == name);
                        let Some(interface) = interface else {
                            let names: Vec<_> = build::exports().map(build::short_name).collect();
                            let msg = if name == "lifecycle" {
                                "`lifecycle` is always exported; list only hook interfaces".to_owned()
                            } else {
                                format!("unknown hook interface {name:?}; use any of {}", names.join(", "))
                            };
                            return Err(self.err(item.span(), key, msg));
                        };
                        if spec.exports.contains(&interface) {
                            return Err(self.err(item.span(), key, format!("{name:?} is listed twice")));
                        }
                        spec.exports.push(interface);
                    }
                }
                _ => spec.flags = self.strings(v, key)?,
            }
        }
        Ok(spec)
    }

    fn dependencies(&self, value: &Item<'_>) -> Result<BTreeMap<String, semver::VersionReq>, ManifestError> {
        let table = self.table(value, "dependencies")?;
        let mut entries: Vec<_> = table.iter().collect();
        entries.sort_by_key(|(key, _)| key.span().start);
        let mut dependencies = BTreeMap::new();
        for (k, v) in entries {
            let name: &str = k.get_ref();
            let key = &join("dependencies", name);
            if !valid_name(name) {
                return Err(self.err(k.span(), key, format!("{name:?} is not a valid plugin name")));
            }
            let DeValue::String(s) = v.get_ref() else {
                return Err(self.type_err(v, key, "a version requirement such as \"^1.2\""));
            };
            let req = semver::VersionReq::parse(s).map_err(|e| {
                self.err(
                    v.span(),
                    key,
                    format!("{s:?} is not a version requirement ({e}); write e.g. \"^1.2\" or \">=1, <3\""),
                )
            })?;
            dependencies.insert(name.to_owned(), req);
        }
        Ok(dependencies)
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_owned() } else { format!("{prefix}.{name}") }
}

/// `^[a-z][a-z0-9_-]{0,63}$`
fn valid_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && s.len() <= 64
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// `^[A-Za-z_][A-Za-z0-9_]*$`
fn valid_env_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `/a//b/./c/` -> `/a/b/c`; `None` unless absolute and free of `..`.
fn normalize_guest(s: &str) -> Option<String> {
    if !s.starts_with('/') {
        return None;
    }
    let mut out = String::new();
    for part in Path::new(s).components() {
        match part {
            Component::Normal(name) => {
                out.push('/');
                out.push_str(name.to_str()?);
            }
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// `16384` -> `"16 KiB"`; falls back to bytes when no unit divides evenly.
fn show_size(bytes: u64) -> String {
    for (unit, factor) in [("GiB", GIB), ("MiB", MIB), ("KiB", KIB)] {
        if bytes >= factor && bytes.is_multiple_of(factor) {
            return format!("{} {unit}", bytes / factor);
        }
    }
    format!("{bytes} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[plugin]
name = "header-modifier"
version = "0.1.0-beta.1"
description = "Adds headers"
authors = ["Ann <ann@x.org>", "Bo"]
license = "Apache-2.0"
component = "header_modifier.wasm"
sha256 = "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789"
instance-policy = "fresh"

[permissions]
files = [
  { path = "data", guest = "/data", mode = "ro" },
  { path = "/var/cache/x", mode = "rw" },
  { path = "../shared/", guest = "/mnt//shared/./" },
]
env = ["API_TOKEN", "_x1"]
network = ["https://api.example.com", "http://*.example.com:8080"]
modify-request = true
modify-response = false

[limits]
memory = "32 MiB"
timeout = "1.5s"
fuel = 1_000_000
stack = "1MiB"
max-instances = 8
max-wait = "20ms"
max-output = 1048576

[config]
greeting = "hello"
"weird key" = ""
"#;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, Path::new("plugins/hm/plugin.toml"))
    }

    fn ok(text: &str) -> Manifest {
        parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    const HEAD: &str = "[plugin]\nname = \"p\"\nversion = \"1.0.0\"\ncomponent = \"p.wasm\"\n";

    /// Parses `HEAD` + `extra` and returns the error, checking its line and key.
    #[track_caller]
    fn err(extra: &str, line: usize, key: Option<&str>, needle: &str) -> ManifestError {
        let text = format!("{HEAD}{extra}");
        let e = match parse(&text) {
            Ok(m) => panic!("parsed: {m:?}"),
            Err(e) => e,
        };
        assert_eq!((e.line, e.key.as_deref()), (Some(line), key), "{e}");
        assert!(e.message.contains(needle), "{e}");
        assert!(e.column.is_some(), "{e}");
        e
    }

    #[test]
    fn full_manifest() {
        let m = ok(FULL);
        assert_eq!(m.file, Path::new("plugins/hm/plugin.toml"));
        assert_eq!(m.dir, Path::new("plugins/hm"));
        assert_eq!(m.name, "header-modifier");
        assert_eq!(m.version, semver::Version::parse("0.1.0-beta.1").unwrap());
        assert_eq!(m.description.as_deref(), Some("Adds headers"));
        assert_eq!(m.authors, ["Ann <ann@x.org>", "Bo"]);
        assert_eq!(m.license.as_deref(), Some("Apache-2.0"));
        assert_eq!(m.component, Path::new("plugins/hm/header_modifier.wasm"));
        assert_eq!(m.sha256.as_deref(), Some("abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"));

        let p = &m.permissions;
        let files: Vec<_> = p.files.iter().map(|f| (f.host.to_str().unwrap(), f.guest.as_str(), f.access)).collect();
        assert_eq!(
            files,
            [
                ("data", "/data", Access::ReadOnly),
                ("/var/cache/x", "/x", Access::ReadWrite),
                ("../shared/", "/mnt/shared", Access::ReadOnly),
            ]
        );
        assert_eq!(p.env, ["API_TOKEN", "_x1"]);
        let network: Vec<_> = p.network.iter().map(|n| n.to_string()).collect();
        assert_eq!(network, ["https://api.example.com", "http://*.example.com:8080"]);
        assert!(p.modify_request && !p.modify_response);

        let expected = Limits::default()
            .memory(32 << 20)
            .timeout(Duration::from_millis(1500))
            .fuel(Some(1_000_000))
            .stack(1 << 20)
            .max_instances(8)
            .max_wait(Duration::from_millis(20))
            .max_output(1 << 20)
            .instance_policy(InstancePolicy::Fresh);
        assert_eq!(m.limits, expected);
        assert_eq!(m.config.get("greeting").map(String::as_str), Some("hello"));
        assert_eq!(m.config.get("weird key").map(String::as_str), Some(""));
    }

    #[test]
    fn minimal_manifest_gets_defaults() {
        let m = ok(HEAD);
        assert_eq!(m.name, "p");
        assert_eq!((m.description, m.license, m.sha256), (None, None, None));
        assert!(m.authors.is_empty() && m.config.is_empty());
        assert_eq!(m.permissions, Permissions::default());
        assert_eq!(m.limits, Limits::default());
        // Empty tables are fine too.
        let m = ok(&format!("{HEAD}[permissions]\n[limits]\n[config]\n"));
        assert_eq!(m.limits, Limits::default());
    }

    #[test]
    fn paths_resolve_against_the_manifest_folder() {
        let m = Manifest::parse(HEAD, Path::new("plugin.toml")).unwrap();
        assert_eq!(m.dir, Path::new("."));
        assert_eq!(m.component, Path::new("./p.wasm"));
        let abs = HEAD.replace("\"p.wasm\"", "\"/opt/p.wasm\"");
        assert_eq!(ok(&abs).component, Path::new("/opt/p.wasm"));
    }

    #[test]
    fn files_as_array_of_tables() {
        let m = ok(&format!(
            "{HEAD}[[permissions.files]]\npath = \"a/b\"\n[[permissions.files]]\npath = \"c\"\nguest = \"/\"\nmode = \"rw\"\n"
        ));
        assert_eq!(m.permissions.files[0].guest, "/b");
        assert_eq!(m.permissions.files[1].guest, "/");
        assert_eq!(m.permissions.files[1].access, Access::ReadWrite);
    }

    #[test]
    fn syntax_error() {
        let e = err("[limits\n", 5, None, "invalid TOML");
        assert!(e.to_string().starts_with("plugins/hm/plugin.toml:5:"), "{e}");
        err("description = \n", 5, None, "invalid TOML");
        err("name = \"q\"\n", 5, None, "`name` is defined twice");
    }

    #[test]
    fn unknown_table_and_keys() {
        let e = err(
            "[dependncies]\nx = \"1\"\n",
            5,
            Some("dependncies"),
            "allowed tables: plugin, permissions, limits, config, dependencies",
        );
        assert_eq!(e.column, Some(2));
        err(
            "[limits]\nmemroy = 5\n",
            6,
            Some("limits.memroy"),
            "allowed keys: memory, timeout, fuel, stack, max-instances, max-wait, max-output",
        );
        err("homepage = \"x\"\n", 5, Some("plugin.homepage"), "allowed keys: name, version");
        err(
            "[permissions]\nfiles = [{ path = \"d\", readonly = true }]\n",
            6,
            Some("permissions.files[0].readonly"),
            "allowed keys: path, guest, mode",
        );
        err("[permissions]\nFS = []\n", 6, Some("permissions.FS"), "allowed keys: files, env, network");
        // A lowercase key may belong to a host capability: kept, with its
        // position, for the runtime to check at load.
        let m = ok(&format!("{HEAD}[permissions]\nfs = [\"a\", 1]\n"));
        assert_eq!(m.permissions.host["fs"], toml::Value::Array(vec!["a".into(), 1.into()]));
        assert_eq!(m.positions["permissions.fs"], (6, 6));
        err("[plugin.extra]\n", 5, Some("plugin.extra"), "unknown key in [plugin]");
        let e = parse(&format!("top = 1\n{HEAD}")).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("top")), "{e}");
        assert!(e.message.contains("unknown table [top]"), "{e}");
    }

    #[test]
    fn wrong_types() {
        let e = parse("[plugin]\nname = 5\n").unwrap_err();
        assert_eq!(e.to_string(), "plugins/hm/plugin.toml:2:8: plugin.name: expected a string, found an integer");
        err("authors = \"Ann\"\n", 5, Some("plugin.authors"), "expected an array, found a string");
        err("authors = [\"a\", 1]\n", 5, Some("plugin.authors[1]"), "expected a string, found an integer");
        err(
            "[permissions]\nmodify-request = \"yes\"\n",
            6,
            Some("permissions.modify-request"),
            "expected true or false",
        );
        err("[permissions]\nfiles = [\"data\"]\n", 6, Some("permissions.files[0]"), "expected a table");
        err("[limits]\nfuel = 1.5\n", 6, Some("limits.fuel"), "expected an integer, found a float");
        err("[limits]\nmemory = true\n", 6, Some("limits.memory"), "expected a size");
        err("[limits]\ntimeout = 2.5\n", 6, Some("limits.timeout"), "expected a duration");
        let e = parse(&format!("limits = 3\n{HEAD}")).unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("limits")), "{e}");
        assert!(e.message.contains("expected a table, found an integer"), "{e}");
        let e = parse("[[plugin]]\nname = \"p\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("plugin")), "{e}");
    }

    #[test]
    fn missing_required_fields() {
        let e = parse("[plugin]\nname = \"p\"\nversion = \"1.0.0\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(1), Some("plugin.component")), "{e}");
        assert!(e.message.contains("add component = "), "{e}");
        let e = parse("[limits]\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (None, Some("plugin")), "{e}");
        assert_eq!(
            e.to_string(),
            "plugins/hm/plugin.toml: plugin: missing [plugin] table; add one with name, version and component"
        );
        let e = parse("").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("plugin"));
    }

    #[test]
    fn bad_plugin_values() {
        // Replaces one line of HEAD: name is on line 2, version 3, component 4.
        let bad = |line: usize, field: &str, value: &str, needle: &str| {
            let mut lines: Vec<String> = HEAD.lines().map(String::from).collect();
            lines[line - 1] = format!("{field} = {value}");
            let e = parse(&lines.join("\n")).unwrap_err();
            let key = format!("plugin.{field}");
            assert_eq!((e.line, e.key.as_deref()), (Some(line), Some(&*key)), "{e}");
            assert!(e.message.contains(needle), "{e}");
        };
        bad(3, "version", "\"1.0\"", "is not a semantic version");
        bad(3, "version", "\"v1.0.0\"", "write e.g. \"0.1.0\"");
        bad(2, "name", "\"Header\"", "not a valid name");
        bad(2, "name", "\"1abc\"", "not a valid name");
        bad(2, "name", "\"\"", "not a valid name");
        bad(2, "name", &format!("\"{}\"", "a".repeat(65)), "not a valid name");
        bad(4, "component", "\"\"", "must not be empty");
        err("sha256 = \"abc\"\n", 5, Some("plugin.sha256"), "64 hex digits");
        err(&format!("sha256 = \"{}\"\n", "g".repeat(64)), 5, Some("plugin.sha256"), "64 hex digits");
        err("instance-policy = \"pooled\"\n", 5, Some("plugin.instance-policy"), "use \"reuse\" or \"fresh\"");
        assert_eq!(ok(&HEAD.replace("\"p\"", &format!("\"a{}\"", "-".repeat(63)))).name.len(), 64);
        assert_eq!(ok(&format!("{HEAD}instance-policy = \"reuse\"\n")).limits.instance_policy, InstancePolicy::Reuse);
    }

    #[test]
    fn bad_durations() {
        let e = err("[limits]\ntimeout = \"10 parsecs\"\n", 6, Some("limits.timeout"), "");
        assert_eq!(
            e.to_string(),
            "plugins/hm/plugin.toml:6:11: limits.timeout: \"10 parsecs\" is not a duration; write e.g. \"250ms\" or \"2s\""
        );
        err("[limits]\ntimeout = \"250\"\n", 6, Some("limits.timeout"), "not a duration");
        err("[limits]\ntimeout = \"0ms\"\n", 6, Some("limits.timeout"), "greater than 0");
        err("[limits]\ntimeout = 0\n", 6, Some("limits.timeout"), "greater than 0");
        err("[limits]\ntimeout = -5\n", 6, Some("limits.timeout"), "must not be negative");
        err("[limits]\ntimeout = \"61m\"\n", 6, Some("limits.timeout"), "at most 1 hour");
        err("[limits]\ntimeout = 3600001\n", 6, Some("limits.timeout"), "at most 1 hour");
    }

    #[test]
    fn bad_sizes() {
        err(
            "[limits]\nmemory = \"12 parsecs\"\n",
            6,
            Some("limits.memory"),
            "\"12 parsecs\" is not a size; write e.g. \"64 MiB\"",
        );
        err("[limits]\nmemory = \"1.3 B\"\n", 6, Some("limits.memory"), "not a size");
        err("[limits]\nmemory = \"MiB\"\n", 6, Some("limits.memory"), "not a size");
        err("[limits]\nmemory = -1\n", 6, Some("limits.memory"), "must not be negative");
        err("[limits]\nmemory = 1000\n", 6, Some("limits.memory"), "1000 B is too small; the minimum is 64 KiB");
        err("[limits]\nstack = \"8 KiB\"\n", 6, Some("limits.stack"), "8 KiB is too small; the minimum is 16 KiB");
        err("[limits]\nstack = \"128 MiB\"\n", 6, Some("limits.stack"), "128 MiB is too large; the maximum is 64 MiB");
        err("[limits]\nmax-output = 0\n", 6, Some("limits.max-output"), "too small");
        err("[limits]\nmax-instances = 0\n", 6, Some("limits.max-instances"), "use 1 to 1024");
        err("[limits]\nmax-instances = 1025\n", 6, Some("limits.max-instances"), "use 1 to 1024");
        err("[limits]\nfuel = 0\n", 6, Some("limits.fuel"), "0 is too small; the minimum is 1");
    }

    #[test]
    fn size_and_duration_units() {
        for (s, bytes) in [
            ("4096", 4096),
            ("7B", 7),
            ("64 MiB", 64 << 20),
            ("64mib", 64 << 20),
            ("2 KB", 2000),
            ("1.5 GiB", 3 << 29),
            ("3 GB", 3_000_000_000),
            (" 1 kib ", 1024),
        ] {
            assert_eq!(parse_size(s), Some(bytes), "{s}");
        }
        for s in ["", "1.", ".5", "1..2 MiB", "1.2.3 B", "5 TiB", "-1 B", "1 Mi B", "0.1 B"] {
            assert_eq!(parse_size(s), None, "{s}");
        }
        assert_eq!(parse_size("99999999999999999999999 GiB"), Some(u64::MAX));
        for (s, d) in [
            ("250ms", Duration::from_millis(250)),
            ("2s", Duration::from_secs(2)),
            ("1.5s", Duration::from_millis(1500)),
            ("1m", Duration::from_secs(60)),
            ("1 h", Duration::from_secs(3600)),
            ("0.000000001s", Duration::from_nanos(1)),
        ] {
            assert_eq!(parse_duration(s), Some(d), "{s}");
        }
        for s in ["", "5", "1d", "ms", "1.0000000001s", "1e3ms"] {
            assert_eq!(parse_duration(s), None, "{s}");
        }
    }

    #[test]
    fn config_values_must_be_strings() {
        let e = err("[config]\nport = 8080\n", 6, Some("config.port"), "quote it: port = \"8080\"");
        assert_eq!(e.column, Some(8));
        err("[config]\nok = \"1\"\ndebug = true\n", 7, Some("config.debug"), "debug = \"true\"");
        err("[config]\nlist = [\"a\"]\n", 6, Some("config.list"), "only holds key = \"value\" pairs");
        err("[config.nested]\na = \"b\"\n", 5, Some("config.nested"), "must be strings");
    }

    #[test]
    fn build_table() {
        let m = ok(&format!(
            "{HEAD}[build]\nlanguage = \"TypeScript\"\nsource = \"src/plugin.ts\"\nexports = [\"http-filter\", \"handler\"]\n"
        ));
        assert_eq!(m.build.language, Some(Language::JavaScript));
        assert_eq!(m.build.sources, [Path::new("plugins/hm/src/plugin.ts")]);
        assert_eq!(m.build.exports, [crate::Interface::HttpFilter, crate::Interface::Handler]);
        let m = ok(&format!("{HEAD}[build]\nsource = [\"a.c\", \"b.cpp\"]\nflags = [\"-DX\"]\n"));
        assert_eq!(
            (m.build.language, m.build.sources.len(), m.build.flags.as_slice()),
            (None, 2, &["-DX".to_owned()][..])
        );
        assert_eq!(ok(HEAD).build, BuildSpec::default());

        err("[build]\nlanguage = \"go\"\n", 6, Some("build.language"), "unknown language \"go\"; use one of rust, js");
        err("[build]\nexports = [\"lifecycle\"]\n", 6, Some("build.exports"), "always exported");
        err("[build]\nexports = [\"http\"]\n", 6, Some("build.exports"), "use any of http-filter, connect");
        err("[build]\nexports = [\"handler\", \"handler\"]\n", 6, Some("build.exports"), "listed twice");
        err("[build]\nsource = []\n", 6, Some("build.source"), "at least one source file");
        err("[build]\nsource = 1\n", 6, Some("build.source"), "a file name or an array");
        err("[build]\ntarget = \"x\"\n", 6, Some("build.target"), "allowed keys: language, source, exports, flags");
    }

    #[test]
    fn dependencies_are_names_with_version_requirements() {
        let m = parse("[plugin]\nname = \"a\"\nversion = \"1.0.0\"\ncomponent = \"a.wasm\"\n[dependencies]\ngeoip = \"^1.2\"\nb = \">=1, <3\"\n").unwrap();
        assert_eq!(m.dependencies["geoip"], semver::VersionReq::parse("^1.2").unwrap());
        assert!(m.dependencies["b"].matches(&semver::Version::new(2, 9, 0)));
        err("[dependencies]\ngeoip = \"one\"\n", 6, Some("dependencies.geoip"), "is not a version requirement");
        err("[dependencies]\ngeoip = 1\n", 6, Some("dependencies.geoip"), "expected a version requirement");
        err("[dependencies]\nBad = \"1\"\n", 6, Some("dependencies.Bad"), "not a valid plugin name");
    }

    #[test]
    fn topic_permissions() {
        let m = ok(&format!("{HEAD}[permissions]\npublish = [\"orders.created\", \"audit.*\"]\nsubscribe = [\"*\"]\n"));
        let publish: Vec<String> = m.permissions.publish.iter().map(ToString::to_string).collect();
        assert_eq!(publish, ["orders.created", "audit.*"]);
        assert!(m.permissions.subscribe[0].matches("anything.at.all"));
        err("[permissions]\npublish = [\"Orders\"]\n", 6, Some("permissions.publish[0]"), "is not a valid topic");
        err("[permissions]\nsubscribe = \"t\"\n", 6, Some("permissions.subscribe"), "expected an array");
    }

    #[test]
    fn bad_permissions() {
        let p = "[permissions]\n";
        err(
            &format!("{p}env = [\"OK\", \"1BAD\"]\n"),
            6,
            Some("permissions.env[1]"),
            "not an environment variable name",
        );
        err(&format!("{p}env = [\"A-B\"]\n"), 6, Some("permissions.env[0]"), "not an environment variable name");
        err(&format!("{p}env = [\"A\",\n  \"A\"]\n"), 7, Some("permissions.env[1]"), "listed twice");
        let files = |entries: &str| format!("{p}files = [\n{entries}]\n");
        err(&files("{ path = \"\" },\n"), 7, Some("permissions.files[0].path"), "must not be empty");
        err(&files("{ guest = \"/x\" },\n"), 7, Some("permissions.files[0].path"), "missing");
        err(
            &files("{ path = \"d\", guest = \"data\" },\n"),
            7,
            Some("permissions.files[0].guest"),
            "absolute guest path",
        );
        err(
            &files("{ path = \"d\", guest = \"/a/../etc\" },\n"),
            7,
            Some("permissions.files[0].guest"),
            "without '..'",
        );
        err(&files("{ path = \"d\", mode = \"wo\" },\n"), 7, Some("permissions.files[0].mode"), "use \"ro\"");
        err(&files("{ path = \"..\" },\n"), 7, Some("permissions.files[0].guest"), "cannot derive");
        err(
            &files("{ path = \"a/data\" },\n{ path = \"b\", guest = \"/data/\" },\n"),
            8,
            Some("permissions.files[1].guest"),
            "already mounted by permissions.files[0]",
        );
        err(
            &files("{ path = \"x\", guest = \"/data\" },\n{ path = \"data\" },\n"),
            8,
            Some("permissions.files[1].guest"),
            "already mounted",
        );
    }

    #[test]
    fn bad_network_patterns() {
        for (pattern, needle) in [
            ("https://example.com/path", "no path"),
            ("ftp://x", "use http or https"),
            ("https://*.*.x.com", "wildcard"),
            ("https://ex*.com", "wildcard"),
            ("https://[::1", "IPv6"),
            ("https://example.com:99999", "port"),
        ] {
            let text = format!("[permissions]\nnetwork = [\n  \"https://ok.example.com\",\n  \"{pattern}\",\n]\n");
            let e = err(&text, 8, Some("permissions.network[1]"), needle);
            assert_eq!(e.column, Some(3), "{e}");
            let start = format!("{pattern:?} is not a valid host pattern: ");
            assert!(e.message.starts_with(&start), "{e}");
        }
        err("[permissions]\nnetwork = [42]\n", 6, Some("permissions.network[0]"), "expected a string");
    }

    #[test]
    fn positions_count_characters() {
        let e = parse("[plugin]\ndescription = \"héllo\" ; \n").unwrap_err();
        assert_eq!((e.line, e.column), (Some(2), Some(23)), "{e}");
    }

    #[test]
    fn files_on_disk() {
        let dir = std::env::temp_dir().join(format!("warden-manifest-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(MANIFEST_FILE), HEAD).unwrap();
        let m = Manifest::from_dir(&dir).unwrap();
        assert_eq!(m.file, dir.join(MANIFEST_FILE));
        assert_eq!(m.component, dir.join("p.wasm"));
        std::fs::remove_dir_all(&dir).unwrap();
        let e = Manifest::from_dir(&dir).unwrap_err();
        assert_eq!((e.line, e.column, e.key.as_deref()), (None, None, None));
        assert!(
            e.to_string()
                .starts_with(&format!("{}: cannot read the plugin manifest: ", dir.join(MANIFEST_FILE).display())),
            "{e}"
        );
    }

    #[test]
    fn never_panics() {
        // Every prefix of a valid manifest, and some hostile odds and ends.
        let mut inputs: Vec<String> = FULL.char_indices().map(|(i, _)| FULL[..i].to_owned()).collect();
        inputs.extend(
            [
                "\u{feff}[plugin]",
                "[plugin]\nname = \"é\u{0}\"",
                "[limits]\nmemory = 99999999999999999999",
                "[limits]\nmemory = 0x7fffffffffffffff",
                "[limits]\ntimeout = \"99999999999999999999999999999999999999999h\"",
                "[limits]\nstack = \"9999999999999999 GiB\"",
                "[limits]\nfuel = -9223372036854775808",
                "[permissions]\nnetwork = [\"https://[\", \"é://\", \"https://é:é\"]",
                "[config]\n\"\" = 1",
                "ü = \"\u{10ffff}\"\n[",
            ]
            .map(String::from),
        );
        for input in &inputs {
            let _ = parse(input).map_err(|e| e.to_string());
        }
    }

    proptest::proptest! {
        /// Mutated manifests: a manifest or an error pointing into the
        /// text, never a panic.
        #[test]
        fn fuzz_manifest(text in warden_fixtures::fuzz::mutated("manifest")) {
            if let Err(e) = Manifest::parse(&text, Path::new("p/plugin.toml")) {
                proptest::prop_assert!(!e.message.is_empty());
                if let Some(line) = e.line {
                    proptest::prop_assert!(line >= 1 && line <= text.lines().count() + 1, "line {} of {}", line, text);
                }
            }
        }
    }
}
