//! The request, response and call context lent to one hook call, and the
//! host side of their `warden:plugin/types` resources.
//!
//! A call moves its messages into the store ([`Lent`]), passes borrowed
//! handles whose representation names the call (`seq`) and the kind, and
//! takes the messages back afterwards. A handle from another call never
//! matches: using it traps. The first change of a call saves what it
//! replaces, so that a call that fails leaves the messages as they were.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Uri};
use wasmtime::component::Resource;

use crate::bindings::types::{self, ConnectionInfo, PluginError};
use crate::host::HostState;
use crate::message::{Body, BodyError, CallContext, Request, Response};
use crate::output::HEADER_OVERHEAD;

/// Marker type of `call-context` handles.
pub struct ContextHandle;
/// Marker type of `request` handles.
pub struct RequestHandle;
/// Marker type of `response` handles.
pub struct ResponseHandle;

const CONTEXT: u32 = 0;
const REQUEST: u32 = 1;
const RESPONSE: u32 = 2;

/// How a hook may use a lent message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Read and change.
    Write,
    /// Read; a change needs the permission named.
    Denied(&'static str),
    /// Read only: this hook cannot change it.
    ReadOnly,
}

/// Where a call's request or response lives while it is lent. The slots
/// stay in the store; only the message moves in and out, so a call copies
/// a few hundred bytes, not the slot.
pub(crate) struct Slot<T: Message> {
    msg: Lend<T>,
    access: Access,
    /// What the call's changes replaced, kept to undo them if the call fails.
    saved: Option<Box<Saved<T>>>,
}

enum Lend<T> {
    None,
    Owned(T),
    Shared(Arc<T>),
}

struct Saved<T: Message> {
    /// The head before the call's first change to it.
    head: Option<T::Head>,
    /// The body before the call's first `set-body`.
    body: Option<Body>,
    /// The `content-length` field before a `set-body` changed it, when the
    /// head was not saved (a body-only change saves just that field).
    content_length: Option<HeaderValue>,
}

impl<T: Message> Default for Slot<T> {
    fn default() -> Self {
        Slot { msg: Lend::None, access: Access::ReadOnly, saved: None }
    }
}

impl<T: Message> Slot<T> {
    /// Lends `msg` to the call.
    pub(crate) fn lend(&mut self, msg: T, access: Access) {
        self.msg = Lend::Owned(msg);
        self.access = access;
    }

    /// Lends a shared message, read-only.
    pub(crate) fn lend_shared(&mut self, msg: Arc<T>) {
        self.msg = Lend::Shared(msg);
        self.access = Access::ReadOnly;
    }

    fn is_lent(&self) -> bool {
        !matches!(self.msg, Lend::None)
    }

    fn get(&self) -> Option<&T> {
        match &self.msg {
            Lend::None => None,
            Lend::Owned(m) => Some(m),
            Lend::Shared(m) => Some(m),
        }
    }

    /// Ends the loan: the owned message back, as the call left it if
    /// `keep`, else as it was before (a body that was read stays read).
    pub(crate) fn take_back(&mut self, keep: bool) -> Option<T> {
        let saved = self.saved.take();
        let Lend::Owned(mut msg) = std::mem::replace(&mut self.msg, Lend::None) else { return None };
        if let Some(saved) = saved.filter(|_| !keep) {
            let Saved { head, body, content_length } = *saved;
            if let Some(head) = head {
                msg.restore(head);
            }
            // Saved only by a `set-body` before the head was saved: the head
            // then holds the new length, this field the old one.
            if let Some(length) = content_length {
                msg.headers_mut().insert(CONTENT_LENGTH, length);
            }
            if let Some(body) = body {
                *msg.body_mut() = body;
            }
        }
        Some(msg)
    }

    /// Ends a loan whose message is not taken back (shared, or dropped).
    fn clear(&mut self) {
        self.msg = Lend::None;
        self.saved = None;
    }
}

/// What the handles need of a request or response.
pub(crate) trait Message: Send + Sync + 'static {
    /// What a change can alter besides the body.
    type Head: Send;
    fn head(&self) -> Self::Head;
    fn restore(&mut self, head: Self::Head);
    fn headers(&self) -> &HeaderMap;
    fn headers_mut(&mut self) -> &mut HeaderMap;
    fn body(&self) -> &Body;
    fn body_mut(&mut self) -> &mut Body;
    /// The permission that changes it in its own hook.
    const NAME: &'static str;
}

