//! `shatter train` end to end.

use crate::common::{json, ok, path_str, shatter, sigint, wait_for_sigint_handler};

#[test]
fn train_writes_every_output_with_its_columns() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&[
        "train",
        "-q",
        "--d",
        "3",
        "--n",
        "40",
        "--width",
        "32",
        "--epochs",
        "60",
        "--sharpness-every",
        "20",
        "--log-every",
        "5",
        "--spectrum",
        "--out",
        path_str(&out),
    ]);
    let run = json(&out.join("run.json"));
    assert_eq!(run["status"], "completed");
    assert_eq!(run["config"]["width"], 32);
    let s = &run["summary"];
    for key in [
        "final_train_loss",
        "train_mse",
        "test_mse",
        "sharpness",
        "sharpness_err",
        "two_over_eta",
        "epochs_run",
        "wall_seconds",
        "frac_neurons_rate_le_10pct",
        "frac_dead",
        "median_activation_rate",
        "vg_norm",
        "vg_bound",
        "path_norm",
        "bound_holds",
    ] {
        assert!(!s[key].is_null(), "summary lacks {key}: {s}");
    }
    assert_eq!(s["bound_holds"], true, "the flatness bound must hold: {s}");
    assert_eq!(s["epochs_run"], 60);
    let traj = std::fs::read_to_string(out.join("trajectory.csv")).unwrap();
    let mut lines = traj.lines();
    assert_eq!(
        lines.next(),
        Some("epoch,train_loss,test_mse,sharpness,sharpness_err,grad_norm,clipped")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 13, "epochs 0, 5, ..., 60");
    assert_eq!(
        rows.iter().filter(|r| !r[3].is_empty()).count(),
        4,
        "sharpness at 0, 20, 40, 60"
    );
    // The summary's loss and sharpness are those of the final parameters (the last row).
    let last = rows.last().unwrap();
    assert_eq!(last[0], "60");
    assert_eq!(
        last[1].parse::<f64>().unwrap(),
        s["final_train_loss"].as_f64().unwrap()
    );
    assert_eq!(
        last[3].parse::<f64>().unwrap(),
        s["sharpness"].as_f64().unwrap()
    );
    let neurons = std::fs::read_to_string(out.join("neurons.csv")).unwrap();
    assert!(
        neurons.starts_with("neuron,activation_rate,amplitude,param_norm,boundary_offset,dead\n")
    );
    assert_eq!(neurons.lines().count(), 33);
    assert!(std::fs::read_to_string(out.join("spectrum.csv"))
        .unwrap()
        .contains("\ndensity,"));
    for f in ["model.npz", "data.npz"] {
        assert!(out.join(f).metadata().unwrap().len() > 100, "{f} written");
    }
}

fn summary_without_timing(path: &std::path::Path) -> serde_json::Value {
    let mut s = json(path)["summary"].clone();
    s.as_object_mut().unwrap().remove("wall_seconds");
    s
}

#[test]
fn results_are_identical_for_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    // Large enough (n K d = 131072, two neuron chunks) for the kernels to run in parallel.
    let common = [
        "train",
        "-q",
        "--d",
        "4",
        "--n",
        "64",
        "--width",
        "512",
        "--epochs",
        "40",
        "--lr",
        "0.5",
        "--sharpness-every",
        "10",
        "--log-every",
        "1",
        "--seed",
        "11",
    ];
    let mut dirs = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.path().join(format!("t{threads}"));
        let mut args = common.to_vec();
        args.extend(["--threads", threads, "--out", path_str(&out)]);
        ok(&args);
        dirs.push(out);
    }
    for f in ["trajectory.csv", "neurons.csv", "model.npz"] {
        assert_eq!(
            std::fs::read(dirs[0].join(f)).unwrap(),
            std::fs::read(dirs[1].join(f)).unwrap(),
            "{f} differs between 1 and 2 threads (seed 11)"
        );
    }
    assert_eq!(
        summary_without_timing(&dirs[0].join("run.json")),
        summary_without_timing(&dirs[1].join("run.json"))
    );
}

