//! The univariate fit (SCIENCE.md section 7, `univariate`): the noisy data, the true function,
//! the learned network and its knots `-b_k / w_k`, where the weighted total variation of
//! section 4 lives.

use plotters::chart::ChartBuilder;
use plotters::coord::Shift;
use plotters::prelude::{
    Circle, Color, DashedLineSeries, DrawingArea, DrawingBackend, EmptyElement, LineSeries,
    PathElement, TriangleMarker,
};

use super::style::{self, LegendEntry, Symbol, PALETTE};
use super::{sealed, titled, Drawn, Figure, FigureError};

const NAME: &str = "univariate fit";

/// A one-dimensional fit: data, truth, learned function and knots.
///
/// The x range is the data's range plus 8% each side (the learned curve's range when there
/// is no data); curves are drawn within it. Knots inside the range are marked twice: a
/// triangle on the learned curve (linear interpolation between its samples) and a tick on
/// the bottom axis; knots outside are counted in the legend. Non-finite values are skipped.
/// The legend sits right of the chart. Canvas 1250 x 650. Errors when neither data nor the
/// learned curve has a finite point, or `learned` is empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UnivariateFit {
    /// Figure title; `None` gives "Univariate fit".
    pub title: Option<String>,
    /// Training points `(x, y)`.
    pub data: Vec<(f64, f64)>,
    /// The true function sampled on a grid `(x, f(x))`, when known.
    pub truth: Option<Vec<(f64, f64)>>,
    /// The learned network sampled on a grid `(x, f_theta(x))`, ascending in x.
    pub learned: Vec<(f64, f64)>,
    /// Knot positions `-b_k / w_k` of the neurons with `w_k != 0`.
    pub knots: Vec<f64>,
}

/// Linear interpolation of `curve` (ascending in x) at `x`; `None` outside its range.
fn interpolate(curve: &[(f64, f64)], x: f64) -> Option<f64> {
    let i = curve.partition_point(|p| p.0 < x);
    match (curve.get(i.wrapping_sub(1)), curve.get(i)) {
        (_, Some(b)) if b.0 == x => Some(b.1),
        (Some(a), Some(b)) if b.0 > a.0 => Some(a.1 + (x - a.0) / (b.0 - a.0) * (b.1 - a.1)),
        _ => None,
    }
}

fn finite(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    points
        .iter()
        .copied()
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect()
}

impl Figure for UnivariateFit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn size(&self) -> (u32, u32) {
        (1250, 650)
    }
}

impl sealed::Render for UnivariateFit {
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), FigureError> {
        let data = finite(&self.data);
        let mut learned = finite(&self.learned);
        learned.sort_by(|a, b| a.0.total_cmp(&b.0));
        let truth = self.truth.as_deref().map(finite).unwrap_or_default();
        if learned.is_empty() {
            return Err(FigureError::NoData {
                figure: NAME,
                what: "the learned curve".into(),
            });
        }
        let (lo, hi) = match style::min_max(data.iter().map(|p| p.0)) {
            Some(r) => r,
            None => style::min_max(learned.iter().map(|p| p.0)).unwrap_or((0.0, 1.0)),
        };
        let margin = if hi > lo { 0.08 * (hi - lo) } else { 1.0 };
        let x_range = lo - margin..hi + margin;
        let inside = |p: &&(f64, f64)| x_range.contains(&p.0);
        let y_range = style::linear_range(
            data.iter()
                .chain(learned.iter().filter(inside))
                .chain(truth.iter().filter(inside))
                .map(|p| p.1),
        )
        .unwrap_or(-1.0..1.0);
        let knots: Vec<f64> = self
            .knots
            .iter()
            .copied()
            .filter(|k| k.is_finite())
            .collect();
        let shown: Vec<(f64, Option<f64>)> = knots
            .iter()
            .filter(|k| x_range.contains(k))
            .map(|&k| (k, interpolate(&learned, k)))
            .collect();

        let (data_c, truth_c, learned_c, knot_c) = (PALETTE[6], PALETTE[6], PALETTE[0], PALETTE[1]);
        let mut entries = vec![];
        if !data.is_empty() {
            entries.push(LegendEntry {
                label: format!("data (n = {})", data.len()),
                color: data_c,
                symbols: vec![Symbol::Dot],
            });
        }
        if !truth.is_empty() {
            entries.push(LegendEntry {
                label: "true function".into(),
                color: truth_c,
                symbols: vec![Symbol::Dashed],
            });
        }
        entries.push(LegendEntry {
            label: "learned network".into(),
            color: learned_c,
            symbols: vec![Symbol::Line],
        });
        let outside = knots.len() - shown.len();
        entries.push(LegendEntry {
            label: format!("knots ({})", shown.len()),
            color: knot_c,
            symbols: vec![Symbol::Triangle],
        });
        if outside > 0 {
            entries.push(LegendEntry {
                label: format!("{outside} more knots outside"),
                color: knot_c,
                symbols: vec![Symbol::None],
            });
        }
        let title = self.title.as_deref().unwrap_or("Univariate fit");
        let area = titled(root, title, NAME)?;
        let (width, _) = area.dim_in_pixel();
        let legend_width = style::side_legend_width(&area, "", &entries, NAME)?
            .max(160)
            .min(width / 2);
        let (plot_area, legend_area) = area.split_horizontally(width - legend_width);
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(16)
            .margin_right(24)
            .x_label_area_size(64)
            .y_label_area_size(90)
            .build_cartesian_2d(x_range.clone(), y_range.clone())
            .drawn(NAME)?;
        style::mesh(&mut chart, "input x", "output y", NAME)?;

        if !truth.is_empty() {
            let clipped: Vec<(f64, f64)> = truth
                .iter()
                .copied()
                .filter(|p| x_range.contains(&p.0))
                .collect();
            chart
                .draw_series(DashedLineSeries::new(
                    clipped,
                    10,
                    7,
                    truth_c.stroke_width(2),
                ))
                .drawn(NAME)?;
        }
        let clipped: Vec<(f64, f64)> = learned
            .iter()
            .copied()
            .filter(|p| x_range.contains(&p.0))
            .collect();
        chart
            .draw_series(LineSeries::new(clipped, learned_c.stroke_width(3)))
            .drawn(NAME)?;
        chart
            .draw_series(
                data.iter()
                    .map(|&p| Circle::new(p, 5, data_c.mix(0.75).filled())),
            )
            .drawn(NAME)?;
        chart
            .draw_series(shown.iter().filter_map(|&(k, y)| {
                y.filter(|y| y_range.contains(y))
                    .map(|y| TriangleMarker::new((k, y), 7, knot_c.filled()))
            }))
            .drawn(NAME)?;
        chart
            .draw_series(shown.iter().map(|&(k, _)| {
                EmptyElement::at((k, y_range.start))
                    + PathElement::new(vec![(0, 0), (0, -16)], knot_c.stroke_width(2))
            }))
            .drawn(NAME)?;

        style::side_legend(&legend_area, "", &entries, NAME)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_is_linear_and_none_outside() {
        let curve = [(0.0, 0.0), (1.0, 2.0), (2.0, 0.0)];
        assert_eq!(interpolate(&curve, 0.5), Some(1.0));
        assert_eq!(interpolate(&curve, 1.0), Some(2.0));
        assert_eq!(interpolate(&curve, 0.0), Some(0.0));
        assert_eq!(interpolate(&curve, 1.5), Some(1.0));
        assert_eq!(interpolate(&curve, -0.1), None);
        assert_eq!(interpolate(&curve, 2.1), None);
    }
}
