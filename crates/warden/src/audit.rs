//! The audit log: security-relevant events of the plugin manager as JSON
//! lines, to a file or to the `tracing` subscriber (target `warden::audit`).
//!
//! Every line has `ts` (RFC 3339, UTC), `event`, `plugin` and, when a
//! version is known, `version`; the events and their other fields are listed
//! in `docs/ARCHITECTURE.md` (section "Audit log").

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// Where audit events go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuditSink {
    /// To the `tracing` subscriber, target `warden::audit`, level info, one
    /// JSON line as the message (the default).
    #[default]
    Tracing,
    /// Appended to this file (created with mode 0600 if missing), one JSON
    /// line per event, written and flushed before the event's action
    /// returns. When the file is renamed or removed (log rotation), the
    /// next event goes to a new file at the same path.
    File(PathBuf),
    /// Nowhere.
    Off,
}

pub(crate) struct Audit {
    sink: Sink,
}

enum Sink {
    Tracing,
    File(PathBuf, Mutex<Open>),
    Off,
}

/// The audit file as opened, and which file that was.
struct Open {
    file: File,
    id: Option<FileId>,
}

impl Open {
    fn new(path: &Path) -> Result<Open> {
        let file = open_append(path)?;
        let id = file.metadata().ok().as_ref().and_then(file_id);
        Ok(Open { file, id })
    }

    /// Opens the path again if the file there is no longer the one open
    /// (renamed or removed by log rotation).
    fn follow(&mut self, path: &Path) -> Result<()> {
        let current = std::fs::metadata(path).ok().as_ref().and_then(file_id);
        if current.is_none() || current != self.id {
            *self = Open::new(path)?;
        }
        Ok(())
    }
}

/// What identifies a file across renames: device and inode.
#[cfg(unix)]
type FileId = (u64, u64);
#[cfg(not(unix))]
type FileId = ();

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

/// Elsewhere rotation is not detected: the file stays open.
#[cfg(not(unix))]
fn file_id(_: &std::fs::Metadata) -> Option<FileId> {
    Some(())
}

impl Audit {
    pub(crate) fn open(sink: &AuditSink) -> Result<Audit> {
        let sink = match sink {
            AuditSink::Tracing => Sink::Tracing,
            AuditSink::Off => Sink::Off,
            AuditSink::File(path) => Sink::File(path.clone(), Mutex::new(Open::new(path)?)),
        };
        Ok(Audit { sink })
    }

    /// Records one event. `fields` are added after `ts`, `event`, `plugin`
    /// and `version`.
    pub(crate) fn event(&self, event: &str, plugin: &str, version: Option<&semver::Version>, fields: Value) {
        self.record(event, Some(plugin), version, fields);
    }

    /// Records one event, about a plugin or not.
    pub(crate) fn record(&self, event: &str, plugin: Option<&str>, version: Option<&semver::Version>, fields: Value) {
        if matches!(self.sink, Sink::Off) {
            return;
        }
        let mut line = Map::new();
        line.insert("ts".into(), Value::String(rfc3339(SystemTime::now())));
        line.insert("event".into(), Value::String(event.into()));
        if let Some(plugin) = plugin {
            line.insert("plugin".into(), Value::String(plugin.into()));
        }
        if let Some(v) = version {
            line.insert("version".into(), Value::String(v.to_string()));
        }
        if let Value::Object(extra) = fields {
            line.extend(extra);
        }
        crate::trace::with_current(|id| {
            if let Some(id) = id {
                line.insert("trace_id".into(), Value::String(id.into()));
            }
        });
        let text = Value::Object(line).to_string();
        match &self.sink {
            Sink::Off => {}
            Sink::Tracing => tracing::info!(target: "warden::audit", "{text}"),
            Sink::File(path, open) => {
                let mut open = open.lock().unwrap_or_else(PoisonError::into_inner);
                if let Err(e) = open.follow(path) {
                    // Keep writing to the file still open; the next event tries again.
                    tracing::error!(error = %e, "cannot reopen the audit log after rotation");
                }
                if let Err(e) = writeln!(open.file, "{text}").and_then(|()| open.file.flush()) {
                    tracing::error!(path = %path.display(), error = %e, event = %text, "cannot write the audit log");
                }
            }
        }
    }

    /// An error event with its kind and message.
    pub(crate) fn error(&self, event: &str, plugin: &str, version: Option<&semver::Version>, e: &Error, extra: Value) {
        let mut fields = json!({ "kind": e.kind().as_str(), "error": e.to_string() });
        if let (Value::Object(f), Value::Object(x)) = (&mut fields, extra) {
            f.extend(x);
        }
        self.event(event, plugin, version, fields);
    }
}

fn open_append(path: &Path) -> Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|e| Error::io("cannot open the audit log", path, e))
}

/// `t` as RFC 3339 in UTC, to the millisecond: `2026-11-22T07:45:12.345Z`
/// (the audit log's timestamps).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_333_512_345);
        assert_eq!(rfc3339(t), "2026-11-22T07:45:12.345Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn file_sink_appends_json_lines() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("audit.jsonl");
        let audit = Audit::open(&AuditSink::File(path.clone())).unwrap();
        let v = semver::Version::new(1, 2, 3);
        audit.event("loaded", "p", Some(&v), json!({ "sha256": "ab" }));
        audit.event("unloaded", "p", None, Value::Null);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["event"], "loaded");
        assert_eq!(lines[0]["version"], "1.2.3");
        assert_eq!(lines[0]["sha256"], "ab");
        assert!(lines[0]["ts"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["plugin"], "p");
        assert!(lines[1].get("version").is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn file_sink_follows_rotation() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("audit.jsonl");
        let rotated = dir.path().join("audit.jsonl.1");
        let audit = Audit::open(&AuditSink::File(path.clone())).unwrap();
        audit.record("first", None, None, Value::Null);
        // logrotate's default: rename, then the writer must start a new file.
        std::fs::rename(&path, &rotated).unwrap();
        audit.record("second", Some("p"), None, Value::Null);
        // Removed outright: a new file too.
        std::fs::rename(&path, dir.path().join("audit.jsonl.2")).unwrap();
        std::fs::remove_file(dir.path().join("audit.jsonl.2")).unwrap();
        audit.record("third", None, None, Value::Null);
        let events = |p: &Path| -> Vec<String> {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(events(&rotated), ["first"]);
        assert_eq!(events(&path), ["third"]);
        let first: Value = serde_json::from_str(std::fs::read_to_string(&rotated).unwrap().trim()).unwrap();
        assert!(first.get("plugin").is_none(), "events about no plugin have no plugin field");
    }
}