impl Message for Request {
    type Head = (Method, Uri, HeaderMap);
    const NAME: &'static str = "request";
    fn head(&self) -> Self::Head {
        (self.method.clone(), self.uri.clone(), self.headers.clone())
    }
    fn restore(&mut self, (method, uri, headers): Self::Head) {
        (self.method, self.uri, self.headers) = (method, uri, headers);
    }
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }
    fn body(&self) -> &Body {
        &self.body
    }
    fn body_mut(&mut self) -> &mut Body {
        &mut self.body
    }
}

impl Message for Response {
    type Head = (StatusCode, HeaderMap);
    const NAME: &'static str = "response";
    fn head(&self) -> Self::Head {
        (self.status, self.headers.clone())
    }
    fn restore(&mut self, (status, headers): Self::Head) {
        (self.status, self.headers) = (status, headers);
    }
    fn headers(&self) -> &HeaderMap {
        &self.headers
    }
    fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }
    fn body(&self) -> &Body {
        &self.body
    }
    fn body_mut(&mut self) -> &mut Body {
        &mut self.body
    }
}

/// What one call has been lent.
#[derive(Default)]
pub(crate) struct Lent {
    /// Names the call in handle representations; changes every call.
    seq: u32,
    pub ctx: Option<CallContext>,
    pub request: Slot<Request>,
    pub response: Slot<Response>,
    /// Bytes the call's changes added, counted against `max-output`.
    pub output: u64,
    /// The first change refused for want of a permission: what was tried
    /// and the permission. A hook that passes the refusal on fails with
    /// [`Error::CapabilityDenied`](crate::Error::CapabilityDenied).
    pub denied: Option<(String, &'static str)>,
}

impl Lent {
    /// Ends a call's loans: what was not taken back is released.
    pub(crate) fn end(&mut self) {
        self.ctx = None;
        self.request.clear();
        self.response.clear();
    }

    /// Starts a call: new handles, nothing lent yet.
    pub(crate) fn begin(&mut self) {
        self.seq = self.seq.wrapping_add(1) & (u32::MAX >> 2);
        self.end();
        self.output = 0;
        self.denied = None;
    }

    fn rep(&self, kind: u32) -> u32 {
        self.seq << 2 | kind
    }

    /// A handle to the call context (which must be lent).
    pub(crate) fn context_handle(&self) -> Resource<ContextHandle> {
        Resource::new_borrow(self.rep(CONTEXT))
    }

    /// A handle to the request.
    pub(crate) fn request_handle(&self) -> Resource<RequestHandle> {
        Resource::new_borrow(self.rep(REQUEST))
    }

    /// A handle to the response.
    pub(crate) fn response_handle(&self) -> Resource<ResponseHandle> {
        Resource::new_borrow(self.rep(RESPONSE))
    }

    fn check(&self, rep: u32, kind: u32, what: &str) -> wasmtime::Result<()> {
        if rep == self.rep(kind) {
            return Ok(());
        }
        Err(wasmtime::Error::msg(format!(
            "the plugin used a {what} handle outside the call it was lent to; handles are valid only during their call"
        )))
    }
}

fn error(code: &str, message: impl Into<String>) -> PluginError {
    PluginError { code: code.to_owned(), message: message.into() }
}

fn text(value: &HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

fn header_name(name: &str) -> Result<HeaderName, PluginError> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| error("invalid-header", format!("invalid header name {name:?}")))
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, PluginError> {
    HeaderValue::from_str(value).map_err(|_| error("invalid-header", format!("invalid value for header {name:?}")))
}

/// The three kinds of change to headers.
enum HeaderChange {
    Set(String),
    Append(String),
    Remove,
}

impl HostState {
    fn context(&self, handle: &Resource<ContextHandle>) -> wasmtime::Result<&CallContext> {
        self.lent.check(handle.rep(), CONTEXT, "call-context")?;
        self.lent.ctx.as_ref().ok_or_else(|| wasmtime::Error::msg("no call context was lent to this call"))
    }

    fn slot<T: Message>(&mut self, rep: u32) -> wasmtime::Result<&mut Slot<T>>
    where
        Lent: Lends<T>,
    {
        let kind = <Lent as Lends<T>>::KIND;
        self.lent.check(rep, kind, T::NAME)?;
        let slot = <Lent as Lends<T>>::slot(&mut self.lent);
        if !slot.is_lent() {
            return Err(wasmtime::Error::msg(format!("no {} was lent to this call", T::NAME)));
        }
        Ok(slot)
    }

