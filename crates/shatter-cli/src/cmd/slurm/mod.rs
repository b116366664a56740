//! `shatter slurm submit|script|status`: a sweep as a Slurm job array. Task `i` of `N` runs
//! `shatter sweep SPEC --shard i/N` into its own store beside the user's (`script::Layout`),
//! with as many threads as Slurm gave it (`SLURM_CPUS_PER_TASK`); a merge job that depends
//! on the array (`afterany`) merges the shard stores into the user's store and checks that
//! every point is there. A resubmission runs only the shards with points missing (a shard
//! resumes, the merge skips what it already holds) and is refused while a job of the previous
//! one is queued or running. `slurm.json` beside the store keeps the spec, `N` and the job ids
//! for `status`.
//!
//! Shared file systems: every store is used from one machine at a time, which SQLite's WAL
//! needs (its index is shared memory). A task writes only its own shard; the merge job reads
//! the shards after the array has ended and writes the store alone; `status` reads no store
//! whose job Slurm lists as queued or running, and reads the others holding a shared lock
//! that keeps writers out (`Store::open_reader_idle`). Models are written atomically
//! (temporary file, fsync, rename within one folder). The stores' locks are `flock` locks:
//! coherent across machines where the file system makes them so (NFS on Linux does; Lustre
//! needs its `flock` mount option); the job structure above does not rely on them.

pub mod queue;
pub mod script;

use super::{failure_hint, usage, usage_hint};
use crate::args::{Global, SlurmCommand, SlurmJobArgs, SlurmStatusArgs, SlurmSubmitArgs};
use anyhow::Context;
use script::{Layout, Plan, Resources};
use serde::{Deserialize, Serialize};
use shatter_lab::store::Store;
use shatter_lab::sweep::{Point, SweepSpec, SweepSpecError};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

pub fn run(command: SlurmCommand, global: &Global) -> anyhow::Result<()> {
    match command {
        SlurmCommand::Submit(a) => submit(a, global),
        SlurmCommand::Script(a) => print_scripts(a),
        SlurmCommand::Status(a) => status(a),
    }
}

/// What `slurm.json` records: the sweep and every submission's jobs.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// The spec (absolute).
    pub spec: PathBuf,
    /// Shards in all.
    pub tasks: usize,
    /// Oldest first.
    pub submissions: Vec<Submission>,
}

/// One `shatter slurm submit`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Submission {
    /// The array's job id (`None`: every shard was complete, only the merge ran).
    pub array_job: Option<String>,
    /// The shards it ran.
    pub shards: Vec<usize>,
    /// The merge job's id (`None` when `sbatch` refused it after taking the array).
    pub merge_job: Option<String>,
    /// Unix seconds.
    pub submitted_at: f64,
}

fn read_manifest(layout: &Layout) -> anyhow::Result<Option<Manifest>> {
    let path = layout.manifest();
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("{}: not a shatter slurm manifest", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", path.display()))),
    }
}

fn write_manifest(layout: &Layout, manifest: &Manifest) -> anyhow::Result<()> {
    let path = layout.manifest();
    let text = serde_json::to_string_pretty(manifest)? + "\n";
    shatter_lab::io::write_file_atomically(&path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Reads the spec and expands its points, with the errors of `shatter sweep`.
fn load_spec(path: &Path) -> anyhow::Result<(SweepSpec, Vec<Point>)> {
    let spec = SweepSpec::from_file(path).map_err(|e| match e {
        SweepSpecError::Read { .. } => anyhow::Error::new(e),
        other => usage_hint(
            other.to_string(),
            "[base], [grid], [[zip]] and [measure] take the keys of `shatter train --help` (and width_per_n)",
        ),
    })?;
    let points = spec.points().map_err(|e| {
        usage_hint(
            e.to_string(),
            "`shatter train --help` lists every setting with its range",
        )
    })?;
    Ok((spec, points))
}

/// Where one shard stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardStatus {
    /// 1-based.
    pub shard: usize,
    /// Points of the spec in this shard.
    pub points: usize,
    /// Of them, finished in the merged store (`None`: not read, a merge is in progress).
    pub merged: Option<usize>,
    /// Finished in the merged store or the shard's store.
    pub stored: usize,
    /// Failed in the shard's store and finished nowhere.
    pub failed: usize,
    /// Neither.
    pub pending: usize,
    /// Why the shard's store was left unread, when it was: its task is queued or running, or
    /// another process writes it.
    pub unread: Option<&'static str>,
    /// Its task in the latest submission that ran it, while Slurm lists it (`12_3 RUNNING`).
    pub task: Option<String>,
}

/// Finished and failed run ids of a store, read only when no writer holds it (`None`).
fn read_ids(path: &Path) -> anyhow::Result<Option<(HashSet<String>, HashSet<String>)>> {
    let Some(store) =
        Store::open_reader_idle(path).with_context(|| format!("opening {}", path.display()))?
    else {
        return Ok(None);
    };
    let done = store
        .done_ids()
        .with_context(|| format!("reading {}", path.display()))?;
    let mut stmt = store
        .connection()
        .prepare("SELECT run_id FROM runs WHERE status = 'failed'")
        .with_context(|| format!("reading {}", path.display()))?;
    let failed = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<HashSet<_>, _>>())
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(Some((done, failed)))
}

