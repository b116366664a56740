//! The store as a set of files: locks through symbolic and hard links, renamed stores, stores
//! on read-only folders, model files that are missing or damaged.

use crate::{sweep_into, TINY};
use shatter_lab::reproduce::write_report;
use shatter_lab::store::{Store, StoreError};
use shatter_lab::sweep::{run_sweep, Parallelism, SweepSpec};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

const SERIAL: Parallelism = Parallelism {
    jobs: 1,
    threads_per_run: 1,
};

fn tiny_points() -> (SweepSpec, Vec<shatter_lab::sweep::Point>) {
    let spec = SweepSpec::from_toml(TINY, "tiny.toml").unwrap();
    let points = spec.points().unwrap();
    (spec, points)
}

/// Every file under `dir` with its size and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let meta = std::fs::metadata(&d).unwrap();
        out.insert(d.clone(), (0, meta.modified().unwrap()));
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                out.insert(e.path(), (m.len(), m.modified().unwrap()));
            }
        }
    }
    out
}

fn set_read_only(dir: &Path, read_only: bool) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |dir: bool| match (dir, read_only) {
        (true, true) => 0o555,
        (false, true) => 0o444,
        (true, false) => 0o755,
        (false, false) => 0o644,
    };
    let mut stack = vec![dir.to_path_buf()];
    let mut all = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.metadata().unwrap().is_dir() {
                stack.push(e.path());
            }
            all.push(e.path());
        }
        all.push(d);
    }
    // Files first when locking (the folders must stay writable until then), folders first
    // when unlocking.
    if !read_only {
        all.reverse();
    }
    for p in all {
        let is_dir = p.is_dir();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode(is_dir))).unwrap();
    }
}

#[test]
fn a_second_writer_through_a_symbolic_link_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let first = Store::open_writer(&db).unwrap();
    let other = dir.path().join("elsewhere");
    std::fs::create_dir(&other).unwrap();
    let link = other.join("link.db");
    std::os::unix::fs::symlink(&db, &link).unwrap();
    match Store::open_writer(&link) {
        Err(StoreError::Locked { holder, .. }) => {
            assert_eq!(holder, format!("pid {}", std::process::id()))
        }
        Err(other) => panic!("expected Locked through the symlink, got {other}"),
        Ok(_) => panic!("a symlink let a second writer in"),
    }
    // The link names the same store: same models folder, no second lock file beside it.
    assert!(!other.join("link.db.lock").exists());
    assert!(!other.join("link.models").exists());
    drop(first);
    let through_link = Store::open_writer(&link).expect("free once the first writer is gone");
    assert_eq!(through_link.models_dir(), dir.path().join("r.models"));
}

#[test]
fn a_hard_link_shares_the_database_files_lock() {
    // The first writer holds the store; a second open through another name of the same file
    // takes a different `.lock` file but meets the lock on the database file itself. (The
    // cross-process case is tested in the CLI's tests.)
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let first = Store::open_writer(&db).unwrap();
    let other = dir.path().join("elsewhere");
    std::fs::create_dir(&other).unwrap();
    let hard = other.join("hard.db");
    std::fs::hard_link(&db, &hard).unwrap();
    match Store::open_writer(&hard) {
        Err(e @ StoreError::Locked { .. }) => {
            assert!(e.to_string().contains("hard link"), "{e}")
        }
        Err(other) => panic!("expected Locked through the hard link, got {other}"),
        Ok(_) => panic!("a hard link let a second writer in"),
    }
    assert!(shatter_lab::store::same_database(&db, &hard));
    drop(first);
}

