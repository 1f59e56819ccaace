//! Which content types are JSON.

/// Whether a content type is JSON: `application/json` or
/// `application/<something>+json`, with any parameters, in any case.
///
/// ```
/// use warden_pdk::json::is_json;
///
/// assert!(is_json("application/json") && is_json("Application/Problem+JSON; charset=utf-8"));
/// assert!(!is_json("text/json") && !is_json("application/+json") && !is_json("application/jsonp"));
/// ```
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json")
            || sub.len() > 5 && sub.as_bytes()[sub.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json") && is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/vnd.api+json") && is_json(" application/json "));
        for ct in ["text/plain", "application/jsonp", "application/+json", "json", "text/json", "", "application/"] {
            assert!(!is_json(ct), "{ct}");
        }
    }
}