/// What Slurm says: each shard's task in the latest submission that ran it, and whether the
/// last submission's merge job is queued or running (not counting the job this process runs
/// in, the merge job calling `status`). Built by [`ask_queue`], `None` there without Slurm's
/// commands.
struct Queue {
    tasks: BTreeMap<usize, queue::QueuedJob>,
    merge_live: Option<String>,
}

fn ask_queue(manifest: Option<&Manifest>) -> anyhow::Result<Option<Queue>> {
    let Some(last) = manifest.and_then(|m| m.submissions.last()) else {
        return Ok(Some(Queue {
            tasks: BTreeMap::new(),
            merge_live: None,
        }));
    };
    if !queue::available() {
        return Ok(None);
    }
    // Each shard's task in the latest submission that ran it.
    let mut tasks = BTreeMap::new();
    let mut asked = HashSet::new();
    for sub in manifest.iter().flat_map(|m| m.submissions.iter().rev()) {
        let Some(array) = &sub.array_job else {
            continue;
        };
        if sub.shards.iter().all(|s| tasks.contains_key(s)) || !asked.insert(array.clone()) {
            continue;
        }
        for job in queue::squeue(array)? {
            if let Some(t) = job.task.filter(|t| sub.shards.contains(t)) {
                tasks.entry(t).or_insert(job);
            }
        }
    }
    let ours = std::env::var("SLURM_JOB_ID").ok();
    let merge_live = match &last.merge_job {
        Some(merge) => queue::squeue(merge)?
            .into_iter()
            .find(|j| queue::is_live(&j.state) && ours.as_deref() != Some(j.id.as_str()))
            .map(|j| format!("{} {}", j.id, j.state)),
        None => None,
    };
    Ok(Some(Queue { tasks, merge_live }))
}

/// Counts every shard's points: finished in the merged store or the shard's, failed, pending.
/// Stores of shards whose task is live, and the merged store while a merge job is live, are
/// not read.
fn shard_statuses(
    points: &[Point],
    layout: &Layout,
    tasks: usize,
    queue: Option<&Queue>,
) -> anyhow::Result<Vec<ShardStatus>> {
    let merged = match queue.and_then(|q| q.merge_live.as_ref()) {
        Some(_) => None,
        None if layout.store.is_file() => read_ids(&layout.store)?.map(|(done, _)| done),
        None => Some(HashSet::new()),
    };
    let mut out = Vec::with_capacity(tasks);
    for shard in 1..=tasks {
        let mine: Vec<&Point> = points
            .iter()
            .filter(|p| p.index % tasks == shard - 1)
            .collect();
        let job = queue.and_then(|q| q.tasks.get(&shard));
        let live = job.is_some_and(|j| queue::is_live(&j.state));
        let path = layout.shard_store(shard, tasks);
        let ids = if live || !path.is_file() {
            None
        } else {
            read_ids(&path)?
        };
        let unread = if !path.is_file() {
            None
        } else if live {
            Some("its task is queued or running")
        } else if ids.is_none() {
            Some("another process writes it")
        } else {
            None
        };
        let (done, failed) = ids.unwrap_or_default();
        let in_merged = |id: &str| merged.as_ref().is_some_and(|m| m.contains(id));
        let merged_count = merged
            .as_ref()
            .map(|_| mine.iter().filter(|p| in_merged(&p.run_id)).count());
        let stored = mine
            .iter()
            .filter(|p| in_merged(&p.run_id) || done.contains(&p.run_id))
            .count();
        let failed = mine
            .iter()
            .filter(|p| {
                !in_merged(&p.run_id) && !done.contains(&p.run_id) && failed.contains(&p.run_id)
            })
            .count();
        out.push(ShardStatus {
            shard,
            points: mine.len(),
            merged: merged_count,
            stored,
            failed,
            pending: mine.len() - stored - failed,
            unread,
            task: job.map(|j| format!("{} {}", j.id, j.state)),
        });
    }
    Ok(out)
}

