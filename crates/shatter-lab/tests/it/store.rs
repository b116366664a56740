//! The results store: round trip, resume, one writer at a time, merge.

use crate::{sweep_into, TINY};
use shatter_core::train::Control;
use shatter_lab::run::{execute, RunOptions};
use shatter_lab::store::{Store, StoreError};
use shatter_lab::sweep::{Parallelism, SweepSpec};

const SERIAL: Parallelism = Parallelism {
    jobs: 1,
    threads_per_run: 1,
};

#[test]
fn stored_runs_read_back_equal_to_a_fresh_execution() {
    let dir = tempfile::tempdir().unwrap();
    let store = sweep_into(TINY, &dir.path().join("r.db"), SERIAL);
    let points = SweepSpec::from_toml(TINY, "tiny.toml")
        .unwrap()
        .points()
        .unwrap();
    assert_eq!(store.run_ids().unwrap().len(), points.len());
    assert_eq!(store.integrity_check().unwrap(), "ok");
    for p in &points {
        let out = execute(&p.config, &RunOptions::default(), &mut |_| {
            Control::Continue
        })
        .unwrap();
        let run = store
            .load(&p.run_id)
            .unwrap()
            .expect("every point is stored");
        assert_eq!(run.spec, p.spec, "{}", p.label);
        assert_eq!(run.status, "completed");
        let mut summary = run.summary.clone().unwrap();
        summary.wall_seconds = out.summary.wall_seconds;
        assert_eq!(summary, out.summary, "{}", p.label);
        assert_eq!(
            store.trajectory(&p.run_id).unwrap(),
            out.trajectory,
            "{}",
            p.label
        );
        let neurons = store.neurons(&p.run_id).unwrap();
        assert_eq!(neurons.len(), out.neurons.len());
        for (row, k) in neurons.iter().zip(0..) {
            assert_eq!(row.activation_rate, out.neurons.activation_rate[k]);
            assert_eq!(row.amplitude, out.neurons.amplitude[k]);
            assert_eq!(row.dead, out.neurons.dead[k]);
        }
        let model = dir.path().join(run.model_path.unwrap());
        let arrays = shatter_lab::io::load_model_npz(&model).unwrap();
        assert_eq!(arrays, out.model, "{}", p.label);
    }
}

#[test]
fn results_do_not_depend_on_the_parallelism() {
    let dir = tempfile::tempdir().unwrap();
    let a = sweep_into(TINY, &dir.path().join("a.db"), SERIAL);
    let b = sweep_into(
        TINY,
        &dir.path().join("b.db"),
        Parallelism {
            jobs: 2,
            threads_per_run: 1,
        },
    );
    let c = sweep_into(
        TINY,
        &dir.path().join("c.db"),
        Parallelism {
            jobs: 1,
            threads_per_run: 2,
        },
    );
    for id in a.run_ids().unwrap() {
        let strip = |s: &Store| {
            let mut r = s.load(&id).unwrap().unwrap();
            if let Some(sum) = r.summary.as_mut() {
                sum.wall_seconds = 0.0;
            }
            r.model_path = None;
            (r, s.trajectory(&id).unwrap(), s.neurons(&id).unwrap())
        };
        assert_eq!(strip(&a), strip(&b), "run {id}: 1 job vs 2 jobs");
        assert_eq!(strip(&a), strip(&c), "run {id}: 1 thread vs 2 threads");
    }
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let first = Store::open_writer(&db).unwrap();
    match Store::open_writer(&db) {
        Err(StoreError::Locked { holder, .. }) => {
            assert_eq!(holder, format!("pid {}", std::process::id()))
        }
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("two writers opened the same store"),
    }
    // Readers are fine meanwhile.
    Store::open_reader(&db).unwrap();
    drop(first);
    Store::open_writer(&db).expect("the lock is released with the writer");
}

#[test]
fn a_resumed_sweep_runs_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let spec = SweepSpec::from_toml(TINY, "tiny.toml").unwrap();
    let points = spec.points().unwrap();
    {
        let mut store = Store::open_writer(&db).unwrap();
        crate::sweep_points(&points[..3], &mut store, "tiny", spec.keep);
    }
    let mut store = Store::open_writer(&db).unwrap();
    let report = crate::sweep_points(&points, &mut store, "tiny", spec.keep);
    assert_eq!(
        (report.progress.skipped, report.progress.finished),
        (3, points.len() - 3)
    );
}

#[test]
fn merge_combines_shards_and_refuses_conflicting_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SweepSpec::from_toml(TINY, "tiny.toml").unwrap();
    let points = spec.points().unwrap();
    let mut paths = Vec::new();
    for i in 1..=2 {
        let shard = shatter_lab::sweep::Shard { index: i, count: 2 };
        let mine: Vec<_> = points
            .iter()
            .filter(|p| shard.contains(p.index))
            .cloned()
            .collect();
        let db = dir.path().join(format!("s{i}.db"));
        let mut store = Store::open_writer(&db).unwrap();
        crate::sweep_points(&mine, &mut store, "tiny", spec.keep);
        paths.push(db);
    }
    let all = dir.path().join("all.db");
    let mut store = Store::open_writer(&all).unwrap();
    let report = store.merge_from(&paths).unwrap();
    assert_eq!(report.added, points.len());
    assert_eq!(store.run_ids().unwrap().len(), points.len());
    for id in store.run_ids().unwrap() {
        let run = store.load(&id).unwrap().unwrap();
        assert!(
            dir.path().join(run.model_path.unwrap()).is_file(),
            "model of {id} copied"
        );
    }
    // Merging again finds identical duplicates.
    let again = store.merge_from(&paths).unwrap();
    assert_eq!((again.added, again.identical), (0, points.len()));
    drop(store);
    // Tamper with one result in a shard: the merge refuses and names the run.
    let victim = Store::open_reader(&paths[0]).unwrap().run_ids().unwrap()[0].clone();
    {
        let conn = rusqlite::Connection::open(&paths[0]).unwrap();
        conn.execute(
            "UPDATE runs SET test_mse = test_mse * 2 WHERE run_id = ?1",
            [&victim],
        )
        .unwrap();
    }
    let mut store = Store::open_writer(&all).unwrap();
    let err = store.merge_from(&paths).unwrap_err().to_string();
    assert!(
        err.contains(&victim) && err.contains("test_mse") && err.contains("refusing"),
        "{err}"
    );
}

