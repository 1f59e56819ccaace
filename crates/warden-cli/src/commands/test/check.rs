//! Compares what came out of a call with what the case expects: one line
//! per difference, `what: expected X, got Y`.

use super::case::{Expect, MessageExpect};
use super::run::{Outcome, Seen};

/// Every way `outcome` differs from `expect`.
pub fn check(expect: &Expect, outcome: &Outcome) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut differ = |what: &str, expected: String, actual: String| {
        if expected != actual {
            wrong.push(format!("{what}: expected {expected}, got {actual}"));
        }
    };
    match (&expect.error, &outcome.error) {
        (Some(e), actual) => {
            let (kind, code, message) = actual.clone().unwrap_or_default();
            if actual.is_none() {
                differ("error", "an error".into(), outcome_summary(outcome));
            }
            if let Some(k) = &e.kind {
                differ("error kind", format!("{k:?}"), format!("{kind:?}"));
            }
            if let Some(c) = &e.code {
                differ("error code", format!("{c:?}"), format!("{:?}", code.unwrap_or_default()));
            }
            if let Some(m) = &e.message {
                differ("error message", format!("{m:?}"), format!("{message:?}"));
            }
            if let Some(m) = &e.message_contains
                && !message.contains(m.as_str())
            {
                differ("error message", format!("to contain {m:?}"), format!("{message:?}"));
            }
        }
        (None, Some((kind, code, message))) => {
            let code = code.as_deref().map(|c| format!(" (code {c:?})")).unwrap_or_default();
            differ("result", "no error".into(), format!("{kind} error{code}: {message}"));
        }
        (None, None) => {}
    }
    if let Some(action) = &expect.action {
        differ("action", format!("{action:?}"), format!("{:?}", outcome.action.unwrap_or("none")));
    }
    if let Some(status) = expect.status {
        differ("status", status.to_string(), outcome.status.map_or("none".into(), |s| s.to_string()));
    }
    if let Some(reason) = &expect.reason {
        differ("reason", format!("{reason:?}"), format!("{:?}", outcome.reason.as_deref().unwrap_or("")));
    }
    if let Some(health) = &expect.health {
        differ("health", format!("{health:?}"), format!("{:?}", outcome.health.as_deref().unwrap_or("none")));
    }
    let messages = [
        ("request", &expect.request, &outcome.request),
        ("response", &expect.response, &outcome.response),
        ("output", &expect.output, &outcome.output),
    ];
    for (what, expect, seen) in messages {
        if let Some(expect) = expect {
            match seen {
                Some(seen) => message(what, expect, seen, &mut wrong),
                None => wrong.push(format!("{what}: expected one, the call produced none")),
            }
        }
    }
    for text in &expect.logs {
        if !outcome.logs.iter().any(|line| line.contains(text.as_str())) {
            wrong.push(format!("logs: expected a line containing {text:?}, got {:?}", outcome.logs));
        }
    }
    for text in &expect.logs_absent {
        if let Some(line) = outcome.logs.iter().find(|line| line.contains(text.as_str())) {
            wrong.push(format!("logs: expected no line containing {text:?}, got {line:?}"));
        }
    }
    for (key, value) in &expect.kv {
        let actual = outcome.kv.get(key).map_or("no entry".into(), |v| format!("{v:?}"));
        if actual != format!("{value:?}") {
            wrong.push(format!("kv {key:?}: expected {value:?}, got {actual}"));
        }
    }
    for key in &expect.kv_absent {
        if let Some(value) = outcome.kv.get(key) {
            wrong.push(format!("kv {key:?}: expected no entry, got {value:?}"));
        }
    }
    if let Some(fetched) = &expect.fetched
        && *fetched != outcome.fetched
    {
        wrong.push(format!("fetched: expected {fetched:?}, got {:?}", outcome.fetched));
    }
    if let Some(imported) = &expect.imported {
        let expected: Vec<String> = imported.iter().map(|name| super::wit::unversioned(name)).collect();
        if expected != outcome.imported {
            wrong.push(format!("imported: expected {expected:?}, got {:?}", outcome.imported));
        }
    }
    if expect.result.is_some() || !expect.result_json.is_empty() {
        match &outcome.result {
            Some(actual) => {
                if let Some(expected) = &outcome.expected_result
                    && expected != actual
                {
                    wrong.push(format!("result: expected {expected}, got {actual}"));
                }
                json_paths("result", actual, &expect.result_json, &mut wrong);
            }
            None if outcome.error.is_none() => wrong.push("result: expected one, the case made no call".into()),
            None => {}
        }
    }
    wrong
}

fn outcome_summary(outcome: &Outcome) -> String {
    match outcome.action {
        Some(action) => format!("action {action:?}"),
        None => "success".into(),
    }
}

