//! JSON bodies.
//!
//! Always available, with no dependencies: [`fields`] checks that a body is
//! one well-formed JSON object and returns its top-level fields as slices of
//! the body (no tree, no copies); [`ObjectWriter`] writes an object back,
//! copying raw fields byte for byte; [`value`] checks any JSON value,
//! [`unquote`] reads a raw JSON string and [`is_json`] tells JSON content
//! types. This is what the example plugins `validator`, `enricher` and
//! `transformer` use on every request.
//!
//! With the `json` feature (on by default), serde_json helpers too:
//! `req.json::<T>()`, `req.set_json_body(&v)`, `HttpResponse::json(200, &v)`,
//! `resp.body_json::<T>()` and `resp.set_json_body(&v)`.
//!
//! ```
//! use warden_pdk::json::{self, ObjectWriter};
//!
//! // Rename `user_id` to `userId`, keeping every other byte.
//! let body = br#"{"user_id": 42, "profile": {"tier": "gold"}}"#;
//! let mut out = ObjectWriter::with_capacity(body.len());
//! for field in json::fields(body, 32)? {
//!     match field.name.as_ref() {
//!         "user_id" => out.field("userId", field.value),
//!         _ => out.raw_field(field.raw_name, field.value),
//!     }
//! }
//! assert_eq!(out.finish(), br#"{"userId":42,"profile":{"tier": "gold"}}"#);
//! # Ok::<(), json::JsonError>(())
//! ```

#[cfg(feature = "json")]
mod body;
mod content_type;
#[cfg(test)]
mod differential;
mod error;
mod scan;
mod write;

pub use content_type::is_json;
pub use error::{JsonError, JsonErrorKind};
pub use scan::{Field, fields, unquote, value};
pub use write::{ObjectWriter, write_string};
