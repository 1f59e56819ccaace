//! The scanner: checks a whole JSON text and returns the top-level fields of
//! an object as slices of the input.
//!
//! One pass, left to right, no recursion (nesting is a bit stack), no
//! allocation but the returned `Vec` (and a `String` for a name with
//! escapes, or a bit stack deeper than 64 levels). Strings, the bulk of a
//! typical body, are scanned eight bytes at a time.

use std::borrow::Cow;

use super::error::{JsonError, JsonErrorKind};

/// One top-level field of a JSON object, borrowed from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    /// The name, unescaped: borrowed from the input unless it has escapes.
    pub name: Cow<'a, str>,
    /// The name exactly as written, with its quotes and escapes: write it back
    /// with [`ObjectWriter::raw_field`](super::ObjectWriter::raw_field) to
    /// copy it without escaping it again.
    pub raw_name: &'a str,
    /// The value as raw JSON text, exactly as written (without the
    /// whitespace around it).
    pub value: &'a str,
}

/// The top-level fields of `body`, in order, if `body` is exactly one JSON
/// object with only whitespace (space, tab, LF, CR) around it.
///
/// The whole body is checked against RFC 8259: strings (valid escapes,
/// surrogate escapes in pairs, no control characters, valid UTF-8), numbers,
/// literals, and nested objects and arrays, which may nest at most
/// `max_depth` levels, the body object being level 1 (`u32::MAX` for no
/// limit). A name that appears twice gives two fields.
///
/// ```
/// use warden_pdk::json::{self, JsonErrorKind};
///
/// let body = br#"{"user_id": 42, "tags": ["a", "b"], "na\u006De": "Ann"}"#;
/// let fields = json::fields(body, 32)?;
/// assert_eq!(fields[0].name, "user_id");
/// assert_eq!(fields[1].value, r#"["a", "b"]"#);
/// assert_eq!((fields[2].name.as_ref(), fields[2].raw_name), ("name", r#""na\u006De""#));
///
/// assert_eq!(json::fields(b"[1]", 32).unwrap_err().kind(), JsonErrorKind::NotAnObject);
/// let err = json::fields(b"{\"a\":\n tru}", 32).unwrap_err();
/// assert_eq!((err.kind(), err.line(), err.column()), (JsonErrorKind::Syntax, 2, 5));
/// assert_eq!(json::fields(br#"{"a":[[1]]}"#, 2).unwrap_err().kind(), JsonErrorKind::TooDeep);
/// # Ok::<(), json::JsonError>(())
/// ```
pub fn fields(body: &[u8], max_depth: u32) -> Result<Vec<Field<'_>>, JsonError> {
    let mut s = Scanner { input: body, pos: 0, max_depth };
    s.skip_whitespace();
    if s.peek() != Some(b'{') {
        return Err(s.error(JsonErrorKind::NotAnObject, s.pos));
    }
    if max_depth == 0 {
        return Err(s.error(JsonErrorKind::TooDeep, s.pos));
    }
    s.pos += 1;
    let mut fields = Vec::with_capacity(8);
    s.skip_whitespace();
    if s.peek() == Some(b'}') {
        s.pos += 1;
    } else {
        loop {
            let (name, raw_name) = s.name()?;
            s.skip_whitespace();
            let start = s.pos;
            s.value(1)?;
            fields.push(Field { name, raw_name, value: s.text(start, s.pos) });
            s.skip_whitespace();
            match s.peek() {
                Some(b',') => s.pos += 1,
                Some(b'}') => {
                    s.pos += 1;
                    break;
                }
                _ => return Err(s.syntax(s.pos)),
            }
            s.skip_whitespace();
        }
    }
    s.end()?;
    Ok(fields)
}

/// `text` if it is exactly one JSON value with only whitespace around it;
/// the value without that whitespace.
///
/// The same checks as [`fields`], for any kind of value: use it to check
/// JSON from elsewhere (a stored value, a config entry) before writing it
/// into a body. The value itself is level 1 if it is an object or array.
///
/// ```
/// use warden_pdk::json;
///
/// assert_eq!(json::value(b" [1, {\"a\": null}]\n", 32), Ok("[1, {\"a\": null}]"));
/// assert!(json::value(b"1 2", 32).is_err());
/// ```
pub fn value(text: &[u8], max_depth: u32) -> Result<&str, JsonError> {
    let mut s = Scanner { input: text, pos: 0, max_depth };
    s.skip_whitespace();
    let start = s.pos;
    s.value(0)?;
    let value = s.text(start, s.pos);
    s.end()?;
    Ok(value)
}

