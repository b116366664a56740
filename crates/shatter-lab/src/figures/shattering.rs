//! Neural shattering (SCIENCE.md section 5): the scatter of each neuron's activation rate
//! against its amplitude `|v_k| ||w_k||`, coloured by the boundary offset `|t_k|`, and the
//! histogram of activation rates in 5% bins. Both mark the 10% threshold the papers summarise
//! shattering by.

use plotters::chart::ChartBuilder;
use plotters::coord::combinators::{BindKeyPoints, IntoLogRange};
use plotters::coord::Shift;
use plotters::prelude::{
    Circle, Color, DashedLineSeries, DrawingArea, DrawingBackend, Rectangle, Text, TriangleMarker,
};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use shatter_core::measure::shattering::NeuronStats;

use super::style::{self, font, series_color, LegendEntry, Symbol};
use super::{sealed, titled, Drawn, Figure, FigureError};

const SCATTER: &str = "shattering scatter";
const HISTOGRAM: &str = "activation histogram";

/// The threshold of a "low" activation rate, as in the papers (SCIENCE.md section 5).
const LOW_RATE: f64 = 0.10;

/// One neuron of a trained network.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NeuronPoint {
    /// Activation rate `rho_k` in `[0, 1]`: the fraction of training inputs it fires on.
    pub activation_rate: f64,
    /// Amplitude `|v_k| ||w_k||`.
    pub amplitude: f64,
    /// Boundary offset `|t_k| = |b_k| / ||w_k||`; infinite when `w_k = 0`.
    pub offset: f64,
}

/// The neurons of one trained network, with a label for its panel.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShatteringRun {
    /// Panel and legend label, for example `"large step, eta = 0.9"`.
    pub label: String,
    /// One entry per neuron.
    pub neurons: Vec<NeuronPoint>,
}

impl ShatteringRun {
    /// The neurons of a [`NeuronStats`] table (`shatter_core::measure::shattering`).
    pub fn from_stats(label: impl Into<String>, stats: &NeuronStats) -> Self {
        let neurons = stats
            .activation_rate
            .iter()
            .zip(&stats.amplitude)
            .zip(&stats.offset)
            .map(|((&activation_rate, &amplitude), &offset)| NeuronPoint {
                activation_rate,
                amplitude,
                offset,
            })
            .collect();
        Self {
            label: label.into(),
            neurons,
        }
    }

    /// The neurons with a finite rate in `[0, 1]`.
    fn valid(&self) -> impl Iterator<Item = &NeuronPoint> {
        self.neurons
            .iter()
            .filter(|n| n.activation_rate.is_finite() && (0.0..=1.0).contains(&n.activation_rate))
    }

    /// Fraction of valid neurons with `rho <= 10%` (dead ones included), `None` without any.
    fn low_fraction(&self) -> Option<f64> {
        let (low, all) = self.valid().fold((0usize, 0usize), |(low, all), n| {
            (low + usize::from(n.activation_rate <= LOW_RATE), all + 1)
        });
        (all > 0).then(|| low as f64 / all as f64)
    }
}

/// The shattering scatter: one panel per run, side by side, with shared axes and one colour
/// bar.
///
/// x: activation rate in percent (linear, 0 to 100); y: amplitude on a log axis; colour:
/// `|t|` on viridis from 0 to the largest finite offset (infinite offsets take the top
/// colour). Neurons with a rate outside `[0, 1]` or NaN are skipped. Neurons with zero or
/// non-finite amplitude cannot sit on a log axis: they are drawn as hollow triangles on the
/// bottom edge and counted in the panel's title. A dashed line marks `rho = 10%`; each panel
/// title gives the fraction of neurons at or below it. Canvas `(120 + 620 p) x 660` for `p`
/// panels. Errors when no run has a drawable neuron.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ShatteringScatter {
    /// Figure title; `None` gives "Activation rate against amplitude per neuron".
    pub title: Option<String>,
    /// The runs, one panel each, left to right.
    pub runs: Vec<ShatteringRun>,
}

