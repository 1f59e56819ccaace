//! Helpers: plugin folders made from the shipped manifests and the
//! components built from source, the sample graph, generated graphs.

use std::path::{Path, PathBuf};

use graph_analyzer::{AnalysisResult, GraphNode, graph};
use warden::{Manifest, PluginManager};

/// The example's folder.
pub fn example() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The component of a shipped plugin, built from source.
pub fn component(plugin: &str) -> &'static str {
    match plugin {
        "cycle-finder" => warden_fixtures::CYCLE_FINDER,
        "orphan-finder" => warden_fixtures::ORPHAN_FINDER,
        other => panic!("no plugin {other} in the example"),
    }
}

/// The shipped manifest of `plugin`, with its component replaced by the one
/// built from source.
pub fn shipped_manifest(plugin: &str) -> Manifest {
    let mut manifest = Manifest::from_dir(example().join("plugins").join(plugin)).unwrap();
    manifest.component = component(plugin).into();
    manifest
}

/// Makes the plugin folder `dir/<plugin>`: the shipped `plugin.toml` with
/// `edit` applied to its text, and the component built from source under
/// the file name the manifest gives. Returns the folder.
pub fn install(dir: &Path, plugin: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    let folder = dir.join(plugin);
    std::fs::create_dir_all(&folder).unwrap();
    write_manifest(&folder, plugin, edit);
    let manifest = Manifest::from_dir(&folder).unwrap();
    std::fs::copy(component(plugin), &manifest.component).unwrap();
    folder
}

/// Writes the shipped `plugin.toml` of `plugin`, edited, into `folder`.
pub fn write_manifest(folder: &Path, plugin: &str, edit: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(example().join("plugins").join(plugin).join("plugin.toml")).unwrap();
    let edited = edit(text.clone());
    std::fs::write(folder.join("plugin.toml"), edited).unwrap();
}

/// Replaces `from` (which must be there) by `to` in manifest text.
pub fn replace(from: &str, to: &str) -> impl FnOnce(String) -> String {
    let (from, to) = (from.to_owned(), to.to_owned());
    move |text| {
        assert!(text.contains(&from), "the manifest has no {from:?}:\n{text}");
        text.replacen(&from, &to, 1)
    }
}

/// A manager of a runtime for the analyzer world.
pub fn manager() -> PluginManager {
    PluginManager::new(graph_analyzer::runtime().unwrap())
}

/// `graphs/sample.json`.
pub fn sample() -> Vec<GraphNode> {
    graph::load(example().join("graphs/sample.json")).unwrap()
}

/// The cycle in the sample graph, as cycle-finder reports it.
pub const SAMPLE_CYCLE: &str = "cycle: parser::parse -> lexer::next -> token::classify -> parser::parse";
/// The orphan in the sample graph, as orphan-finder reports it.
pub const SAMPLE_ORPHAN: &str = "orphan: legacy::export_csv (function)";
/// The isolated test of the sample graph, an orphan unless `roots` has "test".
pub const SAMPLE_TEST_ORPHAN: &str = "orphan: test_config_defaults (test)";

/// A chain of `n` nodes, `n0 -> n1 -> ... -> n{n-1}`: no cycle, no orphan.
pub fn chain(n: usize) -> Vec<GraphNode> {
    (0..n)
        .map(|i| {
            let node = GraphNode::new(format!("n{i}"), "function");
            if i + 1 < n { node.calls(&[format!("n{}", i + 1)]) } else { node }
        })
        .collect()
}

/// The findings of a result, for comparisons.
pub fn findings(result: &AnalysisResult) -> Vec<&str> {
    result.findings.iter().map(String::as_str).collect()
}
