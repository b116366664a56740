//! Reproductions of the papers' experiments (SCIENCE.md section 7) and reports of any store.
//!
//! `run_experiment` writes the built-in spec of an experiment, runs it as a sweep into its own
//! store (resuming whatever is already there), and writes `index.html` with the comparison
//! table, the figures (also as SVG and PNG files) and provenance. An experiment that trains
//! nothing (`lower-bound`) computes its numbers instead and gets the same report folder. `write_report` does the last
//! step for any store, so `shatter report` works on user sweeps too.

// Shared layers, lowest first: statistics and claims, the view of a run and the analyses'
// building blocks, figure helpers; then the experiments (one unit each); this module and
// `report` are the driver on top.
pub mod analysis;
pub mod claims;
pub mod error;
pub mod experiments;
pub mod figs;
pub mod models;
pub mod report;
pub mod scale;
pub mod stats;
pub mod sweep_axes;

use crate::figures::style as fmt;
use crate::figures::{
    ActivationHistogram, HistogramRun, PopulationWeight, RatePlot, RateSeries, ShatteringScatter,
    TrainingCurves,
};
use crate::store::{Store, StoreError, StoredRun, UnusableModel};
use crate::sweep::{
    run_sweep, run_sweep_batched, Batching, Parallelism, Progress, SweepReport, SweepSpec,
};
use analysis::{Analysis, RunView};
use claims::{provenance_json, write_claims_csv, Claim, ClaimLine};
pub use error::ReproduceError;
use experiments::{experiment, Experiment, Scale};
use figs::{figure, run_label, shattering_run, training_series, ReportFigure};
use report::{render_report, verdict_counts, Provenance};
use shatter_core::theory::stable_minima_upper;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// What a finished report says, for index pages and the terminal.
#[derive(Clone, Debug)]
pub struct ReportOutcome {
    /// The report file.
    pub path: PathBuf,
    /// Comparison rows that agree.
    pub agree: usize,
    /// Comparison rows that differ.
    pub differ: usize,
    /// Comparison rows whose interval straddles a bound of the agreement interval.
    pub inconclusive: usize,
    /// The lines of the report's `claims.csv`.
    pub claims: Vec<ClaimLine>,
    /// The report's provenance (also in its `provenance.json`).
    pub provenance: Provenance,
    /// Runs in the report.
    pub runs: usize,
    /// Sentences of the analysis.
    pub words: Vec<String>,
    /// Finished runs whose model file is missing or damaged: analyses and figures that read
    /// models leave them out, and the report says so at the top.
    pub unusable_models: Vec<UnusableModel>,
}

/// Every run of a store, as the analysis sees it (failed runs included, with their status).
pub fn load_views(store: &Store) -> Result<Vec<(RunView, StoredRun)>, StoreError> {
    let mut out = Vec::new();
    for id in store.run_ids()? {
        if let Some(run) = store.load(&id)? {
            let summary = run.summary.clone().unwrap_or_else(|| crate::run::Summary {
                status: run.status.clone(),
                ..Default::default()
            });
            out.push((
                RunView {
                    run_id: id,
                    spec: run.spec.resolved(),
                    summary,
                },
                run,
            ));
        }
    }
    Ok(out)
}

/// Each device the stored runs trained on, with its number of runs, in first-seen order.
fn devices(loaded: &[(RunView, StoredRun)]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for (_, run) in loaded {
        match out.iter_mut().find(|(d, _)| *d == run.device) {
            Some((_, n)) => *n += 1,
            None => out.push((run.device.clone(), 1)),
        }
    }
    out
}

