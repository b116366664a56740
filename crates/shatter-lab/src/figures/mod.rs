//! Figures of the papers' experiments, as SVG and PNG: training curves with the `2/eta` line,
//! the shattering scatter and histogram (SCIENCE.md section 5), log-log rate plots with fitted
//! slopes and the theory rates (section 6), the univariate fit with its knots, the population
//! weight `g_P` (section 4), the Hessian spectral density, a measured-against-paper bar chart,
//! and the lower-bound construction's atom map and curves (`construction`).
//!
//! Every figure is a plain data struct implementing [`Figure`]; [`write_figure`] writes
//! `<stem>.svg` and `<stem>.png`, [`svg_string`] returns the SVG for inlining in an HTML report
//! and [`png_bytes`] the encoded PNG. Drawing is pure: the same data gives the same bytes. This
//! module draws; it computes nothing but what a figure shows (a log-log fit, a histogram, a
//! tabulated `g_P`). Reading runs and choosing what to plot is left to the report.
//!
//! Text is set in DejaVu Sans, embedded in the library (`assets/fonts`, Bitstream Vera licence
//! beside it) and rendered with `ab_glyph` by this module's own text setter (`raster.rs`:
//! sub-pixel pen positions, kerning, each glyph at its own bounds), so PNGs have evenly spaced
//! text on machines with no system fonts.
//! SVG text names the family `DejaVu Sans, sans-serif`, so viewers without it fall back to
//! their sans-serif. Colours come from the Okabe-Ito palette and viridis, both readable with
//! the common colour-vision deficiencies.

mod axis;
mod comparison;
mod construction;
mod population;
mod raster;
mod rates;
mod shattering;
mod spectrum;
pub mod style;
mod training;
mod univariate;

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::{BitMapBackend, DrawingArea, DrawingAreaErrorKind, DrawingBackend};
use plotters::prelude::{IntoDrawingArea, SVGBackend, WHITE};

pub use axis::{AxisPlot, AxisSeries};
pub use comparison::{Comparison, ComparisonRow};
pub use construction::{AtomMap, Curve, CurvePlot, CurveStyle};
pub use population::PopulationWeight;
pub use rates::{fit_loglog, Fit, RatePlot, RateSeries};
pub use shattering::{
    ActivationHistogram, HistogramRun, NeuronPoint, ShatteringRun, ShatteringScatter,
};
pub use spectrum::SpectralDensityPlot;
pub use training::{SharpnessPoint, TrainingCurves, TrainingSeries};
pub use univariate::UnivariateFit;

/// What can go wrong when drawing a figure.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    /// A figure, or a required part of it, has nothing that can be drawn: no points, or only
    /// non-finite ones (or, on a log axis, only non-positive ones).
    #[error("{figure}: nothing to draw for {what}")]
    NoData {
        /// The figure.
        figure: &'static str,
        /// The part with nothing to draw (a series label, "series", ...).
        what: String,
    },
    /// Two columns that must pair up have different lengths.
    #[error("{figure}: {what} has {left} and {right} values; they must pair up")]
    LengthMismatch {
        /// The figure.
        figure: &'static str,
        /// The pair of columns, for example "series `eta=0.9`: epochs and train_loss".
        what: String,
        /// Length of the first column.
        left: usize,
        /// Length of the second column.
        right: usize,
    },
    /// A scalar setting is out of its range.
    #[error("{figure}: {what} = {value}; expected {expected}")]
    OutOfRange {
        /// The figure.
        figure: &'static str,
        /// The setting.
        what: &'static str,
        /// The value given.
        value: f64,
        /// The accepted range, in words.
        expected: &'static str,
    },
    /// Too few points for a log-log fit, or values that are not finite and positive.
    #[error("log-log fit: {0}")]
    Fit(String),
    /// A theory quantity could not be computed.
    #[error("{figure}: {message}")]
    Theory {
        /// The figure.
        figure: &'static str,
        /// The error from `shatter_core::theory`.
        message: String,
    },
    /// The embedded font could not be loaded (a bug: the font is part of the library).
    #[error("the embedded DejaVu Sans font could not be registered")]
    Font,
    /// The plotting backend failed (out of the canvas, a font problem).
    #[error("{figure}: drawing failed: {message}")]
    Drawing {
        /// The figure.
        figure: &'static str,
        /// The backend's message.
        message: String,
    },
    /// Encoding the PNG failed.
    #[error("encoding the PNG of {figure}: {message}")]
    Png {
        /// The figure.
        figure: &'static str,
        /// The encoder's message.
        message: String,
    },
    /// Writing a file failed.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// The two files [`write_figure`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FigurePaths {
    /// `<stem>.svg`.
    pub svg: PathBuf,
    /// `<stem>.png`.
    pub png: PathBuf,
}

