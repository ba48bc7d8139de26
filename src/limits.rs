//! The process limits the HA guide asks operators to raise (open files for websockets and
//! database connections, processes for threads), checked once at start: a node below them warns
//! in its log, in its own row of cluster status and in `GET /system/ping?get_server_status=true`.

/// The open-file limit the HA guide asks for (`LimitNOFILE` in the systemd unit).
pub const MIN_OPEN_FILES: u64 = 65_536;
/// The process (thread) limit the HA guide asks for (`LimitNPROC`).
pub const MIN_PROCESSES: u64 = 8_192;

/// The soft limits this process runs with (None: unlimited or unreadable).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessLimits {
    pub open_files: Option<u64>,
    pub processes: Option<u64>,
}

impl ProcessLimits {
    /// This process's limits from `/proc/self/limits`. `STARLING_TEST_OPEN_FILES_LIMIT` and
    /// `STARLING_TEST_PROCESSES_LIMIT` replace what is read (for tests of the warnings).
    pub fn read() -> Self {
        let text = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let mut limits = parse(&text);
        let forced = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
        if let Some(n) = forced("STARLING_TEST_OPEN_FILES_LIMIT") {
            limits.open_files = Some(n);
        }
        if let Some(n) = forced("STARLING_TEST_PROCESSES_LIMIT") {
            limits.processes = Some(n);
        }
        limits
    }

    /// One sentence per limit below what the guide asks for.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(n) = self.open_files.filter(|n| *n < MIN_OPEN_FILES) {
            out.push(format!("open-file limit {n} is below {MIN_OPEN_FILES} (raise LimitNOFILE / ulimit -n)"));
        }
        if let Some(n) = self.processes.filter(|n| *n < MIN_PROCESSES) {
            out.push(format!("process limit {n} is below {MIN_PROCESSES} (raise LimitNPROC / ulimit -u)"));
        }
        out
    }

    /// Log each warning (at start).
    pub fn log(&self, log: &slog::Logger) {
        for w in self.warnings() {
            slog::warn!(log, "process limit below what the HA guide asks"; "warning" => w);
        }
    }
}

/// The soft limits from the text of `/proc/<pid>/limits`.
pub fn parse(text: &str) -> ProcessLimits {
    let soft = |name: &str| {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let value = line[name.len()..].split_whitespace().next()?;
        value.parse::<u64>().ok() // "unlimited" is None: nothing to warn about
    };
    ProcessLimits { open_files: soft("Max open files"), processes: soft("Max processes") }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max cpu time              unlimited            unlimited            seconds   \n\
        Max processes             4096                 95000                processes \n\
        Max open files            1024                 524288               files     \n";

    #[test]
    fn soft_limits_are_read_and_low_ones_warned_about() {
        let l = parse(SAMPLE);
        assert_eq!(l, ProcessLimits { open_files: Some(1024), processes: Some(4096) });
        let w = l.warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("open-file limit 1024 is below 65536"), "{w:?}");
        assert!(w[1].contains("process limit 4096 is below 8192"), "{w:?}");
    }

    #[test]
    fn unlimited_and_high_limits_are_fine() {
        let l = parse(&SAMPLE.replace("4096 ", "unlimited ").replace("1024 ", "65536 "));
        assert_eq!(l.processes, None);
        assert_eq!(l.open_files, Some(65536));
        assert!(l.warnings().is_empty());
    }
}
