//! The node's audit file: one JSON object a line, in the shape of Mattermost's audit log records:
//!
//! ```json
//! {"timestamp":"2026-12-06T19:00:00.123Z","event_name":"login","status":"success",
//!  "actor":{"user_id":"…","session_id":"…","ip_address":"203.0.113.9"},
//!  "event":{"status":"success","login_id":"alice"},
//!  "meta":{"audit_id":"…","create_at":1796583600123,"node_id":"…"}}
//! ```
//!
//! Before a line would take the file past FileMaxSizeMB it is rotated, as lumberjack (which
//! Mattermost's logger uses) does: renamed to `<name>-<UTC time>.<ext>` beside it (gzipped with
//! FileCompress), then rotated files past FileMaxBackups (newest kept) or older than
//! FileMaxAgeDays are removed. The file is opened lazily and reopened after an error.

use super::{Entry, ExperimentalAuditSettings};
use serde_json::json;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How one node's audit file is kept, from its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSettings {
    pub path: PathBuf,
    pub max_bytes: u64,
    /// 0: keep every rotated file.
    pub max_backups: usize,
    /// 0: whatever their age.
    pub max_age_days: u64,
    pub compress: bool,
}

impl FileSettings {
    /// From ExperimentalAuditSettings, with LogSettings.FileLocation for an empty FileName.
    pub fn from_config(s: &ExperimentalAuditSettings, log_dir: &str) -> Self {
        let path = if s.file_name.is_empty() {
            let dir = if log_dir.is_empty() { "./logs" } else { log_dir };
            PathBuf::from(dir).join("audit.log")
        } else {
            PathBuf::from(&s.file_name)
        };
        FileSettings {
            path,
            max_bytes: (s.file_max_size_mb.max(1) as u64).saturating_mul(1 << 20),
            max_backups: s.file_max_backups.max(0) as usize,
            max_age_days: s.file_max_age_days.max(0) as u64,
            compress: s.file_compress,
        }
    }
}

/// The JSON line of an entry (with its newline).
pub fn line(e: &Entry) -> String {
    let v = json!({
        "timestamp": rfc3339_ms(e.create_at),
        "event_name": e.action,
        "status": e.status(),
        "actor": {"user_id": e.user_id, "session_id": e.session_id, "ip_address": e.ip_address},
        "event": e.extra,
        "meta": {"audit_id": e.id, "create_at": e.create_at, "node_id": e.node_id},
    });
    let mut s = v.to_string();
    s.push('\n');
    s
}

/// `2026-12-06T19:00:00.123Z` for a time in milliseconds since the epoch.
pub fn rfc3339_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The open audit file and its size.
pub struct AuditFile {
    settings: FileSettings,
    file: Option<File>,
    size: u64,
}

impl AuditFile {
    pub fn new(settings: FileSettings) -> Self {
        AuditFile { settings, file: None, size: 0 }
    }

    pub fn settings(&self) -> &FileSettings {
        &self.settings
    }

    /// Append one line, rotating first if it would not fit.
    pub fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        if self.file.is_none() {
            self.open()?;
        }
        if self.size > 0 && self.size + line.len() as u64 > self.settings.max_bytes {
            self.file = None;
            self.rotate()?;
            self.open()?;
        }
        let Some(f) = self.file.as_mut() else { return Ok(()) };
        let written = f.write_all(line.as_bytes());
        if written.is_err() {
            // Reopened at the next line.
            self.file = None;
        }
        written?;
        self.size += line.len() as u64;
        Ok(())
    }

    fn open(&mut self) -> std::io::Result<()> {
        if let Some(dir) = self.settings.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let f = OpenOptions::new().create(true).append(true).open(&self.settings.path)?;
        self.size = f.metadata()?.len();
        self.file = Some(f);
        Ok(())
    }

    /// Move the current file aside, then prune (see the module docs).
    fn rotate(&mut self) -> std::io::Result<()> {
        let path = &self.settings.path;
        let mut backup = backup_name(path, crate::store::now_ms(), 0);
        let mut n = 0;
        while backup.exists() || gz(&backup).exists() {
            n += 1;
            backup = backup_name(path, crate::store::now_ms(), n);
        }
        std::fs::rename(path, &backup)?;
        self.size = 0;
        if self.settings.compress {
            compress(&backup)?;
        }
        self.prune()
    }

    fn prune(&self) -> std::io::Result<()> {
        let mut backups = backups(&self.settings.path)?;
        // Newest first: the names sort by their time.
        backups.sort_by(|a, b| b.file_name().cmp(&a.file_name()));
        let too_old = |p: &Path| {
            self.settings.max_age_days > 0
                && std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .is_some_and(|age| age > Duration::from_secs(self.settings.max_age_days * 86_400))
        };
        for (i, b) in backups.iter().enumerate() {
            if (self.settings.max_backups > 0 && i >= self.settings.max_backups) || too_old(b) {
                std::fs::remove_file(b)?;
            }
        }
        Ok(())
    }
}

