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
