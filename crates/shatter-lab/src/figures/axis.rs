//! One metric against one swept setting of a sweep: a line per value of the other varying
//! settings, each point the median over seeds with a min–max bar, optional horizontal
//! reference line (1 for sharpness / (2/eta)). Either axis is logarithmic when asked.

use plotters::chart::{ChartBuilder, ChartContext, SeriesLabelPosition};
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::combinators::{BindKeyPoints, IntoLogRange};
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::{
    Circle, Color, DrawingArea, DrawingBackend, LineSeries, PathElement, BLACK,
};
use std::ops::Range;

use super::style::{self, series_color};
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
    /// Further horizontal reference lines with their legend labels (for example `2/eta` and
    /// `1.5/eta`), drawn in shades of grey.
    pub references: Vec<(String, f64)>,
    /// Whether the legend goes in a strip beside the chart (never over data; canvas 1300 wide)
    /// instead of inside its upper right corner.
    pub legend_beside: bool,
    /// The lines.
    pub series: Vec<AxisSeries>,
}

impl Figure for AxisPlot {
    fn name(&self) -> &'static str {
        NAME
    }

    fn size(&self) -> (u32, u32) {
        if self.legend_beside {
            (1300, 620)
        } else {
            (1000, 620)
        }
    }
}

impl AxisPlot {
    fn ok(&self, v: f64, log: bool) -> bool {
        v.is_finite() && (!log || v > 0.0)
    }

    /// The drawable points of each series: `(x, median, min, max)`.
    fn points(&self) -> Result<Vec<Vec<(f64, f64, f64, f64)>>, FigureError> {
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
        let ys = all
            .iter()
            .flat_map(|p| [p.1, p.2, p.3])
            .chain(self.reference.filter(|r| self.ok(*r, self.log_y)))
            .chain(
                self.references
                    .iter()
                    .map(|r| r.1)
                    .filter(|r| self.ok(*r, self.log_y)),
            );
        let yr = range(ys, self.log_y);
        let (Some(xr), Some(yr)) = (xr, yr) else {
            return Err(FigureError::NoData {
                figure: NAME,
                what: "axis range".into(),
            });
        };
        let area = titled(root, &self.title, NAME)?;
        let area = if self.legend_beside {
            let (w, _) = area.dim_in_pixel();
            let (chart, strip) = area.split_horizontally(w.saturating_sub(300));
            style::side_legend(&strip.margin(40, 0, 0, 0), "", &self.legend_entries(), NAME)?;
            chart
        } else {
            area
        };
        let log = |r: &Range<f64>| r.clone().log_scale().with_key_points(style::log_ticks(r));
        match (self.log_x, self.log_y) {
            (false, false) => self.draw(
                builder(&area)
                    .build_cartesian_2d(xr.clone(), yr.clone())
                    .drawn(NAME)?,
                &points,
                &xr,
            ),
            (true, false) => self.draw(
                builder(&area)
                    .build_cartesian_2d(log(&xr), yr.clone())
                    .drawn(NAME)?,
                &points,
                &xr,
            ),
            (false, true) => self.draw(
                builder(&area)
                    .build_cartesian_2d(xr.clone(), log(&yr))
                    .drawn(NAME)?,
                &points,
                &xr,
            ),
            (true, true) => self.draw(
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
    /// Grey shades of the extra reference lines.
    fn reference_colour(i: usize) -> plotters::style::RGBColor {
        let g = (40 + 60 * (i as u8 % 3)).min(200);
        plotters::style::RGBColor(g, g, g)
    }

    /// The entries of a legend beside the chart: each labelled series, then each reference.
    fn legend_entries(&self) -> Vec<style::LegendEntry> {
        let mut entries: Vec<style::LegendEntry> = self
            .series
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.label.is_empty())
            .map(|(i, s)| style::LegendEntry {
                label: s.label.clone(),
                color: series_color(i),
                symbols: vec![style::Symbol::Line, style::Symbol::Dot],
            })
            .collect();
        if let Some(r) = self.reference {
            entries.push(style::LegendEntry {
                label: format!("reference {}", style::format_sig(r, 3)),
                color: plotters::style::RGBColor(100, 100, 100),
                symbols: vec![style::Symbol::Line],
            });
        }
        for (i, (label, _)) in self.references.iter().enumerate() {
            entries.push(style::LegendEntry {
                label: label.clone(),
                color: Self::reference_colour(i),
                symbols: vec![style::Symbol::Dashed],
            });
        }
        entries
    }

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
                .drawn(NAME)?
                .label(format!("reference {}", style::format_sig(r, 3)))
                .legend(move |(x, y)| style::line_symbol(x, y, BLACK.mix(0.6).stroke_width(3)));
        }
        for (i, (label, r)) in self.references.iter().enumerate() {
            if !self.ok(*r, self.log_y) {
                continue;
            }
            let colour = Self::reference_colour(i);
            // Dashes: short segments along the line.
            let (lo, hi) = (xr.start, xr.end);
            let segments = 40;
            let piece = |k: usize| {
                if self.log_x {
                    (lo.ln() + (hi.ln() - lo.ln()) * k as f64 / segments as f64).exp()
                } else {
                    lo + (hi - lo) * k as f64 / segments as f64
                }
            };
            let drawn = chart
                .draw_series((0..segments).step_by(2).map(|k| {
                    PathElement::new(
                        vec![(piece(k), *r), (piece(k + 1), *r)],
                        colour.stroke_width(2),
                    )
                }))
                .drawn(NAME)?;
            if !self.legend_beside {
                drawn
                    .label(format!("{label} = {}", style::format_sig(*r, 3)))
                    .legend(move |(x, y)| style::line_symbol(x, y, colour.stroke_width(3)));
            }
        }
        let labelled = self.series.iter().any(|s| !s.label.is_empty());
        for (i, (s, p)) in self.series.iter().zip(points).enumerate() {
            if p.is_empty() {
                continue;
            }
            let colour = series_color(i);
            let drawn = chart
                .draw_series(LineSeries::new(
                    p.iter().map(|q| (q.0, q.1)),
                    colour.stroke_width(2),
                ))
                .drawn(NAME)?;
            if labelled && !self.legend_beside {
                drawn
                    .label(s.label.clone())
                    .legend(move |(x, y)| style::line_symbol(x, y, colour.stroke_width(3)));
            }
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
        if !self.legend_beside
            && (labelled || self.reference.is_some() || !self.references.is_empty())
        {
            style::legend(&mut chart, SeriesLabelPosition::UpperRight, NAME)?;
        }
        Ok(())
    }
}
