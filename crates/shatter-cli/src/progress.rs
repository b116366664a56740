//! Progress bars on stderr (hidden with `--quiet`, when stderr is not a terminal, or with
//! `NO_COLOR` in the environment only colours are dropped).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `len` units, drawn on stderr unless `quiet`.
pub fn bar(len: u64, quiet: bool, template: &str) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(
        Some(len),
        if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        },
    );
    let template = if std::env::var_os("NO_COLOR").is_some() {
        template.replace(".cyan/blue", "")
    } else {
        template.to_string()
    };
    pb.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb
}

/// Resolution of a sweep bar: its length in steps, whatever the sweep's total work.
const WORK_STEPS: u64 = 10_000;

/// A sweep's bar: its position is the share of the work done (runs weighted by their size,
/// `Progress::work_done`), so the ETA counts epochs, samples and neurons, not runs. `prefix` is
/// put before the counts (an experiment id, or empty).
pub fn sweep_bar(quiet: bool, prefix: &str) -> ProgressBar {
    let pb = bar(
        WORK_STEPS,
        quiet,
        "{elapsed_precise} [{bar:30.cyan/blue}] {percent:>3}% of the work {msg} (eta {eta})",
    );
    pb.set_prefix(prefix.to_string());
    pb
}

/// Shows `p` on a bar made by [`sweep_bar`].
pub fn show_sweep(pb: &ProgressBar, p: &shatter_lab::sweep::Progress) {
    let share = if p.work_total > 0.0 {
        (p.work_done / p.work_total).clamp(0.0, 1.0)
    } else {
        1.0
    };
    pb.set_position((share * WORK_STEPS as f64).round() as u64);
    let prefix = pb.prefix();
    pb.set_message(format!(
        "| {}{}/{} runs, {} running, {} failed, {} diverged",
        if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}: ")
        },
        p.finished,
        p.todo,
        p.running,
        p.failed,
        p.diverged
    ));
}
