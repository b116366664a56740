//! Figures of the lower-bound construction (`shatter_core::construction`): the atoms'
//! function in `d = 2` (a heat map over the unit disk and a slice along its boundary circle),
//! and curves with a legend in a strip beside the chart (`CurvePlot`: one atom's `|f|_Vg`
//! against the cap height, the number of atoms against `d`), either axis logarithmic.

use plotters::chart::{ChartBuilder, ChartContext};
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::combinators::{BindKeyPoints, IntoLogRange};
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::{
    Circle, Color, DashedLineSeries, DrawingArea, DrawingBackend, LineSeries, Polygon, Rectangle,
    BLACK, WHITE,
};
use std::ops::Range;

use super::style::{self, series_color, viridis, LegendEntry, Symbol};
use super::{sealed, titled, Drawn, Figure, FigureError};

const MAP: &str = "atom map";
const CURVES: &str = "curve plot";

/// The function `f(x) = sum_j s_j a relu(u_j . x - t)` of a few atoms in `d = 2`: a heat map
/// over the unit disk (viridis from `-a (1 - t)` to `a (1 - t)`, white outside the disk, the
/// unit circle and each cap's chord drawn; only cells inside a cap are drawn one by one) and, right, `f` along the unit circle against the
/// angle (the slice through every cap at its widest).
///
/// Evaluates `f` on a `resolution x resolution` grid and at 1441 angles. Canvas 1500 x 680.
/// Errors when there is no atom, a direction is not 2-dimensional, the signs do not pair up
/// with the directions, or `offset` is outside `(0, 1)` or `resolution < 8`.
#[derive(Clone, Debug, PartialEq)]
pub struct AtomMap {
    /// Figure title.
    pub title: String,
    /// Unit directions `u_j`, one `[x, y]` each.
    pub directions: Vec<[f64; 2]>,
    /// Sign `s_j` of each atom (`+1` or `-1`).
    pub signs: Vec<f64>,
    /// Amplitude `a`.
    pub amplitude: f64,
    /// Offset `t` in `(0, 1)`.
    pub offset: f64,
    /// Grid cells per side of the heat map; at least 8 (200 is smooth).
    pub resolution: usize,
}

impl Figure for AtomMap {
    fn name(&self) -> &'static str {
        MAP
    }

    fn size(&self) -> (u32, u32) {
        (1500, 680)
    }
}

impl AtomMap {
    fn value(&self, x: f64, y: f64) -> f64 {
        self.directions
            .iter()
            .zip(&self.signs)
            .map(|(u, s)| s * self.amplitude * (u[0] * x + u[1] * y - self.offset).max(0.0))
            .sum()
    }

    fn check(&self) -> Result<(), FigureError> {
        if self.directions.is_empty() {
            return Err(FigureError::NoData {
                figure: MAP,
                what: "atoms (none given)".into(),
            });
        }
        if self.signs.len() != self.directions.len() {
            return Err(FigureError::LengthMismatch {
                figure: MAP,
                what: "directions and signs".into(),
                left: self.directions.len(),
                right: self.signs.len(),
            });
        }
        if !(self.offset > 0.0 && self.offset < 1.0) {
            return Err(FigureError::OutOfRange {
                figure: MAP,
                what: "offset",
                value: self.offset,
                expected: "a number in (0, 1)",
            });
        }
        if !(self.amplitude.is_finite() && self.amplitude > 0.0) {
            return Err(FigureError::OutOfRange {
                figure: MAP,
                what: "amplitude",
                value: self.amplitude,
                expected: "a finite number > 0",
            });
        }
        if self.resolution < 8 {
            return Err(FigureError::OutOfRange {
                figure: MAP,
                what: "resolution",
                value: self.resolution as f64,
                expected: "at least 8",
            });
        }
        Ok(())
    }
}