#[test]
fn config_file_sets_keys_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("run.toml");
    std::fs::write(
        &cfg,
        "d = 2\nn = 30\nwidth = 16\nepochs = 20\nlr = 0.3\nloss = \"mse\"\nbias = false\n",
    )
    .unwrap();
    let out = dir.path().join("run");
    ok(&[
        "train",
        "-q",
        "--config",
        path_str(&cfg),
        "--lr",
        "0.1",
        "--out",
        path_str(&out),
    ]);
    let run = json(&out.join("run.json"));
    assert_eq!(run["config"]["lr"], 0.1, "the flag wins");
    assert_eq!(run["config"]["d"], 2, "the file's value stays");
    assert_eq!(run["config"]["bias"], false);
    assert_eq!(run["config"]["loss"], "mse");
    // --print-spec prints TOML that parses back into the same resolved spec (and run id).
    let printed = ok(&[
        "train",
        "--config",
        path_str(&cfg),
        "--lr",
        "0.1",
        "--print-spec",
    ]);
    let printed_path = dir.path().join("printed.toml");
    std::fs::write(&printed_path, &printed.stdout).unwrap();
    let again = ok(&["train", "--config", path_str(&printed_path), "--print-spec"]);
    assert_eq!(printed.stdout, again.stdout);
    let out2 = dir.path().join("run2");
    ok(&[
        "train",
        "-q",
        "--config",
        path_str(&printed_path),
        "--out",
        path_str(&out2),
    ]);
    assert_eq!(json(&out2.join("run.json"))["run_id"], run["run_id"]);
}

#[test]
fn init_from_a_saved_model_continues_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, whole) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("whole"),
    );
    let base = [
        "train",
        "-q",
        "--d",
        "2",
        "--n",
        "30",
        "--width",
        "16",
        "--lr",
        "0.2",
        "--precision",
        "f64",
        "--sharpness-every",
        "0",
        "--log-every",
        "1",
    ];
    let run = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        ok(&args);
    };
    run(&["--epochs", "40", "--out", path_str(&whole)]);
    run(&["--epochs", "25", "--out", path_str(&a)]);
    let model = a.join("model.npz");
    run(&[
        "--epochs",
        "15",
        "--init-from",
        path_str(&model),
        "--out",
        path_str(&b),
    ]);
    let l_whole = json(&whole.join("run.json"))["summary"]["final_train_loss"]
        .as_f64()
        .unwrap();
    let l_split = json(&b.join("run.json"))["summary"]["final_train_loss"]
        .as_f64()
        .unwrap();
    assert_eq!(
        l_whole, l_split,
        "25 + 15 epochs from the saved model equal 40 epochs (full-batch GD, no momentum)"
    );
}

