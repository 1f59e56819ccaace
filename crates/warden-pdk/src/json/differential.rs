//! The scanner against serde_json, on generated documents and random
//! mutations of them.
//!
//! The reference accepts a document when serde_json reads it both as an
//! object of raw values (which gives the fields to compare, repeats kept) and
//! as a `serde_json::Value`: the raw-value reader skips strings without
//! checking surrogate escapes in pairs, which the `Value` reader (and any
//! read into a Rust string) does. The one thing of the `Value` reader we
//! ignore is its refusal of numbers out of `f64` range (`1e400`), which are
//! valid JSON; when that hides the rest of the document, a small check of
//! surrogate escapes stands in for it.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{JsonErrorKind, fields, unquote};

/// Fields as serde_json reads them: names, raw values, repeats kept.
struct Pairs(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Pairs;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor)
    }
}

/// `(name, raw value)` pairs.
type Named = Vec<(String, String)>;
/// An error's `(line, column)`.
type Position = (usize, usize);

/// The reference: the fields, or serde_json's error position (if it is a
/// position we should match: not for out-of-range numbers).
fn reference(input: &[u8]) -> Result<Named, Option<Position>> {
    let strict = serde_json::from_slice::<serde_json::Value>(input);
    let out_of_range = matches!(&strict, Err(e) if e.to_string().starts_with("number out of range"));
    let position = |e: &serde_json::Error| Some((e.line(), e.column()));
    let pairs = serde_json::from_slice::<Pairs>(input);
    match (strict, pairs) {
        (Err(e), _) if !out_of_range => Err(position(&e)),
        (_, Err(e)) => Err(position(&e).filter(|_| !out_of_range)),
        (_, Ok(_)) if out_of_range && has_lone_surrogate(input) => Err(None),
        (_, Ok(Pairs(pairs))) => Ok(pairs.into_iter().map(|(name, value)| (name, value.get().to_owned())).collect()),
    }
}

