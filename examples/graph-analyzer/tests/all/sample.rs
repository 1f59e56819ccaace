//! The plugins on the sample graph and on graphs made to test their edges.

use graph_analyzer::{ANALYZE_GRAPH, AnalysisResult, Analyzer, GraphNode};
use warden::{Manifest, Plugin};

use crate::common::{SAMPLE_CYCLE, SAMPLE_ORPHAN, SAMPLE_TEST_ORPHAN, findings, sample, shipped_manifest};

fn load(manifest: Manifest) -> Plugin {
    graph_analyzer::runtime().unwrap().load_manifest(manifest).unwrap()
}

fn analyze(plugin: &Plugin, nodes: &[GraphNode]) -> AnalysisResult {
    plugin.call::<Analyzer, _>(ANALYZE_GRAPH, |w, store| w.call_analyze_graph(store, nodes)).unwrap()
}

#[test]
fn cycle_finder_reports_the_cycle_of_the_sample_graph() {
    let plugin = load(shipped_manifest("cycle-finder"));
    assert!(plugin.exports_world::<Analyzer>());
    assert_eq!(plugin.worlds(), ["example:graph/analyzer"]);
    let result = analyze(&plugin, &sample());
    assert_eq!(findings(&result), [SAMPLE_CYCLE]);
    assert_eq!(result.confidence, 1.0);
    assert_eq!(
        result.recommendations,
        [
            "break the cycle through parser::parse: remove one of its edges (e.g. token::classify -> parser::parse), or move what its nodes share into a new node they all depend on"
        ]
    );
}

#[test]
fn orphan_finder_reports_the_orphan_of_the_sample_graph_and_respects_roots() {
    // The shipped config: roots = "main,test".
    let plugin = load(shipped_manifest("orphan-finder"));
    let result = analyze(&plugin, &sample());
    assert_eq!(findings(&result), [SAMPLE_ORPHAN]);
    assert_eq!(result.confidence, 0.9);
    assert_eq!(
        result.recommendations,
        [
            "1 orphan of type \"function\": remove it if it is dead code, or add \"function\" to [config] roots if it is an entry point"
        ]
    );

    // Tests are no roots any more: the isolated test is an orphan too.
    let mut manifest = shipped_manifest("orphan-finder");
    manifest.config.insert("roots".into(), "main".into());
    let result = analyze(&load(manifest), &sample());
    assert_eq!(findings(&result), [SAMPLE_ORPHAN, SAMPLE_TEST_ORPHAN]);
    assert_eq!(result.recommendations.len(), 2, "one per node type: {:?}", result.recommendations);

    // No roots at all: `main` still calls something, so it is no orphan;
    // the answer is less sure.
    let mut manifest = shipped_manifest("orphan-finder");
    manifest.config.remove("roots");
    let result = analyze(&load(manifest), &sample());
    assert_eq!(findings(&result), [SAMPLE_ORPHAN, SAMPLE_TEST_ORPHAN]);
    assert_eq!(result.confidence, 0.7);
}

#[test]
fn cycle_finder_reports_self_loops_and_tangles_once_each() {
    let mut edges = GraphNode::new("r", "function");
    // Spaces, empty entries and an id outside the graph are fine.
    edges.metadata.push(("edges".into(), " p , ,libc::exit".into()));
    let nodes = vec![
        GraphNode::new("main", "main").calls(&["p", "x"]),
        GraphNode::new("x", "function").calls(&["x"]),
        GraphNode::new("p", "function").calls(&["q"]),
        GraphNode::new("q", "function").calls(&["p", "r"]),
        edges,
    ];
    let result = analyze(&load(shipped_manifest("cycle-finder")), &nodes);
    assert_eq!(
        findings(&result),
        ["cycle: x -> x", "cycle: p -> q -> p (one of the cycles among 3 nodes that all depend on each other)"]
    );
    assert_eq!(result.recommendations.len(), 2);

    let nothing = analyze(&load(shipped_manifest("cycle-finder")), &crate::common::chain(1000));
    assert!(nothing.findings.is_empty() && nothing.recommendations.is_empty(), "{nothing:?}");
}

#[test]
fn long_lists_are_capped_by_config() {
    let nodes: Vec<GraphNode> = (0..5).map(|i| GraphNode::new(format!("o{i}"), "function")).collect();
    let mut manifest = shipped_manifest("orphan-finder");
    manifest.config.insert("max-findings".into(), "2".into());
    let result = analyze(&load(manifest), &nodes);
    assert_eq!(
        findings(&result),
        [
            "orphan: o0 (function)",
            "orphan: o1 (function)",
            "... and 3 more orphans not listed (raise [config] max-findings to list them)"
        ]
    );
    assert_eq!(
        result.recommendations,
        [
            "5 orphans of type \"function\": remove them if they are dead code, or add \"function\" to [config] roots if they are entry points"
        ]
    );

    let loops: Vec<GraphNode> =
        (0..4).map(|i| GraphNode::new(format!("s{i}"), "function").calls(&[format!("s{i}")])).collect();
    let mut manifest = shipped_manifest("cycle-finder");
    manifest.config.insert("max-cycles".into(), "1".into());
    let result = analyze(&load(manifest), &loops);
    assert_eq!(
        findings(&result),
        ["cycle: s0 -> s0", "... and 3 more cycles not listed (raise [config] max-cycles to list them)"]
    );
}
