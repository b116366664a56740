//! The settings swept in a store (those that vary across its runs, seed aside), runs ordered
//! by them, and the main metrics plotted against each of them.

use super::analysis::RunView;
use super::error::ReproduceError;
use super::figs::{figure, ReportFigure};
use crate::figures::{AxisPlot, AxisSeries};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::Path;

/// At most this many lines per figure, one per value of the other varying settings; with more,
/// the runs at each value of the axis are pooled into one line.
const MAX_SERIES: usize = 6;

/// A run's resolved settings as a JSON object (every key present).
fn settings(v: &RunView) -> serde_json::Map<String, Value> {
    match serde_json::to_value(&v.spec) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

/// The settings whose values differ across `runs` (seed excluded), in alphabetical order.
pub fn swept_axes(runs: &[RunView]) -> Vec<String> {
    let all: Vec<serde_json::Map<String, Value>> = runs.iter().map(settings).collect();
    let Some(first) = all.first() else {
        return Vec::new();
    };
    first
        .keys()
        .filter(|k| k.as_str() != "seed")
        .filter(|k| all.iter().any(|m| m.get(*k) != first.get(*k)))
        .cloned()
        .collect()
}

/// A setting's value of a run, as text (strings unquoted).
pub fn value_text(v: &RunView, key: &str) -> String {
    match settings(v).get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x.total_cmp(&y)
        }
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
        (x, y) => x.is_some().cmp(&y.is_some()),
    }
}

