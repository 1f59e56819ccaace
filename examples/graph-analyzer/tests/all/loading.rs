//! What does not load: a plugin of another world, a broken graph file.

use graph_analyzer::graph;
use warden::{ErrorKind, Manifest, PluginState};

use crate::common::manager;

#[test]
fn a_warden_http_plugin_is_not_built_for_this_host() {
    // Directly through a runtime.
    let err =
        graph_analyzer::runtime().unwrap().load_manifest(Manifest::new("echo", warden_fixtures::ECHO)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    let message = err.to_string();
    assert!(message.starts_with("plugin 'echo': it is not built for this host"), "{message}");
    assert!(message.contains("example:graph/analyzer"), "names the host's world: {message}");

    // Through the manager, from a folder: listed as failed, with the reason.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(warden_fixtures::ECHO, dir.path().join("echo.wasm")).unwrap();
    let toml = "[plugin]\nname = \"echo\"\nversion = \"1.0.0\"\ncomponent = \"echo.wasm\"\n";
    std::fs::write(dir.path().join("plugin.toml"), toml).unwrap();
    let manager = manager();
    let err = manager.load(dir.path()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("it is not built for this host"), "{err}");
    let info = manager.info("echo").unwrap();
    assert_eq!(info.state, PluginState::Failed);
    assert!(info.last_error.unwrap().contains("it is not built for this host"));
}

#[test]
fn graph_file_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("graph.json");
    let shown = format!("graph file `{}`: ", file.display());

    let err = graph::load(&file).unwrap_err();
    assert_eq!(err.file, file);
    assert!(err.to_string().starts_with(&format!("{shown}cannot read it: ")), "{err}");

    std::fs::write(&file, "{\"nodes\": [\n  {\"id\": \"a\", \"type\": \"function\",}\n]}").unwrap();
    let err = graph::load(&file).unwrap_err();
    assert!(err.to_string().starts_with(&format!("{shown}line 2, column ")), "{err}");
    assert!(err.to_string().contains("trailing comma"), "{err}");

    std::fs::write(&file, r#"{"nodes": [{"id": "a", "type": "function", "calls": "b"}]}"#).unwrap();
    let err = graph::load(&file).unwrap_err();
    assert!(err.to_string().starts_with(&format!("{shown}line 1, column ")), "{err}");
    assert!(err.to_string().contains("invalid type: string \"b\", expected a sequence"), "{err}");
    assert!(err.to_string().contains("a graph is {\"nodes\": ["), "shows the shape: {err}");

    std::fs::write(
        &file,
        r#"{"nodes": [{"id": "a", "type": "x"}, {"id": "b", "type": "x"}, {"id": "a", "type": "y"}]}"#,
    )
    .unwrap();
    let err = graph::load(&file).unwrap_err();
    assert_eq!(err.to_string(), format!("{shown}nodes 1 and 3 both have the id \"a\"; ids must be unique"));
}
