//! The figures of `univariate-interpolation`, each against eta with the threshold
//! `1/(n^2 sigma)` drawn.

use super::{interpolation_threshold, width, Noise, FIT_TOLERANCE};
use crate::figures::{AxisPlot, AxisSeries};
use crate::reproduce::analysis::{is_krr, lr, num, RunView};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::{figure, ReportFigure};
use crate::reproduce::stats;
use std::collections::BTreeMap;
use std::path::Path;

/// Series of `metric` against eta, one per width: the median over seeds and the min-max band.
fn by_width(v: &[&RunView], metric: &dyn Fn(&RunView) -> Option<f64>) -> Vec<AxisSeries> {
    let mut per: BTreeMap<usize, BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for r in v {
        if let Some(m) = metric(r).filter(|m| m.is_finite()) {
            per.entry(width(r))
                .or_default()
                .entry(lr(r).to_bits())
                .or_default()
                .push(m);
        }
    }
    per.into_iter()
        .map(|(k, by_lr)| {
            let mut s = AxisSeries {
                label: format!("K = {k}"),
                ..AxisSeries::default()
            };
            for (bits, vals) in by_lr {
                s.xs.push(f64::from_bits(bits));
                s.medians.push(stats::median(&vals).unwrap_or(f64::NAN));
                let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                s.bands.push((lo, hi));
            }
            s
        })
        .collect()
}

/// The figures of `univariate-interpolation`: the fraction of seeds fitting the noise, the
/// test MSE of fitting and non-fitting runs, and the sharpness with the `2/eta` line, each
/// against eta with the threshold `1/(n^2 sigma)` drawn.
pub(super) fn draw_interpolation(
    done: &[RunView],
    dir: &Path,
) -> Result<Vec<ReportFigure>, ReproduceError> {
    let mut figs = Vec::new();
    let v: Vec<&RunView> = done
        .iter()
        .filter(|r| !is_krr(r) && r.summary.status == "completed")
        .collect();
    let Some(first) = v.first() else {
        return Ok(figs);
    };
    let noise = Noise::of(&v);
    let fits = |r: &RunView, t: f64| noise.fits(r, t);
    let thr = interpolation_threshold(first);
    let vertical = Some((thr, "1/(n^2 sigma)".to_string()));
    let fraction = by_width(&v, &|r| {
        fits(r, FIT_TOLERANCE).map(|b| if b { 1.0 } else { 0.0 })
    });
    let plot = AxisPlot {
        title: format!(
            "Runs fitting the noise (train MSE <= {FIT_TOLERANCE} x noise variance) against eta"
        ),
        x_label: "step size eta".into(),
        y_label: "fraction of seeds".into(),
        log_x: true,
        log_y: false,
        reference: None,
        vertical: vertical.clone(),
        references: Vec::new(),
        series: fraction,
    };
    figs.push(figure(
        &plot,
        "interpolation against eta",
        &dir.join("interpolation_fraction"),
        format!(
            "Fraction of seeds whose training MSE is at most {FIT_TOLERANCE} times the empirical noise variance of their labels, per width K, against eta (log scale); the vertical line is 1/(n^2 sigma) = {}.",
            num(Some(thr))
        ),
    )?);
    let series = by_width(&v, &|r| noise.residual(r));
    // The shares span decades when large steps leave several times the noise: a log axis then.
    let log_y = crate::figures::style::wants_log_axis(series.iter().flat_map(|s| {
        s.medians
            .iter()
            .copied()
            .chain(s.bands.iter().flat_map(|b| [b.0, b.1]))
    }));
    let residual = AxisPlot {
        title: "Share of the label noise left in the training residuals".into(),
        x_label: "step size eta".into(),
        y_label: "train MSE / empirical noise variance".into(),
        log_x: true,
        log_y,
        reference: Some(FIT_TOLERANCE),
        vertical: vertical.clone(),
        references: Vec::new(),
        series,
    };
    figs.push(figure(
        &residual,
        "residual noise against eta",
        &dir.join("interpolation_residual"),
        format!(
            "Training MSE over the empirical noise variance 1/n sum (y_i - f*(x_i))^2, median over seeds with min-max bars, per width, against eta (log scale): 1 leaves the noise alone, 0 interpolates; the horizontal line is the tolerance {FIT_TOLERANCE}, the vertical one 1/(n^2 sigma) = {}.",
            num(Some(thr))
        ),
    )?);
    let mut series = Vec::new();
    for (fitted, tag) in [(true, "fits the noise"), (false, "does not")] {
        for mut s in by_width(&v, &|r| {
            (fits(r, FIT_TOLERANCE) == Some(fitted))
                .then_some(r.summary.test_mse)
                .flatten()
        }) {
            s.label = format!("{}, {tag}", s.label);
            series.push(s);
        }
    }
    let noise = first.spec.sigma.map(|s| s * s);
    let plot = AxisPlot {
        title: "Test MSE of runs that fit the noise and of those that do not".into(),
        x_label: "step size eta".into(),
        y_label: "test MSE against the noiseless target".into(),
        log_x: true,
        log_y: true,
        reference: noise,
        vertical: vertical.clone(),
        references: Vec::new(),
        series,
    };
    figs.push(figure(
        &plot,
        "test MSE against eta",
        &dir.join("interpolation_test_mse"),
        format!(
            "Test MSE against eta (both axes log scale), median over seeds with min-max bars, split by whether the run fits the noise (train MSE <= {FIT_TOLERANCE} x noise variance); the horizontal line is the noise variance sigma^2 = {}, the vertical one 1/(n^2 sigma) = {}.",
            num(noise),
            num(Some(thr))
        ),
    )?);
    let mut series = by_width(&v, &|r| r.summary.sharpness);
    let mut lrs: Vec<f64> = v.iter().map(|r| lr(r)).collect();
    lrs.sort_by(f64::total_cmp);
    lrs.dedup();
    series.push(AxisSeries {
        label: "2/eta (stability threshold)".into(),
        medians: lrs.iter().map(|x| 2.0 / x).collect(),
        bands: lrs.iter().map(|x| (2.0 / x, 2.0 / x)).collect(),
        xs: lrs,
    });
    let plot = AxisPlot {
        title: "Sharpness at the end against eta, beside 2/eta".into(),
        x_label: "step size eta".into(),
        y_label: "top Hessian eigenvalue".into(),
        log_x: true,
        log_y: true,
        reference: None,
        vertical,
        references: Vec::new(),
        series,
    };
    figs.push(figure(
        &plot,
        "sharpness against eta",
        &dir.join("interpolation_sharpness"),
        format!(
            "Top Hessian eigenvalue of the final network against eta (both axes log scale), median over seeds with min-max bars, per width, and the stability threshold 2/eta; the vertical line is 1/(n^2 sigma) = {}. Runs left of it fit the noise at sharpness far above 2/eta of the large steps.",
            num(Some(thr))
        ),
    )?);
    Ok(figs)
}
