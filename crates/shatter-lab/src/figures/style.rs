//! The look shared by every figure: the embedded font and its sizes, the Okabe-Ito palette, the
//! viridis colour map, axis ranges (padded, log-safe), tick labels, mesh and legend settings.
//! Figures call these helpers; they decide nothing about data.

use std::ops::Range;
use std::sync::OnceLock;

use plotters::chart::{ChartContext, SeriesLabelPosition};
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::{
    Cartesian2d, Color, DrawingArea, DrawingBackend, FontDesc, FontFamily, FontStyle, PathElement,
    RGBColor, Rectangle, ShapeStyle, Text, TextStyle, BLACK, WHITE,
};
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Drawn, FigureError};

/// The font family every text element names. The first entry is the embedded font; SVG
/// viewers without it fall back to the second.
pub const FAMILY: &str = "DejaVu Sans, sans-serif";

/// DejaVu Sans 2.37 (Bitstream Vera licence, `assets/fonts/DejaVuSans-LICENSE.txt`).
pub(crate) static FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Figure title size in pixels.
pub const TITLE_SIZE: f64 = 30.0;
/// Panel title size in pixels.
pub const PANEL_TITLE_SIZE: f64 = 24.0;
/// Axis description size in pixels.
pub const AXIS_SIZE: f64 = 23.0;
/// Tick label size in pixels.
pub const TICK_SIZE: f64 = 19.0;
/// Legend text size in pixels.
pub const LEGEND_SIZE: f64 = 19.0;

/// Okabe-Ito colours in the order series get them: blue, vermillion, bluish green, reddish
/// purple, orange, sky blue, black, yellow. Yellow comes last: it is faint on white.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x00, 0x00),
    RGBColor(0xF0, 0xE4, 0x42),
];

/// Grey for reference lines (`2/eta`, the 10% threshold).
pub const REFERENCE: RGBColor = RGBColor(0x55, 0x55, 0x55);

/// Grey of the major grid lines.
pub const GRID: RGBColor = RGBColor(0xE0, 0xE0, 0xE0);

/// The `i`-th series colour, cycling through [`PALETTE`].
pub fn series_color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Registers the embedded font with plotters, once per process.
pub(crate) fn ensure_font() -> Result<(), FigureError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(FigureError::Font)
    }
}

/// Black text in the embedded font, `size` pixels.
pub fn font(size: f64) -> TextStyle<'static> {
    FontDesc::new(FontFamily::Name(FAMILY), size, FontStyle::Normal).color(&BLACK)
}

