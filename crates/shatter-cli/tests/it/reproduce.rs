//! Reproductions and reports: the comparison table of a tiny sweep against a golden file, every
//! figure written as valid SVG and PNG, the report rendered by headless Chromium, and
//! `--print-spec` output that runs as a sweep.

use crate::common::{ok, ok_in, path_str, shatter};
use std::path::{Path, PathBuf};

/// A tiny version of the `shattering` experiment: both arms, both loss conventions.
const TINY_SHATTERING: &str = r#"name = "tiny-shattering"
[base]
d = 3
n = 40
width = 32
epochs = 200
n_test = 200
[measure]
sharpness_every = 50
test_every = 50
log_every = 10
[grid]
loss = ["square", "mse"]
[[zip]]
lr = [0.9, 0.01]
weight_decay = [0.0, 0.1]
"#;

fn tiny_store(dir: &Path) -> PathBuf {
    let spec = dir.join("tiny.toml");
    std::fs::write(&spec, TINY_SHATTERING).unwrap();
    let db = dir.join("tiny.db");
    ok(&["sweep", "-q", path_str(&spec), "--store", path_str(&db)]);
    db
}

fn comparison_table(html: &str) -> &str {
    let start = html
        .find("<table class=\"comparison\">")
        .expect("the report has a comparison table");
    let end = start + html[start..].find("</table>").expect("closed table") + "</table>".len();
    &html[start..end]
}

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

#[test]
fn report_comparison_table_matches_golden_and_figures_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let db = tiny_store(dir.path());
    let out = dir.path().join("report");
    let spec = dir.path().join("tiny.toml");
    // Run from a folder outside any git checkout: the report must still name the build's commit.
    ok_in(
        dir.path(),
        &[
            "report",
            "-q",
            "--store",
            path_str(&db),
            "--out",
            path_str(&out),
            "--experiment",
            "shattering",
            "--spec",
            path_str(&spec),
        ],
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let table = comparison_table(&html).to_string();
    let path = golden("tiny_shattering_table.html");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &table).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing: run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(
        table, want,
        "the comparison table changed; review and rerun with UPDATE_GOLDEN=1 if intended"
    );
    assert!(
        html.contains("square (the papers&#x27; 1/(2n))")
            || html.contains("square (the papers' 1/(2n))"),
        "the report states the convention"
    );
    assert!(
        html.contains("tiny-shattering"),
        "the report shows the spec"
    );
    assert!(html.contains("Provenance") && html.contains("git commit") && html.contains("seeds"));
    // The commit is the one shatter was built from, not that of the directory it runs in.
    let built_from = std::process::Command::new("git")
        .args([
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "rev-parse",
            "--short=12",
            "HEAD",
        ])
        .output()
        .expect("git runs");
    let built_from = String::from_utf8_lossy(&built_from.stdout)
        .trim()
        .to_string();
    assert_eq!(built_from.len(), 12, "the test runs in a git checkout");
    // Built from edited numerics or report sources, the commit is marked `-dirty`.
    assert!(
        html.contains(&format!("<th>git commit</th><td>{built_from}</td>"))
            || html.contains(&format!("<th>git commit</th><td>{built_from}-dirty</td>")),
        "the report names the build's commit {built_from}"
    );
    // Where the runs trained, from the store's device column.
    assert!(
        html.contains("<th>trained on</th><td>cpu ("),
        "the provenance names the device"
    );
    // claims.csv holds the table's rows as numbers, with verdicts that follow from them, and
    // provenance.json counts the store's runs and sums their wall times.
    let lines = check_claims_csv(&out.join("claims.csv"));
    // One line per row of the HTML table, except the rows of dead and negligible neurons,
    // which show four numbers in one cell and give each its own line.
    let rows = table.matches("<tr><td>").count();
    let composite = table.matches("<tr><td>dead / negligible neurons").count();
    assert!(
        composite > 0,
        "the tiny sweep's table has the neuron-class rows"
    );
    assert_eq!(
        lines,
        rows + 3 * composite,
        "claims.csv has one line per number of the HTML table's rows"
    );
    check_provenance(&out.join("provenance.json"), &[&db]);
    // Every figure is written as a pair of valid files and inlined in the page.
    let mut svgs = 0;
    for entry in std::fs::read_dir(out.join("figures")).unwrap() {
        let p = entry.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        match p.extension().and_then(|e| e.to_str()) {
            Some("svg") => {
                let text = String::from_utf8(bytes).unwrap();
                assert!(
                    text.contains("<svg") && text.trim_end().ends_with("</svg>"),
                    "{} is not an SVG document",
                    p.display()
                );
                assert!(
                    p.with_extension("png").exists(),
                    "{} has no PNG twin",
                    p.display()
                );
                svgs += 1;
            }
            Some("png") => assert_eq!(
                &bytes[..8],
                b"\x89PNG\r\n\x1a\n",
                "{} is not a PNG",
                p.display()
            ),
            other => panic!("unexpected file {} ({other:?})", p.display()),
        }
    }
    assert!(
        svgs >= 3,
        "training curves, shattering scatter and histogram: {svgs}"
    );
    assert_eq!(
        html.matches("<figure>").count(),
        svgs,
        "every figure is inlined"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "the report is self-contained"
    );
}

