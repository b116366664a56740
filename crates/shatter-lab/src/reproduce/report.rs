//! Self-contained HTML reports: one `index.html` per experiment with the comparison table first,
//! the sentences of the analysis, every figure inline (SVG), the exact spec, and provenance
//! (program version, git commit, seeds, machine, wall time). No external file, script or font is
//! referenced, so a report opens offline in any browser.

use super::analysis::{Analysis, Verdict};
use super::experiments::{Experiment, Scale};

/// Where and how the numbers were made.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    /// Program version.
    pub version: String,
    /// Git commit of the program, when known.
    pub git_commit: String,
    /// Machine: CPU model and core count.
    pub machine: String,
    /// Seeds used by the runs.
    pub seeds: Vec<u64>,
    /// Number of runs in the report.
    pub runs: usize,
    /// Sum of the runs' wall times, seconds.
    pub run_seconds: f64,
    /// Where the runs trained: each device as recorded in the store, with its number of runs.
    pub devices: Vec<(String, usize)>,
    /// Wall time of the whole reproduction (0 when only the report was made).
    pub wall_seconds: f64,
    /// The results store.
    pub store: String,
    /// When the report was written (UTC, RFC 3339).
    pub date: String,
    /// The scale of the reproduction (`quick`, `paper`; empty for a user's store).
    pub scale: String,
    /// The loss conventions of the runs, sorted.
    pub losses: Vec<String>,
    /// What ran: each setting's values over the stored runs (`run_settings_summary`).
    pub settings: String,
}

impl Provenance {
    /// The provenance of several reports together (an index page): their runs and run wall
    /// times summed, seeds, losses and devices merged, the first report's program, machine and
    /// scale, and `store` and `wall_seconds` as given.
    pub fn aggregate(parts: &[Provenance], store: &str, wall_seconds: f64) -> Provenance {
        let mut p = Provenance {
            version: env!("CARGO_PKG_VERSION").into(),
            git_commit: env!("SHATTER_GIT_COMMIT").into(),
            store: store.into(),
            wall_seconds,
            ..Provenance::default()
        };
        if let Some(first) = parts.first() {
            p.machine = first.machine.clone();
            p.scale = first.scale.clone();
            p.date = first.date.clone();
        }
        for part in parts {
            p.runs += part.runs;
            p.run_seconds += part.run_seconds;
            p.seeds.extend(&part.seeds);
            p.losses.extend(part.losses.iter().cloned());
            for (d, n) in &part.devices {
                match p.devices.iter_mut().find(|(x, _)| x == d) {
                    Some((_, m)) => *m += n,
                    None => p.devices.push((d.clone(), *n)),
                }
            }
            if part.date > p.date {
                p.date = part.date.clone();
            }
        }
        p.seeds.sort_unstable();
        p.seeds.dedup();
        p.losses.sort();
        p.losses.dedup();
        p
    }
}