#[test]
fn a_failing_run_is_stored_as_failed_and_tried_again_next_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    // The initial model is not an npz file (the check only hashes it): execute fails; the
    // generated run next to it is fine.
    let model = dir.path().join("train.csv");
    std::fs::write(&model, "0.1,0.2\n").unwrap();
    let model = model.display().to_string();
    let text = format!("[base]\nepochs = 5\nn = 8\nwidth = 8\nd = 1\n[grid]\nseed = [0]\n[[zip]]\ninit_from = [{model:?}]\n");
    let spec = SweepSpec::from_toml(&text, "fail.toml").unwrap();
    let good = SweepSpec::from_toml(TINY, "tiny.toml")
        .unwrap()
        .points()
        .unwrap();
    let mut points = spec.points().unwrap();
    points.push(good[0].clone());
    let mut store = Store::open_writer(&db).unwrap();
    let report = crate::sweep_points(&points, &mut store, "fail", spec.keep);
    assert_eq!(
        (report.progress.failed, report.progress.completed),
        (1, 1),
        "{report:?}"
    );
    assert!(report.failures[0].2.contains(&model), "{report:?}");
    let run = store.load(&points[0].run_id).unwrap().unwrap();
    assert_eq!(run.status, "failed");
    assert!(run.error.unwrap().contains(&model));
    assert!(run.summary.is_none() && run.model_path.is_none());
    assert!(!store.done_ids().unwrap().contains(&points[0].run_id));
    let again = crate::sweep_points(&points, &mut store, "fail", spec.keep);
    assert_eq!(
        (again.progress.skipped, again.progress.failed),
        (1, 1),
        "the failed run is tried again"
    );
}

#[test]
fn a_stop_request_stores_nothing_half_done() {
    // Runs long enough (tens of milliseconds) that the stop lands while later runs are still to
    // do, however loaded the machine: with the microsecond runs of TINY the worker could finish
    // every point before the flag is seen.
    const LONGER: &str = "name = \"longer\"\n[base]\nepochs = 3000\nwidth = 128\nn = 64\nn_test = 40\n[measure]\nsharpness_every = 0\nlog_every = 100\n[grid]\nd = [1, 2, 3, 4]\n[[zip]]\nlr = [0.2, 0.01]\nweight_decay = [0.0, 0.1]\n";
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let points = SweepSpec::from_toml(LONGER, "longer.toml")
        .unwrap()
        .points()
        .unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut store = Store::open_writer(&db).unwrap();
    // Stop as soon as the first run is stored (what Ctrl-C does).
    let report = shatter_lab::sweep::run_sweep(
        &points,
        &mut store,
        "tiny",
        Default::default(),
        SERIAL,
        &stop,
        &mut |p| {
            if p.finished >= 1 {
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        },
    )
    .unwrap();
    assert!(report.interrupted);
    let stored = store.run_ids().unwrap().len();
    assert!(stored >= 1 && stored < points.len(), "{stored} stored");
    for id in store.run_ids().unwrap() {
        assert_eq!(
            store.load(&id).unwrap().unwrap().status,
            "completed",
            "no interrupted run is stored"
        );
    }
}

/// Progress counts work, not runs: the work of the points to run is the sum of their costs, each
/// stored run adds its own cost, and a resumed sweep has no work left and says how many runs it
/// found stored.
#[test]
fn progress_counts_work_and_a_resume_counts_the_stored_runs() {
    use shatter_lab::sweep::{run_sweep, Parallelism, Progress, SweepSpec};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    // Two sizes an order of magnitude apart.
    let text = crate::TINY.replace("n = [8, 12]", "n = [8, 96]");
    let spec = SweepSpec::from_toml(&text, "w.toml").unwrap();
    let points = spec.points().unwrap();
    let total: f64 = points.iter().map(|p| p.cost()).sum();
    let serial = Parallelism {
        jobs: 1,
        threads_per_run: 1,
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut seen: Vec<Progress> = Vec::new();
    let mut store = Store::open_writer(&db).unwrap();
    let report = run_sweep(
        &points,
        &mut store,
        &spec.name,
        spec.keep,
        serial,
        &stop,
        &mut |p: &Progress| seen.push(p.clone()),
    )
    .unwrap();
    let p = &report.progress;
    assert_eq!(p.work_total, total);
    assert!(
        (p.work_done - total).abs() <= 1e-9 * total,
        "{} of {total}",
        p.work_done
    );
    // One job runs the longest first: after the first stored run, more than its share of runs
    // of the work is done.
    let first = seen.iter().find(|q| q.finished == 1).expect("a first run");
    let largest = points.iter().map(|p| p.cost()).fold(0.0, f64::max);
    assert_eq!(first.work_done, largest);
    assert!(first.work_done / first.work_total > 1.0 / points.len() as f64);
    assert!(seen.windows(2).all(|w| w[0].work_done <= w[1].work_done));
    let again = crate::sweep_points(&points, &mut store, &spec.name, spec.keep);
    assert_eq!(
        (
            again.progress.skipped,
            again.progress.finished,
            again.progress.work_total
        ),
        (points.len(), 0, 0.0)
    );
}