fn stem_ext(path: &Path) -> (String, String) {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = path.extension().map(|s| format!(".{}", s.to_string_lossy())).unwrap_or_default();
    (stem, ext)
}

/// `<dir>/<stem>-2026-12-06T19-00-00.123[-n]<ext>`.
fn backup_name(path: &Path, now_ms: i64, n: u32) -> PathBuf {
    let (stem, ext) = stem_ext(path);
    let time = rfc3339_ms(now_ms).trim_end_matches('Z').replace(':', "-");
    let suffix = if n == 0 { String::new() } else { format!("-{n}") };
    path.with_file_name(format!("{stem}-{time}{suffix}{ext}"))
}

fn gz(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".gz");
    PathBuf::from(s)
}

fn compress(p: &Path) -> std::io::Result<()> {
    let mut input = File::open(p)?;
    let out = File::create(gz(p))?;
    let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    std::io::copy(&mut input, &mut enc)?;
    enc.finish()?;
    std::fs::remove_file(p)
}

/// The rotated files of `path` beside it.
fn backups(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let (stem, ext) = stem_ext(path);
    let prefix = format!("{stem}-");
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_owned(),
        None => PathBuf::from("."),
    };
    let mut out = Vec::new();
    for item in std::fs::read_dir(dir)? {
        let p = item?.path();
        let Some(name) = p.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
        let rest = name.strip_prefix(&prefix);
        if rest.is_some_and(|r| r.ends_with(&ext) || r.ends_with(&format!("{ext}.gz"))) {
            out.push(p);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("starling-audit-file-{}", starling_protocol::new_id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn rotates_by_size_and_keeps_max_backups() {
        let d = dir();
        let path = d.join("audit.log");
        let settings =
            FileSettings { path: path.clone(), max_bytes: 100, max_backups: 2, max_age_days: 0, compress: false };
        let mut f = AuditFile::new(settings);
        let line = format!("{}\n", "x".repeat(39));
        for _ in 0..12 {
            f.write_line(&line).unwrap();
        }
        // 40-byte lines, two to a file: 6 files were written, the current one and 2 backups remain.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), line.repeat(2));
        let backups = backups(&path).unwrap();
        assert_eq!(backups.len(), 2, "{backups:?}");
        for b in backups {
            assert_eq!(std::fs::metadata(&b).unwrap().len(), 80);
        }
        std::fs::remove_dir_all(d).ok();
    }

    #[test]
    fn compressed_backups_are_gzip() {
        let d = dir();
        let path = d.join("a.jsonl");
        let settings =
            FileSettings { path: path.clone(), max_bytes: 10, max_backups: 0, max_age_days: 0, compress: true };
        let mut f = AuditFile::new(settings);
        for _ in 0..3 {
            f.write_line("0123456789\n").unwrap();
        }
        let backups = backups(&path).unwrap();
        assert_eq!(backups.len(), 2);
        assert!(backups.iter().all(|b| b.to_string_lossy().ends_with(".jsonl.gz")), "{backups:?}");
        std::fs::remove_dir_all(d).ok();
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_796_583_600_123), "2026-12-06T19:00:00.123Z");
    }
}
