//! The message bus: topic patterns and the subscribers' mailboxes.
//!
//! Delivery is asynchronous: `publish` only queues the message in each
//! subscriber's bounded mailbox and returns. One worker thread per
//! subscriber takes messages in order and calls the subscriber, so a slow or
//! failing subscriber delays nobody else. A mailbox is bounded both in
//! messages and in bytes, by the host (`ManagerBuilder::message_queue` and
//! `message_queue_bytes`), never by the publisher: a full mailbox drops its
//! oldest messages and counts them
//! ([`StatsSnapshot::messages_dropped`](crate::StatsSnapshot::messages_dropped)).

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// Longest topic, in bytes.
const MAX_TOPIC: usize = 128;

/// A topic pattern from `[permissions] publish` or `subscribe`: an exact
/// topic (`orders.created`), a prefix with a trailing wildcard segment
/// (`orders.*`: every topic below `orders`, at any depth), or `*` (every
/// topic).
///
/// ```
/// let p: warden::TopicPattern = "orders.*".parse()?;
/// assert!(p.matches("orders.created") && p.matches("orders.eu.created"));
/// assert!(!p.matches("orders") && !p.matches("ordersx.created"));
/// # Ok::<(), warden::TopicError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPattern {
    /// The topic, or the prefix before `.*` (empty for `*`).
    prefix: String,
    wildcard: bool,
}

/// Why a topic or topic pattern is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a valid topic; use dot-separated segments of a-z, 0-9, '_' and '-' (e.g. \"orders.created\"), optionally ending in \".*\""
)]
pub struct TopicError(pub String);

impl TopicPattern {
    /// Whether `topic` matches.
    pub fn matches(&self, topic: &str) -> bool {
        if !self.wildcard {
            return topic == self.prefix;
        }
        self.prefix.is_empty()
            || topic.strip_prefix(&self.prefix).is_some_and(|rest| rest.starts_with('.') && rest.len() > 1)
    }
}

impl FromStr for TopicPattern {
    type Err = TopicError;

    fn from_str(s: &str) -> Result<Self, TopicError> {
        if s == "*" {
            return Ok(TopicPattern { prefix: String::new(), wildcard: true });
        }
        let (prefix, wildcard) = match s.strip_suffix(".*") {
            Some(prefix) => (prefix, true),
            None => (s, false),
        };
        if !valid_topic(prefix) {
            return Err(TopicError(s.to_owned()));
        }
        Ok(TopicPattern { prefix: prefix.to_owned(), wildcard })
    }
}

impl fmt::Display for TopicPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.prefix.is_empty(), self.wildcard) {
            (true, _) => f.write_str("*"),
            (false, true) => write!(f, "{}.*", self.prefix),
            (false, false) => f.write_str(&self.prefix),
        }
    }
}

