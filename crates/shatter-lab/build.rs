//! Embeds the commit shatter is built from as `SHATTER_GIT_COMMIT` (12 hex digits), so a report
//! names the program that made it and not whatever repository the user runs it in. Outside a git
//! checkout (a source tarball) the variable is `unknown`. When the sources of the numerics and
//! the reports (`crates/shatter-core`, `crates/shatter-lab`) differ from that commit, the value
//! ends in `-dirty`: a build from edited sources never claims a commit's name. Edits there
//! rebuild this crate anyway, so watching them costs no extra rebuilds; edits elsewhere
//! (command-line parsing, the GPU crate) are not tracked.

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
    let mut value =
        git(dir, &["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let watched = [dir.join("../shatter-core"), dir.to_path_buf()];
    let mut status = vec!["status", "--porcelain", "--untracked-files=normal", "--"];
    let paths: Vec<String> = watched.iter().map(|p| p.display().to_string()).collect();
    status.extend(paths.iter().map(String::as_str));
    if value != "unknown" && git(dir, &status).is_some_and(|s| !s.is_empty()) {
        value.push_str("-dirty");
    }
    println!("cargo:rustc-env=SHATTER_GIT_COMMIT={value}");
    for p in &watched {
        println!("cargo:rerun-if-changed={}", p.join("src").display());
        println!("cargo:rerun-if-changed={}", p.join("Cargo.toml").display());
    }
    rerun_on(dir, "index");
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
