//! Rates (SCIENCE.md section 6): log-log plots of MSE against the sample size `n`, one series
//! per dimension and training arm, with the least-squares slope, its 95% confidence interval
//! and the theory slope in the legend. [`fit_loglog`] is the fit behind the legend.

use plotters::chart::ChartBuilder;
use plotters::coord::combinators::{BindKeyPoints, IntoLogRange};
use plotters::coord::Shift;
use plotters::prelude::{
    Circle, Color, DashedLineSeries, DrawingArea, DrawingBackend, EmptyElement, LineSeries,
    PathElement, Rectangle,
};
use shatter_core::measure::generalisation::loglog_rate;

use super::style::{self, series_color, LegendEntry, Symbol};
use super::{sealed, titled, Drawn, Figure, FigureError};

const NAME: &str = "rate plot";

/// A least-squares line through `(ln n, ln value)`: `value ~ exp(intercept) n^slope`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    /// Slope of `ln value` against `ln n` (negative when the error falls with `n`; the rate of
    /// SCIENCE.md section 6 is `-slope`).
    pub slope: f64,
    /// Intercept, natural logarithms.
    pub intercept: f64,
    /// Half-width of the 95% confidence interval of the slope, `t_{0.975, m-2} * SE(slope)`
    /// with `m` points; infinite for two points (no residual degrees of freedom).
    pub ci95: f64,
    /// Coefficient of determination in log-log space.
    pub r2: f64,
    /// Number of points fitted.
    pub points: usize,
}

impl Fit {
    /// The fitted value at `n`.
    pub fn at(&self, n: f64) -> f64 {
        (self.intercept + self.slope * n.ln()).exp()
    }
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom: a table to 30, then the
/// Cornish-Fisher expansion (error below `1e-4`). Infinite for `df = 0`.
pub(crate) fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
        2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739,
        2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        _ => {
            let z = 1.959_963_984_540_054_f64;
            let v = df as f64;
            z + (z.powi(3) + z) / (4.0 * v)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * v * v)
                + (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z)
                    / (384.0 * v.powi(3))
        }
    }
}

/// Fits `ln value = intercept + slope ln n` by least squares, with a t-based 95% confidence
/// interval for the slope (`shatter_core::measure::generalisation::loglog_rate` for the line,
/// the residual variance for the interval).
///
/// `O(points)`, allocates the logarithms. Errors when the lengths differ, there are fewer
/// than two distinct `n`, or some `n` or value is not finite and positive.
pub fn fit_loglog(ns: &[f64], values: &[f64]) -> Result<Fit, FigureError> {
    let line = loglog_rate(ns, values).map_err(|e| FigureError::Fit(e.to_string()))?;
    let slope = -line.rate;
    let m = line.points;
    let lx: Vec<f64> = ns.iter().map(|n| n.ln()).collect();
    let mean_x = lx.iter().sum::<f64>() / m as f64;
    let sxx: f64 = lx.iter().map(|x| (x - mean_x).powi(2)).sum();
    let ssr: f64 = lx
        .iter()
        .zip(values)
        .map(|(x, v)| (v.ln() - line.intercept - slope * x).powi(2))
        .sum();
    let ci95 = if m > 2 {
        t975(m - 2) * (ssr / (m - 2) as f64 / sxx).sqrt()
    } else {
        f64::INFINITY
    };
    Ok(Fit {
        slope,
        intercept: line.intercept,
        ci95,
        r2: line.r_squared,
        points: m,
    })
}

/// One curve of a rate plot: the medians over seeds at each `n` for one dimension and arm.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RateSeries {
    /// Legend label, for example `"d = 3, GD eta = 0.2"`.
    pub label: String,
    /// Sample sizes `n`.
    pub ns: Vec<f64>,
    /// The value at each `n` (median over seeds of the test MSE, say). Points with `n` or
    /// value not finite and positive are left out of the plot and the fit.
    pub values: Vec<f64>,
    /// Error bar per `n` when given: `(lower, upper)`, for example the seeds' quartiles.
    pub spread: Option<Vec<(f64, f64)>>,
    /// The theory slope to compare with (negative: `-1/(2d+4)`, say); drawn as a dotted line
    /// through the fitted value at the smallest `n`, and given in the legend.
    pub theory_slope: Option<f64>,
    /// Palette index of the colour (series of one dimension share it).
    pub colour: usize,
    /// Training arm: 0 draws filled circles and a solid fitted line, anything else hollow
    /// squares and a dashed line.
    pub arm: usize,
}

