//! Bad input is a table: arguments and file contents, the exit code, and words the message must
//! contain. Never a panic.

use crate::common::{path_str, shatter};
use std::path::{Path, PathBuf};

struct Case {
    args: Vec<String>,
    code: i32,
    words: Vec<&'static str>,
}

fn case(args: &[&str], code: i32, words: &[&'static str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        code,
        words: words.to_vec(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    path_str(&p).to_string()
}

#[test]
fn bad_input_gets_a_clear_error_and_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let unknown = write(d, "unknown.toml", "lr = 0.5\nlearning_rate = 0.1\n");
    let range = write(d, "range.toml", "d = 3\n\nwidth = 0\n");
    let typed = write(d, "typed.toml", "n = \"many\"\n");
    let nan = write(d, "nan.csv", "x1,x2,y\n0.1,0.2,1.0\n0.3,NaN,0.5\n");
    let ragged = write(d, "ragged.csv", "0.1,0.2,1.0\n0.3,0.5\n");
    let empty = write(d, "empty.csv", "");
    let good = write(d, "good.csv", "0.1,0.2,1.0\n0.3,0.4,0.5\n0.5,0.1,0.2\n");
    let out = path_str(&d.join("out")).to_string();
    let cases = vec![
        case(&["train", "--lr", "-1"], 2, &["lr = -1", "out of range"]),
        case(
            &["construct", "--offset", "1.2"],
            2,
            &["--offset", "(0, 1)"],
        ),
        case(
            &["construct", "--offset", "0"],
            2,
            &["--offset", "offset = 0"],
        ),
        case(&["construct", "--d", "0"], 2, &["--d", "d = 0"]),
        case(&["construct", "--amplitude", "-1"], 2, &["--amplitude"]),
        case(&["construct", "--budget", "0"], 2, &["--budget"]),
        case(&["construct", "--patience", "0"], 2, &["--patience"]),
        case(&["construct", "--max-caps", "0"], 2, &["--max-caps"]),
        case(&["construct", "--n", "0"], 2, &["--n 0"]),
        case(
            &["train", "--activation", "tanh"],
            2,
            &["activation", "relu or gelu"],
        ),
        case(
            &["train", "--loss", "hinge"],
            2,
            &["loss", "square, mse or logistic"],
        ),
        case(&["train", "--d", "3", "--input", "interval"], 2, &["d = 1"]),
        case(&["train", "--momentum", "1.5"], 2, &["momentum", "[0, 1)"]),
        case(&["train", "--width", "0"], 2, &["width", "at least 1"]),
        case(&["train", "--no-such-flag"], 2, &["--no-such-flag"]),
        case(&["train", "--epochs", "ten"], 2, &["ten", "--epochs"]),
        case(
            &["train", "--config", &unknown],
            2,
            &["unknown.toml", "learning_rate", "line 2"],
        ),
        case(
            &["train", "--config", &range],
            2,
            &["range.toml:3:", "width = 0"],
        ),
        case(&["train", "--config", &typed], 2, &["typed.toml", "line 1"]),
        case(
            &["train", "--config", "/nonexistent/run.toml"],
            1,
            &["/nonexistent/run.toml"],
        ),
        case(
            &[
                "train", "--data", &nan, "--d", "2", "--epochs", "1", "--out", &out,
            ],
            1,
            &["nan.csv:3", "NaN"],
        ),
        case(
            &[
                "train", "--data", &ragged, "--d", "2", "--epochs", "1", "--out", &out,
            ],
            1,
            &["ragged.csv:2"],
        ),
        case(
            &[
                "train", "--data", &empty, "--d", "2", "--epochs", "1", "--out", &out,
            ],
            1,
            &["empty.csv"],
        ),
        case(
            &[
                "train", "--data", &good, "--d", "3", "--epochs", "1", "--out", &out,
            ],
            1,
            &["good.csv", "3"],
        ),
        case(
            &["train", "--data", &good, "--d", "2", "--sigma", "0.5"],
            2,
            &["sigma", "data"],
        ),
        case(
            &[
                "train",
                "--data",
                &good,
                "--d",
                "2",
                "--batch-size",
                "10",
                "--epochs",
                "1",
                "--out",
                &out,
            ],
            1,
            &["batch_size", "good.csv"],
        ),
        case(
            &[
                "train",
                "--init-from",
                "/nonexistent/model.npz",
                "--epochs",
                "1",
                "--out",
                &out,
            ],
            1,
            &["/nonexistent/model.npz"],
        ),
        case(
            &[
                "train",
                "--init-from",
                &good,
                "--epochs",
                "1",
                "--out",
                &out,
            ],
            1,
            &["good.csv"],
        ),
        case(
            &["inspect", "/nonexistent/model.npz", "--data", &good],
            1,
            &["/nonexistent/model.npz"],
        ),
        case(
            &[
                "inspect",
                "/nonexistent/model.npz",
                "--data",
                &good,
                "--loss",
                "hinge",
            ],
            2,
            &["--loss", "hinge"],
        ),
        case(&["theory", "--d", "0"], 2, &["--d"]),
        // Models with NaN or infinite weights, refused on load by both readers.
        case(
            &[
                "train",
                "--init-from",
                &fixture("nan_weight_model.npz"),
                "--d",
                "2",
                "--width",
                "4",
                "--epochs",
                "1",
                "--out",
                &out,
            ],
            1,
            &["nan_weight_model.npz", "W[1, 0] is NaN"],
        ),
        case(
            &[
                "train",
                "--init-from",
                &fixture("inf_weight_model.npz"),
                "--d",
                "2",
                "--width",
                "4",
                "--epochs",
                "1",
                "--out",
                &out,
            ],
            1,
            &["inf_weight_model.npz", "v[2] is inf"],
        ),
        case(
            &["inspect", &fixture("nan_weight_model.npz"), "--data", &good],
            1,
            &["nan_weight_model.npz", "W[1, 0] is NaN"],
        ),
        case(
            &["inspect", &fixture("inf_weight_model.npz"), "--data", &good],
            1,
            &["inf_weight_model.npz", "v[2] is inf"],
        ),
        case(
            &[
                "--threads",
                "100000",
                "train",
                "--epochs",
                "1",
                "--out",
                &out,
            ],
            2,
            &["--threads", "100000", "1024"],
        ),
        case(&["bench", "--seconds", "nan"], 2, &["--seconds", "NaN"]),
        case(&["bench", "--seconds", "0"], 2, &["--seconds", "above 0"]),
        case(&["bench", "--seconds", "1e9"], 2, &["--seconds", "3600"]),
    ];
    for c in cases {
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let o = shatter(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            o.status.code(),
            Some(c.code),
            "shatter {args:?}: exit code\n{err}"
        );
        assert!(
            !err.contains("panicked"),
            "shatter {args:?} panicked:\n{err}"
        );
        for w in &c.words {
            assert!(
                err.contains(w),
                "shatter {args:?}: message lacks {w:?}:\n{err}"
            );
        }
    }
}

/// A file of `tests/data` (see its README).
fn fixture(name: &str) -> String {
    let p = data_dir().join(name);
    assert!(p.exists(), "{} is missing", p.display());
    path_str(&p).to_string()
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// The exact text of a set of error messages (`tests/golden/errors.txt`): each cause once, the
/// flag or file named, the exit code. Temporary and fixture folders are written `$TMP` and
/// `$DATA`. `UPDATE_GOLDEN=1` rewrites the file; review the diff.
#[test]
fn error_messages_match_their_golden_text() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = write(d, "good.csv", "0.1,0.2,1.0\n0.3,0.4,0.5\n0.5,0.1,0.2\n");
    let out = path_str(&d.join("out")).to_string();
    let missing = path_str(&d.join("missing.toml")).to_string();
    let nan = fixture("nan_weight_model.npz");
    let inf = fixture("inf_weight_model.npz");
    let cases: Vec<Vec<&str>> = vec![
        vec!["train", "--config", &missing],
        vec![
            "train",
            "--init-from",
            "/nonexistent/model.npz",
            "--epochs",
            "1",
            "--out",
            &out,
        ],
        vec!["train", "--epochs", "ten"],
        vec![
            "train",
            "--init-from",
            &nan,
            "--d",
            "2",
            "--width",
            "4",
            "--epochs",
            "1",
            "--out",
            &out,
        ],
        vec!["inspect", &inf, "--data", &good],
        vec!["--threads", "100000", "train", "--epochs", "1"],
        vec!["bench", "--seconds", "nan"],
    ];
    let data = data_dir();
    let (data, tmp) = (path_str(&data), path_str(d));
    let mut text = String::new();
    for args in &cases {
        let o = shatter(args);
        let err = String::from_utf8_lossy(&o.stderr);
        // Every line of the message says each thing once.
        for line in err.lines() {
            for cause in ["No such file or directory", "is NaN", "is inf"] {
                assert!(
                    line.matches(cause).count() <= 1,
                    "shatter {args:?}: {cause:?} repeated in {line:?}"
                );
            }
        }
        let shown = |s: &str| s.replace(data, "$DATA").replace(tmp, "$TMP");
        text.push_str(&format!(
            "$ shatter {}\nexit {}\n{}\n",
            shown(&args.join(" ")),
            o.status
                .code()
                .map_or("signal".to_string(), |c| c.to_string()),
            shown(err.trim_end())
        ));
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/errors.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing: run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(
        text, want,
        "error messages changed; review and rerun with UPDATE_GOLDEN=1 if intended"
    );
}
