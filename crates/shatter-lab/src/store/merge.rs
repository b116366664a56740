//! Combining stores (`shatter merge A.db B.db --into all.db`): runs and their models are copied
//! into the target; a run already present with the same results is skipped, a failed attempt
//! is replaced by a finished one, and a run present with different results stops the merge
//! before anything is written.

use super::{run_columns, sql_err, Store, StoreError, SUMMARY_COLUMNS};
use crate::io::write_file_atomically;
use rusqlite::types::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a merge did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Runs copied into the target.
    pub added: usize,
    /// Runs already present with identical results.
    pub identical: usize,
    /// Failed runs not copied because the run is present (finished or failed).
    pub skipped_failed: usize,
}

/// Status and summary numbers, the part of a run that must agree between stores (wall time,
/// timestamps and model paths may differ).
fn fingerprint_sql() -> String {
    let mut cols = vec!["status".to_string()];
    cols.extend(
        SUMMARY_COLUMNS
            .iter()
            .filter(|c| c.name != "wall_seconds")
            .map(|c| c.name.to_string()),
    );
    cols.join(", ")
}

type Fingerprints = HashMap<String, Vec<Value>>;

fn fingerprints(store: &Store) -> Result<Fingerprints, StoreError> {
    let sql = format!("SELECT run_id, {} FROM runs", fingerprint_sql());
    let e = sql_err(&store.path);
    let mut stmt = store.conn.prepare(&sql).map_err(&e)?;
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            let id: String = r.get(0)?;
            let rest = (1..n)
                .map(|i| r.get::<_, Value>(i))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((id, rest))
        })
        .map_err(&e)?
        .collect::<Result<HashMap<_, _>, _>>()
        .map_err(&e)?;
    Ok(rows)
}

fn is_done(fp: &[Value]) -> bool {
    matches!(&fp[0], Value::Text(s) if s == "completed" || s == "diverged")
}

fn first_difference(a: &[Value], b: &[Value]) -> String {
    let mut names = vec!["status"];
    names.extend(
        SUMMARY_COLUMNS
            .iter()
            .filter(|c| c.name != "wall_seconds")
            .map(|c| c.name),
    );
    for (i, name) in names.iter().enumerate() {
        if a.get(i) != b.get(i) {
            return format!("{name}: {:?} vs {:?}", a.get(i), b.get(i));
        }
    }
    "unknown".into()
}

impl Store {
    /// Merges `sources` into this store (opened with [`Store::open_writer`]). Every source is
    /// checked first: a run whose status or summary numbers differ from those already in the
    /// target or in an earlier source is a [`StoreError::Conflict`] and nothing is written.
    /// Models are copied atomically, then each source's rows go in one transaction.
    pub fn merge_from(&mut self, sources: &[PathBuf]) -> Result<MergeReport, StoreError> {
        let mut report = MergeReport::default();
        let mut known = fingerprints(self)?;
        let mut plan: Vec<(PathBuf, Vec<String>)> = Vec::new();
        for src_path in sources {
            if super::same_database(src_path, &self.path) {
                return Err(StoreError::SameStore {
                    path: self.path.clone(),
                    source_path: src_path.clone(),
                });
            }
            let src = Store::open_reader(src_path)?;
            let theirs = fingerprints(&src)?;
            let mut ids: Vec<&String> = theirs.keys().collect();
            ids.sort();
            let mut take = Vec::new();
            for id in ids {
                let fp = &theirs[id];
                match known.get(id) {
                    None => take.push(id.clone()),
                    Some(have) if is_done(have) => {
                        if !is_done(fp) {
                            report.skipped_failed += 1;
                        } else if have == fp {
                            report.identical += 1;
                        } else {
                            return Err(StoreError::Conflict {
                                path: self.path.clone(),
                                source_path: src_path.clone(),
                                run_id: id.clone(),
                                what: first_difference(have, fp),
                            });
                        }
                    }
                    Some(_) => {
                        if is_done(fp) {
                            take.push(id.clone());
                        } else {
                            report.skipped_failed += 1;
                        }
                    }
                }
            }
            for id in &take {
                known.insert(id.clone(), theirs[id].clone());
            }
            plan.push((src_path.clone(), take));
        }
        for (src_path, ids) in plan {
            if ids.is_empty() {
                continue;
            }
            report.added += self.copy_runs(&src_path, &ids)?;
        }
        Ok(report)
    }

    fn copy_runs(&mut self, src_path: &Path, ids: &[String]) -> Result<usize, StoreError> {
        let src = Store::open_reader(src_path)?;
        let models_name = self
            .models_dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut new_paths: HashMap<String, Option<String>> = HashMap::new();
        for id in ids {
            let stored = src.load(id)?;
            let model = stored.and_then(|r| r.model_path);
            let new_path = match model {
                Some(rel) => {
                    // By file name in the source's models folder, wherever it was written.
                    let from = src.model_file(&rel);
                    let bytes = std::fs::read(&from).map_err(|source| StoreError::File {
                        path: from.clone(),
                        source,
                    })?;
                    let file = format!("{id}.npz");
                    write_file_atomically(&self.models_dir.join(&file), &bytes)?;
                    Some(format!("{models_name}/{file}"))
                }
                None => None,
            };
            new_paths.insert(id.clone(), new_path);
        }
        // Attached as the reader opened it (read-only; immutable on read-only media).
        let src_uri = src.uri.clone();
        drop(src);
        let path = self.path.clone();
        let e = sql_err(&path);
        self.conn
            .execute("ATTACH DATABASE ?1 AS src", [src_uri.as_str()])
            .map_err(&e)?;
        let result: Result<usize, StoreError> = (|| {
            let cols: Vec<&str> = run_columns().iter().map(|c| c.name).collect();
            let cols = cols.join(", ");
            let tx = self.conn.transaction().map_err(&e)?;
            for id in ids {
                tx.execute("DELETE FROM main.trajectories WHERE run_id = ?1", [id])
                    .map_err(&e)?;
                tx.execute("DELETE FROM main.neurons WHERE run_id = ?1", [id])
                    .map_err(&e)?;
                tx.execute("DELETE FROM main.curvature WHERE run_id = ?1", [id])
                    .map_err(&e)?;
                tx.execute("DELETE FROM main.outliers WHERE run_id = ?1", [id])
                    .map_err(&e)?;
                tx.execute(
                    &format!("INSERT OR REPLACE INTO main.runs ({cols}) SELECT {cols} FROM src.runs WHERE run_id = ?1"),
                    [id],
                )
                .map_err(&e)?;
                tx.execute(
                    "INSERT INTO main.trajectories SELECT * FROM src.trajectories WHERE run_id = ?1",
                    [id],
                )
                .map_err(&e)?;
                tx.execute(
                    "INSERT INTO main.neurons SELECT * FROM src.neurons WHERE run_id = ?1",
                    [id],
                )
                .map_err(&e)?;
                for table in ["curvature", "outliers"] {
                    tx.execute(
                        &format!(
                            "INSERT INTO main.{table} SELECT * FROM src.{table} WHERE run_id = ?1"
                        ),
                        [id],
                    )
                    .map_err(&e)?;
                }
                tx.execute(
                    "UPDATE main.runs SET model_path = ?2 WHERE run_id = ?1",
                    rusqlite::params![id, new_paths.get(id).cloned().flatten()],
                )
                .map_err(&e)?;
            }
            tx.commit().map_err(&e)?;
            Ok(ids.len())
        })();
        let detached = self.conn.execute("DETACH DATABASE src", []).map_err(&e);
        let n = result?;
        detached?;
        Ok(n)
    }
}
