//! The batch scripts of `shatter slurm`, as pure functions of a [`Plan`]: a job array whose
//! task `i` runs shard `i/N` of a sweep into its own store, and a merge job that combines the
//! shard stores into the user's store and checks that every point is there. Also the files
//! beside the store ([`Layout`]) and the checks of the resource flags, so that nothing a user
//! types can break a `#SBATCH` line or the shell code below it.

use std::path::{Path, PathBuf};

/// Where a Slurm sweep keeps its files, all beside the store `results.db`: the folder
/// `results.slurm/` with the shard stores `shard-I-of-N.db` (each with its models folder), the
/// scripts `array.sh` and `merge.sh`, the manifest `slurm.json` and the jobs' logs in `logs/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The store the shards are merged into (absolute).
    pub store: PathBuf,
    /// The folder beside it.
    pub dir: PathBuf,
}

impl Layout {
    /// The layout of the store `store` (made absolute against the working directory).
    pub fn new(store: &Path) -> std::io::Result<Layout> {
        let store = std::path::absolute(store)?;
        let stem = store
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "results".into());
        let dir = store.with_file_name(format!("{stem}.slurm"));
        Ok(Layout { store, dir })
    }

    /// Shard `index` (1-based) of `tasks`.
    pub fn shard_store(&self, index: usize, tasks: usize) -> PathBuf {
        self.dir.join(format!("shard-{index}-of-{tasks}.db"))
    }

    /// The manifest of the submissions.
    pub fn manifest(&self) -> PathBuf {
        self.dir.join("slurm.json")
    }

    /// The jobs' output files.
    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }
}

/// The resources every job asks for (the flags of `shatter slurm submit`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time`, a Slurm time limit.
    pub time: Option<String>,
    /// `--cpus-per-task` of each array task; the sweep runs that many threads.
    pub cpus_per_task: usize,
    /// `--mem`, per node.
    pub mem: Option<String>,
    /// Further `#SBATCH` options, given to both jobs.
    pub extra: Vec<String>,
}

/// Everything the two scripts are made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The `shatter` binary the jobs run (absolute).
    pub shatter: PathBuf,
    /// The sweep spec (absolute).
    pub spec: PathBuf,
    /// The sweep's name.
    pub sweep: String,
    /// The files.
    pub layout: Layout,
    /// Shards in all (`N` of `--shard i/N`).
    pub tasks: usize,
    /// The shards the array runs (1-based, ascending): all of them, or those with points
    /// missing on a resubmission.
    pub shards: Vec<usize>,
    /// What the jobs ask for.
    pub resources: Resources,
}

/// A flag whose value cannot go into a batch script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadValue {
    /// The flag, `--time`.
    pub flag: &'static str,
    /// Why.
    pub message: String,
}

/// Options the scripts set themselves, long and short spellings, which `--sbatch-arg` may not
/// repeat: the flag that owns each is named in the refusal.
const MANAGED: &[(&str, Option<&str>, &str)] = &[
    ("--array", Some("-a"), "--tasks"),
    (
        "--dependency",
        Some("-d"),
        "the merge job's dependency on the array",
    ),
    ("--output", Some("-o"), "the logs folder beside the store"),
    ("--error", Some("-e"), "the logs folder beside the store"),
    ("--job-name", Some("-J"), "the sweep's name"),
    ("--cpus-per-task", Some("-c"), "--cpus-per-task"),
    ("--ntasks", Some("-n"), "one process per job"),
    ("--partition", Some("-p"), "--partition"),
    ("--time", Some("-t"), "--time"),
    ("--mem", None, "--mem"),
    ("--parsable", None, "shatter slurm submit"),
    ("--wait", Some("-W"), "--wait"),
];

