//! The read-only key-value endpoints of the admin API: a plugin's keys
//! (`GET /plugins/{name}/kv?prefix=&limit=`) and one value
//! (`GET /plugins/{name}/kv/{key}`), read from the store the gateway's
//! plugins use. Nothing here writes.

use http::{Response, StatusCode};
use serde_json::json;
use warden::{KeyValueError, PluginManager};

use super::{error, error_status, respond};
use crate::server::Body;

/// Keys listed when the request gives no `limit`.
pub(super) const DEFAULT_LIST_LIMIT: u32 = 100;

/// Most keys one listing returns.
pub(super) const MAX_LIST_LIMIT: u32 = 500;

/// Most bytes of a value one answer shows; a longer value is cut there
/// (`"truncated": true`, `"size"` gives its full length).
pub(super) const MAX_VALUE_SHOWN: usize = 1 << 20;

/// `GET /plugins/{name}/kv?prefix=&limit=`: the plugin's keys starting with
/// `prefix`, in byte order, at most `limit`; `truncated` says whether more
/// follow.
pub(super) fn list(manager: &PluginManager, name: &str, query: Option<&str>) -> Response<Body> {
    let (mut prefix, mut limit) = (String::new(), DEFAULT_LIST_LIMIT);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = match decode(value, true) {
            Ok(v) => v,
            Err(why) => return error(StatusCode::BAD_REQUEST, format!("query parameter '{key}': {why}")),
        };
        match key {
            "prefix" => prefix = value,
            "limit" => match value.parse::<u32>() {
                Ok(n) if (1..=MAX_LIST_LIMIT).contains(&n) => limit = n,
                _ => {
                    let message = format!("limit must be a whole number from 1 to {MAX_LIST_LIMIT}, not {value:?}");
                    return error(StatusCode::BAD_REQUEST, message);
                }
            },
            other => {
                let message = format!("unknown query parameter '{other}'; this endpoint takes prefix and limit");
                return error(StatusCode::BAD_REQUEST, message);
            }
        }
    }
    let store = match store(manager, name) {
        Ok(store) => store,
        Err((status, message)) => return error(status, message),
    };
    // One more than asked: tells whether the listing was cut.
    match store.list_keys(name, &prefix, limit + 1) {
        Ok(mut keys) => {
            let truncated = keys.len() > limit as usize;
            keys.truncate(limit as usize);
            let usage = store.usage(name).ok();
            let body = json!({
                "plugin": name, "prefix": prefix, "limit": limit, "keys": keys, "truncated": truncated, "usage-bytes": usage,
            });
            respond(StatusCode::OK, body)
        }
        Err(e) => kv_error(&e),
    }
}

/// `GET /plugins/{name}/kv/{key}`: one value. `raw_key` is the rest of the
/// path, percent-encoded (so a key may hold `/`, `?` or `#`).
pub(super) fn get(manager: &PluginManager, name: &str, raw_key: &str) -> Response<Body> {
    let key = match decode(raw_key, false) {
        Ok(k) => k,
        Err(why) => return error(StatusCode::BAD_REQUEST, format!("the key in the path: {why}")),
    };
    let store = match store(manager, name) {
        Ok(store) => store,
        Err((status, message)) => return error(status, message),
    };
    match store.get(name, &key) {
        Ok(Some(value)) => {
            let size = value.len();
            let shown = &value[..size.min(MAX_VALUE_SHOWN)];
            let (encoding, text) = match std::str::from_utf8(shown) {
                Ok(text) => ("utf-8", text.to_owned()),
                // A cut in the middle of a character: show the whole characters.
                Err(e) if e.error_len().is_none() && shown.len() < size => {
                    ("utf-8", String::from_utf8_lossy(&shown[..e.valid_up_to()]).into_owned())
                }
                Err(_) => {
                    use base64::Engine as _;
                    ("base64", base64::engine::general_purpose::STANDARD.encode(shown))
                }
            };
            let body = json!({
                "plugin": name, "key": key, "size": size, "encoding": encoding, "value": text, "truncated": shown.len() < size,
            });
            respond(StatusCode::OK, body)
        }
        Ok(None) => error(StatusCode::NOT_FOUND, format!("plugin '{name}' has no key-value entry {key:?}")),
        Err(e) => kv_error(&e),
    }
}

/// The store of the gateway's runtime, once `name` is known to be
/// loaded; else the status and message to answer with.
fn store(manager: &PluginManager, name: &str) -> Result<warden::KeyValueStore, (StatusCode, String)> {
    if let Err(e) = manager.info(name) {
        return Err((error_status(&e), e.to_string()));
    }
    manager.runtime().key_value().cloned().ok_or_else(|| {
        let message = "this host gives its plugins no key-value store; there is nothing to read";
        (StatusCode::SERVICE_UNAVAILABLE, message.to_owned())
    })
}

fn kv_error(e: &KeyValueError) -> Response<Body> {
    let status = match e.code() {
        "invalid-key" => StatusCode::BAD_REQUEST,
        "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

/// Decodes percent-encoding (and, in a query, `+` as a space) into UTF-8
/// text.
fn decode(text: &str, query: bool) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                let Some(byte) = byte else {
                    return Err("a '%' must be followed by two hex digits".to_owned());
                };
                out.push(byte);
                i += 3;
            }
            b'+' if query => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "it is not UTF-8 once percent-decoded (keys are UTF-8 text)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn decodes_percent_encoding_and_refuses_broken_input() {
        assert_eq!(decode("a%2Fb%20c", false).unwrap(), "a/b c");
        assert_eq!(decode("a+b", false).unwrap(), "a+b");
        assert_eq!(decode("a+b%2B", true).unwrap(), "a b+");
        assert_eq!(decode("%C3%A9", false).unwrap(), "é");
        assert!(decode("%zz", false).is_err());
        assert!(decode("%4", false).is_err());
        assert!(decode("%FF", false).is_err(), "not UTF-8");
    }
}
