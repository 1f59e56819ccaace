//! Where a byte offset falls in a text, as people count, and how an error
//! says so: for error messages that point into `plugin.toml` and the
//! gateway configuration.
//!
//! ```
//! let text = "[limits]\nmemory = \"lots\"\n";
//! let offset = text.find("\"lots\"").unwrap();
//! assert_eq!(warden::text_position(text, offset), (2, 10));
//! ```

use std::fmt;
use std::path::Path;

/// The 1-based line and column of byte `offset` in `text`. Columns count
/// characters, not bytes; an offset inside a character counts as that
/// character, one past the end as the end.
pub fn text_position(text: &str, offset: usize) -> (usize, usize) {
    let mut start = offset.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}

/// Writes `file:line:column: key: message`, leaving out what is unknown
/// (a column only follows a line): the `Display` of
/// [`ManifestError`](crate::ManifestError) and of other errors that point
/// into a configuration file.
pub fn write_location(
    f: &mut fmt::Formatter<'_>,
    file: &Path,
    line: Option<usize>,
    column: Option<usize>,
    key: Option<&str>,
    message: &str,
) -> fmt::Result {
    write!(f, "{}", file.display())?;
    if let Some(line) = line {
        write!(f, ":{line}")?;
        if let Some(column) = column {
            write!(f, ":{column}")?;
        }
    }
    if let Some(key) = key {
        write!(f, ": {key}")?;
    }
    write!(f, ": {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_character_columns() {
        assert_eq!(text_position("", 0), (1, 1));
        assert_eq!(text_position("ab\ncd", 4), (2, 2));
        assert_eq!(text_position("é = x", 3), (1, 3), "é is one column, so `=` is the third");
        assert_eq!(text_position("é", 1), (1, 1), "inside a character");
        assert_eq!(text_position("a\n", 99), (2, 1), "past the end");
    }
}
