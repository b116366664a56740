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

/// The run settings, one column per [`RunSpec`](crate::spec::RunSpec) key, in the order of `shatter train --help`.
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
];

/// The summary metrics, one column per [`Summary`](crate::run::Summary) field except `status` (the run's own
/// `status` column says it) and `diverged_rule` (kept in `summary_json`).
pub const SUMMARY_COLUMNS: &[Column] = &[
    col("final_train_loss", Kind::Real),
    col("train_mse", Kind::Real),
    col("test_mse", Kind::Real),
    col("population_risk", Kind::Real),
    col("generalization_gap", Kind::Real),
    col("sharpness", Kind::Real),
    col("sharpness_err", Kind::Real),
    col("min_eigenvalue", Kind::Real),
    col("two_over_eta", Kind::Real),
    col("epochs_run", Kind::Int),
    col("diverged_epoch", Kind::Int),
    col("hvp_count", Kind::Int),
    col("frac_neurons_rate_le_10pct", Kind::Real),
    col("frac_dead", Kind::Real),
    col("median_activation_rate", Kind::Real),
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
    fn summary_columns_are_exactly_the_summary_fields() {
        let fields = serde_json::to_value(Summary::default()).unwrap();
        let names: Vec<&String> = fields.as_object().unwrap().keys().collect();
        for k in &names {
            assert!(
                ["status", "diverged_rule"].contains(&k.as_str())
                    || SUMMARY_COLUMNS.iter().any(|c| c.name == k.as_str()),
                "summary field {k} has no column"
            );
        }
        assert_eq!(names.len(), SUMMARY_COLUMNS.len() + 2);
    }
}
