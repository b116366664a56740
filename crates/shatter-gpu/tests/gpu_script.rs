//! `bench/gpu.sh`, the script that checks and times the CUDA backend on a GPU machine, run here
//! without a GPU: every stage runs, fails, is recorded with its exit code, a stage that hangs is
//! stopped at its time limit, and the output folder gets at most six small files. The script
//! is built into the test binary, which also travels to GPU machines (where `bench/gpu.sh`
//! skips this test).

use std::path::Path;
use std::process::Command;

const SCRIPT: &str = include_str!("../../../bench/gpu.sh");

const STAGES: [&str; 10] = [
    "env",
    "tests",
    "sanitizer",
    "reproduce-cod",
    "reproduce-cod-warm",
    "reproduce-cod-one-block",
    "reproduce-cod-unfused",
    "reproduce-shattering",
    "torch-graph",
    "torch-eager",
];

fn executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn tools_present() -> bool {
    ["bash", "timeout"].iter().all(|t| {
        Command::new(t)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
#[allow(clippy::print_stderr)] // A skip outside CI says why.
fn gpu_script_records_every_stage_without_a_gpu() {
    if !tools_present() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have bash and coreutils' timeout"
        );
        eprintln!("skipping: bash or timeout is missing");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("bench")).unwrap();
    std::fs::write(root.join("bench/gpu.sh"), SCRIPT).unwrap();
    let bundle = root.join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    // A test binary that hangs (stopped by the time limit) and a `shatter` that prints far more
    // than a stage keeps, then fails.
    executable(&bundle.join("test-hangs"), "#!/bin/sh\nsleep 300\n");
    executable(
        &bundle.join("shatter"),
        "#!/bin/sh\nhead -c 200000 /dev/zero | tr '\\0' x\necho\necho \"cache=${SHATTER_CUDA_CACHE:+set} fused=${SHATTER_CUDA_FUSED:-default} clusters=${SHATTER_CUDA_CLUSTERS:-default}\"\necho 'no CUDA device here' >&2\nexit 3\n",
    );
    let out = root.join("out");
    let scratch = root.join("tmp");
    std::fs::create_dir_all(&scratch).unwrap();
    let started = std::time::Instant::now();
    let ran = Command::new("bash")
        .arg(root.join("bench/gpu.sh"))
        .arg(&bundle)
        .arg(&out)
        .env("STAGE_TIMEOUT", "4")
        .env("STAGE_BYTES", "2000")
        .env("NVIDIA_SMI", root.join("missing/nvidia-smi"))
        .env("COMPUTE_SANITIZER", root.join("missing/compute-sanitizer"))
        .env("PYTHON", root.join("missing/python3"))
        .env("TMPDIR", &scratch)
        .output()
        .expect("bash runs");
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(ran.status.code(), Some(1), "{log}");
    // Two stages hang for their 4 s (the probe lists the hanging binary's tests, then the
    // tests run it); nothing waits for the full 300 s.
    assert!(started.elapsed().as_secs() < 120, "{log}");

    let summary = std::fs::read_to_string(out.join("summary.txt")).expect("summary.txt");
    let lines: Vec<Vec<&str>> = summary
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), STAGES.len(), "{summary}");
    for (line, name) in lines.iter().zip(STAGES) {
        assert_eq!(line[0], name, "{summary}");
        assert_eq!(line[1], "exit", "{summary}");
        let rc: i32 = line[2].parse().expect("an exit code");
        assert_ne!(rc, 0, "{name} cannot pass without a GPU: {summary}");
    }
    assert_eq!(
        lines[1][2], "124",
        "the hanging test binary times out: {summary}"
    );
    assert_eq!(lines[3][2], "3", "shatter's own exit code: {summary}");

    let files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    assert!(files.len() <= 6, "{} files", files.len());
    // The largest file, reproduce.txt, holds five stages' output cut to 2000 bytes each, and
    // their headers.
    for f in &files {
        let meta = f.metadata().unwrap();
        assert!(meta.is_file(), "{:?} is not a plain file", f.file_name());
        assert!(
            meta.len() < 5 * (2000 + 200),
            "{:?}: {} bytes",
            f.file_name(),
            meta.len()
        );
    }
    let reproduce = std::fs::read_to_string(out.join("reproduce.txt")).unwrap();
    assert!(
        reproduce.contains("=== reproduce-cod: exit 3"),
        "{reproduce}"
    );
    assert!(
        reproduce.contains("cut to the last 2000 bytes"),
        "{reproduce}"
    );
    assert!(reproduce.contains("no CUDA device here"), "{reproduce}");
    assert!(reproduce.contains("cod wall_seconds"), "{reproduce}");
    // cod runs with a kernel cache of its own, then with one block per run, then with the
    // per-epoch kernels.
    let unfused = reproduce
        .split("=== ")
        .find(|s| s.starts_with("reproduce-cod-unfused"))
        .expect("the unfused stage");
    assert!(unfused.contains("cache=set fused=0"), "{unfused}");
    let one_block = reproduce
        .split("=== ")
        .find(|s| s.starts_with("reproduce-cod-one-block"))
        .expect("the one-block stage");
    assert!(
        one_block.contains("fused=default clusters=0"),
        "{one_block}"
    );
    let warm = reproduce
        .split("=== ")
        .find(|s| s.starts_with("reproduce-cod-warm"))
        .expect("the warm stage");
    assert!(
        warm.contains("cache=set fused=default clusters=default"),
        "{warm}"
    );
    let env = std::fs::read_to_string(out.join("env.txt")).unwrap();
    assert!(env.contains("LD_LIBRARY_PATH="), "{env}");
    let torch = std::fs::read_to_string(out.join("torch.txt")).unwrap();
    assert!(
        torch.contains("torch-graph: exit 127") && torch.contains("torch-eager: exit 127"),
        "{torch}"
    );
    // The scratch folder (reproduce trees, stage logs) is gone.
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);

    // A second run into the same folder replaces the files instead of appending.
    let again = Command::new("bash")
        .arg(root.join("bench/gpu.sh"))
        .arg(&bundle)
        .arg(&out)
        .env("STAGE_TIMEOUT", "1")
        .env("NVIDIA_SMI", root.join("missing/nvidia-smi"))
        .env("COMPUTE_SANITIZER", root.join("missing/compute-sanitizer"))
        .env("PYTHON", root.join("missing/python3"))
        .env("TMPDIR", &scratch)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    let summary = std::fs::read_to_string(out.join("summary.txt")).unwrap();
    assert_eq!(summary.lines().count(), STAGES.len(), "{summary}");
}