/// Whether a well-formed JSON text has a `\u` surrogate escape that is not
/// a leading one followed by a trailing one.
fn has_lone_surrogate(input: &[u8]) -> bool {
    let hex = |at: usize| {
        input.get(at..at + 4).and_then(|d| u16::from_str_radix(std::str::from_utf8(d).ok()?, 16).ok()).unwrap_or(0)
    };
    let (mut i, mut in_string) = (0, false);
    while i < input.len() {
        match input[i] {
            b'"' => in_string = !in_string,
            b'\\' if in_string && input.get(i + 1) == Some(&b'u') => {
                match hex(i + 2) {
                    0xDC00..=0xDFFF => return true,
                    0xD800..=0xDBFF if input.get(i + 6..i + 8) != Some(b"\\u") => return true,
                    0xD800..=0xDBFF if !(0xDC00..=0xDFFF).contains(&hex(i + 8)) => return true,
                    0xD800..=0xDBFF => i += 6,
                    _ => {}
                }
                i += 5;
            }
            b'\\' if in_string => i += 1,
            _ => {}
        }
        i += 1;
    }
    false
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

fn whitespace(rng: &mut Rng, out: &mut Vec<u8>) {
    while rng.chance(15) {
        out.push(rng.pick(b" \t\n\r"));
    }
}

fn string(rng: &mut Rng, out: &mut Vec<u8>) {
    out.push(b'"');
    let len = match rng.below(10) {
        0 => rng.below(200),
        _ => rng.below(12),
    };
    for _ in 0..len {
        match rng.below(40) {
            0 => out.extend_from_slice(rng.pick(&[
                &b"\\\""[..],
                b"\\\\",
                b"\\/",
                b"\\b",
                b"\\f",
                b"\\n",
                b"\\r",
                b"\\t",
            ])),
            1 => out.extend_from_slice(format!("\\u{:04x}", rng.below(0x10000)).as_bytes()),
            2 => out.extend_from_slice(
                format!("\\u{:04X}\\u{:04x}", 0xD800 + rng.below(0x400), 0xDC00 + rng.below(0x400)).as_bytes(),
            ),
            3 => out.extend_from_slice(
                rng.pick(&[
                    "é",
                    "€",
                    "😀",
                    "\u{7f}",
                    "\u{80}",
                    "\u{7ff}",
                    "\u{800}",
                    "\u{ffff}",
                    "\u{10000}",
                    "\u{10ffff}",
                ])
                .as_bytes(),
            ),
            4 => out.extend_from_slice("x".repeat(rng.below(40)).as_bytes()),
            _ => out.push(rng.pick(b"abcdefghijklmnopqrstuvwxyz ABC_-019:{}[],'")),
        }
    }
    out.push(b'"');
}

fn number(rng: &mut Rng, out: &mut Vec<u8>) {
    if rng.chance(30) {
        out.push(b'-');
    }
    match rng.chance(20) {
        true => out.push(b'0'),
        false => out.extend_from_slice((1 + rng.next() % 10u64.pow(rng.below(19) as u32 + 1)).to_string().as_bytes()),
    }
    if rng.chance(30) {
        out.extend_from_slice(format!(".{}", rng.below(100_000)).as_bytes());
    }
    if rng.chance(20) {
        out.extend_from_slice(
            format!("{}{}{}", rng.pick(&["e", "E"]), rng.pick(&["", "+", "-"]), rng.below(300)).as_bytes(),
        );
    }
}

fn value(rng: &mut Rng, out: &mut Vec<u8>, depth: usize) {
    whitespace(rng, out);
    match rng.below(if depth > 5 { 6 } else { 9 }) {
        0 | 1 => string(rng, out),
        2 | 3 => number(rng, out),
        4 => out.extend_from_slice(rng.pick(&[&b"true"[..], b"false", b"null"])),
        5 => string(rng, out),
        6 => object(rng, out, depth + 1),
        _ => {
            out.push(b'[');
            whitespace(rng, out);
            for i in 0..rng.below(5) {
                if i > 0 {
                    out.push(b',');
                }
                value(rng, out, depth + 1);
            }
            out.push(b']');
        }
    }
    whitespace(rng, out);
}

fn object(rng: &mut Rng, out: &mut Vec<u8>, depth: usize) {
    out.push(b'{');
    whitespace(rng, out);
    let names = [&b"\"a\""[..], b"\"user_id\"", b"\"a\\u0021\"", b"\"\""];
    for i in 0..rng.below(7) {
        if i > 0 {
            out.push(b',');
        }
        whitespace(rng, out);
        match rng.chance(30) {
            true => out.extend_from_slice(rng.pick(&names)),
            false => string(rng, out),
        }
        whitespace(rng, out);
        out.push(b':');
        value(rng, out, depth);
    }
    out.push(b'}');
}

/// Bytes that make mutations interesting.
const BYTES: &[u8] =
    b"\"\\{}[],:0129-+.eEutfnrl \n\t\r\x0c\x00\x1f\x7f\x80\xbf\xc0\xc3\xe0\xed\xef\xf0\xf4\xf5\xff/*aD8";

fn mutate(rng: &mut Rng, doc: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(doc.len() + 1);
        match rng.below(6) {
            0 | 1 if at < doc.len() => doc[at] = rng.pick(BYTES),
            2 if at < doc.len() => {
                doc.remove(at);
            }
            3 => doc.truncate(at),
            4 if at < doc.len() => {
                let end = (at + rng.below(8)).min(doc.len());
                let copy = doc[at..end].to_vec();
                doc.splice(at..at, copy);
            }
            _ => doc.insert(at, rng.pick(BYTES)),
        }
    }
}