mod sealed {
    use plotters::coord::Shift;
    use plotters::prelude::{DrawingArea, DrawingBackend};

    /// Drawing onto any plotters backend. Private so the set of figures stays in this module.
    pub trait Render {
        /// Checks the data and draws the whole figure onto `root` (already white).
        fn render<DB: DrawingBackend>(
            &self,
            root: &DrawingArea<DB, Shift>,
        ) -> Result<(), super::FigureError>;
    }
}

/// A figure: a plain data struct that knows its canvas size and how to draw itself.
///
/// Implemented by [`TrainingCurves`], [`ShatteringScatter`], [`ActivationHistogram`],
/// [`RatePlot`], [`UnivariateFit`], [`PopulationWeight`], [`SpectralDensityPlot`],
/// [`Comparison`], [`AtomMap`] and [`CurvePlot`]; the drawing itself is private to this
/// module.
pub trait Figure: sealed::Render {
    /// A short name for error messages (`"training curves"`).
    fn name(&self) -> &'static str;
    /// Canvas size in pixels: PNG pixels and SVG user units.
    fn size(&self) -> (u32, u32);
}

/// Renders `figure` to an SVG document.
///
/// Errors for data with nothing to draw (see each figure's struct) or a backend failure.
/// Allocates the string (tens to hundreds of kilobytes; a scatter of `K` neurons adds about
/// `100 K` bytes).
pub fn svg_string<F: Figure>(figure: &F) -> Result<String, FigureError> {
    style::ensure_font()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, figure.size()).into_drawing_area();
        root.fill(&WHITE).drawn(figure.name())?;
        figure.render(&root)?;
        root.present().drawn(figure.name())?;
    }
    Ok(svg)
}

/// Renders `figure` to an RGB PNG, encoded.
///
/// Allocates the `3 w h` byte canvas and the encoded file.
pub fn png_bytes<F: Figure>(figure: &F) -> Result<Vec<u8>, FigureError> {
    style::ensure_font()?;
    let (width, height) = figure.size();
    let mut pixels = vec![0u8; 3 * width as usize * height as usize];
    {
        let root = raster::GlyphText::new(BitMapBackend::with_buffer(&mut pixels, (width, height)))
            .into_drawing_area();
        root.fill(&WHITE).drawn(figure.name())?;
        figure.render(&root)?;
        root.present().drawn(figure.name())?;
    }
    let png_error = |e: png::EncodingError| FigureError::Png {
        figure: figure.name(),
        message: e.to_string(),
    };
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(png_error)?;
        writer.write_image_data(&pixels).map_err(png_error)?;
        writer.finish().map_err(png_error)?;
    }
    Ok(out)
}

/// Writes `<stem>.svg` and `<stem>.png` and returns their paths.
///
/// Both images are rendered before either file is written, so invalid data leaves no file
/// behind. The parent folder must exist. `stem` may contain dots (`fig.eta0.9` writes
/// `fig.eta0.9.svg`).
pub fn write_figure<F: Figure>(figure: &F, stem: &Path) -> Result<FigurePaths, FigureError> {
    let svg = svg_string(figure)?;
    let png = png_bytes(figure)?;
    let paths = FigurePaths {
        svg: with_suffix(stem, "svg"),
        png: with_suffix(stem, "png"),
    };
    std::fs::write(&paths.svg, svg).map_err(|source| FigureError::Io {
        path: paths.svg.clone(),
        source,
    })?;
    std::fs::write(&paths.png, png).map_err(|source| FigureError::Io {
        path: paths.png.clone(),
        source,
    })?;
    Ok(paths)
}

