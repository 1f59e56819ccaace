//! The host side of `example:graph/analyzer` (`wit/analyzer.wit`): the
//! bindings `bindgen!` generates and the [`warden::World`] that lets a
//! Warden runtime load and call plugins of it.
//!
//! Warden's own interfaces (`log`, `config`) map to Warden's bindings, so
//! no host traits are generated for them: every runtime already provides
//! them.

#[allow(missing_docs, reason = "generated: the WIT docs cover the public types")]
mod bindings {
    wasmtime::component::bindgen!({
        path: ["../../wit", "wit"],
        world: "example:graph/analyzer",
        with: { "warden:plugin": ::warden::wit },
    });
}

pub use bindings::example::graph::types::{AnalysisResult, GraphNode};
pub use bindings::{Analyzer, AnalyzerIndices};

warden::world!(Analyzer, AnalyzerIndices, "example:graph/analyzer");

/// A result counts its findings and recommendations against the plugin's
/// `[limits] max-output`.
impl warden::OutputSize for AnalysisResult {
    fn output_size(&self) -> u64 {
        self.findings.output_size() + self.recommendations.output_size()
    }
}

impl GraphNode {
    /// A node with no metadata.
    pub fn new(id: impl Into<String>, node_type: impl Into<String>) -> GraphNode {
        GraphNode { id: id.into(), node_type: node_type.into(), metadata: Vec::new() }
    }

    /// Adds edges to `targets`, as a `calls` entry of the metadata.
    pub fn calls<S: AsRef<str>>(mut self, targets: &[S]) -> GraphNode {
        let targets: Vec<&str> = targets.iter().map(AsRef::as_ref).collect();
        self.metadata.push(("calls".to_owned(), targets.join(",")));
        self
    }

    /// The ids this node points to: its `calls` and `edges` metadata
    /// values, split at commas, trimmed, empty entries left out (the
    /// convention of `wit/analyzer.wit`).
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.metadata
            .iter()
            .filter(|(key, _)| key == "calls" || key == "edges")
            .flat_map(|(_, value)| value.split(','))
            .map(str::trim)
            .filter(|id| !id.is_empty())
    }
}
