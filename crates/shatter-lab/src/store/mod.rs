//! The results store: an embedded SQLite database (WAL journal, no server) with one row per run
//! (`runs`: resolved config as columns and JSON, status, timings, summary metrics, model path,
//! device), its trajectory rows (`trajectories`) and per-neuron statistics (`neurons`); models
//! live as `.npz` files in a folder beside the database (`results.db` -> `results.models/`),
//! named by run id and referenced from the run row by a path relative to the database's folder.
//!
//! Crash safety: a run's model is written atomically (temporary file, fsync, rename) before the
//! transaction that writes its rows, so a killed process leaves either the whole run or
//! none of it (plus, at worst, an unreferenced model or a temporary file that the next writer
//! removes). Several runs may share one transaction ([`Store::record_many`], the sweeps' group
//! commits). One writer at a time: a writer holds an exclusive advisory lock on `<db>.lock`
//! beside the database's real file (symbolic links resolved) and one on the database file
//! itself (so a hard link, another name of the same file, is refused too); both are released
//! by the operating system when the process dies, `kill -9` included; a second writer is
//! refused with the holder's pid when known. Readers never lock and never write: they open the
//! database read-only, and on read-only media (or a folder without write permission) as
//! immutable. A new store is built under a temporary name and renamed into place, so a reader
//! never sees one without its tables. Model paths are resolved by file name inside the store's
//! current models folder, so a store renamed together with its models folder still finds them.
//! A run whose model file is missing or unreadable is not done ([`Store::done_ids`]) and is
//! listed by [`Store::unusable_models`]. SQLite has no NaN: NaN is stored as NULL and read back
//! as NaN where the field is not optional.
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
    run_columns, Column, Kind, CONFIG_COLUMNS, CURVATURE_COLUMNS, NEURON_COLUMNS, OUTLIER_COLUMNS,
    RUN_HEAD_COLUMNS, RUN_TAIL_COLUMNS, SUMMARY_COLUMNS, TRAJECTORY_COLUMNS,
};

use crate::io::{read_result_model_npz, save_model_npz, IoError, ModelArrays};
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
/// which opening upgrades in place (it lacks the input-hash and neuron-class columns) unless it holds runs on
/// input files, whose ids changed (see `schema::migrate_from_v1`).
pub const SCHEMA_VERSION: i64 = 3;

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
    /// The store exists but cannot be read (a file system error, or a write-ahead log that
    /// a read-only folder keeps SQLite from using).
    #[error("{}: cannot read the store: {message}", path.display())]
    Unreadable {
        /// The database.
        path: PathBuf,
        /// What went wrong and what to do.
        message: String,
    },
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
    /// A store named as a source of a merge is the target itself (perhaps through a link).
    #[error("{} is the store merged into ({}), under another name", source_path.display(), path.display())]
    SameStore {
        /// The store merged into.
        path: PathBuf,
        /// The source that is the same file.
        source_path: PathBuf,
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

/// The lock file of a store: `results.db` -> `results.db.lock`. Writers take it beside the
/// database's real file ([`real_db_path`]), so every symbolic link to a store shares one lock.
pub fn lock_path_for(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|s| s.to_os_string()).unwrap_or_default();
    name.push(".lock");
    db.with_file_name(name)
}

/// The file a database path names: absolute, with symbolic links resolved (those of the last
/// component followed one by one, so a link to a store that does not exist yet names the file
/// it will create; the folder canonicalised). The folder must exist. Hard links are other
/// names of the same file and stay as given; the writer's lock on the file itself covers them.
pub fn real_db_path(db: &Path) -> std::io::Result<PathBuf> {
    let mut p = std::path::absolute(db)?;
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) => dir.join(target),
                    None => target,
                };
            }
            _ => break,
        }
    }
    let name = p
        .file_name()
        .map(|s| s.to_os_string())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let dir = p.parent().unwrap_or(Path::new("/")).canonicalize()?;
    Ok(dir.join(name))
}

/// Whether two paths name the same database file (same device and inode on Unix, so through
/// symbolic and hard links alike; the same real path elsewhere). False when either is missing.
pub fn same_database(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        match (a.canonicalize(), b.canonicalize()) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
    }
}

