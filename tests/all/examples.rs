//! The example plugins in `plugins/`, loaded with their own manifests.

use std::path::Path;

use tempfile::TempDir;
use warden::{CallContext, HttpRequest, HttpResponse, Plugin, RequestAction, ResponseAction};
use warden_fixtures::{HEADER_MODIFIER, LOGGER, PLUGINS_DIR};

use crate::common::runtime;

/// Copies `plugins/<name>/plugin.toml` next to the built component.
fn load_example(name: &str, wasm: &str, config: &str) -> (TempDir, Plugin) {
    let dir = TempDir::new().unwrap();
    let manifest = std::fs::read_to_string(Path::new(PLUGINS_DIR).join(name).join("plugin.toml")).unwrap();
    let component = Path::new(wasm).file_name().unwrap();
    std::fs::copy(wasm, dir.path().join(component)).unwrap();
    std::fs::write(dir.path().join("plugin.toml"), format!("{manifest}\n{config}")).unwrap();
    let plugin = runtime().load(dir.path()).unwrap();
    (dir, plugin)
}

#[test]
fn logger_continues_unchanged() {
    let (_d, logger) = load_example("logger", LOGGER, "");
    let req = HttpRequest::new("GET", "/hello");
    assert!(matches!(logger.on_request(&CallContext::new("1"), &req).unwrap(), RequestAction::Continue(None)));
    let resp = HttpResponse::new(404, "");
    assert!(matches!(
        logger.on_response(&CallContext::new("1"), &req.head(), &resp).unwrap(),
        ResponseAction::Continue(None)
    ));
}

#[test]
fn header_modifier_applies_its_config() {
    let (_d, plugin) = load_example("header-modifier", HEADER_MODIFIER, "");
    let manifest = plugin.manifest();
    let mut req = HttpRequest::new("GET", "/");
    req.headers.push(("x-remove-me".into(), "1".into()));
    req.headers.push(("user-agent".into(), "curl".into()));
    match plugin.on_request(&CallContext::new("1"), &req).unwrap() {
        RequestAction::Continue(Some(changed)) => {
            for (key, value) in &manifest.config {
                if let Some(name) = key.strip_prefix("request.add.").or_else(|| key.strip_prefix("request.set.")) {
                    assert_eq!(changed.header(name), Some(value.as_str()), "{key}");
                }
            }
            if let Some(removed) = manifest.config.get("request.remove") {
                for name in removed.split(',') {
                    assert_eq!(changed.header(name.trim()), None, "{name} not removed");
                }
            }
        }
        other => panic!("expected a modified request, got {other:?}"),
    }
}