pub use super::figs::ReportFigure;

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}\
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;width:100%;font-size:.92em;margin:.6em 0}th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\
th{background:#f3f3f3}td.agrees{background:#e6f4e6}td.differs{background:#fbe3e3}td.inconclusive{background:#fff1cc}\
figure{margin:1.2em 0}figure svg{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.9em;color:#555}\
pre{background:#f7f7f7;padding:.8em;overflow-x:auto;font-size:.85em}.meta{color:#555;font-size:.9em}\
.warning{background:#fff3cd;border:1px solid #e0b000;padding:.6em}";

/// The report of one experiment.
pub fn render_report(
    experiment: &dyn Experiment,
    scale: Scale,
    analysis: &Analysis,
    figures: &[ReportFigure],
    spec_text: &str,
    provenance: &Provenance,
) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    h.push_str(&format!(
        "<title>shatter: {} ({})</title><style>{STYLE}</style></head><body>\n",
        escape(experiment.id()),
        scale
    ));
    let paper = has_paper(experiment, analysis);
    if paper {
        h.push_str(&format!(
            "<h1>{} <span class=\"meta\">({} scale)</span></h1>\n",
            escape(experiment.id()),
            scale
        ));
    } else {
        h.push_str(&format!("<h1>{}</h1>\n", escape(experiment.id())));
    }
    if !experiment.figure().is_empty() {
        h.push_str(&format!(
            "<p class=\"meta\">{}</p>\n",
            escape(experiment.figure())
        ));
    }
    h.push_str(&format!("<p>{}</p>\n", escape(experiment.what())));
    if !experiment.reported().is_empty() {
        h.push_str(&format!(
            "<p><b>Paper:</b> {}</p>\n",
            escape(experiment.reported())
        ));
    }
    if !provenance.settings.is_empty() {
        h.push_str(&format!(
            "<p><b>This {} ran</b> ({} runs): {}</p>\n",
            if paper { "reproduction" } else { "sweep" },
            provenance.runs,
            escape(&provenance.settings)
        ));
    }
    for w in &analysis.warnings {
        h.push_str(&format!(
            "<p class=\"warning\"><b>Warning:</b> {}</p>\n",
            escape(w)
        ));
    }
    if paper {
        h.push_str("<h2>Measured against the paper</h2>\n");
        h.push_str(&comparison_table(analysis));
    } else {
        h.push_str("<h2>Runs</h2>\n");
        h.push_str(&runs_table(analysis));
    }
    if !analysis.words.is_empty() {
        h.push_str("<h2>In words</h2>\n<ul>\n");
        for w in &analysis.words {
            h.push_str(&format!("<li>{}</li>\n", escape(w)));
        }
        h.push_str("</ul>\n");
    }
    let (agree, differ, inconclusive) = verdict_counts(analysis);
    if paper {
        h.push_str(&format!(
            "<p>{}. The same rows, as numbers, are in <a href=\"claims.csv\">claims.csv</a>; provenance in <a href=\"provenance.json\">provenance.json</a>.</p>\n",
            counts_sentence(agree, differ, inconclusive)
        ));
    } else {
        h.push_str("<p>No paper values to compare with, so no verdicts. Provenance in <a href=\"provenance.json\">provenance.json</a>.</p>\n");
    }
    if !figures.is_empty() {
        h.push_str("<h2>Figures</h2>\n");
        for f in figures {
            h.push_str(&format!(
                "<figure>{}<figcaption>{}</figcaption></figure>\n",
                strip_xml_declaration(&f.svg),
                escape(&f.caption)
            ));
        }
    }
    if experiment.trains() {
        h.push_str("<h2>Spec</h2>\n<p>Run it again with <code>shatter sweep SPEC.toml --store results.db</code>.</p>\n");
    } else {
        h.push_str(&format!(
            "<h2>Parameters</h2>\n<p>Nothing is trained: every number above follows from these parameters. Run it again with <code>shatter reproduce {} --scale {scale}</code>.</p>\n",
            escape(experiment.id())
        ));
    }
    h.push_str(&format!("<pre>{}</pre>\n", escape(spec_text)));
    h.push_str(&provenance_section(provenance));
    h.push_str("</body></html>\n");
    h
}

/// Counts rows that agree, that differ and that are inconclusive.
pub fn verdict_counts(analysis: &Analysis) -> (usize, usize, usize) {
    let count = |v: Verdict| analysis.rows.iter().filter(|r| r.verdict == v).count();
    (
        count(Verdict::Agrees),
        count(Verdict::Differs),
        count(Verdict::Inconclusive),
    )
}

/// "N agree, M differ, K inconclusive", the summary of a report's verdicts.
pub fn counts_sentence(agree: usize, differ: usize, inconclusive: usize) -> String {
    format!("{agree} agree, {differ} differ, {inconclusive} inconclusive")
}

fn interval(x: Option<(f64, f64)>) -> String {
    let sig = |v: f64| {
        if v.is_finite() {
            crate::figures::style::format_sig(v, 3)
        } else if v > 0.0 {
            "inf".to_string()
        } else {
            "-inf".to_string()
        }
    };
    match x {
        Some((a, b)) if !a.is_nan() && !b.is_nan() => format!("[{}, {}]", sig(a), sig(b)),
        _ => String::new(),
    }
}

/// Whether a report compares with a paper: the experiment reports an outcome or a row has a
/// paper value or a verdict.
fn has_paper(experiment: &dyn Experiment, analysis: &Analysis) -> bool {
    !experiment.reported().is_empty()
        || analysis
            .rows
            .iter()
            .any(|r| !r.paper.is_empty() || r.verdict != Verdict::Context)
}

/// The table of a report without paper values: quantity, setting and what was measured.
pub fn runs_table(analysis: &Analysis) -> String {
    let mut h = String::from(
        "<table class=\"runs\"><tr><th>run</th><th>settings</th><th>measured</th></tr>\n",
    );
    for r in &analysis.rows {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&r.quantity),
            escape(&r.setting),
            escape(&r.measured)
        ));
    }
    h.push_str("</table>\n");
    h
}

