//! Experiment specs: a base run (the keys of `shatter train --config`), grid axes over any key,
//! zipped axes that vary together, `width_per_n` for widths proportional to `n`, what the store
//! keeps, and the expansion of all that into an ordered list of checked [`Point`]s, each named
//! by its run id. Running the points is `schedule`'s job; storing them is `store`'s.
//!
//! ```toml
//! name = "cod-quick"
//! [base]
//! epochs = 300
//! width_per_n = 4          # width = 4 n at every point
//! [measure]
//! sharpness_every = 0      # run keys about cadence may live here
//! neurons = true           # what the store keeps: trajectories, neurons, models
//! [grid]
//! d = [1, 2, 3, 4, 5]
//! n = [32, 64, 128, 256, 512]
//! seed = [0, 1, 2, 3, 4]
//! [[zip]]                  # keys with equal-length lists, varied together
//! lr = [0.2, 0.01]
//! weight_decay = [0.0, 0.1]
//! ```
//!
//! Order: axes (each grid key, each zip group) nest like `for` loops in the order they appear
//! in the file, the first one outermost; point indices follow that order and never depend on
//! anything but the file.

use crate::spec::{RunConfig, RunSpec, SpecError};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// A problem with a sweep spec, naming the file, the line, the section and the key.
#[derive(Debug, thiserror::Error)]
pub enum SweepSpecError {
    /// The spec file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The spec file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML did not parse, or a top-level key is unknown (the parser's message has the line).
    #[error("{path}: {message}")]
    Parse {
        /// The spec file.
        path: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key in `[base]`, `[measure]`, `[grid]` or `[[zip]]` is unknown, has the wrong type, or
    /// conflicts with another.
    #[error("{place}[{section}] {key}: {message}")]
    Key {
        /// `file:line: `, or `file: ` when the line is not known.
        place: String,
        /// The section (`base`, `grid`, `zip 2`, `measure`).
        section: String,
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// One expanded point failed the run checks (the error names the key and line).
    #[error("{source} (point {index} of {total}: {label})")]
    Point {
        /// 0-based index of the point.
        index: usize,
        /// Number of points.
        total: usize,
        /// The axis values of the point.
        label: String,
        /// The run check's error.
        source: Box<SpecError>,
    },
    /// The grid has more points than [`MAX_POINTS`] (or more than a `usize` can count).
    #[error("{path}: the sweep has {count} points ({axes}); at most {MAX_POINTS} are allowed; split it into several specs")]
    TooManyPoints {
        /// The spec file.
        path: String,
        /// The number of points, as text (it may not fit in a `usize`).
        count: String,
        /// Each axis with its length: `[grid] d: 1000 x [grid] n: 1000`.
        axes: String,
    },
    /// Two points resolve to the same run.
    #[error("{path}: points {first} ({first_label}) and {second} ({second_label}) are the same run {run_id}; remove the repeated value")]
    Duplicate {
        /// The spec file.
        path: String,
        /// 0-based index of the first point.
        first: usize,
        /// Its label.
        first_label: String,
        /// 0-based index of the second point.
        second: usize,
        /// Its label.
        second_label: String,
        /// The shared run id.
        run_id: String,
    },
}

/// What the store keeps of each run besides its row (`[measure]`; every one defaults to true).
/// None of these change a run's numbers or its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keep {
    /// Trajectory rows (table `trajectories`).
    pub trajectories: bool,
    /// Per-neuron statistics of the final network (table `neurons`).
    pub neurons: bool,
    /// The final model as `<store>.models/<run_id>.npz`.
    pub models: bool,
}

impl Default for Keep {
    fn default() -> Self {
        Keep {
            trajectories: true,
            neurons: true,
            models: true,
        }
    }
}

/// One axis of the grid: a single key (`[grid]`) or a group of keys varied together (`[[zip]]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// The keys (one for a grid axis).
    pub keys: Vec<String>,
    /// `values[j][i]`: the value of `keys[i]` at the axis' `j`-th step.
    pub values: Vec<Vec<toml::Value>>,
    /// Section name for messages (`grid` or `zip 1`, 1-based).
    pub section: String,
    /// Line of the axis' first key, when known (orders the axes).
    pub line: Option<usize>,
}

