//! Every value exactly as given, or a clear error (issue 11): non-finite floats from flags,
//! run TOML and sweep TOML; sizes past their ranges or past the memory; `label_column` without
//! `data`; a data file's `n`, `d` and SHA-256 recorded in `run.json` and the store; huge grids.

use crate::common::{json, ok, path_str, shatter};
use shatter_lab::spec::SETTINGS;
use std::path::Path;
use std::process::Output;

const NON_FINITE: [&str; 4] = ["nan", "inf", "-inf", "1e400"];

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    path_str(&p).to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts exit code `code` and that stderr contains every word.
fn refused(out: &Output, code: i32, words: &[&str], what: &str) {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: exit code; stderr:\n{err}"
    );
    assert!(!err.contains("panicked"), "{what}: a panic:\n{err}");
    for w in words {
        assert!(err.contains(w), "{what}: stderr lacks {w:?}:\n{err}");
    }
}

fn float_settings() -> Vec<&'static str> {
    let floats: Vec<&str> = SETTINGS
        .iter()
        .filter(|s| s.kind == "f64")
        .map(|s| s.name)
        .collect();
    assert_eq!(floats.len(), 9, "the float settings: {floats:?}");
    floats
}

#[test]
fn non_finite_floats_are_refused_as_flags_and_in_run_toml() {
    let dir = tempfile::tempdir().unwrap();
    for key in float_settings() {
        let flag = format!("--{}", key.replace('_', "-"));
        for v in NON_FINITE {
            let what = format!("{flag}={v}");
            // --print-spec stops after the check, so a value that passes would exit 0.
            let out = shatter(&["train", &format!("{flag}={v}"), "--print-spec"]);
            refused(&out, 2, &[key, "out of range"], &what);
            let file = write(
                dir.path(),
                &format!("{key}.toml"),
                &format!("epochs = 1\n{key} = {v}\n"),
            );
            let out = shatter(&["train", "--config", &file, "--print-spec"]);
            let err = stderr(&out);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{key} = {v} in a run TOML:\n{err}"
            );
            // Either the check names the key and line, or TOML itself refuses 1e400.
            assert!(
                err.contains(&format!("{file}:2: {key} = ")) && err.contains("out of range")
                    || err.contains(&file) && err.contains("line 2"),
                "{key} = {v} in a run TOML:\n{err}"
            );
        }
    }
}

#[test]
fn non_finite_floats_are_refused_in_sweep_base_grid_and_zip() {
    let dir = tempfile::tempdir().unwrap();
    for key in float_settings() {
        for v in NON_FINITE {
            for (section, body) in [
                ("base", format!("[base]\nepochs = 1\n{key} = {v}\n")),
                (
                    "grid",
                    format!("[base]\nepochs = 1\n[grid]\n{key} = [{v}]\n"),
                ),
                (
                    "zip",
                    format!("[base]\nepochs = 1\n[[zip]]\nseed = [1]\n{key} = [{v}]\n"),
                ),
            ] {
                let spec = write(dir.path(), "sweep.toml", &body);
                let out = shatter(&["sweep", &spec, "--print-points"]);
                refused(&out, 2, &[&spec, key], &format!("[{section}] {key} = {v}"));
            }
        }
    }
}