/// Writes the training curves; see [`TrainingCurves`] and [`write_figure`].
pub fn training_curves(data: &TrainingCurves, stem: &Path) -> Result<FigurePaths, FigureError> {
    write_figure(data, stem)
}

/// Writes the shattering scatter; see [`ShatteringScatter`] and [`write_figure`].
pub fn shattering_scatter(
    data: &ShatteringScatter,
    stem: &Path,
) -> Result<FigurePaths, FigureError> {
    write_figure(data, stem)
}

/// Writes the activation-rate histogram; see [`ActivationHistogram`] and [`write_figure`].
pub fn activation_histogram(
    data: &ActivationHistogram,
    stem: &Path,
) -> Result<FigurePaths, FigureError> {
    write_figure(data, stem)
}

/// Writes the log-log rate plot; see [`RatePlot`] and [`write_figure`].
pub fn rate_plot(data: &RatePlot, stem: &Path) -> Result<FigurePaths, FigureError> {
    write_figure(data, stem)
}

/// Writes the univariate fit; see [`UnivariateFit`] and [`write_figure`].
pub fn univariate_fit(data: &UnivariateFit, stem: &Path) -> Result<FigurePaths, FigureError> {
    write_figure(data, stem)
}

/// Writes `g_P` against `t`; see [`PopulationWeight`] and [`write_figure`].
pub fn population_weight(data: &PopulationWeight, stem: &Path) -> Result<FigurePaths, FigureError> {
    write_figure(data, stem)
}

/// Writes the Hessian spectral density; see [`SpectralDensityPlot`] and [`write_figure`].
pub fn spectral_density(
    data: &SpectralDensityPlot,
    stem: &Path,
) -> Result<FigurePaths, FigureError> {
    write_figure(data, stem)
}

/// Writes the measured-against-paper bar chart; see [`Comparison`] and [`write_figure`].
pub fn bar_comparison(data: &Comparison, stem: &Path) -> Result<FigurePaths, FigureError> {
    write_figure(data, stem)
}

/// `stem` with `.ext` appended (not replacing any dot already in the file name).
fn with_suffix(stem: &Path, ext: &str) -> PathBuf {
    let mut name = stem.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}

/// Turns a plotters drawing error into [`FigureError::Drawing`].
trait Drawn<T> {
    fn drawn(self, figure: &'static str) -> Result<T, FigureError>;
}

impl<T, E: std::error::Error + Send + Sync> Drawn<T> for Result<T, DrawingAreaErrorKind<E>> {
    fn drawn(self, figure: &'static str) -> Result<T, FigureError> {
        self.map_err(|e| FigureError::Drawing {
            figure,
            message: e.to_string(),
        })
    }
}

/// The area below a figure title, after drawing the title.
///
/// The title sits centred in a band of twice its size; plotters' own `titled` places
/// `ab_glyph` text a few pixels too high.
fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    figure: &'static str,
) -> Result<DrawingArea<DB, Shift>, FigureError> {
    use plotters::prelude::Text;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let band = (2.0 * style::TITLE_SIZE) as u32;
    let (width, _) = root.dim_in_pixel();
    let (top, rest) = root.split_vertically(band);
    top.draw(&Text::new(
        title.to_string(),
        ((width / 2) as i32, (band / 2) as i32),
        style::font(style::TITLE_SIZE).pos(Pos::new(HPos::Center, VPos::Center)),
    ))
    .drawn(figure)?;
    Ok(rest)
}

#[cfg(test)]
mod tests;
