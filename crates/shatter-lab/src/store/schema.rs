//! The store's tables as data: every column with its type, shared by the `CREATE TABLE`
//! statements, the writer, the filter language and the exporters. Config and summary columns
//! mirror `RunSpec` and `Summary` field by field (unit tests check both directions).

/// How a column is typed in SQLite, CSV and Parquet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// 64-bit integer (`INTEGER`, Parquet `INT64`).
    Int,
    /// 64-bit float (`REAL`, Parquet `DOUBLE`).
    Real,
    /// UTF-8 text (`TEXT`, Parquet `BYTE_ARRAY (UTF8)`).
    Text,
    /// Boolean (stored as 0 or 1; `true`/`false` in CSV, Parquet `BOOLEAN`).
    Bool,
}

impl Kind {
    fn sql(self) -> &'static str {
        match self {
            Kind::Int | Kind::Bool => "INTEGER",
            Kind::Real => "REAL",
            Kind::Text => "TEXT",
        }
    }
}

/// A column of a store table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column {
    /// Name (the TOML key or summary field it comes from).
    pub name: &'static str,
    /// Type.
    pub kind: Kind,
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

/// The run settings, one column per [`RunSpec`](crate::spec::RunSpec) key (the names of
/// [`SETTINGS`](crate::spec::SETTINGS)), in their historical order.
pub const CONFIG_COLUMNS: &[Column] = &[
    col("d", Kind::Int),
    col("n", Kind::Int),
    col("width", Kind::Int),
    col("lr", Kind::Real),
    col("epochs", Kind::Int),
    col("weight_decay", Kind::Real),
    col("clip", Kind::Real),
    col("momentum", Kind::Real),
    col("batch_size", Kind::Int),
    col("mixup_alpha", Kind::Real),
    col("activation", Kind::Text),
    col("bias", Kind::Bool),
    col("loss", Kind::Text),
    col("sigma", Kind::Real),
    col("target", Kind::Text),
    col("input", Kind::Text),
    col("data", Kind::Text),
    col("label_column", Kind::Text),
    col("test_data", Kind::Text),
    col("n_test", Kind::Int),
    col("precision", Kind::Text),
    col("seed", Kind::Int),
    col("init_scale", Kind::Real),
    col("init_from", Kind::Text),
    col("sharpness_every", Kind::Int),
    col("test_every", Kind::Int),
    col("log_every", Kind::Int),
    col("top_k", Kind::Int),
    col("lanczos_tol", Kind::Real),
    col("lanczos_max_iter", Kind::Int),
    col("model", Kind::Text),
    col("kernel", Kind::Text),
    col("cv_folds", Kind::Int),
    // Schema version 2: the SHA-256 of each input file (part of the run id).
    col("data_sha256", Kind::Text),
    col("test_data_sha256", Kind::Text),
    col("init_from_sha256", Kind::Text),
    // Schema version 3: curvature beyond sharpness.
    col("outlier_threshold", Kind::Real),
    col("trace_products", Kind::Int),
];

/// The config columns schema version 1 lacked; opening a version 1 store for writing adds
/// them (see `store::SCHEMA_VERSION`).
pub const COLUMNS_ADDED_IN_V2: &[&str] = &["data_sha256", "test_data_sha256", "init_from_sha256"];

/// The summary columns schema version 1 lacked; opening a version 1 store for writing adds
/// them with their [`SUMMARY_COLUMNS`] types, NULL for the runs already stored (their
/// `summary_json` lacks the fields, read back as `None`).
pub const SUMMARY_COLUMNS_ADDED_IN_V2: &[&str] = &[
    "frac_negligible",
    "frac_shattered",
    "count_shattered",
    "path_share_dead",
    "path_share_negligible",
    "path_share_shattered",
];