    fn message<T: Message>(&mut self, rep: u32) -> wasmtime::Result<&T>
    where
        Lent: Lends<T>,
    {
        Ok(self.slot::<T>(rep)?.get().expect("a lent slot holds its message"))
    }

    /// The message to change, after the checks every change makes: the
    /// hook may change it (else `read-only`, or `capability-denied`,
    /// audited), and the change keeps the call within `max-output`.
    fn change<T: Message>(
        &mut self,
        rep: u32,
        import: &str,
        adds: u64,
        body_only: bool,
    ) -> wasmtime::Result<Result<&mut T, PluginError>>
    where
        Lent: Lends<T>,
    {
        let access = self.slot::<T>(rep)?.access;
        match access {
            Access::Write => {}
            Access::ReadOnly => {
                let msg = format!("the {} cannot be changed in this hook", T::NAME);
                return Ok(Err(error("read-only", msg)));
            }
            Access::Denied(permission) => {
                let tried = format!("change the {} ({import})", T::NAME);
                self.lent.denied.get_or_insert((tried, permission));
                let message = format!(
                    "plugin '{}' may not change the {} without `{permission} = true` in [permissions]",
                    self.core.shared.name,
                    T::NAME
                );
                return Ok(Err(self.core.refused(import, error("capability-denied", message))));
            }
        }
        let limit = self.core.shared.max_output_bytes;
        let output = self.lent.output.saturating_add(adds);
        if output > limit {
            let message = format!(
                "the changes of this call would come to {output} bytes, over the plugin's max-output of {limit} bytes"
            );
            return Ok(Err(self.core.refused(import, error("output-too-large", message))));
        }
        self.lent.output = output;
        let slot = self.slot::<T>(rep)?;
        let Lend::Owned(msg) = &mut slot.msg else { unreachable!("only owned messages are writable") };
        let saved = slot.saved.get_or_insert_with(|| Box::new(Saved { head: None, body: None, content_length: None }));
        if saved.head.is_none() && !body_only {
            saved.head = Some(msg.head());
        }
        Ok(Ok(msg))
    }