/// How a run ended, as stored.
#[derive(Clone, Copy, Debug)]
pub enum Outcome<'a> {
    /// The run finished (completed or diverged).
    Ran(&'a RunOutput),
    /// The run could not be carried out; the message says why.
    Failed(&'a str),
}

/// Who writes a run's model file.
#[derive(Clone, Copy, Debug)]
pub enum ModelFile<'a> {
    /// [`Store::record`] writes it (when `keep.models` and the run has a network).
    ToWrite,
    /// The caller wrote it already with [`ModelSaver::save`], which returned this
    /// `model_path` (`None`: no model kept).
    Saved(Option<&'a str>),
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
    /// Whether its model file is still to write.
    pub model: ModelFile<'a>,
}

/// One stored curvature record (the `curvature` table joined with its `outliers`).
#[derive(Clone, Debug, PartialEq)]
pub struct CurvatureRow {
    /// Epochs completed.
    pub epoch: usize,
    /// The absolute threshold (`outlier_threshold / lr`), when outliers were tracked.
    pub outlier_threshold: Option<f64>,
    /// How many eigenvalues lie above it.
    pub outlier_count: Option<usize>,
    /// Whether the count is certified (no eigenvalue above the threshold missed).
    pub outliers_complete: Option<bool>,
    /// Upper bound on every eigenvalue not counted.
    pub missed_bound: Option<f64>,
    /// `||R||_F` of the outliers' Ritz vectors.
    pub block_bound: Option<f64>,
    /// Hutch++ trace estimate.
    pub trace: Option<f64>,
    /// Its standard error.
    pub trace_err: Option<f64>,
    /// The outliers, descending: `(value, certified error bound)`.
    pub outliers: Vec<(f64, f64)>,
}

/// Writes model files into a store's models folder from any thread, so that workers can put a
/// finished run's model in place before handing the run to the store's one writer (see
/// [`ModelFile::Saved`]). Obtained from [`Store::model_saver`].
#[derive(Clone, Debug)]
pub struct ModelSaver {
    models_dir: PathBuf,
}

impl ModelSaver {
    /// Writes the model of run `run_id` atomically (temporary file, fsync, rename) as
    /// `<models folder>/<run_id>.npz` when `keep_models` and the model has a network (kernel
    /// ridge regression runs have none); returns the `model_path` to store with the run.
    pub fn save(
        &self,
        run_id: &str,
        model: &ModelArrays,
        keep_models: bool,
    ) -> Result<Option<String>, StoreError> {
        if !keep_models || model.k == 0 {
            return Ok(None);
        }
        let file = format!("{run_id}.npz");
        save_model_npz(&self.models_dir.join(&file), model)?;
        let dir = self
            .models_dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Some(format!("{dir}/{file}")))
    }
}

/// A finished run whose stored model file cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnusableModel {
    /// The run.
    pub run_id: String,
    /// Where its model was looked for.
    pub path: PathBuf,
    /// Why it cannot be used (missing, truncated, not a model).
    pub problem: String,
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
    /// The model file as stored (relative to the database's folder when it was written);
    /// [`Store::model_file`] says where it is now.
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