#[test]
fn a_store_renamed_with_its_models_folder_reads_merges_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old");
    std::fs::create_dir(&old).unwrap();
    drop(sweep_into(TINY, &old.join("a.db"), SERIAL));
    // Move and rename the store and its models folder together.
    let new = dir.path().join("new");
    std::fs::create_dir(&new).unwrap();
    std::fs::rename(old.join("a.db"), new.join("b.db")).unwrap();
    std::fs::rename(old.join("a.models"), new.join("b.models")).unwrap();
    std::fs::remove_dir_all(&old).unwrap();
    // An older store may hold absolute paths: make one run's path absolute under the old name.
    let ids = Store::open_reader(&new.join("b.db"))
        .unwrap()
        .run_ids()
        .unwrap();
    {
        let conn = rusqlite::Connection::open(new.join("b.db")).unwrap();
        conn.execute(
            "UPDATE runs SET model_path = ?2 WHERE run_id = ?1",
            [
                ids[0].clone(),
                format!("{}/a.models/{}.npz", old.display(), ids[0]),
            ],
        )
        .unwrap();
    }
    let store = Store::open_reader(&new.join("b.db")).unwrap();
    assert!(store.unusable_models().unwrap().is_empty());
    for id in &ids {
        let run = store.load(id).unwrap().unwrap();
        let file = store.model_file(run.model_path.as_deref().expect("a model is kept"));
        assert_eq!(file, new.join("b.models").join(format!("{id}.npz")));
        store
            .load_model(&run)
            .expect("a model is kept")
            .unwrap_or_else(|e| panic!("{id}: {e}"));
    }
    let (_, points) = tiny_points();
    assert_eq!(store.done_ids().unwrap().len(), points.len());
    let out = write_report(None, None, &store, "", &dir.path().join("report"), 0.0).unwrap();
    assert_eq!((out.runs, out.unusable_models.len()), (points.len(), 0));
    drop(store);
    let mut all = Store::open_writer(&dir.path().join("all.db")).unwrap();
    let report = all.merge_from(&[new.join("b.db")]).unwrap();
    assert_eq!(report.added, points.len());
    assert!(all.unusable_models().unwrap().is_empty());
    for id in &ids {
        assert!(dir
            .path()
            .join("all.models")
            .join(format!("{id}.npz"))
            .is_file());
    }
    // A store is not merged into itself under another name.
    std::fs::hard_link(dir.path().join("all.db"), dir.path().join("same.db")).unwrap();
    let err = all.merge_from(&[dir.path().join("same.db")]).unwrap_err();
    assert!(matches!(err, StoreError::SameStore { .. }), "{err}");
}

