//! serde_json body helpers on the HTTP types (feature `json`, on by default).

use serde::{Serialize, de::DeserializeOwned};

use crate::{HeadersExt, HttpRequest, HttpResponse, PluginError};

/// serde_json errors become code `json` with the error's text as message.
impl From<serde_json::Error> for PluginError {
    fn from(err: serde_json::Error) -> Self {
        PluginError::new("json", err.to_string())
    }
}

fn to_body<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, PluginError> {
    Ok(serde_json::to_vec(value)?)
}

impl HttpRequest {
    /// Parses the body as JSON; a malformed body is a `json` error.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        Ok(serde_json::from_slice(&self.body)?)
    }

    /// Replaces the body with `value` as JSON (see [`set_body`](Self::set_body))
    /// and sets `content-type: application/json`.
    pub fn set_json_body<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PluginError> {
        self.set_body(to_body(value)?);
        self.set_header("content-type", "application/json");
        Ok(())
    }
}

impl HttpResponse {
    /// A response with `status` and `value` as a JSON body (`content-type: application/json`).
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Result<Self, PluginError> {
        Ok(HttpResponse::new(status, to_body(value)?).with_header("content-type", "application/json"))
    }

    /// Parses the body as JSON; a malformed body is a `json` error.
    pub fn body_json<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        Ok(serde_json::from_slice(&self.body)?)
    }

    /// Replaces the body with `value` as JSON (see [`set_body`](Self::set_body))
    /// and sets `content-type: application/json`.
    pub fn set_json_body<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), PluginError> {
        self.set_body(to_body(value)?);
        self.set_header("content-type", "application/json");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Deserialize, serde::Serialize)]
    struct User {
        user_id: u32,
    }

    #[test]
    fn round_trip() {
        let mut req = HttpRequest::new("POST", "/users");
        req.set_json_body(&User { user_id: 7 }).unwrap();
        assert_eq!(req.header("Content-Type"), Some("application/json"));
        assert_eq!(req.json::<User>().unwrap(), User { user_id: 7 });

        let mut resp = HttpResponse::json(201, &User { user_id: 8 }).unwrap();
        assert_eq!((resp.status, resp.body_str()), (201, Some(r#"{"user_id":8}"#)));
        assert_eq!(resp.body_json::<User>().unwrap(), User { user_id: 8 });

        // A content-length already there follows the new body.
        req.set_header("content-length", "0");
        req.set_json_body(&User { user_id: 1234 }).unwrap();
        assert_eq!(req.header("content-length"), Some("16"));
        resp.set_header("content-length", "0");
        resp.set_json_body(&User { user_id: 12 }).unwrap();
        assert_eq!(resp.header("content-length"), Some("14"));
    }

    #[test]
    fn malformed_body_is_json_error() {
        let err = HttpRequest::new("POST", "/").with_body("{").json::<User>().unwrap_err();
        assert_eq!(err.code, "json");
    }
}