/// `runs` ordered by the values of `axes` in turn (numbers numerically), then by seed.
pub fn order_by_axes<'a>(runs: &'a [RunView], axes: &[String]) -> Vec<&'a RunView> {
    let keyed: Vec<(serde_json::Map<String, Value>, &RunView)> =
        runs.iter().map(|v| (settings(v), v)).collect();
    let mut order: Vec<&(serde_json::Map<String, Value>, &RunView)> = keyed.iter().collect();
    order.sort_by(|(a, va), (b, vb)| {
        axes.iter()
            .map(|k| compare_values(a.get(k), b.get(k)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
            .then(va.spec.seed.cmp(&vb.spec.seed))
            .then(va.run_id.cmp(&vb.run_id))
    });
    order.into_iter().map(|(_, v)| *v).collect()
}

/// One metric of the figures: name, file stem, how to read it, reference line.
struct Metric {
    name: &'static str,
    stem: &'static str,
    value: fn(&RunView) -> Option<f64>,
    reference: Option<f64>,
}

const METRICS: [Metric; 4] = [
    Metric {
        name: "test MSE",
        stem: "test_mse",
        value: |v| v.summary.test_mse,
        reference: None,
    },
    Metric {
        name: "final train loss",
        stem: "train_loss",
        value: |v| v.summary.final_train_loss,
        reference: None,
    },
    Metric {
        name: "final sharpness / (2/eta)",
        stem: "sharpness",
        value: |v| v.summary.sharpness.map(|s| s / v.summary.two_over_eta),
        reference: Some(1.0),
    },
    Metric {
        name: "fraction of active neurons shattered",
        stem: "shattered",
        value: |v| v.summary.frac_shattered,
        reference: None,
    },
];

fn spans_decade(values: &[f64]) -> bool {
    let pos: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if pos.is_empty() || pos.iter().any(|v| *v <= 0.0) {
        return false;
    }
    let lo = pos.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = pos.iter().copied().fold(0.0, f64::max);
    hi / lo > 10.0
}

fn seed_list(runs: &[&RunView]) -> String {
    let mut seeds: Vec<u64> = runs.iter().map(|v| v.spec.seed.unwrap_or(0)).collect();
    seeds.sort_unstable();
    seeds.dedup();
    seeds
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// For each swept axis and each metric with a finite value, the metric against the axis:
/// median over seeds with min–max bars, one line per value of the other swept settings when
/// there are at most `MAX_SERIES`, log x when the axis spans more than a decade (log y likewise
/// for the metric). A setting with text values is placed at positions 0, 1, ... named in the
/// axis description.
pub fn axis_figures(done: &[RunView], dir: &Path) -> Result<Vec<ReportFigure>, ReproduceError> {
    let axes = swept_axes(done);
    let mut figs = Vec::new();
    for axis in &axes {
        let values: Vec<(Option<Value>, &RunView)> = done
            .iter()
            .map(|v| (settings(v).get(axis).cloned(), v))
            .collect();
        let numeric = values
            .iter()
            .all(|(x, _)| matches!(x, Some(Value::Number(_))));
        let mut labels: Vec<String> = values.iter().map(|(_, v)| value_text(v, axis)).collect();
        labels.sort();
        labels.dedup();
        let x_of = |v: &RunView| -> f64 {
            let text = value_text(v, axis);
            if numeric {
                text.parse().unwrap_or(f64::NAN)
            } else {
                labels
                    .iter()
                    .position(|l| *l == text)
                    .map_or(f64::NAN, |i| i as f64)
            }
        };
        let xs: Vec<f64> = done.iter().map(|v| x_of(v)).collect();
        let log_x = numeric && spans_decade(&xs);
        let x_label = if numeric {
            axis.clone()
        } else {
            let named: Vec<String> = labels
                .iter()
                .enumerate()
                .map(|(i, l)| format!("{i} = {l}"))
                .collect();
            format!("{axis} ({})", named.join(", "))
        };
        let others: Vec<&String> = axes.iter().filter(|a| *a != axis).collect();
        let group_of = |v: &RunView| -> String {
            others
                .iter()
                .map(|k| format!("{k}={}", value_text(v, k)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut groups: BTreeMap<String, Vec<&RunView>> = BTreeMap::new();
        for v in done {
            groups.entry(group_of(v)).or_default().push(v);
        }
        let pooled = groups.len() > MAX_SERIES;
        if pooled {
            groups = BTreeMap::from([(String::new(), done.iter().collect())]);
        }
        for metric in &METRICS {
            let mut series = Vec::new();
            let mut all_values = Vec::new();
            for (label, runs) in &groups {
                let mut at: BTreeMap<u64, (f64, Vec<f64>)> = BTreeMap::new();
                for v in runs {
                    let (x, y) = (x_of(v), (metric.value)(v));
                    if let Some(y) = y.filter(|y| y.is_finite() && x.is_finite()) {
                        at.entry(x.to_bits()).or_insert((x, Vec::new())).1.push(y);
                        all_values.push(y);
                    }
                }
                let mut points: Vec<(f64, Vec<f64>)> = at.into_values().collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                if points.is_empty() {
                    continue;
                }
                series.push(AxisSeries {
                    label: label.clone(),
                    xs: points.iter().map(|p| p.0).collect(),
                    medians: points
                        .iter()
                        .map(|p| super::stats::median(&p.1).unwrap_or(f64::NAN))
                        .collect(),
                    bands: points
                        .iter()
                        .map(|p| {
                            let lo = p.1.iter().copied().fold(f64::INFINITY, f64::min);
                            let hi = p.1.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                            (lo, hi)
                        })
                        .collect(),
                });
            }
            if series.is_empty() {
                continue;
            }
            let log_y = spans_decade(&all_values);
            let plot = AxisPlot {
                title: format!("{} against {axis}", metric.name),
                x_label: x_label.clone(),
                y_label: metric.name.into(),
                log_x,
                log_y,
                reference: metric.reference,
                vertical: None,
                references: Vec::new(),
                series,
            };
            let runs: Vec<&RunView> = done.iter().collect();
            let lines = if pooled {
                format!(
                    "one line pooling every value of {} (more than {MAX_SERIES} combinations)",
                    others
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else if others.is_empty() {
                "one line".to_string()
            } else {
                format!(
                    "one line per value of {}",
                    others
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let reference = metric
                .reference
                .map(|r| {
                    format!(
                        "; the black line marks {}",
                        crate::figures::style::format_sig(r, 3)
                    )
                })
                .unwrap_or_default();
            figs.push(figure(
                &plot,
                "metric against setting",
                &dir.join(format!("axis_{axis}_{}", metric.stem)),
                format!(
                    "{} against {axis}: median over seeds {} with min-max bars, {lines}{reference}.",
                    metric.name,
                    seed_list(&runs)
                ),
            )?);
        }
    }
    Ok(figs)
}
