//! Every figure drawn from small synthetic inputs: the SVG parses and names the title and axes,
//! the PNG decodes at the expected size with text in the title band, and degenerate inputs
//! give an error or a figure, never a panic. Set `SHATTER_FIGURE_DIR` to keep the files for a
//! look (the tests write into a temporary folder otherwise).

use std::path::{Path, PathBuf};

use super::*;

/// SplitMix64 uniforms in `[0, 1)`: deterministic synthetic data without a dependency.
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / (u64::MAX as f64 + 1.0)
    }

    /// Roughly standard normal (sum of 12 uniforms).
    fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.next()).sum::<f64>() - 6.0
    }
}

fn training_fixture() -> TrainingCurves {
    let mut rng = Uniform(1);
    let series = [(0.9, "large step, η = 0.9"), (0.3, "small step, η = 0.3")]
        .iter()
        .enumerate()
        .map(|(run, &(eta, label))| {
            let epochs: Vec<f64> = (0..2000).map(f64::from).collect();
            let train_loss = epochs
                .iter()
                .map(|e| {
                    let base = 0.02 + 1.5 * (-e / (150.0 + 300.0 * run as f64)).exp();
                    let spike = if run == 0 && (e % 97.0) < 3.0 {
                        2.5
                    } else {
                        1.0
                    };
                    base * spike * (1.0 + 0.05 * rng.normal())
                })
                .collect();
            let test_mse = Some(
                epochs
                    .iter()
                    .map(|e| 0.3 + 0.6 * (-e / 400.0).exp() + 0.2 * run as f64)
                    .collect(),
            );
            let sharpness = (0..40)
                .map(|k| {
                    let epoch = 50.0 * k as f64;
                    let edge = 2.0 / eta;
                    let value = edge * (1.0 - (-epoch / 300.0).exp())
                        + 0.08 * edge * (k as f64 * 1.7).sin() * (epoch / 2000.0);
                    SharpnessPoint {
                        epoch,
                        value,
                        err: 0.02 * edge,
                    }
                })
                .collect();
            TrainingSeries {
                label: label.into(),
                epochs,
                train_loss,
                test_mse,
                sharpness,
                eta: Some(eta),
            }
        })
        .collect();
    TrainingCurves {
        title: Some("Training curves, d = 10, n = 512, K = 2048".into()),
        series,
    }
}

fn shattering_fixture() -> ShatteringScatter {
    let mut rng = Uniform(2);
    let mut run = |label: &str, shattered: bool| {
        let neurons = (0..512)
            .map(|k| {
                if shattered {
                    let rate = if k % 10 == 0 {
                        0.1 + 0.5 * rng.next()
                    } else {
                        0.1 * rng.next().powi(2)
                    };
                    let offset = 1.0 - rate + 0.05 * rng.next();
                    let amplitude = if k % 50 == 0 {
                        0.0
                    } else {
                        0.02 * (3.0 * rng.normal()).exp() / (rate + 0.01)
                    };
                    NeuronPoint {
                        activation_rate: (k % 37 != 0) as u8 as f64 * rate,
                        amplitude,
                        offset,
                    }
                } else {
                    let rate = 0.2 + 0.6 * rng.next();
                    NeuronPoint {
                        activation_rate: rate,
                        amplitude: 0.01 * (0.5 * rng.normal()).exp(),
                        offset: 0.5 * rng.next(),
                    }
                }
            })
            .collect();
        ShatteringRun {
            label: label.into(),
            neurons,
        }
    };
    ShatteringScatter {
        title: None,
        runs: vec![
            run("GD, η = 0.9", true),
            run("η = 0.01, weight decay 0.1", false),
        ],
    }
}

fn histogram_fixture() -> ActivationHistogram {
    let scatter = shattering_fixture();
    ActivationHistogram {
        title: None,
        runs: scatter.runs.iter().map(HistogramRun::from).collect(),
    }
}