impl sealed::Render for AtomMap {
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), FigureError> {
        self.check()?;
        let peak = self.amplitude * (1.0 - self.offset);
        let area = titled(root, &self.title, MAP)?;
        // The map's plot area is square: its width is the height left after the margins
        // (16 each side) and the x label area (60), plus the y label area (80).
        let (_, height) = area.dim_in_pixel();
        let map_width = height.saturating_sub(92) + 112;
        let (left, right) = area.split_horizontally(map_width + 130);
        let (map_area, bar_area) = left.split_horizontally(map_width);
        let mut chart = ChartBuilder::on(&map_area)
            .margin(16)
            .x_label_area_size(60)
            .y_label_area_size(80)
            .build_cartesian_2d(-1.05f64..1.05f64, -1.05f64..1.05f64)
            .drawn(MAP)?;
        style::mesh(&mut chart, "x1", "x2", MAP)?;
        // The disk at f = 0, then only the cells inside some cap (keeps the SVG small).
        let disk: Vec<(f64, f64)> = (0..720)
            .map(|k| {
                let a = k as f64 / 720.0 * std::f64::consts::TAU;
                (a.cos(), a.sin())
            })
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(disk, viridis(0.5).filled())))
            .drawn(MAP)?;
        let n = self.resolution;
        let step = 2.1 / n as f64;
        let cells = (0..n * n).filter_map(|k| {
            let (i, j) = (k % n, k / n);
            let (x0, y0) = (-1.05 + i as f64 * step, -1.05 + j as f64 * step);
            let (cx, cy) = (x0 + 0.5 * step, y0 + 0.5 * step);
            if cx * cx + cy * cy > 1.0 {
                return None;
            }
            let f = self.value(cx, cy);
            if f == 0.0 {
                return None;
            }
            let colour = viridis(0.5 + 0.5 * f / peak);
            Some(Rectangle::new(
                [(x0, y0), (x0 + step, y0 + step)],
                colour.filled(),
            ))
        });
        chart.draw_series(cells).drawn(MAP)?;
        let circle = (0..=720).map(|k| {
            let a = k as f64 / 720.0 * std::f64::consts::TAU;
            (a.cos(), a.sin())
        });
        chart
            .draw_series(LineSeries::new(circle, BLACK.stroke_width(2)))
            .drawn(MAP)?;
        // Each cap's chord: the segment of u . x = t inside the disk.
        let half = (1.0 - self.offset * self.offset).sqrt();
        for u in &self.directions {
            let (px, py) = (-u[1], u[0]);
            let (cx, cy) = (self.offset * u[0], self.offset * u[1]);
            chart
                .draw_series(LineSeries::new(
                    [
                        (cx - half * px, cy - half * py),
                        (cx + half * px, cy + half * py),
                    ],
                    WHITE.stroke_width(1),
                ))
                .drawn(MAP)?;
        }
        style::colour_bar(&bar_area, -peak, peak, "f(x)", MAP)?;
        // The slice along the unit circle.
        let angles: Vec<f64> = (0..=1440).map(|k| k as f64 / 4.0).collect();
        let slice: Vec<(f64, f64)> = angles
            .iter()
            .map(|deg| {
                let a = deg.to_radians();
                (*deg, self.value(a.cos(), a.sin()))
            })
            .collect();
        let mut chart = ChartBuilder::on(&right)
            .margin(16)
            .margin_right(30)
            .x_label_area_size(64)
            .y_label_area_size(100)
            .build_cartesian_2d(0f64..360f64, (-1.1 * peak)..(1.1 * peak))
            .drawn(MAP)?;
        // The mesh of `style::mesh`, with ticks within rounding of 0 printed as 0.
        let snap = 1e-9 * peak;
        chart
            .configure_mesh()
            .x_desc("angle of x on the unit circle (degrees)")
            .y_desc("f(x) on the unit circle")
            .axis_desc_style(style::font(style::AXIS_SIZE))
            .label_style(style::font(style::TICK_SIZE))
            .x_label_formatter(&|v| style::format_tick(*v))
            .y_label_formatter(&|v| style::format_tick(if v.abs() < snap { 0.0 } else { *v }))
            .x_labels(10)
            .y_labels(8)
            .bold_line_style(style::GRID)
            .light_line_style(WHITE.mix(0.0))
            .axis_style(BLACK)
            .draw()
            .drawn(MAP)?;
        chart
            .draw_series(LineSeries::new(slice, series_color(0).stroke_width(2)))
            .drawn(MAP)?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (360.0, 0.0)],
                style::REFERENCE.stroke_width(1),
            ))
            .drawn(MAP)?;
        Ok(())
    }
}

/// How a curve is drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CurveStyle {
    /// Solid line with filled dots at the points.
    #[default]
    Points,
    /// Solid line, no dots.
    Line,
    /// Dashed line, no dots (bounds, fits).
    Dashed,
}

/// One curve of a [`CurvePlot`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Curve {
    /// Legend label.
    pub label: String,
    /// Abscissae.
    pub xs: Vec<f64>,
    /// Ordinates.
    pub ys: Vec<f64>,
    /// Palette index.
    pub colour: usize,
    /// Line style.
    pub style: CurveStyle,
}

/// Curves against one abscissa, the legend in a strip right of the chart (never over data).
///
/// Points that are not finite (or not positive on a log axis) are left out. Canvas
/// 1400 x 680. Errors when no curve has a drawable point or a curve's columns differ in
/// length.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CurvePlot {
    /// Figure title.
    pub title: String,
    /// Abscissa description.
    pub x_label: String,
    /// Ordinate description.
    pub y_label: String,
    /// Logarithmic x-axis.
    pub log_x: bool,
    /// Logarithmic y-axis.
    pub log_y: bool,
    /// An integer abscissa (dimensions): the x range is padded by half a unit each side.
    pub integer_x: bool,
    /// Heading of the legend strip (may be empty).
    pub legend_heading: String,
    /// The curves.
    pub curves: Vec<Curve>,
}

impl Figure for CurvePlot {
    fn name(&self) -> &'static str {
        CURVES
    }

    fn size(&self) -> (u32, u32) {
        (1400, 680)
    }
}