/// Viridis at `f` in `[0, 1]` (clamped; NaN gives the low end): dark purple to yellow,
/// perceptually uniform and readable in grey and with colour-vision deficiencies. Linear
/// interpolation between nine anchors of the matplotlib table.
pub fn viridis(f: f64) -> RGBColor {
    const ANCHORS: [(f64, f64, f64); 9] = [
        (68.0, 1.0, 84.0),
        (71.0, 44.0, 122.0),
        (59.0, 81.0, 139.0),
        (44.0, 113.0, 142.0),
        (33.0, 144.0, 141.0),
        (39.0, 173.0, 129.0),
        (92.0, 200.0, 99.0),
        (170.0, 220.0, 50.0),
        (253.0, 231.0, 37.0),
    ];
    let f = if f.is_nan() { 0.0 } else { f.clamp(0.0, 1.0) };
    let pos = f * (ANCHORS.len() - 1) as f64;
    let i = (pos.floor() as usize).min(ANCHORS.len() - 2);
    let s = pos - i as f64;
    let (a, b) = (ANCHORS[i], ANCHORS[i + 1]);
    let mix = |x: f64, y: f64| (x + s * (y - x)).round().clamp(0.0, 255.0) as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The range of the finite values, padded by 5% of its width on each side; an interval of
/// width 2 (or 20% of the value) around a single value. `None` without finite values.
pub fn linear_range(values: impl IntoIterator<Item = f64>) -> Option<Range<f64>> {
    let (lo, hi) = min_max(values.into_iter().filter(|v| v.is_finite()))?;
    if hi > lo {
        let pad = 0.05 * (hi - lo);
        Some(lo - pad..hi + pad)
    } else {
        let pad = if lo == 0.0 { 1.0 } else { 0.1 * lo.abs() };
        Some(lo - pad..hi + pad)
    }
}

/// The range of the finite positive values for a log axis, padded by 5% of its width in
/// decades on each side; a factor 2 each side of a single value. `None` without finite
/// positive values.
pub fn log_range(values: impl IntoIterator<Item = f64>) -> Option<Range<f64>> {
    let (lo, hi) = min_max(values.into_iter().filter(|v| v.is_finite() && *v > 0.0))?;
    if hi > lo {
        let pad = 10f64.powf(0.05 * (hi / lo).log10());
        Some(lo / pad..hi * pad)
    } else {
        Some(lo / 2.0..hi * 2.0)
    }
}

/// Tick positions for a log axis over `range`: 1-2-5 (or finer) within each decade when the
/// range spans few decades, every decade or every few decades when it spans many, so that
/// there are about 4 to 10 labelled ticks. Empty for a range that is not finite and positive.
pub fn log_ticks(range: &Range<f64>) -> Vec<f64> {
    let (lo, hi) = (range.start, range.end);
    if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi > lo) {
        return Vec::new();
    }
    let decades = (hi / lo).log10();
    let mantissas: &[f64] = if decades < 0.7 {
        &[1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0]
    } else if decades < 1.5 {
        &[1.0, 2.0, 3.0, 5.0]
    } else if decades < 3.5 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let step = if decades < 3.5 {
        1
    } else {
        ((decades / 8.0).ceil() as i32).max(1)
    };
    let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let mut ticks = Vec::new();
    for e in first..=last {
        if e.rem_euclid(step) != 0 {
            continue;
        }
        for m in mantissas {
            let v = m * 10f64.powi(e);
            if v >= lo && v <= hi {
                ticks.push(v);
            }
        }
    }
    if ticks.len() < 2 {
        ticks = vec![lo, (lo * hi).sqrt(), hi];
    }
    ticks
}

/// Stroke width of a data line: 2 pixels, 1 for lines of more than 300 points (thick
/// polylines through noisy dense data get miter spikes in the PNG rasteriser).
pub fn line_width(points: usize) -> u32 {
    if points > 300 {
        1
    } else {
        2
    }
}

/// The smallest and largest of `values`, `None` when empty.
pub fn min_max(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// A tick label: plain decimals with about three significant digits from `1e-3` to `1e5`,
/// `1e-5` style outside, `0` for zero.
pub fn format_tick(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v == 0.0 { "0".into() } else { format!("{v}") };
    }
    let magnitude = v.abs().log10().floor();
    if (-3.0..5.0).contains(&magnitude) {
        let decimals = (2.0 - magnitude).clamp(0.0, 6.0) as usize;
        trim_zeros(format!("{v:.decimals$}"))
    } else {
        let s = format!("{v:.1e}");
        // "1.0e-5" -> "1e-5", "2.5e6" stays.
        s.replace(".0e", "e")
    }
}

/// The one format for numbers in captions, titles and legends: three significant digits,
/// trailing zeros dropped (`2/0.9` gives `2.22`, `0.01` gives `0.01`, `1000` gives `1000`),
/// `1.23e-5` style below `1e-4` and from `1e6`; `-` for a value that is not finite.
pub fn fmt_num(v: f64) -> String {
    if v.is_finite() {
        format_sig(v, 3)
    } else {
        "-".into()
    }
}

/// A loss name with its normalisation, for legends that mix the two conventions:
/// `square (1/2n)` and `mse (1/n)`; other names are returned as they are.
pub fn loss_label(loss: &str) -> String {
    match loss {
        "square" => "square (1/2n)".into(),
        "mse" => "mse (1/n)".into(),
        other => other.into(),
    }
}

