//! A JSON object body as its top-level fields, each value kept as raw JSON text.
//!
//! Parsing checks the whole body but builds no tree: names and values borrow
//! from the body (a name is copied only if it has escapes). Writing copies the
//! raw values back, so nested values keep their exact bytes (number
//! precision, spacing) and fields keep their order.
//!
//! The same file is in `plugins/enricher`; each example stays self-contained.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// One top-level field: its name and its value as raw JSON text.
pub type Field<'a> = (Cow<'a, str>, &'a RawValue);

/// Whether a content type is JSON: `application/json` or `application/*+json`,
/// with any parameters, in any case.
pub fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (sub.eq_ignore_ascii_case("json")
            || sub.len() > 5 && sub.as_bytes()[sub.len() - 5..].eq_ignore_ascii_case(b"+json"))
}

/// The fields of `body`, in order, if it is one JSON object (with nothing but
/// whitespace around it); `None` otherwise.
pub fn parse(body: &[u8]) -> Option<Vec<Field<'_>>> {
    serde_json::from_slice::<Fields<'_>>(body).ok().map(|fields| fields.0)
}

/// Writes `fields` as a JSON object: each name escaped, each value as given
/// (which must be valid JSON text).
pub fn write<'f>(fields: impl IntoIterator<Item = (&'f str, &'f str)>, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    out.push(b'{');
    for (i, (name, value)) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, name).expect("writing a string to a Vec cannot fail");
        out.push(b':');
        out.extend_from_slice(value.as_bytes());
    }
    out.push(b'}');
    out
}

struct Fields<'a>(Vec<Field<'a>>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::with_capacity(16);
        while let Some(Name(name)) = map.next_key()? {
            fields.push((name, map.next_value()?));
        }
        Ok(Fields(fields))
    }
}

/// A field name, borrowed from the body unless it has escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Self::Value, E> {
        Ok(Name(Cow::Borrowed(name)))
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(Name(Cow::Owned(name.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json") && is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/vnd.api+json"));
        for ct in ["text/plain", "application/jsonp", "application/+json", "json", ""] {
            assert!(!is_json(ct), "{ct}");
        }
    }

    #[test]
    fn parses_fields_in_order_with_raw_values() {
        let body = br#" {"b": 1.50, "a\u0021":{"x" : [1, 2]},"c":null} "#;
        let fields = parse(body).unwrap();
        let got: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_ref(), v.get())).collect();
        assert_eq!(got, [("b", "1.50"), ("a!", r#"{"x" : [1, 2]}"#), ("c", "null")]);
        assert!(matches!(fields[0].0, Cow::Borrowed(_)));
    }

    #[test]
    fn refuses_non_objects() {
        for body in ["", "[]", "1", "{", r#"{"a":1} x"#, r#"{"a":tru}"#] {
            assert!(parse(body.as_bytes()).is_none(), "{body}");
        }
        assert_eq!(parse(b"{}").unwrap().len(), 0);
    }

    #[test]
    fn writes_back() {
        let body = br#"{"a":{"x" : [1, 2]},"q\"":"\u00e9"}"#;
        let fields = parse(body).unwrap();
        let out = write(fields.iter().map(|(k, v)| (k.as_ref(), v.get())), body.len());
        assert_eq!(std::str::from_utf8(&out).unwrap(), r#"{"a":{"x" : [1, 2]},"q\"":"\u00e9"}"#);
        assert_eq!(write([], 2), b"{}");
    }
}