    fn change_header<T: Message>(
        &mut self,
        rep: u32,
        import: &str,
        name: &str,
        change: HeaderChange,
    ) -> wasmtime::Result<Result<bool, PluginError>>
    where
        Lent: Lends<T>,
    {
        let parsed = header_name(name).and_then(|n| match &change {
            HeaderChange::Set(v) | HeaderChange::Append(v) => Ok((n, Some(header_value(name, v)?))),
            HeaderChange::Remove => Ok((n, None)),
        });
        let (name, value) = match parsed {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let adds = value.as_ref().map_or(0, |v| (name.as_str().len() + v.len()) as u64 + HEADER_OVERHEAD);
        let headers = self.message::<T>(rep)?.headers();
        let grows = match &change {
            HeaderChange::Append(_) => true,
            HeaderChange::Set(_) => !headers.contains_key(&name),
            HeaderChange::Remove => false,
        };
        let (count, max) = (headers.len(), self.core.shared.max_headers);
        let msg = match self.change::<T>(rep, import, adds, false)? {
            Ok(_) if grows && count >= max => {
                // Checked after the permission, so that a plugin without
                // it learns that first; nothing was changed or counted.
                self.lent.output -= adds;
                let message = format!("the {} already has {count} header fields, the host's limit", T::NAME);
                return Ok(Err(error("too-many-headers", message)));
            }
            Ok(m) => m,
            Err(e) => return Ok(Err(e)),
        };
        let headers = msg.headers_mut();
        let result = match (change, value) {
            (HeaderChange::Set(_), Some(v)) => headers.try_insert(name, v).map(|_| true),
            (HeaderChange::Append(_), Some(v)) => headers.try_append(name, v).map(|_| true),
            _ => Ok(headers.remove(&name).is_some()),
        };
        Ok(result.map_err(|_| error("too-many-headers", "the header map is full")))
    }

    fn read_body<T: Message>(&mut self, rep: u32) -> wasmtime::Result<Result<Vec<u8>, PluginError>>
    where
        Lent: Lends<T>,
    {
        let deadline = self.core.deadline.at;
        let slot = self.slot::<T>(rep)?;
        let result = match &mut slot.msg {
            Lend::None => unreachable!("slot() checks that a message is lent"),
            Lend::Owned(m) => m.body_mut().read(deadline),
            Lend::Shared(m) => match m.body().bytes() {
                Some(b) => Ok(b.clone()),
                None => {
                    let message = format!("the {} body is not kept for this hook", T::NAME);
                    return Ok(Err(error("body-unavailable", message)));
                }
            },
        };
        if matches!(result, Err(BodyError::TimedOut)) && std::time::Instant::now() >= deadline {
            // Waiting for the sender, not the plugin's doing.
            self.core.stalled_on = Some(format!("the {} body", T::NAME));
        }
        let result = result.map(|b| b.to_vec()).map_err(|e| match e {
            BodyError::TooLarge { .. } => error("body-too-large", format!("the {} {e}", T::NAME)),
            BodyError::TimedOut => error("body-timeout", format!("the {} {e}", T::NAME)),
            _ => error("body-unavailable", format!("the {} {e}", T::NAME)),
        });
        self.core.or_deadline(result)
    }

    fn write_body<T: Message>(&mut self, rep: u32, body: Vec<u8>) -> wasmtime::Result<Result<(), PluginError>>
    where
        Lent: Lends<T>,
    {
        // Only the body, and the `content-length` field that follows it, are
        // saved: not the whole head.
        let msg = match self.change::<T>(rep, "set-body", body.len() as u64, true)? {
            Ok(m) => m,
            Err(e) => return Ok(Err(e)),
        };
        let len = body.len();
        let old = std::mem::replace(msg.body_mut(), Body::from(Bytes::from(body)));
        let old_length = match msg.headers_mut().get_mut(CONTENT_LENGTH) {
            Some(field) => Some(std::mem::replace(field, HeaderValue::from(len))),
            None => None,
        };
        if let Some(saved) = self.slot::<T>(rep)?.saved.as_mut() {
            saved.body.get_or_insert(old);
            if saved.head.is_none() && saved.content_length.is_none() {
                saved.content_length = old_length;
            }
        }
        Ok(Ok(()))
    }
}

/// Which slot of [`Lent`] holds a `T`.
pub(crate) trait Lends<T: Message> {
    const KIND: u32;
    fn slot(&mut self) -> &mut Slot<T>;
}

impl Lends<Request> for Lent {
    const KIND: u32 = REQUEST;
    fn slot(&mut self) -> &mut Slot<Request> {
        &mut self.request
    }
}

impl Lends<Response> for Lent {
    const KIND: u32 = RESPONSE;
    fn slot(&mut self) -> &mut Slot<Response> {
        &mut self.response
    }
}

fn first(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(text)
}

fn all(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers.get_all(name).iter().map(text).collect()
}

fn pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers.iter().map(|(k, v)| (k.as_str().to_owned(), text(v))).collect()
}

impl types::HostCallContext for HostState {
    fn request_id(&mut self, handle: Resource<ContextHandle>) -> wasmtime::Result<String> {
        Ok(self.context(&handle)?.request_id().to_owned())
    }

    fn traceparent(&mut self, handle: Resource<ContextHandle>) -> wasmtime::Result<Option<String>> {
        Ok(self.context(&handle)?.traceparent().map(str::to_owned))
    }

    fn route(&mut self, handle: Resource<ContextHandle>) -> wasmtime::Result<Option<String>> {
        Ok(self.context(&handle)?.route().map(str::to_owned))
    }

    fn connection(&mut self, handle: Resource<ContextHandle>) -> wasmtime::Result<Option<ConnectionInfo>> {
        Ok(self.context(&handle)?.connection().cloned())
    }

