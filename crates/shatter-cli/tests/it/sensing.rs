//! `shatter sensing`: matrix sensing at a small and a large step size, end to end.

use crate::common::{json, ok, path_str, shatter};

/// The well-posed 8 x 8 rank-2 problem of the core tests (m = 5 r (d1 + d2) = 160, k = 4,
/// init 0.3, seed 36) at step sizes 0.05 and 0.8: the large step ends flatter, below 2/lr.
#[test]
fn a_larger_step_ends_flatter_and_below_two_over_lr() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sensing");
    let stdout = ok(&[
        "sensing",
        "-q",
        "--d1",
        "8",
        "--d2",
        "8",
        "--rank",
        "2",
        "--measurements",
        "160",
        "--k",
        "4",
        "--lr",
        "0.05,0.8",
        "--epochs",
        "3000",
        "--init-scale",
        "0.3",
        "--seed",
        "36",
        "--out",
        path_str(&out),
    ])
    .stdout;
    let table = String::from_utf8_lossy(&stdout);
    assert_eq!(table.lines().count(), 3, "header and two rows:\n{table}");
    let doc = json(&out.join("sensing.json"));
    assert_eq!(doc["problem"]["measurements"], 160);
    let runs = doc["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);
    let field = |i: usize, key: &str| {
        runs[i][key]
            .as_f64()
            .unwrap_or_else(|| panic!("run {i} lacks {key}: {} (seed 36)", runs[i]))
    };
    for (i, run) in runs.iter().enumerate() {
        assert_eq!(run["status"], "completed", "seed 36: {run}");
        assert!(field(i, "recovery_error") < 0.05, "seed 36: {run}");
    }
    let (small, large) = (field(0, "sharpness"), field(1, "sharpness"));
    assert!(
        large < small,
        "lr 0.8 sharpness {large} not below lr 0.05 sharpness {small} (seed 36)"
    );
    let slack = field(1, "sharpness_err") + 0.01 * field(1, "two_over_lr");
    assert!(
        large <= field(1, "two_over_lr") + slack,
        "lr 0.8 ends at sharpness {large} above 2/lr = 2.5 (seed 36)"
    );
    let csv = std::fs::read_to_string(out.join("trajectory.csv")).expect("trajectory.csv");
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("lr,epoch,loss,recovery_error"));
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            l.split(',')
                .map(|v| v.parse().unwrap_or_else(|_| panic!("bad number in {l:?}")))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 2 * 101, "101 points per step size");
    assert!(rows.iter().all(|r| r.len() == 4));
    assert_eq!((rows[0][0], rows[101][0]), (0.05, 0.8));
}

#[test]
fn bad_sensing_flags_exit_with_code_2() {
    for (args, word) in [
        (vec!["sensing", "--lr", "0.1,-1"], "--lr"),
        (vec!["sensing", "--lr", "fast"], "fast"),
        (vec!["sensing", "--rank", "30"], "rank"),
        (vec!["sensing", "--k", "0"], "--k"),
        (vec!["sensing", "--init-scale", "-1"], "--init-scale"),
        (vec!["sensing", "--no-such-flag"], "--no-such-flag"),
    ] {
        let out = shatter(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(word), "{args:?}: {err:?} lacks {word:?}");
    }
}
