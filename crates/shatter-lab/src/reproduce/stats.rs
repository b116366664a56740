//! The statistics of the reproductions, in one place: median and quantiles over seeds, the
//! Spearman rank correlation, a seeded percentile bootstrap, and the t-interval of a fitted
//! log-log slope (which reuses `figures::fit_loglog`, the fit the rate plots draw). Claims
//! (`claims.rs`) say which of these gave their interval.

use crate::figures::Fit;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Resamples of every bootstrap interval: enough for stable 2.5% and 97.5% percentiles.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// The seed of the bootstrap's ChaCha8 generator: fixed, so a report is reproducible bit for
/// bit from the same runs.
pub const BOOTSTRAP_SEED: u64 = 20_250_612;

/// The median of the finite entries of `values`; `None` when there is none.
///
/// Allocates a sorted copy; `O(m log m)`.
pub fn median(values: &[f64]) -> Option<f64> {
    quantile(values, 0.5)
}

/// The `q`-quantile (`0 <= q <= 1`, linear interpolation between order statistics) of the
/// finite entries of `values`; `None` when there is none.
///
/// Allocates a sorted copy; `O(m log m)`.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(v[lo] + (pos - lo as f64) * (v[hi] - v[lo]))
}

/// Spearman rank correlation of two equally long sequences (ties get their average rank);
/// `None` for fewer than two pairs, different lengths, or a constant sequence.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let rank = |v: &[f64]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            for &k in &idx[i..=j] {
                r[k] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        r
    };
    let (ra, rb) = (rank(a), rank(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma) * (x - ma)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb) * (y - mb)).sum();
    (va > 0.0 && vb > 0.0).then(|| cov / (va * vb).sqrt())
}

/// The percentile bootstrap 95% interval of `statistic` over `m` items: `BOOTSTRAP_RESAMPLES`
/// resamples of `m` indices drawn with replacement by a ChaCha8 generator seeded with
/// `BOOTSTRAP_SEED`, the statistic of each (resamples where it is `None` or not finite are
/// dropped), and the 2.5% and 97.5% quantiles of those.
///
/// `None` for fewer than two items or when fewer than half the resamples give a value. Costs
/// `BOOTSTRAP_RESAMPLES` evaluations of the statistic; allocates one index vector.
pub fn bootstrap_indices(
    m: usize,
    statistic: impl Fn(&[usize]) -> Option<f64>,
) -> Option<(f64, f64)> {
    if m < 2 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(BOOTSTRAP_SEED);
    let mut idx = vec![0usize; m];
    let mut stats = Vec::with_capacity(BOOTSTRAP_RESAMPLES);
    for _ in 0..BOOTSTRAP_RESAMPLES {
        for i in idx.iter_mut() {
            *i = rng.random_range(0..m);
        }
        if let Some(s) = statistic(&idx).filter(|s| s.is_finite()) {
            stats.push(s);
        }
    }
    if stats.len() * 2 < BOOTSTRAP_RESAMPLES {
        return None;
    }
    Some((quantile(&stats, 0.025)?, quantile(&stats, 0.975)?))
}

/// The percentile bootstrap 95% interval of the median of the finite entries of `values`
/// (one per seed), as [`bootstrap_indices`] makes it; `None` with fewer than two.
pub fn bootstrap_median(values: &[f64]) -> Option<(f64, f64)> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    bootstrap_indices(v.len(), |idx| {
        let sample: Vec<f64> = idx.iter().map(|&i| v[i]).collect();
        median(&sample)
    })
}

/// The percentile bootstrap 95% interval of the Spearman correlation of the finite pairs of
/// `xs` and `ys`, resampling pairs ([`bootstrap_indices`]); `None` with fewer than three
/// pairs. Few pairs give wide intervals: with four points one resample in four or so repeats
/// a point, and the interval spans most of `[-1, 1]` unless the trend is perfect.
pub fn bootstrap_spearman(xs: &[f64], ys: &[f64]) -> Option<(f64, f64)> {
    let pairs: Vec<(f64, f64)> = xs
        .iter()
        .zip(ys)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (*x, *y))
        .collect();
    if pairs.len() < 3 {
        return None;
    }
    bootstrap_indices(pairs.len(), |idx| {
        let a: Vec<f64> = idx.iter().map(|&i| pairs[i].0).collect();
        let b: Vec<f64> = idx.iter().map(|&i| pairs[i].1).collect();
        spearman(&a, &b)
    })
}

/// The 95% t-interval of the rate `-slope` of a log-log fit: `rate ± t_{0.975, m-2} SE`, the
/// half-width `fit.ci95` that `figures::fit_loglog` computes (infinite for two points).
pub fn rate_interval(fit: &Fit) -> (f64, f64) {
    let rate = -fit.slope;
    (rate - fit.ci95, rate + fit.ci95)
}

/// The Wilson score 95% interval of a proportion with `successes` out of `trials`:
/// `(p + z^2/(2m) -+ z sqrt(p (1 - p)/m + z^2/(4 m^2))) / (1 + z^2/m)`, `z = 1.96`, `p =
/// successes / m`. Unlike the normal interval it stays inside `[0, 1]` and is not empty at 0 or
/// m successes (0 of 12 gives `[0, 0.24]`). `None` without trials or with more successes than
/// trials.
pub fn wilson_interval(successes: usize, trials: usize) -> Option<(f64, f64)> {
    if trials == 0 || successes > trials {
        return None;
    }
    let (m, z) = (trials as f64, 1.959_963_984_540_054);
    let p = successes as f64 / m;
    let centre = p + z * z / (2.0 * m);
    let half = z * (p * (1.0 - p) / m + z * z / (4.0 * m * m)).sqrt();
    let scale = 1.0 + z * z / m;
    // At 0 (or all) successes the bound is exactly 0 (or 1); the formula leaves a rounding
    // residue there.
    let lo = if successes == 0 {
        0.0
    } else {
        ((centre - half) / scale).max(0.0)
    };
    let hi = if successes == trials {
        1.0
    } else {
        ((centre + half) / scale).min(1.0)
    };
    Some((lo, hi))
}