/// The summary metrics, one column per [`Summary`](crate::run::Summary) field except `status` (the run's own
/// `status` column says it), `diverged_rule` and `interior_test_mse` (kept in `summary_json`,
/// so stores of schema version 2 read them back without a migration).
pub const SUMMARY_COLUMNS: &[Column] = &[
    col("final_train_loss", Kind::Real),
    col("train_mse", Kind::Real),
    col("test_mse", Kind::Real),
    col("population_risk", Kind::Real),
    col("generalization_gap", Kind::Real),
    col("sharpness", Kind::Real),
    col("sharpness_err", Kind::Real),
    col("min_eigenvalue", Kind::Real),
    // Schema version 3: certified lambda_min, trace and outliers.
    col("min_eigenvalue_err", Kind::Real),
    col("trace", Kind::Real),
    col("trace_err", Kind::Real),
    col("outlier_count", Kind::Int),
    col("outliers_complete", Kind::Bool),
    col("outlier_count_median", Kind::Real),
    col("two_over_eta", Kind::Real),
    col("epochs_run", Kind::Int),
    col("diverged_epoch", Kind::Int),
    col("hvp_count", Kind::Int),
    col("frac_neurons_rate_le_10pct", Kind::Real),
    col("frac_dead", Kind::Real),
    col("median_activation_rate", Kind::Real),
    // Schema version 2: dead, negligible and active neurons apart (issue 12).
    col("frac_negligible", Kind::Real),
    col("frac_shattered", Kind::Real),
    col("count_shattered", Kind::Int),
    col("path_share_dead", Kind::Real),
    col("path_share_negligible", Kind::Real),
    col("path_share_shattered", Kind::Real),
    col("vg_norm", Kind::Real),
    col("vg_reduced", Kind::Real),
    col("path_norm", Kind::Real),
    col("vg_bound", Kind::Real),
    col("bound_holds", Kind::Bool),
    col("pieces_inside", Kind::Int),
    col("weighted_tv", Kind::Real),
    col("median_knot_distance", Kind::Real),
    col("frac_small_output_weights", Kind::Real),
    col("krr_lambda", Kind::Real),
    col("krr_cv_mse", Kind::Real),
    col("wall_seconds", Kind::Real),
];

/// Columns of `runs` before the config columns.
pub const RUN_HEAD_COLUMNS: &[Column] = &[
    col("run_id", Kind::Text),
    col("sweep", Kind::Text),
    col("status", Kind::Text),
    col("error", Kind::Text),
];

/// Columns of `runs` after the summary columns. `started_at` and `finished_at` are Unix
/// seconds; `model_path` is relative to the database's folder.
pub const RUN_TAIL_COLUMNS: &[Column] = &[
    col("model_path", Kind::Text),
    col("device", Kind::Text),
    col("started_at", Kind::Real),
    col("finished_at", Kind::Real),
    col("shatter_version", Kind::Text),
    col("spec_json", Kind::Text),
    col("summary_json", Kind::Text),
];

/// Columns of `trajectories` (one row per recorded epoch).
pub const TRAJECTORY_COLUMNS: &[Column] = &[
    col("run_id", Kind::Text),
    col("epoch", Kind::Int),
    col("train_loss", Kind::Real),
    col("test_mse", Kind::Real),
    col("sharpness", Kind::Real),
    col("sharpness_err", Kind::Real),
    col("grad_norm", Kind::Real),
    col("clipped", Kind::Bool),
];

/// Columns of `curvature` (one row per sharpness record of a run that measured curvature:
/// `outlier_threshold` here is absolute, `outlier_threshold / lr`; the outlier columns are NULL
/// when outliers were not tracked, the trace columns when the trace was not measured).
pub const CURVATURE_COLUMNS: &[Column] = &[
    col("run_id", Kind::Text),
    col("epoch", Kind::Int),
    col("outlier_threshold", Kind::Real),
    col("outlier_count", Kind::Int),
    col("outliers_complete", Kind::Bool),
    col("missed_bound", Kind::Real),
    col("block_bound", Kind::Real),
    col("trace", Kind::Real),
    col("trace_err", Kind::Real),
];

/// Columns of `outliers` (one row per eigenvalue above the threshold at a record, `rank` 0
/// the largest, with its certified `error_bound`).
pub const OUTLIER_COLUMNS: &[Column] = &[
    col("run_id", Kind::Text),
    col("epoch", Kind::Int),
    col("rank", Kind::Int),
    col("value", Kind::Real),
    col("error_bound", Kind::Real),
];