/// An open store. Writers hold the locks for as long as the value lives.
pub struct Store {
    // Dropped first: SQLite's own locks on the database go before the descriptor below is
    // closed (closing any descriptor of a file drops the process's POSIX locks on it).
    conn: Connection,
    path: PathBuf,
    models_dir: PathBuf,
    /// How SQLite opened the database (a `file:` URI), for `ATTACH` by a merge.
    uri: String,
    _lock: Option<File>,
    _db_lock: Option<File>,
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

/// Takes the exclusive lock of a store's lock file, writing our pid into it. `real` is the
/// database's real path ([`real_db_path`]), `db` the one given (for messages).
fn take_lock(real: &Path, db: &Path) -> Result<File, StoreError> {
    let lock_path = lock_path_for(real);
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

/// Takes an exclusive advisory (`flock`) lock on the database file itself, which every name of
/// the file shares (hard links included). Independent of SQLite's own (POSIX) locks on Linux
/// and the BSDs. Must be taken before SQLite opens the file in this process, and the
/// descriptor kept open for as long as SQLite uses it.
fn take_db_lock(real: &Path, db: &Path) -> Result<File, StoreError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .open(real)
        .map_err(file_err(real))?;
    if !file.try_lock_exclusive().map_err(file_err(real))? {
        // Closing this descriptor would drop every POSIX lock this process holds on the file,
        // those of a SQLite connection to it included; one descriptor is leaked instead.
        std::mem::forget(file);
        return Err(StoreError::Locked {
            path: db.to_path_buf(),
            holder: "through another name of the same file (a hard link); pid unknown".into(),
        });
    }
    Ok(file)
}

/// A `file:` URI for `path` with query `query` (`mode=ro`, `immutable=1`).
fn file_uri(path: &Path, query: &str) -> String {
    let mut uri = String::from("file:");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{uri}?{query}")
}

/// Whether a file's permissions allow no writing at all (every write bit clear).
fn no_write_permission(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.permissions().readonly())
}