impl Figure for ShatteringScatter {
    fn name(&self) -> &'static str {
        SCATTER
    }

    fn size(&self) -> (u32, u32) {
        let (rows, cols) = self.grid();
        let width = cols.saturating_mul(self.panel_width()).saturating_add(140);
        (width, rows.saturating_mul(600).saturating_add(60))
    }
}

/// Most panels side by side: more go on further rows, so that the figure stays readable when
/// a page scales it to its width.
const SCATTER_COLUMNS: usize = 3;

impl ShatteringScatter {
    /// `(rows, columns)` of the panel grid.
    fn grid(&self) -> (u32, u32) {
        let n = self.runs.len().max(1);
        let cols = n.min(SCATTER_COLUMNS);
        let rows = n.div_ceil(cols);
        (
            u32::try_from(rows).unwrap_or(u32::MAX),
            u32::try_from(cols).unwrap_or(u32::MAX),
        )
    }

    /// Wide enough for the longest panel title at the panel title size (about 0.55 em per
    /// character), between 620 and 1000 pixels.
    fn panel_width(&self) -> u32 {
        let longest = self
            .runs
            .iter()
            .map(|r| panel_caption(r).chars().count())
            .max()
            .unwrap_or(0);
        let needed = (longest as f64 * 0.55 * style::PANEL_TITLE_SIZE) as u32 + 60;
        needed.clamp(620, 1000)
    }
}

/// A panel's title: the run's label, its share of neurons with `rho <= 10%`, and how many sit
/// at zero amplitude (drawn on the bottom edge).
fn panel_caption(run: &ShatteringRun) -> String {
    let zero = run
        .valid()
        .filter(|n| !(n.amplitude.is_finite() && n.amplitude > 0.0))
        .count();
    let mut caption = run.label.clone();
    if let Some(low) = run.low_fraction() {
        caption = format!("{caption}: {:.0}% with ρ ≤ 10%", 100.0 * low);
    }
    if zero > 0 {
        caption = format!("{caption}, {zero} at zero amplitude");
    }
    caption
}

impl sealed::Render for ShatteringScatter {
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), FigureError> {
        let positive = |a: f64| a.is_finite() && a > 0.0;
        let amplitudes = self
            .runs
            .iter()
            .flat_map(|r| r.valid())
            .map(|n| n.amplitude)
            .filter(|a| positive(*a));
        let Some(y_range) = style::log_range(amplitudes) else {
            let what = if self.runs.iter().any(|r| r.valid().next().is_some()) {
                "amplitudes (none finite and > 0)"
            } else {
                "neurons (none with a finite activation rate in [0, 1])"
            };
            return Err(FigureError::NoData {
                figure: SCATTER,
                what: what.into(),
            });
        };
        let offset_max = style::min_max(
            self.runs
                .iter()
                .flat_map(|r| r.valid())
                .map(|n| n.offset.abs())
                .filter(|t| t.is_finite()),
        )
        .map(|(_, hi)| hi)
        .filter(|hi| *hi > 0.0)
        .unwrap_or(1.0);
        let colour_of = |t: f64| style::viridis(t.abs() / offset_max);

        let title = self
            .title
            .as_deref()
            .unwrap_or("Activation rate against amplitude per neuron");
        let area = titled(root, title, SCATTER)?;
        let (width, _) = area.dim_in_pixel();
        let (panels_area, bar_area) = area.split_horizontally(width.saturating_sub(140));
        let (rows, cols) = self.grid();
        let panels = panels_area.split_evenly((rows as usize, cols as usize));
        for (run, panel) in self.runs.iter().zip(&panels) {
            let caption = panel_caption(run);
            // Shrunk only when a title would still be wider than its panel.
            let (panel_w, _) = panel.dim_in_pixel();
            let fit = (f64::from(panel_w) - 40.0) / (0.55 * caption.chars().count().max(1) as f64);
            let title_size = style::PANEL_TITLE_SIZE.min(fit).max(14.0);
            let mut chart = ChartBuilder::on(panel)
                .caption(caption, font(title_size))
                .margin(16)
                .margin_right(24)
                .x_label_area_size(64)
                .y_label_area_size(100)
                .build_cartesian_2d(
                    -2.0f64..102.0f64,
                    y_range
                        .clone()
                        .log_scale()
                        .with_key_points(style::log_ticks(&y_range)),
                )
                .drawn(SCATTER)?;
            style::mesh(
                &mut chart,
                "activation rate ρ (% of training points)",
                "amplitude |v|·‖w‖ (log scale)",
                SCATTER,
            )?;
            let threshold = 100.0 * LOW_RATE;
            chart
                .draw_series(DashedLineSeries::new(
                    [(threshold, y_range.start), (threshold, y_range.end)],
                    10,
                    7,
                    style::REFERENCE.stroke_width(2),
                ))
                .drawn(SCATTER)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    "ρ = 10%",
                    (
                        threshold + 1.5,
                        y_range.end / (y_range.end / y_range.start).powf(0.03),
                    ),
                    font(style::TICK_SIZE).pos(Pos::new(HPos::Left, VPos::Top)),
                )))
                .drawn(SCATTER)?;
            let radius = if run.neurons.len() > 3000 { 2 } else { 3 };
            chart
                .draw_series(run.valid().filter(|n| positive(n.amplitude)).map(|n| {
                    Circle::new(
                        (100.0 * n.activation_rate, n.amplitude),
                        radius,
                        colour_of(n.offset).mix(0.85).filled(),
                    )
                }))
                .drawn(SCATTER)?;
            chart
                .draw_series(run.valid().filter(|n| !positive(n.amplitude)).map(|n| {
                    TriangleMarker::new(
                        (100.0 * n.activation_rate, y_range.start),
                        5,
                        colour_of(n.offset).stroke_width(1),
                    )
                }))
                .drawn(SCATTER)?;
        }
        style::colour_bar(&bar_area, 0.0, offset_max, "boundary offset |t|", SCATTER)
    }
}