fn mkdir(path: &Path) -> Result<(), ReproduceError> {
    std::fs::create_dir_all(path).map_err(|source| ReproduceError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Runs experiment `id` at `scale` into `out_dir/<id>/` (store `results.db`, `spec.toml`,
/// `figures/`, `index.html`), resuming what is already stored. With `batching`, the runs the
/// device supports train there in batches (`run_sweep_batched`) and the rest on the CPU with
/// `parallelism`; without, everything runs on the CPU (`run_sweep`). Returns the report and
/// how the sweep ended (`interrupted`, failures, runs kept on the CPU).
#[allow(clippy::too_many_arguments)]
pub fn run_experiment(
    id: &str,
    scale: Scale,
    out_dir: &Path,
    parallelism: Option<Parallelism>,
    cores: usize,
    batching: Option<&mut Batching<'_>>,
    stop: &AtomicBool,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<(ReportOutcome, SweepReport), ReproduceError> {
    let exp = experiment(id).ok_or_else(|| ReproduceError::Unknown {
        id: id.into(),
        known: experiments::experiment_ids(),
    })?;
    let text = exp.spec(scale).ok_or_else(|| ReproduceError::Unknown {
        id: id.into(),
        known: experiments::experiment_ids(),
    })?;
    let dir = out_dir.join(id);
    mkdir(&dir)?;
    let spec_path = dir.join("spec.toml");
    crate::run::write_atomic(&spec_path, text.as_bytes())
        .map_err(|e| ReproduceError::Sweep(e.to_string()))?;
    if !exp.trains() {
        return run_computed(exp, scale, &dir, &text);
    }
    let spec = SweepSpec::from_toml(&text, &spec_path.display().to_string())?;
    let points = spec.points()?;
    let start = Instant::now();
    let store_path = dir.join("results.db");
    let mut store = Store::open_writer(&store_path)?;
    let done = store.done_ids()?;
    let todo = points.iter().filter(|p| !done.contains(&p.run_id)).count();
    let parallelism = parallelism.unwrap_or_else(|| Parallelism::auto(cores, todo));
    let sweep = match batching {
        Some(batching) => run_sweep_batched(
            &points,
            &mut store,
            &spec.name,
            spec.keep,
            batching,
            parallelism,
            stop,
            on_progress,
        ),
        None => run_sweep(
            &points,
            &mut store,
            &spec.name,
            spec.keep,
            parallelism,
            stop,
            on_progress,
        ),
    }
    .map_err(|e| ReproduceError::Sweep(e.to_string()))?;
    let wall = start.elapsed().as_secs_f64();
    let outcome = write_report(Some(exp), Some(scale), &store, &text, &dir, wall)?;
    Ok((outcome, sweep))
}

/// An experiment that trains nothing (`Experiment::trains` is false): computes it into
/// `dir` and writes the same report folder a sweep gets (`index.html`, `figures/`,
/// `claims.csv`, `provenance.json`), whose provenance says 0 runs and lists the parameters.
/// No store is opened; the sweep report is empty.
fn run_computed(
    exp: &dyn Experiment,
    scale: Scale,
    dir: &Path,
    text: &str,
) -> Result<(ReportOutcome, SweepReport), ReproduceError> {
    let start = Instant::now();
    let fig_dir = dir.join("figures");
    mkdir(&fig_dir)?;
    let computed = exp.compute(scale, &fig_dir)?;
    let mut analysis = computed.analysis;
    analysis::settle_verdicts(&mut analysis);
    let provenance = Provenance {
        scale: scale.to_string(),
        losses: Vec::new(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_commit: env!("SHATTER_GIT_COMMIT").into(),
        machine: machine(),
        seeds: computed.seeds,
        runs: 0,
        run_seconds: 0.0,
        devices: Vec::new(),
        wall_seconds: start.elapsed().as_secs_f64(),
        store: String::new(),
        date: now_utc(),
        settings: computed.settings,
    };
    let html = render_report(exp, scale, &analysis, &computed.figures, text, &provenance);
    let path = dir.join("index.html");
    crate::run::write_atomic(&path, html.as_bytes())
        .map_err(|e| ReproduceError::Sweep(e.to_string()))?;
    let claims = claim_lines(exp.id(), &analysis, "");
    write_claims_and_provenance(dir, &claims, &provenance)?;
    let (agree, differ, inconclusive) = verdict_counts(&analysis);
    let sweep = SweepReport {
        progress: Progress::default(),
        interrupted: false,
        failures: Vec::new(),
        on_cpu: Vec::new(),
        device_steps: 0,
        device_train_seconds: 0.0,
    };
    Ok((
        ReportOutcome {
            path,
            agree,
            differ,
            inconclusive,
            claims,
            provenance,
            runs: 0,
            words: analysis.words,
            unusable_models: Vec::new(),
        },
        sweep,
    ))
}

/// The analysis of experiment `exp` from its runs: its claims from the completed runs (per
/// loss convention, see [`per_loss`]), every verdict settled from its numbers, and a sentence
/// on the runs left out.
pub fn analyse(exp: &dyn Experiment, runs: &[RunView]) -> Analysis {
    let mut a = per_loss(exp, runs, |group| claims_of(exp, group));
    analysis::settle_verdicts(&mut a);
    a
}

/// `exp`'s claims from the completed runs among `runs`, with a sentence on the others.
fn claims_of(exp: &dyn Experiment, runs: &[RunView]) -> Analysis {
    let ok: Vec<RunView> = runs
        .iter()
        .filter(|r| r.summary.status == "completed")
        .cloned()
        .collect();
    let every = exp.lists_every_run();
    let mut a = exp.claims(if every { runs } else { &ok });
    let diverged = runs
        .iter()
        .filter(|r| r.summary.status == "diverged")
        .count();
    let failed = runs.len() - ok.len() - diverged;
    if diverged > 0 || failed > 0 {
        a.words.push(if every {
            format!("{diverged} run(s) diverged and {failed} did not complete; the table lists them with their status, and the rates and figures leave them out.")
        } else {
            format!("{diverged} run(s) diverged and {failed} did not complete; they are left out of the table.")
        });
    }
    a
}

/// The loss conventions of `runs`, sorted, when `exp` leaves conventions to its caller and
/// there are several; empty otherwise (one analysis of all the runs).
fn split_losses(exp: &dyn Experiment, runs: &[RunView]) -> Vec<String> {
    let mut losses: Vec<String> = runs.iter().map(analysis::loss_of).collect();
    losses.sort();
    losses.dedup();
    if exp.separates_losses() || losses.len() < 2 {
        losses.clear();
    }
    losses
}

/// The lines of claims.csv for `a`'s rows: one per row, and one per named number of a row
/// with several (`Row::parts`); a line without its own loss convention is under `only_loss`.
fn claim_lines(id: &str, a: &Analysis, only_loss: &str) -> Vec<ClaimLine> {
    let line = |claim: &str, r: &analysis::Row, numbers: Option<&Claim>| ClaimLine {
        experiment: id.to_string(),
        claim: claim.to_string(),
        setting: r.setting.clone(),
        loss: numbers
            .map(|c| c.loss.clone())
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| only_loss.to_string()),
        numbers: numbers.cloned(),
        verdict: r.verdict,
    };
    a.rows
        .iter()
        .flat_map(|r| {
            if r.parts.is_empty() {
                vec![line(&r.quantity, r, r.claim.as_ref())]
            } else {
                r.parts
                    .iter()
                    .map(|(name, c)| line(name, r, Some(c)))
                    .collect()
            }
        })
        .collect()
}

/// `f` over the runs of each loss convention apart, when the runs hold several and `exp` does
/// not separate them itself: every row's setting starts with its convention and its claim
/// carries it (the `loss` column of claims.csv), every sentence says which convention it is
/// about. Otherwise `f` over all the runs.
fn per_loss(
    exp: &dyn Experiment,
    runs: &[RunView],
    f: impl Fn(&[RunView]) -> Analysis,
) -> Analysis {
    let losses = split_losses(exp, runs);
    if losses.is_empty() {
        return f(runs);
    }
    let mut out = Analysis::default();
    for loss in &losses {
        let group: Vec<RunView> = runs
            .iter()
            .filter(|r| analysis::loss_of(r) == *loss)
            .cloned()
            .collect();
        let a = f(&group);
        let conv = analysis::convention(loss);
        out.rows.extend(a.rows.into_iter().map(|mut row| {
            row.setting = if row.setting.is_empty() {
                conv.to_string()
            } else {
                format!("{conv}, {}", row.setting)
            };
            row.with_loss(loss)
        }));
        out.words.extend(
            a.words
                .into_iter()
                .map(|w| format!("Under the {conv} loss: {w}")),
        );
        out.rates.extend(a.rates);
        out.gap_rates.extend(a.gap_rates);
        for b in a.baselines {
            if !out.baselines.contains(&b) {
                out.baselines.push(b);
            }
        }
        for w in a.warnings {
            if !out.warnings.contains(&w) {
                out.warnings.push(w);
            }
        }
    }
    out
}

/// Writes `out_dir/index.html` (and `out_dir/figures/`) for the runs in `store`. With an
/// experiment, its analysis and figures; without one, the generic `SWEEP` experiment (runs
/// ordered by the swept settings, metrics against each swept axis, training curves and
/// shattering plots naming their seeds, no paper and no verdicts).
pub fn write_report(
    exp: Option<&dyn Experiment>,
    scale: Option<Scale>,
    store: &Store,
    spec_text: &str,
    out_dir: &Path,
    wall_seconds: f64,
) -> Result<ReportOutcome, ReproduceError> {
    mkdir(out_dir)?;
    let fig_dir = out_dir.join("figures");
    mkdir(&fig_dir)?;
    let loaded = load_views(store)?;
    let views: Vec<RunView> = loaded.iter().map(|(v, _)| v.clone()).collect();
    let exp_ref = exp.unwrap_or(experiments::SWEEP);
    let mut analysis = per_loss(exp_ref, &views, |group| {
        exp_ref.with_models(store, group, claims_of(exp_ref, group))
    });
    analysis::settle_verdicts(&mut analysis);
    let unusable_models = store.unusable_models()?;
    if !unusable_models.is_empty() {
        analysis
            .warnings
            .push(unusable_models_warning(&unusable_models, views.len()));
    }
    let figures = draw_figures(exp_ref, store, &views, &analysis, &fig_dir)?;
    let mut seeds: Vec<u64> = views.iter().filter_map(|v| v.spec.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let mut losses: Vec<String> = views
        .iter()
        .map(|v| v.spec.loss.clone().unwrap_or_else(|| "square".into()))
        .collect();
    losses.sort();
    losses.dedup();
    let provenance = Provenance {
        scale: scale.map(|s| s.to_string()).unwrap_or_default(),
        losses: losses.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_commit: env!("SHATTER_GIT_COMMIT").into(),
        machine: machine(),
        seeds,
        runs: views.len(),
        run_seconds: views.iter().map(|v| v.summary.wall_seconds).sum(),
        devices: devices(&loaded),
        wall_seconds,
        store: store.path().display().to_string(),
        date: now_utc(),
        settings: run_settings_summary(&views),
    };
    let html = render_report(
        exp_ref,
        scale.unwrap_or(Scale::Quick),
        &analysis,
        &figures,
        spec_text,
        &provenance,
    );
    let path = out_dir.join("index.html");
    crate::run::write_atomic(&path, html.as_bytes())
        .map_err(|e| ReproduceError::Sweep(e.to_string()))?;
    // One loss convention in the store: rows without their own loss are under it.
    let only_loss = if losses.len() == 1 {
        losses[0].clone()
    } else {
        String::new()
    };
    let claims = claim_lines(exp_ref.id(), &analysis, &only_loss);
    write_claims_and_provenance(out_dir, &claims, &provenance)?;
    let (agree, differ, inconclusive) = verdict_counts(&analysis);
    Ok(ReportOutcome {
        path,
        agree,
        differ,
        inconclusive,
        claims,
        provenance,
        runs: views.len(),
        words: analysis.words,
        unusable_models,
    })
}

/// Writes the index page of several reports into `out_dir`: `index.html` (one line per
/// report with its verdict counts, runs and summed run wall time, then the aggregated
/// provenance), `claims.csv` with every report's lines, and `provenance.json` aggregated by
/// `Provenance::aggregate` (runs and run wall times summed). `wall_seconds` is the time of
/// the whole command. Returns the path of `index.html`.
pub fn write_index(
    out_dir: &Path,
    title: &str,
    outcomes: &[(String, ReportOutcome)],
    wall_seconds: f64,
) -> Result<PathBuf, ReproduceError> {
    mkdir(out_dir)?;
    let entries: Vec<report::IndexEntry> = outcomes
        .iter()
        .map(|(id, o)| report::IndexEntry {
            id: id.clone(),
            href: o
                .path
                .strip_prefix(out_dir)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|_| format!("{id}/index.html")),
            agree: o.agree,
            differ: o.differ,
            inconclusive: o.inconclusive,
            runs: o.runs,
            reported: experiment(id)
                .map(|e| e.reported().to_string())
                .unwrap_or_default(),
            wall_seconds: o.provenance.run_seconds,
        })
        .collect();
    let provenances: Vec<Provenance> = outcomes.iter().map(|(_, o)| o.provenance.clone()).collect();
    let provenance =
        Provenance::aggregate(&provenances, &out_dir.display().to_string(), wall_seconds);
    let claims: Vec<ClaimLine> = outcomes
        .iter()
        .flat_map(|(_, o)| o.claims.iter().cloned())
        .collect();
    write_claims_and_provenance(out_dir, &claims, &provenance)?;
    let html = report::render_index(title, &entries, &provenance);
    let path = out_dir.join("index.html");
    crate::run::write_atomic(&path, html.as_bytes())
        .map_err(|e| ReproduceError::Sweep(e.to_string()))?;
    Ok(path)
}

/// The report's warning about runs whose model file cannot be used, naming each.
pub fn unusable_models_warning(bad: &[UnusableModel], runs: usize) -> String {
    let list: Vec<String> = bad
        .iter()
        .map(|b| format!("{} ({})", b.run_id, b.problem))
        .collect();
    format!(
        "{} of {runs} runs have a missing or damaged model file and are left out of every result that reads models (rows and figures computed from the networks): {}. Running the sweep again re-runs them.",
        bad.len(),
        list.join("; ")
    )
}

/// Writes `claims.csv` and `provenance.json` into a report folder.
fn write_claims_and_provenance(
    out_dir: &Path,
    claims: &[ClaimLine],
    provenance: &Provenance,
) -> Result<(), ReproduceError> {
    let csv_path = out_dir.join("claims.csv");
    write_claims_csv(&csv_path, claims).map_err(|e| ReproduceError::Write {
        path: csv_path.clone(),
        source: std::io::Error::other(e),
    })?;
    crate::run::write_atomic(
        &out_dir.join("provenance.json"),
        provenance_json(provenance).as_bytes(),
    )
    .map_err(|e| ReproduceError::Sweep(e.to_string()))
}

/// What the runs of a report trained with, from their resolved settings: every setting that
/// is the same in all runs once (`d = 10`), every one that varies with its sorted values
/// (`lr in {0.01, 0.9}`), in the order of the settings table; seeds last.
pub fn run_settings_summary(views: &[RunView]) -> String {
    let shown = [
        "d",
        "n",
        "width",
        "epochs",
        "lr",
        "weight_decay",
        "loss",
        "activation",
        "input",
        "target",
        "sigma",
        "n_test",
        "bias",
        "batch_size",
        "mixup_alpha",
        "model",
    ];
    let json: Vec<serde_json::Value> = views
        .iter()
        .map(|v| serde_json::to_value(&v.spec).unwrap_or_default())
        .collect();
    let mut parts = Vec::new();
    let mut seeds = Vec::new();
    for key in shown.iter().chain(["seed"].iter()) {
        let mut values: Vec<String> = json
            .iter()
            .filter_map(|v| match v.get(*key)? {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            })
            .collect();
        values.sort_by(|a, b| match (a.parse::<f64>(), b.parse::<f64>()) {
            (Ok(x), Ok(y)) => x.total_cmp(&y),
            _ => a.cmp(b),
        });
        values.dedup();
        if *key == "seed" {
            seeds = values;
            continue;
        }
        match values.len() {
            0 => {}
            1 => parts.push(format!("{key} = {}", values[0])),
            _ => parts.push(format!("{key} in {{{}}}", values.join(", "))),
        }
    }
    if !seeds.is_empty() {
        parts.push(format!("seeds {{{}}}", seeds.join(", ")));
    }
    parts.join(", ")
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cpu}, {cores} cores, {}", std::env::consts::OS)
}

fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86400, secs % 86400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A run's label with its seed, for figures that show single runs.
fn seeded_label(v: &RunView) -> String {
    format!("{} seed={}", run_label(v), v.spec.seed.unwrap_or(0))
}

/// "seed 0" or "seeds 0, 1": the seeds of the runs a figure shows, one run per line.
fn seeds_shown(runs: &[&RunView]) -> String {
    let mut seeds: Vec<u64> = runs.iter().map(|v| v.spec.seed.unwrap_or(0)).collect();
    seeds.sort_unstable();
    seeds.dedup();
    let list: Vec<String> = seeds.iter().map(u64::to_string).collect();
    let word = if seeds.len() == 1 { "seed" } else { "seeds" };
    format!("single runs, {word} {}", list.join(", "))
}

/// One log-log figure per loss convention of the fitted rates `fits` of `what` against n.
fn rate_figures(
    fits: &[analysis::RateFit],
    baselines: &[analysis::Baseline],
    name: &str,
    what: &str,
    y_label: &str,
    dir: &Path,
) -> Result<Vec<ReportFigure>, ReproduceError> {
    let mut losses: Vec<String> = fits.iter().map(|r| r.loss.clone()).collect();
    losses.sort();
    losses.dedup();
    let mut arms: Vec<String> = fits.iter().map(|r| r.arm.clone()).collect();
    arms.sort();
    arms.dedup();
    let mut figs = Vec::new();
    for loss in losses {
        let series: Vec<RateSeries> = fits
            .iter()
            .filter(|r| r.loss == loss)
            .map(|r| RateSeries {
                label: format!("d={} {}", r.d, r.arm),
                ns: r.ns.clone(),
                values: r.medians.clone(),
                spread: Some(r.spread.clone()),
                theory_slope: (r.arm.starts_with("GD")).then(|| -stable_minima_upper(r.d)),
                colour: r.d.saturating_sub(1),
                arm: arms.iter().position(|a| a == &r.arm).unwrap_or(0),
            })
            .collect();
        let plot = RatePlot {
            title: Some(format!(
                "{what} against n ({} loss): median over seeds, fitted slopes",
                fmt::loss_label(&loss)
            )),
            y_label: Some(y_label.into()),
            series,
            baselines: baselines
                .iter()
                .map(|b| (b.d.saturating_sub(1), b.constant))
                .collect(),
            baseline_label: "constant predictor, per d".into(),
        };
        figs.push(figure(
            &plot,
            "rate plot",
            &dir.join(format!("{name}_{loss}")),
            format!("{what} against n on log-log axes under the {} loss; lines are least-squares fits with 95% intervals; dotted lines show the stable-minima rate 1/(2d+4) of SCIENCE.md section 6{}.", fmt::loss_label(&loss), if baselines.is_empty() { "" } else { "; long dashes mark the constant predictor's test MSE per d (what a fit must beat)" }),
        )?);
    }
    Ok(figs)
}

fn draw_figures(
    exp: &dyn Experiment,
    store: &Store,
    views: &[RunView],
    analysis: &Analysis,
    dir: &Path,
) -> Result<Vec<ReportFigure>, ReproduceError> {
    let mut figs = Vec::new();
    let done: Vec<&RunView> = views
        .iter()
        .filter(|v| v.summary.status == "completed")
        .collect();
    // Runs whose neurons and training curves are shown: those of the smallest seed (one run per
    // setting when there are several seeds); all of them for small experiments, the largest-n
    // run per arm otherwise.
    let first_seed = done.iter().map(|v| v.spec.seed.unwrap_or(0)).min();
    let first: Vec<&RunView> = done
        .iter()
        .copied()
        .filter(|v| Some(v.spec.seed.unwrap_or(0)) == first_seed)
        .collect();
    let shown: Vec<&RunView> = if first.len() <= 12 {
        first
    } else {
        let mut best: std::collections::BTreeMap<String, &RunView> =
            std::collections::BTreeMap::new();
        for v in &first {
            let key = format!(
                "{} {} {}",
                v.spec.loss.clone().unwrap_or_default(),
                v.spec.lr.unwrap_or(0.0),
                v.spec.weight_decay.unwrap_or(0.0)
            );
            let better = best
                .get(&key)
                .is_none_or(|b| (v.spec.n, v.spec.d) > (b.spec.n, b.spec.d));
            if better {
                best.insert(key, v);
            }
        }
        best.into_values().collect()
    };
    if !analysis.rates.is_empty() {
        let kinds = [
            (
                &analysis.rates,
                &analysis.baselines[..],
                "rates",
                "Test MSE",
                "test MSE against the noiseless target",
            ),
            (
                &analysis.gap_rates,
                &[][..],
                "gap",
                "Generalisation gap",
                "population risk - train MSE",
            ),
        ];
        for (fits, baselines, name, what, y_label) in kinds {
            figs.extend(rate_figures(fits, baselines, name, what, y_label, dir)?);
        }
        let pw = PopulationWeight {
            title: None,
            dims: vec![1, 2, 3, 4, 5],
            points: 201,
        };
        figs.push(figure(&pw, "g_P", &dir.join("population_weight"), "The population weight g_P(t) for inputs uniform in the unit ball: the implicit regularisation vanishes like (1-|t|)^(d+2) towards the boundary.".into())?);
    }
    // One training figure per step size, so each sharpness panel is on the scale of its 2/eta.
    let mut lrs: Vec<f64> = shown.iter().map(|v| v.spec.lr.unwrap_or(0.0)).collect();
    lrs.sort_by(f64::total_cmp);
    lrs.dedup();
    if exp.training_curves() || shown.len() <= 6 {
        for (i, lr) in lrs.iter().enumerate() {
            let mut series = Vec::new();
            let mut drawn = Vec::new();
            for v in shown.iter().filter(|v| v.spec.lr == Some(*lr)).take(8) {
                if let Some(s) = training_series(store, v, seeded_label(v))? {
                    series.push(s);
                    drawn.push(*v);
                }
            }
            if series.is_empty() {
                continue;
            }
            let curves = TrainingCurves {
                title: Some(format!(
                    "Training at eta = {}: loss, test MSE and sharpness against 2/eta",
                    fmt::fmt_num(*lr)
                )),
                series,
            };
            figs.push(figure(
                &curves,
                "training curves",
                &dir.join(format!("training_{i}")),
                format!("Train loss and test MSE (log scale) and sharpness with its 2/eta = {} line, for the runs at eta = {} ({}).", fmt::fmt_num(2.0 / lr), fmt::fmt_num(*lr), seeds_shown(&drawn)),
            )?);
        }
    }
    let mut runs = Vec::new();
    let mut drawn = Vec::new();
    for v in shown.iter().take(6) {
        if let Some(r) = shattering_run(store, v, seeded_label(v))? {
            runs.push(r);
            drawn.push(*v);
        }
    }
    let seeds = seeds_shown(&drawn);
    if !runs.is_empty() {
        let hist = ActivationHistogram {
            title: None,
            runs: runs.iter().map(HistogramRun::from).collect(),
        };
        let scatter = ShatteringScatter { title: None, runs };
        figs.push(figure(&scatter, "shattering scatter", &dir.join("shattering"), format!("Each neuron's activation rate against its amplitude |v_k| ||w_k||, coloured by its boundary offset |t_k|; the line marks 10% ({seeds})."))?);
        figs.push(figure(
            &hist,
            "activation histogram",
            &dir.join("activation_rates"),
            format!("Histogram of activation rates (5% bins; {seeds})."),
        )?);
    }
    let done: Vec<RunView> = done.into_iter().cloned().collect();
    let losses = split_losses(exp, &done);
    if losses.is_empty() {
        figs.extend(exp.figures(store, &done, dir)?);
    }
    // The experiment's own figures once per loss convention, each set in its own folder.
    for loss in &losses {
        let group: Vec<RunView> = done
            .iter()
            .filter(|r| analysis::loss_of(r) == *loss)
            .cloned()
            .collect();
        let sub = dir.join(loss);
        mkdir(&sub)?;
        let conv = analysis::convention(loss);
        figs.extend(exp.figures(store, &group, &sub)?.into_iter().map(|mut f| {
            f.caption = format!("Under the {conv} loss: {}", f.caption);
            f
        }));
    }
    Ok(figs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use analysis::Row;

    /// A context row that shows several numbers in one cell gets one claims.csv line per
    /// number, each under the convention `per_loss` gave the row; a row without parts stays
    /// one line.
    #[test]
    fn claim_lines_give_every_number_of_a_row_its_own_line() {
        let mut a = Analysis::default();
        a.rows.push(
            Row::context("test MSE / sharpness", "eta = 0.9", "0.5 / 2.2", "")
                .with_numbers([("test MSE", Some(0.5)), ("sharpness", None)]),
        );
        a.rows.push(
            Row::context("words only", "all runs", "none", "")
                .with_numbers(Vec::<(String, Option<f64>)>::new()),
        );
        a.rows[0] = a.rows[0].clone().with_loss("mse");
        let lines = claim_lines("mixup", &a, "square");
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].claim, "test MSE");
        assert_eq!(lines[0].loss, "mse", "the part's own convention");
        assert_eq!(lines[0].numbers.as_ref().map(|c| c.estimate), Some(0.5));
        assert_eq!(lines[0].verdict, analysis::Verdict::Context);
        assert_eq!(lines[1].claim, "sharpness");
        assert!(lines[1]
            .numbers
            .as_ref()
            .is_some_and(|c| c.estimate.is_nan()));
        assert_eq!(lines[2].claim, "words only");
        assert_eq!(lines[2].loss, "square", "the store's only convention");
        assert!(lines[2].numbers.is_none());
    }
}
