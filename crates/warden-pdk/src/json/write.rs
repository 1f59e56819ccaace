//! Writing a JSON object back: raw fields copied byte for byte, new names escaped.

/// Builds a JSON object `{"name":value,...}` field by field.
///
/// Fields from [`fields`](super::fields) go back with [`raw_field`](Self::raw_field),
/// which copies the name and value as they were written, so nothing is
/// escaped twice and nested values keep their exact bytes. A new name (from
/// config, say) goes through [`field`](Self::field), which escapes it.
///
/// ```
/// use warden_pdk::json::{self, ObjectWriter};
///
/// let body = br#"{"a\u0021": {"x" : [1, 2]}, "password": "pw"}"#;
/// let mut out = ObjectWriter::with_capacity(body.len());
/// for field in json::fields(body, 32)?.iter().filter(|f| f.name != "password") {
///     out.raw_field(field.raw_name, field.value);
/// }
/// out.field("say \"hi\"", "true");
/// assert_eq!(out.finish(), br#"{"a\u0021":{"x" : [1, 2]},"say \"hi\"":true}"#);
/// # Ok::<(), json::JsonError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ObjectWriter {
    out: Vec<u8>,
}

impl ObjectWriter {
    /// An empty object, with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> ObjectWriter {
        let mut out = Vec::with_capacity(capacity.max(2));
        out.push(b'{');
        ObjectWriter { out }
    }

    fn comma(&mut self) {
        if self.out.len() > 1 {
            self.out.push(b',');
        }
    }

    /// Adds a field whose name is already JSON (quoted, escaped: a
    /// [`Field::raw_name`](super::Field::raw_name)); `value` must be JSON text.
    pub fn raw_field(&mut self, raw_name: &str, value: &str) {
        self.comma();
        self.out.extend_from_slice(raw_name.as_bytes());
        self.out.push(b':');
        self.out.extend_from_slice(value.as_bytes());
    }

    /// Adds a field named `name` (quoted and escaped here); `value` must be
    /// JSON text.
    pub fn field(&mut self, name: &str, value: &str) {
        self.comma();
        write_string(&mut self.out, name);
        self.out.push(b':');
        self.out.extend_from_slice(value.as_bytes());
    }

    /// The object's bytes, `}` included.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }
}

/// Appends `text` to `out` as a JSON string: quoted, with `"` and `\`
/// escaped and control characters as `\n`, `\t`, ... or `\u00XX` (the same
/// bytes serde_json writes).
///
/// ```
/// let mut out = Vec::new();
/// warden_pdk::json::write_string(&mut out, "a\"b\\c\n\u{1}é");
/// assert_eq!(out, r#""a\"b\\c\n\u0001é""#.as_bytes());
/// ```
pub fn write_string(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0..0x20 => b'u',
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match short {
            b'u' => {
                out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
            }
            _ => out.extend_from_slice(&[b'\\', short]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(text: &str) -> String {
        let mut out = Vec::new();
        write_string(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_serde_json() {
        let all: String = (0..0x80u8).map(char::from).chain("é€😀\u{7f}".chars()).collect();
        for text in ["", "plain", "a\"b", "\\", "\u{0}\u{1f}\u{8}\u{c}\n\r\t", all.as_str()] {
            assert_eq!(string(text), serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn writes_objects() {
        assert_eq!(ObjectWriter::with_capacity(0).finish(), b"{}");
        let mut out = ObjectWriter::with_capacity(0);
        out.raw_field(r#""a\u0021""#, r#"{"x" : [1, 2]}"#);
        out.field("q\"", "1.50");
        out.raw_field(r#""b""#, "null");
        assert_eq!(String::from_utf8(out.finish()).unwrap(), r#"{"a\u0021":{"x" : [1, 2]},"q\"":1.50,"b":null}"#);
    }
}
