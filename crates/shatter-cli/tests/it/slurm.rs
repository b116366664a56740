//! `shatter slurm` on a real Slurm (in CI the single-node one `.ci/slurm start` runs): a job
//! array of shards merged into a store identical to a local sweep's, a cancelled task run by
//! the resubmission and nothing else, the scripts as text against a golden file, and bad
//! input. Without a Slurm the cluster tests say why and skip; with `CI` set they fail.

use crate::common::{ok, path_str, shatter};
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use shatter_lab::store::SUMMARY_COLUMNS;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Eight points of a few hundred epochs: milliseconds each.
const SPEC: &str = r#"name = "tiny-slurm"
[base]
epochs = 300
n = 16
width = 16
n_test = 32
[measure]
sharpness_every = 100
log_every = 50
[grid]
d = [1, 2]
seed = [0, 1, 2, 3]
"#;
const POINTS: usize = 8;

/// One cluster test at a time: the node has few CPUs and every test wants all of them.
static CLUSTER: Mutex<()> = Mutex::new(());

/// Whether a Slurm with a usable node answers here. Without one the test fails under CI
/// (`.ci/run` starts one) and otherwise prints why it skips.
fn slurm_up() -> bool {
    let states = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let usable = states.as_deref().is_some_and(|s| {
        s.lines()
            .any(|l| ["idle", "mixed", "allocated"].contains(&l.trim()))
    });
    if !usable {
        let why = match &states {
            None => "no Slurm here (sinfo does not answer)".to_string(),
            Some(s) => format!("Slurm has no usable node (sinfo: {:?})", s.trim()),
        };
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have a Slurm: {why}; .ci/run starts one with .ci/slurm start"
        );
        eprintln!("skipping a Slurm test: {why}; `.ci/slurm start` (as root) runs one");
    }
    usable
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write_spec(dir: &Path) -> PathBuf {
    let p = dir.join("spec.toml");
    std::fs::write(&p, SPEC).unwrap();
    p
}

/// Status and every summary column but the wall time, by run id.
fn summaries(db: &Path) -> Vec<Vec<Value>> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let cols: Vec<String> = SUMMARY_COLUMNS
        .iter()
        .filter(|c| c.name != "wall_seconds")
        .map(|c| format!("\"{}\"", c.name))
        .collect();
    let sql = format!(
        "SELECT run_id, status, {} FROM runs ORDER BY run_id",
        cols.join(", ")
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
        .collect::<Result<Vec<Vec<Value>>, _>>()
        .unwrap()
}

/// The local sweep of the same spec, the reference.
fn local_sweep(dir: &Path, spec: &Path) -> Vec<Vec<Value>> {
    let db = dir.join("local.db");
    ok(&["--quiet", "sweep", path_str(spec), "--store", path_str(&db)]);
    let rows = summaries(&db);
    assert_eq!(rows.len(), POINTS);
    rows
}

/// `array_job N` and `merge_job M` from submit's stdout.
fn job_ids(out: &Output) -> (Option<String>, String) {
    let stdout = text(&out.stdout);
    let get = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_string())
    };
    let merge = get("merge_job ").unwrap_or_else(|| panic!("no merge job id in {stdout:?}"));
    (get("array_job "), merge)
}

/// Waits (up to two minutes) until job `id` ends; returns its `JobState` and `ExitCode`.
fn wait_for_end(id: &str) -> (String, String) {
    let start = Instant::now();
    loop {
        let out = Command::new("scontrol")
            .args(["show", "job", "-o", id])
            .output()
            .unwrap();
        let line = text(&out.stdout);
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or("")
                .to_string()
        };
        let state = field("JobState=");
        if ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"].contains(&state.as_str()) {
            return (state, field("ExitCode="));
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "job {id} did not end in two minutes: {line}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn scontrol(args: &[&str]) {
    let out = Command::new("scontrol").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "scontrol {args:?}: {}",
        text(&out.stderr)
    );
}

/// The line of the status table that starts with `first` (`2/4`, `all`), split into cells.
fn status_row(status: &str, first: &str) -> Vec<String> {
    status
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|cells| cells.first().map(String::as_str) == Some(first))
        .unwrap_or_else(|| panic!("no row {first} in:\n{status}"))
}