/// The verdict `claims.csv`'s own numbers give: the 95% interval (or, without one, the
/// measured value) against the agreement interval; empty without agreement bounds.
fn verdict_from_columns(row: &csv::StringRecord) -> String {
    let num = |i: usize| -> Option<f64> {
        let cell = &row[i];
        (!cell.is_empty()).then(|| {
            cell.parse::<f64>()
                .unwrap_or_else(|e| panic!("column {i} {cell:?} is not a number: {e}"))
        })
    };
    let (measured, ci_low, ci_high, agree_low, agree_high) =
        (num(4), num(5), num(6), num(8), num(9));
    let (Some(a_lo), Some(a_hi)) = (agree_low, agree_high) else {
        assert!(
            agree_low.is_none() && agree_high.is_none(),
            "one agreement bound without the other: {row:?}"
        );
        return String::new();
    };
    let (lo, hi) = match (ci_low, ci_high, measured) {
        (Some(lo), Some(hi), _) => (lo, hi),
        (None, None, Some(m)) if m.is_finite() => (m, m),
        _ => return "inconclusive".into(),
    };
    if lo >= a_lo && hi <= a_hi {
        "agrees".into()
    } else if hi < a_lo || lo > a_hi {
        "differs".into()
    } else {
        "inconclusive".into()
    }
}

/// Checks `claims.csv`: the exact header, every line parsed, every verdict the one its numbers
/// give. Returns the number of lines.
fn check_claims_csv(path: &Path) -> usize {
    let mut reader = csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header.join(","),
        "experiment,claim,setting,loss,measured,ci_low,ci_high,paper,agree_low,agree_high,verdict"
    );
    let mut lines = 0;
    let mut claims = 0;
    for row in reader.records() {
        let row = row.unwrap();
        assert_eq!(row.len(), 11, "{row:?}");
        assert!(!row[0].is_empty() && !row[1].is_empty(), "{row:?}");
        assert_eq!(
            &row[10],
            verdict_from_columns(&row),
            "the verdict does not follow from the numbers: {row:?}"
        );
        if !row[10].is_empty() {
            claims += 1;
        }
        lines += 1;
    }
    assert!(claims > 0, "{} has no claim", path.display());
    lines
}

/// Checks `provenance.json` against the stores behind it: its keys, `runs` equal to their runs
/// and `wall_seconds` to the sum of the runs' wall times.
fn check_provenance(path: &Path, stores: &[&Path]) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    let p: serde_json::Value = serde_json::from_str(&text).unwrap();
    for key in [
        "version",
        "commit",
        "machine",
        "date",
        "runs",
        "seeds",
        "wall_seconds",
        "scale",
        "losses",
    ] {
        assert!(p.get(key).is_some(), "provenance.json lacks {key}: {text}");
    }
    let (mut runs, mut wall) = (0i64, 0.0f64);
    for db in stores {
        let conn = rusqlite::Connection::open(db).unwrap();
        let (n, w): (i64, f64) = conn
            .query_row("SELECT COUNT(*), TOTAL(wall_seconds) FROM runs", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        runs += n;
        wall += w;
    }
    assert!(
        runs > 0 && wall > 0.0,
        "the stores have runs with wall times"
    );
    assert_eq!(p["runs"].as_i64(), Some(runs), "{text}");
    let got = p["wall_seconds"].as_f64().unwrap();
    assert!(
        (got - wall).abs() <= 1e-9 * wall.max(1.0),
        "wall_seconds {got} against the store's sum {wall}"
    );
    let commit = p["commit"].as_str().unwrap_or("");
    let hex = commit.strip_suffix("-dirty").unwrap_or(commit);
    assert!(
        hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit()),
        "{text}"
    );
    p
}