/// One run's activation rates, for [`ActivationHistogram`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramRun {
    /// Legend label.
    pub label: String,
    /// Activation rates in `[0, 1]`, one per neuron; others (NaN, out of range) are skipped.
    pub activation_rates: Vec<f64>,
}

impl From<&ShatteringRun> for HistogramRun {
    fn from(run: &ShatteringRun) -> Self {
        Self {
            label: run.label.clone(),
            activation_rates: run.neurons.iter().map(|n| n.activation_rate).collect(),
        }
    }
}

/// The histogram of activation rates: 20 bins of 5% (`[0, 5%)`, ..., `[95%, 100%]`; dead
/// neurons fall in the first), bar heights in percent of the run's neurons so runs of
/// different widths compare. Several runs stand side by side within each bin, one colour
/// each; the legend gives each run's fraction at or below 10%, marked by a dashed line.
/// Canvas 1000 x 620. Errors when no run has a valid rate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActivationHistogram {
    /// Figure title; `None` gives "Histogram of activation rates".
    pub title: Option<String>,
    /// The runs.
    pub runs: Vec<HistogramRun>,
}

/// Number of 5% bins.
const BINS: usize = 20;

/// Percent of the valid rates in each 5% bin, and the number of valid rates.
fn histogram(rates: &[f64]) -> ([f64; BINS], usize) {
    let mut counts = [0usize; BINS];
    let mut total = 0;
    for &r in rates {
        if r.is_finite() && (0.0..=1.0).contains(&r) {
            // A small tolerance keeps 0.15 (computed as 3/20) in the bin [15%, 20%).
            let bin = ((r * BINS as f64 + 1e-9).floor() as usize).min(BINS - 1);
            counts[bin] += 1;
            total += 1;
        }
    }
    let mut percent = [0.0; BINS];
    if total > 0 {
        for (p, c) in percent.iter_mut().zip(counts) {
            *p = 100.0 * c as f64 / total as f64;
        }
    }
    (percent, total)
}

impl Figure for ActivationHistogram {
    fn name(&self) -> &'static str {
        HISTOGRAM
    }

    fn size(&self) -> (u32, u32) {
        (1000, 620)
    }
}

