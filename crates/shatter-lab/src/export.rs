//! Tidy tables out of a store, for pandas, polars and R: `runs` (one row per run: id, sweep,
//! status, config columns, summary columns, model path, timings), `trajectories` (one row per
//! run and recorded epoch) and `neurons` (one row per run and neuron), as CSV or Parquet.
//!
//! CSV: a header row; integers as digits, floats with the shortest digits that read back to
//! the same `f64`, booleans as `true`/`false`, missing values (and NaN, which SQLite stores as
//! NULL) as empty fields. Parquet: one file per table, every column optional, `INT64`, `DOUBLE`,
//! `BOOLEAN` or `BYTE_ARRAY (UTF8)`, Snappy-compressed, row groups of 65,536 rows. Both are
//! written atomically. The store's JSON columns are left out: the config columns hold the same.

use crate::io::{write_atomically, IoError};
use crate::store::{
    run_columns, Column, Kind, Store, StoreError, CURVATURE_COLUMNS, NEURON_COLUMNS,
    OUTLIER_COLUMNS, TRAJECTORY_COLUMNS,
};
use parquet::basic::Compression;
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use rusqlite::types::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An export that failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing a file failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The Parquet writer failed.
    #[error("{}: {message}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What the writer said.
        message: String,
    },
}

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values (`.csv`).
    Csv,
    /// Apache Parquet (`.parquet`).
    Parquet,
}

impl Format {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            other => Err(format!("unknown format {other:?}; choose csv or parquet")),
        }
    }
}

/// The exported tables with their columns: `runs`, `trajectories`, `neurons`, `curvature`,
/// `outliers`.
pub fn tables() -> Vec<(&'static str, Vec<Column>)> {
    vec![
        (
            "runs",
            run_columns()
                .into_iter()
                .filter(|c| !c.name.ends_with("_json"))
                .collect(),
        ),
        ("trajectories", TRAJECTORY_COLUMNS.to_vec()),
        ("neurons", NEURON_COLUMNS.to_vec()),
        ("curvature", CURVATURE_COLUMNS.to_vec()),
        ("outliers", OUTLIER_COLUMNS.to_vec()),
    ]
}

fn order_by(table: &str) -> &'static str {
    match table {
        "runs" => "run_id",
        "trajectories" | "curvature" => "run_id, epoch",
        "outliers" => "run_id, epoch, rank",
        _ => "run_id, neuron",
    }
}

