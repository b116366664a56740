//! The population weight `g_P(t)` of SCIENCE.md section 4 against the offset `t`, for
//! `x ~ Uniform(B^d_1)` and several `d`: near the boundary `g_P(t) ~ (1 - |t|)^(d+2)`, so the
//! implicit regularisation of flat minima fades at the edge of the data, faster in higher
//! dimension. Values come from `shatter_core::theory::tabulate_population_weight`.

use plotters::chart::{ChartBuilder, SeriesLabelPosition};
use plotters::coord::combinators::{BindKeyPoints, IntoLogRange};
use plotters::coord::Shift;
use plotters::prelude::{Color, DrawingArea, DrawingBackend, LineSeries};
use shatter_core::theory::tabulate_population_weight;

use super::style::{self, series_color};
use super::{sealed, titled, Drawn, Figure, FigureError};

const NAME: &str = "population weight";

/// How far below the largest value the log axis reaches: `g_P` vanishes at `t = 1`, so each
/// curve is drawn down to this fraction of the maximum and stops at the bottom edge.
const FLOOR: f64 = 1e-10;

/// `g_P(t)` against `t` in `[0, 1]`, one line per dimension, log y.
///
/// Tabulates `points` offsets per dimension (about 400 `powf` each). Canvas 1000 x 650.
/// Errors when `dims` is empty, a `d` is 0, or `points < 2`.
#[derive(Clone, Debug, PartialEq)]
pub struct PopulationWeight {
    /// Figure title; `None` gives "Population weight g_P(t) for x ~ Uniform(unit ball)".
    pub title: Option<String>,
    /// Input dimensions, one line each.
    pub dims: Vec<usize>,
    /// Offsets per line, evenly spaced over `[0, 1]`; at least 2 (201 is smooth).
    pub points: usize,
}

impl Default for PopulationWeight {
    fn default() -> Self {
        Self {
            title: None,
            dims: vec![1, 2, 3, 4, 5],
            points: 201,
        }
    }
}

impl Figure for PopulationWeight {
    fn name(&self) -> &'static str {
        NAME
    }

    fn size(&self) -> (u32, u32) {
        (1000, 650)
    }
}

impl sealed::Render for PopulationWeight {
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), FigureError> {
        if self.dims.is_empty() {
            return Err(FigureError::NoData {
                figure: NAME,
                what: "dimensions (none given)".into(),
            });
        }
        if self.points < 2 {
            return Err(FigureError::OutOfRange {
                figure: NAME,
                what: "points",
                value: self.points as f64,
                expected: "at least 2",
            });
        }
        let tables = self
            .dims
            .iter()
            .map(|&d| {
                tabulate_population_weight(d, 0.0, 1.0, self.points).map_err(|e| {
                    FigureError::Theory {
                        figure: NAME,
                        message: format!("d = {d}: {e}"),
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let top = tables
            .iter()
            .flatten()
            .map(|p| p.1)
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        if top <= 0.0 {
            return Err(FigureError::NoData {
                figure: NAME,
                what: "g_P (no positive value)".into(),
            });
        }
        let floor = top * FLOOR;
        let y_range = style::log_range([floor, top]).unwrap_or(floor..top);
        let floor = y_range.start;

        let title = self
            .title
            .as_deref()
            .unwrap_or("Population weight g_P(t) for x ~ Uniform(unit ball)");
        let area = titled(root, title, NAME)?;
        let mut chart = ChartBuilder::on(&area)
            .margin(16)
            .margin_right(30)
            .x_label_area_size(64)
            .y_label_area_size(100)
            .build_cartesian_2d(
                0.0f64..1.0f64,
                y_range
                    .clone()
                    .log_scale()
                    .with_key_points(style::log_ticks(&y_range)),
            )
            .drawn(NAME)?;
        style::mesh(
            &mut chart,
            "boundary offset |t|",
            "g_P(t) (log scale)",
            NAME,
        )?;
        for (i, (d, table)) in self.dims.iter().zip(&tables).enumerate() {
            // Stop each line at the first value below the floor, drawn on the bottom edge.
            let mut line = Vec::with_capacity(table.len());
            for &(t, v) in table {
                if !v.is_finite() {
                    continue;
                }
                line.push((t, v.max(floor)));
                if v <= floor {
                    break;
                }
            }
            let colour = series_color(i);
            chart
                .draw_series(LineSeries::new(line, colour.stroke_width(2)))
                .drawn(NAME)?
                .label(format!("d = {d}"))
                .legend(move |(x, y)| style::line_symbol(x, y, colour.stroke_width(3)));
        }
        // The curves start high on the left and fall on the right: the lower left stays empty.
        style::legend(&mut chart, SeriesLabelPosition::LowerLeft, NAME)
    }
}
