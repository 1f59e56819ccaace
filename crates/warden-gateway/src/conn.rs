//! Client connections and their bounds: how long a client may take to
//! send a request head, to send its body, to read the response, and to
//! come back on a kept-alive connection; and how many connections may be
//! open at once.
//!
//! hyper parses HTTP; this module watches the connection around it. A
//! [`Cycle`] follows each connection through its requests (waiting for
//! one, reading its head, busy with it) and is shared by the socket
//! wrapper [`Guarded`], which enforces the timeouts on reads and writes,
//! and by the request service, which marks where a request starts and
//! ends. Closing a connection frees its slot in the connection limit.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, Sleep};

use crate::server::{Body, BoxError};

/// The time limits of every connection of a listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// For a request head, from the connection's start or the first byte
    /// of a request on a kept-alive connection.
    pub header_read: Duration,
    /// For the next request on a kept-alive connection.
    pub idle: Duration,
    /// For the whole request body.
    pub body_read: Duration,
    /// For a write that the client does not read.
    pub write: Duration,
}

/// After a stop, how long an idle connection is kept for a request its
/// client may already have sent; it then closes.
const STOP_LINGER: Duration = Duration::from_millis(500);

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// No byte of the next request yet, since `since`. A new connection
    /// (`fresh`) has `header_read` for its first request head from the
    /// start; a kept-alive one waits up to `idle`.
    Waiting { since: Instant, fresh: bool },
    /// A request head is arriving; it must be complete by `since +
    /// header_read`.
    Head { since: Instant },
    /// A request is being served (its body read, the plugins run, the
    /// response sent): the body and write timeouts apply.
    Busy,
}

/// How long a read waiting for the client may wait.
enum Limit {
    /// Until then; the connection then closes quietly (nothing was sent).
    Close(Instant),
    /// Until then; the connection then fails (a request head was started).
    Fail(Instant),
}

/// One connection's progress through its requests, shared by the socket
/// wrapper and the request service.
#[derive(Debug)]
pub(crate) struct Cycle {
    timeouts: Timeouts,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    phase: Phase,
    /// When the listener stopped, if it did.
    stopped: Option<Instant>,
}

impl Cycle {
    pub(crate) fn new(timeouts: Timeouts) -> Arc<Cycle> {
        let phase = Phase::Waiting { since: Instant::now(), fresh: true };
        Arc::new(Cycle { timeouts, state: Mutex::new(State { phase, stopped: None }) })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A request head arrived whole and is being served.
    fn request_started(&self) {
        self.state().phase = Phase::Busy;
    }

    /// The response was sent (or dropped): the connection waits for the
    /// next request.
    fn response_done(&self) {
        let mut state = self.state();
        if let Phase::Busy = state.phase {
            state.phase = Phase::Waiting { since: Instant::now(), fresh: false };
        }
    }

    /// The listener stopped: a connection waiting for a request closes
    /// after a short linger instead of its idle time.
    fn stop(&self) {
        self.state().stopped.get_or_insert_with(Instant::now);
    }

    /// Bytes came from the client.
    fn bytes_arrived(&self) {
        let mut state = self.state();
        if let Phase::Waiting { since, fresh } = state.phase {
            // A new connection's first head counts from the connection's start.
            let since = if fresh { since } else { Instant::now() };
            state.phase = Phase::Head { since };
        }
    }

    /// How long a read waiting for the client may wait now, if bounded.
    fn read_limit(&self) -> Option<Limit> {
        let state = self.state();
        let t = &self.timeouts;
        match state.phase {
            Phase::Busy => None,
            Phase::Head { since } => Some(Limit::Fail(since + t.header_read)),
            Phase::Waiting { since, fresh } => {
                let own = since + if fresh { t.header_read } else { t.idle };
                let at = state.stopped.map_or(own, |stopped| own.min(stopped.max(since) + STOP_LINGER));
                Some(Limit::Close(at))
            }
        }
    }
}

/// A client socket under its connection's [`Cycle`]: a read that waits
/// past the head or idle deadline ends the connection, and so does a write
/// that stalls for the write timeout.
struct Guarded {
    io: TcpStream,
    cycle: Arc<Cycle>,
    read_timer: Option<Pin<Box<Sleep>>>,
    write_timer: Option<Pin<Box<Sleep>>>,
}

impl Guarded {
    fn new(io: TcpStream, cycle: Arc<Cycle>) -> Guarded {
        Guarded { io, cycle, read_timer: None, write_timer: None }
    }

