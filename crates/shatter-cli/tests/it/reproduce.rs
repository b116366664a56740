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
    assert!(
        html.contains(&format!("<th>git commit</th><td>{built_from}</td>")),
        "the report names the build's commit {built_from}"
    );
    // Where the runs trained, from the store's device column.
    assert!(
        html.contains("<th>trained on</th><td>cpu ("),
        "the provenance names the device"
    );
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

#[test]
fn report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have Chromium (.ci/run installs Debian's chromium package)"
        );
        eprintln!("skipping report_renders_in_headless_chromium: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = tiny_store(dir.path());
    let out = dir.path().join("report");
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
    let profile = dir.path().join("profile");
    let url = format!("file://{}", out.join("index.html").display());
    let dom = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
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