/// MSE against `n` on log-log axes.
///
/// Each series shows its points (with error bars when `spread` is given), its least-squares
/// line over the range of its `n` ([`fit_loglog`]), and its theory line when given. The
/// legend, in a strip right of the chart, gives `slope ± 95% CI` and the theory slope per
/// series. Series with fewer than two distinct valid `n` are drawn without a line and
/// labelled "no fit". Canvas 1500 x 720. Errors when no series has a valid point, or when a
/// series' columns have different lengths.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RatePlot {
    /// Figure title; `None` gives "Test error against sample size".
    pub title: Option<String>,
    /// y-axis quantity; `None` gives "test MSE".
    pub y_label: Option<String>,
    /// The series.
    pub series: Vec<RateSeries>,
    /// Horizontal reference lines, each `(palette colour, value)`: what a trivial predictor
    /// scores (the constant predictor's test MSE per dimension, say), drawn dash-dotted in
    /// the colour of the series they belong to and named in the legend by `baseline_label`.
    pub baselines: Vec<(usize, f64)>,
    /// The legend entry of the baselines (empty: "baseline").
    pub baseline_label: String,
}

impl RateSeries {
    /// `(n, lower, upper)` for the spread entries that can be drawn on log axes.
    fn error_bars(&self) -> Vec<(f64, f64, f64)> {
        self.spread
            .iter()
            .flat_map(|spread| self.ns.iter().zip(spread))
            .filter(|(n, (lo, hi))| {
                n.is_finite()
                    && **n > 0.0
                    && lo.is_finite()
                    && hi.is_finite()
                    && *lo > 0.0
                    && *hi >= *lo
            })
            .map(|(&n, &(lo, hi))| (n, lo, hi))
            .collect()
    }

    fn valid_points(&self) -> Vec<(f64, f64)> {
        self.ns
            .iter()
            .zip(&self.values)
            .filter(|(n, v)| n.is_finite() && **n > 0.0 && v.is_finite() && **v > 0.0)
            .map(|(&n, &v)| (n, v))
            .collect()
    }
}

impl Figure for RatePlot {
    fn name(&self) -> &'static str {
        NAME
    }

    fn size(&self) -> (u32, u32) {
        (1500, 720)
    }
}

impl sealed::Render for RatePlot {
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), FigureError> {
        for s in &self.series {
            if s.values.len() != s.ns.len() {
                return Err(FigureError::LengthMismatch {
                    figure: NAME,
                    what: format!("series `{}`: ns and values", s.label),
                    left: s.ns.len(),
                    right: s.values.len(),
                });
            }
            if let Some(spread) = &s.spread {
                if spread.len() != s.ns.len() {
                    return Err(FigureError::LengthMismatch {
                        figure: NAME,
                        what: format!("series `{}`: ns and spread", s.label),
                        left: s.ns.len(),
                        right: spread.len(),
                    });
                }
            }
        }
        let points: Vec<Vec<(f64, f64)>> = self.series.iter().map(|s| s.valid_points()).collect();
        let fits: Vec<Option<Fit>> = points
            .iter()
            .map(|p| {
                let (ns, vs): (Vec<f64>, Vec<f64>) = p.iter().copied().unzip();
                fit_loglog(&ns, &vs).ok()
            })
            .collect();
        let all_n = || points.iter().flatten().map(|p| p.0);
        let baselines: Vec<(usize, f64)> = self
            .baselines
            .iter()
            .copied()
            .filter(|(_, v)| v.is_finite() && *v > 0.0)
            .collect();
        let y_values = points
            .iter()
            .flatten()
            .map(|p| p.1)
            .chain(
                self.series
                    .iter()
                    .flat_map(RateSeries::error_bars)
                    .flat_map(|b| [b.1, b.2]),
            )
            .chain(baselines.iter().map(|b| b.1));
        let (Some(x_range), Some(y_range)) =
            (style::log_range(all_n()), style::log_range(y_values))
        else {
            return Err(FigureError::NoData {
                figure: NAME,
                what: "series (no point with n and value finite and > 0)".into(),
            });
        };
        let mut distinct: Vec<f64> = all_n().collect();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();

        let title = self
            .title
            .as_deref()
            .unwrap_or("Test error against sample size");
        let x_desc = "training set size n (log scale)";
        let y_desc = format!(
            "{} (log scale)",
            self.y_label.as_deref().unwrap_or("test MSE")
        );
        let legend = |s: &RateSeries, fit: &Option<Fit>| {
            let mut label = s.label.clone();
            match fit {
                Some(f) if f.ci95.is_finite() => {
                    label += &format!(": slope {:.2} ± {:.2}", f.slope, f.ci95);
                }
                Some(f) => {
                    label += &format!(": slope {:.2} (2 points, no CI)", f.slope);
                }
                None => label += ": no fit",
            }
            if let Some(t) = s.theory_slope {
                label += &format!(", theory {t:.2}");
            }
            LegendEntry {
                label,
                color: series_color(s.colour),
                symbols: if s.arm == 0 {
                    vec![Symbol::Line, Symbol::Dot]
                } else {
                    vec![Symbol::Dashed, Symbol::Square]
                },
            }
        };
        let mut entries: Vec<LegendEntry> = self
            .series
            .iter()
            .zip(&fits)
            .map(|(s, f)| legend(s, f))
            .collect();
        if self.series.iter().any(|s| s.theory_slope.is_some()) {
            entries.push(LegendEntry {
                label: "theory slope (series colour)".into(),
                color: style::REFERENCE,
                symbols: vec![Symbol::Dotted],
            });
        }
        if !baselines.is_empty() {
            entries.push(LegendEntry {
                label: if self.baseline_label.is_empty() {
                    "baseline (series colour)".into()
                } else {
                    format!("{} (series colour)", self.baseline_label)
                },
                color: style::REFERENCE,
                symbols: vec![Symbol::Dashed],
            });
        }

        let area = titled(root, title, NAME)?;
        let (width, _) = area.dim_in_pixel();
        let heading = "least-squares slope ± 95% CI";
        let legend_width = style::side_legend_width(&area, heading, &entries, NAME)?
            .max(200)
            .min(width / 2);
        let (plot_area, legend_area) = area.split_horizontally(width - legend_width);
        let x_coord = x_range.clone().log_scale();
        let y_coord = y_range
            .clone()
            .log_scale()
            .with_key_points(style::log_ticks(&y_range));
        let mut chart_builder = ChartBuilder::on(&plot_area);
        chart_builder
            .margin(16)
            .margin_right(30)
            .x_label_area_size(64)
            .y_label_area_size(100);
        // Tick marks at the sample sizes when there are few of them, else plotters' choice.
        if distinct.len() <= 10 {
            let mut chart = chart_builder
                .build_cartesian_2d(x_coord.with_key_points(distinct), y_coord)
                .drawn(NAME)?;
            style::mesh(&mut chart, x_desc, &y_desc, NAME)?;
            self.draw_series(&mut chart, &points, &fits)?;
            draw_baselines(&mut chart, &baselines, x_range.clone())?;
        } else {
            let mut chart = chart_builder
                .build_cartesian_2d(x_coord, y_coord)
                .drawn(NAME)?;
            style::mesh(&mut chart, x_desc, &y_desc, NAME)?;
            self.draw_series(&mut chart, &points, &fits)?;
            draw_baselines(&mut chart, &baselines, x_range)?;
        }
        style::side_legend(&legend_area, heading, &entries, NAME)
    }
}

