//! The Hessian spectral density: a smoothed eigenvalue density (stochastic Lanczos
//! quadrature, `shatter_core::hessian::trace`) against the eigenvalue, with the top
//! eigenvalues and the edge-of-stability line `2/eta` marked.

use plotters::chart::{ChartBuilder, ChartContext};
use plotters::coord::combinators::{BindKeyPoints, IntoLogRange};
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::{
    AreaSeries, Cartesian2d, Color, DashedLineSeries, DrawingArea, DrawingBackend, LineSeries,
};
use shatter_core::hessian::trace::DensityGrid;

use super::style::{self, LegendEntry, Symbol, PALETTE};
use super::{sealed, titled, Drawn, Figure, FigureError};

const NAME: &str = "spectral density";

/// How far below its maximum a log density axis reaches; smaller values sit on the bottom
/// edge.
const FLOOR: f64 = 1e-8;

/// A spectral density on a grid, with markers.
///
/// Linear density: a filled area; log density: a line, values below `1e-8` of the maximum
/// drawn on the bottom edge. Top eigenvalues are dotted vertical lines (vermillion), `2/eta`
/// a dashed grey one; the x range covers the grid and every marker. Non-finite values are
/// skipped. Canvas 1100 x 650. Errors when the columns differ in length or nothing finite
/// (positive, for a log density) is left.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpectralDensityPlot {
    /// Figure title; `None` gives "Hessian spectral density".
    pub title: Option<String>,
    /// Eigenvalue grid, ascending.
    pub eigenvalues: Vec<f64>,
    /// Density at each grid point.
    pub density: Vec<f64>,
    /// Top eigenvalues (Lanczos), marked by vertical lines.
    pub top_eigenvalues: Vec<f64>,
    /// Step size for the `2/eta` line, when given.
    pub eta: Option<f64>,
    /// Whether the density axis is logarithmic.
    pub log_density: bool,
}

impl SpectralDensityPlot {
    /// A plot of a [`DensityGrid`] with no markers and a linear density axis.
    pub fn from_grid(grid: &DensityGrid) -> Self {
        Self {
            eigenvalues: grid.points.clone(),
            density: grid.density.clone(),
            ..Self::default()
        }
    }
}

impl Figure for SpectralDensityPlot {
    fn name(&self) -> &'static str {
        NAME
    }

    fn size(&self) -> (u32, u32) {
        (1100, 650)
    }
}