fn rate_fixture() -> RatePlot {
    let mut rng = Uniform(3);
    let ns = [32.0, 64.0, 128.0, 256.0, 512.0];
    let mut series = Vec::new();
    for d in 1..=5usize {
        for arm in 0..2 {
            let slope = if arm == 0 { -0.8 / d as f64 } else { -0.55 };
            let values: Vec<f64> = ns
                .iter()
                .map(|n: &f64| 0.5 * d as f64 * n.powf(slope) * (0.1 * rng.normal()).exp())
                .collect();
            let spread = values.iter().map(|v| (0.85 * v, 1.2 * v)).collect();
            series.push(RateSeries {
                label: format!("d = {d}, {}", if arm == 0 { "GD" } else { "decay" }),
                ns: ns.to_vec(),
                values,
                spread: Some(spread),
                theory_slope: (arm == 0).then(|| -1.0 / (2.0 * d as f64 + 4.0)),
                colour: d - 1,
                arm,
            });
        }
    }
    RatePlot {
        title: Some("Curse of dimensionality: test MSE against n".into()),
        y_label: None,
        series,
        baselines: (0..5).map(|c| (c, 0.5 + 0.1 * c as f64)).collect(),
        baseline_label: "constant predictor, per d".into(),
    }
}

fn univariate_fixture() -> UnivariateFit {
    let mut rng = Uniform(4);
    let truth_fn = |x: f64| (3.0 * x).sin() + 0.5 * x;
    let data = (0..30)
        .map(|i| {
            let x = -1.0 + 2.0 * i as f64 / 29.0;
            (x, truth_fn(x) + 0.2 * rng.normal())
        })
        .collect();
    let grid: Vec<f64> = (0..=400).map(|i| -1.3 + 2.6 * i as f64 / 400.0).collect();
    let knots = vec![-0.8, -0.45, -0.1, 0.3, 0.62, 0.9, 1.8];
    let learned = grid
        .iter()
        .map(|&x| {
            // The piecewise-linear interpolant of the truth at the knots.
            let pts: Vec<(f64, f64)> = [-1.3]
                .iter()
                .chain(&knots[..6])
                .chain(&[1.3])
                .map(|&k| (k, truth_fn(k)))
                .collect();
            let i = pts
                .iter()
                .rposition(|p| p.0 <= x)
                .unwrap_or(0)
                .min(pts.len() - 2);
            let (a, b) = (pts[i], pts[i + 1]);
            (x, a.1 + (x - a.0) / (b.0 - a.0) * (b.1 - a.1))
        })
        .collect();
    UnivariateFit {
        title: Some("Univariate fit, n = 30, K = 100, η = 0.4".into()),
        data,
        truth: Some(grid.iter().map(|&x| (x, truth_fn(x))).collect()),
        learned,
        knots,
    }
}

fn spectrum_fixture(log_density: bool) -> SpectralDensityPlot {
    let eigenvalues: Vec<f64> = (0..=300).map(|i| -0.5 + 3.0 * i as f64 / 300.0).collect();
    let density = eigenvalues
        .iter()
        .map(|x| 3.0 * (-x * x / 0.01).exp() + 0.05 * (-(x - 1.2).powi(2) / 0.1).exp())
        .collect();
    SpectralDensityPlot {
        title: None,
        eigenvalues,
        density,
        top_eigenvalues: vec![2.15, 1.9, 1.6],
        eta: Some(0.9),
        log_density,
    }
}

fn comparison_fixture() -> Comparison {
    Comparison {
        title: None,
        y_label: Some("test MSE".into()),
        rows: vec![
            ComparisonRow {
                label: "(a) large step".into(),
                measured: 0.87,
                paper: Some(1.1),
            },
            ComparisonRow {
                label: "(b) decay".into(),
                measured: 0.042,
                paper: Some(0.055),
            },
            ComparisonRow {
                label: "target var".into(),
                measured: 0.083,
                paper: None,
            },
        ],
    }
}

/// Where the files go: `SHATTER_FIGURE_DIR` when set, else a fresh temporary folder.
fn out_dir() -> (PathBuf, Option<tempfile::TempDir>) {
    match std::env::var_os("SHATTER_FIGURE_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
            (dir, None)
        }
        None => {
            let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
            (tmp.path().to_path_buf(), Some(tmp))
        }
    }
}

