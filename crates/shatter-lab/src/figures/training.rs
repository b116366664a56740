//! Training curves: train loss and test MSE against epochs on a log axis, beside the sharpness
//! `lambda_max(H)` against epochs with the edge-of-stability line `2/eta` (SCIENCE.md
//! section 7, `shattering`: "sharpness oscillates near 2/eta"). Several runs overlay, one colour
//! each.

use plotters::chart::{ChartBuilder, SeriesLabelPosition};
use plotters::coord::combinators::{BindKeyPoints, IntoLogRange};
use plotters::coord::Shift;
use plotters::prelude::{
    Circle, Color, DashedLineSeries, DrawingArea, DrawingBackend, EmptyElement, LineSeries,
    PathElement,
};

use super::style::{self, font, series_color};
use super::{sealed, titled, Drawn, Figure, FigureError};

const NAME: &str = "training curves";

/// Points of one line.
type Line = Vec<(f64, f64)>;

/// Lines longer than this are thinned (keeping each bucket's minimum and maximum, so spikes
/// and edge-of-stability oscillations survive) to keep SVGs small.
const MAX_LINE_POINTS: usize = 4000;

/// One sharpness measurement: the top Hessian eigenvalue at an epoch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SharpnessPoint {
    /// Epoch of the measurement.
    pub epoch: f64,
    /// `lambda_max(H)`.
    pub value: f64,
    /// Half-width of its error bar (Lanczos residual bound, for example); `0` draws none.
    pub err: f64,
}

/// One run's curves.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainingSeries {
    /// Legend label, for example `"eta = 0.9, loss 1/(2n)"`.
    pub label: String,
    /// Epochs at which `train_loss` (and `test_mse`) were recorded.
    pub epochs: Vec<f64>,
    /// Training loss, one per epoch. Non-finite and non-positive values are skipped (log axis).
    pub train_loss: Vec<f64>,
    /// Test MSE, one per epoch when given; drawn dashed in the run's colour.
    pub test_mse: Option<Vec<f64>>,
    /// Sharpness measurements; non-finite ones are skipped. The sharpness panel is drawn when
    /// any run has one.
    pub sharpness: Vec<SharpnessPoint>,
    /// Step size of the run, for its `2/eta` line; `None` draws none.
    pub eta: Option<f64>,
}

/// Training curves of one or more runs.
///
/// Left panel: train loss (solid) and test MSE (dashed) on a log axis. Right panel, when any
/// run has sharpness points: sharpness with error bars and a dashed `2/eta` line per distinct
/// step size (grey when all runs share one, in the run's colour otherwise). Canvas 1500 x 620
/// with both panels, 950 x 620 without sharpness. Errors when no run has a drawable loss value
/// or when a run's columns have different lengths.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainingCurves {
    /// Figure title; `None` gives "Training curves".
    pub title: Option<String>,
    /// The runs, drawn in order with the palette's colours.
    pub series: Vec<TrainingSeries>,
}

impl TrainingCurves {
    fn has_sharpness(&self) -> bool {
        self.series.iter().any(|s| {
            s.sharpness
                .iter()
                .any(|p| p.epoch.is_finite() && p.value.is_finite())
        })
    }

    fn check(&self) -> Result<(), FigureError> {
        if self.series.is_empty() {
            return Err(FigureError::NoData {
                figure: NAME,
                what: "series (none given)".into(),
            });
        }
        for s in &self.series {
            let mismatch = |what: &str, right: usize| FigureError::LengthMismatch {
                figure: NAME,
                what: format!("series `{}`: epochs and {what}", s.label),
                left: s.epochs.len(),
                right,
            };
            if s.train_loss.len() != s.epochs.len() {
                return Err(mismatch("train_loss", s.train_loss.len()));
            }
            if let Some(test) = &s.test_mse {
                if test.len() != s.epochs.len() {
                    return Err(mismatch("test_mse", test.len()));
                }
            }
            if let Some(eta) = s.eta {
                if !(eta.is_finite() && eta > 0.0) {
                    return Err(FigureError::OutOfRange {
                        figure: NAME,
                        what: "eta",
                        value: eta,
                        expected: "a finite step size > 0",
                    });
                }
            }
        }
        Ok(())
    }
}

/// Points `(x, y)` with both finite and `y > 0` (for a log axis).
fn positive_points(xs: &[f64], ys: &[f64]) -> Vec<(f64, f64)> {
    xs.iter()
        .zip(ys)
        .filter(|(x, y)| x.is_finite() && y.is_finite() && **y > 0.0)
        .map(|(&x, &y)| (x, y))
        .collect()
}