/// Dot-separated non-empty segments of `a-z 0-9 _ -`, at most 128 bytes.
pub(crate) fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= MAX_TOPIC
        && topic.split('.').all(|seg| {
            !seg.is_empty()
                && seg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

/// One published message, shared by every mailbox it is queued in.
#[derive(Clone)]
pub(crate) struct Message {
    pub topic: Arc<str>,
    pub payload: Arc<[u8]>,
}

impl Message {
    /// Bytes the message counts for in a mailbox: topic and payload.
    pub(crate) fn size(&self) -> u64 {
        (self.topic.len() + self.payload.len()) as u64
    }
}

/// A subscriber's queue of messages, bounded in messages and in bytes.
pub(crate) struct Mailbox {
    capacity: usize,
    max_bytes: u64,
    state: Mutex<MailboxState>,
    ready: Condvar,
}

#[derive(Default)]
struct MailboxState {
    messages: VecDeque<Message>,
    /// Sum of the queued messages' sizes.
    bytes: u64,
    closed: bool,
}

impl Mailbox {
    pub(crate) fn new(capacity: usize, max_bytes: u64) -> Mailbox {
        Mailbox { capacity: capacity.max(1), max_bytes, state: Mutex::default(), ready: Condvar::new() }
    }

    /// Queues `message`, first dropping the oldest messages until it fits
    /// both bounds; returns how many messages were lost for it (the
    /// message itself counts when it is bigger than the whole mailbox or the
    /// mailbox is closed).
    pub(crate) fn push(&self, message: Message) -> u64 {
        let size = message.size();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.closed || size > self.max_bytes {
            return 1;
        }
        let mut dropped = 0;
        while state.messages.len() >= self.capacity || state.bytes + size > self.max_bytes {
            let Some(oldest) = state.messages.pop_front() else { break };
            state.bytes -= oldest.size();
            dropped += 1;
        }
        state.bytes += size;
        state.messages.push_back(message);
        drop(state);
        self.ready.notify_one();
        dropped
    }

    /// Waits for the next message; `None` once closed.
    pub(crate) fn pop(&self) -> Option<Message> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if state.closed {
                return None;
            }
            if let Some(message) = state.messages.pop_front() {
                state.bytes -= message.size();
                return Some(message);
            }
            state = self.ready.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Messages and bytes waiting now.
    pub(crate) fn queued(&self) -> (usize, u64) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (state.messages.len(), state.bytes)
    }

    /// Stops the mailbox; returns how many queued messages are lost.
    pub(crate) fn close(&self) -> u64 {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.closed = true;
        let lost = state.messages.len() as u64;
        state.messages.clear();
        state.bytes = 0;
        drop(state);
        self.ready.notify_all();
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let exact: TopicPattern = "orders.created".parse().unwrap();
        assert!(exact.matches("orders.created") && !exact.matches("orders.created.eu"));
        let all: TopicPattern = "*".parse().unwrap();
        assert!(all.matches("x") && all.to_string() == "*");
        let sub: TopicPattern = "orders.*".parse().unwrap();
        assert_eq!(sub.to_string(), "orders.*");
        assert!(!sub.matches("orders.") && !sub.matches("orders"));
        for bad in ["", "Orders", "a..b", ".a", "a.", "a.*.b", "a b", "*.a", &"x".repeat(129)] {
            assert!(bad.parse::<TopicPattern>().is_err(), "{bad:?}");
        }
    }

    fn msg(topic: &str, payload: usize) -> Message {
        Message { topic: topic.into(), payload: vec![0u8; payload].into() }
    }

    #[test]
    fn mailbox_drops_oldest_when_full_and_stops_when_closed() {
        let m = Mailbox::new(2, 1 << 20);
        assert_eq!(m.push(msg("a", 0)) + m.push(msg("b", 0)), 0);
        assert_eq!(m.push(msg("c", 0)), 1);
        assert_eq!(&*m.pop().unwrap().topic, "b");
        assert_eq!(m.close(), 1);
        assert!(m.pop().is_none());
        assert_eq!(m.push(msg("d", 0)), 1);
    }

    #[test]
    fn mailbox_bytes_are_bounded() {
        let m = Mailbox::new(1000, 100);
        // 1 + 39 bytes each: two fit, the third pushes the oldest out.
        assert_eq!(m.push(msg("a", 39)) + m.push(msg("b", 39)), 0);
        assert_eq!(m.queued(), (2, 80));
        assert_eq!(m.push(msg("c", 39)), 1);
        assert_eq!(m.queued(), (2, 80));
        // A big one pushes out both; one bigger than the box never fits.
        assert_eq!(m.push(msg("d", 99)), 2);
        assert_eq!(m.queued(), (1, 100));
        assert_eq!(m.push(msg("e", 100)), 1);
        assert_eq!(m.queued(), (1, 100));
        assert_eq!(&*m.pop().unwrap().topic, "d");
        assert_eq!(m.queued(), (0, 0));
    }

    proptest::proptest! {
        /// Topics and patterns from plugins and manifests: parsed or
        /// refused, and a pattern always matches the topic it was made from.
        #[test]
        fn fuzz_topics(topic in warden_fixtures::fuzz::text()) {
            if let Ok(pattern) = topic.parse::<TopicPattern>() {
                proptest::prop_assert_eq!(pattern.to_string(), topic.clone());
                if valid_topic(&topic) {
                    proptest::prop_assert!(pattern.matches(&topic));
                }
            }
        }
    }
}
