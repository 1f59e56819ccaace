//! The JSON shape `warden run` reads and prints.
//!
//! A message is `{"method":"GET","uri":"/hello","headers":[["host","example.com"]],"body":"text"}`;
//! a response has `status` instead of `method`/`uri`. Bodies that are not
//! UTF-8 use `body_base64` instead of `body`. Both keys are optional on input
//! (empty body); on output exactly one appears.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::{Value, json};
use warden::http;
use warden::{
    CallContext, ConnectAction, ConnectionInfo, Exchange, HealthStatus, HttpResponse, Request, RequestAction, Response,
    ResponseAction, RuleEvent,
};

type Headers = Vec<(String, String)>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestJson {
    method: String,
    uri: String,
    #[serde(default)]
    headers: Headers,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_base64: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseJson {
    status: u16,
    #[serde(default)]
    headers: Headers,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_base64: Option<String>,
}

/// Input of `on-response`: the request (its body is ignored) and the response.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseInput {
    request: RequestJson,
    response: ResponseJson,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionJson {
    client_addr: String,
    server_addr: String,
    #[serde(default)]
    tls: bool,
    #[serde(default)]
    server_name: Option<String>,
}

/// Input of `on-capture`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeInput {
    request: RequestJson,
    response: ResponseJson,
    #[serde(default)]
    duration_us: u64,
}

/// Input of `on-rule-match`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    rule: String,
    request: RequestJson,
    #[serde(default)]
    details: Headers,
}

fn body(text: Option<String>, b64: Option<String>) -> Result<Vec<u8>> {
    match (text, b64) {
        (Some(_), Some(_)) => bail!("give either `body` or `body_base64`, not both"),
        (Some(t), None) => Ok(t.into_bytes()),
        (None, Some(b)) => BASE64.decode(b.trim()).context("`body_base64` is not valid base64"),
        (None, None) => Ok(Vec::new()),
    }
}

fn header_map(headers: Headers) -> Result<http::HeaderMap> {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        let name =
            http::HeaderName::from_bytes(name.as_bytes()).with_context(|| format!("invalid header name {name:?}"))?;
        let value = http::HeaderValue::from_str(&value).with_context(|| format!("invalid value for header {name}"))?;
        map.append(name, value);
    }
    Ok(map)
}

impl RequestJson {
    pub fn into_request(self) -> Result<Request> {
        let method = http::Method::from_bytes(self.method.as_bytes())
            .with_context(|| format!("invalid method {:?}", self.method))?;
        let uri = self.uri.parse().with_context(|| format!("invalid uri {:?}", self.uri))?;
        let mut req = Request::new(method, uri);
        req.headers = header_map(self.headers)?;
        req.body = body(self.body, self.body_base64)?.into();
        Ok(req)
    }
}

impl ResponseJson {
    pub fn into_response(self) -> Result<Response> {
        let status =
            http::StatusCode::from_u16(self.status).with_context(|| format!("invalid status {}", self.status))?;
        let mut resp = Response::new(status, body(self.body, self.body_base64)?);
        resp.headers = header_map(self.headers)?;
        Ok(resp)
    }
}

impl ResponseInput {
    /// The request's head (its body is not passed to on-response) and the response.
    pub fn into_parts(self) -> Result<(Request, Response)> {
        Ok((self.request.into_request()?.head(), self.response.into_response()?))
    }
}

impl ConnectionJson {
    pub fn into_connection(self) -> ConnectionInfo {
        ConnectionInfo {
            client_addr: self.client_addr,
            server_addr: self.server_addr,
            tls: self.tls,
            server_name: self.server_name,
        }
    }
}

impl ExchangeInput {
    pub fn into_exchange(self, ctx: CallContext) -> Result<Exchange> {
        let duration = std::time::Duration::from_micros(self.duration_us);
        Ok(Exchange::new(ctx, self.request.into_request()?, self.response.into_response()?, duration))
    }
}

impl RuleInput {
    pub fn into_event(self, ctx: CallContext) -> Result<RuleEvent> {
        Ok(RuleEvent::new(ctx, self.rule, self.request.into_request()?, self.details))
    }
}

/// `"body": text` or `"body_base64": ...` into `obj`.
pub fn put_bytes(obj: &mut serde_json::Map<String, Value>, key: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => obj.insert(key.to_owned(), json!(text)),
        Err(_) => obj.insert(format!("{key}_base64"), json!(BASE64.encode(bytes))),
    };
}

fn header_pairs(headers: &http::HeaderMap) -> Headers {
    let text = |v: &http::HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
    headers.iter().map(|(k, v)| (k.as_str().to_owned(), text(v))).collect()
}