/// Thins a line to about `max` points, keeping each bucket's extremes in order.
pub(crate) fn thin(points: Vec<(f64, f64)>, max: usize) -> Vec<(f64, f64)> {
    if points.len() <= max || max < 4 {
        return points;
    }
    let buckets = max / 2;
    let size = points.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(2 * buckets + 1);
    for chunk in points.chunks(size) {
        let (mut lo, mut hi) = (0, 0);
        for (i, p) in chunk.iter().enumerate() {
            if p.1 < chunk[lo].1 {
                lo = i;
            }
            if p.1 > chunk[hi].1 {
                hi = i;
            }
        }
        let (a, b) = (lo.min(hi), lo.max(hi));
        out.push(chunk[a]);
        if b != a {
            out.push(chunk[b]);
        }
    }
    if let (Some(last), Some(kept)) = (points.last(), out.last()) {
        if last != kept {
            out.push(*last);
        }
    }
    out
}

impl Figure for TrainingCurves {
    fn name(&self) -> &'static str {
        NAME
    }

    fn size(&self) -> (u32, u32) {
        if self.has_sharpness() {
            (1500, 620)
        } else {
            (950, 620)
        }
    }
}

impl sealed::Render for TrainingCurves {
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), FigureError> {
        self.check()?;
        // Per run: (train loss, test MSE) points that a log axis can show.
        let loss: Vec<(Line, Line)> = self
            .series
            .iter()
            .map(|s| {
                let train = thin(positive_points(&s.epochs, &s.train_loss), MAX_LINE_POINTS);
                let test = s
                    .test_mse
                    .as_ref()
                    .map(|t| thin(positive_points(&s.epochs, t), MAX_LINE_POINTS))
                    .unwrap_or_default();
                (train, test)
            })
            .collect();
        let all = || loss.iter().flat_map(|(a, b)| a.iter().chain(b));
        let (Some(x_range), Some(y_range)) = (
            style::linear_range(all().map(|p| p.0)),
            style::log_range(all().map(|p| p.1)),
        ) else {
            return Err(FigureError::NoData {
                figure: NAME,
                what: "train loss and test MSE (no finite positive value)".into(),
            });
        };
        let x_range = x_range.start.max(0.0).min(x_range.end - 1e-9)..x_range.end;

        let title = self.title.as_deref().unwrap_or("Training curves");
        let area = titled(root, title, NAME)?;
        let panels = if self.has_sharpness() {
            area.split_evenly((1, 2))
        } else {
            vec![area]
        };

        let mut chart = ChartBuilder::on(&panels[0])
            .caption("Loss and test error", font(style::PANEL_TITLE_SIZE))
            .margin(16)
            .margin_right(30)
            .x_label_area_size(64)
            .y_label_area_size(100)
            .build_cartesian_2d(
                x_range.clone(),
                y_range
                    .clone()
                    .log_scale()
                    .with_key_points(style::log_ticks(&y_range)),
            )
            .drawn(NAME)?;
        style::mesh(&mut chart, "epoch", "loss / MSE (log scale)", NAME)?;
        for (i, (s, (train, test))) in self.series.iter().zip(&loss).enumerate() {
            let colour = series_color(i);
            let line = colour.stroke_width(style::line_width(train.len()));
            chart
                .draw_series(LineSeries::new(train.iter().copied(), line))
                .drawn(NAME)?
                .label(format!("{}: train loss", s.label))
                .legend(move |(x, y)| style::line_symbol(x, y, colour.stroke_width(3)));
            if !test.is_empty() {
                chart
                    .draw_series(DashedLineSeries::new(
                        test.iter().copied(),
                        9,
                        6,
                        colour.stroke_width(2),
                    ))
                    .drawn(NAME)?
                    .label(format!("{}: test MSE", s.label))
                    .legend(move |(x, y)| style::dashed_symbol(x, y, colour.stroke_width(3)));
            }
        }
        style::legend(&mut chart, SeriesLabelPosition::UpperRight, NAME)?;

        if let Some(panel) = panels.get(1) {
            self.sharpness_panel(panel, x_range)?;
        }
        Ok(())
    }
}