/// Whether values call for a log axis: all the finite ones positive and spanning more than one
/// decade (largest over smallest above 10).
pub fn wants_log_axis(values: impl IntoIterator<Item = f64>) -> bool {
    let mut any_non_positive = false;
    let finite = values.into_iter().filter(|v| v.is_finite()).filter(|v| {
        any_non_positive |= *v <= 0.0;
        *v > 0.0
    });
    let span = min_max(finite);
    !any_non_positive && matches!(span, Some((lo, hi)) if hi / lo > 10.0)
}

/// Whether a reference line at `level` may set the axis range of data spanning `lo..hi`: it
/// may when including it at most doubles the span (linear) or adds at most one decade (log).
/// A line that fails is drawn as an annotation at the axis edge instead, so the data keep the
/// plot's height.
pub fn reference_fits(level: f64, lo: f64, hi: f64, log: bool) -> bool {
    if !(level.is_finite() && lo.is_finite() && hi.is_finite()) {
        return false;
    }
    if log {
        lo > 0.0 && level > 0.0 && level <= hi * 10.0 && level >= lo / 10.0
    } else {
        let width = (hi - lo)
            .max(hi.abs().max(lo.abs()) * 0.1)
            .max(f64::MIN_POSITIVE);
        level <= hi + width && level >= lo - width
    }
}

/// A number with `digits` significant digits, trailing zeros dropped (for legends).
pub fn format_sig(v: f64, digits: usize) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor();
    if (-4.0..6.0).contains(&magnitude) {
        let decimals = ((digits as f64 - 1.0) - magnitude).clamp(0.0, 10.0) as usize;
        trim_zeros(format!("{v:.decimals$}"))
    } else {
        format!("{v:.*e}", digits.saturating_sub(1))
    }
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        let t = s.trim_end_matches('0').trim_end_matches('.');
        if t == "-0" {
            "0".into()
        } else {
            t.to_string()
        }
    } else {
        s
    }
}

/// Draws the axes, ticks, light grid and axis descriptions of a chart with `f64` axes.
pub(crate) fn mesh<DB, X, Y>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<X, Y>>,
    x_desc: &str,
    y_desc: &str,
    figure: &'static str,
) -> Result<(), FigureError>
where
    DB: DrawingBackend,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style(font(AXIS_SIZE))
        .label_style(font(TICK_SIZE))
        .x_label_formatter(&|v| format_tick(*v))
        .y_label_formatter(&|v| format_tick(*v))
        .x_labels(8)
        .y_labels(8)
        .bold_line_style(GRID)
        .light_line_style(WHITE.mix(0.0))
        .axis_style(BLACK)
        .draw()
        .drawn(figure)
}

/// Draws the series legend of a chart in a white box with a thin grey border.
pub(crate) fn legend<'a, DB, X, Y>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
    figure: &'static str,
) -> Result<(), FigureError>
where
    DB: DrawingBackend + 'a,
    X: Ranged,
    Y: Ranged,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.92))
        .border_style(RGBColor(0xA0, 0xA0, 0xA0))
        .label_font(font(LEGEND_SIZE))
        .margin(12)
        .legend_area_size(36)
        .draw()
        .drawn(figure)
}

/// A legend symbol: a short line in `style`, for `.legend(...)` of a series.
pub(crate) fn line_symbol(x: i32, y: i32, style: ShapeStyle) -> PathElement<(i32, i32)> {
    PathElement::new(vec![(x, y), (x + 28, y)], style)
}

/// How one entry of a stand-alone legend is drawn.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Symbol {
    /// A solid line.
    Line,
    /// A dashed line.
    Dashed,
    /// A dotted line.
    Dotted,
    /// A filled circle.
    Dot,
    /// A filled triangle.
    Triangle,
    /// A hollow square.
    Square,
    /// A filled square (a bar of a bar chart).
    Block,
    /// No symbol: a text line (for notes).
    None,
}