/// The text of a JSON string given as raw JSON (quotes and escapes as
/// written, e.g. a [`Field::value`]); `None` if `raw` is not one well-formed
/// JSON string. Borrowed unless it has escapes.
///
/// ```
/// use warden_pdk::json;
///
/// assert_eq!(json::unquote(r#""plain""#).as_deref(), Some("plain"));
/// assert_eq!(json::unquote(r#""a\"b\u00e9\ud83d\ude00""#).as_deref(), Some("a\"bé😀"));
/// assert_eq!(json::unquote("42"), None);
/// ```
pub fn unquote(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if inner.bytes().any(|b| b < 0x20) {
        return None;
    }
    if !inner.contains('\\') {
        return (!inner.contains('"')).then_some(Cow::Borrowed(inner));
    }
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(special) = rest.find(['\\', '"']) {
        out.push_str(&rest[..special]);
        let escape = &rest.as_bytes()[special..];
        let (c, len) = match escape {
            [b'\\', b'u', ..] => match hex4(escape.get(2..6)?)? {
                high @ 0xD800..=0xDBFF => {
                    let low = match escape.get(6..12)? {
                        [b'\\', b'u', digits @ ..] => hex4(digits)?,
                        _ => return None,
                    };
                    let low = u32::from(low).checked_sub(0xDC00).filter(|&low| low < 0x400)?;
                    (char::from_u32(0x10000 + ((u32::from(high) - 0xD800) << 10) + low)?, 12)
                }
                // `from_u32` refuses a trailing surrogate on its own.
                code => (char::from_u32(code.into())?, 6),
            },
            [b'\\', c, ..] => (short_escape(*c)?, 2),
            _ => return None,
        };
        out.push(c);
        rest = &rest[special + len..];
    }
    out.push_str(rest);
    Some(Cow::Owned(out))
}

/// The character a one-letter escape (`\n`, ...) stands for.
fn short_escape(c: u8) -> Option<char> {
    Some(match c {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        _ => return None,
    })
}

/// The value of four hex digits.
fn hex4(digits: &[u8]) -> Option<u16> {
    digits.iter().try_fold(0u16, |n, &d| Some(n << 4 | (d as char).to_digit(16)? as u16))
}

/// How many bytes the string content `raw` (escapes checked) decodes to.
fn decoded_len(raw: &[u8]) -> usize {
    let (mut i, mut len) = (0, 0);
    while i < raw.len() {
        let (decoded, step) = match raw[i..] {
            [b'\\', b'u', ref digits @ ..] => match hex4(&digits[..4]).unwrap_or(0) {
                0xD800..=0xDBFF => (4, 12),
                code => (char::from_u32(code.into()).map_or(3, char::len_utf8), 6),
            },
            [b'\\', ..] => (1, 2),
            _ => (1, 1),
        };
        len += decoded;
        i += step;
    }
    len
}

/// `0x01` in every byte of a word.
const ONES: u64 = u64::from_le_bytes([1; 8]);
/// The high bit of every byte of a word.
const HIGHS: u64 = ONES * 0x80;

/// Marks (with their high bit) the bytes of `word` that end the fast path of
/// a string: `"`, `\`, control characters (< 0x20) and non-ASCII (>= 0x80).
///
/// `x - ONES * n` sets a byte's high bit when the byte is below `n`; the
/// borrow it takes can mark the bytes above it too, but never one below, so
/// the lowest mark (`trailing_zeros`) is always exact, which is all we use.
fn specials(word: u64) -> u64 {
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let control = word.wrapping_sub(ONES * 0x20);
    // A byte equal to `"` or `\` is zero after the xor, so below 1.
    (control | quote.wrapping_sub(ONES) | backslash.wrapping_sub(ONES) | word) & HIGHS
}