/// All text content of an SVG, after checking it parses as XML with an `svg` root.
fn svg_texts(svg: &str, what: &str) -> String {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{what}: SVG: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg", "{what}");
    doc.descendants()
        .filter(|n| n.tag_name().name() == "text")
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Decodes a PNG; returns width, height and RGB pixels.
fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width, info.height, pixels)
}

/// Writes `figure`, then checks both files: the SVG parses and contains `texts`; the PNG has
/// the figure's size, more than a few colours, and dark (text) pixels in the title band.
fn check<F: Figure>(figure: &F, stem: &str, texts: &[&str]) {
    let (dir, _keep) = out_dir();
    let paths = write_figure(figure, &dir.join(stem)).unwrap_or_else(|e| panic!("{stem}: {e}"));
    assert_eq!(paths.svg, dir.join(format!("{stem}.svg")));
    let svg = std::fs::read_to_string(&paths.svg).unwrap_or_else(|e| panic!("{stem}: {e}"));
    let all_text = svg_texts(&svg, stem);
    for t in texts {
        assert!(
            all_text.contains(t),
            "{stem}: SVG lacks {t:?}; it has:\n{all_text}"
        );
    }
    assert!(
        svg.contains("font-family=\"DejaVu Sans, sans-serif\""),
        "{stem}"
    );
    let inline = svg_string(figure).unwrap_or_else(|e| panic!("{stem}: {e}"));
    assert_eq!(inline, svg, "{stem}: svg_string differs from the file");

    let (width, height, pixels) = decode_png(&paths.png);
    assert_eq!((width, height), figure.size(), "{stem}");
    let mut colours: Vec<[u8; 3]> = pixels.clone();
    colours.sort_unstable();
    colours.dedup();
    assert!(colours.len() > 8, "{stem}: only {} colours", colours.len());
    let title_band = &pixels[..(width * 45) as usize];
    let dark = title_band
        .iter()
        .filter(|p| p.iter().all(|&c| c < 90))
        .count();
    assert!(
        dark > 100,
        "{stem}: {dark} dark pixels in the title band: no title text?"
    );
}

#[test]
fn training_curves_draw_both_panels() {
    let fig = training_curves_fixture_checked();
    check(
        &fig,
        "training_curves",
        &[
            "Training curves, d = 10, n = 512, K = 2048",
            "epoch",
            "loss / MSE (log scale)",
            "sharpness λ_max(H)",
            // The legend strip: one entry per run, then the key to the line styles.
            "large step, η = 0.9",
            "small step, η = 0.3",
            "dashed: test MSE",
            "dots: sharpness λ_max(H); grey dashed: 2/η",
        ],
    );
}

fn training_curves_fixture_checked() -> TrainingCurves {
    let fig = training_fixture();
    // Two panels side by side; the legend strip below them adds to the height.
    let (w, h) = fig.size();
    assert_eq!(w, 1500);
    assert!(h > 620, "legend strip below the panels: height {h}");
    fig
}

#[test]
fn training_curves_without_sharpness_are_one_panel() {
    let mut fig = training_fixture();
    for s in &mut fig.series {
        s.sharpness.clear();
        s.eta = Some(0.5);
    }
    let (w, h) = fig.size();
    assert_eq!(w, 950, "one panel");
    assert!(h > 620, "legend strip below the panel: height {h}");
    check(&fig, "training_curves_loss_only", &["epoch", "train loss"]);
}

#[test]
fn shattering_scatter_marks_ten_percent_and_offsets() {
    check(
        &shattering_fixture(),
        "shattering_scatter",
        &[
            "Activation rate against amplitude per neuron",
            "activation rate ρ (% of training points)",
            "amplitude |v|·‖w‖ (log scale)",
            "boundary offset |t|",
            "ρ = 10%",
            "at zero amplitude",
        ],
    );
}

#[test]
fn activation_histogram_compares_runs() {
    check(
        &histogram_fixture(),
        "activation_histogram",
        &[
            "Histogram of activation rates",
            "neurons (% of the network)",
            "with ρ ≤ 10%",
        ],
    );
}

