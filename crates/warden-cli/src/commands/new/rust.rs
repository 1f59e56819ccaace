//! A Rust project: a cdylib crate on warden-pdk, its own workspace, with
//! native unit tests against the PDK's mock host.

use std::fmt::Write as _;
use std::path::Path;

use super::{File, Plan};

/// Cargo.toml of a Rust plugin project: a cdylib on warden-pdk (by path),
/// its own workspace; `dependencies` adds lines to `[dependencies]`.
pub(crate) fn cargo_toml(plan: &Plan, pdk: &Path, dependencies: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"] # a component, not a Rust library

[dependencies]
{dependencies}# warden-pdk is not on crates.io yet: a path into a Warden source tree.
warden-pdk = {{ path = {pdk:?} }}

# Its own workspace, wherever the folder is.
[workspace]
"#,
        name = plan.name,
        pdk = pdk.display().to_string(),
    )
}

pub(crate) fn files(plan: &Plan, pdk: &Path) -> Vec<File> {
    let cargo = cargo_toml(plan, pdk, "");
    let camel = &plan.camel;
    let mut lib = format!(
        r#"//! {name}: a Warden plugin. Build and test it with `warden test .`;
//! `cargo test` runs the native unit tests below.

use warden_pdk::prelude::*;

/// The plugin's state: built by `init` from `[config]`, kept between calls.
pub struct {camel} {{
    greeting: String,
}}

impl Plugin for {camel} {{
    fn init(config: &Config) -> Result<Self, PluginError> {{
        Ok({camel} {{ greeting: config.get_or("greeting", "hello") }})
    }}
}}
"#,
        name = plan.name,
    );
    let mut exports = Vec::new();
    if plan.has("http-filter") {
        exports.push("http_filter");
        let _ = write!(
            lib,
            r#"
impl HttpFilter for {camel} {{
    fn on_request(&mut self, _ctx: &CallContext, req: &Request) -> Result<RequestAction, PluginError> {{
        if is_admin(&req.path()) {{
            return Ok(RequestAction::reject(403, "forbidden"));
        }}
        req.set_header("x-greeting", &self.greeting)?; // needs modify-request
        Ok(RequestAction::Continue)
    }}
}}

/// Whether `path` is under `/admin`.
pub fn is_admin(path: &str) -> bool {{
    path == "/admin" || path.starts_with("/admin/")
}}
"#
        );
    }
    if plan.has("handler") {
        exports.push("handler");
        let _ = write!(
            lib,
            r#"
impl Handler for {camel} {{
    fn handle(&mut self, action: &str, payload: Vec<u8>) -> Result<Vec<u8>, PluginError> {{
        match action {{
            "greet" => Ok(format!("{{}}, {{}}!", self.greeting, String::from_utf8_lossy(&payload)).into_bytes()),
            other => Err(PluginError::new("unknown-action", format!("no action `{{other}}`; try `greet`"))),
        }}
    }}
}}
"#
        );
    }
    if plan.has("subscriber") {
        exports.push("subscriber");
        let _ = write!(
            lib,
            r#"
impl Subscriber for {camel} {{
    fn on_message(&mut self, topic: &str, payload: Vec<u8>) -> Result<(), PluginError> {{
        info!("{{topic}}: {{}} bytes", payload.len());
        Ok(())
    }}
}}
"#
        );
    }
    let _ = write!(lib, "\nwarden_pdk::export!({camel}: {});\n", exports.join(", "));
    lib.push_str(
        r#"
#[cfg(test)]
mod tests {
    use super::*;
    use warden_pdk::testing::MockHost;

    #[test]
    fn init_reads_the_greeting_from_the_config() {
        let _host = MockHost::new().config("greeting", "hi");
"#,
    );
    let _ = writeln!(lib, "        let plugin = {camel}::init(&Config::from_host()).unwrap();");
    lib.push_str("        assert_eq!(plugin.greeting, \"hi\");\n    }\n");
    if plan.has("http-filter") {
        let _ = write!(
            lib,
            r#"
    #[test]
    fn admin_paths_are_refused_and_others_tagged() {{
        let _host = MockHost::new();
        let mut plugin = {camel}::init(&Config::from_host()).unwrap();
        let ctx = CallContext::new("req-1");
        let admin = Request::new("GET", "/admin/users");
        assert_eq!(plugin.on_request(&ctx, &admin).unwrap(), RequestAction::reject(403, "forbidden"));
        let req = Request::new("GET", "/hello");
        assert_eq!(plugin.on_request(&ctx, &req).unwrap(), RequestAction::Continue);
        assert_eq!(req.header("x-greeting").as_deref(), Some("hello"));
        assert!(!is_admin("/administrator"));
    }}
"#
        );
    }
    if plan.has("handler") {
        let _ = write!(
            lib,
            r#"
    #[test]
    fn greet_answers_with_the_greeting() {{
        let _host = MockHost::new();
        let mut plugin = {camel}::init(&Config::from_host()).unwrap();
        assert_eq!(plugin.handle("greet", b"Ada".to_vec()).unwrap(), b"hello, Ada!");
        assert_eq!(plugin.handle("shout", Vec::new()).unwrap_err().code, "unknown-action");
    }}
"#
        );
    }
    if plan.has("subscriber") {
        let _ = write!(
            lib,
            r#"
    #[test]
    fn messages_are_logged() {{
        let host = MockHost::new();
        let mut plugin = {camel}::init(&Config::from_host()).unwrap();
        plugin.on_message("{topic}", b"ping".to_vec()).unwrap();
        assert_eq!(host.logs()[0].message, "{topic}: 4 bytes");
    }}
"#,
            topic = plan.topic
        );
    }
    lib.push_str("}\n");
    vec![("Cargo.toml".into(), cargo), ("src/lib.rs".into(), lib)]
}