/// The fast path of a string: how many ordinary bytes `bytes` starts with,
/// counted eight at a time, so it stops at the first byte that [`specials`]
/// marks or when fewer than eight bytes are left.
fn ordinary_words(bytes: &[u8]) -> usize {
    let mut n = 0;
    for chunk in bytes.chunks_exact(8) {
        let marks = specials(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        if marks != 0 {
            return n + marks.trailing_zeros() as usize / 8;
        }
        n += 8;
    }
    n
}

struct Scanner<'a> {
    input: &'a [u8],
    /// The next byte to read.
    pos: usize,
    max_depth: u32,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn error(&self, kind: JsonErrorKind, index: usize) -> JsonError {
        JsonError::at(kind, self.input, index)
    }

    /// A syntax error at byte `index` (`input.len()` for "ended too early").
    fn syntax(&self, index: usize) -> JsonError {
        self.error(JsonErrorKind::Syntax, index)
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Only whitespace may follow.
    fn end(&mut self) -> Result<(), JsonError> {
        self.skip_whitespace();
        match self.pos == self.input.len() {
            true => Ok(()),
            false => Err(self.syntax(self.pos)),
        }
    }

    /// `input[start..end]` as text.
    #[allow(unsafe_code, reason = "checking the bytes again would scan every value twice; see SAFETY")]
    fn text(&self, start: usize, end: usize) -> &'a str {
        let bytes = &self.input[start..end];
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: only called on a token or value that was just scanned
        // successfully. Such a range starts and ends at ASCII bytes, outside
        // it only ASCII is allowed, and inside strings every non-ASCII run was
        // checked with `str::from_utf8` (`string` fails otherwise), so the
        // range is valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// An object member's name and the `:` after it (whitespace skipped
    /// before and after); `(unescaped, as written)`.
    fn name(&mut self) -> Result<(Cow<'a, str>, &'a str), JsonError> {
        self.skip_whitespace();
        if self.peek() != Some(b'"') {
            return Err(self.syntax(self.pos));
        }
        let start = self.pos;
        let escaped = self.string()?;
        let raw = self.text(start, self.pos);
        let name = match escaped {
            false => Cow::Borrowed(&raw[1..raw.len() - 1]),
            true => unquote(raw).expect("a checked string unquotes"),
        };
        self.skip_whitespace();
        if self.peek() != Some(b':') {
            return Err(self.syntax(self.pos));
        }
        self.pos += 1;
        Ok((name, raw))
    }

    /// Checks one value (whitespace before it skipped), nested `depth` levels
    /// deep (the level of the container holding it; 0 at the top).
    fn value(&mut self, depth: u32) -> Result<(), JsonError> {
        // The containers open inside this value, innermost last.
        let mut open = BitStack::default();
        loop {
            // A value is expected here.
            self.skip_whitespace();
            match self.peek() {
                Some(b @ (b'{' | b'[')) => {
                    if depth.saturating_add(open.len()) >= self.max_depth {
                        return Err(self.error(JsonErrorKind::TooDeep, self.pos));
                    }
                    self.pos += 1;
                    self.skip_whitespace();
                    let close = if b == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                    } else {
                        open.push(b == b'[');
                        if b == b'{' {
                            self.name()?;
                        }
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                _ => return Err(self.syntax(self.pos)),
            }
            // A value ended: close containers until one continues, or stop.
            loop {
                let Some(in_array) = open.top() else {
                    return Ok(());
                };
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if !in_array {
                            self.name()?;
                        }
                        break;
                    }
                    Some(b']') if in_array => {}
                    Some(b'}') if !in_array => {}
                    _ => return Err(self.syntax(self.pos)),
                }
                self.pos += 1;
                open.pop();
            }
        }
    }

    /// `true`, `false` or `null`.
    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        for &expected in word {
            match self.peek() {
                Some(b) if b == expected => self.pos += 1,
                _ => return Err(self.syntax(self.pos)),
            }
        }
        Ok(())
    }

    /// Skips digits.
    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    /// At least one digit.
    fn some_digits(&mut self) -> Result<(), JsonError> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.syntax(self.pos));
        }
        self.digits();
        Ok(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<(), JsonError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.syntax(self.pos));
                }
            }
            _ => self.some_digits()?,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.some_digits()?;
        }
        Ok(())
    }

    /// Checks the string whose opening quote is at `pos` and moves past its
    /// closing quote; returns whether it has escapes.
    fn string(&mut self) -> Result<bool, JsonError> {
        let input = self.input;
        let mut i = self.pos + 1;
        let mut escaped = false;
        // Where the first bad UTF-8 is: reported only at the closing quote,
        // as serde_json does (a later bad escape is reported first).
        let mut bad_utf8 = None;
        loop {
            i += ordinary_words(&input[i..]);
            match input.get(i) {
                None => return Err(self.syntax(input.len())),
                Some(b'"') if let Some(bad) = bad_utf8 => {
                    // serde_json's column: the quote's, less the length of the
                    // decoded text from the bad byte on.
                    return Err(self.syntax(i - decoded_len(&input[bad..i])));
                }
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(escaped);
                }
                Some(b'\\') => {
                    escaped = true;
                    i = self.escape(i)?;
                }
                Some(0..0x20) => return Err(self.syntax(i)),
                Some(0x80..) => {
                    let run = input[i..].iter().position(|&b| b < 0x80).map_or(input.len(), |n| i + n);
                    if let (None, Err(e)) = (bad_utf8, std::str::from_utf8(&input[i..run])) {
                        bad_utf8 = Some(i + e.valid_up_to());
                    }
                    i = run;
                }
                // An ordinary byte among the last seven.
                Some(_) => i += 1,
            }
        }
    }

    /// Checks the escape whose backslash is at `i`; the index after it.
    ///
    /// A `\u` escape of a UTF-16 surrogate must be a leading one followed
    /// directly by a trailing one, as serde_json requires for strings.
    fn escape(&self, i: usize) -> Result<usize, JsonError> {
        let input = self.input;
        match input.get(i + 1) {
            None => Err(self.syntax(input.len())),
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
            Some(b'u') => match self.hex_escape(i + 2)? {
                0xDC00..=0xDFFF => Err(self.syntax(i + 5)),
                0xD800..=0xDBFF => {
                    for (at, expected) in [(i + 6, b'\\'), (i + 7, b'u')] {
                        match input.get(at) {
                            None => return Err(self.syntax(input.len())),
                            Some(&b) if b != expected => return Err(self.syntax(at)),
                            Some(_) => {}
                        }
                    }
                    match self.hex_escape(i + 8)? {
                        0xDC00..=0xDFFF => Ok(i + 12),
                        _ => Err(self.syntax(i + 11)),
                    }
                }
                _ => Ok(i + 6),
            },
            Some(_) => Err(self.syntax(i + 1)),
        }
    }

    /// The four hex digits at `at` (reported at the last of them if bad).
    fn hex_escape(&self, at: usize) -> Result<u16, JsonError> {
        let Some(digits) = self.input.get(at..at + 4) else {
            return Err(self.syntax(self.input.len()));
        };
        hex4(digits).ok_or_else(|| self.syntax(at + 3))
    }
}

