//! `shatter sweep`, `runs`, `export`, `merge` as a user runs them.

use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn shatter() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shatter"));
    c.env("NO_COLOR", "1");
    c
}

fn run(args: &[&str]) -> Output {
    shatter().args(args).output().expect("shatter starts")
}

/// 3 dimensions x 2 sample sizes x 2 arms x 5 seeds = 60 runs of 150 epochs (seeds 0 to 4):
/// long enough to be killed in the middle, short enough for a test.
const SPEC: &str = r#"name = "kill"
[base]
epochs = 150
width_per_n = 2
n_test = 64
[measure]
sharpness_every = 50
log_every = 10
[grid]
d = [1, 2, 3]
n = [16, 24]
seed = [0, 1, 2, 3, 4]
[[zip]]
lr = [0.4, 0.01]
weight_decay = [0.0, 0.1]
"#;
const SPEC_POINTS: i64 = 60;

fn write_spec(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("spec.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs stored so far (0 while the database does not exist yet).
fn stored(db: &Path) -> i64 {
    if !db.is_file() {
        return 0;
    }
    let Ok(conn) = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return 0;
    };
    let _ = conn.busy_timeout(Duration::from_secs(5));
    conn.query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .unwrap_or(0)
}

fn spawn_sweep(spec: &Path, db: &Path) -> Child {
    shatter()
        .args(["--quiet", "--threads", "2", "sweep"])
        .arg(spec)
        .arg("--store")
        .arg(db)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("shatter starts")
}

/// Polls until `ready` holds or the child exits; returns whether the child is still running.
fn wait_until(child: &mut Child, ready: impl Fn() -> bool) -> bool {
    loop {
        if ready() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every stored number of a run except timings: the run row (less wall_seconds, started_at,
/// finished_at, model_path), its trajectory and neurons, and its model file's bytes.
fn run_contents(db: &Path, run_id: &str) -> (Vec<String>, Vec<u8>) {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut rows = Vec::new();
    for (sql, skip) in [
        (
            "SELECT * FROM runs WHERE run_id = ?1",
            &[
                "wall_seconds",
                "started_at",
                "finished_at",
                "model_path",
                "summary_json",
            ][..],
        ),
        (
            "SELECT * FROM trajectories WHERE run_id = ?1 ORDER BY epoch",
            &[][..],
        ),
        (
            "SELECT * FROM neurons WHERE run_id = ?1 ORDER BY neuron",
            &[][..],
        ),
    ] {
        let mut stmt = conn.prepare(sql).unwrap();
        let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let mut q = stmt.query([run_id]).unwrap();
        while let Some(r) = q.next().unwrap() {
            let mut line = String::new();
            for (i, name) in names.iter().enumerate() {
                if !skip.contains(&name.as_str()) {
                    let v: rusqlite::types::Value = r.get(i).unwrap();
                    line.push_str(&format!("{name}={v:?};"));
                }
            }
            rows.push(line);
        }
    }
    let model_path: String = conn
        .query_row(
            "SELECT model_path FROM runs WHERE run_id = ?1",
            [run_id],
            |r| r.get(0),
        )
        .unwrap();
    let bytes = std::fs::read(db.parent().unwrap().join(model_path)).unwrap();
    (rows, bytes)
}

fn run_ids(db: &Path) -> Vec<String> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut stmt = conn
        .prepare("SELECT run_id FROM runs ORDER BY run_id")
        .unwrap();
    let ids = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    ids
}

#[test]
fn a_sweep_killed_with_sigkill_resumes_to_the_same_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), SPEC);
    let killed = dir.path().join("killed.db");
    let mut child = spawn_sweep(&spec, &killed);
    let running = wait_until(&mut child, || stored(&killed) >= 5);
    // std's kill sends SIGKILL on Unix: no handler runs, nothing is flushed.
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = stored(&killed);
    eprintln!("killed with {at_kill} of {SPEC_POINTS} runs stored");
    if !running || at_kill == SPEC_POINTS {
        eprintln!("note: the sweep finished before the kill; the resume below has nothing to do");
    }
    {
        let conn = Connection::open(&killed).unwrap();
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok", "store after SIGKILL");
    }
    let resumed = run(&[
        "--quiet",
        "sweep",
        spec.to_str().unwrap(),
        "--store",
        killed.to_str().unwrap(),
    ]);
    assert!(
        resumed.status.success(),
        "resume: {}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let whole = dir.path().join("whole.db");
    let out = run(&[
        "--quiet",
        "--threads",
        "1",
        "sweep",
        spec.to_str().unwrap(),
        "--store",
        whole.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert_eq!(
        stored(&killed),
        SPEC_POINTS,
        "every run exactly once (run_id is the key)"
    );
    let ids = run_ids(&killed);
    assert_eq!(ids, run_ids(&whole));
    for id in &ids {
        assert_eq!(
            run_contents(&killed, id),
            run_contents(&whole, id),
            "run {id}: killed at {at_kill} runs and resumed vs uninterrupted"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("killed.models"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary model files left: {leftovers:?}"
    );
    let conn = Connection::open(&killed).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");

    // A third sweep finds nothing to do.
    let again = run(&[
        "sweep",
        spec.to_str().unwrap(),
        "--store",
        killed.to_str().unwrap(),
    ]);
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("60 already in"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

#[test]
fn a_sweep_interrupted_by_ctrl_c_exits_130_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    // The kill spec with long runs, so that Ctrl-C comes in the middle.
    let spec = write_spec(dir.path(), &SPEC.replace("epochs = 150", "epochs = 20000"));
    let db = dir.path().join("ctrl-c.db");
    let child = spawn_sweep(&spec, &db);
    crate::common::wait_for_sigint_handler(child.id());
    crate::common::sigint(child.id());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("error: interrupted:"), "{err}");
    assert!(
        err.contains("hint: run the same command again to resume"),
        "{err}"
    );
    assert!(stored(&db) < SPEC_POINTS, "the sweep stopped early");
}

#[test]
fn a_second_sweep_on_the_same_store_refuses_and_names_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), SPEC);
    let db = dir.path().join("r.db");
    let mut first = spawn_sweep(&spec, &db);
    let lock = dir.path().join("r.db.lock");
    let pid = first.id().to_string();
    // Mid-sweep: the lock names the first sweep and some runs are stored.
    let holding = wait_until(&mut first, || {
        std::fs::read_to_string(&lock).is_ok_and(|s| s.trim() == pid) && stored(&db) >= 1
    });
    assert!(holding, "the first sweep ended before taking the lock");
    let second = run(&[
        "sweep",
        spec.to_str().unwrap(),
        "--store",
        db.to_str().unwrap(),
    ]);
    let _ = first.kill();
    first.wait().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains("in use by another shatter process")
            && err.contains(&format!("pid {pid}"))
            && err.contains("hint:"),
        "{err}"
    );
    // Readers are welcome at any time.
    let runs = run(&["runs", "--store", db.to_str().unwrap(), "--limit", "1"]);
    assert!(
        runs.status.success(),
        "{}",
        String::from_utf8_lossy(&runs.stderr)
    );
}

#[test]
fn runs_export_and_merge_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        dir.path(),
        &SPEC
            .replace("seed = [0, 1, 2, 3, 4]", "seed = [0]")
            .replace("epochs = 150", "epochs = 20"),
    );
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    for i in 1..=2 {
        let shard = format!("{i}/2");
        let out = run(&[
            "--quiet",
            "sweep",
            &p("spec.toml"),
            "--store",
            &p(&format!("s{i}.db")),
            "--shard",
            &shard,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        stored(&dir.path().join("s1.db")) + stored(&dir.path().join("s2.db")),
        12
    );
    let out = run(&["merge", &p("s1.db"), &p("s2.db"), "--into", &p("all.db")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored(&dir.path().join("all.db")), 12);

    let out = run(&[
        "runs",
        "--store",
        &p("all.db"),
        "--where",
        "d = 2 and lr >= 0.4",
        "--columns",
        "d,n,lr,status",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "header and two runs:\n{text}");
    assert!(
        lines[0].starts_with("d  n ") && lines[1].starts_with("2  16  0.4  completed"),
        "{text}"
    );

    for format in ["csv", "parquet"] {
        let out = run(&[
            "export",
            "--store",
            &p("all.db"),
            "--format",
            format,
            "--out",
            &p(format),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for table in ["runs", "trajectories", "neurons"] {
            assert!(dir
                .path()
                .join(format)
                .join(format!("{table}.{format}"))
                .is_file());
        }
    }
    let _ = spec;
}

#[test]
fn bad_input_gives_usage_errors_and_failures_their_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_spec(
        dir.path(),
        "[base]\nepochs = 2\nn = 4\nwidth = 4\n[grid]\nd = [1]\n",
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[base]\nepochs = 2\nlearning_rate = 0.1\n").unwrap();
    let range = dir.path().join("range.toml");
    std::fs::write(&range, "[base]\nepochs = 2\n[grid]\nd = [1, 0]\n").unwrap();
    let db = dir.path().join("r.db");
    let out = run(&[
        "--quiet",
        "sweep",
        good.to_str().unwrap(),
        "--store",
        db.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = |p: &Path| p.to_string_lossy().into_owned();
    let cases: Vec<(Vec<String>, i32, Vec<&str>)> = vec![
        (
            vec!["sweep".into(), s(&bad), "--store".into(), s(&db)],
            2,
            vec!["bad.toml:3:", "learning_rate", "hint:"],
        ),
        (
            vec!["sweep".into(), s(&range), "--store".into(), s(&db)],
            2,
            vec!["range.toml:4:", "d = 0", "point 1 of 2"],
        ),
        (
            vec![
                "sweep".into(),
                s(&dir.path().join("none.toml")),
                "--store".into(),
                s(&db),
            ],
            1,
            vec!["reading", "none.toml"],
        ),
        (vec!["sweep".into(), s(&good)], 2, vec!["--store"]),
        (
            vec![
                "sweep".into(),
                s(&good),
                "--store".into(),
                s(&db),
                "--shard".into(),
                "0/3".into(),
            ],
            2,
            vec!["1-based"],
        ),
        (
            vec![
                "runs".into(),
                "--store".into(),
                s(&db),
                "--where".into(),
                "depth = 3".into(),
            ],
            2,
            vec!["unknown key \"depth\"", "weight_decay"],
        ),
        (
            vec![
                "runs".into(),
                "--store".into(),
                s(&db),
                "--columns".into(),
                "d,speed".into(),
            ],
            2,
            vec!["speed"],
        ),
        (
            vec![
                "runs".into(),
                "--store".into(),
                s(&dir.path().join("none.db")),
            ],
            1,
            vec!["no such store"],
        ),
        (
            vec![
                "export".into(),
                "--store".into(),
                s(&db),
                "--format".into(),
                "xml".into(),
                "--out".into(),
                s(dir.path()),
            ],
            2,
            vec!["csv or parquet"],
        ),
        (
            vec!["sweep".into(), s(&good), "--store".into(), s(&good)],
            1,
            vec!["spec.toml"],
        ),
        (
            vec!["merge".into(), s(&db), "--into".into(), s(&db)],
            2,
            vec!["both a source and --into"],
        ),
    ];
    for (args, code, words) in cases {
        let out = shatter().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "shatter {args:?}: {err}");
        assert!(
            err.starts_with("error: ") || code == 2,
            "shatter {args:?}: {err}"
        );
        for w in words {
            assert!(err.contains(w), "shatter {args:?}: {err:?} lacks {w:?}");
        }
    }
}