#[test]
fn rate_plot_gives_slopes_and_theory() {
    check(
        &rate_fixture(),
        "rate_plot",
        &[
            "Curse of dimensionality: test MSE against n",
            "training set size n (log scale)",
            "test MSE (log scale)",
            "d = 5, GD: slope",
            ", theory -0.07",
            "512",
            "constant predictor, per d (series colour)",
        ],
    );
}

#[test]
fn univariate_fit_shows_knots() {
    check(
        &univariate_fixture(),
        "univariate_fit",
        &[
            "input x",
            "output y",
            "knots (6)",
            "1 more knots outside",
            "data (n = 30)",
        ],
    );
}

#[test]
fn population_weight_for_several_dimensions() {
    check(
        &PopulationWeight::default(),
        "population_weight",
        &[
            "g_P(t) (log scale)",
            "boundary offset |t|",
            "d = 1",
            "d = 5",
        ],
    );
}

#[test]
fn spectral_density_linear_and_log() {
    check(
        &spectral_fixture_linear(),
        "spectral_density",
        &[
            "Hessian spectral density",
            "eigenvalue λ of the Hessian",
            "2/η = 2.22",
            "top eigenvalues (3)",
        ],
    );
    check(
        &spectrum_fixture(true),
        "spectral_density_log",
        &["density (log scale)"],
    );
}

fn spectral_fixture_linear() -> SpectralDensityPlot {
    spectrum_fixture(false)
}

#[test]
fn comparison_names_the_groups() {
    check(
        &comparison_fixture(),
        "comparison",
        &[
            "Measured against the paper",
            "(a) large step",
            "measured",
            "paper",
        ],
    );
}

#[test]
fn comparison_without_paper_values_has_no_paper_entry() {
    let mut fig = comparison_fixture();
    for r in &mut fig.rows {
        r.paper = None;
    }
    fig.title = Some("Pieces against eta".into());
    check(
        &fig,
        "comparison_measured_only",
        &["(a) large step", "measured"],
    );
    let svg = crate::figures::svg_string(&fig).unwrap();
    let texts = svg_texts(&svg, "comparison_measured_only");
    assert!(!texts.contains("paper"), "no empty paper entry:\n{texts}");
    // The full fixture keeps its paper series.
    let svg = crate::figures::svg_string(&comparison_fixture()).unwrap();
    assert!(svg_texts(&svg, "comparison").contains("paper"));
}

/// Runs both renderers; returns whether the figure drew (an `Err` is fine, a panic is not).
fn draws<F: Figure>(figure: &F) -> bool {
    let svg = svg_string(figure);
    let png = png_bytes(figure);
    assert_eq!(svg.is_ok(), png.is_ok(), "SVG and PNG disagree");
    if let Ok(svg) = svg {
        svg_texts(&svg, figure.name());
    }
    png.is_ok()
}

#[test]
fn degenerate_training_curves() {
    // Nothing at all, empty series, all NaN: errors.
    assert!(!draws(&TrainingCurves::default()));
    let empty = TrainingSeries {
        label: "empty".into(),
        ..TrainingSeries::default()
    };
    let curves = |series: Vec<TrainingSeries>| TrainingCurves {
        title: None,
        series,
    };
    assert!(!draws(&curves(vec![empty.clone()])));
    let nan = TrainingSeries {
        label: "nan".into(),
        epochs: vec![0.0, 1.0],
        train_loss: vec![f64::NAN, f64::NAN],
        ..TrainingSeries::default()
    };
    assert!(!draws(&curves(vec![nan])));
    // Mismatched lengths: an error naming the series.
    let short = TrainingSeries {
        label: "short".into(),
        epochs: vec![0.0, 1.0],
        train_loss: vec![1.0],
        ..TrainingSeries::default()
    };
    match svg_string(&curves(vec![short])) {
        Err(FigureError::LengthMismatch { what, .. }) => assert!(what.contains("short")),
        other => panic!("expected a length mismatch, got {other:?}"),
    }
    // Bad eta: an error.
    let bad_eta = TrainingSeries {
        label: "bad".into(),
        epochs: vec![0.0],
        train_loss: vec![1.0],
        eta: Some(0.0),
        ..TrainingSeries::default()
    };
    assert!(!draws(&curves(vec![bad_eta])));
    // A single point, zeros on the log axis, all-equal values, one empty run beside a good
    // one, sharpness NaN: drawn.
    let single = TrainingSeries {
        label: "single".into(),
        epochs: vec![5.0],
        train_loss: vec![0.5],
        test_mse: Some(vec![0.0]),
        sharpness: vec![SharpnessPoint {
            epoch: 5.0,
            value: 1.0,
            err: f64::NAN,
        }],
        eta: Some(1.0),
    };
    assert!(draws(&curves(vec![single, empty.clone()])));
    let flat = TrainingSeries {
        label: "flat".into(),
        epochs: vec![0.0, 1.0, 2.0],
        train_loss: vec![0.0, 1.0, 1.0],
        sharpness: vec![
            SharpnessPoint {
                epoch: f64::NAN,
                value: 1.0,
                err: 0.0,
            };
            2
        ],
        ..TrainingSeries::default()
    };
    assert!(draws(&curves(vec![flat, empty])));
}

