//! Embeds the commit shatter is built from as `SHATTER_GIT_COMMIT` (12 hex digits), so a report
//! names the program that made it and not whatever repository the user runs it in. Outside a git
//! checkout (a source tarball) the variable is `unknown`. Uncommitted edits are not detected:
//! that would rebuild the crate on every change anywhere in the workspace.

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let value = git(dir, &["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SHATTER_GIT_COMMIT={value}");
    // Rebuild the value when HEAD moves or the checked-out branch gets a new commit.
    rerun_on(dir, "HEAD");
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        rerun_on(dir, &branch);
    }
}

/// Asks cargo to rerun this script when the git file `what` (`HEAD`, `refs/heads/main`) changes.
fn rerun_on(dir: &Path, what: &str) {
    if let Some(p) = git(dir, &["rev-parse", "--git-path", what]) {
        let p = Path::new(&p);
        println!("cargo:rerun-if-changed={}", dir.join(p).display());
    }
}