fn message(what: &str, expect: &MessageExpect, seen: &Seen, wrong: &mut Vec<String>) {
    let body = String::from_utf8_lossy(&seen.body);
    if let Some(status) = expect.status {
        let actual = seen.status.map_or("none".into(), |s| s.to_string());
        if actual != status.to_string() {
            wrong.push(format!("{what} status: expected {status}, got {actual}"));
        }
    }
    if let Some(headers) = &expect.headers
        && *headers != seen.headers
    {
        wrong.push(format!("{what} headers: expected {headers:?}, got {:?}", seen.headers));
    }
    let values = |name: &str| -> Vec<&str> {
        seen.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    };
    for (name, value) in &expect.header {
        let actual = values(name);
        if !actual.contains(&value.as_str()) {
            wrong.push(format!("{what} header {name:?}: expected {value:?}, got {actual:?}"));
        }
    }
    for name in &expect.headers_absent {
        let actual = values(name);
        if !actual.is_empty() {
            wrong.push(format!("{what} header {name:?}: expected none, got {actual:?}"));
        }
    }
    if let Some(expected) = &expect.body
        && *expected != body
    {
        wrong.push(format!("{what} body: expected {expected:?}, got {body:?}"));
    }
    if let Some(part) = &expect.body_contains
        && !body.contains(part.as_str())
    {
        wrong.push(format!("{what} body: expected it to contain {part:?}, got {body:?}"));
    }
    if expect.json.is_empty() {
        return;
    }
    let parsed: serde_json::Value = match serde_json::from_slice(&seen.body) {
        Ok(v) => v,
        Err(e) => {
            wrong.push(format!("{what} body: expected JSON, got {body:?} ({e})"));
            return;
        }
    };
    json_paths(&format!("{what} json"), &parsed, &expect.json, wrong);
}

/// Checks the values at JSON paths of `root`.
fn json_paths(
    what: &str,
    root: &serde_json::Value,
    paths: &std::collections::BTreeMap<String, warden::toml::Value>,
    wrong: &mut Vec<String>,
) {
    for (path, expected) in paths {
        let expected = serde_json::to_value(expected).unwrap_or_default();
        match json_path(root, path) {
            Ok(Some(actual)) if *actual == expected => {}
            Ok(Some(actual)) => wrong.push(format!("{what} {path}: expected {expected}, got {actual}")),
            Ok(None) => wrong.push(format!("{what} {path}: expected {expected}, there is nothing there")),
            Err(e) => wrong.push(format!("{what} {path}: {e}")),
        }
    }
}

/// The value at `path` (`$`, then `.name`, `["name"]` or `[index]` steps).
pub fn json_path<'a>(root: &'a serde_json::Value, path: &str) -> Result<Option<&'a serde_json::Value>, String> {
    let bad = || format!("{path:?} is not a JSON path; write e.g. `$.user.name` or `$.items[0]`");
    let mut rest = path.strip_prefix('$').ok_or_else(bad)?;
    let mut at = root;
    while !rest.is_empty() {
        let next = if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return Err(bad());
            }
            let (name, r) = r.split_at(end);
            rest = r;
            at.get(name)
        } else if let Some(r) = rest.strip_prefix("[\"") {
            let end = r.find("\"]").ok_or_else(bad)?;
            rest = &r[end + 2..];
            at.get(&r[..end])
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(bad)?;
            let index: usize = r[..end].parse().map_err(|_| bad())?;
            rest = &r[end + 1..];
            at.get(index)
        } else {
            return Err(bad());
        };
        match next {
            Some(v) => at = v,
            None => return Ok(None),
        }
    }
    Ok(Some(at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_paths_walk_objects_and_arrays() {
        let v = json!({"user": {"name": "Ada", "tags": ["a", "b"]}, "a.b": 1});
        assert_eq!(json_path(&v, "$.user.name").unwrap(), Some(&json!("Ada")));
        assert_eq!(json_path(&v, "$.user.tags[1]").unwrap(), Some(&json!("b")));
        assert_eq!(json_path(&v, "$[\"a.b\"]").unwrap(), Some(&json!(1)));
        assert_eq!(json_path(&v, "$").unwrap(), Some(&v));
        assert_eq!(json_path(&v, "$.user.missing").unwrap(), None);
        assert_eq!(json_path(&v, "$.user.tags[9]").unwrap(), None);
        assert!(json_path(&v, "user").is_err());
        assert!(json_path(&v, "$.user..name").is_err());
        assert!(json_path(&v, "$.user.tags[x]").is_err());
    }

    #[test]
    fn every_difference_is_one_line_with_expected_and_actual() {
        let expect: Expect = warden::toml::from_str(
            r#"
            action = "reject"
            status = 400
            logs = ["checked"]
            kv = { seen = "1" }
            response = { header = { "x-a" = "1" }, json = { "$.ok" = true } }
            "#,
        )
        .unwrap();
        let outcome = Outcome {
            action: Some("continue"),
            logs: vec!["INFO other".into()],
            response: Some(Seen { status: Some(200), headers: vec![], body: br#"{"ok":false}"#.to_vec() }),
            ..Outcome::default()
        };
        let wrong = check(&expect, &outcome);
        assert_eq!(wrong.len(), 6, "{wrong:#?}");
        assert!(wrong[0].starts_with("action: expected \"reject\", got \"continue\""), "{wrong:#?}");
        assert!(wrong.iter().any(|w| w == "response json $.ok: expected true, got false"), "{wrong:#?}");
        assert!(check(&Expect::default(), &Outcome::default()).is_empty());
    }
}
