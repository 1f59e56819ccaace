//! The case file format of `warden test`: `[[case]]` tables in TOML files,
//! each an input for one hook call and what must come out of it. The
//! format is documented in docs/TESTING.md; unknown keys are errors, so a
//! misspelt expectation never passes silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use warden::toml;

/// One case file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[serde(default)]
    case: Vec<Case>,
}

/// One case: a hook call and its expectations.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Case {
    pub name: String,
    /// on-request (default), on-response, handle, on-message or health.
    #[serde(default = "on_request")]
    pub hook: String,
    /// Instead of a hook: a function of the plugin's own world (`name`, or
    /// `interface#name`), called with `args`.
    pub call: Option<String>,
    /// The arguments of `call`, by parameter name (see [`super::value`]).
    #[serde(default)]
    pub args: toml::Table,
    /// Merged over the manifest's `[config]`.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// `config` replaces the manifest's `[config]` instead.
    #[serde(default)]
    pub replace_config: bool,
    /// Environment variables; each must be granted by `[permissions] env`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Granted guest directories mapped to folders (relative to the case
    /// file) for this case; each must be granted by `[permissions] files`.
    #[serde(default)]
    pub dirs: BTreeMap<String, PathBuf>,
    /// The plugin's key-value entries before the call (it starts empty).
    #[serde(default)]
    pub kv: BTreeMap<String, String>,
    pub request: Option<Message>,
    pub response: Option<Message>,
    /// For `handle`: the action and its payload.
    pub handle: Option<Payload>,
    /// For `on-message`: the topic and payload.
    pub message: Option<Payload>,
    /// Answers to the plugin's outbound HTTP requests.
    #[serde(default)]
    pub http: Vec<Stub>,
    /// Answers to the plugin's calls of the host's own imports.
    #[serde(default)]
    pub import: Vec<ImportStub>,
    #[serde(default)]
    pub expect: Expect,
}

fn on_request() -> String {
    "on-request".into()
}

/// A request (method, uri) or response (status) with headers and a body
/// (`body` text, or `json` written as JSON).
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub method: Option<String>,
    pub uri: Option<String>,
    pub status: Option<u16>,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub json: Option<toml::Value>,
}

impl Message {
    pub fn body_bytes(&self) -> Result<Vec<u8>> {
        match (&self.body, &self.json) {
            (Some(_), Some(_)) => bail!("give `body` or `json`, not both"),
            (Some(body), None) => Ok(body.clone().into_bytes()),
            (None, Some(json)) => Ok(serde_json::to_vec(json)?),
            (None, None) => Ok(Vec::new()),
        }
    }
}

/// The name (action or topic) and payload of a `handle` or `on-message` call.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    pub action: Option<String>,
    pub topic: Option<String>,
    #[serde(default)]
    pub payload: String,
}

/// A canned answer for outbound requests whose URL matches `url` (`*`
/// matches any run of characters) and, if given, whose method is `method`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct Stub {
    pub url: String,
    pub method: Option<String>,
    #[serde(default = "ok")]
    pub status: u16,
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub json: Option<toml::Value>,
    /// Fail the connection instead, with this message.
    pub refuse: Option<String>,
}

fn ok() -> u16 {
    200
}

impl Stub {
    pub fn matches(&self, method: &str, url: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method)) && glob(&self.url, url)
    }
}