#[test]
fn four_tasks_with_wait_merge_into_the_local_sweeps_results() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !slurm_up() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path());
    let db = dir.path().join("results.db");
    let out = ok(&[
        "slurm",
        "submit",
        path_str(&spec),
        "--store",
        path_str(&db),
        "--tasks",
        "4",
        "--time",
        "5",
        "--wait",
    ]);
    let (array, merge) = job_ids(&out);
    let array = array.expect("an array job");
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "array job {array} runs shards 1-4 of 4 (1 CPU each)"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("merge job {merge} completed")),
        "{err}"
    );
    assert_eq!(summaries(&db), local_sweep(dir.path(), &spec));
    let models = std::fs::read_dir(dir.path().join("results.models"))
        .unwrap()
        .count();
    assert_eq!(models, POINTS, "one model per run in the merged store");
    // Each task ran its own shard with the one CPU it was given.
    let logs = dir.path().join("results.slurm/logs");
    for i in 1..=4 {
        let log =
            std::fs::read_to_string(logs.join(format!("shard-{i}-of-4.job{array}.out"))).unwrap();
        assert!(
            log.contains(&format!("(shard {i}/4): 2 points, 0 already in"))
                && log.contains("2 to run (1 at once, 1 thread each)")
                && log.contains("2 runs stored"),
            "shard {i}: {log}"
        );
    }
    let merge_log = std::fs::read_to_string(logs.join(format!("merge.job{merge}.out"))).unwrap();
    assert!(
        merge_log.contains("merged 4 stores") && merge_log.contains("8 runs added"),
        "{merge_log}"
    );
    let status = ok(&[
        "slurm",
        "status",
        "--store",
        path_str(&db),
        "--require-complete",
    ]);
    let status = text(&status.stdout);
    assert_eq!(
        status_row(&status, "all"),
        ["all", "8", "8", "8", "0", "0"],
        "{status}"
    );
    assert_eq!(
        status_row(&status, "3/4"),
        [
            "3/4",
            "2",
            "2",
            "2",
            "0",
            "0",
            format!("{array}_3").as_str(),
            "COMPLETED"
        ],
        "{status}"
    );
}