/// One entry of a stand-alone legend.
#[derive(Clone, Debug)]
pub(crate) struct LegendEntry {
    pub label: String,
    pub color: RGBColor,
    pub symbols: Vec<Symbol>,
}

/// Draws a legend as a column of entries in `area` (a strip beside the chart), top-left
/// anchored, so it can never cover data.
pub(crate) fn side_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    heading: &str,
    entries: &[LegendEntry],
    figure: &'static str,
) -> Result<(), FigureError> {
    let line_height = (LEGEND_SIZE * 1.55) as i32;
    let mut y = 10 + line_height / 2;
    let left = 8;
    if !heading.is_empty() {
        area.draw(&Text::new(
            heading.to_string(),
            (left, y),
            font(LEGEND_SIZE).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .drawn(figure)?;
        y += line_height;
    }
    for entry in entries {
        let style = entry.color.stroke_width(3);
        let mut x = left;
        for symbol in &entry.symbols {
            match symbol {
                Symbol::Line => {
                    area.draw(&PathElement::new(vec![(x, y), (x + 30, y)], style))
                        .drawn(figure)?;
                    x += 36;
                }
                Symbol::Dashed => {
                    for k in 0..3 {
                        let x0 = x + 12 * k;
                        area.draw(&PathElement::new(vec![(x0, y), (x0 + 7, y)], style))
                            .drawn(figure)?;
                    }
                    x += 36;
                }
                Symbol::Dotted => {
                    for k in 0..6 {
                        let x0 = x + 6 * k;
                        area.draw(&PathElement::new(vec![(x0, y), (x0 + 2, y)], style))
                            .drawn(figure)?;
                    }
                    x += 36;
                }
                Symbol::Triangle => {
                    area.draw(&plotters::element::TriangleMarker::new(
                        (x + 7, y),
                        7,
                        entry.color.filled(),
                    ))
                    .drawn(figure)?;
                    x += 18;
                }
                Symbol::Dot => {
                    area.draw(&plotters::element::Circle::new(
                        (x + 6, y),
                        6,
                        entry.color.filled(),
                    ))
                    .drawn(figure)?;
                    x += 18;
                }
                Symbol::Square => {
                    area.draw(&Rectangle::new(
                        [(x, y - 6), (x + 12, y + 6)],
                        entry.color.stroke_width(2),
                    ))
                    .drawn(figure)?;
                    x += 18;
                }
                Symbol::Block => {
                    area.draw(&Rectangle::new(
                        [(x, y - 8), (x + 16, y + 8)],
                        entry.color.filled(),
                    ))
                    .drawn(figure)?;
                    x += 22;
                }
                Symbol::None => {}
            }
        }
        area.draw(&Text::new(
            entry.label.clone(),
            (x + 6, y),
            font(LEGEND_SIZE).pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .drawn(figure)?;
        y += line_height;
    }
    Ok(())
}

/// How wide a stand-alone legend with these entries (and heading) is, in pixels, measured
/// with the embedded font.
pub(crate) fn side_legend_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    heading: &str,
    entries: &[LegendEntry],
    figure: &'static str,
) -> Result<u32, FigureError> {
    let style = font(LEGEND_SIZE);
    let mut widest = area.estimate_text_size(heading, &style).drawn(figure)?.0;
    for e in entries {
        let symbols: u32 = e
            .symbols
            .iter()
            .map(|s| match s {
                Symbol::Line | Symbol::Dashed | Symbol::Dotted => 36,
                Symbol::Dot | Symbol::Triangle | Symbol::Square => 18,
                Symbol::Block => 22,
                Symbol::None => 0,
            })
            .sum();
        let text = area.estimate_text_size(&e.label, &style).drawn(figure)?.0;
        widest = widest.max(symbols + text + 6);
    }
    Ok(widest + 30)
}

/// A vertical colour bar for viridis over `[lo, hi]`, with its label, in `area`.
pub(crate) fn colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lo: f64,
    hi: f64,
    label: &str,
    figure: &'static str,
) -> Result<(), FigureError> {
    let mut chart = plotters::chart::ChartBuilder::on(area)
        .margin_top(48)
        .margin_bottom(80)
        .margin_left(20)
        .margin_right(8)
        .y_label_area_size(0)
        .right_y_label_area_size(80)
        .build_cartesian_2d(0f64..1f64, lo..hi)
        .drawn(figure)?;
    let steps = 128;
    let step = (hi - lo) / steps as f64;
    chart
        .draw_series((0..steps).map(|i| {
            let y0 = lo + i as f64 * step;
            let colour = viridis((i as f64 + 0.5) / steps as f64);
            Rectangle::new([(0.0, y0), (1.0, y0 + step)], colour.filled())
        }))
        .drawn(figure)?;
    chart
        .configure_mesh()
        .disable_x_axis()
        .disable_mesh()
        .y_desc(label)
        .axis_desc_style(font(AXIS_SIZE))
        .label_style(font(TICK_SIZE))
        .y_label_formatter(&|v| format_tick(*v))
        .set_all_tick_mark_size(6)
        .y_labels(6)
        .draw()
        .drawn(figure)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_short_and_exact() {
        assert_eq!(format_tick(0.0), "0");
        assert_eq!(format_tick(0.05), "0.05");
        assert_eq!(format_tick(2.2), "2.2");
        assert_eq!(format_tick(150.0), "150");
        assert_eq!(format_tick(0.125), "0.125");
        assert_eq!(format_tick(1e-5), "1e-5");
        assert_eq!(format_tick(-0.5), "-0.5");
        assert_eq!(format_tick(2.5e6), "2.5e6");
    }

    #[test]
    fn legend_numbers_have_the_requested_digits() {
        assert_eq!(format_sig(0.41234, 2), "0.41");
        assert_eq!(format_sig(-0.0761, 2), "-0.076");
        assert_eq!(format_sig(2.0 / 0.9, 3), "2.22");
        assert_eq!(format_sig(1234.0, 2), "1234");
    }

    #[test]
    fn ranges_survive_degenerate_input() {
        assert_eq!(linear_range([]), None);
        assert_eq!(linear_range([f64::NAN]), None);
        assert_eq!(linear_range([0.0, 0.0]), Some(-1.0..1.0));
        let r = linear_range([2.0]).unwrap_or(0.0..0.0);
        assert!(r.start < 2.0 && r.end > 2.0);
        assert_eq!(log_range([0.0, -1.0, f64::INFINITY]), None);
        assert_eq!(log_range([3.0]), Some(1.5..6.0));
        let r = log_range([1.0, 100.0, 0.0]).unwrap_or(0.0..0.0);
        assert!(r.start < 1.0 && r.start > 0.5 && r.end > 100.0 && r.end < 200.0);
    }

    #[test]
    fn log_ticks_are_round_and_inside() {
        let ticks = log_ticks(&(0.015..3.0));
        let expected = [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0];
        assert_eq!(ticks.len(), expected.len(), "{ticks:?}");
        assert!(ticks
            .iter()
            .zip(expected)
            .all(|(t, e)| (t / e - 1.0).abs() < 1e-12));
        assert!((4..=8).contains(&log_ticks(&(1e-11..0.2)).len()));
        assert!(log_ticks(&(1e-11..0.2))
            .iter()
            .all(|t| (1e-11..0.2).contains(t)));
        assert_eq!(log_ticks(&(1.5..6.0)).first(), Some(&1.5));
        assert!(log_ticks(&(0.0..1.0)).is_empty());
        assert_eq!(log_ticks(&(1.01..1.02)).len(), 3);
    }

    #[test]
    fn viridis_spans_purple_to_yellow() {
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
        assert_eq!(viridis(f64::NAN), viridis(0.0));
        assert_eq!(viridis(7.0), viridis(1.0));
    }
}