#[test]
fn a_diverging_run_is_recorded_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = shatter(&[
        "train",
        "-q",
        "--d",
        "2",
        "--n",
        "20",
        "--width",
        "8",
        "--lr",
        "1000",
        "--clip",
        "0",
        "--init-scale",
        "5",
        "--epochs",
        "200",
        "--out",
        path_str(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = json(&out.join("run.json"));
    assert_eq!(run["status"], "diverged");
    assert!(run["summary"]["diverged_epoch"].as_u64().unwrap() < 200);
}

#[test]
fn theory_prints_rates_and_the_weight_table() {
    let out = ok(&["theory", "--d", "5"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("stable_minima_upper") && text.contains("0.0714"),
        "1/(2d+4) at d=5:\n{text}"
    );
    assert!(text.contains("0.3333"), "2/(d+1) at d=5:\n{text}");
    assert!(text.contains("g_P(t)"));
}

/// A run with `--lr 2` that blows up but stays finite (its loss goes from 0.79 to about 82 and
/// stays there; seed 0): diverged by the blow-up rule, with the epoch the rule fired and the
/// rule recorded.
#[test]
fn a_run_that_blows_up_but_stays_finite_is_diverged() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = shatter(&[
        "train",
        "-q",
        "--d",
        "5",
        "--n",
        "128",
        "--width",
        "256",
        "--lr",
        "2",
        "--epochs",
        "1000",
        "--sharpness-every",
        "0",
        "--log-every",
        "1",
        "--out",
        path_str(&out),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = json(&out.join("run.json"));
    let s = &run["summary"];
    assert_eq!(run["status"], "diverged", "seed 0: {s}");
    assert_eq!(s["status"], "diverged");
    assert_eq!(s["diverged_rule"], "loss above 10x its initial value");
    let epoch = s["diverged_epoch"].as_u64().unwrap();
    // The loss is finite throughout, above 10x its start from some epoch e0 on, and the rule
    // fires 100 epochs after e0.
    let rows = std::fs::read_to_string(out.join("trajectory.csv")).unwrap();
    let losses: Vec<f64> = rows
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(losses.iter().all(|l| l.is_finite()));
    let e0 = losses
        .iter()
        .rposition(|&l| l <= 10.0 * losses[0])
        .expect("the start is below the threshold")
        + 1;
    assert_eq!(epoch as usize, e0 + 99, "losses {:?}", &losses[..8]);
    assert_eq!(losses.len(), epoch as usize + 1, "the run stops there");
    assert_eq!(s["epochs_run"].as_u64(), Some(epoch));
    // What it measured is kept: the finite losses it ended with.
    let final_loss = s["final_train_loss"]
        .as_f64()
        .expect("a finite final loss is recorded");
    assert!(
        final_loss > 10.0 * losses[0],
        "{final_loss} against a start of {}",
        losses[0]
    );
    let train_mse = s["train_mse"].as_f64().expect("train MSE recorded");
    assert!(
        (train_mse - 2.0 * final_loss).abs() < 1e-3 * train_mse,
        "MSE is twice the 1/(2n) loss"
    );
    assert!(
        s["test_mse"].as_f64().is_some_and(|t| t > 0.0),
        "test MSE recorded"
    );
}

/// An edge-of-stability run with a catapult (the loss jumps to about 100x its start for two
/// epochs, then falls below it; seed 0) is not a divergence.
#[test]
fn an_edge_of_stability_catapult_is_not_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    ok(&[
        "train",
        "-q",
        "--d",
        "5",
        "--n",
        "128",
        "--width",
        "256",
        "--lr",
        "1",
        "--epochs",
        "400",
        "--sharpness-every",
        "0",
        "--log-every",
        "1",
        "--out",
        path_str(&out),
    ]);
    let run = json(&out.join("run.json"));
    let rows = std::fs::read_to_string(out.join("trajectory.csv")).unwrap();
    let losses: Vec<f64> = rows
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    let peak = losses.iter().cloned().fold(0.0, f64::max);
    assert!(
        peak > 10.0 * losses[0],
        "seed 0: the run has a catapult (peak {peak}, start {})",
        losses[0]
    );
    assert_eq!(run["status"], "completed", "{}", run["summary"]);
    assert!(run["summary"]["diverged_rule"].is_null());
    assert!(losses[losses.len() - 1] < losses[0]);
}

#[test]
fn train_interrupted_by_ctrl_c_exits_130_and_keeps_the_partial_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_shatter"))
        .args([
            "train",
            "-q",
            "--d",
            "2",
            "--n",
            "16",
            "--width",
            "16",
            "--epochs",
            "1000000",
            "--sharpness-every",
            "0",
            "--test-every",
            "0",
            "--log-every",
            "1000",
            "--out",
            path_str(&out),
        ])
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("shatter starts");
    wait_for_sigint_handler(child.id());
    sigint(child.id());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("error: interrupted after"), "{err}");
    let run = json(&out.join("run.json"));
    assert_eq!(run["status"], "interrupted");
    assert!(run["summary"]["epochs_run"].as_u64().unwrap() < 1_000_000);
}
