//! `shatter report` on a user's own sweep: no paper, runs in the order of the swept settings,
//! figures that name their seeds, metrics against each swept axis.

use std::path::Path;
use std::process::Command;

fn shatter(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_shatter"))
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("shatter starts")
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// 2 step sizes spanning more than a decade x 2 sample sizes x 2 seeds, sharpness measured.
const SWEEP: &str = r#"name = "mine"
[base]
d = 2
width = 8
epochs = 20
n_test = 16
[measure]
sharpness_every = 10
log_every = 5
[grid]
lr = [0.5, 0.02]
n = [16, 8]
seed = [1, 0]
"#;

#[test]
fn a_users_sweep_report_orders_runs_by_its_axes_and_plots_metrics_against_them() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("mine.toml");
    std::fs::write(&spec, SWEEP).unwrap();
    let db = dir.path().join("r.db");
    let out = shatter(&["--quiet", "sweep", &s(&spec), "--store", &s(&db)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = dir.path().join("report");
    let out = shatter(&[
        "--quiet",
        "report",
        "--store",
        &s(&db),
        "--out",
        &s(&report),
        "--spec",
        &s(&spec),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();

    // No paper: no "Paper:" line, no verdict column.
    assert!(
        !html.contains("<b>Paper:</b>"),
        "a Paper line without a paper"
    );
    assert!(
        !html.contains("<th>verdict</th>"),
        "a verdict column without paper values"
    );

    // Rows ordered by the swept settings (numerically, whatever order the grid gave), then seed.
    let table = &html[html.find("<table class=\"runs\">").expect("a runs table")..];
    let table = &table[..table.find("</table>").unwrap()];
    let settings: Vec<String> = table
        .split("<tr><td>")
        .skip(1)
        .map(|row| row.split("</td><td>").nth(1).unwrap().to_string())
        .collect();
    assert_eq!(settings.len(), 8, "{settings:?}");
    let mut expected = Vec::new();
    for lr in [0.02, 0.5] {
        for n in [8, 16] {
            for seed in [0, 1] {
                expected.push(format!("lr={lr} n={n} seed={seed}"));
            }
        }
    }
    // Swept settings in alphabetical order: rows sort by lr, then n, then seed.
    assert_eq!(settings, expected);

    // Figures of single runs show one seed per setting (the smallest) and say so.
    assert!(
        html.contains("single runs, seed 0"),
        "training and shattering captions name their seed"
    );
    assert!(
        !html.contains("single runs, seeds"),
        "one seed per setting in the figures of single runs"
    );
    // One plot per swept axis and metric, seeds stated, log axis for lr (0.02 to 0.5).
    for axis in ["n", "lr"] {
        for metric in ["test_mse", "train_loss", "sharpness", "shattered"] {
            let stem = report.join("figures").join(format!("axis_{axis}_{metric}"));
            assert!(
                stem.with_extension("svg").is_file() && stem.with_extension("png").is_file(),
                "{}",
                stem.display()
            );
        }
    }
    assert!(html.contains(
        "test MSE against lr: median over seeds 0, 1 with min-max bars, one line per value of n."
    ));
    assert!(html.contains("final sharpness / (2/eta) against n"));
    let lr_svg =
        std::fs::read_to_string(report.join("figures").join("axis_lr_test_mse.svg")).unwrap();
    assert!(
        lr_svg.contains("lr (log scale)"),
        "lr spans more than a decade"
    );
    let n_svg =
        std::fs::read_to_string(report.join("figures").join("axis_n_test_mse.svg")).unwrap();
    assert!(!n_svg.contains("n (log scale)"), "n spans a factor of 2");
    assert!(
        n_svg.contains("lr=0.02") && n_svg.contains("lr=0.5"),
        "one line per lr"
    );
    // claims.csv has the run rows, none with a verdict.
    let claims = std::fs::read_to_string(report.join("claims.csv")).unwrap();
    assert!(
        !claims.contains("agrees") && !claims.contains("differs"),
        "{claims}"
    );
}