#[test]
fn index_of_two_reports_counts_their_runs_and_wall_time() {
    // Two experiments' reports over the tiny store (the analyses of `shattering` and `lr`),
    // then the index page `reproduce all` writes from their outcomes.
    let dir = tempfile::tempdir().unwrap();
    let db = tiny_store(dir.path());
    let out = dir.path().join("index");
    let store = shatter_lab::store::Store::open_reader(&db).unwrap();
    let mut outcomes = Vec::new();
    for id in ["shattering", "lr"] {
        let exp = shatter_lab::reproduce::experiments::experiment(id).unwrap();
        let outcome = shatter_lab::reproduce::write_report(
            Some(exp),
            Some(shatter_lab::reproduce::experiments::Scale::Quick),
            &store,
            TINY_SHATTERING,
            &out.join(id),
            0.0,
        )
        .unwrap();
        check_claims_csv(&out.join(id).join("claims.csv"));
        check_provenance(&out.join(id).join("provenance.json"), &[&db]);
        outcomes.push((id.to_string(), outcome));
    }
    let index = shatter_lab::reproduce::write_index(&out, "tiny", &outcomes, 1.5).unwrap();
    let html = std::fs::read_to_string(&index).unwrap();
    assert!(
        !html.contains("<th>runs</th><td>0</td>"),
        "runs 0 on the index"
    );
    let key = "wall time of the runs (sum)</th><td>";
    let at = html.find(key).expect("the index shows the runs' wall time") + key.len();
    let shown: f64 = html[at..]
        .split(" s<")
        .next()
        .and_then(|t| t.parse().ok())
        .expect("a number of seconds");
    assert!(shown > 0.0, "wall time {shown} s on the index");
    // Both reports read the same four runs: the index counts eight, and sums their times twice.
    let p = check_provenance(&out.join("provenance.json"), &[&db, &db]);
    assert!(
        html.contains(&format!("<th>runs</th><td>{}</td>", p["runs"])),
        "the index shows the aggregated run count"
    );
    assert!(
        html.contains(" agree, ") && html.contains(" inconclusive"),
        "{html}"
    );
    let lines = check_claims_csv(&out.join("claims.csv"));
    let parts: usize = outcomes.iter().map(|(_, o)| o.claims.len()).sum();
    assert_eq!(
        lines, parts,
        "the index's claims.csv holds every report's lines"
    );
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH")?
                .to_str()?
                .split(':')
                .map(|d| Path::new(d).join(name))
                .find(|p| p.exists())
        })
}

/// Chromium's flags for a headless run without network, sandbox or first-run work.
const HEADLESS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Chromium's path; without it the test fails under CI and otherwise says why it skips.
fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    let browser = chromium();
    if browser.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have Chromium (.ci/run installs Debian's chromium package)"
        );
        eprintln!("skipping {test}: no chromium on PATH (apt-get install chromium)");
    }
    browser
}

/// The shattering report of a tiny store, written under `dir`; returns its folder.
fn shattering_report(dir: &Path) -> PathBuf {
    let db = tiny_store(dir);
    let out = dir.join("report");
    ok(&[
        "report",
        "-q",
        "--store",
        path_str(&db),
        "--out",
        path_str(&out),
        "--experiment",
        "shattering",
    ]);
    out
}

#[test]
fn report_renders_in_headless_chromium() {
    let Some(browser) = chromium_or_skip("report_renders_in_headless_chromium") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = shattering_report(dir.path());
    let profile = dir.path().join("profile");
    let url = format!("file://{}", out.join("index.html").display());
    let dom = std::process::Command::new(browser)
        .args(HEADLESS)
        .args([
            &format!("--user-data-dir={}", profile.display()),
            "--dump-dom",
            &url,
        ])
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dom.stdout);
    let figures = std::fs::read_dir(out.join("figures"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "svg")
        })
        .count();
    assert!(
        dom.contains("Measured against the paper"),
        "Chromium did not render the report:\n{}",
        &dom[..dom.len().min(500)]
    );
    assert_eq!(
        dom.matches("<figure>").count(),
        figures,
        "every figure is in the rendered page"
    );
    assert!(
        dom.matches("<svg").count() >= figures,
        "every figure's SVG is in the rendered page"
    );
    assert!(
        dom.contains("<td class=\"agrees\">") || dom.contains("<td class=\"differs\">"),
        "verdicts rendered"
    );
}

