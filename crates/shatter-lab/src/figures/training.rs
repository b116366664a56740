//! Training curves: train loss and test MSE against epochs on a log axis, beside the sharpness
//! `lambda_max(H)` against epochs with the edge-of-stability line `2/eta` (SCIENCE.md
//! section 7, `shattering`: "sharpness oscillates near 2/eta"). Several runs overlay, one colour
//! each.

use plotters::chart::{ChartBuilder, ChartContext};
use plotters::coord::combinators::{BindKeyPoints, IntoLogRange};
use plotters::coord::ranged1d::Ranged;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::{
    Cartesian2d, Circle, Color, DashedLineSeries, DrawingArea, DrawingBackend, EmptyElement,
    LineSeries, PathElement, RGBColor, Text,
};
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{self, font, series_color, LegendEntry, Symbol};
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
        let width = if self.has_sharpness() { 1500 } else { 950 };
        (width, 620 + self.legend_height())
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
        let (_, area_h) = area.dim_in_pixel();
        let (area, legend_strip) = area.split_vertically(area_h - self.legend_height());
        let entries = self.legend_entries();
        let half = entries.len().div_ceil(2);
        let (width, _) = legend_strip.dim_in_pixel();
        let (left, right) = legend_strip.split_horizontally(width / 2);
        style::side_legend(&left.margin(0, 0, 60, 0), "", &entries[..half], NAME)?;
        style::side_legend(&right.margin(0, 0, 40, 0), "", &entries[half..], NAME)?;
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
        for (i, (train, test)) in loss.iter().enumerate() {
            let colour = series_color(i);
            let line = colour.stroke_width(style::line_width(train.len()));
            chart
                .draw_series(LineSeries::new(train.iter().copied(), line))
                .drawn(NAME)?;
            if train.len() <= MARKED_POINTS {
                chart
                    .draw_series(train.iter().map(|&p| Circle::new(p, 4, colour.filled())))
                    .drawn(NAME)?;
            }
            if !test.is_empty() {
                chart
                    .draw_series(DashedLineSeries::new(
                        test.iter().copied(),
                        9,
                        6,
                        colour.stroke_width(2),
                    ))
                    .drawn(NAME)?;
                if test.len() <= MARKED_POINTS {
                    chart
                        .draw_series(
                            test.iter()
                                .map(|&p| Circle::new(p, 5, colour.stroke_width(2))),
                        )
                        .drawn(NAME)?;
                }
            }
        }

        if let Some(panel) = panels.get(1) {
            self.sharpness_panel(panel, x_range)?;
        }
        Ok(())
    }
}

/// Lines with at most this many points also get a marker at each point, so a run recorded
/// once (the test MSE at the end only) is visible.
const MARKED_POINTS: usize = 30;