/// Checks a Slurm time limit: `minutes`, `minutes:seconds`, `hours:minutes:seconds`,
/// `days-hours`, `days-hours:minutes`, `days-hours:minutes:seconds`, or `UNLIMITED`.
pub fn check_time(text: &str) -> Result<(), BadValue> {
    let bad = || {
        BadValue {
        flag: "--time",
        message: format!(
            "{text:?} is not a Slurm time limit (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS)"
        ),
    }
    };
    if text.eq_ignore_ascii_case("unlimited") || text.eq_ignore_ascii_case("infinite") {
        return Ok(());
    }
    let digits = |s: &str| !s.is_empty() && s.len() <= 9 && s.bytes().all(|b| b.is_ascii_digit());
    let (days, rest) = match text.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, text),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let parts_ok = parts.iter().all(|p| digits(p));
    let ok = match days {
        Some(d) => digits(d) && parts_ok && (1..=3).contains(&parts.len()),
        None => parts_ok && (1..=3).contains(&parts.len()),
    };
    if ok
        && parts
            .iter()
            .chain(days.iter())
            .any(|p| p.parse::<u64>().is_ok_and(|v| v > 0))
    {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Checks a memory size: a whole number with an optional unit `K`, `M`, `G` or `T`.
pub fn check_mem(text: &str) -> Result<(), BadValue> {
    let number = text
        .strip_suffix(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't'])
        .unwrap_or(text);
    if !number.is_empty() && number.len() <= 12 && number.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(BadValue {
            flag: "--mem",
            message: format!(
                "{text:?} is not a memory size (a whole number with an optional unit K, M, G or T, such as 4G)"
            ),
        })
    }
}

/// Checks a partition name or a comma-separated list of them.
pub fn check_partition(text: &str) -> Result<(), BadValue> {
    let ok = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.,-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(BadValue {
            flag: "--partition",
            message: format!(
                "{text:?} is not a partition name (letters, digits, `_`, `.`, `-`; several separated by commas)"
            ),
        })
    }
}

/// Checks one `--sbatch-arg`: an option (`--account=lab`, `--qos=short`, `-A lab` is two
/// words, so write `-Alab` or `--account=lab`), in one word, not one the scripts set.
pub fn check_sbatch_arg(text: &str) -> Result<(), BadValue> {
    let bad = |message: String| BadValue {
        flag: "--sbatch-arg",
        message,
    };
    if !text.starts_with('-') || text == "-" || text == "--" {
        return Err(bad(format!(
            "{text:?} is not an sbatch option; give options such as --sbatch-arg=--account=lab"
        )));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(format!(
            "{text:?} holds a space or a control character, which a #SBATCH line cannot carry; write the option as one word (--account=lab)"
        )));
    }
    for (long, short, owner) in MANAGED {
        let name = text.split('=').next().unwrap_or(text);
        let is_long = name == *long;
        // Long options may be abbreviated by sbatch (`--arr`), so any prefix of at least
        // `--xx` counts as the option; short ones carry their value glued on (`-c4`).
        let is_abbrev = name.len() >= 4 && name.starts_with("--") && long.starts_with(name);
        let is_short = short.is_some_and(|s| text.starts_with(s) && !text.starts_with("--"));
        if is_long || is_abbrev || is_short {
            return Err(bad(format!(
                "{text:?}: {long} is set by shatter slurm ({owner})"
            )));
        }
    }
    Ok(())
}

/// Checks every resource flag.
pub fn check_resources(r: &Resources) -> Result<(), BadValue> {
    if r.cpus_per_task == 0 {
        return Err(BadValue {
            flag: "--cpus-per-task",
            message: "must be at least 1".into(),
        });
    }
    if let Some(p) = &r.partition {
        check_partition(p)?;
    }
    if let Some(t) = &r.time {
        check_time(t)?;
    }
    if let Some(m) = &r.mem {
        check_mem(m)?;
    }
    for a in &r.extra {
        check_sbatch_arg(a)?;
    }
    Ok(())
}

/// `text` as one shell word: in single quotes, each `'` written `'\''`.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A path as text, for a script: paths must be UTF-8.
pub fn path_text<'a>(what: &str, path: &'a Path) -> Result<&'a str, BadValue> {
    path.to_str().ok_or_else(|| BadValue {
        flag: "--store",
        message: format!(
            "{what} {} is not UTF-8, which a batch script cannot name",
            path.display()
        ),
    })
}

/// The store's folder goes into `#SBATCH --output=` lines, which split at spaces and quotes.
pub fn check_store_path(layout: &Layout) -> Result<(), BadValue> {
    let dir = path_text("the store's folder", &layout.dir)?;
    if dir
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\'')
    {
        return Err(BadValue {
            flag: "--store",
            message: format!(
                "{dir} holds a space, a quote or a control character, which the #SBATCH --output line of the jobs' logs cannot carry; choose a store path without them"
            ),
        });
    }
    Ok(())
}

