//! Curvature beyond sharpness through the whole pipeline: the settings and their checks, the
//! run (outliers and trace at every sharpness record, a certified lambda_min at the end), the
//! store (`curvature` and `outliers` tables) and the run directory's `curvature.csv`.

use crate::{sweep_into, TINY};
use shatter_core::train::Control;
use shatter_lab::run::{execute, write_run_dir, RunOptions};
use shatter_lab::spec::RunSpec;
use shatter_lab::sweep::{Parallelism, SweepSpec};

fn spec(extra: &str) -> RunSpec {
    RunSpec::from_toml(
        &format!("d = 2\nn = 16\nwidth = 12\nepochs = 30\nlr = 0.9\nn_test = 20\nsharpness_every = 10\n{extra}"),
        "curv.toml",
    )
    .expect("parses")
}

#[test]
fn bad_curvature_settings_are_refused_by_name() {
    for (extra, key) in [
        ("trace_products = 2", "trace_products"),
        ("trace_products = 1000000", "trace_products"),
        ("outlier_threshold = -1.0", "outlier_threshold"),
        ("outlier_threshold = 5000.0", "outlier_threshold"),
    ] {
        let err = spec(extra).check(None).expect_err(extra).to_string();
        assert!(err.contains(key), "{extra}: {err}");
    }
    let err = RunSpec::from_toml("outliers = true\n", "x.toml")
        .map(|_| ())
        .expect_err("unknown key")
        .to_string();
    assert!(err.contains("outliers"), "{err}");
    let err = SweepSpec::from_toml("[measure]\noutliers = true\n[base]\nepochs = 1\n", "s.toml")
        .map(|_| ())
        .expect_err("unknown measure key")
        .to_string();
    assert!(err.contains("outliers"), "{err}");
}

#[test]
fn the_new_settings_leave_earlier_run_ids_alone() {
    let plain = spec("");
    let explicit = spec("outlier_threshold = 0.0\ntrace_products = 0");
    assert_eq!(plain.run_id(), explicit.run_id());
    assert_ne!(plain.run_id(), spec("outlier_threshold = 1.5").run_id());
    assert_ne!(plain.run_id(), spec("trace_products = 12").run_id());
}

#[test]
fn a_run_records_outliers_trace_and_a_certified_lambda_min() {
    let cfg = spec("outlier_threshold = 0.2\ntrace_products = 12\nprecision = \"f64\"")
        .check(None)
        .expect("valid");
    let out = execute(&cfg, &RunOptions::default(), &mut |_| Control::Continue).expect("runs");
    let epochs: Vec<usize> = out.curvature.iter().map(|c| c.epoch).collect();
    assert_eq!(epochs, vec![0, 10, 20, 30]);
    let threshold = 0.2 / 0.9;
    for c in &out.curvature {
        let o = c.outliers.as_ref().expect("tracked");
        assert!((o.threshold - threshold).abs() < 1e-12);
        assert!(o.values.windows(2).all(|w| w[0].value >= w[1].value));
        assert!(o
            .values
            .iter()
            .all(|v| v.value > threshold && v.error_bound >= 0.0));
        assert!(c.trace.expect("measured").standard_error.is_finite());
    }
    let last = out.curvature.last().unwrap();
    let s = &out.summary;
    assert_eq!(
        s.outlier_count,
        Some(last.outliers.as_ref().unwrap().count())
    );
    assert_eq!(s.trace, last.trace.map(|t| t.mean));
    assert!(s.outlier_count_median.is_some());
    let (lmin, err) = (s.min_eigenvalue.unwrap(), s.min_eigenvalue_err.unwrap());
    assert!(
        lmin <= s.sharpness.unwrap() && err.is_finite() && err >= 0.0,
        "{s:?}"
    );
    // The sharpest eigenvalue is one of the outliers (when above the threshold).
    if let Some(top) = last.outliers.as_ref().unwrap().values.first() {
        let gap = (top.value - s.sharpness.unwrap()).abs();
        assert!(
            gap <= top.error_bound + s.sharpness_err.unwrap() + 1e-9,
            "{top:?} {s:?}"
        );
    }

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    write_run_dir(&dir, &cfg, &out).unwrap();
    let csv = std::fs::read_to_string(dir.join("curvature.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + out.curvature.len());
    assert!(lines[0].starts_with("epoch,outlier_threshold,outlier_count"));
    let cells: Vec<&str> = lines.last().unwrap().split(',').collect();
    assert_eq!(cells[0], "30");
    assert_eq!(cells[2], s.outlier_count.unwrap().to_string());
}

#[test]
fn the_store_keeps_every_record_and_outlier() {
    let tmp = tempfile::tempdir().unwrap();
    let text = TINY.replace(
        "sharpness_every = 0",
        "sharpness_every = 10\noutlier_threshold = 0.05\ntrace_products = 6",
    );
    let store = sweep_into(
        &text,
        &tmp.path().join("c.db"),
        Parallelism {
            jobs: 1,
            threads_per_run: 1,
        },
    );
    let mut outliers = 0;
    for id in store.run_ids().unwrap() {
        let rows = store.curvature(&id).unwrap();
        let epochs: Vec<usize> = rows.iter().map(|r| r.epoch).collect();
        assert_eq!(epochs, vec![0, 10, 20], "{id}");
        for r in &rows {
            assert_eq!(r.outlier_count, Some(r.outliers.len()), "{id}");
            let t = r.outlier_threshold.unwrap();
            assert!(r.outliers.iter().all(|(v, b)| *v > t && *b >= 0.0));
            assert!(r.trace.is_some() && r.trace_err.is_some());
            outliers += r.outliers.len();
        }
        let summary = store.load(&id).unwrap().unwrap().summary.unwrap();
        let last = rows.last().unwrap();
        assert_eq!(summary.outlier_count, last.outlier_count);
        assert_eq!(summary.trace, last.trace);
        assert!(summary.min_eigenvalue_err.is_some());
    }
    assert!(outliers > 0, "the low threshold catches outliers");
    // A sweep without curvature has no rows there.
    let plain = sweep_into(
        TINY,
        &tmp.path().join("p.db"),
        Parallelism {
            jobs: 1,
            threads_per_run: 1,
        },
    );
    for id in plain.run_ids().unwrap() {
        assert!(plain.curvature(&id).unwrap().is_empty());
    }
}
