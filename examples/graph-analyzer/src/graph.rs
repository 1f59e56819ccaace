//! Graph files: the JSON a user hands the analyzer, read into the
//! [`GraphNode`]s its plugins get.
//!
//! ```json
//! {
//!   "nodes": [
//!     { "id": "main", "type": "main", "calls": ["parser"], "metadata": { "file": "src/main.rs" } },
//!     { "id": "parser", "type": "function" }
//!   ]
//! }
//! ```
//!
//! `id` and `type` are required; `calls` (the ids the node points to) and
//! `metadata` (string values) are optional. `calls` becomes the node's
//! `calls` metadata entry, comma-separated, as `wit/analyzer.wit` says; a
//! `calls` or `edges` key in `metadata` adds edges the same way. Ids must be
//! unique and may not contain commas; calls may name ids outside the graph
//! (a library function, say): they point nowhere.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::world::GraphNode;

/// A graph file that cannot be read or is not a valid graph.
#[derive(Debug, thiserror::Error)]
#[error("graph file `{}`: {}{message}", file.display(), position(*line, *column))]
#[non_exhaustive]
pub struct GraphError {
    /// The file.
    pub file: PathBuf,
    /// The line of the problem (1-based), when it is a JSON syntax or shape
    /// problem.
    pub line: Option<usize>,
    /// The column of the problem (1-based), with `line`.
    pub column: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!("line {line}, column {column}: "),
        (Some(line), None) => format!("line {line}: "),
        _ => String::new(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    nodes: Vec<Node>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Node {
    id: String,
    #[serde(rename = "type")]
    node_type: String,
    #[serde(default)]
    calls: Vec<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

/// Reads the graph file at `path`.
pub fn load(path: impl AsRef<Path>) -> Result<Vec<GraphNode>, GraphError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| GraphError {
        file: path.to_owned(),
        line: None,
        column: None,
        message: format!("cannot read it: {e}"),
    })?;
    parse(&text, path)
}

/// Parses graph JSON; `file` names it in errors.
pub fn parse(text: &str, file: &Path) -> Result<Vec<GraphNode>, GraphError> {
    let error = |line, column, message: String| GraphError { file: file.to_owned(), line, column, message };
    let parsed: File = serde_json::from_str(text).map_err(|e| {
        let hint = match e.classify() {
            serde_json::error::Category::Data => {
                "; a graph is {\"nodes\": [{\"id\": \"a\", \"type\": \"function\", \"calls\": [\"b\"], \"metadata\": {\"key\": \"value\"}}, ...]}"
            }
            _ => "",
        };
        let (line, column) = (e.line(), e.column());
        // The position is shown first, not again at the end.
        let text = e.to_string();
        let text = text.strip_suffix(&format!(" at line {line} column {column}")).unwrap_or(&text);
        error((line > 0).then_some(line), (column > 0).then_some(column), format!("{text}{hint}"))
    })?;

    let mut first: HashMap<&str, usize> = HashMap::with_capacity(parsed.nodes.len());
    for (i, node) in parsed.nodes.iter().enumerate() {
        let n = i + 1;
        if node.id.trim().is_empty() {
            return Err(error(None, None, format!("node {n} has an empty id; give every node a unique id")));
        }
        if node.id.contains(',') || node.id.trim() != node.id {
            return Err(error(
                None,
                None,
                format!(
                    "node {n} has the id {:?}: ids may not contain commas (they separate the ids of an edge list) or start or end with spaces; rename it",
                    node.id
                ),
            ));
        }
        if let Some(earlier) = first.insert(&node.id, n) {
            return Err(error(
                None,
                None,
                format!("nodes {earlier} and {n} both have the id {:?}; ids must be unique", node.id),
            ));
        }
        if let Some(bad) = node.calls.iter().find(|c| c.trim().is_empty() || c.contains(',')) {
            return Err(error(
                None,
                None,
                format!(
                    "node {:?} calls {bad:?}, which is not an id: list one id per entry, e.g. \"calls\": [\"a\", \"b\"]",
                    node.id
                ),
            ));
        }
    }

    Ok(parsed
        .nodes
        .into_iter()
        .map(|node| {
            let mut metadata: Vec<(String, String)> = node.metadata.into_iter().collect();
            if !node.calls.is_empty() {
                metadata.push(("calls".to_owned(), node.calls.join(",")));
            }
            GraphNode { id: node.id, node_type: node.node_type, metadata }
        })
        .collect())
}

/// Edges between nodes of `nodes` (edges to ids outside the graph left out).
pub fn edge_count(nodes: &[GraphNode]) -> usize {
    let ids: std::collections::HashSet<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    nodes.iter().map(|n| n.targets().filter(|t| ids.contains(t)).count()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Vec<GraphNode>, GraphError> {
        parse(text, Path::new("g.json"))
    }

    #[test]
    fn calls_become_the_calls_metadata_entry() {
        let nodes = parse_str(
            r#"{"nodes": [
                {"id": "a", "type": "main", "calls": ["b", "c"], "metadata": {"file": "a.rs"}},
                {"id": "b", "type": "function", "metadata": {"edges": "c"}},
                {"id": "c", "type": "function"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[0].node_type, "main");
        assert_eq!(nodes[0].metadata, [("file".into(), "a.rs".into()), ("calls".into(), "b,c".into())]);
        assert_eq!(nodes[1].targets().collect::<Vec<_>>(), ["c"]);
        assert_eq!(edge_count(&nodes), 3);
    }

    #[test]
    fn errors_say_where_and_what() {
        let e = parse_str("{\"nodes\": [\n  {\"id\": \"a\", \"typ\": \"x\"}\n]}").unwrap_err();
        assert_eq!((e.line, e.column.is_some()), (Some(2), true));
        let text = e.to_string();
        assert!(text.starts_with("graph file `g.json`: line 2, column "), "{text}");
        assert!(text.contains("unknown field `typ`"), "{text}");
        assert!(!text.contains(" at line "), "the position is not repeated: {text}");

        let e = parse_str(r#"{"nodes": [{"id": "a", "type": "x"}, {"id": "a", "type": "y"}]}"#).unwrap_err();
        assert_eq!(e.to_string(), "graph file `g.json`: nodes 1 and 2 both have the id \"a\"; ids must be unique");

        let e = parse_str(r#"{"nodes": [{"id": "a,b", "type": "x"}]}"#).unwrap_err();
        assert!(e.to_string().contains("may not contain commas"), "{e}");

        let e = parse_str(r#"{"nodes": [{"id": "a", "type": "x", "calls": ["b,c"]}]}"#).unwrap_err();
        assert!(e.to_string().contains("calls \"b,c\", which is not an id"), "{e}");
    }
}
