//! The results store: an embedded SQLite database (WAL journal, no server) with one row per run
//! (`runs`: resolved config as columns and JSON, status, timings, summary metrics, model path,
//! device), its trajectory rows (`trajectories`) and per-neuron statistics (`neurons`); models
//! live as `.npz` files in a folder beside the database (`results.db` -> `results.models/`),
//! named by run id and referenced from the run row by a path relative to the database's folder.
//!
//! Crash safety: a run's model is written atomically (temporary file, fsync, rename) before the
//! one transaction that writes its rows, so a killed process leaves either the whole run or
//! none of it (plus, at worst, an unreferenced model or a temporary file that the next writer
//! removes). One writer at a time: a writer holds an exclusive advisory lock on `<db>.lock`
//! (released by the operating system when the process dies, `kill -9` included); a second
//! writer is refused with the holder's pid. Readers never lock; a new store is built under a
//! temporary name and renamed into place, so a reader never sees one without its tables.
//! SQLite has no NaN: NaN is stored as NULL and read back as NaN where the field is not
//! optional.
//!
//! Filtering runs is `query`'s job, combining stores `merge`'s, writing tables `export`'s.

mod merge;
mod query;
mod schema;

pub use merge::MergeReport;
pub use query::{queryable_columns, Filter, FilterError};
/// A value read from the store (`NULL`, integer, real, text).
pub use rusqlite::types::Value as SqlValue;
use schema::create_table_sql;
pub use schema::{
    run_columns, Column, Kind, CONFIG_COLUMNS, NEURON_COLUMNS, RUN_HEAD_COLUMNS, RUN_TAIL_COLUMNS,
    SUMMARY_COLUMNS, TRAJECTORY_COLUMNS,
};

use crate::io::{save_model_npz, IoError};
use crate::run::{RunOutput, Summary};
use crate::spec::RunSpec;
use crate::sweep::Keep;
use fs4::fs_std::FileExt;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use shatter_core::train::Record;
use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Version of the schema below; a store of another version is refused, except version 1,
/// which opening upgrades in place (it lacks the input-hash columns) unless it holds runs on
/// input files, whose ids changed (see `schema::migrate_from_v1`).
pub const SCHEMA_VERSION: i64 = 2;

/// A store that cannot be opened, read or written. Every variant names the database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("{}: {source}", path.display())]
    Sql {
        /// The database.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// Another process writes to this store.
    #[error("{} is in use by another shatter process ({holder}); two writers would race", path.display())]
    Locked {
        /// The database.
        path: PathBuf,
        /// Who holds the lock (`pid N` when known).
        holder: String,
    },
    /// The database does not exist (readers never create one).
    #[error("{}: no such store", path.display())]
    Missing {
        /// The database.
        path: PathBuf,
    },
    /// The database is not a shatter store, or one of another schema version.
    #[error("{}: {message}", path.display())]
    Schema {
        /// The database.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file next to the store (lock, model) could not be used.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing a model failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// A stored JSON document does not parse (the store was edited by hand or is damaged).
    #[error("{}: run {run_id}: {message}", path.display())]
    Corrupt {
        /// The database.
        path: PathBuf,
        /// The run.
        run_id: String,
        /// What does not parse.
        message: String,
    },
    /// Merging would overwrite a run with different numbers.
    #[error("{}: run {run_id} is also in {} with different results ({what}); refusing to merge", source_path.display(), path.display())]
    Conflict {
        /// The store merged into.
        path: PathBuf,
        /// The store merged from.
        source_path: PathBuf,
        /// The run.
        run_id: String,
        /// The first column that differs, with both values.
        what: String,
    },
}

/// The folder of a store's models: `results.db` -> `results.models`.
pub fn models_dir_for(db: &Path) -> PathBuf {
    let stem = db
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "results".into());
    db.with_file_name(format!("{stem}.models"))
}

/// The lock file of a store: `results.db` -> `results.db.lock`.
pub fn lock_path_for(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|s| s.to_os_string()).unwrap_or_default();
    name.push(".lock");
    db.with_file_name(name)
}

