//! A small filter language over the `runs` table for `shatter runs --where`: clauses
//! `key OP value` joined by `and`, with `OP` one of `=`, `==`, `!=`, `<`, `>`, `<=`, `>=`; keys
//! are run columns (config, summary, `status`, `sweep`, ...). Values are bound as SQL
//! parameters, never spliced into the query text.

use super::{run_columns, sql_err, Kind, Store, StoreError};
use rusqlite::types::Value;

/// A filter that does not parse or names an unknown column.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// A clause is not `key OP value`.
    #[error("filter clause {clause:?}: {message}")]
    Syntax {
        /// The clause.
        clause: String,
        /// What is wrong.
        message: String,
    },
    /// A key is not a column of `runs`.
    #[error("filter: unknown key {key:?}; known keys: {known}")]
    UnknownKey {
        /// The key.
        key: String,
        /// The known keys, comma-separated.
        known: String,
    },
}

const OPS: [&str; 7] = ["<=", ">=", "!=", "==", "=", "<", ">"];

/// A parsed filter: clauses that all must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    clauses: Vec<(String, &'static str, Value)>,
}

/// Columns a filter or a listing may name (every `runs` column but the JSON documents).
pub fn queryable_columns() -> Vec<&'static str> {
    run_columns()
        .iter()
        .map(|c| c.name)
        .filter(|n| !n.ends_with("_json"))
        .collect()
}

fn parse_value(text: &str) -> Value {
    let t = text.trim();
    let unquoted = t
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| t.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')));
    if let Some(s) = unquoted {
        return Value::Text(s.to_string());
    }
    if let Ok(i) = t.parse::<i64>() {
        return Value::Integer(i);
    }
    if let Ok(x) = t.parse::<f64>() {
        return Value::Real(x);
    }
    match t {
        "true" => Value::Integer(1),
        "false" => Value::Integer(0),
        _ => Value::Text(t.to_string()),
    }
}

impl Filter {
    /// Parses `key OP value [and key OP value]...` (`and` in any case). An empty text is the
    /// filter that keeps every run.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let known = queryable_columns();
        let mut clauses = Vec::new();
        let mut current: Vec<&str> = Vec::new();
        let mut groups: Vec<String> = Vec::new();
        for word in text.split_whitespace() {
            if word.eq_ignore_ascii_case("and") {
                groups.push(current.join(" "));
                current.clear();
            } else {
                current.push(word);
            }
        }
        groups.push(current.join(" "));
        if groups.len() == 1 && groups[0].is_empty() {
            return Ok(Filter::default());
        }
        for clause in groups {
            let syntax = |message: &str| FilterError::Syntax {
                clause: clause.clone(),
                message: message.to_string(),
            };
            if clause.is_empty() {
                return Err(syntax("is empty (two `and` in a row?)"));
            }
            // The leftmost operator; at one position the two-character one wins.
            let found = OPS
                .iter()
                .filter_map(|op| clause.find(op).map(|at| (at, *op)))
                .min_by_key(|(at, op)| (*at, std::cmp::Reverse(op.len())));
            let Some((at, op)) = found else {
                return Err(syntax(
                    "expected key OP value with OP one of = != < > <= >=",
                ));
            };
            let key = clause[..at].trim();
            let value = clause[at + op.len()..].trim();
            if key.is_empty() || value.is_empty() {
                return Err(syntax("expected key OP value"));
            }
            let Some(column) = known.iter().find(|k| **k == key) else {
                return Err(FilterError::UnknownKey {
                    key: key.to_string(),
                    known: known.join(", "),
                });
            };
            let op = if op == "==" { "=" } else { op };
            let op: &'static str = OPS.iter().find(|o| **o == op).copied().unwrap_or("=");
            clauses.push((column.to_string(), op, parse_value(value)));
        }
        Ok(Filter { clauses })
    }

    /// The `WHERE` text (with `?` placeholders) and its parameters; empty for no clauses.
    pub fn to_sql(&self) -> (String, Vec<Value>) {
        if self.clauses.is_empty() {
            return (String::new(), Vec::new());
        }
        let text: Vec<String> = self
            .clauses
            .iter()
            .map(|(k, op, _)| format!("\"{k}\" {op} ?"))
            .collect();
        (
            format!(" WHERE {}", text.join(" AND ")),
            self.clauses.iter().map(|(_, _, v)| v.clone()).collect(),
        )
    }
}

impl Store {
    /// The given columns of the runs that pass `filter`, ordered by the config columns among
    /// them and then run id, at most `limit` rows. Column names must come from [`queryable_columns`].
    pub fn select_runs(
        &self,
        columns: &[&str],
        filter: &Filter,
        limit: Option<usize>,
    ) -> Result<Vec<Vec<Value>>, StoreError> {
        let known = queryable_columns();
        let cols: Vec<String> = columns
            .iter()
            .filter(|c| known.contains(c))
            .map(|c| format!("\"{c}\""))
            .collect();
        let (where_sql, params) = filter.to_sql();
        // Settings first (so that runs of one grid line up), then the id.
        let mut order: Vec<String> = columns
            .iter()
            .filter(|c| super::CONFIG_COLUMNS.iter().any(|k| k.name == **c))
            .map(|c| format!("\"{c}\""))
            .collect();
        order.push("run_id".into());
        let sql = format!(
            "SELECT {} FROM runs{where_sql} ORDER BY {}{}",
            cols.join(", "),
            order.join(", "),
            limit.map(|l| format!(" LIMIT {l}")).unwrap_or_default()
        );
        let e = sql_err(&self.path);
        let mut stmt = self.conn.prepare(&sql).map_err(&e)?;
        let n = cols.len();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                (0..n).map(|i| r.get::<_, Value>(i)).collect()
            })
            .map_err(&e)?
            .collect::<Result<Vec<Vec<Value>>, _>>()
            .map_err(&e)?;
        Ok(rows)
    }

    /// The kind of a `runs` column, if it is one.
    pub fn column_kind(name: &str) -> Option<Kind> {
        run_columns()
            .into_iter()
            .find(|c| c.name == name)
            .map(|c| c.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_parse_with_any_spacing() {
        let f = Filter::parse("d=5 and lr = 0.2 AND status != 'failed' and n>=64").unwrap();
        let (sql, params) = f.to_sql();
        assert_eq!(
            sql,
            " WHERE \"d\" = ? AND \"lr\" = ? AND \"status\" != ? AND \"n\" >= ?"
        );
        assert_eq!(
            params,
            vec![
                Value::Integer(5),
                Value::Real(0.2),
                Value::Text("failed".into()),
                Value::Integer(64)
            ]
        );
    }

    #[test]
    fn bad_filters_say_why() {
        let err = Filter::parse("depth = 5").unwrap_err().to_string();
        assert!(
            err.contains("depth") && err.contains("weight_decay"),
            "{err}"
        );
        let err = Filter::parse("d 5").unwrap_err().to_string();
        assert!(err.contains("key OP value"), "{err}");
        let err = Filter::parse("d = 5 and and n = 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty"), "{err}");
        assert_eq!(Filter::parse("  ").unwrap(), Filter::default());
    }
}
