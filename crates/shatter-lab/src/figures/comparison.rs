//! Measured against paper: grouped bars, one group per quantity, the reproduction's value
//! beside the value the paper reports (SCIENCE.md section 7's "reported outcome" column).

use plotters::chart::{ChartBuilder, SeriesLabelPosition};
use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::{Color, DrawingArea, DrawingBackend, Rectangle, Text, BLACK, WHITE};
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{self, font, PALETTE};
use super::{sealed, titled, Drawn, Figure, FigureError};

const NAME: &str = "comparison";

/// One quantity: the measured value and, when the paper gives one, the paper's.
/// A linear axis whose ticks sit at given values (the group centres), with plotters' default
/// label formatting so a custom formatter can name them.
struct CategoryAxis {
    range: Range<f64>,
    keys: Vec<f64>,
}

impl Ranged for CategoryAxis {
    type ValueType = f64;
    type FormatOption = DefaultFormatting;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let f = (value - self.range.start) / (self.range.end - self.range.start);
        limit.0 + (f * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        self.keys.clone()
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ComparisonRow {
    /// Short label under the group, for example `"MSE (a)"` (about 14 characters fit).
    pub label: String,
    /// The reproduction's value.
    pub measured: f64,
    /// The paper's value, when it reports one.
    pub paper: Option<f64>,
}

/// Grouped bars of measured and paper values on a linear axis that includes 0.
///
/// Non-finite values draw no bar. Canvas `(300 + 130 rows) x 620`, at least 800 wide.
/// Errors when no row has a finite value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    /// Figure title; `None` gives "Measured against the paper".
    pub title: Option<String>,
    /// y-axis description; `None` gives "value".
    pub y_label: Option<String>,
    /// The quantities, left to right.
    pub rows: Vec<ComparisonRow>,
}

impl Figure for Comparison {
    fn name(&self) -> &'static str {
        NAME
    }

    fn size(&self) -> (u32, u32) {
        let rows = u32::try_from(self.rows.len()).unwrap_or(u32::MAX);
        (rows.saturating_mul(130).saturating_add(300).max(800), 620)
    }
}

impl sealed::Render for Comparison {
    fn render<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), FigureError> {
        let values = self
            .rows
            .iter()
            .flat_map(|r| [Some(r.measured), r.paper])
            .flatten()
            .filter(|v| v.is_finite());
        let Some((lo, hi)) = style::min_max(values) else {
            return Err(FigureError::NoData {
                figure: NAME,
                what: "rows (no finite value)".into(),
            });
        };
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let span = if hi > lo { hi - lo } else { 1.0 };
        let y_range = lo - if lo < 0.0 { 0.05 * span } else { 0.0 }..hi + 0.18 * span;
        let n = self.rows.len();
        let title = self
            .title
            .as_deref()
            .unwrap_or("Measured against the paper");
        let area = titled(root, title, NAME)?;
        let keys: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut chart = ChartBuilder::on(&area)
            .margin(16)
            .margin_right(30)
            .x_label_area_size(44)
            .y_label_area_size(100)
            .build_cartesian_2d(
                CategoryAxis {
                    range: -0.6..n as f64 - 0.4,
                    keys,
                },
                y_range,
            )
            .drawn(NAME)?;
        let labels: Vec<String> = self.rows.iter().map(|r| r.label.clone()).collect();
        let label_of = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .y_desc(self.y_label.as_deref().unwrap_or("value"))
            .axis_desc_style(font(style::AXIS_SIZE))
            .label_style(font(style::TICK_SIZE))
            .x_label_formatter(&label_of)
            .y_label_formatter(&|v| style::format_tick(*v))
            .disable_x_mesh()
            .bold_line_style(style::GRID)
            .light_line_style(WHITE.mix(0.0))
            .axis_style(BLACK)
            .draw()
            .drawn(NAME)?;
        let width = 0.36;
        // Without any paper value there is no "paper" series: measured bars are centred and
        // the legend has no empty entry.
        let with_paper = self
            .rows
            .iter()
            .any(|r| r.paper.is_some_and(f64::is_finite));
        let (left, right) = if with_paper {
            (width, 0.0)
        } else {
            (width / 2.0, width / 2.0)
        };
        let (measured_c, paper_c) = (PALETTE[0], PALETTE[4]);
        chart
            .draw_series(
                self.rows
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.measured.is_finite())
                    .map(|(i, r)| {
                        let x = i as f64;
                        Rectangle::new(
                            [(x - left, 0.0), (x + right, r.measured)],
                            measured_c.filled(),
                        )
                    }),
            )
            .drawn(NAME)?
            .label("measured")
            .legend(move |(x, y)| {
                Rectangle::new([(x + 4, y - 8), (x + 22, y + 8)], measured_c.filled())
            });
        if with_paper {
            chart
                .draw_series(self.rows.iter().enumerate().filter_map(|(i, r)| {
                    r.paper.filter(|p| p.is_finite()).map(|p| {
                        let x = i as f64;
                        Rectangle::new([(x, 0.0), (x + width, p)], paper_c.filled())
                    })
                }))
                .drawn(NAME)?
                .label("paper")
                .legend(move |(x, y)| {
                    Rectangle::new([(x + 4, y - 8), (x + 22, y + 8)], paper_c.filled())
                });
        }
        // Each bar's value above it (below it for a negative value).
        let labels = self.rows.iter().enumerate().flat_map(|(i, r)| {
            [
                (i as f64 + (right - left) / 2.0, Some(r.measured)),
                (i as f64 + width / 2.0, r.paper),
            ]
        });
        chart
            .draw_series(labels.filter_map(|(x, v)| {
                let v = v.filter(|v| v.is_finite())?;
                let v_pos = if v >= 0.0 { VPos::Bottom } else { VPos::Top };
                Some(Text::new(
                    style::format_sig(v, 3),
                    (x, v),
                    font(style::TICK_SIZE).pos(Pos::new(HPos::Center, v_pos)),
                ))
            }))
            .drawn(NAME)?;
        style::legend(&mut chart, SeriesLabelPosition::UpperRight, NAME)
    }
}