/// The comparison table as HTML.
pub fn comparison_table(analysis: &Analysis) -> String {
    let mut h = String::from("<table class=\"comparison\"><tr><th>quantity</th><th>setting</th><th>measured</th><th>95% interval</th><th>paper</th><th>agreement interval</th><th>verdict</th></tr>\n");
    for r in &analysis.rows {
        let ci = interval(r.claim.as_ref().and_then(|c| c.ci));
        let agree = interval(r.claim.as_ref().and_then(|c| c.agree));
        let class = r.verdict.word();
        let verdict = if r.criterion.is_empty() {
            r.verdict.word().to_string()
        } else {
            format!("{} ({})", r.verdict.word(), r.criterion)
        };
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td></tr>\n",
            escape(&r.quantity),
            escape(&r.setting),
            escape(&r.measured),
            escape(&ci),
            escape(&r.paper),
            escape(&agree),
            escape(verdict.trim())
        ));
    }
    h.push_str("</table>\n");
    h
}

fn provenance_section(p: &Provenance) -> String {
    let seeds: Vec<String> = p.seeds.iter().map(|s| s.to_string()).collect();
    let devices: Vec<String> = p
        .devices
        .iter()
        .map(|(d, n)| format!("{d} ({n} run{})", if *n == 1 { "" } else { "s" }))
        .collect();
    format!(
        "<h2>Provenance</h2>\n<table class=\"provenance\">\
<tr><th>program</th><td>shatter {}</td></tr><tr><th>git commit</th><td>{}</td></tr>\
<tr><th>machine</th><td>{}</td></tr><tr><th>trained on</th><td>{}</td></tr><tr><th>runs</th><td>{}</td></tr><tr><th>seeds</th><td>{}</td></tr>\
<tr><th>wall time of the runs (sum)</th><td>{} s</td></tr><tr><th>wall time of the reproduction</th><td>{} s</td></tr>\
<tr><th>scale</th><td>{}</td></tr><tr><th>loss conventions</th><td>{}</td></tr>\
<tr><th>store</th><td>{}</td></tr><tr><th>written</th><td>{}</td></tr></table>\n",
        escape(&p.version),
        escape(&p.git_commit),
        escape(&p.machine),
        escape(&devices.join("; ")),
        p.runs,
        escape(&seeds.join(", ")),
        seconds(p.run_seconds),
        seconds(p.wall_seconds),
        escape(&p.scale),
        escape(&p.losses.join(", ")),
        escape(&p.store),
        escape(&p.date)
    )
}

/// Seconds with three significant digits (a tiny run's 0.004 s is not "0.0 s").
fn seconds(x: f64) -> String {
    crate::figures::style::format_sig(x, 3)
}

fn strip_xml_declaration(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

/// One line of the index page.
#[derive(Clone, Debug)]
pub struct IndexEntry {
    /// Experiment id.
    pub id: String,
    /// Relative link to its report.
    pub href: String,
    /// Rows that agree and differ.
    pub agree: usize,
    /// Rows that differ.
    pub differ: usize,
    /// Rows that are inconclusive.
    pub inconclusive: usize,
    /// Runs in the report.
    pub runs: usize,
    /// What the paper reports.
    pub reported: String,
    /// Wall time of the report's runs, summed, seconds.
    pub wall_seconds: f64,
}

/// An index page linking several reports.
pub fn render_index(title: &str, entries: &[IndexEntry], provenance: &Provenance) -> String {
    let mut h = format!("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n", escape(title), escape(title));
    let total = |f: fn(&IndexEntry) -> usize| entries.iter().map(f).sum::<usize>();
    h.push_str(&format!(
        "<p>{} over {} experiments. Every row, as numbers: <a href=\"claims.csv\">claims.csv</a>; provenance: <a href=\"provenance.json\">provenance.json</a>.</p>\n",
        counts_sentence(total(|e| e.agree), total(|e| e.differ), total(|e| e.inconclusive)),
        entries.len()
    ));
    h.push_str("<table><tr><th>experiment</th><th>agree</th><th>differ</th><th>inconclusive</th><th>runs</th><th>paper</th><th>wall time of the runs (sum)</th></tr>\n");
    for e in entries {
        h.push_str(&format!(
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} s</td></tr>\n",
            escape(&e.href),
            escape(&e.id),
            e.agree,
            e.differ,
            e.inconclusive,
            e.runs,
            escape(&e.reported),
            seconds(e.wall_seconds)
        ));
    }
    h.push_str("</table>\n");
    h.push_str(&provenance_section(provenance));
    h.push_str("</body></html>\n");
    h
}