/// How a run ended, as stored.
#[derive(Clone, Copy, Debug)]
pub enum Outcome<'a> {
    /// The run finished (completed or diverged).
    Ran(&'a RunOutput),
    /// The run could not be carried out; the message says why.
    Failed(&'a str),
}

/// One run to store.
#[derive(Clone, Copy, Debug)]
pub struct NewRun<'a> {
    /// Its id ([`RunSpec::run_id`]).
    pub run_id: &'a str,
    /// The resolved spec.
    pub spec: &'a RunSpec,
    /// The sweep it belongs to.
    pub sweep: &'a str,
    /// The result.
    pub outcome: Outcome<'a>,
    /// What to keep besides the row.
    pub keep: Keep,
    /// Where it ran (`cpu`).
    pub device: &'a str,
    /// Unix seconds at its start.
    pub started_at: f64,
    /// Unix seconds at its end.
    pub finished_at: f64,
}

/// A stored run, read back.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRun {
    /// Its id.
    pub run_id: String,
    /// Its sweep.
    pub sweep: Option<String>,
    /// `completed`, `diverged` or `failed`.
    pub status: String,
    /// Why it failed.
    pub error: Option<String>,
    /// The resolved spec.
    pub spec: RunSpec,
    /// The summary (absent for failed runs).
    pub summary: Option<Summary>,
    /// The model file, relative to the database's folder.
    pub model_path: Option<String>,
    /// Where it ran.
    pub device: String,
}

/// One row of `neurons`.
#[derive(Clone, Debug, PartialEq)]
pub struct NeuronRow {
    /// Neuron index `k`.
    pub neuron: usize,
    /// Training inputs it is active on.
    pub active_count: usize,
    /// Activation rate.
    pub activation_rate: f64,
    /// `|v_k| ||w_k||`.
    pub amplitude: f64,
    /// `||(w_k, b_k, v_k)||`.
    pub param_norm: f64,
    /// `|b_k| / ||w_k||`.
    pub boundary_offset: f64,
    /// Never active.
    pub dead: bool,
}

/// An open store. Writers hold the lock for as long as the value lives.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    models_dir: PathBuf,
    _lock: Option<File>,
}

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    }
}

fn file_err(path: &Path) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::File {
        path: path.to_path_buf(),
        source,
    }
}

/// Takes the exclusive lock of a store's lock file, writing our pid into it.
fn take_lock(db: &Path) -> Result<File, StoreError> {
    let lock_path = lock_path_for(db);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(file_err(&lock_path))?;
    let got = file.try_lock_exclusive().map_err(file_err(&lock_path))?;
    if !got {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        return Err(StoreError::Locked {
            path: db.to_path_buf(),
            holder: if holder.is_empty() {
                "pid unknown".into()
            } else {
                format!("pid {holder}")
            },
        });
    }
    file.set_len(0).map_err(file_err(&lock_path))?;
    file.rewind().map_err(file_err(&lock_path))?;
    write!(file, "{}", std::process::id()).map_err(file_err(&lock_path))?;
    file.flush().map_err(file_err(&lock_path))?;
    Ok(file)
}

/// A JSON value as an SQL value of the column's kind.
fn sql_value(v: Option<&serde_json::Value>, kind: Kind) -> Value {
    use serde_json::Value as J;
    match (v, kind) {
        (None | Some(J::Null), _) => Value::Null,
        (Some(J::Bool(b)), _) => Value::Integer(i64::from(*b)),
        (Some(J::Number(x)), Kind::Int | Kind::Bool) => match x.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Text(x.to_string()),
        },
        (Some(J::Number(x)), _) => x.as_f64().map(Value::Real).unwrap_or(Value::Null),
        (Some(J::String(s)), _) => Value::Text(s.clone()),
        (Some(other), _) => Value::Text(other.to_string()),
    }
}

/// `f64` as an SQL value; NaN becomes NULL (SQLite would do the same).
fn real(x: f64) -> Value {
    if x.is_nan() {
        Value::Null
    } else {
        Value::Real(x)
    }
}

fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Store {
    /// Opens `path` for writing, creating it (and its models folder) if needed: takes the
    /// store's lock (refusing when another process holds it), sets WAL mode, creates or checks
    /// the schema and removes temporary model files left by a killed writer.
    pub fn open_writer(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(file_err(dir))?;
        }
        let lock = take_lock(path)?;
        if !path.exists() {
            create_new(path)?;
        }
        let conn = Connection::open(path).map_err(sql_err(path))?;
        let e = sql_err(path);
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(&e)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(&e)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(&e)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(&e)?;
        let has_meta: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(&e)?
            > 0;
        if has_meta {
            check_version(&conn, path)?;
        } else {
            let tables: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(&e)?;
            if tables > 0 {
                return Err(StoreError::Schema {
                    path: path.to_path_buf(),
                    message:
                        "is an SQLite database but not a shatter store; choose another --store"
                            .into(),
                });
            }
            create_schema(&conn, path)?;
        }
        let models_dir = models_dir_for(path);
        std::fs::create_dir_all(&models_dir).map_err(file_err(&models_dir))?;
        // Temporary files of atomic writes interrupted by a kill; we hold the lock, so no
        // other writer is using them.
        if let Ok(entries) = std::fs::read_dir(&models_dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(".shatter-") && name.ends_with(".tmp") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            models_dir,
            _lock: Some(lock),
        })
    }

    /// Opens an existing store for reading (no lock: readers may run during a sweep).
    pub fn open_reader(path: &Path) -> Result<Store, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql_err(path))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql_err(path))?;
        check_version(&conn, path)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            models_dir: models_dir_for(path),
            _lock: None,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The models folder.
    pub fn models_dir(&self) -> &Path {
        &self.models_dir
    }

    /// The SQLite connection, for read-only queries (export, filters, tests).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn e(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        sql_err(&self.path)
    }

    /// Ids of runs that need not run again: stored as `completed` or `diverged` (failed runs
    /// are tried again).
    pub fn done_ids(&self) -> Result<HashSet<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT run_id FROM runs WHERE status IN ('completed', 'diverged')")
            .map_err(self.e())?;
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.e())?
            .collect::<Result<HashSet<_>, _>>()
            .map_err(self.e())?;
        Ok(ids)
    }

    /// Every run id, sorted.
    pub fn run_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT run_id FROM runs ORDER BY run_id")
            .map_err(self.e())?;
        let ids = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())?;
        Ok(ids)
    }

    /// Stores one run: writes its model (atomically, when kept), then its row, trajectory and
    /// neurons in one transaction, replacing an earlier attempt of the same run.
    pub fn record(&mut self, run: &NewRun<'_>) -> Result<(), StoreError> {
        let spec_json = serde_json::to_value(run.spec).expect("a spec serialises");
        let (status, error, summary_json, model_path) = match run.outcome {
            Outcome::Failed(msg) => ("failed".to_string(), Some(msg.to_string()), None, None),
            Outcome::Ran(out) => {
                // Kernel ridge regression runs have no network (width 0) to keep.
                let model_path = if run.keep.models && out.model.k > 0 {
                    let file = format!("{}.npz", run.run_id);
                    save_model_npz(&self.models_dir.join(&file), &out.model)?;
                    let dir = self
                        .models_dir
                        .file_name()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    Some(format!("{dir}/{file}"))
                } else {
                    None
                };
                let summary = serde_json::to_value(&out.summary).expect("a summary serialises");
                (
                    out.status.name().to_string(),
                    None,
                    Some(summary),
                    model_path,
                )
            }
        };
        let mut values: Vec<Value> = vec![
            Value::Text(run.run_id.to_string()),
            Value::Text(run.sweep.to_string()),
            Value::Text(status),
            error.map(Value::Text).unwrap_or(Value::Null),
        ];
        for c in CONFIG_COLUMNS {
            values.push(sql_value(spec_json.get(c.name), c.kind));
        }
        for c in SUMMARY_COLUMNS {
            values.push(sql_value(
                summary_json.as_ref().and_then(|s| s.get(c.name)),
                c.kind,
            ));
        }
        values.extend([
            model_path.map(Value::Text).unwrap_or(Value::Null),
            Value::Text(run.device.to_string()),
            Value::Real(run.started_at),
            Value::Real(run.finished_at),
            Value::Text(env!("CARGO_PKG_VERSION").to_string()),
            Value::Text(spec_json.to_string()),
            summary_json
                .map(|s| Value::Text(s.to_string()))
                .unwrap_or(Value::Null),
        ]);
        let columns = run_columns();
        let insert = format!(
            "INSERT OR REPLACE INTO runs ({}) VALUES ({})",
            columns
                .iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
                .join(", "),
            vec!["?"; columns.len()].join(", ")
        );
        let path = self.path.clone();
        let e = sql_err(&path);
        let tx = self.conn.transaction().map_err(&e)?;
        tx.execute("DELETE FROM trajectories WHERE run_id = ?1", [run.run_id])
            .map_err(&e)?;
        tx.execute("DELETE FROM neurons WHERE run_id = ?1", [run.run_id])
            .map_err(&e)?;
        tx.execute(&insert, rusqlite::params_from_iter(values))
            .map_err(&e)?;
        if let Outcome::Ran(out) = run.outcome {
            if run.keep.trajectories {
                let mut stmt = tx
                    .prepare_cached("INSERT INTO trajectories VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                    .map_err(&e)?;
                for r in &out.trajectory {
                    stmt.execute(params![
                        run.run_id,
                        r.epoch as i64,
                        real(r.train_loss),
                        r.test_mse.map(real),
                        r.sharpness.map(real),
                        r.sharpness_err.map(real),
                        real(r.grad_norm),
                        r.clipped
                    ])
                    .map_err(&e)?;
                }
            }
            if run.keep.neurons {
                let n = &out.neurons;
                let mut stmt = tx
                    .prepare_cached("INSERT INTO neurons VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                    .map_err(&e)?;
                for k in 0..n.len() {
                    stmt.execute(params![
                        run.run_id,
                        k as i64,
                        n.active_count.get(k).map(|&c| c as i64),
                        real(n.activation_rate[k]),
                        real(n.amplitude[k]),
                        real(n.param_norm[k]),
                        real(n.offset[k]),
                        n.dead[k]
                    ])
                    .map_err(&e)?;
                }
            }
        }
        tx.commit().map_err(&e)?;
        Ok(())
    }

    /// Reads one run's row.
    pub fn load(&self, run_id: &str) -> Result<Option<StoredRun>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT run_id, sweep, status, error, spec_json, summary_json, model_path, device FROM runs WHERE run_id = ?1",
                [run_id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, Option<String>>(5)?,
                        r.get::<_, Option<String>>(6)?,
                        r.get::<_, String>(7)?,
                    ))
                },
            )
            .optional()
            .map_err(self.e())?;
        let Some((run_id, sweep, status, error, spec, summary, model_path, device)) = row else {
            return Ok(None);
        };
        let corrupt = |message: String| StoreError::Corrupt {
            path: self.path.clone(),
            run_id: run_id.clone(),
            message,
        };
        let spec: RunSpec =
            serde_json::from_str(&spec).map_err(|e| corrupt(format!("spec_json: {e}")))?;
        let summary: Option<Summary> = match summary {
            Some(s) => {
                Some(serde_json::from_str(&s).map_err(|e| corrupt(format!("summary_json: {e}")))?)
            }
            None => None,
        };
        Ok(Some(StoredRun {
            run_id,
            sweep,
            status,
            error,
            spec,
            summary,
            model_path,
            device,
        }))
    }

    /// A run's trajectory rows, by epoch (NULL train loss or gradient norm read back as NaN).
    pub fn trajectory(&self, run_id: &str) -> Result<Vec<Record>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT epoch, train_loss, test_mse, sharpness, sharpness_err, grad_norm, clipped FROM trajectories WHERE run_id = ?1 ORDER BY epoch",
            )
            .map_err(self.e())?;
        let rows = stmt
            .query_map([run_id], |r| {
                Ok(Record {
                    epoch: r.get::<_, i64>(0)? as usize,
                    train_loss: r.get::<_, Option<f64>>(1)?.unwrap_or(f64::NAN),
                    test_mse: r.get(2)?,
                    sharpness: r.get(3)?,
                    sharpness_err: r.get(4)?,
                    grad_norm: r.get::<_, Option<f64>>(5)?.unwrap_or(f64::NAN),
                    clipped: r.get(6)?,
                })
            })
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())?;
        Ok(rows)
    }

    /// A run's neuron rows, by neuron.
    pub fn neurons(&self, run_id: &str) -> Result<Vec<NeuronRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT neuron, active_count, activation_rate, amplitude, param_norm, boundary_offset, dead FROM neurons WHERE run_id = ?1 ORDER BY neuron",
            )
            .map_err(self.e())?;
        let nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
        let rows = stmt
            .query_map([run_id], |r| {
                Ok(NeuronRow {
                    neuron: r.get::<_, i64>(0)? as usize,
                    active_count: r.get::<_, Option<i64>>(1)?.unwrap_or(0) as usize,
                    activation_rate: nan(r.get(2)?),
                    amplitude: nan(r.get(3)?),
                    param_norm: nan(r.get(4)?),
                    boundary_offset: nan(r.get(5)?),
                    dead: r.get(6)?,
                })
            })
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())?;
        Ok(rows)
    }

    /// Counts of runs by status, sorted by status.
    pub fn status_counts(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT status, count(*) FROM runs GROUP BY status ORDER BY status")
            .map_err(self.e())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as usize))
            })
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())?;
        Ok(rows)
    }

    /// SQLite's `PRAGMA integrity_check`: `ok` or the problems found.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let mut stmt = self
            .conn
            .prepare("PRAGMA integrity_check")
            .map_err(self.e())?;
        let lines = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())?;
        Ok(lines.join("\n"))
    }
}