#[test]
fn a_cancelled_task_is_run_by_the_resubmission_and_nothing_else() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if !slurm_up() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path());
    let db = dir.path().join("results.db");
    let submit = |extra: &[&str]| -> Output {
        let mut args = vec![
            "slurm",
            "submit",
            path_str(&spec),
            "--store",
            path_str(&db),
            "--tasks",
            "4",
            "--cpus-per-task",
            "2",
        ];
        args.extend_from_slice(extra);
        shatter(&args)
    };
    // Held at submission, so that task 2 is cancelled before it starts, whatever the timing;
    // `--wait` waits for the merge job through it all.
    let manifest = dir.path().join("results.slurm/slurm.json");
    let waiting = Command::new(env!("CARGO_BIN_EXE_shatter"))
        .args([
            "slurm",
            "submit",
            path_str(&spec),
            "--store",
            path_str(&db),
            "--tasks",
            "4",
            "--cpus-per-task",
            "2",
            "--sbatch-arg=--hold",
            "--wait",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let submitted = loop {
        if manifest.is_file() {
            let m = crate::common::json(&manifest);
            if m["submissions"][0]["merge_job"].is_string() {
                break m;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no merge job in {}",
            manifest.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let job = |key: &str| {
        submitted["submissions"][0][key]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (array, merge) = (job("array_job"), job("merge_job"));
    let scancel = Command::new("scancel")
        .arg(format!("{array}_2"))
        .output()
        .unwrap();
    assert!(scancel.status.success(), "{}", text(&scancel.stderr));
    // A resubmission while the first is queued is refused, naming its jobs.
    let early = submit(&[]);
    assert_eq!(early.status.code(), Some(1), "{}", text(&early.stderr));
    let err = text(&early.stderr);
    assert!(
        err.contains("the previous submission")
            && err.contains(&format!("scancel {array} {merge}")),
        "{err}"
    );
    scontrol(&["release", &array]);
    scontrol(&["release", &merge]);
    // The merge runs after the array whatever its end, and fails: two points are missing;
    // the waiting submit exits with its exit code.
    let first = waiting.wait_with_output().unwrap();
    let err = text(&first.stderr);
    assert_eq!(first.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("merge job {merge} ended FAILED with exit code 1"))
            && err.contains(&format!("merge.job{merge}.out says why")),
        "{err}"
    );
    assert_eq!(job_ids(&first), (Some(array.clone()), merge.clone()));
    assert_eq!(
        wait_for_end(&merge),
        ("FAILED".to_string(), "1:0".to_string())
    );
    let status = ok(&["slurm", "status", "--store", path_str(&db)]);
    let status = text(&status.stdout);
    assert_eq!(
        status_row(&status, "2/4")[..6],
        ["2/4", "2", "0", "0", "0", "2"],
        "{status}"
    );
    assert_eq!(
        status_row(&status, "all"),
        ["all", "8", "6", "6", "0", "2"],
        "{status}"
    );
    let incomplete = shatter(&[
        "slurm",
        "status",
        "--store",
        path_str(&db),
        "--require-complete",
    ]);
    assert_eq!(incomplete.status.code(), Some(1));
    assert!(
        text(&incomplete.stderr).contains("2 of 8 points are not in"),
        "{}",
        text(&incomplete.stderr)
    );
    // Each task of the first array ran its shard with both CPUs it was given.
    let log = dir
        .path()
        .join(format!("results.slurm/logs/shard-1-of-4.job{array}.out"));
    let log = std::fs::read_to_string(log).unwrap();
    assert!(log.contains("2 to run (2 at once, 1 thread each)"), "{log}");

    // The resubmission runs shard 2 alone and completes the store.
    let second = submit(&["--wait"]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    let (again, _) = job_ids(&second);
    let again = again.expect("an array job for shard 2");
    let err = text(&second.stderr);
    assert!(
        err.contains(&format!("array job {again} runs shard 2 of 4")),
        "{err}"
    );
    let logs = dir.path().join("results.slurm/logs");
    for i in [1, 3, 4] {
        assert!(!logs.join(format!("shard-{i}-of-4.job{again}.out")).exists());
    }
    assert_eq!(summaries(&db), local_sweep(dir.path(), &spec));

    // With every point stored, a submission runs the (idempotent) merge alone.
    let third = submit(&["--wait"]);
    assert!(third.status.success(), "{}", text(&third.stderr));
    assert_eq!(job_ids(&third).0, None);
    assert!(text(&third.stderr).contains("every shard is complete"));
    assert_eq!(summaries(&db), local_sweep(dir.path(), &spec));
}

/// The two scripts as text (`tests/golden/slurm_script.txt`, temporary folder as `$TMP`);
/// `UPDATE_GOLDEN=1` rewrites the file. Needs no Slurm.
#[test]
fn scripts_match_their_golden_text() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path());
    let db = dir.path().join("out/results.db");
    let out = ok(&[
        "slurm",
        "script",
        path_str(&spec),
        "--store",
        path_str(&db),
        "--tasks",
        "3",
        "--partition",
        "short",
        "--time",
        "0-02:00:00",
        "--cpus-per-task",
        "4",
        "--mem",
        "8G",
        "--sbatch-arg",
        "--account=lab",
        "--sbatch-arg=--qos=normal",
        "--shatter",
        "/opt/shatter's/bin/shatter",
    ]);
    let got = text(&out.stdout).replace(path_str(dir.path()), "$TMP");
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/slurm_script.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing: run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(
        got, want,
        "the scripts changed; review and rerun with UPDATE_GOLDEN=1 if intended"
    );
    // `script` neither submits nor writes anything.
    assert!(!dir.path().join("out").exists());
}

/// Bad flags and a missing Slurm: exit code and the words of the message. Needs no Slurm.
#[test]
fn bad_input_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path());
    let spec = path_str(&spec);
    let db = dir.path().join("r.db");
    let db = path_str(&db);
    let spaced = dir.path().join("my runs/r.db");
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["--tasks", "0"], 2, "--tasks must be at least 1"),
        (
            vec!["--tasks", "9"],
            2,
            "--tasks 9 is more than the 8 points",
        ),
        (
            vec!["--tasks", "2", "--time", "1h"],
            2,
            "--time: \"1h\" is not a Slurm time limit",
        ),
        (
            vec!["--tasks", "2", "--mem", "4GB"],
            2,
            "--mem: \"4GB\" is not a memory size",
        ),
        (
            vec!["--tasks", "2", "--cpus-per-task", "0"],
            2,
            "--cpus-per-task: must be at least 1",
        ),
        (
            vec!["--tasks", "2", "--sbatch-arg=--array=1-9"],
            2,
            "--array is set by shatter slurm (--tasks)",
        ),
        (
            vec!["--tasks", "2", "--partition", "a b"],
            2,
            "is not a partition name",
        ),
    ];
    for (extra, code, words) in cases {
        let mut args = vec!["slurm", "script", spec, "--store", db];
        args.extend_from_slice(&extra);
        let out = shatter(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{extra:?}: {err}");
        assert!(err.contains(words), "{extra:?}: {err}");
    }
    let out = shatter(&[
        "slurm",
        "script",
        spec,
        "--store",
        path_str(&spaced),
        "--tasks",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("holds a space"),
        "{}",
        text(&out.stderr)
    );
    let out = shatter(&["slurm", "status", "--store", db]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no Slurm submission for this store"),
        "{}",
        text(&out.stderr)
    );
    // Without Slurm's commands on the PATH, submit says so and submits nothing.
    let out = Command::new(env!("CARGO_BIN_EXE_shatter"))
        .args(["slurm", "submit", spec, "--store", db, "--tasks", "2"])
        .env("PATH", "")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("sbatch not found") && err.contains("shatter slurm script"),
        "{err}"
    );
    assert!(!dir.path().join("r.slurm/slurm.json").exists());
}
