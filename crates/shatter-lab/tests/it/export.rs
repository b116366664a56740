//! Export round trip: the CSV and Parquet tables read back equal the store.

use crate::{sweep_into, TINY};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use shatter_lab::export::{export, tables, Format};
use shatter_lab::store::{Kind, SqlValue};
use shatter_lab::sweep::Parallelism;

/// A store value in a comparable form: NULL, integer, float bits or text.
#[derive(Debug, PartialEq)]
enum Cell {
    Null,
    Int(i64),
    Real(u64),
    Text(String),
    Bool(bool),
}

fn from_store(v: &SqlValue, kind: Kind) -> Cell {
    match (v, kind) {
        (SqlValue::Null, _) => Cell::Null,
        (SqlValue::Integer(i), Kind::Bool) => Cell::Bool(*i != 0),
        (SqlValue::Integer(i), Kind::Real) => Cell::Real((*i as f64).to_bits()),
        (SqlValue::Integer(i), _) => Cell::Int(*i),
        (SqlValue::Real(x), _) => Cell::Real(x.to_bits()),
        (SqlValue::Text(s), _) => Cell::Text(s.clone()),
        (SqlValue::Blob(_), _) => panic!("no blobs in the store"),
    }
}

fn from_csv(s: &str, kind: Kind) -> Cell {
    if s.is_empty() {
        return Cell::Null;
    }
    match kind {
        Kind::Int => Cell::Int(s.parse().unwrap()),
        Kind::Real => Cell::Real(s.parse::<f64>().unwrap().to_bits()),
        Kind::Bool => Cell::Bool(s.parse().unwrap()),
        Kind::Text => Cell::Text(s.to_string()),
    }
}

fn from_parquet(f: &Field) -> Cell {
    match f {
        Field::Null => Cell::Null,
        Field::Long(i) => Cell::Int(*i),
        Field::Double(x) => Cell::Real(x.to_bits()),
        Field::Str(s) => Cell::Text(s.clone()),
        Field::Bool(b) => Cell::Bool(*b),
        other => panic!("unexpected parquet field {other:?}"),
    }
}

#[test]
fn csv_and_parquet_read_back_equal_to_the_store() {
    let dir = tempfile::tempdir().unwrap();
    // Curvature measured too, so that every table has rows.
    let spec = TINY.replace(
        "sharpness_every = 0",
        "sharpness_every = 10\noutlier_threshold = 0.05\ntrace_products = 6",
    );
    let store = sweep_into(
        &spec,
        &dir.path().join("r.db"),
        Parallelism {
            jobs: 2,
            threads_per_run: 1,
        },
    );
    export(&store, Format::Csv, &dir.path().join("csv")).unwrap();
    export(&store, Format::Parquet, &dir.path().join("pq")).unwrap();
    for (table, columns) in tables() {
        let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
        let order = match table {
            "runs" => "run_id",
            "trajectories" | "curvature" => "run_id, epoch",
            "outliers" => "run_id, epoch, rank",
            _ => "run_id, neuron",
        };
        let mut stmt = store
            .connection()
            .prepare(&format!(
                "SELECT {} FROM {table} ORDER BY {order}",
                names.join(", ")
            ))
            .unwrap();
        let expected: Vec<Vec<Cell>> = stmt
            .query_map([], |r| {
                Ok(columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| from_store(&r.get::<_, SqlValue>(i).unwrap(), c.kind))
                    .collect())
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(!expected.is_empty(), "{table} has rows");

        let mut csv = csv::Reader::from_path(dir.path().join(format!("csv/{table}.csv"))).unwrap();
        let header: Vec<String> = csv.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header, names, "{table}.csv header");
        let got: Vec<Vec<Cell>> = csv
            .records()
            .map(|r| {
                r.unwrap()
                    .iter()
                    .zip(&columns)
                    .map(|(s, c)| from_csv(s, c.kind))
                    .collect()
            })
            .collect();
        assert_eq!(got, expected, "{table}.csv");

        let file = std::fs::File::open(dir.path().join(format!("pq/{table}.parquet"))).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        let got: Vec<Vec<Cell>> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|row| {
                let row = row.unwrap();
                let cols: Vec<&String> = row.get_column_iter().map(|(n, _)| n).collect();
                assert_eq!(cols, names, "{table}.parquet columns");
                row.get_column_iter()
                    .map(|(_, f)| from_parquet(f))
                    .collect()
            })
            .collect();
        assert_eq!(got, expected, "{table}.parquet");
    }
}
