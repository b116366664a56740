//! A run directory is replaced as a whole: a write that fails partway leaves the earlier run as
//! it was, a write that succeeds leaves nothing of it, and a folder that is not a run directory
//! is never replaced.

use shatter_lab::run::{replace_dir, RunError};
use std::path::Path;

fn files(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), RunError> {
    std::fs::write(dir.join(name), text).map_err(|source| RunError::Write {
        path: dir.join(name),
        source,
    })
}

#[test]
fn a_failed_write_leaves_the_earlier_run_and_a_good_one_replaces_it_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    replace_dir(&dir, |d| {
        write(d, "run.json", "first")?;
        write(d, "model.npz", "first model")?;
        write(d, "spectrum.csv", "first spectrum")
    })
    .expect("first run");
    let first = files(&dir);
    assert_eq!(first.len(), 3);

    // A second run writes its model, then fails: the first run is untouched, nothing is left.
    let e = replace_dir(&dir, |d| {
        write(d, "model.npz", "second model")?;
        Err(RunError::Write {
            path: d.join("run.json"),
            source: std::io::Error::other("injected failure"),
        })
    })
    .expect_err("the injected failure is returned");
    assert!(e.to_string().contains("injected failure"), "{e}");
    assert_eq!(files(&dir), first, "the earlier run is as it was");
    let siblings: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, vec!["run"], "no temporary folder is left");

    // A third run succeeds: only its files are there (no `spectrum.csv` of the first).
    replace_dir(&dir, |d| {
        write(d, "run.json", "third")?;
        write(d, "model.npz", "third model")
    })
    .expect("third run");
    assert_eq!(
        files(&dir),
        vec![
            ("model.npz".to_string(), "third model".to_string()),
            ("run.json".to_string(), "third".to_string())
        ]
    );
    let siblings: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, vec!["run"], "the old run is removed");
}

#[test]
fn a_folder_that_is_not_a_run_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("papers");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "keep me").unwrap();
    let e = replace_dir(&dir, |d| write(d, "run.json", "run"))
        .expect_err("a folder with other files is not replaced");
    assert!(e.to_string().contains("notes.txt"), "{e}");
    assert_eq!(files(&dir), vec![("notes.txt".into(), "keep me".into())]);
}
