//! The result table: one row per measurement, a verdict per target, the worst ratio.

use std::fmt::Write as _;
use std::time::Duration;

#[derive(Clone, Copy)]
pub enum Target {
    AtLeast(f64),
    AtMost(f64),
    Info,
}

pub struct Row {
    pub name: String,
    pub floor: String,
    pub ours: String,
    pub ratio: Option<f64>,
    pub target: Target,
}

impl Row {
    /// ratio / target for "at least", target / ratio for "at most": below 1 is a miss.
    fn margin(&self) -> Option<f64> {
        match (self.ratio, self.target) {
            (Some(r), Target::AtLeast(t)) => Some(r / t),
            (Some(r), Target::AtMost(t)) => Some(if r > 0.0 { t / r } else { f64::INFINITY }),
            _ => None,
        }
    }
}

pub fn rate(r: f64) -> String {
    format!("{:.0}/s", r)
}

pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

pub fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

pub fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The median of `ours[r] / floor[r]` over rounds `r`: each ratio compares two
/// measurements taken seconds apart in the same round. On a shared host whole rounds
/// run at half speed now and then, floor and ours alike; the ratio of separate medians
/// then compares a fast round with a slow one, the paired ratio does not.
pub fn paired_ratio(floor: &[f64], ours: &[f64]) -> f64 {
    let ratios: Vec<f64> = floor
        .iter()
        .zip(ours)
        .filter(|(f, _)| **f > 0.0)
        .map(|(f, o)| o / f)
        .collect();
    if ratios.is_empty() {
        return 0.0;
    }
    median_f(ratios)
}

pub fn print_table(rows: &[Row], quick: bool) -> bool {
    let w0 = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(10)
        .max(11);
    let w1 = rows
        .iter()
        .map(|r| r.floor.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let w2 = rows
        .iter()
        .map(|r| r.ours.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<w0$}  {:>w1$}  {:>w2$}  {:>6}  {:>7}  result",
        "measurement", "floor", "ours", "ratio", "target"
    );
    let _ = writeln!(out, "{}", "-".repeat(w0 + w1 + w2 + 32));
    let mut all_met = true;
    for r in rows {
        let ratio = r.ratio.map_or("-".to_string(), |x| format!("{x:.3}"));
        let (target, verdict) = match (r.target, r.margin()) {
            (Target::AtLeast(t), Some(m)) => (format!(">= {t}"), m >= 1.0),
            (Target::AtMost(t), Some(m)) => (format!("<= {t}"), m >= 1.0),
            _ => ("info".to_string(), true),
        };
        let verdict = match r.target {
            Target::Info => "",
            _ if quick => "(quick)",
            _ if verdict => "met",
            _ => {
                all_met = false;
                "MISSED"
            }
        };
        let _ = writeln!(
            out,
            "{:<w0$}  {:>w1$}  {:>w2$}  {:>6}  {:>7}  {}",
            r.name,
            r.floor,
            r.ours,
            ratio,
            target,
            verdict,
            w0 = w0 - r.name.chars().count() + r.name.len(),
            w1 = w1 - r.floor.chars().count() + r.floor.len(),
            w2 = w2 - r.ours.chars().count() + r.ours.len(),
        );
    }
    let worst = rows
        .iter()
        .filter_map(|r| r.margin().map(|m| (m, r)))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((m, r)) = worst {
        let t = match r.target {
            Target::AtLeast(t) => format!(">= {t}"),
            Target::AtMost(t) => format!("<= {t}"),
            Target::Info => String::new(),
        };
        let _ = writeln!(
            out,
            "worst ratio: {:.3} ({}; target {t}; {:.0}% of target) -> {}",
            r.ratio.unwrap_or(0.0),
            r.name,
            m * 100.0,
            if quick {
                "quick run, no verdict"
            } else if m >= 1.0 {
                "all targets met"
            } else {
                "TARGET MISSED"
            }
        );
    }
    print!("{out}");
    all_met
}