/// The columns of `runs` schema version 2 lacked (config and summary), added with their types
/// by [`migrate_to_v3`].
pub const COLUMNS_ADDED_IN_V3: &[&str] = &[
    "outlier_threshold",
    "trace_products",
    "min_eigenvalue_err",
    "trace",
    "trace_err",
    "outlier_count",
    "outliers_complete",
    "outlier_count_median",
];

/// Columns of `neurons` (one row per hidden neuron of the final network).
pub const NEURON_COLUMNS: &[Column] = &[
    col("run_id", Kind::Text),
    col("neuron", Kind::Int),
    col("active_count", Kind::Int),
    col("activation_rate", Kind::Real),
    col("amplitude", Kind::Real),
    col("param_norm", Kind::Real),
    col("boundary_offset", Kind::Real),
    col("dead", Kind::Bool),
];

/// Every column of `runs`, in table order.
pub fn run_columns() -> Vec<Column> {
    [
        RUN_HEAD_COLUMNS,
        CONFIG_COLUMNS,
        SUMMARY_COLUMNS,
        RUN_TAIL_COLUMNS,
    ]
    .concat()
}

/// Upgrades a schema version 1 store at `path` to version 2 in one transaction: adds the
/// [`COLUMNS_ADDED_IN_V2`] (NULL for every stored run, which had no input files' hashes) and
/// sets the version. Refuses, changing nothing, when the store holds runs on input files
/// (`data`, `test_data`, `init_from`): their ids were made without the files' contents, so
/// this shatter would not recognise them and would run them again. The error is the message
/// to show after the store's name.
pub(crate) fn migrate_from_v1(path: &std::path::Path) -> Result<(), String> {
    upgrade(path, 1, |tx, fail| {
        let file_runs: i64 = tx
        .query_row(
            "SELECT count(*) FROM runs WHERE data IS NOT NULL OR test_data IS NOT NULL OR init_from IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .map_err(fail)?;
        if file_runs > 0 {
            return Err(format!(
            "was made by an older shatter (schema version 1) and holds {file_runs} run(s) on input files (data, test_data or init_from); their run ids do not include the files' contents, so this shatter would not recognise them and would run them again. Read it with the shatter that made it, or run the sweep into a new --store"
        ));
        }
        for c in COLUMNS_ADDED_IN_V2 {
            tx.execute(&format!("ALTER TABLE runs ADD COLUMN {c} TEXT"), [])
                .map_err(fail)?;
        }
        for c in SUMMARY_COLUMNS
            .iter()
            .filter(|c| SUMMARY_COLUMNS_ADDED_IN_V2.contains(&c.name))
        {
            tx.execute(
                &format!("ALTER TABLE runs ADD COLUMN {} {}", c.name, c.kind.sql()),
                [],
            )
            .map_err(fail)?;
        }
        add_v3(tx).map_err(fail)
    })
}

/// Upgrades the store at `path` from schema version `from` to the current one in one
/// transaction: `body` adds what the versions since `from` added (its errors are messages,
/// database errors made with the `fail` it is given), then the version is set. Does nothing
/// when another process upgraded the store meanwhile. The error is the message to show after
/// the store's name.
fn upgrade(
    path: &std::path::Path,
    from: u32,
    body: impl FnOnce(
        &rusqlite::Transaction<'_>,
        &dyn Fn(rusqlite::Error) -> String,
    ) -> Result<(), String>,
) -> Result<(), String> {
    let fail = |e: rusqlite::Error| {
        format!("has schema version {from} (made by an older shatter) and could not be upgraded to version {}: {e}; open it once where it can be written (shatter sweep with --store) to upgrade it", super::SCHEMA_VERSION)
    };
    let mut conn = rusqlite::Connection::open(path).map_err(fail)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(fail)?;
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(fail)?;
    let version: String = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .map_err(fail)?;
    if version != from.to_string() {
        // Another process upgraded it meanwhile.
        return Ok(());
    }
    body(&tx, &fail)?;
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
        [super::SCHEMA_VERSION.to_string()],
    )
    .map_err(fail)?;
    tx.commit().map_err(fail)
}

