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
use warden::{
    CallContext, ConnectAction, ConnectionInfo, Exchange, HealthStatus, HttpRequest, HttpResponse, RequestAction,
    RequestHead, ResponseAction, RuleEvent,
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

impl RequestJson {
    pub fn into_request(self) -> Result<HttpRequest> {
        let mut req = HttpRequest::new(self.method, self.uri);
        req.headers = self.headers;
        req.body = body(self.body, self.body_base64)?;
        Ok(req)
    }
}

impl ResponseJson {
    pub fn into_response(self) -> Result<HttpResponse> {
        let mut resp = HttpResponse::new(self.status, body(self.body, self.body_base64)?);
        resp.headers = self.headers;
        Ok(resp)
    }
}

impl ResponseInput {
    pub fn into_parts(self) -> Result<(RequestHead, HttpResponse)> {
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
        Ok(Exchange {
            context: ctx,
            request: self.request.into_request()?,
            response: self.response.into_response()?,
            duration_us: self.duration_us,
        })
    }
}

impl RuleInput {
    pub fn into_event(self, ctx: CallContext) -> Result<RuleEvent> {
        Ok(RuleEvent { context: ctx, rule: self.rule, request: self.request.into_request()?, details: self.details })
    }
}

/// `"body": text` or `"body_base64": ...` into `obj`.
pub fn put_bytes(obj: &mut serde_json::Map<String, Value>, key: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => obj.insert(key.to_owned(), json!(text)),
        Err(_) => obj.insert(format!("{key}_base64"), json!(BASE64.encode(bytes))),
    };
}

pub fn request(req: &HttpRequest) -> Value {
    let mut obj = serde_json::Map::new();
    obj.insert("method".into(), json!(req.method));
    obj.insert("uri".into(), json!(req.uri));
    obj.insert("headers".into(), json!(req.headers));
    put_bytes(&mut obj, "body", &req.body);
    Value::Object(obj)
}

pub fn response(resp: &HttpResponse) -> Value {
    let mut obj = serde_json::Map::new();
    obj.insert("status".into(), json!(resp.status));
    obj.insert("headers".into(), json!(resp.headers));
    put_bytes(&mut obj, "body", &resp.body);
    Value::Object(obj)
}

pub fn request_action(action: &RequestAction) -> Value {
    match action {
        RequestAction::Continue(None) => json!({"action": "continue"}),
        RequestAction::Continue(Some(req)) => json!({"action": "continue", "request": request(req)}),
        RequestAction::Respond(resp) => json!({"action": "respond", "response": response(resp)}),
        RequestAction::Reject(r) => json!({"action": "reject", "status": r.status, "reason": r.reason}),
    }
}

pub fn response_action(action: &ResponseAction) -> Value {
    match action {
        ResponseAction::Continue(None) => json!({"action": "continue"}),
        ResponseAction::Continue(Some(resp)) => json!({"action": "continue", "response": response(resp)}),
        ResponseAction::Respond(resp) => json!({"action": "respond", "response": response(resp)}),
        ResponseAction::Reject(r) => json!({"action": "reject", "status": r.status, "reason": r.reason}),
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
        assert_eq!(req.body, b"text");
        assert_eq!(
            request(&req),
            json!({"method":"GET","uri":"/hello","headers":[["host","example.com"]],"body":"text"})
        );
        let bin: RequestJson = serde_json::from_str(r#"{"method":"POST","uri":"/","body_base64":"/wA="}"#).unwrap();
        let req = bin.into_request().unwrap();
        assert_eq!(req.body, vec![0xff, 0]);
        assert_eq!(request(&req)["body_base64"], json!("/wA="));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(serde_json::from_str::<RequestJson>(r#"{"method":"GET"}"#).is_err());
        assert!(serde_json::from_str::<RequestJson>(r#"{"method":"GET","uri":"/","bogus":1}"#).is_err());
        let both: RequestJson =
            serde_json::from_str(r#"{"method":"GET","uri":"/","body":"a","body_base64":"YQ=="}"#).unwrap();
        assert!(both.into_request().is_err());
    }
}
