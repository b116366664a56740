//! One metric against one swept setting of a sweep: a line per value of the other varying
//! settings, each point the median over seeds with a min–max bar, optional horizontal
//! reference line (1 for sharpness / (2/eta)) and optional vertical one (a threshold of the
//! swept setting). Either axis is logarithmic when asked; the legend sits in a strip right of
//! the chart, never over the data.

use plotters::chart::{ChartBuilder, ChartContext};
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::combinators::{BindKeyPoints, IntoLogRange};
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::{
    Circle, Color, DashedLineSeries, DrawingArea, DrawingBackend, LineSeries, PathElement,
    RGBColor, BLACK,
};
use std::ops::Range;

use super::style::{self, series_color, LegendEntry, Symbol};
use super::{sealed, titled, Drawn, Figure, FigureError};

const NAME: &str = "metric against setting";

/// One line: the value of the other varying settings, and its points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AxisSeries {
    /// Legend label, for example `"n=64 loss=mse"` (empty for a single line).
    pub label: String,
    /// Values of the swept setting.
    pub xs: Vec<f64>,
    /// The median over seeds at each `x`.
    pub medians: Vec<f64>,
    /// `(min, max)` over seeds at each `x`.
    pub bands: Vec<(f64, f64)>,
}

/// A metric against a swept setting.
///
/// Points whose `x` or value is not finite (or not positive on a log axis) are left out.
/// Canvas 1000 x 620. Errors when no series has a drawable point or a series' columns have
/// different lengths.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AxisPlot {
    /// Figure title.
    pub title: String,
    /// The swept setting (x-axis description).
    pub x_label: String,
    /// The metric (y-axis description).
    pub y_label: String,
    /// Logarithmic x-axis.
    pub log_x: bool,
    /// Logarithmic y-axis.
    pub log_y: bool,
    /// A horizontal reference line, when there is one.
    pub reference: Option<f64>,
    /// A vertical reference line at this value of the swept setting, with its legend label
    /// (drawn dashed; left out when outside the x range).
    pub vertical: Option<(f64, String)>,
    /// Further horizontal reference lines with their legend labels (for example `2/eta` and
    /// `1.5/eta`), drawn dashed in shades of grey.
    pub references: Vec<(String, f64)>,
    /// The lines.
    pub series: Vec<AxisSeries>,
}

impl Figure for AxisPlot {
    fn name(&self) -> &'static str {
        NAME
    }

    fn size(&self) -> (u32, u32) {
        (1000, 620)
    }
}

impl AxisPlot {
    fn ok(&self, v: f64, log: bool) -> bool {
        v.is_finite() && (!log || v > 0.0)
    }

    /// The drawable `references` split into those drawn (near enough to the data to share
    /// its axis, see `style::reference_fits`) and those named in the legend as off the axis,
    /// so that a line far from the data (`2/eta = 200` above values near 3) cannot squash it.
    pub(crate) fn references_on_axis(
        &self,
        points: &[Vec<(f64, f64, f64, f64)>],
    ) -> (Vec<(String, f64)>, Vec<(String, f64)>) {
        let all = points.iter().flatten();
        let lo = all.clone().map(|p| p.2).fold(f64::INFINITY, f64::min);
        let hi = all.map(|p| p.3).fold(f64::NEG_INFINITY, f64::max);
        self.references
            .iter()
            .filter(|(_, r)| self.ok(*r, self.log_y))
            .cloned()
            .partition(|(_, r)| style::reference_fits(*r, lo, hi, self.log_y))
    }

    /// The drawable points of each series: `(x, median, min, max)`.
    pub(crate) fn points(&self) -> Result<Vec<Vec<(f64, f64, f64, f64)>>, FigureError> {
        self.series
            .iter()
            .map(|s| {
                if s.xs.len() != s.medians.len() || s.xs.len() != s.bands.len() {
                    return Err(FigureError::OutOfRange {
                        figure: NAME,
                        what: "series column lengths",
                        value: s.xs.len() as f64,
                        expected: "xs, medians and bands of one length",
                    });
                }
                let mut p: Vec<(f64, f64, f64, f64)> =
                    s.xs.iter()
                        .zip(&s.medians)
                        .zip(&s.bands)
                        .filter(|((x, m), _)| self.ok(**x, self.log_x) && self.ok(**m, self.log_y))
                        .map(|((&x, &m), &(lo, hi))| {
                            let lo = if self.ok(lo, self.log_y) { lo } else { m };
                            let hi = if self.ok(hi, self.log_y) { hi } else { m };
                            (x, m, lo.min(m), hi.max(m))
                        })
                        .collect();
                p.sort_by(|a, b| a.0.total_cmp(&b.0));
                Ok(p)
            })
            .collect()
    }
}