#[test]
fn degenerate_shattering() {
    assert!(!draws(&ShatteringScatter::default()));
    assert!(!draws(&ActivationHistogram::default()));
    let run = |neurons: Vec<NeuronPoint>| ShatteringRun {
        label: "run".into(),
        neurons,
    };
    let n = |activation_rate, amplitude, offset| NeuronPoint {
        activation_rate,
        amplitude,
        offset,
    };
    let scatter = |runs| ShatteringScatter { title: None, runs };
    let hist = |runs: &[ShatteringRun]| ActivationHistogram {
        title: None,
        runs: runs.iter().map(HistogramRun::from).collect(),
    };
    // No neurons; only zero amplitudes; only NaN rates: errors for the scatter.
    assert!(!draws(&scatter(vec![run(vec![])])));
    assert!(!draws(&scatter(vec![run(vec![n(0.5, 0.0, 0.1); 3])])));
    assert!(!draws(&scatter(vec![run(vec![n(f64::NAN, 1.0, 0.1)])])));
    assert!(!draws(&hist(&[run(vec![n(f64::NAN, 1.0, 0.1)])])));
    // The histogram needs no amplitude.
    assert!(draws(&hist(&[run(vec![n(0.5, 0.0, 0.1); 3])])));
    // One neuron, all equal, infinite offsets, dead neurons, an empty run beside: drawn.
    assert!(draws(&scatter(vec![run(vec![n(0.0, 2.0, f64::INFINITY)])])));
    let equal = run(vec![n(0.3, 1.0, 0.0); 5]);
    assert!(draws(&scatter(vec![equal.clone(), run(vec![])])));
    assert!(draws(&hist(&[equal, run(vec![])])));
}

#[test]
fn degenerate_rate_plots() {
    assert!(!draws(&RatePlot::default()));
    let series = |ns: Vec<f64>, values: Vec<f64>| RatePlot {
        title: None,
        y_label: Some("generalisation gap".into()),
        series: vec![RateSeries {
            label: "s".into(),
            ns,
            values,
            spread: None,
            theory_slope: Some(-0.25),
            colour: 0,
            arm: 1,
        }],
        baselines: Vec::new(),
        baseline_label: String::new(),
    };
    assert!(!draws(&series(vec![], vec![])));
    assert!(!draws(&series(vec![32.0], vec![0.0])));
    assert!(!draws(&series(vec![32.0, 64.0], vec![1.0])));
    // A single point (no fit), equal n (no fit), equal values, NaN among good points: drawn.
    assert!(draws(&series(vec![32.0], vec![0.5])));
    assert!(draws(&series(vec![32.0, 32.0], vec![0.5, 0.6])));
    assert!(draws(&series(vec![32.0, 64.0, 128.0], vec![0.5, 0.5, 0.5])));
    assert!(draws(&series(
        vec![32.0, 64.0, f64::NAN],
        vec![0.5, f64::NAN, 0.1]
    )));
    // Many distinct n: plotters' own ticks.
    let ns: Vec<f64> = (1..=20).map(|k| 10.0 * k as f64).collect();
    let values = ns.iter().map(|n| n.powf(-0.5)).collect();
    assert!(draws(&series(ns, values)));
}