/// The status table (stdout of `shatter slurm status`).
pub fn status_table(sweep: &str, layout: &Layout, rows: &[ShardStatus]) -> String {
    let tasks = rows.len();
    let mut lines = vec![vec![
        "shard".to_string(),
        "points".into(),
        "merged".into(),
        "stored".into(),
        "failed".into(),
        "pending".into(),
        "task".into(),
    ]];
    let opt = |v: Option<usize>| v.map_or("-".to_string(), |v| v.to_string());
    for r in rows {
        let mut task = r.task.clone().unwrap_or_else(|| "-".into());
        if let Some(why) = r.unread {
            task.push_str(&format!(" (store not read: {why})"));
        }
        lines.push(vec![
            format!("{}/{tasks}", r.shard),
            r.points.to_string(),
            opt(r.merged),
            r.stored.to_string(),
            r.failed.to_string(),
            r.pending.to_string(),
            task,
        ]);
    }
    let sum = |f: fn(&ShardStatus) -> usize| rows.iter().map(f).sum::<usize>();
    let merged_all = rows.iter().map(|r| r.merged).sum::<Option<usize>>();
    lines.push(vec![
        "all".into(),
        sum(|r| r.points).to_string(),
        opt(merged_all),
        sum(|r| r.stored).to_string(),
        sum(|r| r.failed).to_string(),
        sum(|r| r.pending).to_string(),
        String::new(),
    ]);
    let mut widths = vec![0; 7];
    for l in &lines {
        for (w, c) in widths.iter_mut().zip(l) {
            *w = (*w).max(c.len());
        }
    }
    let mut text = format!(
        "sweep {sweep}: {} points in {tasks} shards, merged into {}\n",
        sum(|r| r.points),
        layout.store.display()
    );
    for l in &lines {
        let line: Vec<String> = l
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// A plan for `args`: the spec checked, the shards with points missing, the scripts' inputs.
/// With `queue` (submit), refuses while a job of the previous submission is live.
fn plan(args: &SlurmJobArgs, ask_slurm: bool) -> anyhow::Result<(Plan, Option<Manifest>)> {
    let resources = Resources {
        partition: args.partition.clone(),
        time: args.time.clone(),
        cpus_per_task: args.cpus_per_task,
        mem: args.mem.clone(),
        extra: args.sbatch_arg.clone(),
    };
    script::check_resources(&resources).map_err(|e| usage(format!("{}: {}", e.flag, e.message)))?;
    if args.tasks == 0 {
        return Err(usage("--tasks must be at least 1"));
    }
    let (spec, points) = load_spec(&args.spec)?;
    if points.is_empty() {
        return Err(usage(format!(
            "{}: the sweep has no points",
            args.spec.display()
        )));
    }
    if args.tasks > points.len() {
        return Err(usage_hint(
            format!(
                "--tasks {} is more than the {} points of the sweep; some tasks would run nothing",
                args.tasks,
                points.len()
            ),
            format!("use --tasks {} or fewer", points.len()),
        ));
    }
    let layout = Layout::new(&args.store).context("--store")?;
    script::check_store_path(&layout).map_err(|e| usage(format!("{}: {}", e.flag, e.message)))?;
    if layout.dir == layout.store {
        return Err(usage(format!(
            "--store {} ends in .slurm, the name of the folder beside a store; choose another name (results.db)",
            layout.store.display()
        )));
    }
    if layout.store.is_dir() {
        return Err(usage(format!(
            "--store {} is a folder; give the store's file (results.db)",
            layout.store.display()
        )));
    }
    let manifest = read_manifest(&layout)?;
    if let Some(m) = &manifest {
        if m.tasks != args.tasks {
            return Err(usage_hint(
                format!(
                    "{} was submitted as {} shards, not {}: the shard stores hold its runs by shard",
                    layout.store.display(),
                    m.tasks,
                    args.tasks
                ),
                format!(
                    "resubmit with --tasks {}, or merge what there is and remove {} to start over with {}",
                    m.tasks,
                    layout.dir.display(),
                    args.tasks
                ),
            ));
        }
    }
    let queue = if ask_slurm {
        ask_queue(manifest.as_ref())?
    } else {
        None
    };
    if let (Some(q), Some(last)) = (&queue, manifest.as_ref().and_then(|m| m.submissions.last())) {
        let live: Vec<String> = q
            .tasks
            .values()
            .filter(|j| queue::is_live(&j.state))
            .map(|j| format!("{} {}", j.id, j.state))
            .chain(q.merge_live.iter().cloned())
            .collect();
        if !live.is_empty() {
            return Err(failure_hint(
                format!(
                    "the previous submission for {} is not over: {}",
                    layout.store.display(),
                    live.join(", ")
                ),
                format!(
                    "wait for it (`shatter slurm status --store {}`), or cancel it with `scancel {}`",
                    args.store.display(),
                    last.array_job
                        .iter()
                        .chain(last.merge_job.iter())
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            ));
        }
    }
    let rows = shard_statuses(&points, &layout, args.tasks, queue.as_ref())?;
    if let Some(busy) = rows.iter().find(|r| r.unread.is_some()) {
        return Err(failure_hint(
            format!(
                "{} is being written by another process",
                layout.shard_store(busy.shard, args.tasks).display()
            ),
            "wait until it is done, then submit again",
        ));
    }
    let shards: Vec<usize> = rows
        .iter()
        .filter(|r| r.pending + r.failed > 0)
        .map(|r| r.shard)
        .collect();
    let shatter = match &args.shatter {
        Some(p) => std::path::absolute(p).context("--shatter")?,
        None => std::env::current_exe().context("finding this program's path")?,
    };
    let spec_path = std::path::absolute(&args.spec).context("the spec's path")?;
    Ok((
        Plan {
            shatter,
            spec: spec_path,
            sweep: spec.name.clone(),
            layout,
            tasks: args.tasks,
            shards,
            resources,
        },
        manifest,
    ))
}

fn scripts(plan: &Plan) -> anyhow::Result<(Option<String>, String)> {
    let bad = |e: script::BadValue| usage(format!("{}: {}", e.flag, e.message));
    let array = if plan.shards.is_empty() {
        None
    } else {
        Some(script::array_script(plan).map_err(bad)?)
    };
    Ok((array, script::merge_script(plan).map_err(bad)?))
}

fn print_scripts(args: SlurmJobArgs) -> anyhow::Result<()> {
    let (plan, _) = plan(&args, false)?;
    let (array, merge) = scripts(&plan)?;
    let mut text = String::new();
    match array {
        Some(array) => {
            text.push_str("# ---- array.sh: submit with `sbatch array.sh` ----\n");
            text.push_str(&array);
            text.push_str(
                "# ---- merge.sh: submit with `sbatch --dependency=afterany:<array job id> merge.sh` ----\n",
            );
        }
        None => text.push_str(
            "# ---- every shard is complete: merge.sh alone, submit with `sbatch merge.sh` ----\n",
        ),
    }
    text.push_str(&merge);
    super::print_stdout(&text)
}

fn submit(args: SlurmSubmitArgs, global: &Global) -> anyhow::Result<()> {
    let (plan, manifest) = plan(&args.job, true)?;
    let (array, merge) = scripts(&plan)?;
    let layout = &plan.layout;
    std::fs::create_dir_all(layout.logs())
        .with_context(|| format!("creating {}", layout.logs().display()))?;
    let write = |name: &str, text: &str| -> anyhow::Result<PathBuf> {
        let path = layout.dir.join(name);
        shatter_lab::io::write_file_atomically(&path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    };
    let array_job = match &array {
        Some(text) => {
            let path = write("array.sh", text)?;
            Some(queue::sbatch(&path, &[])?)
        }
        None => None,
    };
    // Recorded as soon as the array is in the queue, so that a later submission sees it.
    let mut manifest = manifest.unwrap_or(Manifest {
        spec: plan.spec.clone(),
        tasks: plan.tasks,
        submissions: Vec::new(),
    });
    manifest.spec = plan.spec.clone();
    manifest.submissions.push(Submission {
        array_job: array_job.clone(),
        shards: plan.shards.clone(),
        merge_job: None,
        submitted_at: shatter_lab::store::unix_now(),
    });
    write_manifest(layout, &manifest)?;
    let merge_path = write("merge.sh", &merge)?;
    let dependency: Vec<String> = array_job
        .iter()
        .map(|a| format!("--dependency=afterany:{a}"))
        .collect();
    let merge_job = queue::sbatch(&merge_path, &dependency).map_err(|e| {
        let cancel = array_job
            .as_deref()
            .map(|a| format!("the array job {a} was submitted; cancel it with `scancel {a}` or "))
            .unwrap_or_default();
        failure_hint(
            e.to_string(),
            format!("{cancel}submit {} yourself", merge_path.display()),
        )
    })?;
    if let Some(last) = manifest.submissions.last_mut() {
        last.merge_job = Some(merge_job.clone());
    }
    write_manifest(layout, &manifest)?;
    if !global.quiet {
        match &array_job {
            Some(a) => eprintln!(
                "sweep {}: array job {a} runs shard{} {} of {} ({} CPU{} each); merge job {merge_job} merges into {} once it ends; logs in {}",
                plan.sweep,
                if plan.shards.len() == 1 { "" } else { "s" },
                script::array_ranges(&plan.shards),
                plan.tasks,
                plan.resources.cpus_per_task,
                if plan.resources.cpus_per_task == 1 { "" } else { "s" },
                layout.store.display(),
                layout.logs().display()
            ),
            None => eprintln!(
                "sweep {}: every shard is complete; merge job {merge_job} merges them into {}",
                plan.sweep,
                layout.store.display()
            ),
        }
    }
    let mut ids = String::new();
    if let Some(a) = &array_job {
        ids.push_str(&format!("array_job {a}\n"));
    }
    ids.push_str(&format!("merge_job {merge_job}\n"));
    super::print_stdout(&ids)?;
    if !args.wait {
        return Ok(());
    }
    let end = queue::wait_for(&merge_job, std::time::Duration::from_secs(2))?;
    let log = layout.logs().join(format!("merge.job{merge_job}.out"));
    if end.state == "COMPLETED" && end.exit_code == 0 {
        if !global.quiet {
            eprintln!(
                "merge job {merge_job} completed: every point is in {}",
                layout.store.display()
            );
        }
        return Ok(());
    }
    Err(super::JobExit {
        message: format!(
            "merge job {merge_job} ended {} with exit code {}{}",
            end.state,
            end.exit_code,
            if end.signal != 0 { format!(" (signal {})", end.signal) } else { String::new() }
        ),
        hint: format!(
            "{} says why; `shatter slurm status --store {}` shows each shard, and the same submit command runs what is missing",
            log.display(),
            args.job.store.display()
        ),
        code: if end.exit_code > 0 { end.exit_code } else { 1 },
    }
    .into())
}

fn status(args: SlurmStatusArgs) -> anyhow::Result<()> {
    let layout = Layout::new(&args.store).context("--store")?;
    let manifest = read_manifest(&layout)?.ok_or_else(|| {
        usage_hint(
            format!(
                "{}: no Slurm submission for this store ({} is missing)",
                args.store.display(),
                layout.manifest().display()
            ),
            "submit the sweep with `shatter slurm submit SPEC --store DB --tasks N`",
        )
    })?;
    let (spec, points) = load_spec(&manifest.spec)?;
    let queue = ask_queue(Some(&manifest))?;
    if queue.is_none() {
        eprintln!("note: no Slurm commands here; the jobs' states are not shown");
    }
    let rows = shard_statuses(&points, &layout, manifest.tasks, queue.as_ref())?;
    let mut text = status_table(&spec.name, &layout, &rows);
    if let Some(m) = queue.as_ref().and_then(|q| q.merge_live.as_ref()) {
        text.push_str(&format!(
            "merge job {m}: the merged store is not read until it ends\n"
        ));
    }
    super::print_stdout(&text)?;
    if args.require_complete {
        let merged: usize = rows.iter().filter_map(|r| r.merged).sum();
        let total: usize = rows.iter().map(|r| r.points).sum();
        if merged < total {
            let failed: usize = rows.iter().map(|r| r.failed).sum();
            let pending: usize = rows.iter().map(|r| r.pending).sum();
            return Err(failure_hint(
                format!(
                    "{} of {total} points are not in {} ({pending} pending, {failed} failed, {} stored in shards but not merged)",
                    total - merged,
                    layout.store.display(),
                    total - merged - pending - failed
                ),
                "submit again with the same `shatter slurm submit` command: it runs only the shards with points missing, then merges",
            ));
        }
    }
    Ok(())
}