/// Creates the tables in an empty database.
fn create_schema(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let e = sql_err(path);
    let sql = format!(
        "BEGIN;
         CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}'), ('created_by', 'shatter {}');
         {};
         {};
         {};
         CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
         COMMIT;",
        env!("CARGO_PKG_VERSION"),
        create_table_sql("runs", &run_columns(), "run_id"),
        create_table_sql("trajectories", TRAJECTORY_COLUMNS, "run_id, epoch"),
        create_table_sql("neurons", NEURON_COLUMNS, "run_id, neuron"),
    );
    conn.execute_batch(&sql).map_err(&e)?;
    Ok(())
}

/// Creates a new store at `path` (the caller holds its lock): the schema is built in a
/// temporary file beside it, which is renamed into place, so a reader never sees a database
/// without tables.
fn create_new(path: &Path) -> Result<(), StoreError> {
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.creating"));
    for suffix in ["", "-wal", "-shm", "-journal"] {
        // Leftovers of a creation that was killed; we hold the lock.
        let _ = std::fs::remove_file(format!("{}{suffix}", tmp.display()));
    }
    {
        let conn = Connection::open(&tmp).map_err(sql_err(path))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql_err(path))?;
        create_schema(&conn, path)?;
        conn.close().map_err(|(_, e)| sql_err(path)(e))?;
    }
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(file_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(file_err(path))?;
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = File::open(dir) {
            // Makes the rename durable; some file systems refuse, which loses nothing but that.
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn check_version(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| match e {
            rusqlite::Error::SqliteFailure(..) => StoreError::Schema {
                path: path.to_path_buf(),
                message: format!("is not a shatter store ({e})"),
            },
            other => sql_err(path)(other),
        })?;
    match version.as_deref().map(str::parse::<i64>) {
        Some(Ok(SCHEMA_VERSION)) => Ok(()),
        Some(Ok(1)) => schema::migrate_from_v1(path).map_err(|message| StoreError::Schema {
            path: path.to_path_buf(),
            message,
        }),
        Some(Ok(v)) => Err(StoreError::Schema {
            path: path.to_path_buf(),
            message: format!(
                "has schema version {v}, but this shatter reads version {SCHEMA_VERSION}"
            ),
        }),
        _ => Err(StoreError::Schema {
            path: path.to_path_buf(),
            message: "is not a shatter store (no schema version)".into(),
        }),
    }
}

/// Unix seconds now (for run timings).
pub fn unix_now() -> f64 {
    now_unix()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_beside_the_database() {
        let db = Path::new("/tmp/x/results.db");
        assert_eq!(models_dir_for(db), Path::new("/tmp/x/results.models"));
        assert_eq!(lock_path_for(db), Path::new("/tmp/x/results.db.lock"));
    }
}
