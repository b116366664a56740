//! `--device` on `train`, `sweep` and `reproduce`: without CUDA a clear error and exit code 1
//! before anything is written; a bad device name a usage error naming the flag; the device
//! recorded in `run.json`. On a machine with a GPU the no-CUDA assertions print why they are
//! skipped.

use crate::common::{json, ok, path_str, shatter};

/// A tiny sweep (2 runs, 5 epochs, seed 0).
const SPEC: &str = "name = \"device\"\n[base]\nepochs = 5\nn = 8\nwidth = 8\nd = 1\n[grid]\nseed = [0]\nlr = [0.1, 0.2]\n";

/// Whether this machine has a usable CUDA device 0.
fn gpu_here() -> bool {
    match shatter_gpu::probe(0) {
        Ok(info) => {
            eprintln!("{} is here: skipping the no-CUDA assertions", info.label());
            true
        }
        Err(_) => false,
    }
}

#[test]
fn device_cuda_without_cuda_fails_clearly_and_writes_nothing() {
    if gpu_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spec = d.join("spec.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let run_dir = d.join("run");
    let db = d.join("r.db");
    let reproduce = d.join("reproduce");
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "train",
            "--epochs",
            "5",
            "--device",
            "cuda",
            "--out",
            path_str(&run_dir),
        ],
        vec![
            "sweep",
            path_str(&spec),
            "--store",
            path_str(&db),
            "--device",
            "cuda",
        ],
        vec![
            "reproduce",
            "shattering",
            "--device",
            "cuda:1",
            "--out",
            path_str(&reproduce),
        ],
    ];
    for args in cases {
        let out = shatter(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "shatter {args:?}: {err}");
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: --device cuda:")
                && first.contains("CUDA is not available")
                && first.contains("--device cpu"),
            "shatter {args:?}: {err}"
        );
    }
    assert!(!run_dir.exists(), "train wrote nothing");
    assert!(!db.exists(), "sweep created no store");
    assert!(
        !reproduce.join("shattering").join("results.db").exists(),
        "reproduce created no store"
    );
}

#[test]
fn an_unknown_device_is_a_usage_error_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.toml");
    std::fs::write(&spec, SPEC).unwrap();
    let db = dir.path().join("r.db");
    for args in [
        vec!["train", "--device", "bogus"],
        vec![
            "sweep",
            path_str(&spec),
            "--store",
            path_str(&db),
            "--device",
            "bogus",
        ],
        vec!["reproduce", "shattering", "--device", "bogus"],
        vec!["train", "--device", "cuda:x"],
    ] {
        let out = shatter(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "shatter {args:?}: {err}");
        assert!(
            err.contains("--device")
                && err.contains(args[args.len() - 1])
                && err.contains("cuda:N"),
            "shatter {args:?}: {err}"
        );
    }
    let out = shatter(&[
        "sweep",
        path_str(&spec),
        "--store",
        path_str(&db),
        "--batch-runs",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--batch-runs"));
}

#[test]
fn run_json_records_the_device() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    ok(&[
        "train",
        "--epochs",
        "5",
        "--n",
        "8",
        "--width",
        "8",
        "--device",
        "cpu",
        "--out",
        path_str(&run_dir),
    ]);
    let doc = json(&run_dir.join("run.json"));
    assert_eq!(doc["device"], "cpu");
    assert!(
        doc["config"].get("device").is_none(),
        "the device is not part of the config"
    );
}

#[test]
fn a_mini_batch_run_on_the_gpu_is_refused_naming_batch_size() {
    if !gpu_here() {
        eprintln!("no CUDA device here: skipping the GPU refusal check");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = shatter(&[
        "train",
        "--epochs",
        "5",
        "--n",
        "16",
        "--batch-size",
        "4",
        "--device",
        "cuda",
        "--out",
        path_str(&dir.path().join("run")),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--device cuda:0") && err.contains("batch_size"),
        "{err}"
    );
}