/// The baselines as horizontal dash-dotted lines across the x range.
fn draw_baselines<DB, X, Y>(
    chart: &mut plotters::chart::ChartContext<'_, DB, plotters::prelude::Cartesian2d<X, Y>>,
    baselines: &[(usize, f64)],
    x_range: std::ops::Range<f64>,
) -> Result<(), FigureError>
where
    DB: DrawingBackend,
    X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
{
    for &(colour, v) in baselines {
        chart
            .draw_series(DashedLineSeries::new(
                [(x_range.start, v), (x_range.end, v)],
                14,
                4,
                series_color(colour).stroke_width(1),
            ))
            .drawn(NAME)?;
    }
    Ok(())
}

impl RatePlot {
    fn draw_series<DB, X, Y>(
        &self,
        chart: &mut plotters::chart::ChartContext<'_, DB, plotters::prelude::Cartesian2d<X, Y>>,
        points: &[Vec<(f64, f64)>],
        fits: &[Option<Fit>],
    ) -> Result<(), FigureError>
    where
        DB: DrawingBackend,
        X: plotters::coord::ranged1d::Ranged<ValueType = f64>,
        Y: plotters::coord::ranged1d::Ranged<ValueType = f64>,
    {
        for ((s, pts), fit) in self.series.iter().zip(points).zip(fits) {
            let colour = series_color(s.colour);
            let line = colour.stroke_width(2);
            let errs = s.error_bars();
            chart
                .draw_series(errs.iter().map(|&(n, lo, hi)| {
                    PathElement::new(vec![(n, lo), (n, hi)], colour.stroke_width(2))
                }))
                .drawn(NAME)?;
            chart
                .draw_series(errs.iter().flat_map(|&(n, lo, hi)| {
                    [lo, hi].map(|y| {
                        EmptyElement::at((n, y))
                            + PathElement::new(vec![(-5, 0), (5, 0)], colour.stroke_width(2))
                    })
                }))
                .drawn(NAME)?;
            if let (Some(f), Some((lo, hi))) = (fit, style::min_max(pts.iter().map(|p| p.0))) {
                let steps = 32;
                let fitted = (0..=steps).map(|k| {
                    let n = lo * (hi / lo).powf(k as f64 / steps as f64);
                    (n, f.at(n))
                });
                if s.arm == 0 {
                    chart
                        .draw_series(LineSeries::new(fitted, line))
                        .drawn(NAME)?;
                } else {
                    let fitted: Vec<(f64, f64)> = fitted.collect();
                    chart
                        .draw_series(DashedLineSeries::new(
                            [fitted[0], fitted[fitted.len() - 1]],
                            10,
                            7,
                            line,
                        ))
                        .drawn(NAME)?;
                }
                if let Some(t) = s.theory_slope.filter(|t| t.is_finite()) {
                    let start = f.at(lo);
                    chart
                        .draw_series(DashedLineSeries::new(
                            [(lo, start), (hi, start * (hi / lo).powf(t))],
                            3,
                            5,
                            colour.stroke_width(2),
                        ))
                        .drawn(NAME)?;
                }
            }
            if s.arm == 0 {
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 6, colour.filled())))
                    .drawn(NAME)?;
            } else {
                chart
                    .draw_series(pts.iter().map(|&p| {
                        EmptyElement::at(p)
                            + Rectangle::new([(-6, -6), (6, 6)], colour.stroke_width(2))
                    }))
                    .drawn(NAME)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_matches_a_hand_computed_example() {
        // ln n = [0, 1, 2], ln v = [0, -1, -1.5]: slope -3/4, intercept -1/12, SSR 1/24,
        // SST 7/6, so R^2 = 27/28 and SE = sqrt(1/48); t_{0.975, 1} = 12.7062.
        let e = std::f64::consts::E;
        let fit = fit_loglog(&[1.0, e, e * e], &[1.0, (-1.0f64).exp(), (-1.5f64).exp()])
            .unwrap_or_else(|err| panic!("{err}"));
        assert!((fit.slope + 0.75).abs() < 1e-12, "{fit:?}");
        assert!((fit.intercept + 1.0 / 12.0).abs() < 1e-12, "{fit:?}");
        assert!((fit.r2 - 27.0 / 28.0).abs() < 1e-12, "{fit:?}");
        assert!(
            (fit.ci95 - 12.7062 * (1.0f64 / 48.0).sqrt()).abs() < 1e-9,
            "{fit:?}"
        );
        assert_eq!(fit.points, 3);
    }

    #[test]
    fn two_points_have_no_interval_and_bad_input_is_an_error() {
        let fit = fit_loglog(&[10.0, 100.0], &[1.0, 0.1]).unwrap_or_else(|e| panic!("{e}"));
        assert!((fit.slope + 1.0).abs() < 1e-12);
        assert!(fit.ci95.is_infinite());
        assert!(fit_loglog(&[10.0], &[1.0]).is_err());
        assert!(fit_loglog(&[10.0, 10.0], &[1.0, 2.0]).is_err());
        assert!(fit_loglog(&[10.0, 20.0], &[1.0, 0.0]).is_err());
        assert!(fit_loglog(&[10.0, 20.0], &[1.0, f64::NAN]).is_err());
        assert!(fit_loglog(&[10.0, 20.0], &[1.0]).is_err());
    }

    #[test]
    fn t_quantiles_join_the_expansion_smoothly() {
        assert!((t975(30) - 2.0423).abs() < 1e-4);
        // The expansion at 30 agrees with the table, and at large df tends to z.
        assert!((t975(31) - 2.0395).abs() < 1e-3);
        assert!((t975(100_000) - 1.96).abs() < 1e-3);
    }

    #[test]
    fn interval_covers_the_true_slope_on_noisy_data() {
        // Seed 7: log-normal noise (sigma 0.2) around n^(-0.4), 5 sample sizes x 4 repeats.
        // SplitMix64 keeps the test free of a random-number dependency.
        let mut state = 7u64;
        let mut uniform = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as f64 / u64::MAX as f64
        };
        let (mut ns, mut vs) = (Vec::new(), Vec::new());
        for &n in &[32.0f64, 64.0, 128.0, 256.0, 512.0] {
            for _ in 0..4 {
                // Sum of uniforms: a bounded, roughly normal noise with sd 0.2.
                let noise: f64 = (0..12).map(|_| uniform()).sum::<f64>() - 6.0;
                ns.push(n);
                vs.push(3.0 * n.powf(-0.4) * (0.2 * noise).exp());
            }
        }
        let fit = fit_loglog(&ns, &vs).unwrap_or_else(|e| panic!("seed 7: {e}"));
        assert!(
            (fit.slope + 0.4).abs() <= fit.ci95,
            "seed 7: slope {} ± {} misses -0.4",
            fit.slope,
            fit.ci95
        );
        assert!(fit.ci95 < 0.2, "seed 7: interval {} too wide", fit.ci95);
    }
}