    fn drop(&mut self, _handle: Resource<ContextHandle>) -> wasmtime::Result<()> {
        // Only borrowed handles exist; the host owns the context.
        Ok(())
    }
}

/// The methods `request` and `response` share, for `$msg` lent through
/// `$handle`.
macro_rules! message_methods {
    ($msg:ty, $handle:ty) => {
        fn header(&mut self, h: Resource<$handle>, name: String) -> wasmtime::Result<Option<String>> {
            Ok(first(&self.message::<$msg>(h.rep())?.headers, &name))
        }

        fn header_values(&mut self, h: Resource<$handle>, name: String) -> wasmtime::Result<Vec<String>> {
            Ok(all(&self.message::<$msg>(h.rep())?.headers, &name))
        }

        fn headers(&mut self, h: Resource<$handle>) -> wasmtime::Result<Vec<(String, String)>> {
            Ok(pairs(&self.message::<$msg>(h.rep())?.headers))
        }

        fn body_length(&mut self, h: Resource<$handle>) -> wasmtime::Result<Option<u64>> {
            Ok(self.message::<$msg>(h.rep())?.body.len())
        }

        fn body(&mut self, h: Resource<$handle>) -> wasmtime::Result<Result<Vec<u8>, PluginError>> {
            self.read_body::<$msg>(h.rep())
        }

        fn set_header(
            &mut self,
            h: Resource<$handle>,
            name: String,
            value: String,
        ) -> wasmtime::Result<Result<(), PluginError>> {
            Ok(self.change_header::<$msg>(h.rep(), "set-header", &name, HeaderChange::Set(value))?.map(drop))
        }

        fn append_header(
            &mut self,
            h: Resource<$handle>,
            name: String,
            value: String,
        ) -> wasmtime::Result<Result<(), PluginError>> {
            Ok(self.change_header::<$msg>(h.rep(), "append-header", &name, HeaderChange::Append(value))?.map(drop))
        }

        fn remove_header(&mut self, h: Resource<$handle>, name: String) -> wasmtime::Result<Result<bool, PluginError>> {
            self.change_header::<$msg>(h.rep(), "remove-header", &name, HeaderChange::Remove)
        }

        fn set_body(&mut self, h: Resource<$handle>, body: Vec<u8>) -> wasmtime::Result<Result<(), PluginError>> {
            self.write_body::<$msg>(h.rep(), body)
        }

        fn drop(&mut self, _handle: Resource<$handle>) -> wasmtime::Result<()> {
            // Only borrowed handles exist; the host owns the message.
            Ok(())
        }
    };
}

impl types::HostRequest for HostState {
    fn method(&mut self, h: Resource<RequestHandle>) -> wasmtime::Result<String> {
        Ok(self.message::<Request>(h.rep())?.method.as_str().to_owned())
    }

    fn uri(&mut self, h: Resource<RequestHandle>) -> wasmtime::Result<String> {
        let uri = &self.message::<Request>(h.rep())?.uri;
        Ok(uri.path_and_query().map_or_else(|| uri.to_string(), |pq| pq.as_str().to_owned()))
    }

    fn path(&mut self, h: Resource<RequestHandle>) -> wasmtime::Result<String> {
        Ok(self.message::<Request>(h.rep())?.uri.path().to_owned())
    }

    fn query(&mut self, h: Resource<RequestHandle>) -> wasmtime::Result<Option<String>> {
        Ok(self.message::<Request>(h.rep())?.uri.query().map(str::to_owned))
    }

    message_methods!(Request, RequestHandle);

    fn set_method(&mut self, h: Resource<RequestHandle>, method: String) -> wasmtime::Result<Result<(), PluginError>> {
        let Ok(parsed) = Method::from_bytes(method.as_bytes()) else {
            return Ok(Err(error("invalid-request", format!("invalid method {method:?}"))));
        };
        Ok(self.change::<Request>(h.rep(), "set-method", method.len() as u64, false)?.map(|r| r.method = parsed))
    }

    fn set_uri(&mut self, h: Resource<RequestHandle>, uri: String) -> wasmtime::Result<Result<(), PluginError>> {
        let parsed = match uri.parse::<Uri>() {
            Ok(u) if u.scheme().is_none() && uri.starts_with('/') => u,
            _ => {
                let message = format!("invalid request target {uri:?}: write a path starting with '/'");
                return Ok(Err(error("invalid-request", message)));
            }
        };
        Ok(self.change::<Request>(h.rep(), "set-uri", uri.len() as u64, false)?.map(|r| r.uri = parsed))
    }
}

impl types::HostResponse for HostState {
    fn status(&mut self, h: Resource<ResponseHandle>) -> wasmtime::Result<u16> {
        Ok(self.message::<Response>(h.rep())?.status.as_u16())
    }

    message_methods!(Response, ResponseHandle);

    fn set_status(&mut self, h: Resource<ResponseHandle>, status: u16) -> wasmtime::Result<Result<(), PluginError>> {
        let Some(parsed) = StatusCode::from_u16(status).ok().filter(|s| (200..=599).contains(&s.as_u16())) else {
            return Ok(Err(error("invalid-response", format!("invalid status {status}: use 200-599"))));
        };
        Ok(self.change::<Response>(h.rep(), "set-status", 0, false)?.map(|r| r.status = parsed))
    }
}