pub fn request(req: &Request) -> Value {
    let mut obj = serde_json::Map::new();
    obj.insert("method".into(), json!(req.method.as_str()));
    obj.insert("uri".into(), json!(req.uri.to_string()));
    obj.insert("headers".into(), json!(header_pairs(&req.headers)));
    put_bytes(&mut obj, "body", req.body.bytes().map_or(&[][..], |b| b.as_ref()));
    Value::Object(obj)
}

pub fn lent_response(resp: &Response) -> Value {
    let mut obj = serde_json::Map::new();
    obj.insert("status".into(), json!(resp.status.as_u16()));
    obj.insert("headers".into(), json!(header_pairs(&resp.headers)));
    put_bytes(&mut obj, "body", resp.body.bytes().map_or(&[][..], |b| b.as_ref()));
    Value::Object(obj)
}

pub fn response(resp: &HttpResponse) -> Value {
    let mut obj = serde_json::Map::new();
    obj.insert("status".into(), json!(resp.status));
    obj.insert("headers".into(), json!(resp.headers));
    put_bytes(&mut obj, "body", &resp.body);
    Value::Object(obj)
}

/// A request hook's decision; with `changed`, the request as the plugin left it.
pub fn request_action(action: &RequestAction, changed: Option<&Request>) -> Value {
    match (action, changed) {
        (RequestAction::Continue, None) => json!({"action": "continue"}),
        (RequestAction::Continue, Some(req)) => json!({"action": "continue", "request": request(req)}),
        (RequestAction::Respond(resp), _) => json!({"action": "respond", "response": response(resp)}),
        (RequestAction::Reject(r), _) => json!({"action": "reject", "status": r.status, "reason": r.reason}),
    }
}

/// A response hook's decision; with `changed`, the response as the plugin left it.
pub fn response_action(action: &ResponseAction, changed: Option<&Response>) -> Value {
    match (action, changed) {
        (ResponseAction::Continue, None) => json!({"action": "continue"}),
        (ResponseAction::Continue, Some(resp)) => json!({"action": "continue", "response": lent_response(resp)}),
        (ResponseAction::Respond(resp), _) => json!({"action": "respond", "response": response(resp)}),
        (ResponseAction::Reject(r), _) => json!({"action": "reject", "status": r.status, "reason": r.reason}),
    }
}

pub fn connect_action(action: &ConnectAction) -> Value {
    match action {
        ConnectAction::Allow => json!({"action": "allow"}),
        ConnectAction::Deny(reason) => json!({"action": "deny", "reason": reason}),
    }
}

pub fn health(status: &HealthStatus) -> Value {
    match status {
        HealthStatus::Healthy => json!({"health": "healthy"}),
        HealthStatus::Degraded(r) => json!({"health": "degraded", "reason": r}),
        HealthStatus::Unhealthy(r) => json!({"health": "unhealthy", "reason": r}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_text_and_binary_bodies() {
        let text: RequestJson =
            serde_json::from_str(r#"{"method":"GET","uri":"/hello","headers":[["host","example.com"]],"body":"text"}"#)
                .unwrap();
        let req = text.into_request().unwrap();
        assert_eq!(req.body.bytes().map(|b| b.as_ref()), Some(&b"text"[..]));
        assert_eq!(
            request(&req),
            json!({"method":"GET","uri":"/hello","headers":[["host","example.com"]],"body":"text"})
        );
        let bin: RequestJson = serde_json::from_str(r#"{"method":"POST","uri":"/","body_base64":"/wA="}"#).unwrap();
        let req = bin.into_request().unwrap();
        assert_eq!(req.body.bytes().map(|b| b.as_ref()), Some(&[0xff, 0][..]));
        assert_eq!(request(&req)["body_base64"], json!("/wA="));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(serde_json::from_str::<RequestJson>(r#"{"method":"GET"}"#).is_err());
        assert!(serde_json::from_str::<RequestJson>(r#"{"method":"GET","uri":"/","bogus":1}"#).is_err());
        let both: RequestJson =
            serde_json::from_str(r#"{"method":"GET","uri":"/","body":"a","body_base64":"YQ=="}"#).unwrap();
        assert!(both.into_request().is_err());
        let bad: RequestJson = serde_json::from_str(r#"{"method":"G T","uri":"/"}"#).unwrap();
        assert!(bad.into_request().unwrap_err().to_string().contains("invalid method"));
        let bad: RequestJson = serde_json::from_str(r#"{"method":"GET","uri":"/","headers":[["x","a\nb"]]}"#).unwrap();
        assert!(bad.into_request().unwrap_err().to_string().contains("invalid value for header x"));
    }
}