fn builder<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.margin(16)
        .margin_right(30)
        .x_label_area_size(64)
        .y_label_area_size(100);
    b
}

fn range(values: impl IntoIterator<Item = f64>, log: bool) -> Option<Range<f64>> {
    let v: Vec<f64> = values.into_iter().collect();
    if log {
        style::log_range(v)
    } else {
        style::linear_range(v)
    }
}

impl sealed::Render for AxisPlot {
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), FigureError> {
        let points = self.points()?;
        let all: Vec<&(f64, f64, f64, f64)> = points.iter().flatten().collect();
        if all.is_empty() {
            return Err(FigureError::NoData {
                figure: NAME,
                what: "points (no finite value)".into(),
            });
        }
        let xr = range(all.iter().map(|p| p.0), self.log_x);
        let (fitting, off) = self.references_on_axis(&points);
        let ys = all
            .iter()
            .flat_map(|p| [p.1, p.2, p.3])
            .chain(self.reference.filter(|r| self.ok(*r, self.log_y)))
            .chain(fitting.iter().map(|(_, r)| *r));
        let yr = range(ys, self.log_y);
        let shown = AxisPlot {
            references: fitting,
            ..self.clone()
        };
        let (Some(xr), Some(yr)) = (xr, yr) else {
            return Err(FigureError::NoData {
                figure: NAME,
                what: "axis range".into(),
            });
        };
        let titled_area = titled(root, &self.title, NAME)?;
        let mut entries = shown.legend_entries(&points);
        entries.extend(off.iter().map(|(label, r)| LegendEntry {
            label: format!("{label} = {} (off the axis)", style::format_sig(*r, 3)),
            color: style::REFERENCE,
            symbols: Vec::new(),
        }));
        let area = if entries.is_empty() {
            titled_area.clone()
        } else {
            let (w, _) = titled_area.dim_in_pixel();
            let legend_width = style::side_legend_width(&titled_area, "", &entries, NAME)?
                .max(160)
                .min(w / 2);
            let (plot_area, legend_area) = titled_area.split_horizontally(w - legend_width);
            style::side_legend(&legend_area, "", &entries, NAME)?;
            plot_area
        };
        let log = |r: &Range<f64>| r.clone().log_scale().with_key_points(style::log_ticks(r));
        match (self.log_x, self.log_y) {
            (false, false) => shown.draw(
                builder(&area)
                    .build_cartesian_2d(xr.clone(), yr.clone())
                    .drawn(NAME)?,
                &points,
                &xr,
            ),
            (true, false) => shown.draw(
                builder(&area)
                    .build_cartesian_2d(log(&xr), yr.clone())
                    .drawn(NAME)?,
                &points,
                &xr,
            ),
            (false, true) => shown.draw(
                builder(&area)
                    .build_cartesian_2d(xr.clone(), log(&yr))
                    .drawn(NAME)?,
                &points,
                &xr,
            ),
            (true, true) => shown.draw(
                builder(&area)
                    .build_cartesian_2d(log(&xr), log(&yr))
                    .drawn(NAME)?,
                &points,
                &xr,
            ),
        }
    }
}

