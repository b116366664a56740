//! Talking to Slurm through its commands: `sbatch --parsable` to submit, `squeue` for the
//! state of a submission's jobs, `scontrol show job` for a job's end state and exit code
//! (no `sacct`: it needs Slurm's accounting database, which many clusters and every small
//! test installation lack). The parsers are pure and tested on the commands' real output.

use anyhow::{anyhow, Context};
use std::path::Path;
use std::process::Command;

/// States in which a job still runs or may run (everything but an end state).
pub fn is_live(state: &str) -> bool {
    !matches!(
        state,
        "COMPLETED"
            | "CANCELLED"
            | "FAILED"
            | "TIMEOUT"
            | "NODE_FAIL"
            | "PREEMPTED"
            | "OUT_OF_MEMORY"
            | "BOOT_FAIL"
            | "DEADLINE"
            | "REVOKED"
            | "SPECIAL_EXIT"
    )
}

/// Whether this machine has Slurm's commands (`squeue` answers `--version`).
pub fn available() -> bool {
    Command::new("squeue")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a Slurm command, turning a missing command into an error that says so.
fn slurm_command(program: &str, args: &[&str]) -> anyhow::Result<std::process::Output> {
    Command::new(program).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            super::super::failure_hint(
                format!("{program} not found: this machine has no Slurm commands"),
                "run on the cluster's login node, or write the batch scripts with `shatter slurm script` and submit them there",
            )
        } else {
            anyhow!("running {program}: {e}")
        }
    })
}

/// The job id in `sbatch --parsable` output: `123` or `123;cluster`.
pub fn parse_sbatch_id(stdout: &str) -> Option<String> {
    let line = stdout.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    let id = line.split(';').next()?.trim();
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_string())
}

/// Submits `script` with `sbatch --parsable` and the extra options `before` (a dependency);
/// returns the job id.
pub fn sbatch(script: &Path, before: &[String]) -> anyhow::Result<String> {
    let script_text = script.to_string_lossy().into_owned();
    let mut args: Vec<&str> = vec!["--parsable"];
    args.extend(before.iter().map(String::as_str));
    args.push(&script_text);
    let out = slurm_command("sbatch", &args)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(anyhow!(
            "sbatch {} refused the job: {}",
            script.display(),
            stderr.trim()
        ));
    }
    parse_sbatch_id(&stdout).ok_or_else(|| {
        anyhow!(
            "sbatch {} printed no job id: {:?}",
            script.display(),
            stdout.trim()
        )
    })
}

/// One line of `squeue -h -r -t all -o '%i|%T'`: the job (`12` or `12_3` for array task 3)
/// and its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedJob {
    /// The job id (`12_3`).
    pub id: String,
    /// The array task (`3`), when the job is one.
    pub task: Option<usize>,
    /// Its state (`PENDING`, `RUNNING`, `COMPLETED`, ...).
    pub state: String,
}

/// Parses `squeue -h -r -t all -o '%i|%T'`.
pub fn parse_squeue(stdout: &str) -> Vec<QueuedJob> {
    stdout
        .lines()
        .filter_map(|line| {
            let (id, state) = line.trim().split_once('|')?;
            let task = id.split_once('_').and_then(|(_, t)| t.parse().ok());
            Some(QueuedJob {
                id: id.to_string(),
                task,
                state: state.trim().to_string(),
            })
        })
        .collect()
}

/// The jobs Slurm still knows of `job` (an array's tasks one per line). Empty when Slurm has
/// forgotten it (it keeps ended jobs for `MinJobAge`, 300 s by default).
pub fn squeue(job: &str) -> anyhow::Result<Vec<QueuedJob>> {
    let out = slurm_command(
        "squeue",
        &["-h", "-r", "-t", "all", "-j", job, "-o", "%i|%T"],
    )?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if stderr.contains("Invalid job id") {
            return Ok(Vec::new());
        }
        return Err(anyhow!("squeue -j {job}: {}", stderr.trim()));
    }
    Ok(parse_squeue(&String::from_utf8_lossy(&out.stdout)))
}

/// A job's state and exit code from `scontrol show job -o`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobEnd {
    /// `COMPLETED`, `FAILED`, ...
    pub state: String,
    /// The batch script's exit code.
    pub exit_code: i32,
    /// The signal that ended it (0: none).
    pub signal: i32,
}

/// Parses the one-line `scontrol show job -o ID` of a job that is not an array.
pub fn parse_scontrol_job(stdout: &str) -> Option<JobEnd> {
    let line = stdout.lines().find(|l| l.contains("JobState="))?;
    let field = |key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(str::to_string)
    };
    let state = field("JobState=")?;
    let (code, signal) = field("ExitCode=")?
        .split_once(':')
        .and_then(|(c, s)| Some((c.parse().ok()?, s.parse().ok()?)))?;
    Some(JobEnd {
        state,
        exit_code: code,
        signal,
    })
}

/// The state of job `id` now (`None`: Slurm no longer knows it).
pub fn job_state(id: &str) -> anyhow::Result<Option<JobEnd>> {
    let out = slurm_command("scontrol", &["show", "job", "-o", id])?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if stderr.contains("Invalid job id") {
            return Ok(None);
        }
        return Err(anyhow!("scontrol show job {id}: {}", stderr.trim()));
    }
    parse_scontrol_job(&stdout)
        .map(Some)
        .with_context(|| format!("scontrol show job {id}: no JobState in {:?}", stdout.trim()))
}

/// Waits until job `id` ends, asking every `poll` seconds.
pub fn wait_for(id: &str, poll: std::time::Duration) -> anyhow::Result<JobEnd> {
    loop {
        match job_state(id)? {
            Some(end) if !is_live(&end.state) => return Ok(end),
            Some(_) => std::thread::sleep(poll),
            None => {
                return Err(anyhow!(
                    "Slurm no longer knows job {id}; its end state is lost (`shatter slurm status` shows what was stored)"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbatch_ids() {
        assert_eq!(parse_sbatch_id("123\n").as_deref(), Some("123"));
        assert_eq!(parse_sbatch_id("45;cluster2\n").as_deref(), Some("45"));
        assert_eq!(parse_sbatch_id("Submitted batch job 7\n"), None);
        assert_eq!(parse_sbatch_id(""), None);
    }

    #[test]
    fn squeue_lines() {
        let jobs = parse_squeue("12_1|COMPLETED\n12_2|CANCELLED\n12_3|RUNNING\n13|PENDING\n");
        assert_eq!(jobs.len(), 4);
        assert_eq!(jobs[1].task, Some(2));
        assert_eq!(jobs[1].state, "CANCELLED");
        assert_eq!(jobs[3].task, None);
        assert!(is_live(&jobs[2].state) && is_live(&jobs[3].state));
        assert!(!is_live(&jobs[0].state) && !is_live(&jobs[1].state));
    }

    #[test]
    fn scontrol_lines() {
        // As printed by Slurm 22.05 (shortened).
        let line = "JobId=13 JobName=shatter-tiny-merge UserId=root(0) Priority=4294901759 JobState=FAILED Reason=NonZeroExitCode Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=1:0 RunTime=00:00:01\n";
        assert_eq!(
            parse_scontrol_job(line),
            Some(JobEnd {
                state: "FAILED".into(),
                exit_code: 1,
                signal: 0
            })
        );
        assert_eq!(
            parse_scontrol_job("slurm_load_jobs error: Invalid job id specified"),
            None
        );
    }
}
