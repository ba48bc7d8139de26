//! A small hand-written SVG line chart: latency by percentile (HDR style) and over time.

use hdrhistogram::Histogram;
use std::fmt::Write;

pub struct Series {
    pub name: String,
    pub color: &'static str,
    pub points: Vec<(f64, f64)>,
}

pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Tick positions (in x units) and labels; empty: five even ticks.
    pub x_ticks: Vec<(f64, String)>,
    /// Logarithmic y axis (latencies span decades).
    pub log_y: bool,
}

pub const COLORS: [&str; 6] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

const W: f64 = 860.0;
const H: f64 = 340.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 48.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Percentile -> x position: log10(1 / (1 - q)), so 90 %, 99 %, 99.9 % are evenly spaced.
pub fn percentile_x(q: f64) -> f64 {
    (1.0 / (1.0 - q.min(0.99999))).log10()
}

pub fn percentile_ticks() -> Vec<(f64, String)> {
    [(0.0, "0%"), (0.9, "90%"), (0.99, "99%"), (0.999, "99.9%"), (0.9999, "99.99%")]
        .iter()
        .map(|(q, l)| (percentile_x(*q), (*l).to_owned()))
        .collect()
}

/// The percentile curve of a histogram of microseconds, in ms.
pub fn percentile_curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=80)
        .map(|i| {
            let x = i as f64 * 0.05; // up to 99.99 %
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}

impl Chart {
    fn render(&self, out: &mut String, y0: f64) {
        let pts: Vec<(f64, f64)> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite() && (!self.log_y || *y > 0.0))
            .collect();
        let _ = write!(
            out,
            r##"<text x="{}" y="{}" font-size="15" font-weight="bold">{}</text>"##,
            LEFT,
            y0 + 22.0,
            esc(&self.title)
        );
        let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
        let (px, py) = (LEFT, y0 + TOP);
        let _ = write!(out, r##"<rect x="{px}" y="{py}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>"##);
        if pts.is_empty() {
            let _ = write!(out, r##"<text x="{}" y="{}" fill="#777">no data</text>"##, px + 10.0, py + 20.0);
            return;
        }
        let (mut xmin, mut xmax) = (f64::MAX, f64::MIN);
        let (mut ymin, mut ymax) = (f64::MAX, f64::MIN);
        for &(x, y) in &pts {
            xmin = xmin.min(x);
            xmax = xmax.max(x);
            ymin = ymin.min(y);
            ymax = ymax.max(y);
        }
        for (x, _) in &self.x_ticks {
            xmin = xmin.min(*x);
            xmax = xmax.max(*x);
        }
        if xmax <= xmin {
            xmax = xmin + 1.0;
        }
        let fy = |y: f64| if self.log_y { y.max(1e-3).log10() } else { y };
        let (mut lo, mut hi) = if self.log_y {
            (ymin.max(1e-3).log10().floor(), ymax.max(1e-3).log10().ceil())
        } else {
            (0.0, ymax * 1.1)
        };
        if hi <= lo {
            hi = lo + 1.0;
        }
        if !self.log_y && lo > 0.0 {
            lo = 0.0;
        }
        let sx = |x: f64| px + (x - xmin) / (xmax - xmin) * pw;
        let sy = |y: f64| py + ph - (fy(y) - lo) / (hi - lo) * ph;
        // y grid and labels
        let yticks: Vec<f64> = if self.log_y {
            (lo as i32..=hi as i32).map(|e| 10f64.powi(e)).collect()
        } else {
            (0..=4).map(|i| lo + (hi - lo) * i as f64 / 4.0).collect()
        };
        for y in yticks {
            let yy = sy(y);
            let _ = write!(
                out,
                r##"<line x1="{px}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
                px + pw,
                px - 6.0,
                yy + 4.0,
                fmt_num(y)
            );
        }
        let xticks: Vec<(f64, String)> = if self.x_ticks.is_empty() {
            (0..=4).map(|i| xmin + (xmax - xmin) * i as f64 / 4.0).map(|x| (x, fmt_num(x))).collect()
        } else {
            self.x_ticks.clone()
        };
        for (x, label) in xticks {
            let xx = sx(x);
            let _ = write!(
                out,
                r##"<line x1="{xx:.1}" y1="{py}" x2="{xx:.1}" y2="{:.1}" stroke="#eeeeee"/><text x="{xx:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"##,
                py + ph,
                py + ph + 16.0,
                esc(&label)
            );
        }
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{}</text>"##,
            px + pw / 2.0,
            py + ph + 36.0,
            esc(&self.x_label)
        );
        let _ = write!(
            out,
            r##"<text x="16" y="{:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 16 {:.1})">{}</text>"##,
            py + ph / 2.0,
            py + ph / 2.0,
            esc(&self.y_label)
        );
        for (i, s) in self.series.iter().enumerate() {
            let line: Vec<String> = s
                .points
                .iter()
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!self.log_y || *y > 0.0))
                .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
                .collect();
            if !line.is_empty() {
                let _ = write!(
                    out,
                    r##"<polyline fill="none" stroke="{}" stroke-width="1.8" points="{}"/>"##,
                    s.color,
                    line.join(" ")
                );
            }
            let ly = py + 14.0 + i as f64 * 18.0;
            let lx = px + pw + 12.0;
            let _ = write!(
                out,
                r##"<line x1="{lx}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="3"/><text x="{:.1}" y="{:.1}" font-size="12">{}</text>"##,
                ly - 4.0,
                lx + 18.0,
                ly - 4.0,
                s.color,
                lx + 24.0,
                ly,
                esc(&s.name)
            );
        }
    }
}

fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// Charts stacked vertically, with a caption line at the bottom.
pub fn document(charts: &[Chart], caption: &str) -> String {
    let height = H * charts.len() as f64 + 30.0;
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>"##
    );
    for (i, c) in charts.iter().enumerate() {
        c.render(&mut out, i as f64 * H);
    }
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="{:.1}" font-size="11" fill="#555">{}</text>"##,
        height - 10.0,
        esc(caption)
    );
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_well_formed_document() {
        let mut h = crate::stats::histogram();
        for v in [1_000, 2_000, 50_000] {
            crate::stats::record(&mut h, v);
        }
        let c = Chart {
            title: "a <b>".into(),
            x_label: "percentile".into(),
            y_label: "ms".into(),
            series: vec![Series { name: "cross".into(), color: COLORS[0], points: percentile_curve(&h) }],
            x_ticks: percentile_ticks(),
            log_y: true,
        };
        let empty = Chart {
            title: "t".into(),
            x_label: "s".into(),
            y_label: "ms".into(),
            series: vec![],
            x_ticks: vec![],
            log_y: false,
        };
        let doc = document(&[c, empty], "caption & more");
        assert!(doc.starts_with("<svg") && doc.trim_end().ends_with("</svg>"));
        assert!(doc.contains("<polyline") && doc.contains("a &lt;b&gt;") && doc.contains("no data"));
        assert_eq!(doc.matches("<svg").count(), 1);
    }
}
