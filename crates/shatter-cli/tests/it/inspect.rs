//! `shatter inspect` recomputes a run's measurements from its saved files.

use crate::common::{json, ok, path_str};

#[test]
fn inspect_reproduces_the_run_summary_from_model_npz() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&[
        "train",
        "-q",
        "--d",
        "3",
        "--n",
        "50",
        "--width",
        "40",
        "--epochs",
        "150",
        "--lr",
        "0.5",
        "--out",
        path_str(&out),
    ]);
    let run = json(&out.join("run.json"))["summary"].clone();
    let ins = ok(&[
        "inspect",
        path_str(&out.join("model.npz")),
        "--data",
        path_str(&out.join("data.npz")),
        "--out",
        path_str(&dir.path().join("ins")),
    ]);
    let ins: serde_json::Value = serde_json::from_slice(&ins.stdout).unwrap();
    for key in [
        "frac_neurons_rate_le_10pct",
        "frac_dead",
        "median_activation_rate",
        "vg_norm",
        "vg_reduced",
        "path_norm",
    ] {
        assert_eq!(
            ins[key], run[key],
            "{key} differs: inspect {} vs run {}",
            ins[key], run[key]
        );
    }
    let close = |key: &str, tol: f64| {
        let (a, b) = (ins[key].as_f64().unwrap(), run[key].as_f64().unwrap());
        assert!(
            (a - b).abs() <= tol * b.abs().max(1e-12),
            "{key}: inspect {a} vs run {b}"
        );
    };
    // The run trains in f32; inspect evaluates the saved weights in f64.
    close("sharpness", 1e-4);
    close("vg_bound", 1e-4);
    let (a, b) = (
        ins["train_loss"].as_f64().unwrap(),
        run["final_train_loss"].as_f64().unwrap(),
    );
    assert!(
        (a - b).abs() <= 1e-5 * b,
        "train loss: inspect {a} vs run {b}"
    );
    assert_eq!(ins["bound_holds"], true);
    assert!(dir.path().join("ins/neurons.csv").exists());
    assert_eq!(
        std::fs::read(dir.path().join("ins/neurons.csv")).unwrap(),
        std::fs::read(out.join("neurons.csv")).unwrap()
    );
}

#[test]
fn inspect_reports_univariate_measures_in_one_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&[
        "train",
        "-q",
        "--d",
        "1",
        "--n",
        "30",
        "--width",
        "100",
        "--epochs",
        "300",
        "--lr",
        "0.2",
        "--input",
        "interval",
        "--target",
        "sine",
        "--sigma",
        "0.1",
        "--out",
        path_str(&out),
    ]);
    let ins = ok(&[
        "inspect",
        path_str(&out.join("model.npz")),
        "--data",
        path_str(&out.join("data.npz")),
    ]);
    let ins: serde_json::Value = serde_json::from_slice(&ins.stdout).unwrap();
    let u = &ins["univariate"];
    assert!(u["pieces_inside"].as_u64().unwrap() >= 1, "{u}");
    assert!(
        u["weighted_tv"].as_f64().unwrap()
            <= ins["vg_reduced"].as_f64().unwrap() * (1.0 + 1e-9) + 1e-12
    );
}