impl TrainingCurves {
    fn sharpness_panel<DB: DrawingBackend>(
        &self,
        panel: &DrawingArea<DB, Shift>,
        x_range: std::ops::Range<f64>,
    ) -> Result<(), FigureError> {
        let points: Vec<Vec<SharpnessPoint>> = self
            .series
            .iter()
            .map(|s| {
                s.sharpness
                    .iter()
                    .filter(|p| p.epoch.is_finite() && p.value.is_finite())
                    .map(|p| SharpnessPoint {
                        err: if p.err.is_finite() { p.err.abs() } else { 0.0 },
                        ..*p
                    })
                    .collect()
            })
            .collect();
        let mut etas: Vec<(usize, f64)> = Vec::new();
        for (i, s) in self.series.iter().enumerate() {
            if let Some(eta) = s.eta {
                if !etas.iter().any(|(_, e)| *e == eta) {
                    etas.push((i, eta));
                }
            }
        }
        let x_range = match style::min_max(points.iter().flatten().map(|p| p.epoch)) {
            Some((lo, hi)) => lo.min(x_range.start)..hi.max(x_range.end),
            None => x_range,
        };
        // The axis fits the last 90% of training and the 2/eta lines: the sharpness at
        // initialisation is often far above the edge of stability and would flatten the plateau.
        // Earlier points above the axis are drawn at its top edge.
        let cut = x_range.start + 0.1 * (x_range.end - x_range.start);
        let late = |p: &&SharpnessPoint| p.epoch >= cut;
        let any_late = points.iter().flatten().any(|p| late(&p));
        let y_values = points
            .iter()
            .flatten()
            .filter(|p| !any_late || late(p))
            .flat_map(|p| [p.value - p.err, p.value + p.err])
            .chain(etas.iter().map(|(_, e)| 2.0 / e))
            .chain([0.0]);
        let y_range = style::linear_range(y_values).unwrap_or(0.0..1.0);
        let y_range = y_range.start..y_range.end + 0.06 * (y_range.end - y_range.start);
        let points: Vec<Vec<SharpnessPoint>> = points
            .into_iter()
            .map(|pts| {
                pts.into_iter()
                    .map(|p| SharpnessPoint {
                        value: p.value.clamp(y_range.start, y_range.end),
                        err: if p.value > y_range.end { 0.0 } else { p.err },
                        ..p
                    })
                    .collect()
            })
            .collect();

        let mut chart = ChartBuilder::on(panel)
            .caption("Sharpness", font(style::PANEL_TITLE_SIZE))
            .margin(16)
            .margin_right(30)
            .x_label_area_size(64)
            .y_label_area_size(90)
            .build_cartesian_2d(x_range.clone(), y_range)
            .drawn(NAME)?;
        style::mesh(&mut chart, "epoch", "sharpness λ_max(H)", NAME)?;

        let shared = etas.len() == 1;
        for (i, eta) in &etas {
            let colour = if shared {
                style::REFERENCE
            } else {
                series_color(*i)
            };
            let level = 2.0 / eta;
            let label = if shared {
                format!("2/η = {}", style::format_sig(level, 3))
            } else {
                format!(
                    "2/η = {} ({})",
                    style::format_sig(level, 3),
                    self.series[*i].label
                )
            };
            chart
                .draw_series(DashedLineSeries::new(
                    [(x_range.start, level), (x_range.end, level)],
                    12,
                    8,
                    colour.stroke_width(2),
                ))
                .drawn(NAME)?
                .label(label)
                .legend(move |(x, y)| style::dashed_symbol(x, y, colour.stroke_width(2)));
        }
        for (i, (s, pts)) in self.series.iter().zip(&points).enumerate() {
            if pts.is_empty() {
                continue;
            }
            let colour = series_color(i);
            let bar = colour.stroke_width(1);
            chart
                .draw_series(
                    pts.iter()
                        .filter(|p| p.err > 0.0)
                        .flat_map(|p| [p.value - p.err, p.value + p.err].map(|y| (p.epoch, y)))
                        .map(|at| {
                            EmptyElement::at(at) + PathElement::new(vec![(-4, 0), (4, 0)], bar)
                        }),
                )
                .drawn(NAME)?;
            chart
                .draw_series(pts.iter().filter(|p| p.err > 0.0).map(|p| {
                    PathElement::new(
                        vec![(p.epoch, p.value - p.err), (p.epoch, p.value + p.err)],
                        bar,
                    )
                }))
                .drawn(NAME)?;
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (p.epoch, p.value)),
                    colour.mix(0.6).stroke_width(1),
                ))
                .drawn(NAME)?;
            let radius = if pts.len() > 400 { 2 } else { 4 };
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((p.epoch, p.value), radius, colour.filled())),
                )
                .drawn(NAME)?
                .label(s.label.clone())
                .legend(move |(x, y)| Circle::new((x + 14, y), 5, colour.filled()));
        }
        style::legend(&mut chart, SeriesLabelPosition::LowerRight, NAME)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_spikes_and_ends() {
        let mut points: Vec<(f64, f64)> = (0..10_000).map(|i| (i as f64, 1.0)).collect();
        points[5_003].1 = 50.0;
        let thinned = thin(points, 100);
        assert!(thinned.len() <= 102, "{} points", thinned.len());
        assert!(thinned.iter().any(|p| p.1 == 50.0));
        assert_eq!(thinned.first().map(|p| p.0), Some(0.0));
        assert_eq!(thinned.last().map(|p| p.0), Some(9_999.0));
        assert!(thinned.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