impl TrainingCurves {
    /// The legend below the panels: one entry per run (its colour), then what each line style
    /// means. Drawn outside the plotting areas, so it never covers data.
    fn legend_entries(&self) -> Vec<LegendEntry> {
        let mut entries: Vec<LegendEntry> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| LegendEntry {
                label: s.label.clone(),
                color: series_color(i),
                symbols: vec![Symbol::Line],
            })
            .collect();
        let black = plotters::prelude::RGBColor(0, 0, 0);
        entries.push(LegendEntry {
            label: "solid: train loss".into(),
            color: black,
            symbols: vec![Symbol::Line],
        });
        if self.series.iter().any(|s| s.test_mse.is_some()) {
            entries.push(LegendEntry {
                label: "dashed: test MSE".into(),
                color: black,
                symbols: vec![Symbol::Dashed],
            });
        }
        if self.has_sharpness() {
            entries.push(LegendEntry {
                label: "dots: sharpness λ_max(H); grey dashed: 2/η".into(),
                color: style::REFERENCE,
                symbols: vec![Symbol::Dot, Symbol::Dashed],
            });
        }
        entries
    }

    fn legend_height(&self) -> u32 {
        let rows = self.legend_entries().len().div_ceil(2) as u32;
        20 + rows * (style::LEGEND_SIZE * 1.55) as u32
    }

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
        let data: Vec<f64> = points
            .iter()
            .flatten()
            .filter(|p| !any_late || late(p))
            .flat_map(|p| [p.value - p.err, p.value, p.value + p.err])
            .collect();
        let log = style::wants_log_axis(data.iter().copied());
        let (lo, hi) =
            style::min_max(data.iter().copied().filter(|v| !log || *v > 0.0)).unwrap_or((0.0, 1.0));
        // Reference lines near the data set the range with them; one far outside is named in
        // an annotation at the axis edge instead of flattening the data.
        let (near, far): (Vec<(usize, f64)>, Vec<(usize, f64)>) = etas
            .iter()
            .map(|&(i, e)| (i, 2.0 / e))
            .partition(|&(_, level)| style::reference_fits(level, lo, hi, log));
        let levels = near.iter().map(|(_, l)| *l);
        let shared = etas.len() == 1;
        let colour_of = |i: usize| {
            if shared {
                style::REFERENCE
            } else {
                series_color(i)
            }
        };
        let notes: Vec<(RGBColor, String)> = far
            .iter()
            .map(|&(i, level)| {
                let side = if level > hi { "above" } else { "below" };
                let who = if shared {
                    String::new()
                } else {
                    format!(" ({})", self.series[i].label)
                };
                (
                    colour_of(i),
                    format!("2/η = {}{who}: far {side} the axis", style::fmt_num(level)),
                )
            })
            .collect();
        let clamp_points = |y_range: &std::ops::Range<f64>| -> Vec<Vec<SharpnessPoint>> {
            points
                .iter()
                .map(|pts| {
                    pts.iter()
                        .filter(|p| !log || p.value > 0.0)
                        .map(|p| SharpnessPoint {
                            value: p.value.clamp(y_range.start, y_range.end),
                            err: if p.value > y_range.end { 0.0 } else { p.err },
                            ..*p
                        })
                        .collect()
                })
                .collect()
        };
        let builder = |y_desc: &str| {
            let mut b = ChartBuilder::on(panel);
            b.caption("Sharpness", font(style::PANEL_TITLE_SIZE))
                .margin(16)
                .margin_right(30)
                .x_label_area_size(64)
                .y_label_area_size(90);
            (b, y_desc.to_string())
        };
        let lines: Vec<(RGBColor, f64)> = near.iter().map(|&(i, l)| (colour_of(i), l)).collect();
        if log {
            let y_range =
                style::log_range(data.iter().copied().chain(levels)).unwrap_or(lo / 2.0..hi * 2.0);
            let y_range = y_range.start..y_range.end * 1.3;
            let pts = clamp_points(&y_range);
            let (mut b, desc) = builder("sharpness λ_max(H) (log scale)");
            let mut chart = b
                .build_cartesian_2d(
                    x_range.clone(),
                    y_range
                        .clone()
                        .log_scale()
                        .with_key_points(style::log_ticks(&y_range)),
                )
                .drawn(NAME)?;
            style::mesh(&mut chart, "epoch", &desc, NAME)?;
            draw_sharpness(&mut chart, &x_range, &lines, &pts, &notes, y_range.end)
        } else {
            let y_range = style::linear_range(data.iter().copied().chain(levels).chain([0.0]))
                .unwrap_or(0.0..1.0);
            let y_range = y_range.start..y_range.end + 0.08 * (y_range.end - y_range.start);
            let pts = clamp_points(&y_range);
            let (mut b, desc) = builder("sharpness λ_max(H)");
            let mut chart = b
                .build_cartesian_2d(x_range.clone(), y_range.clone())
                .drawn(NAME)?;
            style::mesh(&mut chart, "epoch", &desc, NAME)?;
            draw_sharpness(&mut chart, &x_range, &lines, &pts, &notes, y_range.end)
        }
    }
}

/// Draws the `2/eta` lines, the sharpness points with error bars, and the notes for lines off
/// the axis (stacked below its top edge, right-aligned) on a chart with a linear or log y axis.
fn draw_sharpness<DB, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, Y>>,
    x_range: &std::ops::Range<f64>,
    lines: &[(RGBColor, f64)],
    points: &[Vec<SharpnessPoint>],
    notes: &[(RGBColor, String)],
    y_top: f64,
) -> Result<(), FigureError>
where
    DB: DrawingBackend,
    Y: Ranged<ValueType = f64>,
{
    for &(colour, level) in lines {
        chart
            .draw_series(DashedLineSeries::new(
                [(x_range.start, level), (x_range.end, level)],
                12,
                8,
                colour.stroke_width(2),
            ))
            .drawn(NAME)?;
    }
    for (i, pts) in points.iter().enumerate() {
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
                    .map(|at| EmptyElement::at(at) + PathElement::new(vec![(-4, 0), (4, 0)], bar)),
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
            .drawn(NAME)?;
    }
    for (k, (colour, text)) in notes.iter().enumerate() {
        let style = font(style::LEGEND_SIZE)
            .color(colour)
            .pos(Pos::new(HPos::Right, VPos::Top));
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((x_range.end, y_top))
                    + Text::new(format!("↑ {text}"), (-8, 6 + 26 * k as i32), style),
            ))
            .drawn(NAME)?;
    }
    Ok(())
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