#[test]
fn a_store_in_a_read_only_folder_is_read_without_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("ro");
    std::fs::create_dir(&folder).unwrap();
    let db = folder.join("r.db");
    drop(sweep_into(TINY, &db, SERIAL));
    std::fs::remove_file(folder.join("r.db.lock")).unwrap();
    // Control: a plain read-only SQLite connection writes beside a WAL database (its `-shm`
    // and `-wal` files). Checked on a copy, so that "nothing written" below means something.
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    std::fs::copy(&db, copy.join("r.db")).unwrap();
    {
        let conn = rusqlite::Connection::open_with_flags(
            copy.join("r.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let _: i64 = conn
            .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
            .unwrap();
    }
    assert!(
        copy.join("r.db-shm").exists(),
        "the control reader should have created r.db-shm"
    );

    set_read_only(&folder, true);
    let before = snapshot(&folder);
    // Tests run as root, for whom the permission bits stop no write: what this shows is that
    // the reader does not write (nothing in the folder changes, no -shm or -wal appears),
    // not that a write would be refused. Without root, a write would fail outright.
    let result = std::panic::catch_unwind(|| {
        let store = Store::open_reader(&db).expect("a read-only store opens");
        let (_, points) = tiny_points();
        assert_eq!(store.run_ids().unwrap().len(), points.len());
        assert!(store.unusable_models().unwrap().is_empty());
        for id in store.run_ids().unwrap() {
            assert_eq!(store.load(&id).unwrap().unwrap().status, "completed");
            assert!(!store.trajectory(&id).unwrap().is_empty());
        }
        let out = write_report(None, None, &store, "", &dir.path().join("report"), 0.0).unwrap();
        assert_eq!(out.runs, points.len());
    });
    let after = snapshot(&folder);
    set_read_only(&folder, false);
    result.unwrap();
    assert_eq!(before, after, "the reader wrote into the read-only folder");
    assert!(!folder.join("r.db-shm").exists() && !folder.join("r.db-wal").exists());
}

#[test]
fn a_read_only_store_whose_log_cannot_be_used_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let (spec, points) = tiny_points();
    let mut store = Store::open_writer(&db).unwrap();
    crate::sweep_points(&points[..2], &mut store, "tiny", spec.keep);
    // As after a kill: the runs are in the write-ahead log, not yet in the database file.
    let folder = dir.path().join("ro");
    std::fs::create_dir(&folder).unwrap();
    for suffix in ["", "-wal"] {
        std::fs::copy(
            format!("{}{suffix}", db.display()),
            format!("{}/r.db{suffix}", folder.display()),
        )
        .unwrap();
    }
    drop(store);
    assert!(std::fs::metadata(folder.join("r.db-wal")).unwrap().len() > 0);
    set_read_only(&folder, true);
    let err = Store::open_reader(&folder.join("r.db")).err();
    set_read_only(&folder, false);
    let err = err.expect("an immutable open would miss the logged runs");
    let text = err.to_string();
    assert!(
        matches!(err, StoreError::Unreadable { .. })
            && text.contains("write-ahead log")
            && !text.contains("not a shatter store"),
        "{text}"
    );
    // With its folder writable again the same files read, logged runs included.
    let store = Store::open_reader(&folder.join("r.db")).unwrap();
    assert_eq!(store.run_ids().unwrap().len(), 2);
}

#[test]
fn missing_and_damaged_models_are_reported_and_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let (spec, points) = tiny_points();
    drop(sweep_into(TINY, &db, SERIAL));
    let store = Store::open_reader(&db).unwrap();
    let ids = store.run_ids().unwrap();
    let (deleted, truncated) = (ids[1].clone(), ids[4].clone());
    let model = |id: &str| dir.path().join("r.models").join(format!("{id}.npz"));
    std::fs::remove_file(model(&deleted)).unwrap();
    let bytes = std::fs::read(model(&truncated)).unwrap();
    std::fs::write(model(&truncated), &bytes[..bytes.len() / 2]).unwrap();

    let bad = store.unusable_models().unwrap();
    let bad_ids: Vec<&str> = bad.iter().map(|b| b.run_id.as_str()).collect();
    let mut expected = vec![deleted.as_str(), truncated.as_str()];
    expected.sort();
    assert_eq!(bad_ids, expected, "{bad:?}");
    let done = store.done_ids().unwrap();
    assert_eq!(done.len(), points.len() - 2);
    assert!(!done.contains(&deleted) && !done.contains(&truncated));

    let out = write_report(None, None, &store, "", &dir.path().join("report"), 0.0).unwrap();
    assert_eq!(out.unusable_models.len(), 2);
    let html = std::fs::read_to_string(&out.path).unwrap();
    assert!(
        html.contains("Warning:")
            && html.contains(&format!("2 of {} runs", points.len()))
            && html.contains(&deleted)
            && html.contains(&truncated),
        "the report must name the unusable runs"
    );
    drop(store);

    let mut store = Store::open_writer(&db).unwrap();
    let report = crate::sweep_points(&points, &mut store, "tiny", spec.keep);
    assert_eq!(
        (report.progress.skipped, report.progress.finished),
        (points.len() - 2, 2),
        "exactly the two runs without a usable model run again"
    );
    assert!(store.unusable_models().unwrap().is_empty());
    // A run is a pure function of its spec: the model written again has the original bytes.
    assert_eq!(std::fs::read(model(&truncated)).unwrap(), bytes);
    assert!(model(&deleted).is_file());
}

