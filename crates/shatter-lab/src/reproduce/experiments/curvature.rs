//! The `curvature` experiment: curvature beyond the sharpness in the shattering setting. Every
//! Hessian eigenvalue above `1.5/eta` (the outliers central-flow analyses track, Cohen et al.
//! 2024), the trace (Hutch++) and a certified `lambda_min`, for gradient descent at the edge of
//! stability (eta = 0.9, no decay) against a small step with weight decay (eta = 0.01, decay
//! 0.1), at d = 10 and at a small d.

use std::path::Path;

use super::{About, Experiment, Scale};
use crate::figures::{AxisPlot, AxisSeries};
use crate::reproduce::analysis::{loss_of, Analysis, Claim, Row, RunView};
use crate::reproduce::claims::Method;
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::{figure, ReportFigure};
use crate::reproduce::stats;
use crate::store::{CurvatureRow, Store};

/// How many outliers (by rank) the eigenvalue figure draws.
const DRAWN_RANKS: usize = 8;

/// Relative distance from `2/eta` that counts as "at the edge of stability" for the final
/// sharpness (the papers: it oscillates near `2/eta`).
const EDGE_TOLERANCE: f64 = 0.1;

/// The sweep spec of `curvature` at `scale`.
fn spec_text(scale: Scale) -> String {
    let quick = scale == Scale::Quick;
    let (n, width, epochs, seeds, every, losses) = if quick {
        (128, 256, 2000, "[0]", 100, r#"["square"]"#)
    } else {
        (512, 2048, 20000, "[0, 1, 2]", 500, r#"["square", "mse"]"#)
    };
    format!(
        r#"name = "curvature-{scale}"
description = "Hessian outliers above 1.5/eta, trace and lambda_min along training: large step against small step with decay (SCIENCE.md section 7, shattering setting)."

[base]
n = {n}
width = {width}
epochs = {epochs}
sigma = 1.0
clip = 50.0
input = "ball"
target = "linear"
n_test = 2000

[measure]
sharpness_every = {every}
test_every = {every}
log_every = {every}
outlier_threshold = 1.5
trace_products = 30

[grid]
loss = {losses}
d = [10, 2]
seed = {seeds}

[[zip]]
lr = [0.9, 0.01]
weight_decay = [0.0, 0.1]
"#
    )
}

/// Outliers above `1.5/eta`, the Hessian trace and a certified `lambda_min`, at the edge of
/// stability against a small step with weight decay.
pub struct Curvature;

const ABOUT: About = About {
    id: "curvature",
    figure: "Liang, Qiao, Wang, Parhi 2025, Fig. 1 setting; outliers above 1.5/eta as in central-flow analyses (Cohen et al. 2024)",
    what: "Every Hessian eigenvalue above 1.5/eta (certified, none missed), the Hutch++ trace and a certified lambda_min along training, for eta = 0.9 without decay against eta = 0.01 with decay 0.1, at d = 10 and d = 2.",
    reported: "At the edge of stability the sharpness hovers at 2/eta (the papers, Fig. 1); central-flow analyses describe the dynamics by the few Hessian eigenvalues near and above that edge. With a small step and decay the curvature stays far below 2/eta.",
};

impl Experiment for Curvature {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(spec_text(scale))
    }
    fn claims(&self, runs: &[RunView]) -> Analysis {
        curvature(runs)
    }
    fn training_curves(&self) -> bool {
        true
    }
    fn figures(
        &self,
        store: &Store,
        done: &[RunView],
        dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        curvature_figures(store, done, dir)
    }
}

fn sig(x: f64) -> String {
    crate::figures::style::format_sig(x, 3)
}

/// The runs of one arm (`large`: the larger step) at dimension `d`.
fn arm(runs: &[RunView], d: usize, large: bool) -> Vec<&RunView> {
    let lrs: Vec<f64> = runs.iter().filter_map(|r| r.spec.lr).collect();
    let top = lrs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    runs.iter()
        .filter(|r| r.spec.d == Some(d))
        .filter(|r| (r.spec.lr == Some(top)) == large)
        .collect()
}

fn dims(runs: &[RunView]) -> Vec<usize> {
    let mut d: Vec<usize> = runs.iter().filter_map(|r| r.spec.d).collect();
    d.sort_unstable_by(|a, b| b.cmp(a));
    d.dedup();
    d
}

/// The claims: outliers at the edge of stability (at least one) and with decay (none), the
/// trace of the two arms, and the final sharpness against `2/eta` with its certified bound.
pub(crate) fn curvature(runs: &[RunView]) -> Analysis {
    let mut a = Analysis::default();
    for d in dims(runs) {
        let (large, small) = (arm(runs, d, true), arm(runs, d, false));
        let setting = |rs: &[&RunView]| {
            let r = rs[0];
            format!(
                "d={d}, eta={}, decay {}",
                sig(r.spec.lr.unwrap_or(f64::NAN)),
                sig(r.spec.weight_decay.unwrap_or(0.0))
            )
        };
        let count = |rs: &[&RunView]| -> Vec<f64> {
            rs.iter()
                .filter_map(|r| r.summary.outlier_count_median)
                .collect()
        };
        let certified = |rs: &[&RunView]| {
            rs.iter()
                .filter(|r| r.summary.outliers_complete == Some(true))
                .count()
        };
        if !large.is_empty() {
            let values = count(&large);
            if !values.is_empty() {
                let claim = Claim::over_seeds(&values, None, (1.0, f64::INFINITY));
                a.rows.push(Row::claim(
                    "eigenvalues above 1.5/eta, second half of training (median over records)",
                    setting(&large),
                    sig(claim.estimate),
                    "a few outliers at the edge of stability",
                    "agrees when at least one eigenvalue lies above 1.5/eta",
                    claim,
                ));
                a.words.push(format!(
                    "At d = {d} with the large step, the final count of eigenvalues above 1.5/eta is certified complete (none missed) in {} of {} runs.",
                    certified(&large),
                    large.len()
                ));
            }
            // The final sharpness against 2/eta, with its certified bound.
            let ratios: Vec<(f64, f64)> = large
                .iter()
                .filter_map(|r| {
                    let s = r.summary.sharpness?;
                    let e = r.summary.sharpness_err.unwrap_or(0.0);
                    let eta = r.spec.lr?;
                    Some((s * eta / 2.0, e * eta / 2.0))
                })
                .collect();
            if !ratios.is_empty() {
                let estimates: Vec<f64> = ratios.iter().map(|r| r.0).collect();
                let agree = (1.0 - EDGE_TOLERANCE, 1.0 + EDGE_TOLERANCE);
                let claim = if ratios.len() == 1 {
                    let (x, e) = ratios[0];
                    Claim::interval(
                        x,
                        Some((x - e, x + e)),
                        Method::CertifiedBound,
                        Some(1.0),
                        agree,
                    )
                } else {
                    Claim::over_seeds(&estimates, Some(1.0), agree)
                };
                let bound = ratios.iter().map(|r| r.1).fold(0.0_f64, f64::max);
                a.rows.push(Row::claim(
                    "final sharpness / (2/eta)",
                    setting(&large),
                    format!("{} (certified bound {})", sig(claim.estimate), sig(bound)),
                    "1 (sharpness hovers at 2/eta)",
                    &format!(
                        "agrees within {}% of 2/eta; for one run the interval is the certified Lanczos bound",
                        sig(100.0 * EDGE_TOLERANCE)
                    ),
                    claim,
                ));
            }
        }
        if !small.is_empty() {
            let values = count(&small);
            if !values.is_empty() {
                let claim = Claim::over_seeds(&values, Some(0.0), (0.0, 0.0));
                a.rows.push(Row::claim(
                    "eigenvalues above 1.5/eta, second half of training (median over records)",
                    setting(&small),
                    sig(claim.estimate),
                    "none: far from the edge",
                    "agrees when no eigenvalue lies above 1.5/eta",
                    claim,
                ));
            }
        }
        // The trace of the two arms: the difference with its interval from the standard errors
        // (one seed) or the bootstrap over seeds.
        let traces = |rs: &[&RunView]| -> Vec<(u64, f64, f64)> {
            rs.iter()
                .filter_map(|r| Some((r.spec.seed?, r.summary.trace?, r.summary.trace_err?)))
                .collect()
        };
        let (tl, ts) = (traces(&large), traces(&small));
        let pairs: Vec<(f64, f64)> = tl
            .iter()
            .filter_map(|&(seed, t, e)| {
                ts.iter()
                    .find(|x| x.0 == seed)
                    .map(|&(_, t2, e2)| (t - t2, (e * e + e2 * e2).sqrt()))
            })
            .collect();
        if !pairs.is_empty() {
            let diffs: Vec<f64> = pairs.iter().map(|p| p.0).collect();
            let claim = if pairs.len() == 1 {
                let (x, e) = pairs[0];
                Claim::interval(
                    x,
                    Some((x - 1.96 * e, x + 1.96 * e)),
                    Method::StandardErrors,
                    None,
                    (0.0, f64::INFINITY),
                )
            } else {
                Claim::over_seeds(&diffs, None, (0.0, f64::INFINITY))
            };
            let median = |v: &[(u64, f64, f64)]| {
                stats::median(&v.iter().map(|x| x.1).collect::<Vec<_>>()).unwrap_or(f64::NAN)
            };
            a.rows.push(Row::claim(
                "Hessian trace: large step minus small step with decay",
                format!("d={d}"),
                format!(
                    "{} ({} against {})",
                    sig(claim.estimate),
                    sig(median(&tl)),
                    sig(median(&ts))
                ),
                "larger at the edge of stability",
                "agrees when the difference is positive; for one seed the interval is +-1.96 Hutch++ standard errors",
                claim,
            ));
        }
        // lambda_min with its certified bound, as context.
        for rs in [&large, &small] {
            let mins: Vec<(f64, f64)> = rs
                .iter()
                .filter_map(|r| Some((r.summary.min_eigenvalue?, r.summary.min_eigenvalue_err?)))
                .collect();
            if let Some(&(m, e)) = mins.first() {
                a.rows.push(
                    Row::context(
                        "lambda_min at the end (certified bound)",
                        setting(rs),
                        format!("{} +- {}", sig(m), sig(e)),
                        "",
                    )
                    .with_numbers([
                        ("lambda_min at the end (median over seeds)", Some(m)),
                        ("certified bound on its error", Some(e)),
                    ]),
                );
            }
        }
    }
    if runs
        .iter()
        .any(|r| r.summary.outlier_count_median.is_none())
    {
        a.warnings.push(
            "some runs carry no outlier counts (outlier_threshold was not set for them)".into(),
        );
    }
    a
}

/// The outlier eigenvalues against the epoch (per large-step run of the first seed, with
/// `2/eta` and `1.5/eta`), and the trace against the epoch for both arms.
fn curvature_figures(
    store: &Store,
    done: &[RunView],
    dir: &Path,
) -> Result<Vec<ReportFigure>, ReproduceError> {
    let mut out = Vec::new();
    let first_seed = done.iter().filter_map(|r| r.spec.seed).min();
    let mut losses: Vec<String> = done.iter().map(loss_of).collect();
    losses.sort();
    losses.dedup();
    for loss in &losses {
        let runs: Vec<RunView> = done
            .iter()
            .filter(|r| &loss_of(r) == loss && r.spec.seed == first_seed)
            .cloned()
            .collect();
        for d in dims(&runs) {
            let mut traces = Vec::new();
            for (large, rs) in [(true, arm(&runs, d, true)), (false, arm(&runs, d, false))] {
                let Some(r) = rs.first() else { continue };
                let rows = store.curvature(&r.run_id)?;
                let eta = r.spec.lr.unwrap_or(f64::NAN);
                let label = format!(
                    "eta={}, decay {}",
                    sig(eta),
                    sig(r.spec.weight_decay.unwrap_or(0.0))
                );
                if let Some(series) = trace_series(&rows, &label) {
                    traces.push(series);
                }
                if !large {
                    continue;
                }
                let series = outlier_series(&rows);
                if series.is_empty() {
                    continue;
                }
                let values: Vec<f64> = series.iter().flat_map(|s| s.medians.clone()).collect();
                let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let most = rows
                    .iter()
                    .filter_map(|c| c.outlier_count)
                    .max()
                    .unwrap_or(0);
                let plot = AxisPlot {
                    title: format!("Hessian eigenvalues above 1.5/eta, d={d}, {label}"),
                    x_label: "epoch".into(),
                    y_label: "eigenvalue".into(),
                    log_x: false,
                    log_y: crate::figures::style::wants_log_axis(
                        values.iter().copied().chain([1.5 / eta]),
                    ),
                    reference: None,
                    references: vec![("2/eta".into(), 2.0 / eta), ("1.5/eta".into(), 1.5 / eta)],
                    vertical: None,
                    series,
                };
                let stem = format!("outliers_d{d}_{}", loss);
                out.push(figure(
                    &plot,
                    "outlier eigenvalues",
                    &dir.join(stem),
                    format!(
                        "Every Hessian eigenvalue above 1.5/eta = {} against the epoch (d={d}, {label}, loss {loss}, seed {}), ranked, with certified error bars; dashed: 2/eta = {} and 1.5/eta. At most {} lie above at one record; the largest is {}.",
                        sig(1.5 / eta),
                        first_seed.unwrap_or(0),
                        sig(2.0 / eta),
                        most,
                        sig(max)
                    ),
                )?);
            }
            if !traces.is_empty() {
                let values: Vec<f64> = traces.iter().flat_map(|s| s.medians.clone()).collect();
                let plot = AxisPlot {
                    title: format!("Hessian trace (Hutch++), d={d}"),
                    x_label: "epoch".into(),
                    y_label: "trace of the Hessian".into(),
                    log_x: false,
                    log_y: crate::figures::style::wants_log_axis(values.iter().copied()),
                    reference: None,
                    references: Vec::new(),
                    vertical: None,
                    series: traces,
                };
                let last: Vec<String> = plot
                    .series
                    .iter()
                    .filter_map(|s| {
                        s.medians
                            .last()
                            .map(|v| format!("{} ({})", sig(*v), s.label))
                    })
                    .collect();
                out.push(figure(
                    &plot,
                    "trace",
                    &dir.join(format!("trace_d{d}_{loss}")),
                    format!(
                        "Hutch++ trace of the Hessian against the epoch per arm (d={d}, loss {loss}, seed {}), bars +-1.96 standard errors; at the end {}.",
                        first_seed.unwrap_or(0),
                        last.join(" against ")
                    ),
                )?);
            }
        }
    }
    Ok(out)
}

/// One series per outlier rank (up to [`DRAWN_RANKS`]): its value at each record where it
/// exists, with the certified bound as the bar.
fn outlier_series(rows: &[CurvatureRow]) -> Vec<AxisSeries> {
    let ranks = rows
        .iter()
        .map(|c| c.outliers.len())
        .max()
        .unwrap_or(0)
        .min(DRAWN_RANKS);
    (0..ranks)
        .map(|k| {
            let mut s = AxisSeries {
                label: format!("eigenvalue {}", k + 1),
                ..AxisSeries::default()
            };
            for c in rows {
                if let Some(&(v, b)) = c.outliers.get(k) {
                    s.xs.push(c.epoch as f64);
                    s.medians.push(v);
                    s.bands.push((v - b, v + b));
                }
            }
            s
        })
        .collect()
}

/// The trace against the epoch, bars `+-1.96` standard errors; `None` without trace rows.
fn trace_series(rows: &[CurvatureRow], label: &str) -> Option<AxisSeries> {
    let mut s = AxisSeries {
        label: label.into(),
        ..AxisSeries::default()
    };
    for c in rows {
        if let (Some(t), Some(e)) = (c.trace, c.trace_err) {
            s.xs.push(c.epoch as f64);
            s.medians.push(t);
            s.bands.push((t - 1.96 * e, t + 1.96 * e));
        }
    }
    (!s.xs.is_empty()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Summary;
    use crate::spec::RunSpec;

    fn view(d: usize, lr: f64, seed: u64, count: f64, trace: f64, sharp: f64) -> RunView {
        RunView {
            run_id: format!("{d}-{lr}-{seed}"),
            spec: RunSpec {
                d: Some(d),
                lr: Some(lr),
                seed: Some(seed),
                weight_decay: Some(if lr < 0.5 { 0.1 } else { 0.0 }),
                loss: Some("square".into()),
                ..RunSpec::default()
            },
            summary: Summary {
                outlier_count_median: Some(count),
                outliers_complete: Some(true),
                trace: Some(trace),
                trace_err: Some(0.1),
                sharpness: Some(sharp),
                sharpness_err: Some(1e-4),
                min_eigenvalue: Some(-0.2),
                min_eigenvalue_err: Some(1e-3),
                ..Summary::default()
            },
        }
    }

    #[test]
    fn claims_follow_the_numbers() {
        // Edge of stability with 3 outliers, sharpness at 2/eta; the decay run has none.
        let runs = vec![
            view(10, 0.9, 0, 3.0, 40.0, 2.0 / 0.9 * 1.02),
            view(10, 0.01, 0, 0.0, 1.5, 1.0),
        ];
        let a = curvature(&runs);
        let verdicts: Vec<(String, String)> = a
            .rows
            .iter()
            .filter(|r| r.claim.is_some())
            .map(|r| (r.quantity.clone(), r.verdict.word().to_string()))
            .collect();
        assert_eq!(verdicts.len(), 4, "{verdicts:?}");
        assert!(verdicts.iter().all(|v| v.1 == "agrees"), "{verdicts:?}");
        // Far from 2/eta, with a decay run that has outliers and a larger trace: differs.
        let runs = vec![
            view(10, 0.9, 0, 0.0, 1.0, 2.0 / 0.9 * 0.5),
            view(10, 0.01, 0, 2.0, 30.0, 200.0),
        ];
        let a = curvature(&runs);
        let differ = a
            .rows
            .iter()
            .filter(|r| r.claim.is_some() && r.verdict.word() == "differs")
            .count();
        assert_eq!(differ, 4, "{:?}", a.rows);
    }

    #[test]
    fn outlier_series_follow_ranks_and_bounds() {
        let row = |epoch, outliers: Vec<(f64, f64)>| CurvatureRow {
            epoch,
            outlier_threshold: Some(1.0),
            outlier_count: Some(outliers.len()),
            outliers_complete: Some(true),
            missed_bound: Some(0.5),
            block_bound: Some(0.1),
            trace: Some(2.0),
            trace_err: Some(0.5),
            outliers,
        };
        let rows = vec![
            row(0, vec![(3.0, 0.1)]),
            row(10, vec![(4.0, 0.2), (2.0, 0.05)]),
        ];
        let s = outlier_series(&rows);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].xs, vec![0.0, 10.0]);
        assert_eq!(s[1].xs, vec![10.0]);
        assert_eq!(s[0].bands[1], (3.8, 4.2));
        let t = trace_series(&rows, "x").unwrap();
        assert_eq!(t.bands[0], (2.0 - 0.98, 2.0 + 0.98));
    }
}
