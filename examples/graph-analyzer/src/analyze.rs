//! Running analyzers: the runtime that loads plugins of the analyzer
//! world, and the typed call into a plugin's `analyze-graph`.

use warden::{PluginManager, Runtime};

use crate::world::{AnalysisResult, Analyzer, GraphNode};

/// The WIT name of the function [`analyze`] calls, for stats and errors.
pub const ANALYZE_GRAPH: &str = "analyze-graph";

/// A runtime that loads plugins of `example:graph/analyzer` only: a plugin
/// built for another world (Warden's HTTP hooks, say) fails to load with
/// [`warden::Error::Unsupported`], saying it is not built for this host.
pub fn runtime() -> warden::Result<Runtime> {
    Runtime::builder().world::<Analyzer>().build()
}

/// Runs `analyze-graph` of the plugin `name` on `nodes`, under the plugin's
/// limits; a trap or a limit hit fails the call with a typed
/// [`warden::Error`] (and counts toward the plugin's back-off), and the
/// plugin's next call runs on a fresh instance.
pub fn analyze(manager: &PluginManager, name: &str, nodes: &[GraphNode]) -> warden::Result<AnalysisResult> {
    manager.call(name, |plugin| {
        plugin.call::<Analyzer, _>(ANALYZE_GRAPH, |exports, store| exports.call_analyze_graph(store, nodes))
    })
}

/// What one plugin answered, or why it did not.
#[derive(Debug)]
#[non_exhaustive]
pub struct Outcome {
    /// The plugin's name.
    pub plugin: String,
    /// Its answer: the last one of a repeated run, or its first failure.
    pub result: warden::Result<AnalysisResult>,
}

/// Runs every plugin of `manager` on `nodes`, each `repeat` times (at least
/// once, and all `repeat` times even after a failure, so the stats count
/// them all), in name order.
pub fn analyze_all(manager: &PluginManager, nodes: &[GraphNode], repeat: u32) -> Vec<Outcome> {
    manager
        .names()
        .into_iter()
        .map(|plugin| {
            let mut result = analyze(manager, &plugin, nodes);
            for _ in 1..repeat {
                let next = analyze(manager, &plugin, nodes);
                if result.is_ok() {
                    result = next;
                }
            }
            Outcome { plugin, result }
        })
        .collect()
}
