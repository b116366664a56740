//! Reading CSV data sets (see the parent module for the conventions on places in errors).

use std::path::Path;

use shatter_core::Dataset;

use super::{label_index, os_error, IoError, LabelColumn};

/// Reads a data set from a CSV file: one sample per row, inputs then (by default) the label
/// in the last column.
///
/// Comma-separated (tab-separated when the name ends in `.tsv`); fields are trimmed; blank
/// lines and lines starting with `#` (NumPy's `savetxt` header) are skipped. The first row is a
/// header when none of its fields is a number (a row mixing numbers and words is data, so a
/// typo in the first row is reported rather than taken for a header). `label` picks the label
/// column; a [`LabelColumn::Name`] needs a header. With `expected_d`, the number of inputs
/// must equal it. Every value must be a finite number.
///
/// Errors name the file, the 1-based line (counting blank and comment lines, as an editor
/// does) and the 1-based column. Reads the whole file into memory once, then parses it;
/// allocates the file's bytes, the data set and one row at a time.
pub fn load_dataset_csv(
    path: &Path,
    label: &LabelColumn,
    expected_d: Option<usize>,
) -> Result<Dataset<f64>, IoError> {
    let tsv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    let bytes = std::fs::read(path).map_err(os_error(path))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .delimiter(if tsv { b'\t' } else { b',' })
        .from_reader(bytes.as_slice());

    // The header's names and line.
    let mut header: Option<Vec<String>> = None;
    let mut header_line = 0;
    // (columns, line) of the first data row, and the label column.
    let mut layout: Option<(usize, u64, usize)> = None;
    let mut x = Vec::new();
    let mut y = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut first = true;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(source) => {
                return Err(IoError::Csv {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
        // A record's own position includes the blank and comment lines skipped before it, so
        // its line is taken from where it ends: the line before a consumed `\n`, else the
        // current one (a record spanning lines, inside quotes, reports its last line).
        let end = reader.position();
        let ended_by_newline = end
            .byte()
            .checked_sub(1)
            .and_then(|b| bytes.get(b as usize))
            == Some(&b'\n');
        let line = if ended_by_newline {
            end.line() - 1
        } else {
            end.line()
        };
        if first {
            first = false;
            if record.iter().all(|f| f.parse::<f64>().is_err()) {
                header = Some(record.iter().map(str::to_string).collect());
                header_line = line;
                continue;
            }
        }
        let columns = record.len();
        let (expected, first_line, label_col) = match layout {
            Some(l) => l,
            None => {
                if columns < 2 {
                    return Err(IoError::TooFewColumns {
                        path: path.to_path_buf(),
                        line,
                        found: columns,
                    });
                }
                if let Some(h) = &header {
                    if h.len() != columns {
                        return Err(IoError::Ragged {
                            path: path.to_path_buf(),
                            line,
                            found: columns,
                            expected: h.len(),
                            first_line: header_line,
                        });
                    }
                }
                let label_col = label_index(path, label, columns, header.as_deref())?;
                if let Some(d) = expected_d {
                    if columns - 1 != d {
                        return Err(IoError::WrongDimension {
                            path: path.to_path_buf(),
                            line,
                            found: columns - 1,
                            expected: d,
                        });
                    }
                }
                layout = Some((columns, line, label_col));
                (columns, line, label_col)
            }
        };
        if columns != expected {
            return Err(IoError::Ragged {
                path: path.to_path_buf(),
                line,
                found: columns,
                expected,
                first_line,
            });
        }
        for (j, text) in record.iter().enumerate() {
            let value: f64 = text.parse().map_err(|_| {
                let name = header
                    .as_ref()
                    .and_then(|h| h.get(j))
                    .map(|n| format!(" (`{n}`)"))
                    .unwrap_or_default();
                let hint = if header.is_none() && first_line == line && y.is_empty() {
                    "; a header row must have no numeric field".to_string()
                } else {
                    String::new()
                };
                IoError::NotANumber {
                    path: path.to_path_buf(),
                    line,
                    column: j + 1,
                    text: text.to_string(),
                    hint: name + &hint,
                }
            })?;
            if !value.is_finite() {
                return Err(IoError::NonFinite {
                    path: path.to_path_buf(),
                    line,
                    column: j + 1,
                    text: text.to_string(),
                });
            }
            if j == label_col {
                y.push(value);
            } else {
                x.push(value);
            }
        }
    }
    match layout {
        None => Err(IoError::NoRows {
            path: path.to_path_buf(),
            header: header.is_some(),
        }),
        Some((columns, _, _)) => Ok(Dataset {
            n: y.len(),
            d: columns - 1,
            x,
            y,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::super::load_dataset;
    use super::super::testing::{sample, write};
    use super::*;

    #[test]
    fn bad_csv_files_name_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(&str, &str, Option<usize>, &[&str])] = &[
            (
                "nan.csv",
                "1,2,3\n4,nan,6\n",
                None,
                &[":2:", "column 2", "`nan`", "finite"],
            ),
            (
                "inf.csv",
                "a,b,y\n1,2,3\n4,5,-inf\n",
                None,
                &[":3:", "column 3", "`-inf`", "finite"],
            ),
            (
                "ragged.csv",
                "1,2,3\n4,5,6\n7,8\n",
                None,
                &[":3:", "2 columns", "line 1 has 3"],
            ),
            (
                "ragged_header.csv",
                "a,b,y\n1,2\n",
                None,
                &[":2:", "2 columns", "line 1 has 3"],
            ),
            (
                "wrong_d.csv",
                "# from numpy\n1,2,3\n",
                Some(3),
                &[":2:", "2 inputs", "d = 3"],
            ),
            ("empty.csv", "", None, &["no data rows"]),
            ("comments.csv", "# nothing\n\n", None, &["no data rows"]),
            (
                "header_only.csv",
                "x1,x2,y\n",
                None,
                &["no data rows (only a header)"],
            ),
            (
                "unparsable.csv",
                "x1,x2,y\n1,2,3\n\n4,5x,6\n",
                None,
                &[":4:", "column 2 (`x2`)", "`5x`", "not a number"],
            ),
            (
                "typo_first.csv",
                "1,2,o\n4,5,6\n",
                None,
                &[":1:", "column 3", "`o`", "header row"],
            ),
            (
                "empty_field.csv",
                "1,,3\n",
                None,
                &[":1:", "column 2", "``"],
            ),
            ("one_column.csv", "1\n2\n", None, &[":1:", "1 column(s)"]),
            (
                "crlf.csv",
                "1,2,3\r\n4,NaN,6\r\n",
                None,
                &[":2:", "column 2"],
            ),
            (
                "no_newline.csv",
                "1,2,3\n4,5,nan",
                None,
                &[":2:", "column 3"],
            ),
            (
                "blank_lines.csv",
                "\n\n1,2,3\n\n# note, \"quoted\n4,5,x\n",
                None,
                &[":6:", "column 3", "`x`"],
            ),
            (
                "late_header.csv",
                "# c\n\"x\",\"y\",\"z\"\n\n1,2\n",
                None,
                &[":4:", "2 columns", "line 2 has 3"],
            ),
        ];
        for (name, contents, d, words) in cases {
            let path = write(dir.path(), name, contents);
            let e = load_dataset_csv(&path, &LabelColumn::Last, *d)
                .expect_err(name)
                .to_string();
            assert!(e.contains(name), "{name}: `{e}` lacks the file name");
            for w in *words {
                assert!(e.contains(w), "{name}: `{e}` lacks `{w}`");
            }
            // The dispatcher reaches the same error.
            assert_eq!(
                load_dataset(&path, &LabelColumn::Last, *d)
                    .expect_err(name)
                    .to_string(),
                e,
                "{name}"
            );
        }
    }

    #[test]
    fn csv_label_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "named.csv", "y, x1 ,x2\n1,2,3\n4,5,6\n");
        let data = load_dataset_csv(&path, &LabelColumn::Name("y".into()), Some(2)).unwrap();
        assert_eq!((data.x, data.y), (vec![2.0, 3.0, 5.0, 6.0], vec![1.0, 4.0]));
        let data = load_dataset_csv(&path, &"0".parse().unwrap(), None).unwrap();
        assert_eq!(data.y, vec![1.0, 4.0]);
        let e = load_dataset_csv(&path, &LabelColumn::Name("z".into()), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("named.csv") && e.contains("no column named `z`") && e.contains("y, x1, x2"),
            "{e}"
        );
        let e = load_dataset_csv(&path, &LabelColumn::Index(3), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("label column 3") && e.contains("3 columns"),
            "{e}"
        );
        let bare = write(dir.path(), "bare.csv", "1,2,3\n");
        let e = load_dataset_csv(&bare, &LabelColumn::Name("y".into()), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bare.csv") && e.contains("no header row"), "{e}");
        assert_eq!("last".parse::<LabelColumn>(), Ok(LabelColumn::Last));
        let tsv = write(dir.path(), "tabs.tsv", "a\tb\n1\t2\n");
        assert_eq!(
            load_dataset(&tsv, &LabelColumn::Last, Some(1)).unwrap().y,
            vec![2.0]
        );
    }

    #[test]
    fn csv_round_trip_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample();
        let mut text = String::from("# written by a test\nx1,x2,y\n");
        for i in 0..data.n {
            let row = data.row(i);
            text += &format!("{:?}, {:?},{:?}\n", row[0], row[1], data.y[i]);
        }
        let path = write(dir.path(), "round.csv", &text);
        let back = load_dataset(&path, &LabelColumn::Last, Some(2)).unwrap();
        assert_eq!(back, data);
    }
}