impl AxisPlot {
    fn draw<'a, DB, X, Y>(
        &self,
        mut chart: ChartContext<'a, DB, Cartesian2d<X, Y>>,
        points: &[Vec<(f64, f64, f64, f64)>],
        xr: &Range<f64>,
    ) -> Result<(), FigureError>
    where
        DB: DrawingBackend + 'a,
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let x_desc = if self.log_x {
            format!("{} (log scale)", self.x_label)
        } else {
            self.x_label.clone()
        };
        let y_desc = if self.log_y {
            format!("{} (log scale)", self.y_label)
        } else {
            self.y_label.clone()
        };
        style::mesh(&mut chart, &x_desc, &y_desc, NAME)?;
        if let Some(r) = self.reference.filter(|r| self.ok(*r, self.log_y)) {
            chart
                .draw_series(LineSeries::new(
                    [(xr.start, r), (xr.end, r)],
                    BLACK.mix(0.6).stroke_width(2),
                ))
                .drawn(NAME)?;
        }
        if let Some((v, _)) = self
            .vertical
            .as_ref()
            .filter(|(v, _)| self.ok(*v, self.log_x) && xr.start <= *v && *v <= xr.end)
        {
            let y = chart.y_range();
            let (lo, hi) = (y.start, y.end);
            chart
                .draw_series(DashedLineSeries::new(
                    [(*v, lo), (*v, hi)],
                    10,
                    6,
                    style::REFERENCE.stroke_width(2),
                ))
                .drawn(NAME)?;
        }
        for (i, (_, r)) in self.references.iter().enumerate() {
            if !self.ok(*r, self.log_y) {
                continue;
            }
            let colour = Self::reference_colour(i);
            // Dashes: short segments along the line, evenly spaced on the x axis's scale.
            let (lo, hi) = (xr.start, xr.end);
            let segments = 40;
            let piece = |k: usize| {
                if self.log_x {
                    (lo.ln() + (hi.ln() - lo.ln()) * k as f64 / segments as f64).exp()
                } else {
                    lo + (hi - lo) * k as f64 / segments as f64
                }
            };
            chart
                .draw_series((0..segments).step_by(2).map(|k| {
                    PathElement::new(
                        vec![(piece(k), *r), (piece(k + 1), *r)],
                        colour.stroke_width(2),
                    )
                }))
                .drawn(NAME)?;
        }
        for (i, p) in points.iter().enumerate() {
            if p.is_empty() {
                continue;
            }
            let colour = series_color(i);
            chart
                .draw_series(LineSeries::new(
                    p.iter().map(|q| (q.0, q.1)),
                    colour.stroke_width(2),
                ))
                .drawn(NAME)?;
            chart
                .draw_series(
                    p.iter()
                        .map(|q| Circle::new((q.0, q.1), 5, colour.filled())),
                )
                .drawn(NAME)?;
            chart
                .draw_series(p.iter().filter(|q| q.3 > q.2).map(|q| {
                    PathElement::new(vec![(q.0, q.2), (q.0, q.3)], colour.stroke_width(2))
                }))
                .drawn(NAME)?;
        }
        Ok(())
    }

    /// The grey of the `i`-th of `references`.
    fn reference_colour(i: usize) -> RGBColor {
        let g = (40 + 60 * (i as u8 % 3)).min(200);
        RGBColor(g, g, g)
    }

    /// The side legend: the reference lines, then every labelled series with points.
    fn legend_entries(&self, points: &[Vec<(f64, f64, f64, f64)>]) -> Vec<LegendEntry> {
        let mut entries = Vec::new();
        if let Some(r) = self.reference.filter(|r| self.ok(*r, self.log_y)) {
            entries.push(LegendEntry {
                label: format!("reference {}", style::format_sig(r, 3)),
                color: style::REFERENCE,
                symbols: vec![Symbol::Line],
            });
        }
        for (i, (label, r)) in self.references.iter().enumerate() {
            if self.ok(*r, self.log_y) {
                entries.push(LegendEntry {
                    label: format!("{label} = {}", style::format_sig(*r, 3)),
                    color: Self::reference_colour(i),
                    symbols: vec![Symbol::Dashed],
                });
            }
        }
        if let Some((v, label)) = self
            .vertical
            .as_ref()
            .filter(|(v, _)| self.ok(*v, self.log_x))
        {
            entries.push(LegendEntry {
                label: format!("{label} = {}", style::format_sig(*v, 3)),
                color: style::REFERENCE,
                symbols: vec![Symbol::Dashed],
            });
        }
        for (i, (s, p)) in self.series.iter().zip(points).enumerate() {
            if !s.label.is_empty() && !p.is_empty() {
                entries.push(LegendEntry {
                    label: s.label.clone(),
                    color: series_color(i),
                    symbols: vec![Symbol::Line, Symbol::Dot],
                });
            }
        }
        entries
    }
}