#[test]
fn agrees_with_serde_json() {
    let mut rng = Rng(0x5EED);
    let (mut accepted, mut positions) = (0, 0);
    let cases = 100_000;
    for case in 0..cases {
        let mut doc = Vec::new();
        whitespace(&mut rng, &mut doc);
        match rng.chance(2) {
            true => value(&mut rng, &mut doc, 0),
            false => object(&mut rng, &mut doc, 0),
        }
        whitespace(&mut rng, &mut doc);
        if rng.chance(60) {
            mutate(&mut rng, &mut doc);
        }
        let ours = fields(&doc, u32::MAX);
        let theirs = reference(&doc);
        let show = || format!("case {case}: {:?}", String::from_utf8_lossy(&doc));
        match (ours, theirs) {
            (Ok(ours), Ok(theirs)) => {
                accepted += 1;
                let ours: Vec<(String, String)> =
                    ours.iter().map(|f| (f.name.to_string(), f.value.to_owned())).collect();
                assert_eq!(ours, theirs, "{}", show());
            }
            (Err(e), Err(position)) => {
                if e.kind() == JsonErrorKind::Syntax
                    && let Some(position) = position
                {
                    positions += 1;
                    assert_eq!((e.line(), e.column()), position, "{}", show());
                }
            }
            (Ok(_), Err(_)) => panic!("we accept, serde_json refuses: {}", show()),
            (Err(e), Ok(_)) => panic!("we refuse ({e}), serde_json accepts: {}", show()),
        }
    }
    println!("{cases} cases: {accepted} accepted, {positions} error positions compared");
    // Enough of both sides to mean something.
    assert!(accepted > cases / 3 && positions > cases / 5, "{accepted} accepted, {positions} positions compared");
}

#[test]
fn unquote_agrees_with_serde_json() {
    let mut rng = Rng(0xC0FFEE);
    for case in 0..20_000 {
        let mut doc = Vec::new();
        string(&mut rng, &mut doc);
        if rng.chance(50) {
            mutate(&mut rng, &mut doc);
        }
        let Ok(text) = std::str::from_utf8(&doc) else { continue };
        let theirs =
            serde_json::from_str::<String>(text).ok().filter(|_| text.trim_matches([' ', '\t', '\n', '\r']) == text);
        assert_eq!(unquote(text).map(|s| s.into_owned()), theirs, "case {case}: {text:?}");
    }
}

/// The gateway benchmark's request body (1 KB, mostly one long string).
const BODY: &[u8] = include_bytes!("../../../../benches/gateway/body.json");

/// Native ns per body, old (serde_json with raw values, as the plugins did)
/// against new. Run with
/// `cargo test --release -p warden-pdk speed -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check; run it in release"]
fn speed_against_serde_json() {
    use std::hint::black_box;
    use std::time::Instant;

    /// The old plugins' reader: borrowed names, raw values.
    struct Old<'a>(Vec<(&'a str, &'a RawValue)>);
    impl<'de> Deserialize<'de> for Old<'de> {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Old<'de>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Old<'de>, A::Error> {
                    let mut fields = Vec::with_capacity(16);
                    while let Some(entry) = map.next_entry()? {
                        fields.push(entry);
                    }
                    Ok(Old(fields))
                }
            }
            deserializer.deserialize_map(V)
        }
    }

    /// The fastest of 30 batches, so that other work on the machine
    /// matters less.
    fn time(name: &str, mut f: impl FnMut() -> usize) {
        let batch = 5_000;
        let best = (0..30)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..batch {
                    black_box(f());
                }
                start.elapsed().as_nanos() as f64 / f64::from(batch)
            })
            .fold(f64::INFINITY, f64::min);
        println!("{name:<32} {best:>6.0} ns per {}-byte body", BODY.len());
    }

    time("parse: serde_json (old)", || serde_json::from_slice::<Old>(black_box(BODY)).unwrap().0.len());
    time("parse: json::fields (new)", || fields(black_box(BODY), 32).unwrap().len());
    time("parse + write: serde_json (old)", || {
        let fields = serde_json::from_slice::<Old>(black_box(BODY)).unwrap().0;
        let mut out = Vec::with_capacity(BODY.len());
        out.push(b'{');
        for (i, (name, value)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, name).unwrap();
            out.push(b':');
            out.extend_from_slice(value.get().as_bytes());
        }
        out.push(b'}');
        out.len()
    });
    time("parse + write: json (new)", || {
        let mut out = super::ObjectWriter::with_capacity(BODY.len());
        for field in fields(black_box(BODY), 32).unwrap() {
            out.raw_field(field.raw_name, field.value);
        }
        out.finish().len()
    });
}