#[test]
fn huge_sizes_are_errors_naming_the_setting_never_an_abort() {
    for flag in ["--width", "--n", "--d", "--n-test"] {
        let out = shatter(&["train", flag, "100000000000", "--print-spec"]);
        let key = flag.trim_start_matches("--").replace('-', "_");
        refused(
            &out,
            2,
            &[&format!("{key} = 100000000000"), "out of range"],
            flag,
        );
    }
    // In range, but 2 n width f32 workspaces alone are 800 TB: refused before allocating.
    let out = shatter(&[
        "train",
        "--width",
        "1000000000",
        "--n",
        "100000",
        "--print-spec",
    ]);
    refused(
        &out,
        2,
        &["width = 1000000000", "memory", "available"],
        "memory",
    );
    let dir = tempfile::tempdir().unwrap();
    let spec = write(
        dir.path(),
        "wide.toml",
        "[base]\nepochs = 1\nn = 100\nwidth_per_n = 1e300\n",
    );
    let out = shatter(&["sweep", &spec, "--print-points"]);
    refused(
        &out,
        2,
        &["width_per_n", "1e302", "n = 100"],
        "width_per_n = 1e300",
    );
    // 10^9 points: counted before anything is expanded.
    let axis = (0..1000)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let spec = write(
        dir.path(),
        "huge.toml",
        &format!(
            "[grid]\nseed = [{axis}]\nepochs = [{axis}]\nlog_every = [{}]\n",
            (1..=1000)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let out = shatter(&["sweep", &spec, "--print-points"]);
    refused(
        &out,
        2,
        &[
            "1000000000 points",
            "seed: 1000",
            "epochs: 1000",
            "log_every: 1000",
            "at most 100000",
        ],
        "1000^3 grid",
    );
}

#[test]
fn label_column_without_data_is_refused_naming_both_keys() {
    let out = shatter(&["train", "--label-column", "y", "--print-spec"]);
    refused(&out, 2, &["label_column", "data"], "--label-column alone");
}

/// SHA-256 by an independent program (coreutils' `sha256sum`).
fn sha256sum(path: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum runs");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_data_run_records_the_files_n_d_and_hash_and_a_changed_file_is_a_new_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows: String = (0..7)
        .map(|i| {
            format!(
                "{},{},{}\n",
                i as f64 / 10.0,
                1.0 - i as f64 / 7.0,
                (i % 3) as f64
            )
        })
        .collect();
    let data = write(d, "data.csv", &rows);
    let out1 = path_str(&d.join("r1")).to_string();
    ok(&[
        "train", "--data", &data, "--epochs", "2", "--width", "8", "--out", &out1, "-q",
    ]);
    let run = json(&d.join("r1/run.json"));
    let cfg = &run["config"];
    assert_eq!(
        (cfg["n"].as_u64(), cfg["d"].as_u64()),
        (Some(7), Some(2)),
        "{cfg}"
    );
    assert_eq!(cfg["data_sha256"].as_str(), Some(sha256sum(&data).as_str()));
    // The same id for the same bytes under another name; a new one when a byte changes.
    let copy = write(d, "copy.csv", &rows);
    // Each run goes through its printed spec, which must name the same run.
    let id = |data: &str, name: &str| {
        let out = ok(&[
            "train",
            "--data",
            data,
            "--epochs",
            "2",
            "--width",
            "8",
            "--print-spec",
        ]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let spec = write(d, &format!("{name}.toml"), &text);
        let dir = path_str(&d.join(name)).to_string();
        ok(&["train", "--config", &spec, "--out", &dir, "-q"]);
        json(&d.join(name).join("run.json"))["run_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = run["run_id"].as_str().unwrap();
    assert_eq!(
        first,
        id(&data, "again"),
        "the printed spec names the same run"
    );
    assert_eq!(first, id(&copy, "copy"), "same contents, other name");
    write(d, "data.csv", &rows.replacen("0,", "0.25,", 1));
    assert_ne!(first, id(&data, "changed"), "changed contents");
}

#[test]
fn a_sweep_on_a_data_file_stores_its_n_d_and_hash_and_width_per_n_uses_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows: String = (0..9)
        .map(|i| {
            format!(
                "{},{},{},{}\n",
                i as f64 / 9.0,
                0.5,
                1.0 - i as f64 / 9.0,
                (i % 2) as f64
            )
        })
        .collect();
    let data = write(d, "rows.csv", &rows);
    let spec = write(
        d,
        "sweep.toml",
        &format!("[base]\ndata = \"{data}\"\nepochs = 2\nwidth_per_n = 2\n[grid]\nseed = [0, 1]\n"),
    );
    let db = d.join("s.db");
    ok(&["sweep", &spec, "--store", path_str(&db), "-q"]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn
        .prepare("SELECT n, d, width, data_sha256 FROM runs ORDER BY seed")
        .unwrap();
    let got: Vec<(i64, i64, i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let hash = sha256sum(&data);
    assert_eq!(
        got,
        vec![(9, 3, 18, hash.clone()), (9, 3, 18, hash.clone())],
        "n, d, width = 2 n, hash"
    );
    drop(stmt);
    drop(conn);
    // Resuming after the file changed runs both points again: they are new runs.
    write(d, "rows.csv", &format!("{rows}0.5,0.5,0.5,1\n"));
    ok(&["sweep", &spec, "--store", path_str(&db), "-q"]);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let mut stmt = conn
        .prepare("SELECT n, width, data_sha256 FROM runs ORDER BY n, seed")
        .unwrap();
    let got: Vec<(i64, i64, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let new_hash = sha256sum(&data);
    assert_ne!(new_hash, hash);
    assert_eq!(
        got,
        vec![
            (9, 18, hash.clone()),
            (9, 18, hash),
            (10, 20, new_hash.clone()),
            (10, 20, new_hash)
        ],
        "the old runs kept, the new ones added"
    );
}