/// The schema version 3 additions inside a transaction: the [`COLUMNS_ADDED_IN_V3`] of `runs`
/// (NULL for the runs already stored, which measured none of it) and the `curvature` and
/// `outliers` tables.
fn add_v3(tx: &rusqlite::Transaction<'_>) -> Result<(), rusqlite::Error> {
    for c in run_columns()
        .iter()
        .filter(|c| COLUMNS_ADDED_IN_V3.contains(&c.name))
    {
        tx.execute(
            &format!("ALTER TABLE runs ADD COLUMN {} {}", c.name, c.kind.sql()),
            [],
        )?;
    }
    tx.execute(
        &create_table_sql("curvature", CURVATURE_COLUMNS, "run_id, epoch"),
        [],
    )?;
    tx.execute(
        &create_table_sql("outliers", OUTLIER_COLUMNS, "run_id, epoch, rank"),
        [],
    )?;
    Ok(())
}

/// Upgrades a schema version 2 store at `path` to version 3 in one transaction (adds the
/// curvature columns and tables; every stored run stays valid, its run id unchanged since the
/// new settings enter ids only when set). The error is the message to show after the
/// store's name.
pub(crate) fn migrate_to_v3(path: &std::path::Path) -> Result<(), String> {
    upgrade(path, 2, |tx, fail| add_v3(tx).map_err(fail))
}

