//! A small filter language over the `runs` table for `shatter runs --where`: clauses
//! `key OP value` joined by `and` and `or` (`and` binds tighter: `a or b and c` is
//! `a or (b and c)`), with `OP` one of `=`, `==`, `!=`, `<`, `>`, `<=`, `>=`; keys are run
//! columns (config, summary, `status`, `sweep`, ...). A value is typed by its column: a
//! numeric column takes a number (anything else is an error naming the column), a boolean
//! column `true`, `false`, `1` or `0`, a text column any text (quotes optional). Values are
//! bound as SQL parameters of that type, never spliced into the query text, so numeric columns
//! compare as numbers (SQLite compares a number with TEXT as "less than any text").

use super::{run_columns, sql_err, Kind, Store, StoreError};
use rusqlite::types::Value;

/// A filter that does not parse, names an unknown column or gives a column a value of the
/// wrong type.
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
    /// A numeric or boolean column compared with a value that is not of its type.
    #[error("filter clause {clause:?}: column {key} takes {expected}, not {value:?}")]
    WrongType {
        /// The clause.
        clause: String,
        /// The column.
        key: String,
        /// What the column takes (`a number`, `true or false`).
        expected: &'static str,
        /// The value given.
        value: String,
    },
}

const OPS: [&str; 7] = ["<=", ">=", "!=", "==", "=", "<", ">"];

/// One `key OP value` clause, its value typed by the column.
type Clause = (String, &'static str, Value);

/// A parsed filter: alternatives (`or`) of clauses that all must hold (`and`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    any_of: Vec<Vec<Clause>>,
}

/// Columns a filter or a listing may name (every `runs` column but the JSON documents).
pub fn queryable_columns() -> Vec<&'static str> {
    run_columns()
        .iter()
        .map(|c| c.name)
        .filter(|n| !n.ends_with("_json"))
        .collect()
}

/// The text of a value without one pair of surrounding quotes, and whether it had them.
fn unquote(text: &str) -> (&str, bool) {
    let t = text.trim();
    let inner = t
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| t.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')));
    match inner {
        Some(s) => (s, true),
        None => (t, false),
    }
}

/// `text` as a value of a column of `kind`, or what the column expects.
fn typed_value(text: &str, kind: Kind) -> Result<Value, &'static str> {
    let (t, _) = unquote(text);
    match kind {
        Kind::Text => Ok(Value::Text(t.to_string())),
        Kind::Int | Kind::Real => {
            if let Ok(i) = t.parse::<i64>() {
                return Ok(Value::Integer(i));
            }
            // Rust also reads `inf` and `NaN`; a filter value must be an ordinary number.
            match t.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Value::Real(x)),
                _ => Err("a number"),
            }
        }
        Kind::Bool => match t {
            "true" | "1" => Ok(Value::Integer(1)),
            "false" | "0" => Ok(Value::Integer(0)),
            _ => Err("true or false"),
        },
    }
}

/// Splits `words` at every word equal to `sep` (any case).
fn split_words<'a>(words: &[&'a str], sep: &str) -> Vec<Vec<&'a str>> {
    let mut groups = vec![Vec::new()];
    for w in words {
        if w.eq_ignore_ascii_case(sep) {
            groups.push(Vec::new());
        } else if let Some(last) = groups.last_mut() {
            last.push(*w);
        }
    }
    groups
}

