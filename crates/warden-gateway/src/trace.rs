//! W3C Trace Context: a request's `traceparent` is accepted when valid or
//! created, the gateway takes a span of its own, and that span is the
//! parent the upstream sees.

use std::cell::Cell;
use std::hash::BuildHasher;

/// The trace context of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

impl TraceContext {
    /// Continues the trace of an incoming `traceparent` header (a new span
    /// in the same trace), or starts a new sampled trace if there is none or
    /// it is malformed.
    pub fn from_header(header: Option<&str>) -> TraceContext {
        let span_id = random_nonzero::<8>();
        match header.and_then(parse) {
            Some((trace_id, flags)) => TraceContext { trace_id, span_id, flags },
            None => TraceContext { trace_id: random_nonzero::<16>(), span_id, flags: 1 },
        }
    }

    /// The `traceparent` naming this gateway's span, for plugins and the upstream.
    pub fn traceparent(&self) -> String {
        let mut s = String::with_capacity(55);
        s.push_str("00-");
        hex(&mut s, &self.trace_id);
        s.push('-');
        hex(&mut s, &self.span_id);
        s.push('-');
        hex(&mut s, &[self.flags]);
        s
    }

    /// The trace id as 32 hex digits.
    pub fn trace_id(&self) -> String {
        let mut s = String::with_capacity(32);
        hex(&mut s, &self.trace_id);
        s
    }
}

/// Appends `bytes` as lowercase hex (on every request: no formatting machinery).
fn hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
}

/// Trace id and flags of a valid version-00 (or later-version, read as 00)
/// `traceparent`; ids of all zeros are invalid.
fn parse(header: &str) -> Option<([u8; 16], u8)> {
    let h = header.trim();
    let parts: Vec<&str> = h.split('-').collect();
    if parts.len() < 4 {
        return None;
    }
    let (version, trace, parent, flags) = (parts[0], parts[1], parts[2], parts[3]);
    let version = u8::from_str_radix(version, 16).ok().filter(|_| version.len() == 2)?;
    if version == 0xff || (version == 0 && parts.len() != 4) {
        return None;
    }
    let trace_id: [u8; 16] = decode(trace)?;
    let parent: [u8; 8] = decode(parent)?;
    let flags: [u8; 1] = decode(flags)?;
    if trace_id == [0; 16] || parent == [0; 8] {
        return None;
    }
    Some((trace_id, flags[0]))
}

/// Lowercase hex of exactly `N` bytes.
fn decode<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != N * 2 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

/// Random ids without a system call per request: a SplitMix64 sequence per
/// thread, seeded once from the OS. Ids need to be unique, not secret.
fn random_nonzero<const N: usize>() -> [u8; N] {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    let mut bytes = [0u8; N];
    STATE.with(|state| {
        for chunk in bytes.chunks_mut(8) {
            let next = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            state.set(next);
            let mut z = next;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    });
    if bytes == [0; N] {
        bytes[N - 1] = 1;
    }
    bytes
}

/// A per-thread seed: std's hasher keys come from the OS once per thread.
fn seed() -> u64 {
    std::hash::RandomState::new().hash_one(std::thread::current().id())
}

/// A request id: the client's `x-request-id` when it is short and printable,
/// else a new random one.
pub(crate) fn request_id(client: Option<&str>) -> String {
    if let Some(id) = client.filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()))
    {
        return id.to_owned();
    }
    let mut s = String::with_capacity(24);
    hex(&mut s, &random_nonzero::<12>());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn continues_a_valid_trace_with_a_new_span() {
        let t = TraceContext::from_header(Some(TP));
        assert_eq!(t.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let tp = t.traceparent();
        assert!(tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{tp}");
        assert!(tp.ends_with("-01"));
        assert_ne!(&tp[36..52], "00f067aa0ba902b7", "the gateway's own span");
        assert_eq!(parse(&tp).map(|(_, f)| f), Some(1));
    }

    #[test]
    fn starts_a_new_trace_for_bad_headers() {
        for bad in [
            None,
            Some(""),
            Some("garbage"),
            Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"),
            Some("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            Some("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"),
        ] {
            let t = TraceContext::from_header(bad);
            assert_ne!(t.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736", "{bad:?}");
            assert!(parse(&t.traceparent()).is_some(), "{bad:?} gives a valid new traceparent");
        }
        // A future version with extra fields is read as version 00.
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-ever";
        assert_eq!(TraceContext::from_header(Some(future)).trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn request_ids() {
        assert_eq!(request_id(Some("abc-1")), "abc-1");
        assert_eq!(request_id(None).len(), 24);
        assert_ne!(request_id(Some("has space")), "has space");
        assert_ne!(request_id(None), request_id(None));
    }

    #[test]
    fn ids_differ_across_calls_and_threads() {
        let here: Vec<[u8; 16]> = (0..1000).map(|_| random_nonzero::<16>()).collect();
        let there: Vec<[u8; 16]> =
            std::thread::spawn(|| (0..1000).map(|_| random_nonzero::<16>()).collect()).join().unwrap();
        let all: std::collections::HashSet<_> = here.iter().chain(&there).collect();
        assert_eq!(all.len(), 2000);
        assert!(all.iter().all(|id| **id != [0; 16]));
    }
}
