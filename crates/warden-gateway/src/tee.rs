//! A response body that keeps a copy of what it streams (up to a cap) and
//! hands the copy over once the body has been sent: how `on-capture` sees
//! responses without delaying them.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};

use crate::server::{Body, BoxError};

/// Called once with the copied bytes and whether the copy is incomplete
/// (body over the cap, failed, or dropped before its end).
pub(crate) type OnDone = Box<dyn FnOnce(Vec<u8>, bool) + Send + Sync>;

pub(crate) struct Tee {
    inner: Body,
    copy: Vec<u8>,
    cap: usize,
    truncated: bool,
    done: Option<OnDone>,
}

impl Tee {
    pub(crate) fn new(inner: Body, cap: usize, done: OnDone) -> Tee {
        Tee { inner, copy: Vec::new(), cap, truncated: false, done: Some(done) }
    }

    fn finish(&mut self, complete: bool) {
        if let Some(done) = self.done.take() {
            done(std::mem::take(&mut self.copy), self.truncated || !complete);
        }
    }
}

impl http_body::Body for Tee {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    if this.copy.len() + data.len() <= this.cap {
                        this.copy.extend_from_slice(data);
                    } else {
                        this.truncated = true;
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                this.finish(false);
                Poll::Ready(Some(Err(e)))
            }
            None => {
                this.finish(true);
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tee {
    fn drop(&mut self) {
        // A body hyper knew was empty is never polled: that is a complete send.
        let complete = self.inner.is_end_stream();
        self.finish(complete);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use std::sync::{Arc, Mutex};

    fn body(bytes: &'static [u8]) -> Body {
        Full::new(Bytes::from_static(bytes)).map_err(|never| match never {}).boxed()
    }

    type Seen = Arc<Mutex<Option<(Vec<u8>, bool)>>>;

    fn tee(inner: Body, cap: usize) -> (Tee, Seen) {
        let seen: Seen = Arc::default();
        let s = seen.clone();
        (Tee::new(inner, cap, Box::new(move |bytes, truncated| *s.lock().unwrap() = Some((bytes, truncated)))), seen)
    }

    #[tokio::test]
    async fn copies_and_reports_at_the_end() {
        let (t, seen) = tee(body(b"hello"), 100);
        let out = t.collect().await.unwrap().to_bytes();
        assert_eq!(&out[..], b"hello");
        assert_eq!(seen.lock().unwrap().clone(), Some((b"hello".to_vec(), false)));
    }

    #[tokio::test]
    async fn over_the_cap_is_marked_truncated_but_still_sent() {
        let (t, seen) = tee(body(b"hello"), 3);
        let out = t.collect().await.unwrap().to_bytes();
        assert_eq!(&out[..], b"hello");
        assert_eq!(seen.lock().unwrap().clone(), Some((Vec::new(), true)));
    }

    #[test]
    fn dropped_early_reports_incomplete() {
        let (t, seen) = tee(body(b"hello"), 100);
        drop(t);
        assert_eq!(seen.lock().unwrap().clone().map(|(_, t)| t), Some(true));
    }
}
