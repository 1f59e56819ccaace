//! Why a body is not an acceptable JSON object, and where.

use std::fmt;

/// What [`fields`](super::fields) or [`value`](super::value) refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonErrorKind {
    /// [`fields`](super::fields) only: the input is empty or its first byte
    /// after whitespace is not `{` (another JSON value, or not JSON at all).
    NotAnObject,
    /// Not JSON: a malformed token, a bad string, trailing bytes, ...
    Syntax,
    /// Objects and arrays nest deeper than the `max_depth` given.
    TooDeep,
}

/// A refused input: what is wrong and where (the first problem found).
///
/// Line and column are 1-based and count bytes, the way serde_json reports
/// them: the column is that of the offending byte, or of the last byte when
/// the input ends too early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError {
    kind: JsonErrorKind,
    line: usize,
    column: usize,
}

impl JsonError {
    /// The error for a problem at byte `index` of `input` (`input.len()` if
    /// the input ended too early).
    pub(super) fn at(kind: JsonErrorKind, input: &[u8], index: usize) -> JsonError {
        // Like serde_json: the position just after the offending byte.
        let end = (index + 1).min(input.len());
        let line_start = input[..end].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let line = 1 + input[..line_start].iter().filter(|&&b| b == b'\n').count();
        JsonError { kind, line, column: end - line_start }
    }

    /// What is wrong.
    pub fn kind(&self) -> JsonErrorKind {
        self.kind
    }

    /// The line of the problem, from 1.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The column (in bytes) of the problem, from 1.
    pub fn column(&self) -> usize {
        self.column
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            JsonErrorKind::NotAnObject => "expected a JSON object",
            JsonErrorKind::Syntax => "invalid JSON",
            JsonErrorKind::TooDeep => "JSON nested too deeply",
        };
        write!(f, "{what} at line {} column {}", self.line, self.column)
    }
}

impl std::error::Error for JsonError {}
