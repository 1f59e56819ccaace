//! Sizes and durations as written in `plugin.toml` and the gateway config:
//! `"64 MiB"`, `"512KiB"`, `"4096"`; `"250ms"`, `"1.5s"`, `"1m"`.
//!
//! ```
//! use std::time::Duration;
//!
//! assert_eq!(warden::parse_size("1.5 KiB"), Some(1536));
//! assert_eq!(warden::parse_duration("250ms"), Some(Duration::from_millis(250)));
//! assert_eq!(warden::parse_size("lots"), None);
//! ```

use std::time::Duration;

/// Splits `"1.5 GiB"` into a decimal number and a unit, and scales it by the
/// unit's factor. Returns the whole part and whether nothing was cut off.
fn scaled(s: &str, unit_factor: impl Fn(&str) -> Option<u128>) -> Option<(u128, bool)> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let factor = unit_factor(&unit.trim_start().to_ascii_lowercase())?;
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() || frac.len() > 9 || (number.contains('.') && frac.is_empty()) || frac.contains('.') {
        return None;
    }
    let mut mantissa: u128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        mantissa = mantissa.saturating_mul(10).saturating_add(u128::from(b - b'0'));
    }
    let divisor = 10u128.pow(frac.len() as u32);
    let value = mantissa.saturating_mul(factor);
    Some((value / divisor, value % divisor == 0))
}

/// `"64 MiB"`, `"512KiB"`, `"4096"` (bytes): B, KB, MB, GB, KiB, MiB, GiB,
/// any case. Fractions are allowed if they come to whole bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let (bytes, exact) = scaled(s, |unit| match unit {
        "" | "b" => Some(1),
        "kb" => Some(1_000),
        "mb" => Some(1_000_000),
        "gb" => Some(1_000_000_000),
        "kib" => Some(1 << 10),
        "mib" => Some(1 << 20),
        "gib" => Some(1 << 30),
        _ => None,
    })?;
    exact.then(|| u64::try_from(bytes).unwrap_or(u64::MAX))
}

/// `"250ms"`, `"2s"`, `"1.5s"`, `"1m"`, `"1h"`; rounded down to nanoseconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let (nanos, _) = scaled(s, |unit| match unit {
        "ms" => Some(1_000_000),
        "s" => Some(1_000_000_000),
        "m" => Some(60_000_000_000),
        "h" => Some(3_600_000_000_000),
        _ => None,
    })?;
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    Some(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}
