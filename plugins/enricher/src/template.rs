//! Key templates such as `user:{user_id}`: literal text with `{field}`
//! placeholders filled from the body's top-level fields.

use warden_pdk::json::{self, Field};

/// Longest key the key-value store accepts, in bytes.
pub const MAX_KEY_LEN: usize = 512;

/// Whether the key-value store accepts `key`: non-empty, at most
/// [`MAX_KEY_LEN`] bytes, no NUL.
pub fn is_valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && !key.contains('\0')
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(String),
}

/// A parsed key template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses `text`; `{name}` is a placeholder, other text is literal.
    /// Empty, unclosed or nested braces and a stray `}` are errors.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let brace = rest.find(['{', '}']).unwrap_or(rest.len());
            if brace > 0 {
                parts.push(Part::Literal(rest[..brace].to_owned()));
            }
            rest = &rest[brace..];
            if rest.starts_with('}') {
                return Err(format!("stray `}}` in `{text}`"));
            }
            if let Some(open) = rest.strip_prefix('{') {
                let close = open.find(['{', '}']).filter(|&i| open.as_bytes()[i] == b'}');
                let Some(close) = close else {
                    return Err(format!("unclosed `{{` in `{text}`; write e.g. `user:{{user_id}}`"));
                };
                let name = open[..close].trim();
                if name.is_empty() {
                    return Err(format!("empty `{{}}` in `{text}`; name a top-level field"));
                }
                parts.push(Part::Field(name.to_owned()));
                rest = &open[close + 1..];
            }
        }
        if parts.is_empty() {
            return Err("must not be empty".into());
        }
        Ok(Template { parts })
    }

    /// The field names the template uses, in order.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// The key for a body with `fields`, or `None` if a placeholder's field is
    /// missing or not a string or number, or the result is not a valid key.
    /// Strings are used unquoted; numbers as written. If a field repeats, the
    /// last one counts.
    pub fn expand(&self, fields: &[Field<'_>]) -> Option<String> {
        let mut key = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => key.push_str(text),
                Part::Field(name) => {
                    let raw = fields.iter().rev().find(|f| f.name == *name)?.value;
                    match raw.as_bytes().first()? {
                        b'"' => key.push_str(&json::unquote(raw)?),
                        b'-' | b'0'..=b'9' => key.push_str(raw),
                        _ => return None,
                    }
                }
            }
        }
        is_valid_key(&key).then_some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(template: &str, body: &str) -> Option<String> {
        Template::parse(template).unwrap().expand(&json::fields(body.as_bytes(), 32).unwrap())
    }

    #[test]
    fn parses() {
        let t = Template::parse("user:{user_id}/{ org }").unwrap();
        assert_eq!(t.fields().collect::<Vec<_>>(), ["user_id", "org"]);
        assert_eq!(Template::parse("global").unwrap().fields().count(), 0);
        for bad in ["", "user:{", "user:{}", "user:}", "a{b{c}}", "{a}}"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expands_strings_and_numbers() {
        assert_eq!(expand("user:{user_id}", r#"{"user_id":42}"#).as_deref(), Some("user:42"));
        assert_eq!(expand("user:{user_id}", r#"{"user_id":"ann"}"#).as_deref(), Some("user:ann"));
        assert_eq!(expand("u:{id}", r#"{"id":"a\"b\u00e9"}"#).as_deref(), Some("u:a\"bé"));
        assert_eq!(expand("{a}-{b}", r#"{"b":-1.5,"a":"x"}"#).as_deref(), Some("x--1.5"));
        assert_eq!(expand("u:{id}", r#"{"id":1,"id":2}"#).as_deref(), Some("u:2"));
        assert_eq!(expand("global", "{}").as_deref(), Some("global"));
    }

    #[test]
    fn gives_none_without_a_usable_value() {
        for body in [r#"{}"#, r#"{"id":null}"#, r#"{"id":true}"#, r#"{"id":{"x":1}}"#, r#"{"id":[1]}"#] {
            assert_eq!(expand("u:{id}", body), None, "{body}");
        }
        // Not a valid key: empty, NUL, too long.
        assert_eq!(expand("{id}", r#"{"id":""}"#), None);
        assert_eq!(expand("u:{id}", r#"{"id":"a\u0000b"}"#), None);
        let long = format!(r#"{{"id":"{}"}}"#, "x".repeat(MAX_KEY_LEN));
        assert_eq!(expand("u:{id}", &long), None);
        assert!(expand("{id}", &long).is_some());
    }
}