/// Slurm's `--array` value for ascending shard numbers: runs written `a-b`, joined by commas
/// (`[1, 2, 3, 5]` is `1-3,5`).
pub fn array_ranges(shards: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < shards.len() {
        let mut j = i;
        while j + 1 < shards.len() && shards[j + 1] == shards[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            shards[i].to_string()
        } else {
            format!("{}-{}", shards[i], shards[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

/// A Slurm job name from a sweep's name: letters, digits, `_`, `.` and `-` kept, anything
/// else written `_`.
pub fn job_name(sweep: &str) -> String {
    let name: String = sweep
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("shatter-{name}")
}

/// A path in an `--output` pattern, where `%` starts a replacement (`%%` is one `%`).
fn output_pattern(dir: &str) -> String {
    dir.replace('%', "%%")
}

/// The `#SBATCH` lines both jobs share after their own: partition, time, memory, extras.
fn shared_options(r: &Resources) -> String {
    let mut text = String::new();
    if let Some(p) = &r.partition {
        text.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    if let Some(t) = &r.time {
        text.push_str(&format!("#SBATCH --time={t}\n"));
    }
    if let Some(m) = &r.mem {
        text.push_str(&format!("#SBATCH --mem={m}\n"));
    }
    for a in &r.extra {
        text.push_str(&format!("#SBATCH {a}\n"));
    }
    text
}

/// The job array: task `i` runs `shatter --threads $SLURM_CPUS_PER_TASK sweep SPEC --shard
/// i/N --store DIR/shard-i-of-N.db` (a shard resumes what an earlier task stored).
pub fn array_script(plan: &Plan) -> Result<String, BadValue> {
    check_store_path(&plan.layout)?;
    let n = plan.tasks;
    let shatter = shell_quote(path_text("the shatter binary", &plan.shatter)?);
    let spec = shell_quote(path_text("the spec", &plan.spec)?);
    let dir_text = path_text("the store's folder", &plan.layout.dir)?;
    let dir = shell_quote(dir_text);
    let logs = output_pattern(&format!("{dir_text}/logs"));
    let r = &plan.resources;
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!(
        "# Shards of the sweep {:?} ({}): array task i runs shard i/{n} into its own store\n",
        plan.sweep,
        plan.spec.display()
    ));
    s.push_str(&format!(
        "# in {dir_text}, resuming what an earlier task stored. Written by `shatter slurm`;\n"
    ));
    s.push_str("# merge.sh beside it merges the shards once the array has ended.\n");
    s.push_str(&format!("#SBATCH --job-name={}\n", job_name(&plan.sweep)));
    s.push_str(&format!("#SBATCH --array={}\n", array_ranges(&plan.shards)));
    s.push_str("#SBATCH --ntasks=1\n");
    s.push_str(&format!("#SBATCH --cpus-per-task={}\n", r.cpus_per_task));
    s.push_str(&format!(
        "#SBATCH --output={logs}/shard-%a-of-{n}.job%A.out\n"
    ));
    s.push_str(&shared_options(r));
    s.push_str("set -euo pipefail\n");
    s.push_str("# Every thread the sweep starts is one of the CPUs Slurm gave this task.\n");
    s.push_str("threads=\"${SLURM_CPUS_PER_TASK:-1}\"\n");
    s.push_str("export RAYON_NUM_THREADS=\"$threads\"\n");
    s.push_str("shard=\"${SLURM_ARRAY_TASK_ID:?run this script as a Slurm job array (sbatch)}\"\n");
    s.push_str(&format!("dir={dir}\n"));
    s.push_str(&format!(
        "exec {shatter} --threads \"$threads\" sweep {spec} --shard \"$shard/{n}\" --store \"$dir/shard-$shard-of-{n}.db\"\n"
    ));
    Ok(s)
}

/// The merge job: merges every shard store that exists into the store (runs already there
/// are skipped, so it may run any number of times), then `shatter slurm status
/// --require-complete`, which fails when points are missing.
pub fn merge_script(plan: &Plan) -> Result<String, BadValue> {
    check_store_path(&plan.layout)?;
    let n = plan.tasks;
    let shatter = shell_quote(path_text("the shatter binary", &plan.shatter)?);
    let store = shell_quote(path_text("the store", &plan.layout.store)?);
    let dir_text = path_text("the store's folder", &plan.layout.dir)?;
    let dir = shell_quote(dir_text);
    let logs = output_pattern(&format!("{dir_text}/logs"));
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!(
        "# Merge of the sweep {:?}: the shard stores in {dir_text} go into\n",
        plan.sweep
    ));
    s.push_str(&format!(
        "# {} (runs already there are skipped), then the status fails when points are missing.\n",
        plan.layout.store.display()
    ));
    s.push_str(
        "# Written by `shatter slurm`; submitted with --dependency=afterany:<array job id>.\n",
    );
    s.push_str(&format!(
        "#SBATCH --job-name={}-merge\n",
        job_name(&plan.sweep)
    ));
    s.push_str("#SBATCH --ntasks=1\n");
    s.push_str("#SBATCH --cpus-per-task=1\n");
    s.push_str(&format!("#SBATCH --output={logs}/merge.job%j.out\n"));
    s.push_str(&shared_options(&plan.resources));
    s.push_str("set -euo pipefail\n");
    s.push_str(&format!("dir={dir}\n"));
    s.push_str("shards=()\n");
    s.push_str(&format!("for i in $(seq 1 {n}); do\n"));
    s.push_str(&format!(
        "  if [ -f \"$dir/shard-$i-of-{n}.db\" ]; then shards+=(\"$dir/shard-$i-of-{n}.db\"); fi\n"
    ));
    s.push_str("done\n");
    s.push_str("if [ \"${#shards[@]}\" -gt 0 ]; then\n");
    s.push_str(&format!(
        "  {shatter} --threads 1 merge \"${{shards[@]}}\" --into {store}\n"
    ));
    s.push_str("fi\n");
    s.push_str(&format!(
        "exec {shatter} slurm status --store {store} --require-complete\n"
    ));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_ranges_join_runs() {
        assert_eq!(array_ranges(&[1, 2, 3, 4]), "1-4");
        assert_eq!(array_ranges(&[2]), "2");
        assert_eq!(array_ranges(&[1, 2, 3, 5, 7, 8]), "1-3,5,7-8");
        assert_eq!(array_ranges(&[]), "");
    }

    #[test]
    fn time_limits() {
        for good in [
            "30",
            "0:30",
            "10:00",
            "1:00:00",
            "2-0",
            "2-12:00",
            "1-00:00:00",
            "UNLIMITED",
        ] {
            assert_eq!(check_time(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "0",
            "0:00",
            "1h",
            "1:2:3:4",
            "-1",
            "1-",
            "1- 2",
            "a:b",
            "1\n#SBATCH",
        ] {
            let err = check_time(bad).unwrap_err();
            assert_eq!(err.flag, "--time", "{bad}");
            assert!(
                err.message.contains("not a Slurm time limit"),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn memory_and_partitions() {
        for good in ["4G", "500M", "1024", "0", "2t"] {
            assert_eq!(check_mem(good), Ok(()), "{good}");
        }
        for bad in ["", "G", "4 G", "4GB", "-4G", "1.5G"] {
            assert!(check_mem(bad).is_err(), "{bad}");
        }
        assert_eq!(check_partition("short,long-gpu"), Ok(()));
        for bad in ["", "a b", "a\nb", "a;b"] {
            assert!(check_partition(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sbatch_args_are_options_the_scripts_do_not_set() {
        for good in [
            "--account=lab",
            "--qos=short",
            "-Alab",
            "--hold",
            "--constraint=a&b",
            "--mail-type=END",
        ] {
            assert_eq!(check_sbatch_arg(good), Ok(()), "{good}");
        }
        let refused = |arg: &str, words: &str| {
            let err = check_sbatch_arg(arg).unwrap_err();
            assert!(err.message.contains(words), "{arg}: {}", err.message);
        };
        refused("account=lab", "not an sbatch option");
        refused("--comment=a b", "one word");
        refused("--account=lab\n#SBATCH --array=1", "control character");
        refused("--array=1-3", "--array is set by shatter slurm (--tasks)");
        refused("--arr=1-3", "--array is set");
        refused("-c4", "--cpus-per-task is set");
        refused("--output=x.out", "--output is set");
        refused("--mem=4G", "--mem is set by shatter slurm (--mem)");
        refused("--dependency=afterok:1", "--dependency is set");
    }

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
    }

    #[test]
    fn store_paths_for_output_lines() {
        let good = Layout::new(Path::new("/data/run%1/results.db")).unwrap();
        assert_eq!(good.dir, Path::new("/data/run%1/results.slurm"));
        assert_eq!(
            good.shard_store(2, 5),
            Path::new("/data/run%1/results.slurm/shard-2-of-5.db")
        );
        assert_eq!(check_store_path(&good), Ok(()));
        assert_eq!(output_pattern("/data/run%1"), "/data/run%%1");
        let spaced = Layout::new(Path::new("/data/my runs/results.db")).unwrap();
        assert!(check_store_path(&spaced)
            .unwrap_err()
            .message
            .contains("holds a space"));
    }

    #[test]
    fn job_names_are_plain() {
        assert_eq!(job_name("cod quick/v2"), "shatter-cod_quick_v2");
    }
}