/// The answer to calls of one function the host imports into its world
/// (`interface#function`, the interface with or without its version):
/// a `result`, written as a `call`'s arguments are, or a `trap`.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct ImportStub {
    pub func: String,
    pub result: Option<toml::Value>,
    /// Fail the call (a trap in the plugin) with this message instead.
    pub trap: Option<String>,
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// What must come out of the call. Everything is optional; what is not
/// given is not checked.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Expect {
    /// continue, reject or respond.
    pub action: Option<String>,
    /// The reject or respond status.
    pub status: Option<u16>,
    /// The reject reason.
    pub reason: Option<String>,
    pub error: Option<ExpectedError>,
    /// The request after the call (for a continue: what goes upstream).
    pub request: Option<MessageExpect>,
    /// The response after on-response, or the one a respond action sent.
    pub response: Option<MessageExpect>,
    /// The output of `handle`.
    pub output: Option<MessageExpect>,
    /// healthy, degraded or unhealthy.
    pub health: Option<String>,
    /// Each must appear in one of the plugin's log lines (`LEVEL message`).
    #[serde(default)]
    pub logs: Vec<String>,
    /// None may appear in any log line.
    #[serde(default)]
    pub logs_absent: Vec<String>,
    /// Key-value entries that must hold after the call.
    #[serde(default)]
    pub kv: BTreeMap<String, String>,
    /// Keys that must not exist after the call.
    #[serde(default)]
    pub kv_absent: Vec<String>,
    /// Exactly these outbound requests, in order (`METHOD URL`).
    pub fetched: Option<Vec<String>>,
    /// Exactly these calls of the host's own imports, in order
    /// (`interface#function`, the interface's version optional).
    pub imported: Option<Vec<String>>,
    /// What `call` returns, written as its arguments are.
    pub result: Option<toml::Value>,
    /// Values at JSON paths of what `call` returns (as `--json` shows it).
    #[serde(default)]
    pub result_json: BTreeMap<String, toml::Value>,
}

/// An expected failure: its kind (`warden run`'s error kinds, e.g. plugin,
/// timeout, memory-limit, init-failed), the plugin error's code, message.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExpectedError {
    pub kind: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub message_contains: Option<String>,
}

/// Expectations on a request, response or output.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MessageExpect {
    pub status: Option<u16>,
    /// All headers, in order, names lowercase.
    pub headers: Option<Vec<(String, String)>>,
    /// Headers that must be present with these values.
    #[serde(default)]
    pub header: BTreeMap<String, String>,
    #[serde(default)]
    pub headers_absent: Vec<String>,
    pub body: Option<String>,
    pub body_contains: Option<String>,
    /// Values at JSON paths (`$.a.b[0]`) of the body.
    #[serde(default)]
    pub json: BTreeMap<String, toml::Value>,
}

/// Most cases one file may hold.
const MAX_CASES: usize = 10_000;

/// Reads the cases of one file, with its path in every error.
pub fn read(path: &Path) -> Result<Vec<Case>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let file: CaseFile =
        toml::from_str(&text).with_context(|| format!("`{}` is not a valid case file", path.display()))?;
    if file.case.len() > MAX_CASES {
        bail!("`{}` holds {} cases; split it (at most {MAX_CASES} per file)", path.display(), file.case.len());
    }
    let mut seen = std::collections::HashSet::new();
    for case in &file.case {
        if !seen.insert(case.name.as_str()) {
            bail!("`{}`: two cases are named {:?}; give each its own name", path.display(), case.name);
        }
    }
    Ok(file.case)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_stars_anywhere() {
        assert!(glob("https://api.example.com/users/*", "https://api.example.com/users/42"));
        assert!(glob("*", ""));
        assert!(glob("https://*.example.com/*", "https://a.example.com/x"));
        assert!(glob("exact", "exact"));
        assert!(!glob("exact", "exact/"));
        assert!(!glob("https://api.example.com/users/*", "https://api.example.com/orders/1"));
        assert!(!glob("a*b*c", "acb"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("ab*ba", "aba"));
    }

    #[test]
    fn unknown_keys_and_duplicate_names_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "[[case]]\nname = \"a\"\n[case.expect]\nstatuss = 200\n").unwrap();
        let err = format!("{:#}", read(&path).unwrap_err());
        assert!(err.contains("statuss"), "{err}");
        std::fs::write(&path, "[[case]]\nname = \"a\"\n[[case]]\nname = \"a\"\n").unwrap();
        let err = format!("{:#}", read(&path).unwrap_err());
        assert!(err.contains("two cases are named \"a\""), "{err}");
    }
}