/// Opens `real` read-only without ever writing to its folder: where the folder or the file
/// has no write permission, as `immutable` (SQLite neither locks nor creates `-shm`/`-wal`
/// files; only safe because no writer can work in such a folder); otherwise read-only with
/// WAL sharing (a sweep may be writing), falling back to `immutable` when the file system
/// refuses (read-only media). A write-ahead log with data that cannot be used is an error,
/// not a silently older store.
fn open_read_only(real: &Path, db: &Path) -> Result<(Connection, String), StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let folder = real.parent().unwrap_or(Path::new("/"));
    let wal = PathBuf::from(format!("{}-wal", real.display()));
    let wal_has_data = std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
    let read_only_media = no_write_permission(folder) || no_write_permission(real);
    let immutable = || -> Result<(Connection, String), StoreError> {
        if wal_has_data {
            return Err(StoreError::Unreadable {
                path: db.to_path_buf(),
                message: format!(
                    "its write-ahead log {} holds runs not yet in the database, and the folder is read-only; copy the store (database, -wal file and models folder) to a writable folder and read it there",
                    wal.display()
                ),
            });
        }
        let uri = file_uri(real, "immutable=1");
        let conn = Connection::open_with_flags(&uri, flags).map_err(sql_err(db))?;
        Ok((conn, uri))
    };
    if read_only_media {
        return immutable();
    }
    let uri = file_uri(real, "mode=ro");
    let conn = Connection::open_with_flags(&uri, flags).map_err(sql_err(db))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(sql_err(db))?;
    // SQLite opens lazily: the first read shows whether the WAL index can be used.
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => Ok((conn, uri)),
        Err(rusqlite::Error::SqliteFailure(f, _))
            if matches!(
                f.code,
                rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly
            ) =>
        {
            drop(conn);
            immutable()
        }
        Err(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::NotADatabase =>
        {
            Err(StoreError::Schema {
                path: db.to_path_buf(),
                message: "is not a shatter store (not an SQLite database)".into(),
            })
        }
        Err(e) => Err(sql_err(db)(e)),
    }
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
        let real = real_db_path(path).map_err(file_err(path))?;
        let lock = take_lock(&real, path)?;
        if !real.exists() {
            create_new(&real)?;
        }
        let db_lock = take_db_lock(&real, path)?;
        let conn = Connection::open(&real).map_err(sql_err(path))?;
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
        let models_dir = models_dir_for(&real);
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
            uri: file_uri(&real, "mode=ro"),
            _lock: Some(lock),
            _db_lock: Some(db_lock),
        })
    }

    /// Opens an existing store for reading (no lock: readers may run during a sweep). Never
    /// writes: the database is opened read-only, and as immutable where its folder or file
    /// has no write permission or the file system is read-only (see the module notes).
    pub fn open_reader(path: &Path) -> Result<Store, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let real = real_db_path(path).map_err(file_err(path))?;
        let (conn, uri) = open_read_only(&real, path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql_err(path))?;
        check_version(&conn, path)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            models_dir: models_dir_for(&real),
            uri,
            _lock: None,
            _db_lock: None,
        })
    }

    /// Opens an existing store for reading only when no writer holds it, and keeps writers
    /// out while the returned store lives: a shared advisory lock on its lock file, the one a
    /// writer takes exclusively. `Ok(None)` when a writer holds the store. For readers on
    /// another machine than a possible writer (a cluster's shared file system): SQLite's WAL
    /// index is shared memory, coherent only between processes of one machine, so such a
    /// reader must never overlap a writer. Relies on the file system making `flock` locks
    /// visible to every machine (NFS on Linux does, emulating them with byte-range locks); a
    /// writer that starts while this store is open is refused as [`StoreError::Locked`].
    /// A store without a lock file (never written here, or copied) is opened like
    /// [`Store::open_reader`].
    pub fn open_reader_idle(path: &Path) -> Result<Option<Store>, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let real = real_db_path(path).map_err(file_err(path))?;
        let lock_path = lock_path_for(&real);
        let lock = match File::open(&lock_path) {
            Ok(file) => {
                if !FileExt::try_lock_shared(&file).map_err(file_err(&lock_path))? {
                    return Ok(None);
                }
                Some(file)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(file_err(&lock_path)(e)),
        };
        let mut store = Store::open_reader(path)?;
        store._lock = lock;
        Ok(Some(store))
    }

    /// Writes model files for this store from any thread (see [`ModelFile::Saved`]).
    pub fn model_saver(&self) -> ModelSaver {
        ModelSaver {
            models_dir: self.models_dir.clone(),
        }
    }

    /// Where a stored `model_path` is now: its file name inside this store's models folder.
    /// Stores renamed with their models folder (whose paths still name the old folder) and
    /// stores written by older versions resolve the same way.
    pub fn model_file(&self, model_path: &str) -> PathBuf {
        let name = Path::new(model_path)
            .file_name()
            .map(|s| s.to_os_string())
            .unwrap_or_else(|| model_path.into());
        self.models_dir.join(name)
    }

    /// Loads the model of a stored run, if it kept one.
    pub fn load_model(&self, run: &StoredRun) -> Option<Result<ModelArrays, IoError>> {
        let rel = run.model_path.as_deref()?;
        Some(read_result_model_npz(&self.model_file(rel)))
    }

    /// The finished (completed or diverged) runs whose model file is missing or cannot be
    /// read as a model, by run id. Reads every stored model (a few kB each).
    pub fn unusable_models(&self) -> Result<Vec<UnusableModel>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT run_id, model_path FROM runs WHERE model_path IS NOT NULL AND status IN ('completed', 'diverged') ORDER BY run_id",
            )
            .map_err(self.e())?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.e())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(self.e())?;
        let mut out = Vec::new();
        for (run_id, rel) in rows {
            let path = self.model_file(&rel);
            if let Err(e) = read_result_model_npz(&path) {
                out.push(UnusableModel {
                    run_id,
                    path,
                    problem: e.to_string(),
                });
            }
        }
        Ok(out)
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

    /// Ids of runs that need not run again: stored as `completed` or `diverged` with their
    /// model file usable when they kept one (failed runs, and runs whose model is missing or
    /// damaged, see [`Store::unusable_models`], are run again).
    pub fn done_ids(&self) -> Result<HashSet<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT run_id FROM runs WHERE status IN ('completed', 'diverged')")
            .map_err(self.e())?;
        let mut ids = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(self.e())?
            .collect::<Result<HashSet<_>, _>>()
            .map_err(self.e())?;
        for bad in self.unusable_models()? {
            ids.remove(&bad.run_id);
        }
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

    /// Stores one run: writes its model (atomically, when kept and not already written),
    /// then its row, trajectory and neurons in one transaction, replacing an earlier attempt
    /// of the same run.
    pub fn record(&mut self, run: &NewRun<'_>) -> Result<(), StoreError> {
        self.record_many(std::slice::from_ref(run))
    }

    /// Stores several runs in one transaction (a group commit: one fsync for all): first
    /// writes the models still to write, each atomically, so that every model file is in
    /// place before the transaction that references it; then every run's row, trajectory
    /// and neurons, replacing earlier attempts. Either all the runs are stored or none.
    pub fn record_many(&mut self, runs: &[NewRun<'_>]) -> Result<(), StoreError> {
        if runs.is_empty() {
            return Ok(());
        }
        let saver = self.model_saver();
        let mut rows = Vec::with_capacity(runs.len());
        for run in runs {
            let model_path = match (run.model, run.outcome) {
                (ModelFile::Saved(p), _) => p.map(str::to_string),
                (ModelFile::ToWrite, Outcome::Ran(out)) => {
                    saver.save(run.run_id, &out.model, run.keep.models)?
                }
                (ModelFile::ToWrite, Outcome::Failed(_)) => None,
            };
            rows.push(run_row(run, model_path));
        }
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
        for (run, values) in runs.iter().zip(rows) {
            insert_run(&tx, run, values, &insert).map_err(&e)?;
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

    /// Curvature rows of a run (empty when it measured none, or its trajectories were not
    /// kept), in epoch order, each with its outliers (descending).
    pub fn curvature(&self, run_id: &str) -> Result<Vec<CurvatureRow>, StoreError> {
        let e = self.e();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT epoch, outlier_threshold, outlier_count, outliers_complete, missed_bound, block_bound, trace, trace_err FROM curvature WHERE run_id = ?1 ORDER BY epoch",
            )
            .map_err(&e)?;
        let mut rows: Vec<CurvatureRow> = stmt
            .query_map([run_id], |r| {
                Ok(CurvatureRow {
                    epoch: r.get::<_, i64>(0)? as usize,
                    outlier_threshold: r.get(1)?,
                    outlier_count: r.get::<_, Option<i64>>(2)?.map(|c| c as usize),
                    outliers_complete: r.get(3)?,
                    missed_bound: r.get(4)?,
                    block_bound: r.get(5)?,
                    trace: r.get(6)?,
                    trace_err: r.get(7)?,
                    outliers: Vec::new(),
                })
            })
            .map_err(&e)?
            .collect::<Result<_, _>>()
            .map_err(&e)?;
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT epoch, value, error_bound FROM outliers WHERE run_id = ?1 ORDER BY epoch, rank",
            )
            .map_err(&e)?;
        let values: Vec<(usize, f64, f64)> = stmt
            .query_map([run_id], |r| {
                Ok((r.get::<_, i64>(0)? as usize, r.get(1)?, r.get(2)?))
            })
            .map_err(&e)?
            .collect::<Result<_, _>>()
            .map_err(&e)?;
        for (epoch, value, bound) in values {
            if let Some(row) = rows.iter_mut().find(|row| row.epoch == epoch) {
                row.outliers.push((value, bound));
            }
        }
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

/// The `runs` row of a run, in [`run_columns`] order.
fn run_row(run: &NewRun<'_>, model_path: Option<String>) -> Vec<Value> {
    let spec_json = serde_json::to_value(run.spec).expect("a spec serialises");
    let (status, error, summary_json) = match run.outcome {
        Outcome::Failed(msg) => ("failed".to_string(), Some(msg.to_string()), None),
        Outcome::Ran(out) => {
            let summary = serde_json::to_value(&out.summary).expect("a summary serialises");
            (out.status.name().to_string(), None, Some(summary))
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
    values
}

/// Replaces one run's rows inside the transaction `tx`.
fn insert_run(
    tx: &rusqlite::Transaction<'_>,
    run: &NewRun<'_>,
    values: Vec<Value>,
    insert: &str,
) -> Result<(), rusqlite::Error> {
    tx.execute("DELETE FROM trajectories WHERE run_id = ?1", [run.run_id])?;
    tx.execute("DELETE FROM neurons WHERE run_id = ?1", [run.run_id])?;
    tx.execute("DELETE FROM curvature WHERE run_id = ?1", [run.run_id])?;
    tx.execute("DELETE FROM outliers WHERE run_id = ?1", [run.run_id])?;
    tx.execute(insert, rusqlite::params_from_iter(values))?;
    if let Outcome::Ran(out) = run.outcome {
        if run.keep.trajectories {
            let mut stmt =
                tx.prepare_cached("INSERT INTO trajectories VALUES (?, ?, ?, ?, ?, ?, ?, ?)")?;
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
                ])?;
            }
            let mut stmt =
                tx.prepare_cached("INSERT INTO curvature VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")?;
            let mut values = tx.prepare_cached("INSERT INTO outliers VALUES (?, ?, ?, ?, ?)")?;
            for c in &out.curvature {
                let o = c.outliers.as_ref();
                stmt.execute(params![
                    run.run_id,
                    c.epoch as i64,
                    o.map(|o| real(o.threshold)),
                    o.map(|o| o.count() as i64),
                    o.map(|o| o.complete),
                    o.map(|o| real(o.missed_bound)),
                    o.map(|o| real(o.block_bound)),
                    c.trace.map(|t| real(t.mean)),
                    c.trace.map(|t| real(t.standard_error)),
                ])?;
                for (rank, v) in o.map(|o| &o.values[..]).unwrap_or(&[]).iter().enumerate() {
                    values.execute(params![
                        run.run_id,
                        c.epoch as i64,
                        rank as i64,
                        real(v.value),
                        real(v.error_bound)
                    ])?;
                }
            }
        }
        if run.keep.neurons {
            let n = &out.neurons;
            let mut stmt =
                tx.prepare_cached("INSERT INTO neurons VALUES (?, ?, ?, ?, ?, ?, ?, ?)")?;
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
                ])?;
            }
        }
    }
    Ok(())
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
         {};
         {};
         CREATE INDEX IF NOT EXISTS runs_status ON runs (status);
         COMMIT;",
        env!("CARGO_PKG_VERSION"),
        create_table_sql("runs", &run_columns(), "run_id"),
        create_table_sql("trajectories", TRAJECTORY_COLUMNS, "run_id, epoch"),
        create_table_sql("neurons", NEURON_COLUMNS, "run_id, neuron"),
        create_table_sql("curvature", CURVATURE_COLUMNS, "run_id, epoch"),
        create_table_sql("outliers", OUTLIER_COLUMNS, "run_id, epoch, rank"),
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
        .map_err(|e| match &e {
            // No `meta` table, or not an SQLite file at all.
            rusqlite::Error::SqliteFailure(f, msg)
                if f.code == rusqlite::ErrorCode::NotADatabase
                    || msg.as_deref().is_some_and(|m| m.contains("no such table")) =>
            {
                StoreError::Schema {
                    path: path.to_path_buf(),
                    message: format!("is not a shatter store ({e})"),
                }
            }
            // Anything else (permissions, a locked or unreadable file) is not about what the
            // file is.
            _ => StoreError::Unreadable {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
        })?;
    match version.as_deref().map(str::parse::<i64>) {
        Some(Ok(SCHEMA_VERSION)) => Ok(()),
        Some(Ok(1)) => schema::migrate_from_v1(path).map_err(|message| StoreError::Schema {
            path: path.to_path_buf(),
            message,
        }),
        Some(Ok(2)) => schema::migrate_to_v3(path).map_err(|message| StoreError::Schema {
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

    #[test]
    fn an_idle_reader_waits_for_no_writer_and_keeps_writers_out() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("r.db");
        let writer = Store::open_writer(&db).unwrap();
        assert!(Store::open_reader_idle(&db).unwrap().is_none());
        drop(writer);
        let reader = Store::open_reader_idle(&db)
            .unwrap()
            .expect("no writer holds it");
        assert!(reader.run_ids().unwrap().is_empty());
        // A second idle reader shares the lock; a writer is refused while they read.
        let second = Store::open_reader_idle(&db).unwrap();
        assert!(second.is_some());
        assert!(matches!(
            Store::open_writer(&db),
            Err(StoreError::Locked { .. })
        ));
        drop((reader, second));
        drop(Store::open_writer(&db).unwrap());
        // Without a lock file the store is read as by `open_reader`.
        std::fs::remove_file(lock_path_for(&db)).unwrap();
        assert!(Store::open_reader_idle(&db).unwrap().is_some());
        assert!(matches!(
            Store::open_reader_idle(&dir.path().join("missing.db")),
            Err(StoreError::Missing { .. })
        ));
    }
}