/// A parsed sweep spec. [`SweepSpec::points`] expands and checks it.
#[derive(Clone, Debug)]
pub struct SweepSpec {
    /// The sweep's name (stored with each run); default: the file stem.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The base settings (`[base]` plus the run keys of `[measure]`), `width_per_n` included.
    pub base: toml::Table,
    /// Axes in nesting order (outermost first).
    pub axes: Vec<Axis>,
    /// What the store keeps.
    pub keep: Keep,
    path: String,
    text: String,
}

/// One run of a sweep: its place in the expansion, its settings and its id.
#[derive(Clone, Debug)]
pub struct Point {
    /// 0-based index in the expansion order.
    pub index: usize,
    /// `key=value` pairs of the axes at this point, space-separated.
    pub label: String,
    /// The resolved settings.
    pub spec: RunSpec,
    /// The checked config.
    pub config: RunConfig,
    /// [`RunSpec::run_id`] of `spec`.
    pub run_id: String,
}

impl Point {
    /// A rough cost in floating-point operations (`epochs n width (d + 2)`), used to start the
    /// longest runs first.
    pub fn cost(&self) -> f64 {
        let c = &self.config;
        let n = match &c.data {
            crate::spec::DataSource::Generated(s) => s.n,
            crate::spec::DataSource::File { .. } => c.data_n(),
        };
        match c.model {
            // Kernel ridge regression: about `folds + 1` cubic factorisations.
            crate::spec::ModelKind::Krr { folds, .. } => (folds + 1) as f64 * (n as f64).powi(3),
            crate::spec::ModelKind::Network => {
                c.train.epochs.max(1) as f64
                    * n as f64
                    * c.shape.width as f64
                    * (c.shape.d + 2) as f64
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    name: Option<String>,
    description: Option<String>,
    base: Option<toml::Table>,
    measure: Option<toml::Table>,
    grid: Option<toml::Table>,
    zip: Option<Vec<toml::Table>>,
}

/// The most points a sweep may have: each point is checked and held in memory (about a
/// kilobyte) before the first run starts.
pub const MAX_POINTS: usize = 100_000;

/// The sweep-only key that sets `width = round(width_per_n * n)` at every point.
pub const WIDTH_PER_N: &str = "width_per_n";
const MEASURE_RUN_KEYS: [&str; 8] = [
    "sharpness_every",
    "test_every",
    "log_every",
    "top_k",
    "lanczos_tol",
    "lanczos_max_iter",
    "outlier_threshold",
    "trace_products",
];
const MEASURE_KEEP_KEYS: [&str; 3] = ["trajectories", "neurons", "models"];

/// Where a key sits in the file.
#[derive(Clone, Copy)]
enum Section<'a> {
    Table(&'a str),
    ArrayTable(&'a str, usize),
}

/// The 1-based line of `key = ...` inside `section` (a `[name]` table or the `idx`-th
/// `[[name]]` table, 0-based), scanning headers as they appear.
fn key_line(text: &str, section: Section<'_>, key: &str) -> Option<usize> {
    let mut current: Option<(String, Option<usize>)> = None;
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (i, raw) in text.lines().enumerate() {
        let t = raw.trim();
        if let Some(h) = t.strip_prefix("[[") {
            let name = h.split("]]").next().unwrap_or("").trim().to_string();
            let c = counts.entry(name.clone()).or_insert(0);
            current = Some((name, Some(*c)));
            *c += 1;
            continue;
        }
        if let Some(h) = t.strip_prefix('[') {
            let name = h.split(']').next().unwrap_or("").trim().to_string();
            current = Some((name, None));
            continue;
        }
        let here = match (&current, section) {
            (Some((n, None)), Section::Table(s)) => n == s,
            (Some((n, Some(j))), Section::ArrayTable(s, idx)) => n == s && *j == idx,
            _ => false,
        };
        if here {
            let matches = t
                .strip_prefix(key)
                .or_else(|| t.strip_prefix(&format!("\"{key}\"")))
                .is_some_and(|rest| rest.trim_start().starts_with('='));
            if matches {
                return Some(i + 1);
            }
        }
    }
    None
}

/// Checks that `key = value` is a valid run setting (or `width_per_n`) by deserialising it
/// alone; returns the deserialiser's message (unknown field with the list of keys, or the
/// expected type).
fn check_key_type(key: &str, value: &toml::Value) -> Result<(), String> {
    if key == WIDTH_PER_N {
        return match value.as_float().or(value.as_integer().map(|i| i as f64)) {
            Some(x) if x.is_finite() && x > 0.0 => Ok(()),
            _ => Err(format!("{value} is not a positive number")),
        };
    }
    let mut t = toml::Table::new();
    t.insert(key.to_string(), value.clone());
    toml::Value::Table(t)
        .try_into::<RunSpec>()
        .map(|_| ())
        .map_err(|e| {
            let m = e.to_string();
            let m = m.trim();
            if m.contains("unknown field") {
                format!("{m} (or {WIDTH_PER_N})")
            } else {
                m.to_string()
            }
        })
}

/// `key=value` with strings unquoted.
fn show(key: &str, v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{key}={s}"),
        other => format!("{key}={other}"),
    }
}

impl SweepSpec {
    /// Reads a sweep spec file.
    pub fn from_file(path: &Path) -> Result<Self, SweepSpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SweepSpecError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "sweep".into());
        let mut spec = Self::from_toml(&text, &path.display().to_string())?;
        if spec.name.is_empty() {
            spec.name = stem;
        }
        Ok(spec)
    }

    /// Parses sweep TOML; `path` names it in errors. Checks every key's name and type (with its
    /// line); values' ranges are checked per point by [`SweepSpec::points`].
    pub fn from_toml(text: &str, path: &str) -> Result<Self, SweepSpecError> {
        let file: SweepFile = toml::from_str(text).map_err(|e| SweepSpecError::Parse {
            path: path.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let place = |section: Section<'_>, key: &str| match key_line(text, section, key) {
            Some(l) => format!("{path}:{l}: "),
            None => format!("{path}: "),
        };
        let key_err =
            |section: Section<'_>, name: &str, key: &str, message: String| SweepSpecError::Key {
                place: place(section, key),
                section: name.to_string(),
                key: key.to_string(),
                message,
            };
        // Where each key is set, for conflict messages.
        let mut set_in: HashMap<String, String> = HashMap::new();
        let mut base = toml::Table::new();
        for (key, value) in file.base.unwrap_or_default() {
            check_key_type(&key, &value)
                .map_err(|m| key_err(Section::Table("base"), "base", &key, m))?;
            set_in.insert(key.clone(), "[base]".into());
            base.insert(key, value);
        }
        let mut keep = Keep::default();
        for (key, value) in file.measure.unwrap_or_default() {
            let sec = Section::Table("measure");
            if MEASURE_KEEP_KEYS.contains(&key.as_str()) {
                let b = value.as_bool().ok_or_else(|| {
                    key_err(
                        sec,
                        "measure",
                        &key,
                        format!("{value} is not true or false"),
                    )
                })?;
                match key.as_str() {
                    "trajectories" => keep.trajectories = b,
                    "neurons" => keep.neurons = b,
                    _ => keep.models = b,
                }
            } else if MEASURE_RUN_KEYS.contains(&key.as_str()) {
                check_key_type(&key, &value).map_err(|m| key_err(sec, "measure", &key, m))?;
                if set_in.contains_key(&key) {
                    return Err(key_err(
                        sec,
                        "measure",
                        &key,
                        "is also set in [base]; remove one".into(),
                    ));
                }
                set_in.insert(key.clone(), "[measure]".into());
                base.insert(key, value);
            } else {
                return Err(key_err(
                    sec,
                    "measure",
                    &key,
                    format!(
                        "unknown key; [measure] takes {} and {}",
                        MEASURE_RUN_KEYS.join(", "),
                        MEASURE_KEEP_KEYS.join(", ")
                    ),
                ));
            }
        }
        let mut axes = Vec::new();
        let mut add_axis = |axis: Axis, sec: Section<'_>| -> Result<(), SweepSpecError> {
            for key in &axis.keys {
                if let Some(other) = set_in.get(key) {
                    return Err(key_err(
                        sec,
                        &axis.section,
                        key,
                        format!("is also set in {other}; a key is fixed or varied, not both"),
                    ));
                }
                set_in.insert(key.clone(), format!("[{}]", axis.section));
            }
            axes.push(axis);
            Ok(())
        };
        for (key, value) in file.grid.unwrap_or_default() {
            let sec = Section::Table("grid");
            let list = list_of(&value).map_err(|m| key_err(sec, "grid", &key, m))?;
            for v in &list {
                check_key_type(&key, v).map_err(|m| key_err(sec, "grid", &key, m))?;
            }
            let axis = Axis {
                line: key_line(text, sec, &key),
                values: list.into_iter().map(|v| vec![v]).collect(),
                keys: vec![key],
                section: "grid".into(),
            };
            add_axis(axis, sec)?;
        }
        for (g, group) in file.zip.unwrap_or_default().into_iter().enumerate() {
            let sec = Section::ArrayTable("zip", g);
            let name = format!("zip {}", g + 1);
            let mut keys = Vec::new();
            let mut columns = Vec::new();
            let mut first_line: Option<usize> = None;
            for (key, value) in group {
                let list = list_of(&value).map_err(|m| key_err(sec, &name, &key, m))?;
                for v in &list {
                    check_key_type(&key, v).map_err(|m| key_err(sec, &name, &key, m))?;
                }
                if let Some((k0, c0)) = keys.first().zip(columns.first()) {
                    let c0: &Vec<toml::Value> = c0;
                    if c0.len() != list.len() {
                        return Err(key_err(
                            sec,
                            &name,
                            &key,
                            format!(
                                "has {} values but {k0} has {}; zipped keys vary together and need equally long lists",
                                list.len(),
                                c0.len()
                            ),
                        ));
                    }
                }
                let line = key_line(text, sec, &key);
                first_line = match (first_line, line) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                keys.push(key);
                columns.push(list);
            }
            if keys.is_empty() {
                return Err(SweepSpecError::Parse {
                    path: path.to_string(),
                    message: format!("[[zip]] group {} has no keys", g + 1),
                });
            }
            let steps = columns[0].len();
            let values = (0..steps)
                .map(|j| columns.iter().map(|c| c[j].clone()).collect())
                .collect();
            add_axis(
                Axis {
                    keys,
                    values,
                    section: name,
                    line: first_line,
                },
                sec,
            )?;
        }
        // Nest in file order; axes whose line is unknown (inline tables) go last, by name.
        axes.sort_by(|a, b| match (a.line, b.line) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.keys.cmp(&b.keys),
        });
        Ok(SweepSpec {
            name: file.name.unwrap_or_default(),
            description: file.description,
            base,
            axes,
            keep,
            path: path.to_string(),
            text: text.to_string(),
        })
    }

    /// Number of points (the product of the axes' lengths), `None` when it overflows a
    /// `usize`.
    pub fn count(&self) -> Option<usize> {
        self.axes
            .iter()
            .try_fold(1usize, |acc, a| acc.checked_mul(a.values.len()))
    }

    /// Number of points (the product of the axes' lengths), saturating at `usize::MAX`.
    pub fn len(&self) -> usize {
        self.count().unwrap_or(usize::MAX)
    }

    /// Whether the sweep has no points (an axis with an empty list).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The 1-based line that sets `key` at a point: the axis that varies it, else `[base]` or
    /// `[measure]`.
    fn line_for(&self, key: &str) -> Option<usize> {
        for (g, axis) in self
            .axes
            .iter()
            .filter(|a| a.section.starts_with("zip"))
            .enumerate()
        {
            if axis.keys.iter().any(|k| k == key) {
                let idx = axis
                    .section
                    .strip_prefix("zip ")
                    .and_then(|s| s.parse::<usize>().ok())
                    .map(|i| i - 1)
                    .unwrap_or(g);
                return key_line(&self.text, Section::ArrayTable("zip", idx), key);
            }
        }
        key_line(&self.text, Section::Table("grid"), key)
            .or_else(|| key_line(&self.text, Section::Table("base"), key))
            .or_else(|| key_line(&self.text, Section::Table("measure"), key))
    }

    /// Expands the grid into points in nesting order, checks each with [`RunSpec::check`]
    /// (errors point at the line of the offending key in this file) and rejects repeated runs.
    /// Cost: one check and one SHA-256 per point.
    pub fn points(&self) -> Result<Vec<Point>, SweepSpecError> {
        let total = match self.count() {
            Some(t) if t <= MAX_POINTS => t,
            count => {
                let exact: f64 = self.axes.iter().map(|a| a.values.len() as f64).product();
                return Err(SweepSpecError::TooManyPoints {
                    path: self.path.clone(),
                    count: match count {
                        Some(c) => c.to_string(),
                        None => format!("{exact:e}"),
                    },
                    axes: self
                        .axes
                        .iter()
                        .map(|a| {
                            format!("[{}] {}: {}", a.section, a.keys.join(", "), a.values.len())
                        })
                        .collect::<Vec<_>>()
                        .join(" x "),
                });
            }
        };
        let mut cache = crate::spec::InputCache::default();
        let mut out = Vec::with_capacity(total);
        let mut seen: HashMap<String, usize> = HashMap::new();
        let line_count = self.text.lines().count().max(1);
        for index in 0..total {
            // Mixed-radix digits, the last axis varying fastest.
            let mut rest = index;
            let mut steps = vec![0; self.axes.len()];
            for (i, axis) in self.axes.iter().enumerate().rev() {
                let len = axis.values.len();
                steps[i] = rest % len;
                rest /= len;
            }
            let mut table = self.base.clone();
            let mut label = Vec::new();
            for (axis, &j) in self.axes.iter().zip(&steps) {
                for (key, v) in axis.keys.iter().zip(&axis.values[j]) {
                    label.push(show(key, v));
                    table.insert(key.clone(), v.clone());
                }
            }
            let label = label.join(" ");
            let point_err = |source: SpecError| SweepSpecError::Point {
                index,
                total,
                label: label.clone(),
                source: Box::new(source),
            };
            // A stand-in source text with each key on the line that sets it here, so that the
            // run checks name this file's lines.
            let mut lines = vec![String::new(); line_count];
            for key in table.keys() {
                if let Some(l) = self.line_for(key) {
                    if lines[l - 1].is_empty() {
                        lines[l - 1] = format!("{key} = _");
                    }
                }
            }
            let stand_in = lines.join("\n");
            let source = Some((self.path.as_str(), stand_in.as_str()));
            if let Some(mult) = table.remove(WIDTH_PER_N) {
                let mult = mult.as_float().or(mult.as_integer().map(|i| i as f64));
                let mult = mult.unwrap_or(0.0);
                if table.contains_key("width") {
                    return Err(point_err(SpecError::Conflict {
                        place: crate::spec::place_of(source, "width"),
                        message: format!("width and {WIDTH_PER_N} are both set; keep one of them"),
                    }));
                }
                // The real n: a data file's number of rows, else the spec's n.
                let n = match table.get("data").and_then(|v| v.as_str()) {
                    Some(path) => {
                        let label = table.get("label_column").and_then(|v| v.as_str());
                        let d = table
                            .get("d")
                            .and_then(|v| v.as_integer())
                            .and_then(|d| usize::try_from(d).ok());
                        cache
                            .data_shape(Path::new(path), label, d)
                            .map_err(|e| {
                                point_err(SpecError::Input {
                                    place: crate::spec::place_of(source, "data"),
                                    key: "data",
                                    source: Box::new(e),
                                })
                            })?
                            .0 as f64
                    }
                    None => table
                        .get("n")
                        .and_then(|v| v.as_integer())
                        .unwrap_or(512)
                        .max(0) as f64,
                };
                let width = (mult * n).round();
                let max = crate::spec::MAX_WIDTH as f64;
                if !(width >= 1.0 && width <= max) {
                    let shown = if width.abs() < 1e15 {
                        width.to_string()
                    } else {
                        format!("{width:e}")
                    };
                    return Err(point_err(SpecError::OutOfRange {
                        place: crate::spec::place_of(source, WIDTH_PER_N),
                        key: WIDTH_PER_N,
                        value: format!("{mult:?}"),
                        expected: format!(
                            "gives width {shown} for n = {n}; must give 1 to {}",
                            crate::spec::MAX_WIDTH
                        ),
                    }));
                }
                table.insert("width".into(), toml::Value::Integer(width as i64));
            }
            let spec: RunSpec = toml::Value::Table(table).try_into().map_err(|e| {
                point_err(SpecError::Parse {
                    path: self.path.clone(),
                    message: e.to_string().trim().to_string(),
                })
            })?;
            let config = spec.check_with(source, &mut cache).map_err(point_err)?;
            let spec = config.spec.clone();
            let run_id = spec.run_id();
            if let Some(&first) = seen.get(&run_id) {
                let first_label: &Point = &out[first];
                return Err(SweepSpecError::Duplicate {
                    path: self.path.clone(),
                    first,
                    first_label: first_label.label.clone(),
                    second: index,
                    second_label: label,
                    run_id,
                });
            }
            seen.insert(run_id.clone(), index);
            out.push(Point {
                index,
                label,
                spec,
                config,
                run_id,
            });
        }
        Ok(out)
    }
}

