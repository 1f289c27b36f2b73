//! Number statistics, free of any benchmark type (used by the scores, the stats of the
//! records and the calibration).
//!
//! **Percentiles** use one method everywhere: linear interpolation between closest ranks
//! (Hyndman & Fan type 7, the default of R, NumPy and Excel's `PERCENTILE.INC`). For sorted
//! values `x[0..n]` and `p` in [0, 1]: `h = (n − 1)·p`, `q = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋])`.
//! With n = 1 every percentile is the value; with n = 0 every statistic is absent (`None`,
//! `null` in JSON, `–` in tables), never NaN.
//!
//! **sd** is the sample standard deviation (n − 1 denominator); absent for n < 2.
//!
//! **Confidence intervals**: percentile bootstrap, 1,000 resamples, 95 % (2.5th and 97.5th
//! percentiles of the resampled statistic, type 7), from a fixed seed so that a report is
//! reproducible from its records.
//!
//! **Outliers**: the modified Z-score test hyperfine uses, per prompt on e2e latency:

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Bootstrap resamples.
pub const BOOTSTRAP_RESAMPLES: usize = 1000;
/// Seed of the bootstrap's generator.
pub const BOOTSTRAP_SEED: u64 = 0x1960_7a11;
/// Modified Z-score above which a request is an outlier.
pub const OUTLIER_Z: f64 = 3.5;

/// Summary statistics of one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Summary {
    pub n: usize,
    pub mean: Option<f64>,
    pub sd: Option<f64>,
    pub min: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
    /// Bootstrap 95 % CI of the mean.
    pub mean_ci: Option<[f64; 2]>,
    /// Bootstrap 95 % CI of p95.
    pub p95_ci: Option<[f64; 2]>,
}

/// Type-7 percentile of sorted, finite values; `None` for an empty slice.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let p = p.clamp(0.0, 1.0);
    let h = (n - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    Some(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

fn finite_sorted(values: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Sample standard deviation; `None` for n < 2.
pub fn sd(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let m = mean(values)?;
    let var = values.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (values.len() - 1) as f64;
    Some(var.max(0.0).sqrt())
}

/// Percentile-bootstrap 95 % CI of `stat` over `values` (n ≥ 1). `stat` may reorder the
/// resample in place.
fn bootstrap(values: &[f64], stat: impl Fn(&mut [f64]) -> f64) -> Option<[f64; 2]> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mut rng = StdRng::seed_from_u64(BOOTSTRAP_SEED);
    let mut stats = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    let mut sample = vec![0.0; n];
    for _ in 0..BOOTSTRAP_RESAMPLES {
        for s in sample.iter_mut() {
            *s = values[rng.gen_range(0..n)];
        }
        stats.push(stat(&mut sample));
    }
    stats.sort_by(|a, b| a.total_cmp(b));
    Some([
        percentile_sorted(&stats, 0.025)?,
        percentile_sorted(&stats, 0.975)?,
    ])
}

/// Percentile-bootstrap 95 % CI of `stat` over `values` (the same resampling, seed and
/// percentiles as every CI of a report); `None` for no values.
pub fn bootstrap_ci(values: &[f64], stat: impl Fn(&mut [f64]) -> f64) -> Option<[f64; 2]> {
    bootstrap(values, stat)
}

/// Type-7 percentile of unsorted values, reordering them (selection, not a full sort).
pub(crate) fn percentile_select(v: &mut [f64], p: f64) -> f64 {
    let n = v.len();
    let h = (n - 1) as f64 * p;
    let lo = h.floor() as usize;
    let (_, x_lo, upper) = v.select_nth_unstable_by(lo, |a, b| a.total_cmp(b));
    let x_lo = *x_lo;
    let x_hi = upper.iter().copied().fold(f64::INFINITY, f64::min);
    if upper.is_empty() {
        x_lo
    } else {
        x_lo + (h - lo as f64) * (x_hi - x_lo)
    }
}

/// Summary of `values` (non-finite values are dropped), with bootstrap CIs.
pub fn summarize(values: &[f64]) -> Summary {
    let v = finite_sorted(values);
    Summary {
        mean_ci: bootstrap(&v, |s| s.iter().sum::<f64>() / s.len() as f64),
        p95_ci: bootstrap(&v, |s| percentile_select(s, 0.95)),
        ..summarize_no_ci(&v)
    }
}

/// Summary without the (costly) bootstrap CIs.
pub fn summarize_no_ci(values: &[f64]) -> Summary {
    let v = finite_sorted(values);
    let p = |q| percentile_sorted(&v, q);
    Summary {
        n: v.len(),
        mean: mean(&v),
        sd: sd(&v),
        min: v.first().copied(),
        p50: p(0.50),
        p90: p(0.90),
        p95: p(0.95),
        p99: p(0.99),
        max: v.last().copied(),
        mean_ci: None,
        p95_ci: None,
    }
}
/// Median, MAD and the outlying `(index, value)` pairs.
pub type MadResult = (f64, f64, Vec<(u64, f64)>);

/// Modified Z-score outliers of `(index, value)` pairs; `None` when no test applies.
pub fn mad_outliers(values: &[(u64, f64)]) -> Option<MadResult> {
    if values.len() < 3 {
        return None;
    }
    let sorted = finite_sorted(&values.iter().map(|v| v.1).collect::<Vec<_>>());
    let median = percentile_sorted(&sorted, 0.5)?;
    let dev = finite_sorted(
        &sorted
            .iter()
            .map(|x| (x - median).abs())
            .collect::<Vec<_>>(),
    );
    let mad = percentile_sorted(&dev, 0.5)?;
    if mad <= 0.0 {
        return Some((median, mad, Vec::new()));
    }
    let out = values
        .iter()
        .filter(|(_, x)| (0.6745 * (x - median) / mad).abs() > OUTLIER_Z)
        .copied()
        .collect();
    Some((median, mad, out))
}
