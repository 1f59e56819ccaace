//! How many bytes a hook result carries, for the `max-output` limit.
//!
//! Each header counts its name and value plus [`HEADER_OVERHEAD`] bytes,
//! so a result cannot make the host build an unbounded number of entries
//! out of empty headers.

use crate::types::{ConnectAction, HealthStatus, HttpResponse, RequestAction, ResponseAction};

/// Bytes a value returned by a plugin occupies (strings, bytes, headers),
/// checked against its `[limits] max-output`. Implement it for the records
/// a host-defined world returns: add up the fields that carry data.
///
/// ```
/// struct Finding { message: String, tags: Vec<String>, score: f32 }
///
/// impl warden::OutputSize for Finding {
///     fn output_size(&self) -> u64 {
///         self.message.output_size() + self.tags.output_size()
///     }
/// }
/// # use warden::OutputSize;
/// let f = Finding { message: "cycle".into(), tags: vec!["a".into()], score: 0.5 };
/// assert_eq!(f.output_size(), 6);
/// ```
pub trait OutputSize {
    /// The bytes of data `self` holds.
    fn output_size(&self) -> u64;
}

/// Numbers, flags and characters count nothing: they have a fixed size.
macro_rules! fixed {
    ($($t:ty),*) => {$(
        impl OutputSize for $t {
            fn output_size(&self) -> u64 {
                0
            }
        }
    )*};
}

fixed!((), bool, char, u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);

impl OutputSize for String {
    fn output_size(&self) -> u64 {
        self.len() as u64
    }
}

impl<T: OutputSize> OutputSize for Vec<T> {
    fn output_size(&self) -> u64 {
        // An element without data (a number, an empty string) counts its
        // in-memory size, so a long list of them is not free.
        let size = |e: &T| match e.output_size() {
            0 => size_of::<T>() as u64,
            n => n,
        };
        self.iter().map(size).sum()
    }
}

impl<T: OutputSize> OutputSize for Option<T> {
    fn output_size(&self) -> u64 {
        self.as_ref().map_or(0, OutputSize::output_size)
    }
}

impl<T: OutputSize, E: OutputSize> OutputSize for Result<T, E> {
    fn output_size(&self) -> u64 {
        match self {
            Ok(v) => v.output_size(),
            Err(e) => e.output_size(),
        }
    }
}

impl<A: OutputSize, B: OutputSize> OutputSize for (A, B) {
    fn output_size(&self) -> u64 {
        self.0.output_size() + self.1.output_size()
    }
}

impl<A: OutputSize, B: OutputSize, C: OutputSize> OutputSize for (A, B, C) {
    fn output_size(&self) -> u64 {
        self.0.output_size() + self.1.output_size() + self.2.output_size()
    }
}

/// What one header costs on top of its name and value, as HTTP/2 counts a
/// header field's size (RFC 7541, section 4.1).
pub(crate) const HEADER_OVERHEAD: u64 = 32;

fn headers(h: &[(String, String)]) -> u64 {
    h.iter().map(|(k, v)| (k.len() + v.len()) as u64 + HEADER_OVERHEAD).sum()
}

impl OutputSize for HttpResponse {
    fn output_size(&self) -> u64 {
        self.body.len() as u64 + headers(&self.headers)
    }
}

impl OutputSize for RequestAction {
    fn output_size(&self) -> u64 {
        match self {
            RequestAction::Continue => 0,
            RequestAction::Respond(r) => r.output_size(),
            RequestAction::Reject(r) => r.reason.len() as u64,
        }
    }
}

impl OutputSize for ResponseAction {
    fn output_size(&self) -> u64 {
        match self {
            ResponseAction::Continue => 0,
            ResponseAction::Respond(r) => r.output_size(),
            ResponseAction::Reject(r) => r.reason.len() as u64,
        }
    }
}

impl OutputSize for ConnectAction {
    fn output_size(&self) -> u64 {
        match self {
            ConnectAction::Allow => 0,
            ConnectAction::Deny(reason) => reason.len() as u64,
        }
    }
}

impl OutputSize for HealthStatus {
    fn output_size(&self) -> u64 {
        match self {
            HealthStatus::Healthy => 0,
            HealthStatus::Degraded(s) | HealthStatus::Unhealthy(s) => s.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_count_their_data_and_empty_elements_their_size() {
        assert_eq!(vec![1u8, 2, 3].output_size(), 3);
        assert_eq!(vec![1u32, 2].output_size(), 8);
        assert_eq!(vec!["ab".to_owned(), "c".to_owned()].output_size(), 3);
        assert_eq!(vec![String::new(); 10].output_size(), 10 * size_of::<String>() as u64);
        assert_eq!((Some("abc".to_owned()), 7u64).output_size(), 3);
    }

    #[test]
    fn empty_headers_still_count() {
        let mut r = HttpResponse::new(200, "");
        r.headers = vec![(String::new(), String::new()); 1000];
        assert_eq!(r.output_size(), 32_000);
        r.headers = vec![("a".into(), "bc".into())];
        assert_eq!(r.output_size(), 35);
    }
}
