//! `shatter train --model krr`: kernel ridge regression end to end.

use crate::common::{json, ok, path_str, shatter};

#[test]
fn krr_writes_run_json_with_its_errors_and_no_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&[
        "train",
        "-q",
        "--model",
        "krr",
        "--kernel",
        "gaussian",
        "--d",
        "2",
        "--n",
        "100",
        "--n-test",
        "200",
        "--seed",
        "3",
        "--out",
        path_str(&out),
    ]);
    let run = json(&out.join("run.json"));
    assert_eq!(run["status"], "completed", "seed 3");
    assert_eq!(run["config"]["model"], "krr");
    assert_eq!(run["config"]["kernel"], "gaussian");
    assert_eq!(run["config"]["cv_folds"], 5);
    let s = &run["summary"];
    for key in [
        "train_mse",
        "test_mse",
        "population_risk",
        "krr_lambda",
        "krr_cv_mse",
    ] {
        assert!(
            s[key].as_f64().is_some_and(f64::is_finite),
            "summary lacks {key}: {s} (seed 3)"
        );
    }
    assert!(s["sharpness"].is_null() && s["vg_norm"].is_null(), "{s}");
    assert_eq!(s["epochs_run"], 0);
    assert!(!out.join("model.npz").exists(), "a kernel run has no model");
    assert!(out.join("data.npz").exists());
}

/// Noise variance 0.25 on `sin(pi x)`, 200 points on [-1, 1]: the NTK kernel's test error
/// against the noiseless target must fall well below the noise it averages away.
#[test]
fn ntk_krr_on_a_noisy_sine_beats_the_noise_variance() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&[
        "train",
        "-q",
        "--model",
        "krr",
        "--kernel",
        "ntk",
        "--d",
        "1",
        "--input",
        "interval",
        "--target",
        "sine",
        "--sigma",
        "0.5",
        "--n",
        "200",
        "--seed",
        "11",
        "--out",
        path_str(&out),
    ]);
    let s = &json(&out.join("run.json"))["summary"];
    let test_mse = s["test_mse"].as_f64().expect("a test error");
    assert!(
        test_mse < 0.25 / 2.0,
        "NTK KRR test MSE {test_mse} not below half the noise variance 0.25 (seed 11): {s}"
    );
}

#[test]
fn a_bad_kernel_or_model_names_its_key_with_exit_code_2() {
    for (args, words) in [
        (
            vec!["train", "--model", "krr", "--kernel", "polynomial"],
            vec!["kernel", "polynomial", "laplace, gaussian or ntk"],
        ),
        (
            vec!["train", "--model", "forest"],
            vec!["model", "network or krr"],
        ),
        (
            vec!["train", "--model", "krr", "--n", "4", "--cv-folds", "9"],
            vec!["cv_folds", "n = 4"],
        ),
    ] {
        let out = shatter(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        for w in words {
            assert!(err.contains(w), "{args:?}: {err:?} lacks {w:?}");
        }
    }
}