impl sealed::Render for SpectralDensityPlot {
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), FigureError> {
        if self.density.len() != self.eigenvalues.len() {
            return Err(FigureError::LengthMismatch {
                figure: NAME,
                what: "eigenvalues and density".into(),
                left: self.eigenvalues.len(),
                right: self.density.len(),
            });
        }
        if let Some(eta) = self.eta {
            if !(eta.is_finite() && eta > 0.0) {
                return Err(FigureError::OutOfRange {
                    figure: NAME,
                    what: "eta",
                    value: eta,
                    expected: "a finite step size > 0",
                });
            }
        }
        let mut curve: Vec<(f64, f64)> = self
            .eigenvalues
            .iter()
            .zip(&self.density)
            .filter(|(x, y)| x.is_finite() && y.is_finite() && (**y > 0.0 || !self.log_density))
            .map(|(&x, &y)| (x, y))
            .collect();
        curve.sort_by(|a, b| a.0.total_cmp(&b.0));
        let tops: Vec<f64> = self
            .top_eigenvalues
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        let edge = self.eta.map(|eta| 2.0 / eta);
        let Some(x_range) = style::linear_range(
            curve
                .iter()
                .map(|p| p.0)
                .chain(tops.iter().copied())
                .chain(edge),
        ) else {
            return Err(FigureError::NoData {
                figure: NAME,
                what: "density (no finite point)".into(),
            });
        };
        if curve.is_empty() {
            return Err(FigureError::NoData {
                figure: NAME,
                what: "density (no finite point)".into(),
            });
        }
        let title = self.title.as_deref().unwrap_or("Hessian spectral density");
        let area = titled(root, title, NAME)?;
        let mut entries = vec![LegendEntry {
            label: "density".into(),
            color: PALETTE[0],
            symbols: vec![Symbol::Line],
        }];
        if !tops.is_empty() {
            entries.push(LegendEntry {
                label: format!("top eigenvalues ({})", tops.len()),
                color: PALETTE[1],
                symbols: vec![Symbol::Dotted],
            });
        }
        if let Some(edge) = edge {
            entries.push(LegendEntry {
                label: format!("2/η = {}", style::format_sig(edge, 3)),
                color: style::REFERENCE,
                symbols: vec![Symbol::Dashed],
            });
        }
        let (width, _) = area.dim_in_pixel();
        let legend_width = style::side_legend_width(&area, "", &entries, NAME)?
            .max(160)
            .min(width / 2);
        let (plot_area, legend_area) = area.split_horizontally(width - legend_width);
        style::side_legend(&legend_area, "", &entries, NAME)?;
        let mut builder = ChartBuilder::on(&plot_area);
        builder
            .margin(16)
            .margin_right(30)
            .x_label_area_size(64)
            .y_label_area_size(100);
        let x_desc = "eigenvalue λ of the Hessian";
        if self.log_density {
            let top = curve.iter().map(|p| p.1).fold(0.0, f64::max);
            let y_range = style::log_range([top * FLOOR, top]).unwrap_or(top * FLOOR..top);
            let floor = y_range.start;
            let clamped: Vec<(f64, f64)> = curve.iter().map(|&(x, y)| (x, y.max(floor))).collect();
            let mut chart = builder
                .build_cartesian_2d(
                    x_range,
                    y_range
                        .clone()
                        .log_scale()
                        .with_key_points(style::log_ticks(&y_range)),
                )
                .drawn(NAME)?;
            style::mesh(&mut chart, x_desc, "density (log scale)", NAME)?;
            chart
                .draw_series(LineSeries::new(clamped, PALETTE[0].stroke_width(2)))
                .drawn(NAME)?;
            self.markers(&mut chart, &tops, edge, (y_range.start, y_range.end))
        } else {
            let top = curve.iter().map(|p| p.1).fold(0.0, f64::max);
            let bottom = curve.iter().map(|p| p.1).fold(0.0, f64::min);
            let y_range = style::linear_range([bottom, top]).unwrap_or(0.0..1.0);
            let y_range = bottom.min(0.0)..y_range.end;
            let mut chart = builder
                .build_cartesian_2d(x_range, y_range.clone())
                .drawn(NAME)?;
            style::mesh(&mut chart, x_desc, "density", NAME)?;
            chart
                .draw_series(
                    AreaSeries::new(curve, 0.0, PALETTE[0].mix(0.3))
                        .border_style(PALETTE[0].stroke_width(2)),
                )
                .drawn(NAME)?;
            self.markers(&mut chart, &tops, edge, (y_range.start, y_range.end))
        }
    }
}

impl SpectralDensityPlot {
    /// Vertical lines: dotted at the top eigenvalues, dashed at `2/eta`.
    fn markers<DB, Y>(
        &self,
        chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, Y>>,
        tops: &[f64],
        edge: Option<f64>,
        (lo, hi): (f64, f64),
    ) -> Result<(), FigureError>
    where
        DB: DrawingBackend,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        for &v in tops {
            chart
                .draw_series(DashedLineSeries::new(
                    [(v, lo), (v, hi)],
                    3,
                    4,
                    PALETTE[1].stroke_width(2),
                ))
                .drawn(NAME)?;
        }
        if let Some(edge) = edge {
            chart
                .draw_series(DashedLineSeries::new(
                    [(edge, lo), (edge, hi)],
                    10,
                    7,
                    style::REFERENCE.stroke_width(2),
                ))
                .drawn(NAME)?;
        }
        Ok(())
    }
}