/// Writes every table of `store` into `dir` (created if needed) as `<table>.<ext>`; returns the
/// files written. Reads the store in row groups, so memory stays bounded by one group.
pub fn export(store: &Store, format: Format, dir: &Path) -> Result<Vec<PathBuf>, ExportError> {
    std::fs::create_dir_all(dir).map_err(|source| IoError::Os {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for (table, columns) in tables() {
        let path = dir.join(format!("{table}.{}", format.extension()));
        match format {
            Format::Csv => write_csv(store, table, &columns, &path)?,
            Format::Parquet => write_parquet(store, table, &columns, &path)?,
        }
        written.push(path);
    }
    Ok(written)
}

/// What [`for_each_batch`] calls with each batch of rows.
type BatchFn<'a> = dyn FnMut(&[Vec<Value>]) -> Result<(), ExportError> + 'a;

/// Calls `each` on the rows of `table` in batches of at most `batch` rows.
fn for_each_batch(
    store: &Store,
    table: &str,
    columns: &[Column],
    batch: usize,
    each: &mut BatchFn<'_>,
) -> Result<(), ExportError> {
    let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
    let sql = format!(
        "SELECT {} FROM {table} ORDER BY {}",
        names.join(", "),
        order_by(table)
    );
    let e = |source| StoreError::Sql {
        path: store.path().to_path_buf(),
        source,
    };
    let mut stmt = store.connection().prepare(&sql).map_err(e)?;
    let mut rows = stmt.query([]).map_err(e)?;
    let mut buf: Vec<Vec<Value>> = Vec::with_capacity(batch.min(4096));
    while let Some(row) = rows.next().map_err(e)? {
        let values = (0..columns.len())
            .map(|i| row.get::<_, Value>(i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(e)?;
        buf.push(values);
        if buf.len() == batch {
            each(&buf)?;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        each(&buf)?;
    }
    Ok(())
}

/// A value as CSV text of the column's kind.
pub fn csv_field(v: &Value, kind: Kind) -> String {
    match (v, kind) {
        (Value::Null, _) => String::new(),
        (Value::Integer(i), Kind::Bool) => (*i != 0).to_string(),
        (Value::Integer(i), Kind::Real) => crate::run::fmt_f64(*i as f64),
        (Value::Integer(i), _) => i.to_string(),
        (Value::Real(x), _) => crate::run::fmt_f64(*x),
        (Value::Text(s), _) => s.clone(),
        (Value::Blob(b), _) => String::from_utf8_lossy(b).into_owned(),
    }
}

fn write_csv(
    store: &Store,
    table: &str,
    columns: &[Column],
    path: &Path,
) -> Result<(), ExportError> {
    write_atomically(path, |file| {
        let os = |source: std::io::Error| IoError::Os {
            path: path.to_path_buf(),
            source,
        };
        let csv_err = |e: csv::Error| IoError::Csv {
            path: path.to_path_buf(),
            source: e,
        };
        let mut w = csv::Writer::from_writer(std::io::BufWriter::new(file));
        w.write_record(columns.iter().map(|c| c.name))
            .map_err(csv_err)?;
        let mut inner: Result<(), ExportError> = Ok(());
        let result = for_each_batch(store, table, columns, 4096, &mut |rows| {
            for row in rows {
                w.write_record(row.iter().zip(columns).map(|(v, c)| csv_field(v, c.kind)))
                    .map_err(|e| ExportError::Io(csv_err(e)))?;
            }
            Ok(())
        });
        if let Err(e) = result {
            inner = Err(e);
        }
        match inner {
            Err(ExportError::Io(e)) => return Err(e),
            Err(other) => {
                return Err(IoError::Os {
                    path: path.to_path_buf(),
                    source: std::io::Error::other(other.to_string()),
                })
            }
            Ok(()) => {}
        }
        w.flush().map_err(os)?;
        Ok(())
    })?;
    Ok(())
}

fn parquet_schema(table: &str, columns: &[Column]) -> String {
    let fields: Vec<String> = columns
        .iter()
        .map(|c| match c.kind {
            Kind::Int => format!("OPTIONAL INT64 {};", c.name),
            Kind::Real => format!("OPTIONAL DOUBLE {};", c.name),
            Kind::Bool => format!("OPTIONAL BOOLEAN {};", c.name),
            Kind::Text => format!("OPTIONAL BYTE_ARRAY {} (UTF8);", c.name),
        })
        .collect();
    format!("message {table} {{ {} }}", fields.join(" "))
}

/// Rows in a parquet row group.
const ROW_GROUP: usize = 65_536;

fn write_parquet(
    store: &Store,
    table: &str,
    columns: &[Column],
    path: &Path,
) -> Result<(), ExportError> {
    let pq = |e: parquet::errors::ParquetError| ExportError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let schema = Arc::new(parse_message_type(&parquet_schema(table, columns)).map_err(pq)?);
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("shatter {}", env!("CARGO_PKG_VERSION")))
            .build(),
    );
    // The parquet writer's errors travel out of the atomic write as their message.
    let mut failure: Option<ExportError> = None;
    let written = write_atomically(path, |file| {
        let as_io = |e: parquet::errors::ParquetError| IoError::Os {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        };
        let mut writer =
            SerializedFileWriter::new(file, schema.clone(), props.clone()).map_err(as_io)?;
        let result = for_each_batch(store, table, columns, ROW_GROUP, &mut |rows| {
            let mut group = writer.next_row_group().map_err(pq)?;
            for (i, c) in columns.iter().enumerate() {
                let mut col =
                    group
                        .next_column()
                        .map_err(pq)?
                        .ok_or_else(|| ExportError::Parquet {
                            path: path.to_path_buf(),
                            message: format!("schema has no column {}", c.name),
                        })?;
                let defs: Vec<i16> = rows
                    .iter()
                    .map(|r| i16::from(!matches!(r[i], Value::Null)))
                    .collect();
                match col.untyped() {
                    ColumnWriter::Int64ColumnWriter(w) => {
                        let vals: Vec<i64> = rows
                            .iter()
                            .filter_map(|r| match &r[i] {
                                Value::Integer(x) => Some(*x),
                                Value::Real(x) => Some(*x as i64),
                                _ => None,
                            })
                            .collect();
                        w.write_batch(&vals, Some(&defs), None).map_err(pq)?;
                    }
                    ColumnWriter::DoubleColumnWriter(w) => {
                        let vals: Vec<f64> = rows
                            .iter()
                            .filter_map(|r| match &r[i] {
                                Value::Real(x) => Some(*x),
                                Value::Integer(x) => Some(*x as f64),
                                _ => None,
                            })
                            .collect();
                        w.write_batch(&vals, Some(&defs), None).map_err(pq)?;
                    }
                    ColumnWriter::BoolColumnWriter(w) => {
                        let vals: Vec<bool> = rows
                            .iter()
                            .filter_map(|r| match &r[i] {
                                Value::Integer(x) => Some(*x != 0),
                                _ => None,
                            })
                            .collect();
                        w.write_batch(&vals, Some(&defs), None).map_err(pq)?;
                    }
                    ColumnWriter::ByteArrayColumnWriter(w) => {
                        let vals: Vec<ByteArray> = rows
                            .iter()
                            .filter_map(|r| match &r[i] {
                                Value::Text(s) => Some(ByteArray::from(s.as_str())),
                                Value::Integer(x) => Some(ByteArray::from(x.to_string().as_str())),
                                Value::Real(x) => Some(ByteArray::from(x.to_string().as_str())),
                                Value::Blob(b) => Some(ByteArray::from(b.clone())),
                                Value::Null => None,
                            })
                            .collect();
                        w.write_batch(&vals, Some(&defs), None).map_err(pq)?;
                    }
                    _ => {
                        return Err(ExportError::Parquet {
                            path: path.to_path_buf(),
                            message: format!("unexpected column type for {}", c.name),
                        })
                    }
                }
                col.close().map_err(pq)?;
            }
            group.close().map_err(pq)?;
            Ok(())
        });
        if let Err(e) = result {
            failure = Some(e);
            return Err(IoError::Os {
                path: path.to_path_buf(),
                source: std::io::Error::other("parquet export failed"),
            });
        }
        writer.close().map_err(as_io)?;
        Ok(())
    });
    if let Some(e) = failure {
        return Err(e);
    }
    written?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_by_kind() {
        assert_eq!(csv_field(&Value::Null, Kind::Real), "");
        assert_eq!(csv_field(&Value::Integer(1), Kind::Bool), "true");
        assert_eq!(csv_field(&Value::Integer(2), Kind::Real), "2.0");
        assert_eq!(csv_field(&Value::Real(0.1), Kind::Real), "0.1");
        assert_eq!(csv_field(&Value::Text("relu".into()), Kind::Text), "relu");
    }

    #[test]
    fn parquet_schema_parses() {
        for (table, cols) in tables() {
            parse_message_type(&parquet_schema(table, &cols)).unwrap();
        }
    }
}
