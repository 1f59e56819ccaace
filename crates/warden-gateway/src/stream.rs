//! Bodies that stay on the wire until a plugin asks for them: a request or
//! upstream response body handed to plugins as a [`warden::Body`] stream.
//! If no plugin reads it, the gateway takes it back and forwards it as it
//! arrives, with bounded memory; if one does, it is read once (up to the
//! limit) and every later plugin and the upstream get those bytes.

use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;
use http::header::{CONTENT_LENGTH, HeaderValue, TRANSFER_ENCODING};
use warden::{BodyError, BodySource};

use crate::server::{Body, full_body, read_capped};

/// A body still on the wire, readable from a plugin's (blocking) thread.
pub(crate) struct Wire {
    body: Option<Body>,
    runtime: tokio::runtime::Handle,
}

impl Wire {
    /// A [`warden::Body`] that streams `body` unless a plugin reads it (at
    /// most `limit` bytes then, waiting on `runtime`); `length` from the
    /// message's `content-length`.
    pub(crate) fn body(body: Body, headers: &HeaderMap, limit: u64, runtime: tokio::runtime::Handle) -> warden::Body {
        let length = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        warden::Body::stream(Wire { body: Some(body), runtime }, length, limit)
    }
}

impl BodySource for Wire {
    fn read_all(&mut self, limit: u64, deadline: Instant) -> Result<Bytes, BodyError> {
        let Some(body) = self.body.take() else {
            return Err(BodyError::Failed("the body was already taken".into()));
        };
        let deadline = tokio::time::Instant::from_std(deadline);
        let read = async {
            tokio::time::timeout_at(deadline, read_capped(body, limit)).await.unwrap_or(Err(BodyError::TimedOut))
        };
        // Plugins run on blocking threads, where waiting on the runtime is allowed.
        self.runtime.block_on(read)
    }
}

/// The body to send on, with framing fields that match it: a stream no
/// plugin read goes as it came (with its declared `content-length`, as a
/// plugin may have changed the field); bytes get their length from hyper.
pub(crate) fn outgoing(body: &mut warden::Body, headers: &mut HeaderMap) -> Body {
    headers.remove(TRANSFER_ENCODING);
    let declared = body.len();
    if let Some(wire) = body.take_stream::<Wire>().and_then(|mut w| w.body.take()) {
        match declared {
            Some(n) => headers.insert(CONTENT_LENGTH, HeaderValue::from(n)),
            None => headers.remove(CONTENT_LENGTH),
        };
        return wire;
    }
    headers.remove(CONTENT_LENGTH);
    full_body(body.bytes().cloned().unwrap_or_default())
}
