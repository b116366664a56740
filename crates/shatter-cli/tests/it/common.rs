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

/// Waits until process `pid` catches SIGINT (its Ctrl-C handler is installed), reading
/// `/proc/PID/status`; elsewhere it waits a second.
pub fn wait_for_sigint_handler(pid: u32) {
    let status = format!("/proc/{pid}/status");
    if !std::path::Path::new(&status).exists() {
        std::thread::sleep(std::time::Duration::from_secs(1));
        return;
    }
    for _ in 0..2000 {
        let text = std::fs::read_to_string(&status).unwrap_or_default();
        let caught = text
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .unwrap_or(0);
        if caught & (1 << (2 - 1)) != 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("process {pid} never installed a SIGINT handler");
}

/// Sends SIGINT to `pid` (the shell's `kill -INT`, as Ctrl-C would).
pub fn sigint(pid: u32) {
    let ok = std::process::Command::new("sh")
        .args(["-c", &format!("kill -INT {pid}")])
        .status()
        .expect("sh runs")
        .success();
    assert!(ok, "kill -INT {pid}");
}