/// Which containers are open, innermost last: one bit per level (set for an
/// array). The first 64 levels need no allocation.
#[derive(Default)]
struct BitStack {
    len: u32,
    low: u64,
    high: Vec<u64>,
}

impl BitStack {
    fn len(&self) -> u32 {
        self.len
    }

    fn push(&mut self, bit: bool) {
        let (word, shift) = ((self.len / 64) as usize, self.len % 64);
        let slot = match word {
            0 => &mut self.low,
            _ => {
                if self.high.len() < word {
                    self.high.push(0);
                }
                &mut self.high[word - 1]
            }
        };
        *slot = (*slot & !(1 << shift)) | (u64::from(bit) << shift);
        self.len += 1;
    }

    fn top(&self) -> Option<bool> {
        let top = self.len.checked_sub(1)?;
        let word = match top / 64 {
            0 => self.low,
            n => self.high[n as usize - 1],
        };
        Some(word >> (top % 64) & 1 == 1)
    }

    fn pop(&mut self) {
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(input: &[u8], max_depth: u32) -> Option<JsonErrorKind> {
        fields(input, max_depth).err().map(|e| e.kind())
    }

    /// `(name, raw name, value)` of each field.
    fn parsed(input: &str) -> Vec<(String, String, String)> {
        let fields = fields(input.as_bytes(), 32).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        fields.into_iter().map(|f| (f.name.into_owned(), f.raw_name.to_owned(), f.value.to_owned())).collect()
    }

    #[test]
    fn accepts_valid_objects() {
        let valid: &[&[u8]] = &[
            b"{}",
            b" \t\r\n{ \t\r\n} \t\r\n",
            br#"{"a":1}"#,
            br#"{"":""}"#,
            br#"{"a":-0,"b":0.5e-7,"c":1E+2,"d":-12.340e10,"e":1e400,"f":123456789012345678901234567890}"#,
            br#"{"a":0,"b":-1,"c":10,"d":1.0,"e":1e0,"f":1e-0,"g":0E+00}"#,
            br#"{"a":true,"b":false,"c":null}"#,
            br#"{"a":[],"b":[ ],"c":{ },"d":[1,[2,{"e":[]}]],"f":[null,true,"x",{"g":{}}]}"#,
            br#"{"s":"\" \\ \/ \b \f \n \r \t \u0000 \u00e9 \uD83D\uDE00 \ud83d\ude00 \uFFFF \uE000"}"#,
            "{\"é€😀\":\"é€😀\u{7f}\u{10FFFF}\u{FFFD}\"}".as_bytes(),
            br#"{"a":1,"a":2}"#,
            b"{\"a\"\n:\n[\n1\n,\n2\n]\n,\"b\" : { \"c\" : \"d\" } }",
        ];
        for input in valid {
            assert_eq!(kind(input, 32), None, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn refuses_invalid_json() {
        let invalid: &[&[u8]] = &[
            // Structure.
            b"{",
            b"{\"a\"}",
            b"{\"a\":}",
            b"{\"a\":1,}",
            b"{,}",
            b"{\"a\":1 \"b\":2}",
            b"{\"a\" 1}",
            b"{'a':1}",
            b"{a:1}",
            b"{1:1}",
            b"{\"a\":1}}",
            b"{\"a\":1} x",
            b"{\"a\":1}{}",
            b"{\"a\":1}\x0c",
            b"{\x0c}",
            b"{/*x*/}",
            b"{\"a\":[1,]}",
            b"{\"a\":[,1]}",
            b"{\"a\":[1 2]}",
            b"{\"a\":[1}",
            b"{\"a\":{]}",
            b"{\"a\":{\"b\"}}",
            b"{\"a\":{\"b\":1,}}",
            b"{\"a\":[",
            b"{\"a\":{",
            b"{\"a\":\xc3\xa9}",
            // Numbers.
            b"{\"a\":01}",
            b"{\"a\":-01}",
            b"{\"a\":00}",
            b"{\"a\":-}",
            b"{\"a\":1.}",
            b"{\"a\":.5}",
            b"{\"a\":1.e1}",
            b"{\"a\":1e}",
            b"{\"a\":1e+}",
            b"{\"a\":1E-}",
            b"{\"a\":+1}",
            b"{\"a\":0x1}",
            b"{\"a\":1.5.}",
            b"{\"a\":NaN}",
            b"{\"a\":Infinity}",
            b"{\"a\":-Infinity}",
            b"{\"a\":1",
            b"{\"a\":-",
            // Literals.
            b"{\"a\":tru}",
            b"{\"a\":nul}",
            b"{\"a\":True}",
            b"{\"a\":falsey}",
            b"{\"a\":nulll}",
            b"{\"a\":t",
            // Strings: escapes.
            b"{\"a\":\"\\x\"}",
            b"{\"a\":\"\\U0041\"}",
            b"{\"a\":\"\\u12\"}",
            b"{\"a\":\"\\u12G4\"}",
            b"{\"a\":\"\\u\"}",
            b"{\"a\":\"\\",
            b"{\"a\":\"\\u00",
            b"{\"a\":\"\\'\"}",
            // Strings: surrogate escapes must pair, in names and values.
            b"{\"a\":\"\\ud800\"}",
            b"{\"a\":\"\\udc00\"}",
            b"{\"a\":\"\\udfff\\ud800\"}",
            b"{\"a\":\"\\ud800\\u0041\"}",
            b"{\"a\":\"\\ud800x\"}",
            b"{\"a\":\"\\ud800\\n\"}",
            b"{\"a\":\"\\ud800\\ud800\"}",
            b"{\"a\":\"\\ud800\\",
            b"{\"\\ud800\":1}",
            b"{\"a\":[\"\\udc00\"]}",
            b"{\"a\":{\"\\ud800\":1}}",
            // Strings: control characters, unterminated.
            b"{\"a\":\"\x00\"}",
            b"{\"a\":\"\x1f\"}",
            b"{\"a\":\"\n\"}",
            b"{\"a\":\"\t\"}",
            b"{\"a\":\"abc",
            b"{\"a\":\"abcdefghijklmnopq",
            b"{\"a\":\"abc\\",
            b"{\"a",
            // Strings: UTF-8.
            b"{\"a\":\"\x80\"}",
            b"{\"a\":\"\xbf\"}",
            b"{\"a\":\"\xc0\xaf\"}",
            b"{\"a\":\"\xc1\xbf\"}",
            b"{\"a\":\"\xe0\x80\xaf\"}",
            b"{\"a\":\"\xf0\x80\x80\xaf\"}",
            b"{\"a\":\"\xed\xa0\x80\"}",
            b"{\"a\":\"\xed\xbf\xbf\"}",
            b"{\"a\":\"\xf4\x90\x80\x80\"}",
            b"{\"a\":\"\xf5\x80\x80\x80\"}",
            b"{\"a\":\"\xff\"}",
            b"{\"a\":\"\xc3\"}",
            b"{\"a\":\"\xe2\x82\"}",
            b"{\"a\":\"\xc3\xa9\xa9\"}",
            b"{\"\xc3\":1}",
            b"{\"a\":\"0123456789abcdef\xc3\"}",
        ];
        for input in invalid {
            assert_eq!(kind(input, 32), Some(JsonErrorKind::Syntax), "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn refuses_other_values_as_not_an_object() {
        for input in ["", "  \n", "\x0c{}", "[1]", "\"s\"", "1", "null", "x", "\u{feff}{}", "[{}]"] {
            assert_eq!(kind(input.as_bytes(), 32), Some(JsonErrorKind::NotAnObject), "{input:?}");
        }
    }

    #[test]
    fn returns_names_raw_names_and_raw_values_in_order() {
        let got = parsed(" {\"b\" : 1.50 , \"a\\u0021\":{\"x\" : [1, 2]},\"c\":null,\"b\":\"\\\"é\\\"\"} ");
        let want = [
            ("b", r#""b""#, "1.50"),
            ("a!", r#""a\u0021""#, r#"{"x" : [1, 2]}"#),
            ("c", r#""c""#, "null"),
            ("b", r#""b""#, r#""\"é\"""#),
        ];
        assert_eq!(got, want.map(|(n, r, v)| (n.to_owned(), r.to_owned(), v.to_owned())));
        let fields = fields(br#"{"plain":1,"esc\n":2}"#, 32).unwrap();
        assert!(matches!(fields[0].name, Cow::Borrowed("plain")));
        assert!(matches!(&fields[1].name, Cow::Owned(name) if name == "esc\n"));
    }

    #[test]
    fn scans_long_strings_at_every_alignment() {
        for len in 0..40 {
            for at in 0..len {
                let mut text = "x".repeat(len);
                for (special, ok) in [("é", true), ("\\n", true), ("\\u00e9", true), ("\n", false), ("\u{1}", false)] {
                    text.replace_range(at..at + 1, special);
                    let input = format!(r#"{{"k":"{text}","l":"{text}"}}"#);
                    assert_eq!(kind(input.as_bytes(), 32).is_none(), ok, "{input:?}");
                    text = "x".repeat(len);
                }
                let mut bytes = format!(r#"{{"k":"{}"}}"#, "x".repeat(len)).into_bytes();
                bytes[6 + at] = 0xff;
                assert_eq!(kind(&bytes, 32), Some(JsonErrorKind::Syntax));
            }
        }
    }

    #[test]
    fn limits_nesting() {
        assert_eq!(kind(b"{}", 0), Some(JsonErrorKind::TooDeep));
        assert_eq!(kind(b"{}", 1), None);
        assert_eq!(kind(br#"{"a":[]}"#, 1), Some(JsonErrorKind::TooDeep));
        assert_eq!(kind(br#"{"a":{"b":[1]}}"#, 3), None);
        assert_eq!(kind(br#"{"a":{"b":[[1]]}}"#, 3), Some(JsonErrorKind::TooDeep));
        assert_eq!(kind(br#"{"a":[{"b":{}}]}"#, 3), Some(JsonErrorKind::TooDeep));
        // A syntax error before the deep part wins, as it is found first.
        assert_eq!(kind(br#"{"a":x,"b":[[[]]]}"#, 2), Some(JsonErrorKind::Syntax));
        assert_eq!(kind(br#"{"b":[[[]]],"a":x}"#, 2), Some(JsonErrorKind::TooDeep));
        // Deep documents need no stack: 100 000 levels, with both kinds of
        // container (the bit stack goes past its first 64 levels).
        let n = 100_000;
        let deep = format!("{{\"a\":{}1{}}}", "[{\"b\":".repeat(n), "}]".repeat(n));
        assert_eq!(kind(deep.as_bytes(), u32::MAX), None);
        assert_eq!(kind(deep.as_bytes(), 100), Some(JsonErrorKind::TooDeep));
        let mismatched = format!("{{\"a\":{}1]]{}}}", "[{\"b\":".repeat(n), "}]".repeat(n - 1));
        assert_eq!(kind(mismatched.as_bytes(), u32::MAX), Some(JsonErrorKind::Syntax));
    }

    #[test]
    fn reports_positions_like_serde_json() {
        let position = |input: &[u8]| {
            let err = fields(input, 32).unwrap_err();
            (err.line(), err.column())
        };
        assert_eq!(position(b"{\"a\":\n tru}"), (2, 5));
        assert_eq!(position(b"{\"a\":1"), (1, 6));
        assert_eq!(position(b"{\"a\":1\n"), (2, 0));
        assert_eq!(position(b"{\"a\":\"\\q\"}"), (1, 8));
        assert_eq!(position(b"{\"a\":\"\\u12G4\"}"), (1, 12));
        assert_eq!(position(b"{\"a\":\"\xff\x01\"}"), (1, 8));
        assert_eq!(position(b"{\"a\":\"\xff\"}"), (1, 7));
        // serde_json's `Value` reads strings as strictly as we do: same positions.
        for input in [
            &b"{\"a\":[1,]}"[..],
            b"{\"a\":\"\\ud800\\u0041\"}",
            b"{\"a\":-x}",
            b"{\"a\":1}}",
            b"{\"a\":\"\xe2\x82\"}",
            b"{\"a\":\"\\n\xff\\u00e9x\"}",
        ] {
            let theirs = serde_json::from_slice::<serde_json::Value>(input).unwrap_err();
            assert_eq!(position(input), (theirs.line(), theirs.column()), "{}", String::from_utf8_lossy(input));
        }
        assert_eq!(position(b"{\"a\":1} x"), (1, 9));
        let err = fields(b"\n\n[", 32).unwrap_err();
        assert_eq!(err.to_string(), "expected a JSON object at line 3 column 1");
    }

    #[test]
    fn checks_single_values() {
        assert_eq!(value(b" 1 ", 1), Ok("1"));
        assert_eq!(value(b"\"a\"", 1), Ok("\"a\""));
        assert_eq!(value(b"[[]]", 2), Ok("[[]]"));
        assert_eq!(value(b"[[]]", 1).unwrap_err().kind(), JsonErrorKind::TooDeep);
        assert_eq!(value(b"[]", 0).unwrap_err().kind(), JsonErrorKind::TooDeep);
        for bad in ["", " ", "1 2", "[", "\"\\ud800\"", "nul", "{\"a\"}"] {
            assert_eq!(value(bad.as_bytes(), 32).unwrap_err().kind(), JsonErrorKind::Syntax, "{bad:?}");
        }
    }

    #[test]
    fn unquotes_strings() {
        assert_eq!(unquote(r#""""#).as_deref(), Some(""));
        assert_eq!(
            unquote(r#""\"\\\/\b\f\n\r\t\u0041\u00e9\uD83D\uDE00""#).as_deref(),
            Some("\"\\/\u{8}\u{c}\n\r\tAé😀")
        );
        for bad in ["", "\"", "a", "\"a", "a\"", r#""a"b""#, r#""\""#, r#""\x""#, r#""\u12""#, "\"\n\"", r#""\ud800""#]
        {
            assert_eq!(unquote(bad), None, "{bad:?}");
        }
        for bad in [r#""\udc00""#, r#""\ud800\u0041""#, r#""\ud800\ud800""#, r#""\ud800x""#, r#""\u00G0""#] {
            assert_eq!(unquote(bad), None, "{bad:?}");
        }
    }
}