impl Filter {
    /// Parses `key OP value [and|or key OP value]...` (`and`, `or` in any case; `and` binds
    /// tighter). An empty text is the filter that keeps every run.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.is_empty() {
            return Ok(Filter::default());
        }
        let known = run_columns();
        let queryable = queryable_columns();
        let mut any_of = Vec::new();
        for alternative in split_words(&words, "or") {
            let mut all_of = Vec::new();
            for clause_words in split_words(&alternative, "and") {
                let clause = clause_words.join(" ");
                let syntax = |message: &str| FilterError::Syntax {
                    clause: clause.clone(),
                    message: message.to_string(),
                };
                if clause.is_empty() {
                    return Err(syntax(
                        "is empty (two `and`/`or` in a row, or one at an end?)",
                    ));
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
                let column = known
                    .iter()
                    .find(|c| c.name == key && queryable.contains(&c.name))
                    .ok_or_else(|| FilterError::UnknownKey {
                        key: key.to_string(),
                        known: queryable.join(", "),
                    })?;
                // A second operator in the value (`d < 2 > 1`) is a mistake, not text.
                if column.kind != Kind::Text && OPS.iter().any(|o| value.contains(o)) {
                    return Err(syntax("has two operators; join clauses with `and` or `or`"));
                }
                let value =
                    typed_value(value, column.kind).map_err(|expected| FilterError::WrongType {
                        clause: clause.clone(),
                        key: column.name.to_string(),
                        expected,
                        value: value.to_string(),
                    })?;
                let op = if op == "==" { "=" } else { op };
                let op: &'static str = OPS.iter().find(|o| **o == op).copied().unwrap_or("=");
                all_of.push((column.name.to_string(), op, value));
            }
            any_of.push(all_of);
        }
        Ok(Filter { any_of })
    }

    /// The `WHERE` text (with `?` placeholders) and its parameters; empty for no clauses.
    pub fn to_sql(&self) -> (String, Vec<Value>) {
        if self.any_of.is_empty() {
            return (String::new(), Vec::new());
        }
        let alternatives: Vec<String> = self
            .any_of
            .iter()
            .map(|all_of| {
                let text: Vec<String> = all_of
                    .iter()
                    .map(|(k, op, _)| format!("\"{k}\" {op} ?"))
                    .collect();
                text.join(" AND ")
            })
            .collect();
        let text = if alternatives.len() == 1 {
            alternatives.join("")
        } else {
            alternatives
                .iter()
                .map(|a| format!("({a})"))
                .collect::<Vec<_>>()
                .join(" OR ")
        };
        (
            format!(" WHERE {text}"),
            self.any_of
                .iter()
                .flatten()
                .map(|(_, _, v)| v.clone())
                .collect(),
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
        let err = Filter::parse("d = 5 or").unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn a_value_not_of_the_columns_type_is_an_error_naming_both() {
        for (text, key, value) in [
            ("n < 1oo", "n", "1oo"),
            ("d = abc", "d", "abc"),
            ("lr >= fast", "lr", "fast"),
            ("lr = inf", "lr", "inf"),
            ("bias = maybe", "bias", "maybe"),
            ("d = 1 and n <= 2e", "n", "2e"),
        ] {
            let err = Filter::parse(text).unwrap_err();
            assert!(
                matches!(&err, FilterError::WrongType { key: k, value: v, .. } if k == key && v == value),
                "{text}: {err:?}"
            );
            let msg = err.to_string();
            assert!(msg.contains(key) && msg.contains(value), "{text}: {msg}");
        }
        let err = Filter::parse("d < 2 > 1").unwrap_err().to_string();
        assert!(err.contains("two operators"), "{err}");
    }

    #[test]
    fn or_binds_looser_than_and_and_values_take_the_columns_type() {
        let f = Filter::parse("d < 2 OR d > 1 and lr = 1 or bias = true").unwrap();
        let (sql, params) = f.to_sql();
        assert_eq!(
            sql,
            " WHERE (\"d\" < ?) OR (\"d\" > ? AND \"lr\" = ?) OR (\"bias\" = ?)"
        );
        // `lr = 1` is the number 1 (an integer compares equal to the REAL 1.0 in SQLite).
        assert_eq!(
            params,
            vec![
                Value::Integer(2),
                Value::Integer(1),
                Value::Integer(1),
                Value::Integer(1)
            ]
        );
        // A text column takes digits as text.
        let (_, params) = Filter::parse("sweep = 12").unwrap().to_sql();
        assert_eq!(params, vec![Value::Text("12".into())]);
    }
}
