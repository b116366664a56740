//! Helpers: run the binary, read its outputs.

use std::path::Path;
use std::process::{Command, Output};

pub fn shatter(args: &[&str]) -> Output {
    shatter_in(Path::new("."), args)
}

/// Runs the binary with `dir` as its working directory.
pub fn shatter_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shatter"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("the shatter binary runs")
}

pub fn ok(args: &[&str]) -> Output {
    ok_in(Path::new("."), args)
}

/// Runs the binary in `dir` and asserts that it succeeded.
pub fn ok_in(dir: &Path, args: &[&str]) -> Output {
    let out = shatter_in(dir, args);
    assert!(
        out.status.success(),
        "shatter {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("valid JSON")
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}