/// The interval of `a - b` that excludes 0 exactly when the intervals `a` and `b` do not
/// overlap: `[a.lo - b.hi, a.hi - b.lo]`. Conservative (wider than the interval of a
/// difference of independent estimates), as a check of non-overlap should be.
pub fn difference_interval(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    (a.0 - b.1, a.1 - b.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Normal};

    #[test]
    fn median_and_quantiles_skip_non_finite_values() {
        assert_eq!(median(&[3.0, f64::NAN, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(quantile(&[0.0, 10.0], 0.25), Some(2.5));
        assert_eq!(median(&[f64::NAN]), None);
    }

    #[test]
    fn spearman_of_monotone_sequences() {
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), Some(1.0));
        assert_eq!(spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]), None);
    }

    fn normal_sample(m: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let normal = Normal::new(5.0, 2.0).expect("valid normal");
        (0..m).map(|_| normal.sample(&mut rng)).collect()
    }

    #[test]
    fn bootstrap_is_deterministic() {
        let v = normal_sample(10, 3);
        let a = bootstrap_median(&v).expect("interval");
        let b = bootstrap_median(&v).expect("interval");
        assert_eq!(a.0.to_bits(), b.0.to_bits());
        assert_eq!(a.1.to_bits(), b.1.to_bits());
        assert!(a.0 <= median(&v).unwrap() && median(&v).unwrap() <= a.1);
    }

    #[test]
    fn bootstrap_interval_covers_the_true_median_most_of_the_time() {
        // 100 samples of 20 draws from N(5, 2^2), sample seeds 1000..1100: the true median 5
        // should be inside the nominal 95% interval in roughly 90-98 of them (the percentile
        // bootstrap of a median undercovers a little at this size).
        let covered = (1000..1100)
            .filter(|&seed| {
                let (lo, hi) = bootstrap_median(&normal_sample(20, seed)).expect("interval");
                lo <= 5.0 && 5.0 <= hi
            })
            .count();
        assert!(
            covered >= 85,
            "covered {covered} of 100 (sample seeds 1000..1100)"
        );
    }

    #[test]
    fn bootstrap_interval_shrinks_with_more_seeds() {
        // Mean width over 20 samples each (sample seeds 0..20), 5 against 80 draws.
        let width = |m: usize| {
            (0..20)
                .map(|s| {
                    let (lo, hi) = bootstrap_median(&normal_sample(m, s)).expect("interval");
                    hi - lo
                })
                .sum::<f64>()
                / 20.0
        };
        let (few, many) = (width(5), width(80));
        assert!(
            many < 0.5 * few,
            "width {many} with 80 seeds against {few} with 5"
        );
    }

    #[test]
    fn bootstrap_needs_two_values_and_spearman_three_pairs() {
        assert_eq!(bootstrap_median(&[1.0]), None);
        assert_eq!(bootstrap_spearman(&[1.0, 2.0], &[1.0, 2.0]), None);
        // Four points with a perfect trend still leave the interval wide open below 1: ties in
        // resamples pull it down, so such a claim is never settled by four points alone.
        let (lo, hi) =
            bootstrap_spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]).expect("interval");
        assert!(lo < 0.5 && hi <= 1.0, "[{lo}, {hi}]");
    }

    /// Wilson intervals against closed forms at the ends (`[0, z^2/(m + z^2)]` for 0 of m)
    /// and against the coverage of binomial draws (p = 0.3, m = 40, sample seeds 0..400).
    #[test]
    fn wilson_interval_closed_forms_and_coverage() {
        let z2 = 1.959_963_984_540_054f64.powi(2);
        let (lo, hi) = wilson_interval(0, 12).unwrap();
        assert!(
            lo == 0.0 && (hi - z2 / (12.0 + z2)).abs() < 1e-12,
            "[{lo}, {hi}]"
        );
        let (lo, hi) = wilson_interval(4, 4).unwrap();
        assert!(
            (lo - 4.0 / (4.0 + z2)).abs() < 1e-12 && hi == 1.0,
            "[{lo}, {hi}]"
        );
        let (lo, hi) = wilson_interval(5, 10).unwrap();
        assert!(
            (0.5 - lo - (hi - 0.5)).abs() < 1e-12,
            "symmetric at one half"
        );
        assert_eq!(wilson_interval(3, 0), None);
        assert_eq!(wilson_interval(3, 2), None);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let covered = (0..400)
            .filter(|_| {
                let hits = (0..40).filter(|_| rng.random::<f64>() < 0.3).count();
                let (lo, hi) = wilson_interval(hits, 40).unwrap();
                lo <= 0.3 && 0.3 <= hi
            })
            .count();
        assert!(
            (360..=395).contains(&covered),
            "covered {covered} of 400 (seed 0)"
        );
    }

    #[test]
    fn rate_interval_is_the_slope_t_interval() {
        let ns = [32.0, 64.0, 128.0, 256.0];
        let vals = [1.0, 0.55, 0.26, 0.14];
        let fit = crate::figures::fit_loglog(&ns, &vals).expect("fit");
        let (lo, hi) = rate_interval(&fit);
        assert!((0.5 * (lo + hi) + fit.slope).abs() < 1e-12);
        assert!((0.5 * (hi - lo) - fit.ci95).abs() < 1e-12);
        assert_eq!(difference_interval((1.0, 2.0), (0.0, 0.5)), (0.5, 2.0));
    }
}
