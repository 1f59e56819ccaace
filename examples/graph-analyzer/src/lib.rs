//! An example Warden host with a WIT world of its own: it hands a
//! dependency graph to analyzer plugins and reports what they find.
//!
//! The world, `example:graph/analyzer` (`wit/analyzer.wit`), imports
//! Warden's `log` and `config` and exports one function,
//! `analyze-graph(nodes) -> analysis-result`. The host implements
//! [`warden::World`] for the world `bindgen!` generates ([`Analyzer`]),
//! builds its runtime with `.world::<Analyzer>()` and calls plugins through
//! [`warden::Plugin::call`], so each call runs under the plugin's limits,
//! on pooled instances, with stats, and a plugin reloads without dropping
//! a call. Two plugins come with it, built from source: `cycle-finder` and
//! `orphan-finder` (`plugins/`).
//!
//! ```no_run
//! use graph_analyzer::{analyze, graph, runtime};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let nodes = graph::load("examples/graph-analyzer/graphs/sample.json")?;
//! let manager = warden::PluginManager::new(runtime()?);
//! manager.load("examples/graph-analyzer/plugins/cycle-finder")?;
//! let result = analyze(&manager, "cycle-finder", &nodes)?;
//! for finding in &result.findings {
//!     println!("{finding}"); // cycle: parser -> lexer -> token -> parser
//! }
//! # Ok(()) }
//! ```

mod analyze;
pub mod graph;
mod report;
mod world;

pub use analyze::{ANALYZE_GRAPH, Outcome, analyze, analyze_all, runtime};
pub use graph::GraphError;
pub use report::{Report, stats_table};
pub use world::{AnalysisResult, Analyzer, AnalyzerIndices, GraphNode};
