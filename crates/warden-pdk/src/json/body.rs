//! serde_json body helpers on the HTTP types (feature `json`, on by default).

use serde::{Serialize, de::DeserializeOwned};

use crate::{HeadersExt, HttpResponse, PluginError, Request, Response};

/// serde_json errors become code `json` with the error's text as message.
impl From<serde_json::Error> for PluginError {
    fn from(err: serde_json::Error) -> Self {
        PluginError::new("json", err.to_string())
    }
}

fn to_body<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, PluginError> {
    Ok(serde_json::to_vec(value)?)
}

impl Request<'_> {
    /// Reads the body and parses it as JSON; a malformed body is a `json` error.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        Ok(serde_json::from_slice(&self.body()?)?)
    }

    /// Replaces the body with `value` as JSON (see [`set_body`](Self::set_body))
    /// and sets `content-type: application/json`.
    pub fn set_json_body<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), PluginError> {
        self.set_body(to_body(value)?)?;
        self.set_header("content-type", "application/json")
    }
}

impl Response<'_> {
    /// Reads the body and parses it as JSON; a malformed body is a `json` error.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        Ok(serde_json::from_slice(&self.body()?)?)
    }

    /// Replaces the body with `value` as JSON (see [`set_body`](Self::set_body))
    /// and sets `content-type: application/json`.
    pub fn set_json_body<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), PluginError> {
        self.set_body(to_body(value)?)?;
        self.set_header("content-type", "application/json")
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
        let req = Request::local("POST", "/users");
        req.set_json_body(&User { user_id: 7 }).unwrap();
        assert_eq!(req.header("Content-Type").as_deref(), Some("application/json"));
        assert_eq!(req.json::<User>().unwrap(), User { user_id: 7 });

        let resp = HttpResponse::json(201, &User { user_id: 8 }).unwrap();
        assert_eq!((resp.status, resp.body_str()), (201, Some(r#"{"user_id":8}"#)));
        assert_eq!(resp.body_json::<User>().unwrap(), User { user_id: 8 });

        // A content-length already there follows the new body.
        req.set_header("content-length", "0").unwrap();
        req.set_json_body(&User { user_id: 1234 }).unwrap();
        assert_eq!(req.header("content-length").as_deref(), Some("16"));
        let lent = Response::local(200, "").with_header("content-length", "0");
        lent.set_json_body(&User { user_id: 12 }).unwrap();
        assert_eq!(
            (lent.header("content-length").as_deref(), lent.json::<User>().unwrap()),
            (Some("14"), User { user_id: 12 })
        );
    }

    #[test]
    fn malformed_body_is_json_error() {
        let err = Request::local("POST", "/").with_body("{").json::<User>().unwrap_err();
        assert_eq!(err.code, "json");
    }
}