/// The `CREATE TABLE` statement of a table (`runs` keeps a rowid; the others are clustered by
/// their key).
pub(crate) fn create_table_sql(name: &str, columns: &[Column], key: &str) -> String {
    let cols: Vec<String> = columns
        .iter()
        .map(|c| format!("{} {}", c.name, c.kind.sql()))
        .collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {name} ({}, PRIMARY KEY ({key})){}",
        cols.join(", "),
        if name == "runs" { "" } else { " WITHOUT ROWID" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Summary;
    use crate::spec::RunSpec;

    #[test]
    fn config_columns_are_exactly_the_run_spec_keys() {
        let mut obj = serde_json::Map::new();
        for c in CONFIG_COLUMNS {
            let v = match c.kind {
                Kind::Int => serde_json::json!(1),
                Kind::Real => serde_json::json!(0.5),
                Kind::Text => serde_json::json!("x"),
                Kind::Bool => serde_json::json!(true),
            };
            obj.insert(c.name.to_string(), v);
        }
        // Unknown names fail here (the spec rejects unknown keys)...
        let spec: RunSpec = serde_json::from_value(serde_json::Value::Object(obj))
            .expect("every config column is a RunSpec key of that type");
        // ...and a RunSpec key without a column would be missing from this count.
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(back.as_object().unwrap().len(), CONFIG_COLUMNS.len());
        let fields = serde_json::to_value(RunSpec::default().resolved()).unwrap();
        for k in fields.as_object().unwrap().keys() {
            assert!(
                CONFIG_COLUMNS.iter().any(|c| c.name == k),
                "RunSpec key {k} has no column"
            );
        }
    }

    #[test]
    fn config_columns_are_the_settings_table_with_matching_types() {
        // The same names (the columns keep their historical order; `mixup_alpha` sits
        // elsewhere in `--help`).
        let mut columns: Vec<&str> = CONFIG_COLUMNS.iter().map(|c| c.name).collect();
        let mut settings: Vec<&str> = crate::spec::SETTINGS.iter().map(|s| s.name).collect();
        columns.sort_unstable();
        settings.sort_unstable();
        assert_eq!(columns, settings);
        for c in CONFIG_COLUMNS {
            let kind = crate::spec::Setting::named(c.name).map(|s| s.kind);
            let expected = match c.kind {
                Kind::Int => &["usize", "u64"][..],
                Kind::Real => &["f64"][..],
                Kind::Text => &["String", "PathBuf"][..],
                Kind::Bool => &["bool"][..],
            };
            assert!(
                kind.is_some_and(|k| expected.contains(&k)),
                "{}: {kind:?}",
                c.name
            );
        }
    }

    /// The [`Summary`] fields without a column of their own: read from `summary_json` only.
    const SUMMARY_JSON_ONLY: &[&str] = &["status", "diverged_rule", "interior_test_mse"];

    #[test]
    fn summary_columns_are_exactly_the_summary_fields() {
        let fields = serde_json::to_value(Summary::default()).unwrap();
        let names: Vec<&String> = fields.as_object().unwrap().keys().collect();
        for k in &names {
            assert!(
                SUMMARY_JSON_ONLY.contains(&k.as_str())
                    || SUMMARY_COLUMNS.iter().any(|c| c.name == k.as_str()),
                "summary field {k} has no column"
            );
        }
        assert_eq!(names.len(), SUMMARY_COLUMNS.len() + SUMMARY_JSON_ONLY.len());
    }

    /// Makes the store at `db` look like one written by schema version 1.
    fn downgrade_to_v1(db: &std::path::Path, file_run: bool) {
        let conn = rusqlite::Connection::open(db).unwrap();
        downgrade_to_v2(db);
        for c in COLUMNS_ADDED_IN_V2
            .iter()
            .chain(SUMMARY_COLUMNS_ADDED_IN_V2)
        {
            conn.execute(&format!("ALTER TABLE runs DROP COLUMN {c}"), [])
                .unwrap();
        }
        conn.execute(
            "UPDATE meta SET value = '1' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO runs (run_id, status) VALUES ('generated', 'completed')",
            [],
        )
        .unwrap();
        if file_run {
            conn.execute(
                "INSERT INTO runs (run_id, status, data) VALUES ('on-file', 'completed', 'x.csv')",
                [],
            )
            .unwrap();
        }
    }

    /// Makes the store at `db` look like one written by schema version 2.
    fn downgrade_to_v2(db: &std::path::Path) {
        let conn = rusqlite::Connection::open(db).unwrap();
        for c in COLUMNS_ADDED_IN_V3 {
            conn.execute(&format!("ALTER TABLE runs DROP COLUMN {c}"), [])
                .unwrap();
        }
        conn.execute_batch(
            "DROP TABLE curvature; DROP TABLE outliers; UPDATE meta SET value = '2' WHERE key = 'schema_version';",
        )
        .unwrap();
    }

    #[test]
    fn a_version_2_store_is_upgraded_with_the_curvature_columns_and_tables() {
        use crate::store::{Store, SCHEMA_VERSION};
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("v2.db");
        drop(Store::open_writer(&db).unwrap());
        downgrade_to_v2(&db);
        {
            let conn = rusqlite::Connection::open(&db).unwrap();
            conn.execute(
                "INSERT INTO runs (run_id, status) VALUES ('old', 'completed')",
                [],
            )
            .unwrap();
        }
        let store = Store::open_reader(&db).expect("a version 2 store upgrades on opening");
        let conn = store.connection();
        let version: String = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION.to_string());
        let trace: Option<f64> = conn
            .query_row("SELECT trace FROM runs WHERE run_id = 'old'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(trace, None);
        let rows: i64 = conn
            .query_row(
                "SELECT (SELECT count(*) FROM curvature) + (SELECT count(*) FROM outliers)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, 0);
        assert!(store.done_ids().unwrap().contains("old"));
    }

    #[test]
    fn a_version_1_store_is_upgraded_unless_it_holds_runs_on_files() {
        use crate::store::{Store, SCHEMA_VERSION};
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("old.db");
        drop(Store::open_writer(&db).unwrap());
        downgrade_to_v1(&db, false);
        let store = Store::open_writer(&db).expect("a version 1 store without file runs upgrades");
        let version: String = store
            .connection()
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION.to_string());
        let hashes: Option<String> = store
            .connection()
            .query_row(
                "SELECT data_sha256 FROM runs WHERE run_id = 'generated'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(hashes, None, "the new columns exist, NULL for old runs");
        let shattered: Option<f64> = store
            .connection()
            .query_row(
                "SELECT frac_shattered FROM runs WHERE run_id = 'generated'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(shattered, None, "the new summary columns too");
        assert!(
            store.done_ids().unwrap().contains("generated"),
            "old runs are kept"
        );
        drop(store);

        let db = dir.path().join("files.db");
        drop(Store::open_writer(&db).unwrap());
        downgrade_to_v1(&db, true);
        for err in [
            Store::open_writer(&db).err().expect("refused"),
            Store::open_reader(&db).err().expect("refused"),
        ] {
            let err = err.to_string();
            assert!(
                err.contains("files.db")
                    && err.contains("older shatter")
                    && err.contains("1 run(s) on input files")
                    && err.contains("new --store"),
                "{err}"
            );
        }
    }
}