#[test]
fn group_commits_store_every_run_once_and_keep_models_in_place() {
    // Two jobs on microsecond runs: the store takes several finished runs per transaction.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let text = TINY.replace(
        "n = [8, 12]",
        "n = [8, 12]\nseed = [0, 1, 2, 3, 4, 5, 6, 7]",
    );
    let store = sweep_into(
        &text,
        &db,
        Parallelism {
            jobs: 2,
            threads_per_run: 1,
        },
    );
    let points = SweepSpec::from_toml(&text, "t.toml")
        .unwrap()
        .points()
        .unwrap();
    assert_eq!(store.run_ids().unwrap().len(), points.len());
    assert_eq!(store.done_ids().unwrap().len(), points.len());
    assert!(store.unusable_models().unwrap().is_empty());
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn workers_run_ahead_of_a_slow_store_by_at_most_the_queue() {
    // The store is made slow (each round's progress callback sleeps) while the runs take about
    // a millisecond: workers finish runs and write their models ahead of the store, but wait
    // once the queue is full. Model files count the finished runs (a worker writes the model
    // before handing the run over); rows count the stored ones. This is what makes the model
    // files a fair count of finished runs in the CLI's `kill -9` test.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let seeds: Vec<String> = (0..60).map(|i| i.to_string()).collect();
    let text = format!(
        "name = \"slow\"\n[base]\nepochs = 5\nn = 8\nwidth = 4\nd = 1\nn_test = 8\n[measure]\nsharpness_every = 0\nlog_every = 5\n[grid]\nseed = [{}]\n",
        seeds.join(", ")
    );
    let spec = SweepSpec::from_toml(&text, "slow.toml").unwrap();
    let points = spec.points().unwrap();
    let mut store = Store::open_writer(&db).unwrap();
    let models = dir.path().join("r.models");
    let reader =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let stop = AtomicBool::new(false);
    let mut gaps = Vec::new();
    run_sweep(
        &points,
        &mut store,
        "slow",
        spec.keep,
        SERIAL,
        &stop,
        &mut |_| {
            std::thread::sleep(std::time::Duration::from_millis(30));
            let rows: i64 = reader
                .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
                .unwrap();
            let files = std::fs::read_dir(&models)
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".npz"))
                .count() as i64;
            gaps.push(files - rows);
        },
    )
    .unwrap();
    let bound = (2 * shatter_lab::sweep::QUEUE_PER_JOB + 1) as i64;
    let max = gaps.iter().copied().max().unwrap();
    assert!(gaps.iter().all(|g| *g >= 0), "{gaps:?}");
    assert!(
        max <= bound,
        "finished but unstored runs {max} > {bound}: {gaps:?}"
    );
    assert!(
        max >= 2,
        "the worker never ran ahead of the slow store: {gaps:?}"
    );
    assert_eq!(store.run_ids().unwrap().len(), points.len());
}

#[test]
fn a_model_that_diverged_to_nan_is_a_result_not_a_damaged_file() {
    // A step beyond the f32 range (without clipping) sends the weights to infinity at once.
    let text = r#"name = "blow"
[base]
epochs = 50
width_per_n = 2
n_test = 40
clip = 0
lr = 1e39
[measure]
sharpness_every = 0
log_every = 5
[grid]
d = [2]
n = [8, 12]
"#;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let store = sweep_into(text, &db, SERIAL);
    let ids = store.run_ids().unwrap();
    assert_eq!(ids.len(), 2);
    let mut non_finite = 0;
    for id in &ids {
        let run = store.load(id).unwrap().expect("stored");
        assert_eq!(run.status, "diverged", "{id}");
        let model = store
            .load_model(&run)
            .expect("a model path")
            .expect("readable");
        non_finite += model.w.iter().any(|x| !x.is_finite()) as usize;
    }
    assert!(
        non_finite > 0,
        "the test needs a model with non-finite weights"
    );
    assert!(store.unusable_models().unwrap().is_empty());
    assert_eq!(store.done_ids().unwrap().len(), 2, "diverged runs are done");
}
