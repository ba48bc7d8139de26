//! What a run tells: progress on stderr while it runs, a summary table on stdout, and a JSON
//! report (with the machine and the exact command line) that a script can compare between runs.

use anyhow::{anyhow, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn started() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// A line on stderr with the time since start, for logs of non-interactive runs (bars hide
/// themselves when stderr is not a terminal).
pub fn note(msg: impl AsRef<str>) {
    eprintln!("[{:>7.1}s] {}", started().elapsed().as_secs_f64(), msg.as_ref());
}

pub fn bar(len: u64, msg: &str) -> ProgressBar {
    note(msg);
    let b = ProgressBar::new(len);
    // The template is a constant known to parse.
    let style =
        ProgressStyle::with_template("{msg:40} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    b.set_style(style);
    b.set_message(msg.to_owned());
    b
}

pub fn spinner(msg: &str) -> ProgressBar {
    note(msg);
    let s = ProgressBar::new_spinner();
    s.set_message(msg.to_owned());
    s.enable_steady_tick(Duration::from_millis(120));
    s
}

/// The machine the run happened on.
#[derive(Debug, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub mem_total_kib: u64,
    pub cpu_model: String,
    pub kernel: String,
}

impl Machine {
    pub fn probe() -> Self {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Self {
            nproc: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            mem_total_kib: kib_field(&meminfo, "MemTotal:").unwrap_or(0),
            cpu_model: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default(),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "{} cores ({}), {:.1} GiB memory, Linux {}",
            self.nproc,
            self.cpu_model,
            self.mem_total_kib as f64 / 1024.0 / 1024.0,
            self.kernel
        )
    }
}

/// `Field:   1234 kB` of a /proc file, in KiB.
fn kib_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Resident and peak resident memory of a process, in bytes.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rss {
    pub rss_bytes: u64,
    pub hwm_bytes: u64,
}

pub fn rss(pid: u32) -> Result<Rss> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("read {path}"))?;
    let rss = kib_field(&status, "VmRSS:").ok_or_else(|| anyhow!("no VmRSS in {path}"))?;
    let hwm = kib_field(&status, "VmHWM:").unwrap_or(rss);
    Ok(Rss { rss_bytes: rss * 1024, hwm_bytes: hwm * 1024 })
}

/// The exact command line, quoted for a POSIX shell where needed.
pub fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+".contains(c)) {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The envelope of every JSON report; `figures` is the scenario's own.
pub fn envelope(mode: &str, machine: &Machine, figures: Value) -> Value {
    serde_json::json!({
        "harness": "starling-bench",
        "harness_version": env!("CARGO_PKG_VERSION"),
        "mode": mode,
        "command": command_line(),
        "finished_at_unix_ms": SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        "machine": machine,
        "figures": figures,
    })
}

/// The envelope's fields merged into the scenario's own top-level object, so scripts read
/// `posts_created` or `latency_ms.cross_node.p99` at the top.
pub fn flat_envelope(mode: &str, machine: &Machine, figures: Value) -> Value {
    let mut out = envelope(mode, machine, Value::Null);
    if let (Some(o), Value::Object(f)) = (out.as_object_mut(), figures) {
        o.remove("figures");
        o.extend(f);
    }
    out
}

pub fn write_json(path: &Path, report: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, text + "\n").with_context(|| format!("write {}", path.display()))?;
    note(format!("JSON report written to {}", path.display()));
    Ok(())
}

/// A plain aligned table on stdout.
pub fn print_table(title: &str, header: &[&str], rows: &[Vec<String>]) {
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            if i < width.len() {
                width[i] = width[i].max(cell.len());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        cells.iter().enumerate().map(|(i, c)| format!("{c:>w$}", w = width[i])).collect::<Vec<_>>().join("  ")
    };
    println!("\n{title}");
    let head = line(header.to_vec());
    println!("{head}");
    println!("{}", "-".repeat(head.len()));
    for r in rows {
        println!("{}", line(r.iter().map(String::as_str).collect()));
    }
}

/// Figures for the table: `1234.5`, or `-` when missing.
pub fn fmt(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.decimals$}"),
        _ => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kib_fields() {
        let s = "Name:\tstarling\nVmHWM:\t  20480 kB\nVmRSS:\t  10240 kB\n";
        assert_eq!(kib_field(s, "VmRSS:"), Some(10240));
        assert_eq!(kib_field(s, "VmHWM:"), Some(20480));
        assert_eq!(kib_field(s, "VmSwap:"), None);
    }

    #[test]
    fn flat_envelope_puts_figures_at_the_top() {
        let m = Machine::probe();
        let v = flat_envelope("run", &m, serde_json::json!({"posts_created": 3}));
        assert_eq!(v["posts_created"], 3);
        assert_eq!(v["mode"], "run");
        assert!(v.get("figures").is_none());
    }

    #[test]
    fn own_rss_is_readable() {
        let r = rss(std::process::id()).unwrap();
        assert!(r.rss_bytes > 0 && r.hwm_bytes >= r.rss_bytes);
    }
}