#[test]
fn degenerate_univariate_population_spectrum_comparison() {
    assert!(!draws(&UnivariateFit::default()));
    let fit = |data: Vec<(f64, f64)>, learned: Vec<(f64, f64)>, knots: Vec<f64>| UnivariateFit {
        title: None,
        data,
        truth: None,
        learned,
        knots,
    };
    assert!(!draws(&fit(
        vec![(0.0, 1.0)],
        vec![(f64::NAN, 1.0)],
        vec![]
    )));
    assert!(draws(&fit(vec![], vec![(0.0, 1.0)], vec![0.0, f64::NAN])));
    assert!(draws(&fit(
        vec![(0.0, 1.0)],
        vec![(0.0, 1.0), (1.0, 1.0)],
        vec![0.5]
    )));
    assert!(draws(&fit(
        vec![(0.0, 1.0), (f64::NAN, 2.0)],
        vec![(1.0, 1.0), (0.0, 1.0)],
        vec![]
    )));

    let pw = |dims: Vec<usize>, points| PopulationWeight {
        title: None,
        dims,
        points,
    };
    assert!(!draws(&pw(vec![], 10)));
    assert!(!draws(&pw(vec![2], 1)));
    assert!(matches!(
        svg_string(&pw(vec![0], 10)),
        Err(FigureError::Theory { .. })
    ));
    assert!(draws(&pw(vec![30], 2)));

    let spec = |eigenvalues: Vec<f64>, density: Vec<f64>, log_density| SpectralDensityPlot {
        eigenvalues,
        density,
        log_density,
        ..SpectralDensityPlot::default()
    };
    assert!(!draws(&SpectralDensityPlot::default()));
    assert!(!draws(&spec(vec![0.0, 1.0], vec![0.0], false)));
    assert!(!draws(&spec(vec![0.0, 1.0], vec![0.0, 0.0], true)));
    assert!(draws(&spec(vec![0.0, 1.0], vec![0.0, 0.0], false)));
    assert!(draws(&spec(vec![1.0], vec![3.0], true)));
    assert!(draws(&spec(vec![1.0, 1.0], vec![f64::NAN, 3.0], false)));
    let eta_zero = SpectralDensityPlot {
        eta: Some(-1.0),
        ..spec(vec![1.0], vec![3.0], false)
    };
    assert!(!draws(&eta_zero));

    assert!(!draws(&Comparison::default()));
    let row = |measured, paper| ComparisonRow {
        label: "x".into(),
        measured,
        paper,
    };
    let cmp = |rows| Comparison {
        title: None,
        y_label: None,
        rows,
    };
    assert!(!draws(&cmp(vec![row(f64::NAN, None)])));
    assert!(draws(&cmp(vec![row(0.0, Some(0.0))])));
    assert!(draws(&cmp(vec![
        row(-1.0, Some(2.0)),
        row(f64::NAN, Some(1.0))
    ])));
}