/// The share of pixels of an RGB(A) PNG that differ from white, and the fraction of the width
/// and height their bounding box covers.
fn ink(png_path: &Path) -> (f64, f64, f64) {
    let decoder = png::Decoder::new(std::fs::File::open(png_path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let (w, h) = (info.width as usize, info.height as usize);
    let (mut count, mut x0, mut x1, mut y0, mut y1) = (0usize, w, 0, h, 0);
    for y in 0..h {
        for x in 0..w {
            let i = (y * w + x) * channels;
            let px = &buf[i..i + channels.min(3)];
            if px.iter().any(|&c| c < 235) {
                count += 1;
                x0 = x0.min(x);
                x1 = x1.max(x);
                y0 = y0.min(y);
                y1 = y1.max(y);
            }
        }
    }
    if count == 0 {
        return (0.0, 0.0, 0.0);
    }
    (
        count as f64 / (w * h) as f64,
        (x1 - x0 + 1) as f64 / w as f64,
        (y1 - y0 + 1) as f64 / h as f64,
    )
}

/// Width and height of an SVG figure from its root element's attributes.
fn svg_size(svg: &str) -> (u32, u32) {
    let attr = |name: &str| -> u32 {
        let key = format!("{name}=\"");
        let start = svg.find(&key).unwrap() + key.len();
        let end = start + svg[start..].find('"').unwrap();
        svg[start..end].trim_end_matches("px").parse().unwrap()
    };
    (attr("width"), attr("height"))
}

#[test]
fn every_report_figure_is_visible_in_headless_chromium() {
    let Some(browser) = chromium_or_skip("every_report_figure_is_visible_in_headless_chromium")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = shattering_report(dir.path());
    let mut figures: Vec<PathBuf> = std::fs::read_dir(out.join("figures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "svg" || x == "png"))
        .collect();
    figures.sort();
    assert!(figures.len() >= 4, "the report drew figures: {figures:?}");
    for (k, figure) in figures.iter().enumerate() {
        let svg = figure.with_extension("svg");
        let (w, h) = svg_size(&std::fs::read_to_string(&svg).unwrap());
        // One page per figure, the image at its own size on a white page.
        let page = dir.path().join(format!("page{k}.html"));
        std::fs::write(
            &page,
            format!(
                "<!doctype html><html><body style=\"margin:0;background:#fff\"><img src=\"file://{}\" width=\"{w}\" height=\"{h}\" style=\"display:block\"></body></html>",
                figure.display()
            ),
        )
        .unwrap();
        let shot = dir.path().join(format!("shot{k}.png"));
        let status = std::process::Command::new(&browser)
            .args(HEADLESS)
            .args([
                "--hide-scrollbars",
                "--allow-file-access-from-files",
                &format!("--user-data-dir={}", dir.path().join("profile").display()),
                &format!("--window-size={w},{h}"),
                &format!("--screenshot={}", shot.display()),
                &format!("file://{}", page.display()),
            ])
            .output()
            .expect("chromium runs");
        assert!(
            shot.exists(),
            "Chromium took no screenshot of {}: {}",
            figure.display(),
            String::from_utf8_lossy(&status.stderr)
        );
        let (share, wide, high) = ink(&shot);
        // A drawn figure inks a few percent of its pixels across most of the canvas; a blank
        // page inks none and a broken-image icon a few hundred pixels in one corner.
        assert!(
            share > 0.02 && wide > 0.6 && high > 0.6,
            "{} is not visible in Chromium: {:.1}% of pixels inked, box {:.0}% x {:.0}% of the canvas",
            figure.display(),
            100.0 * share,
            100.0 * wide,
            100.0 * high
        );
    }
}

#[test]
fn printed_specs_run_as_sweeps() {
    let dir = tempfile::tempdir().unwrap();
    for id in [
        "shattering",
        "cod",
        "dims",
        "lr",
        "underparam",
        "gelu",
        "cod-variants",
        "univariate",
        "univariate-interpolation",
        "univariate-rate",
        "no-bias",
        "geometry",
        "logistic",
        "mixup",
    ] {
        let out = ok(&["reproduce", id, "--print-spec"]);
        let path = dir.path().join(format!("{id}.toml"));
        std::fs::write(&path, &out.stdout).unwrap();
        let points = ok(&["sweep", path_str(&path), "--print-points"]);
        assert!(
            String::from_utf8_lossy(&points.stdout).lines().count() > 1,
            "{id}: the printed spec expands to runs"
        );
    }
    let bad = shatter(&["reproduce", "nope"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("cod-variants"),
        "lists the known ids"
    );
    let bad = shatter(&["reproduce", "cod", "--scale", "huge"]);
    assert_eq!(bad.status.code(), Some(2));
}