impl CurvePlot {
    fn ok(v: f64, log: bool) -> bool {
        v.is_finite() && (!log || v > 0.0)
    }

    fn points(&self) -> Result<Vec<Vec<(f64, f64)>>, FigureError> {
        self.curves
            .iter()
            .map(|c| {
                if c.xs.len() != c.ys.len() {
                    return Err(FigureError::LengthMismatch {
                        figure: CURVES,
                        what: format!("curve `{}`: xs and ys", c.label),
                        left: c.xs.len(),
                        right: c.ys.len(),
                    });
                }
                Ok(c.xs
                    .iter()
                    .zip(&c.ys)
                    .filter(|(x, y)| Self::ok(**x, self.log_x) && Self::ok(**y, self.log_y))
                    .map(|(&x, &y)| (x, y))
                    .collect())
            })
            .collect()
    }

    fn draw<'a, DB, X, Y>(
        &self,
        mut chart: ChartContext<'a, DB, Cartesian2d<X, Y>>,
        points: &[Vec<(f64, f64)>],
    ) -> Result<(), FigureError>
    where
        DB: DrawingBackend + 'a,
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let desc = |label: &str, log: bool| {
            if log {
                format!("{label} (log scale)")
            } else {
                label.to_string()
            }
        };
        style::mesh(
            &mut chart,
            &desc(&self.x_label, self.log_x),
            &desc(&self.y_label, self.log_y),
            CURVES,
        )?;
        for (c, p) in self.curves.iter().zip(points) {
            if p.is_empty() {
                continue;
            }
            let colour = series_color(c.colour);
            match c.style {
                CurveStyle::Points | CurveStyle::Line => {
                    chart
                        .draw_series(LineSeries::new(p.iter().copied(), colour.stroke_width(2)))
                        .drawn(CURVES)?;
                }
                CurveStyle::Dashed => {
                    chart
                        .draw_series(DashedLineSeries::new(
                            p.iter().copied(),
                            10,
                            6,
                            colour.stroke_width(2),
                        ))
                        .drawn(CURVES)?;
                }
            }
            if c.style == CurveStyle::Points {
                chart
                    .draw_series(p.iter().map(|&q| Circle::new(q, 5, colour.filled())))
                    .drawn(CURVES)?;
            }
        }
        Ok(())
    }
}

fn axis_range(values: impl IntoIterator<Item = f64>, log: bool) -> Option<Range<f64>> {
    let v: Vec<f64> = values.into_iter().collect();
    if log {
        style::log_range(v)
    } else {
        style::linear_range(v)
    }
}

impl sealed::Render for CurvePlot {
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), FigureError> {
        let points = self.points()?;
        let all: Vec<(f64, f64)> = points.iter().flatten().copied().collect();
        let (Some(xr), Some(yr)) = (
            axis_range(all.iter().map(|p| p.0), self.log_x),
            axis_range(all.iter().map(|p| p.1), self.log_y),
        ) else {
            return Err(FigureError::NoData {
                figure: CURVES,
                what: "curves (no drawable point)".into(),
            });
        };
        let entries: Vec<LegendEntry> = self
            .curves
            .iter()
            .map(|c| LegendEntry {
                label: c.label.clone(),
                color: series_color(c.colour),
                symbols: match c.style {
                    CurveStyle::Points => vec![Symbol::Line, Symbol::Dot],
                    CurveStyle::Line => vec![Symbol::Line],
                    CurveStyle::Dashed => vec![Symbol::Dashed],
                },
            })
            .collect();
        let area = titled(root, &self.title, CURVES)?;
        let (width, _) = area.dim_in_pixel();
        let legend_width = style::side_legend_width(&area, &self.legend_heading, &entries, CURVES)?
            .max(200)
            .min(width / 2);
        let (plot_area, legend_area) = area.split_horizontally(width - legend_width);
        let mut b = ChartBuilder::on(&plot_area);
        b.margin(16)
            .margin_right(30)
            .x_label_area_size(64)
            .y_label_area_size(100);
        let log = |r: &Range<f64>| r.clone().log_scale().with_key_points(style::log_ticks(r));
        let xr = match style::min_max(all.iter().map(|p| p.0)) {
            Some((lo, hi)) if self.integer_x && !self.log_x => (lo - 0.5)..(hi + 0.5),
            _ => xr,
        };
        match (self.log_x, self.log_y) {
            (false, false) => self.draw(
                b.build_cartesian_2d(xr.clone(), yr.clone()).drawn(CURVES)?,
                &points,
            )?,
            (true, false) => self.draw(
                b.build_cartesian_2d(log(&xr), yr.clone()).drawn(CURVES)?,
                &points,
            )?,
            (false, true) => self.draw(
                b.build_cartesian_2d(xr.clone(), log(&yr)).drawn(CURVES)?,
                &points,
            )?,
            (true, true) => self.draw(
                b.build_cartesian_2d(log(&xr), log(&yr)).drawn(CURVES)?,
                &points,
            )?,
        }
        style::side_legend(&legend_area, &self.legend_heading, &entries, CURVES)
    }
}