impl sealed::Render for ActivationHistogram {
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), FigureError> {
        let hists: Vec<([f64; BINS], usize)> = self
            .runs
            .iter()
            .map(|r| histogram(&r.activation_rates))
            .collect();
        if hists.iter().all(|(_, total)| *total == 0) {
            return Err(FigureError::NoData {
                figure: HISTOGRAM,
                what: "activation rates (none finite in [0, 1])".into(),
            });
        }
        let top = hists
            .iter()
            .flat_map(|(h, _)| h.iter().copied())
            .fold(0.0, f64::max);
        let title = self
            .title
            .as_deref()
            .unwrap_or("Histogram of activation rates");
        let area = titled(root, title, HISTOGRAM)?;
        // The legend in a strip right of the chart, never over the bars (a weight-decay run
        // has its tallest bar at the right end).
        let mut entries: Vec<LegendEntry> = self
            .runs
            .iter()
            .zip(&hists)
            .enumerate()
            .map(|(i, (run, (hist, total)))| LegendEntry {
                label: if *total > 0 {
                    let low: f64 = hist[..2].iter().sum();
                    format!("{} ({:.0}% with ρ ≤ 10%)", run.label, low)
                } else {
                    format!("{} (no valid rate)", run.label)
                },
                color: series_color(i),
                symbols: vec![Symbol::Block],
            })
            .collect();
        entries.push(LegendEntry {
            label: "ρ = 10%".into(),
            color: style::REFERENCE,
            symbols: vec![Symbol::Dashed],
        });
        let (width, _) = area.dim_in_pixel();
        let legend_width = style::side_legend_width(&area, "", &entries, HISTOGRAM)?
            .max(160)
            .min(width / 2);
        let (plot_area, legend_area) = area.split_horizontally(width - legend_width);
        style::side_legend(&legend_area, "", &entries, HISTOGRAM)?;
        let y_top = (top * 1.12).max(1.0);
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(16)
            .margin_right(30)
            .x_label_area_size(64)
            .y_label_area_size(90)
            .build_cartesian_2d(0.0f64..100.0f64, 0.0f64..y_top)
            .drawn(HISTOGRAM)?;
        style::mesh(
            &mut chart,
            "activation rate ρ (% of training points, 5% bins)",
            "neurons (% of the network)",
            HISTOGRAM,
        )?;
        let runs = self.runs.len() as f64;
        let bin_width = 100.0 / BINS as f64;
        let gap = 0.08 * bin_width;
        let bar_width = (bin_width - 2.0 * gap) / runs;
        for (i, (hist, _)) in hists.iter().enumerate() {
            let colour = series_color(i);
            chart
                .draw_series(
                    hist.iter()
                        .enumerate()
                        .filter(|(_, h)| **h > 0.0)
                        .map(|(b, &h)| {
                            let x0 = b as f64 * bin_width + gap + i as f64 * bar_width;
                            Rectangle::new([(x0, 0.0), (x0 + bar_width, h)], colour.filled())
                        }),
                )
                .drawn(HISTOGRAM)?;
        }
        let threshold = 100.0 * LOW_RATE;
        chart
            .draw_series(DashedLineSeries::new(
                [(threshold, 0.0), (threshold, y_top)],
                10,
                7,
                style::REFERENCE.stroke_width(2),
            ))
            .drawn(HISTOGRAM)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bins_are_five_percent_and_close_at_one() {
        let (h, total) = histogram(&[0.0, 0.04, 0.05, 0.15, 1.0, f64::NAN, 1.5, -0.1]);
        assert_eq!(total, 5);
        assert_eq!(h[0], 40.0);
        assert_eq!(h[1], 20.0);
        assert_eq!(h[3], 20.0);
        assert_eq!(h[19], 20.0);
        assert_eq!(h.iter().sum::<f64>(), 100.0);
    }

    #[test]
    fn low_fraction_counts_dead_neurons() {
        let neuron = |activation_rate| NeuronPoint {
            activation_rate,
            amplitude: 1.0,
            offset: 0.5,
        };
        let run = ShatteringRun {
            label: "x".into(),
            neurons: vec![neuron(0.0), neuron(0.1), neuron(0.5), neuron(f64::NAN)],
        };
        assert_eq!(run.low_fraction(), Some(2.0 / 3.0));
    }
}
