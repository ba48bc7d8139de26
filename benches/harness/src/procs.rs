//! Node processes watched during a run: RSS and CPU every second, from /proc.

use serde::Serialize;
use std::time::Instant;

/// Clock ticks per second of /proc/PID/stat's utime and stime.
fn ticks_per_s() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// utime + stime of a process, in ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis don't.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[derive(Debug, Clone, Serialize)]
pub struct ProcSummary {
    pub pid: u32,
    pub samples: usize,
    pub rss_first_bytes: Option<u64>,
    pub rss_last_bytes: Option<u64>,
    pub rss_max_bytes: Option<u64>,
    /// Percent of one core, over the samples.
    pub cpu_mean_pct: Option<f64>,
    pub cpu_max_pct: Option<f64>,
    /// The process went away during the run.
    pub exited: bool,
}

struct Watched {
    pid: u32,
    last: Option<(Instant, u64)>,
    rss: Vec<u64>,
    cpu: Vec<f64>,
    exited: bool,
}

pub struct Sampler {
    procs: Vec<Watched>,
    tps: f64,
}

/// One reading of one process.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Reading {
    pub pid: u32,
    pub rss_bytes: Option<u64>,
    pub cpu_pct: Option<f64>,
}

impl Sampler {
    pub fn new(pids: &[u32]) -> Self {
        let mut s = Self {
            procs: pids
                .iter()
                .map(|&pid| Watched { pid, last: None, rss: Vec::new(), cpu: Vec::new(), exited: false })
                .collect(),
            tps: ticks_per_s(),
        };
        s.sample();
        s
    }

    /// Follow another process in place of `old` (a node restarted by the chaos scenario).
    pub fn replace(&mut self, old: u32, new: u32) {
        if let Some(w) = self.procs.iter_mut().find(|w| w.pid == old) {
            w.pid = new;
            w.last = None;
        }
    }

    pub fn sample(&mut self) -> Vec<Reading> {
        let now = Instant::now();
        let tps = self.tps;
        self.procs
            .iter_mut()
            .map(|w| {
                let rss = crate::report::rss(w.pid).ok().map(|r| r.rss_bytes);
                let ticks = cpu_ticks(w.pid);
                let cpu = match (w.last, ticks) {
                    (Some((t, before)), Some(after)) if after >= before => {
                        let dt = now.duration_since(t).as_secs_f64();
                        (dt > 0.05).then(|| (after - before) as f64 / tps / dt * 100.0)
                    }
                    _ => None,
                };
                if let Some(r) = rss {
                    w.rss.push(r);
                } else {
                    w.exited = true;
                }
                if let Some(c) = cpu {
                    w.cpu.push(c);
                }
                w.last = ticks.map(|t| (now, t));
                Reading { pid: w.pid, rss_bytes: rss, cpu_pct: cpu }
            })
            .collect()
    }

    pub fn summary(&self) -> Vec<ProcSummary> {
        self.procs
            .iter()
            .map(|w| ProcSummary {
                pid: w.pid,
                samples: w.rss.len(),
                rss_first_bytes: w.rss.first().copied(),
                rss_last_bytes: w.rss.last().copied(),
                rss_max_bytes: w.rss.iter().max().copied(),
                cpu_mean_pct: (!w.cpu.is_empty()).then(|| w.cpu.iter().sum::<f64>() / w.cpu.len() as f64),
                cpu_max_pct: w.cpu.iter().copied().reduce(f64::max),
                exited: w.exited,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_and_rss() {
        let me = std::process::id();
        assert!(cpu_ticks(me).is_some());
        let mut s = Sampler::new(&[me]);
        // Burn a little CPU so a reading exists.
        let t = Instant::now();
        let mut x = 0u64;
        while t.elapsed().as_millis() < 120 {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        let r = s.sample();
        assert!(r[0].rss_bytes.is_some() && x > 0);
        assert_eq!(s.summary()[0].samples, 2);
    }
}
