//! The gates (request p99, request mean, failure rate) and the ramp that finds the supported user
//! count: add a step while a window passes, remove one when it fails, until the count is flat.

use super::plan::Window;
use crate::stats;
use serde::Serialize;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Gates {
    pub p99_ms: f64,
    pub mean_ms: f64,
    pub error_rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct GateCheck {
    pub requests: u64,
    pub p99_ms: Option<f64>,
    pub mean_ms: Option<f64>,
    pub error_rate: f64,
    pub pass: bool,
    pub failed: Vec<&'static str>,
}

impl Gates {
    pub fn check(&self, w: &Window) -> GateCheck {
        let mut h = stats::histogram();
        stats::merge(&mut h, &w.request_us);
        let p99_ms = (!h.is_empty()).then(|| h.value_at_quantile(0.99) as f64 / 1000.0);
        let mean_ms = (w.requests > 0).then(|| w.request_us_sum as f64 / w.requests as f64 / 1000.0);
        let error_rate = if w.requests > 0 { w.failures as f64 / w.requests as f64 } else { 0.0 };
        let mut failed = Vec::new();
        if p99_ms.is_some_and(|p| p > self.p99_ms) {
            failed.push("p99");
        }
        if mean_ms.is_some_and(|m| m > self.mean_ms) {
            failed.push("mean");
        }
        if error_rate > self.error_rate {
            failed.push("errors");
        }
        GateCheck { requests: w.requests, p99_ms, mean_ms, error_rate, pass: failed.is_empty(), failed }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RampWindow {
    pub at_s: f64,
    pub users: usize,
    pub check: GateCheck,
    /// The change decided after this window.
    pub change: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ramp {
    pub step: usize,
    /// The count never goes below this (the smaller of the start and the step).
    pub floor: usize,
    pub pool: usize,
    pub flips_needed: usize,
    pub users: usize,
    pub flips: usize,
    last_change: i64,
    pub windows: Vec<RampWindow>,
    /// The user counts at which the direction changed.
    pub flip_counts: Vec<usize>,
    pub pool_exhausted: bool,
    /// Windows that failed at the floor: the gates fail at the smallest count tried.
    pub floor_failures: usize,
}

/// Failing this many windows at the floor ends the ramp.
const FLOOR_FAILURES: usize = 3;

impl Ramp {
    pub fn new(start: usize, step: usize, pool: usize, flips_needed: usize) -> Self {
        let users = start.clamp(1, pool.max(1));
        Self {
            step: step.max(1),
            floor: users.min(step.max(1)),
            pool,
            flips_needed: flips_needed.max(1),
            users,
            flips: 0,
            last_change: 0,
            windows: Vec::new(),
            flip_counts: Vec::new(),
            pool_exhausted: false,
            floor_failures: 0,
        }
    }

    /// Judge a window; returns the new user count.
    pub fn after_window(&mut self, at_s: f64, check: GateCheck) -> usize {
        let step = self.step as i64;
        let mut change = if check.pass { step } else { -step };
        let target = (self.users as i64 + change).clamp(self.floor as i64, self.pool.max(self.floor) as i64);
        if check.pass && target == self.users as i64 {
            self.pool_exhausted = true;
        }
        if !check.pass && self.users <= self.floor {
            self.floor_failures += 1;
        }
        change = target - self.users as i64;
        if change != 0 && self.last_change != 0 && change.signum() != self.last_change.signum() {
            self.flips += 1;
            self.flip_counts.push(self.users);
        }
        if change != 0 {
            self.last_change = change;
        }
        self.windows.push(RampWindow { at_s, users: self.users, check, change });
        self.users = target as usize;
        self.users
    }

    pub fn is_flat(&self) -> bool {
        self.flips >= self.flips_needed || self.floor_failures >= FLOOR_FAILURES
    }

    /// The highest count whose window passed.
    pub fn highest_passing(&self) -> Option<usize> {
        self.windows.iter().filter(|w| w.check.pass).map(|w| w.users).max()
    }

    /// The supported user count: the highest count that passed and after which no window
    /// failed at that count or below. `None`: the gates failed at every count tried.
    pub fn supported(&self) -> Option<usize> {
        self.windows
            .iter()
            .enumerate()
            .filter(|(_, w)| w.check.pass)
            .filter(|(i, w)| !self.windows[*i + 1..].iter().any(|later| !later.check.pass && later.users <= w.users))
            .map(|(_, w)| w.users)
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pass: bool) -> GateCheck {
        GateCheck {
            requests: 10,
            p99_ms: Some(1.0),
            mean_ms: Some(1.0),
            error_rate: 0.0,
            pass,
            failed: if pass { vec![] } else { vec!["p99"] },
        }
    }

    #[test]
    fn gates_judge_a_window() {
        let g = Gates { p99_ms: 150.0, mean_ms: 15.0, error_rate: 0.0 };
        let mut h = stats::histogram();
        for _ in 0..100 {
            stats::record(&mut h, 5_000);
        }
        let mut w =
            Window { requests: 100, request_us_sum: 500_000, request_us: stats::to_buckets(&h), ..Default::default() };
        assert!(g.check(&w).pass);
        w.failures = 1;
        assert_eq!(g.check(&w).failed, vec!["errors"]);
        w.failures = 0;
        w.request_us_sum = 100 * 20_000;
        assert_eq!(g.check(&w).failed, vec!["mean"]);
        assert!(g.check(&Window::default()).pass, "no requests, no evidence of failure");
    }

    #[test]
    fn ramp_goes_up_down_and_settles() {
        let mut r = Ramp::new(8, 8, 1000, 4);
        assert_eq!(r.after_window(10.0, check(true)), 16);
        assert_eq!(r.after_window(20.0, check(true)), 24);
        assert_eq!(r.after_window(30.0, check(false)), 16);
        assert_eq!(r.after_window(40.0, check(true)), 24);
        assert_eq!(r.after_window(50.0, check(false)), 16);
        assert!(!r.is_flat());
        assert_eq!(r.after_window(60.0, check(true)), 24);
        assert!(r.is_flat(), "four direction changes");
        assert_eq!(r.highest_passing(), Some(16));
        assert_eq!(r.supported(), Some(16), "passed at 16, failed only at 24");
    }

    #[test]
    fn ramp_that_fails_at_the_floor_supports_nothing() {
        let mut r = Ramp::new(100, 100, 1000, 4);
        for i in 0..3 {
            assert!(!r.is_flat());
            assert_eq!(r.after_window(i as f64, check(false)), 100, "never below the floor");
        }
        assert!(r.is_flat());
        assert_eq!(r.supported(), None);
        let mut r = Ramp::new(8, 8, 1000, 4);
        r.after_window(1.0, check(true));
        r.after_window(2.0, check(false));
        r.after_window(3.0, check(false));
        assert_eq!(r.supported(), None, "8 passed once, then failed at 8");
    }

    #[test]
    fn ramp_stops_at_the_pool() {
        let mut r = Ramp::new(8, 8, 12, 4);
        assert_eq!(r.after_window(1.0, check(true)), 12);
        assert_eq!(r.after_window(2.0, check(true)), 12);
        assert!(r.pool_exhausted);
        assert_eq!(r.after_window(3.0, check(false)), 8, "the floor is the start");
    }
}
