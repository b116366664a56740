//! `shatter runs --store DB [--where EXPR] [--columns ...] [--limit N]`: an aligned table of a
//! store's runs on stdout.

use super::usage_hint;
use crate::args::RunsArgs;
use anyhow::Context;

use shatter_lab::store::{
    queryable_columns, Filter, Kind, SqlValue as Value, Store, CONFIG_COLUMNS,
};

const METRICS: [&str; 6] = [
    "final_train_loss",
    "test_mse",
    "sharpness",
    "two_over_eta",
    "frac_neurons_rate_le_10pct",
    "wall_seconds",
];

fn show(v: &Value, kind: Option<Kind>) -> String {
    match (v, kind) {
        (Value::Null, _) => "-".into(),
        (Value::Integer(i), Some(Kind::Bool)) => (*i != 0).to_string(),
        (Value::Integer(i), _) => i.to_string(),
        (Value::Real(x), _) => {
            let a = x.abs();
            if a == 0.0 || (1e-3..1e5).contains(&a) {
                let s = format!("{x:.6}");
                let s = s.trim_end_matches('0');
                s.strip_suffix('.').unwrap_or(s).to_string()
            } else {
                format!("{x:.4e}")
            }
        }
        (Value::Text(s), _) => s.clone(),
        (Value::Blob(b), _) => format!("<{} bytes>", b.len()),
    }
}

pub fn run(args: RunsArgs) -> anyhow::Result<()> {
    let store = Store::open_reader(&args.store).context("opening the store")?;
    let filter = Filter::parse(args.filter.as_deref().unwrap_or("")).map_err(|e| {
        usage_hint(
            e.to_string(),
            "write clauses like `d = 5 and lr < 0.1 or status = failed` (`and` binds tighter than `or`; numeric columns take numbers)",
        )
    })?;
    let known = queryable_columns();
    let columns: Vec<String> = match &args.columns {
        Some(cols) => {
            for c in cols {
                if !known.contains(&c.as_str()) {
                    return Err(usage_hint(
                        format!("--columns: unknown column {c:?}"),
                        format!("known columns: {}", known.join(", ")),
                    ));
                }
            }
            cols.clone()
        }
        None => {
            // The settings that differ between runs, then the main metrics.
            let mut cols = vec!["run_id".to_string(), "status".to_string()];
            for c in CONFIG_COLUMNS {
                let distinct: i64 = store
                    .connection()
                    .query_row(
                        &format!("SELECT count(DISTINCT \"{}\") FROM runs", c.name),
                        [],
                        |r| r.get(0),
                    )
                    .context("reading the store")?;
                if distinct > 1 {
                    cols.push(c.name.to_string());
                }
            }
            cols.extend(METRICS.iter().map(|s| s.to_string()));
            cols
        }
    };
    let names: Vec<&str> = columns.iter().map(String::as_str).collect();
    let rows = store
        .select_runs(&names, &filter, args.limit)
        .context("reading the store")?;
    let kinds: Vec<Option<Kind>> = names.iter().map(|n| Store::column_kind(n)).collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().zip(&kinds).map(|(v, k)| show(v, *k)).collect())
        .collect();
    let mut widths: Vec<usize> = names.iter().map(|n| n.len()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |items: Vec<&str>| -> String {
        items
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut text = line(names.clone()) + "\n";
    for row in &cells {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
        text.push('\n');
    }
    super::print_stdout(&text)
}
