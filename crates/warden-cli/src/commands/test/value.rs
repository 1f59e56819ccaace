//! The values of a host world's functions in case files: TOML in, by the
//! function's WIT types, into the component model's values for the call;
//! values out as JSON, for messages, comparisons and JSON paths.
//!
//! The mapping (docs/TESTING.md, "Plugins of a host's own world"):
//! numbers, `bool`, `string` as themselves; `char` a one-character string;
//! `list` and `tuple` arrays (a `list<u8>` also a string, its UTF-8 bytes);
//! `record` a table by field names (an omitted `option` field is none);
//! `enum` the case name; `variant` the case name, or `{ case = payload }`;
//! `option` the value, or `{}` for none; `result` `{ ok = ... }` or
//! `{ err = ... }` (`"ok"`/`"err"` without a payload); `flags` an array of
//! names; `map` an array of `[key, value]` pairs. Resources, futures and
//! streams cannot be written in a case.

use serde_json::{Value as Json, json};
use warden::toml::Value as Toml;
use warden::wasmtime::component::{Type, Val};

/// Converts `value`, at `at` in the case (for errors), to a value of `ty`.
pub fn from_toml(value: &Toml, ty: &Type, at: &str) -> Result<Val, String> {
    let wrong = |what: &str| Err(format!("{at}: expected {what}, got {}", short(value)));
    macro_rules! int {
        ($variant:ident, $t:ty) => {
            match value {
                Toml::Integer(i) => match <$t>::try_from(*i) {
                    Ok(n) => Ok(Val::$variant(n)),
                    Err(_) => Err(format!("{at}: {i} does not fit a {}", stringify!($t))),
                },
                _ => wrong(concat!("an integer (", stringify!($t), ")")),
            }
        };
    }
    let float = || match value {
        Toml::Float(f) => Some(*f),
        Toml::Integer(i) => Some(*i as f64),
        _ => None,
    };
    match ty {
        Type::Bool => match value {
            Toml::Boolean(b) => Ok(Val::Bool(*b)),
            _ => wrong("true or false"),
        },
        Type::S8 => int!(S8, i8),
        Type::U8 => int!(U8, u8),
        Type::S16 => int!(S16, i16),
        Type::U16 => int!(U16, u16),
        Type::S32 => int!(S32, i32),
        Type::U32 => int!(U32, u32),
        Type::S64 => int!(S64, i64),
        Type::U64 => int!(U64, u64),
        Type::Float32 => float().map(|f| Val::Float32(f as f32)).map_or_else(|| wrong("a number"), Ok),
        Type::Float64 => float().map(Val::Float64).map_or_else(|| wrong("a number"), Ok),
        Type::Char => match value.as_str().map(|s| s.chars().collect::<Vec<_>>()) {
            Some(chars) if chars.len() == 1 => Ok(Val::Char(chars[0])),
            _ => wrong("a one-character string"),
        },
        Type::String => match value {
            Toml::String(s) => Ok(Val::String(s.clone())),
            _ => wrong("a string"),
        },
        Type::List(list) => match (value, list.ty()) {
            (Toml::String(s), Type::U8) => Ok(Val::List(s.bytes().map(Val::U8).collect())),
            (Toml::Array(items), item) => items
                .iter()
                .enumerate()
                .map(|(i, v)| from_toml(v, &item, &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()
                .map(Val::List),
            _ => wrong("an array"),
        },
        Type::FixedLengthList(list) => match value {
            Toml::Array(items) if items.len() == list.len() as usize => items
                .iter()
                .enumerate()
                .map(|(i, v)| from_toml(v, &list.ty(), &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()
                .map(Val::FixedLengthList),
            _ => wrong(&format!("an array of {} items", list.len())),
        },
        Type::Map(map) => match value {
            Toml::Array(pairs) => pairs
                .iter()
                .enumerate()
                .map(|(i, pair)| match pair.as_array().map(Vec::as_slice) {
                    Some([k, v]) => Ok((
                        from_toml(k, &map.key(), &format!("{at}[{i}][0]"))?,
                        from_toml(v, &map.value(), &format!("{at}[{i}][1]"))?,
                    )),
                    _ => Err(format!("{at}[{i}]: expected a [key, value] pair, got {}", short(pair))),
                })
                .collect::<Result<_, _>>()
                .map(Val::Map),
            _ => wrong("an array of [key, value] pairs"),
        },
        Type::Record(record) => {
            let Toml::Table(table) = value else { return wrong("a table (a record)") };
            let names: Vec<&str> = record.fields().map(|f| f.name).collect();
            if let Some(unknown) = table.keys().find(|k| !names.contains(&k.as_str())) {
                return Err(format!("{at}: the record has no field `{unknown}`; its fields: {}", names.join(", ")));
            }
            let mut fields = Vec::with_capacity(names.len());
            for field in record.fields() {
                let val = match (table.get(field.name), &field.ty) {
                    (Some(v), ty) => from_toml(v, ty, &format!("{at}.{}", field.name))?,
                    (None, Type::Option(_)) => Val::Option(None),
                    (None, _) => return Err(format!("{at}: the record's field `{}` is missing", field.name)),
                };
                fields.push((field.name.to_owned(), val));
            }
            Ok(Val::Record(fields))
        }
        Type::Tuple(tuple) => match value {
            Toml::Array(items) if items.len() == tuple.types().len() => items
                .iter()
                .zip(tuple.types())
                .enumerate()
                .map(|(i, (v, ty))| from_toml(v, &ty, &format!("{at}[{i}]")))
                .collect::<Result<_, _>>()
                .map(Val::Tuple),
            _ => wrong(&format!("an array of {} items (a tuple)", tuple.types().len())),
        },
        Type::Variant(variant) => {
            let (name, payload) = one_case(value, at)?;
            let names: Vec<&str> = variant.cases().map(|c| c.name).collect();
            let case = variant
                .cases()
                .find(|c| c.name == name)
                .ok_or_else(|| format!("{at}: the variant has no case `{name}`; its cases: {}", names.join(", ")))?;
            let payload = match (case.ty, payload) {
                (Some(ty), Some(v)) => Some(Box::new(from_toml(v, &ty, &format!("{at}.{name}"))?)),
                (None, None) => None,
                (Some(_), None) => return Err(format!("{at}: case `{name}` has a payload: write {{ {name} = ... }}")),
                (None, Some(_)) => return Err(format!("{at}: case `{name}` has no payload: write \"{name}\"")),
            };
            Ok(Val::Variant(name.to_owned(), payload))
        }
        Type::Enum(e) => {
            let names: Vec<&str> = e.names().collect();
            match value.as_str() {
                Some(name) if names.contains(&name) => Ok(Val::Enum(name.to_owned())),
                _ => wrong(&format!("one of {}", names.join(", "))),
            }
        }
        Type::Option(option) => match value {
            Toml::Table(t) if t.is_empty() => Ok(Val::Option(None)),
            v => Ok(Val::Option(Some(Box::new(from_toml(v, &option.ty(), at)?)))),
        },
        Type::Result(result) => {
            let (name, payload) = one_case(value, at)?;
            let ty = match name {
                "ok" => result.ok(),
                "err" => result.err(),
                _ => return wrong("{ ok = ... } or { err = ... }"),
            };
            let payload = match (ty, payload) {
                (Some(ty), Some(v)) => Some(Box::new(from_toml(v, &ty, &format!("{at}.{name}"))?)),
                (None, None) => None,
                (Some(_), None) => return Err(format!("{at}: `{name}` has a payload: write {{ {name} = ... }}")),
                (None, Some(_)) => return Err(format!("{at}: `{name}` has no payload: write \"{name}\"")),
            };
            Ok(Val::Result(if name == "ok" { Ok(payload) } else { Err(payload) }))
        }
        Type::Flags(flags) => {
            let names: Vec<&str> = flags.names().collect();
            let Toml::Array(items) = value else { return wrong("an array of flag names") };
            let mut set = Vec::new();
            for v in items {
                match v.as_str().and_then(|name| names.iter().position(|n| *n == name)) {
                    Some(at) => set.push(at),
                    None => return Err(format!("{at}: {} is not a flag; the flags: {}", short(v), names.join(", "))),
                }
            }
            // In declaration order, each once: as the component returns them.
            set.sort_unstable();
            set.dedup();
            Ok(Val::Flags(set.into_iter().map(|i| names[i].to_owned()).collect()))
        }
        Type::Own(_) | Type::Borrow(_) => Err(format!("{at}: a resource cannot be written in a case")),
        Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            Err(format!("{at}: futures, streams and error contexts cannot be written in a case"))
        }
    }
}

/// `"name"` or `{ name = payload }`.
fn one_case<'a>(value: &'a Toml, at: &str) -> Result<(&'a str, Option<&'a Toml>), String> {
    if let Toml::String(name) = value {
        return Ok((name, None));
    }
    if let Toml::Table(t) = value
        && t.len() == 1
        && let Some((name, payload)) = t.iter().next()
    {
        return Ok((name, Some(payload)));
    }
    Err(format!("{at}: expected a case name or {{ case = payload }}, got {}", short(value)))
}

/// A value as JSON: records as objects, `none` as null, variants and
/// results as `"case"` or `{"case": payload}`, resources as `"<resource>"`.
pub fn to_json(val: &Val) -> Json {
    let boxed = |v: &Option<Box<Val>>| v.as_deref().map_or(Json::Null, to_json);
    match val {
        Val::Bool(b) => json!(b),
        Val::S8(n) => json!(n),
        Val::U8(n) => json!(n),
        Val::S16(n) => json!(n),
        Val::U16(n) => json!(n),
        Val::S32(n) => json!(n),
        Val::U32(n) => json!(n),
        Val::S64(n) => json!(n),
        Val::U64(n) => json!(n),
        // The shortest decimal that reads back as the same f32: 0.9, not
        // 0.8999999761581421.
        Val::Float32(f) => float(f.to_string().parse().unwrap_or(f64::NAN)),
        Val::Float64(f) => float(*f),
        Val::Char(c) => json!(c.to_string()),
        Val::String(s) => json!(s),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Json::Array(items.iter().map(to_json).collect())
        }
        Val::Map(pairs) => Json::Array(pairs.iter().map(|(k, v)| json!([to_json(k), to_json(v)])).collect()),
        Val::Record(fields) => Json::Object(fields.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        Val::Variant(name, None) | Val::Enum(name) => json!(name),
        Val::Variant(name, Some(payload)) => json!({ name: to_json(payload) }),
        Val::Option(v) => boxed(v),
        Val::Result(Ok(v)) => json!({ "ok": boxed(v) }),
        Val::Result(Err(v)) => json!({ "err": boxed(v) }),
        Val::Flags(names) => json!(names),
        Val::Resource(_) => json!("<resource>"),
        Val::Future(_) | Val::Stream(_) | Val::ErrorContext(_) => json!("<future, stream or error context>"),
    }
}

/// A float as a JSON number, or its name when JSON has none (NaN, inf).
fn float(f: f64) -> Json {
    serde_json::Number::from_f64(f).map_or_else(|| json!(f.to_string()), Json::Number)
}

/// The bytes a value holds, for the call's output limit.
pub fn size(val: &Val) -> u64 {
    let boxed = |v: &Option<Box<Val>>| v.as_deref().map_or(0, size);
    match val {
        Val::String(s) => s.len() as u64,
        Val::Variant(name, v) => name.len() as u64 + boxed(v),
        Val::Enum(name) => name.len() as u64,
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => items.iter().map(|v| 8 + size(v)).sum(),
        Val::Map(pairs) => pairs.iter().map(|(k, v)| 8 + size(k) + size(v)).sum(),
        Val::Record(fields) => fields.iter().map(|(_, v)| 8 + size(v)).sum(),
        Val::Option(v) | Val::Result(Ok(v) | Err(v)) => boxed(v),
        Val::Flags(names) => names.iter().map(|n| n.len() as u64).sum(),
        _ => 8,
    }
}

/// A TOML value in an error, cut to a readable length.
fn short(value: &Toml) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}