    /// Runs one write on the socket: progress resets the write timer; a
    /// write that stays pending for the write timeout fails.
    fn write_with(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if let Poll::Ready(r) = write(Pin::new(&mut self.io), cx) {
            self.write_timer = None;
            return Poll::Ready(r);
        }
        let limit = self.cycle.timeouts.write;
        let timer = self.write_timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client read nothing for {limit:?} ([server] write-timeout)"),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Whether `at` has passed; if not, `timer` will wake the task by then.
/// The deadline moves later with every request on a kept-alive
/// connection; re-arming the timer each time costs a trip to the timer
/// wheel per request, so a timer armed earlier is kept, and moved only when
/// it fires before `at` (at most once per idle period) or `at` comes sooner.
fn expired(timer: &mut Option<Pin<Box<Sleep>>>, at: Instant, cx: &mut Context<'_>) -> bool {
    let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
    if timer.deadline() > at {
        timer.as_mut().reset(at);
    }
    while timer.as_mut().poll(cx).is_ready() {
        if Instant::now() >= at {
            return true;
        }
        timer.as_mut().reset(at);
    }
    false
}

impl AsyncRead for Guarded {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.cycle.bytes_arrived();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.cycle.read_limit() {
                None => Poll::Pending,
                // End of stream: hyper closes an idle connection quietly.
                Some(Limit::Close(at)) if expired(&mut this.read_timer, at, cx) => Poll::Ready(Ok(())),
                Some(Limit::Fail(at)) if expired(&mut this.read_timer, at, cx) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no complete request head within {:?} ([server] header-read-timeout)",
                        this.cycle.timeouts.header_read
                    ),
                ))),
                Some(_) => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().write_with(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write_with(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// What to do once a response body is done: called with `true` when it
/// was sent whole, `false` when it was dropped before.
pub(crate) type OnDone = Box<dyn FnOnce(bool) + Send>;

/// A response body that tells its connection's [`Cycle`], and `on_done`,
/// when it is done (sent whole, or dropped).
struct Tracked<B: HttpBody> {
    body: B,
    cycle: Arc<Cycle>,
    on_done: Option<OnDone>,
}

impl<B: HttpBody> Tracked<B> {
    fn new(body: B, cycle: Arc<Cycle>, on_done: Option<OnDone>) -> Tracked<B> {
        Tracked { body, cycle, on_done }
    }

    fn done(&mut self, whole: bool) {
        self.cycle.response_done();
        if let Some(on_done) = self.on_done.take() {
            on_done(whole);
        }
    }
}

impl<B: HttpBody + Unpin> HttpBody for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            this.done(true);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl<B: HttpBody> Drop for Tracked<B> {
    fn drop(&mut self) {
        // hyper stops polling a body that says it has ended, so one dropped
        // at its end was sent whole.
        let whole = self.body.is_end_stream();
        self.done(whole);
    }
}

/// A request body that must arrive whole by a deadline: past it, the next
/// read fails with [`BodyTimeout`].
pub(crate) struct Deadline<B> {
    body: B,
    at: Instant,
    /// Armed the first time the body has to be waited for.
    timer: Option<Pin<Box<Sleep>>>,
    limit: Duration,
}

impl<B> Deadline<B> {
    /// `body`, to arrive whole within `limit` from `start` (its head's arrival).
    pub(crate) fn new(body: B, start: std::time::Instant, limit: Duration) -> Deadline<B> {
        Deadline { body, at: Instant::from_std(start + limit), timer: None, limit }
    }
}

/// A request body did not arrive within `[server] body-read-timeout`.
#[derive(Debug)]
pub(crate) struct BodyTimeout(pub Duration);

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request body did not arrive within {:?} ([server] body-read-timeout)", self.0)
    }
}

impl std::error::Error for BodyTimeout {}

impl<B> HttpBody for Deadline<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(Into::into))),
            Poll::Pending if expired(&mut this.timer, this.at, cx) => {
                Poll::Ready(Some(Err(Box::new(BodyTimeout(this.limit)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Whether `e` or one of its sources is a [`BodyTimeout`].
pub(crate) fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.is::<BodyTimeout>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// Serves HTTP/1.1 on one accepted connection under `cycle`'s bounds until
/// it closes. `handle` answers each request, and may give what to call
/// once its response is sent (`true`) or dropped (`false`). When `stop`
/// turns true (or its sender goes), the cycle is told, so that the
/// connection closes once it has answered what its client sent.
pub(crate) async fn serve<H, F>(
    stream: TcpStream,
    peer: SocketAddr,
    cycle: Arc<Cycle>,
    max_headers: usize,
    mut stop: watch::Receiver<bool>,
    handle: H,
) where
    H: Fn(Request<Incoming>) -> F + Send + 'static,
    F: Future<Output = (Response<Body>, Option<OnDone>)> + Send + 'static,
{
    let io = TokioIo::new(Guarded::new(stream, cycle.clone()));
    let service_cycle = cycle.clone();
    let service = hyper::service::service_fn(move |req| {
        service_cycle.request_started();
        let (answer, cycle) = (handle(req), service_cycle.clone());
        async move {
            let (response, on_done) = answer.await;
            Ok::<_, Infallible>(response.map(|body| Tracked::new(body, cycle, on_done)))
        }
    });
    let conn = hyper::server::conn::http1::Builder::new().max_headers(max_headers).serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopped = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, client = %peer, "connection ended with an error");
                }
                return;
            }
            _ = stop.wait_for(|s| *s), if !stopped => {
                stopped = true;
                cycle.stop();
            }
        }
    }
}

