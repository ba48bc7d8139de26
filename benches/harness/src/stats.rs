//! Histograms (microseconds) that travel between processes as buckets, and percentiles over
//! small samples (one value per post).

use crate::workers::protocol::Buckets;
use hdrhistogram::Histogram;
use serde::Serialize;

/// 1 us .. 10 min, 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    // The bounds are constants that `new_with_bounds` accepts (low >= 1, high >= 2 * low, sigfig <= 5).
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

pub fn record(h: &mut Histogram<u64>, us: i64) {
    h.saturating_record(us.max(1) as u64);
}

pub fn to_buckets(h: &Histogram<u64>) -> Buckets {
    h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect()
}

pub fn merge(h: &mut Histogram<u64>, buckets: &[(u64, u64)]) {
    for &(value, count) in buckets {
        // Saturating: a value past the bounds lands in the top bucket instead of failing.
        let _ = h.record_n(value.min(h.high()), count);
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LatencyMs {
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl LatencyMs {
    pub fn of(h: &Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| Self {
            count: h.len(),
            p50: h.value_at_quantile(0.50) as f64 / 1000.0,
            p99: h.value_at_quantile(0.99) as f64 / 1000.0,
            p999: h.value_at_quantile(0.999) as f64 / 1000.0,
            max: h.max() as f64 / 1000.0,
        })
    }
}

/// p50/p99 (nearest rank) of a handful of values, with min and max.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Spread {
    pub n: usize,
    pub min: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let rank = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Some(Self { n: v.len(), min: v[0], p50: rank(0.50), p99: rank(0.99), max: v[v.len() - 1] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_merge_back() {
        let mut a = histogram();
        for us in [5, 10, 1000, 2_000_000] {
            record(&mut a, us);
        }
        let mut b = histogram();
        merge(&mut b, &to_buckets(&a));
        assert_eq!(b.len(), 4);
        assert_eq!(b.max(), a.max());
    }

    #[test]
    fn nearest_rank() {
        let s = Spread::of(&[5.0, 1.0, 3.0, 2.0, 4.0]).unwrap();
        assert_eq!((s.min, s.p50, s.p99, s.max), (1.0, 3.0, 5.0, 5.0));
        assert!(Spread::of(&[]).is_none());
    }
}
