//! Per-call capture of a plugin's stderr.
//!
//! A Rust guest prints its panic message only to stderr, so the host keeps
//! what a call wrote there and puts it into the call's error. The buffer is
//! bounded and never refuses a write: a guest that prints a lot loses the
//! excess, it never fails (Rust's `eprintln!` would panic on a failed write).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes kept per call; the rest is counted and dropped.
const CAPACITY: usize = 16 << 10;

#[derive(Default)]
struct Buffer {
    data: Vec<u8>,
    dropped: usize,
}

impl Buffer {
    fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.data).into_owned();
        if self.dropped > 0 {
            text.push_str(&format!("\n[{} more bytes dropped]", self.dropped));
        }
        text
    }
}

/// A shared, bounded stderr buffer. Clones share the buffer.
#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<Shared>);

#[derive(Default)]
struct Shared {
    /// Whether anything was written since the last `take`: most calls
    /// write nothing, and `take` after each of them costs no lock.
    written: AtomicBool,
    buffer: Mutex<Buffer>,
}

impl Capture {
    fn push(&self, bytes: &[u8]) {
        let mut buf = self.0.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        self.0.written.store(true, Ordering::Release);
        let room = CAPACITY.saturating_sub(buf.data.len());
        let take = room.min(bytes.len());
        buf.data.extend_from_slice(&bytes[..take]);
        buf.dropped += bytes.len() - take;
    }

    /// Empties the buffer and returns what it held, as text.
    pub(crate) fn take(&self) -> String {
        if !self.0.written.swap(false, Ordering::Acquire) {
            return String::new();
        }
        let mut buf = self.0.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let text = buf.text();
        buf.data.clear();
        buf.dropped = 0;
        text
    }

    /// What the buffer holds, as text, leaving it there for [`take`](Self::take).
    pub(crate) fn peek(&self) -> String {
        if !self.0.written.load(Ordering::Acquire) {
            return String::new();
        }
        self.0.buffer.lock().unwrap_or_else(PoisonError::into_inner).text()
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(CAPACITY)
    }
}

#[async_trait::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Capture {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_bounded_prefix_and_never_fails() {
        let mut c = Capture::default();
        c.write(Bytes::from_static(b"panicked at src/lib.rs: boom\n")).unwrap();
        assert_eq!(c.peek(), "panicked at src/lib.rs: boom\n");
        assert_eq!(c.take(), "panicked at src/lib.rs: boom\n");
        assert_eq!(c.take(), "");
        for _ in 0..100 {
            c.write(Bytes::from(vec![b'x'; 1024])).unwrap();
        }
        let text = c.take();
        assert!(text.starts_with(&"x".repeat(CAPACITY)));
        assert!(text.ends_with(&format!("[{} more bytes dropped]", 100 * 1024 - CAPACITY)));
    }
}