/// The next connection on `listener` with a slot under `limit`, or `None`
/// once `shutdown` completes. While every slot is taken, nothing is
/// accepted: new clients wait in the listen backlog. Accept errors (out of
/// file descriptors and the like) are logged at most once a second as
/// `message` and retried after a short pause: the listener keeps serving.
pub(crate) async fn accept<F: Future<Output = ()>>(
    listener: &TcpListener,
    limit: &Arc<Semaphore>,
    mut shutdown: Pin<&mut F>,
    message: &'static str,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let mut logged: Option<Instant> = None;
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => return None,
            permit = limit.clone().acquire_owned() => permit.ok()?,
        };
        tokio::select! {
            _ = &mut shutdown => return None,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => return Some((stream, peer, permit)),
                Err(e) => {
                    if logged.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
                        tracing::warn!(error = %e, "{message}");
                        logged = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
}

/// Most connections a listener may hold given the process's open-file
/// limit: `wanted`, or, when that is more, half of the limit less a
/// reserve for everything else the gateway opens (plugins, stores, caches,
/// idle upstream connections), with a warning. Half: a proxied request
/// holds an upstream connection besides its client's.
pub(crate) fn connection_limit(wanted: usize, key: &str) -> usize {
    const RESERVE: u64 = 128;
    let Some(files) = open_file_limit() else { return wanted };
    let room = usize::try_from((files.saturating_sub(RESERVE) / 2).max(16)).unwrap_or(usize::MAX);
    if wanted <= room {
        return wanted;
    }
    tracing::warn!(
        "{key} lowered from {wanted} to {room}: the process may open only {files} files (ulimit -n); raise that limit to allow more connections"
    );
    room
}

/// The soft limit on open files (`RLIMIT_NOFILE`), where there is one.
#[cfg(unix)]
#[allow(unsafe_code, reason = "FFI: getrlimit; std has no wrapper")]
fn open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable rlimit for getrlimit to fill.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

/// Raises the soft limit on open files to the hard limit, as servers do at
/// start (the soft default, often 1024, is too low for a gateway). Returns
/// the limit now in force.
#[cfg(unix)]
#[allow(unsafe_code, reason = "FFI: getrlimit and setrlimit; std has no wrapper")]
pub fn raise_open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: `raised` is a valid rlimit; raising the soft limit up to
        // the hard one needs no privilege and fails harmlessly otherwise.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    Some(limit.rlim_cur)
}

/// Elsewhere the limit is left as it is.
#[cfg(not(unix))]
pub fn raise_open_file_limit() -> Option<u64> {
    None
}