#[test]
fn errors_leave_no_files_and_report_bad_folders() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let stem = tmp.path().join("empty");
    assert!(write_figure(&RatePlot::default(), &stem).is_err());
    assert!(!stem.with_extension("svg").exists());
    assert!(!stem.with_extension("png").exists());
    let missing = tmp.path().join("no/such/folder/fig");
    match write_figure(&PopulationWeight::default(), &missing) {
        Err(FigureError::Io { path, .. }) => assert!(path.ends_with("fig.svg")),
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

#[test]
fn shattering_run_from_neuron_stats() {
    let stats = shatter_core::measure::shattering::NeuronStats {
        n: 4,
        active_count: vec![0, 2],
        activation_rate: vec![0.0, 0.5],
        amplitude: vec![1.0, 2.0],
        param_norm: vec![1.0, 1.0],
        offset: vec![f64::INFINITY, 0.3],
        dead: vec![true, false],
    };
    let run = ShatteringRun::from_stats("r", &stats);
    assert_eq!(run.neurons.len(), 2);
    assert_eq!(run.neurons[1].amplitude, 2.0);
    assert_eq!(run.neurons[1].offset, 0.3);
}

#[test]
fn suffix_keeps_dots_in_the_stem() {
    assert_eq!(
        with_suffix(Path::new("out/fig.eta0.9"), "svg"),
        PathBuf::from("out/fig.eta0.9.svg")
    );
}

#[test]
fn caption_numbers_have_three_significant_digits() {
    assert_eq!(style::fmt_num(2.0 / 0.9), "2.22");
    assert_eq!(style::fmt_num(2.0 / 0.01), "200");
    assert_eq!(style::fmt_num(0.01), "0.01");
    assert_eq!(style::fmt_num(1.0 / 3.0), "0.333");
    assert_eq!(style::fmt_num(0.9), "0.9");
    assert_eq!(style::fmt_num(-12.345), "-12.3");
    assert_eq!(style::fmt_num(f64::NAN), "-");
    assert_eq!(style::fmt_num(0.0), "0");
}

#[test]
fn loss_labels_name_their_normalisation() {
    assert_eq!(style::loss_label("square"), "square (1/2n)");
    assert_eq!(style::loss_label("mse"), "mse (1/n)");
    assert_eq!(style::loss_label("logistic"), "logistic");
}

#[test]
fn log_axis_only_for_positive_data_spanning_a_decade() {
    assert!(style::wants_log_axis([40.0, 2.0, 1.5]));
    assert!(!style::wants_log_axis([9.0, 1.0]));
    assert!(!style::wants_log_axis([100.0, 1.0, 0.0]));
    assert!(!style::wants_log_axis([100.0, 1.0, -1.0]));
    assert!(style::wants_log_axis([100.0, 1.0, f64::NAN]));
    assert!(!style::wants_log_axis([]));
}

#[test]
fn far_reference_lines_do_not_set_the_range() {
    // 2/eta = 200 against sharpness between 1 and 5: annotated, not plotted.
    assert!(!style::reference_fits(200.0, 1.0, 5.0, false));
    // 2/eta = 2.22 against sharpness near 2.2: part of the range.
    assert!(style::reference_fits(2.22, 1.9, 2.3, false));
    assert!(style::reference_fits(200.0, 10.0, 80.0, true));
    assert!(!style::reference_fits(1000.0, 1.0, 40.0, true));
    assert!(!style::reference_fits(f64::INFINITY, 1.0, 2.0, false));
}

#[test]
fn png_text_advances_evenly() {
    // Equal glyphs set in a row must have equal gaps between their ink (plotters' own raster
    // text truncated the pen to whole pixels and dropped the side bearing).
    let font = ab_glyph::FontRef::try_from_slice(style::FONT_BYTES).unwrap();
    let laid = raster::lay_out(&font, 19.0, "lllllll", true);
    let mut columns: Vec<i32> = laid
        .pixels
        .iter()
        .filter(|p| p.2 > 0.5)
        .map(|p| p.0)
        .collect();
    columns.sort_unstable();
    columns.dedup();
    let mut starts = vec![columns[0]];
    for w in columns.windows(2) {
        if w[1] > w[0] + 1 {
            starts.push(w[1]);
        }
    }
    assert_eq!(starts.len(), 7, "seven separate glyphs: {columns:?}");
    let gaps: Vec<i32> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    let (lo, hi) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
    assert!(hi - lo <= 1, "uneven advances {gaps:?}");
    // Ink starts at the left side bearing, not at the pen.
    assert!(columns[0] > 0, "the first glyph keeps its side bearing");
    assert!(laid.width > starts[6], "the box covers the text");
}

#[test]
fn a_run_recorded_once_is_still_drawn() {
    let curves = TrainingCurves {
        title: Some("single test point".into()),
        series: vec![TrainingSeries {
            label: "mse (1/n) eta=0.5".into(),
            epochs: vec![0.0, 100.0, 200.0],
            train_loss: vec![1.0, 0.5, 0.2],
            test_mse: Some(vec![f64::NAN, f64::NAN, 0.3]),
            sharpness: vec![SharpnessPoint {
                epoch: 200.0,
                value: 3.9,
                err: 0.0,
            }],
            eta: Some(0.5),
        }],
    };
    let svg = svg_string(&curves).unwrap();
    // The lone test MSE gets a marker (a circle beyond the sharpness dot).
    assert!(svg.matches("<circle").count() >= 5, "markers drawn");
    assert!(svg.contains("dashed: test MSE") && svg.contains("mse (1/n) eta=0.5"));
}

/// A metric against eta on log axes with a vertical threshold: the legend (in its strip, right
/// of the chart) names the threshold with its value and every series; a threshold outside the
/// x range is left out of the chart but still named; a series without points is not listed.
#[test]
fn axis_plot_draws_a_vertical_threshold_and_a_side_legend() {
    let series = |label: &str, scale: f64| AxisSeries {
        label: label.into(),
        xs: vec![0.001, 0.01, 0.1],
        medians: vec![scale * 2000.0, scale * 200.0, scale * 20.0],
        bands: vec![(scale * 1500.0, scale * 2500.0); 3],
    };
    let mut plot = AxisPlot {
        title: "Sharpness against eta".into(),
        x_label: "eta".into(),
        y_label: "sharpness".into(),
        log_x: true,
        log_y: true,
        reference: None,
        vertical: Some((0.0037, "1/(n^2 sigma)".into())),
        references: Vec::new(),
        series: vec![
            series("K = 100", 0.1),
            series("2/eta", 1.0),
            AxisSeries {
                label: "empty".into(),
                ..AxisSeries::default()
            },
        ],
    };
    let svg = svg_string(&plot).unwrap();
    for text in [
        "1/(n^2 sigma) = 0.0037",
        "K = 100",
        "2/eta",
        "eta (log scale)",
    ] {
        assert!(svg.contains(text), "{text} missing");
    }
    assert!(
        !svg.contains(">empty<"),
        "a series without points has no legend entry"
    );
    let dashed = svg.matches("<polyline").count();
    plot.vertical = Some((5.0, "far".into()));
    let outside = svg_string(&plot).unwrap();
    assert!(outside.contains("far = "), "named in the legend");
    assert!(
        outside.matches("<polyline").count() < dashed,
        "a vertical line outside the x range is not drawn"
    );
}

/// Reference lines near the data share its axis; one far from it (`2/eta = 200` above
/// eigenvalues near 3, on a linear axis) is named in the legend as off the axis and not drawn,
/// so the data keep the plot's height.
#[test]
fn axis_plot_keeps_far_reference_lines_off_the_axis() {
    let mut plot = AxisPlot {
        title: "Top eigenvalue".into(),
        x_label: "epoch".into(),
        y_label: "eigenvalue".into(),
        log_x: false,
        log_y: false,
        reference: None,
        vertical: None,
        references: vec![("2/eta".into(), 200.0), ("1.5/eta".into(), 150.0)],
        series: vec![AxisSeries {
            label: "eigenvalue 1".into(),
            xs: vec![0.0, 500.0, 1000.0],
            medians: vec![4.0, 3.0, 2.5],
            bands: vec![(4.0, 4.0), (3.0, 3.0), (2.5, 2.5)],
        }],
    };
    let points = plot.points().unwrap();
    let (drawn, off) = plot.references_on_axis(&points);
    assert!(drawn.is_empty(), "{drawn:?}");
    assert_eq!(off.len(), 2);
    let svg = svg_string(&plot).unwrap();
    assert!(svg.contains("2/eta = 200 (off the axis)"), "named");
    assert!(svg.contains("1.5/eta = 150 (off the axis)"), "named");
    // Lines just below the data (the large step's 2/eta = 2.22 and 1.5/eta = 1.67 under
    // eigenvalues from 2.2 to 85, on a log axis) are drawn and widen the range to show them.
    plot.log_y = true;
    plot.references = vec![("2/eta".into(), 2.22), ("1.5/eta".into(), 1.67)];
    plot.series[0].medians = vec![85.0, 2.3, 2.22];
    plot.series[0].bands = vec![(85.0, 85.0), (2.3, 2.3), (2.22, 2.22)];
    let points = plot.points().unwrap();
    let (drawn, off) = plot.references_on_axis(&points);
    assert_eq!(drawn.len(), 2, "{drawn:?}");
    assert!(off.is_empty());
    let svg = svg_string(&plot).unwrap();
    assert!(svg.contains("1.5/eta = 1.67") && !svg.contains("off the axis"));
}