/// The values of an axis: a non-empty array (a single value is a one-step axis).
fn list_of(value: &toml::Value) -> Result<Vec<toml::Value>, String> {
    match value {
        toml::Value::Array(a) if a.is_empty() => {
            Err("is an empty list; give at least one value".into())
        }
        toml::Value::Array(a) => Ok(a.clone()),
        other => Ok(vec![other.clone()]),
    }
}

/// A deterministic slice of a sweep for job arrays: shard `index` (1-based) of `count` takes
/// the points whose index is `index - 1` modulo `count`, so every shard gets a mix of cheap and
/// expensive points and the shards are disjoint and cover the sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 1-based shard number, `1 <= index <= count`.
    pub index: usize,
    /// Number of shards, at least 1.
    pub count: usize,
}

impl Shard {
    /// Whether the point with 0-based index `point` belongs to this shard.
    pub fn contains(&self, point: usize) -> bool {
        point % self.count == self.index - 1
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    /// Parses `i/N` with `1 <= i <= N`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("--shard {s:?}: expected i/N with 1 <= i <= N (1-based; for a 0-based job array id use $((ID + 1))/N)")
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lines_follow_sections() {
        let text = "[base]\nlr = 1\n[grid]\nlr = [1]\n[[zip]]\nd = [1]\n[[zip]]\nd = [2]\n";
        assert_eq!(key_line(text, Section::Table("base"), "lr"), Some(2));
        assert_eq!(key_line(text, Section::Table("grid"), "lr"), Some(4));
        assert_eq!(key_line(text, Section::ArrayTable("zip", 1), "d"), Some(8));
        assert_eq!(key_line(text, Section::Table("grid"), "d"), None);
    }

    #[test]
    fn shards_parse_one_based() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "1/0", "x", "1/2/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
