//! `shatter construct`: the lower-bound construction of the 2025 paper for each `--d`
//! (`shatter_core::construction`): packs disjoint caps, evaluates the atoms' closed forms and
//! checks the flatness bound on the atom network on a sample. Writes `construction.csv` and
//! `construction.json` (one row per `d`, the same columns) and `atoms_d<d>.csv`, and prints
//! a table. Trains nothing.

use super::{print_stdout, usage_hint, with_threads};
use crate::args::{ConstructArgs, Global};
use anyhow::Context;
use shatter_core::construction::{CapSpec, Construction, ConstructionError, SampleCheck};
use shatter_lab::io::write_file_atomically;
use shatter_lab::run::fmt_f64;

/// The columns of `construction.csv`, in order (also the keys of each row of the JSON).
pub const COLUMNS: &[&str] = &[
    "d",
    "offset",
    "cap_height",
    "amplitude",
    "budget",
    "seed",
    "caps",
    "candidates",
    "packing_lower",
    "packing_upper",
    "cap_probability",
    "atom_vg",
    "atom_l2",
    "separation",
    "budget_capacity",
    "atoms_under_budget",
    "n",
    "atoms_hit",
    "max_points_per_cap",
    "vg_population",
    "vg_empirical",
    "loss",
    "radius",
    "lambda_max",
    "lambda_error",
    "vg_bound",
    "bound_holds",
];

pub fn run(args: ConstructArgs, global: &Global) -> anyhow::Result<()> {
    if args.d.is_empty() {
        return Err(usage_hint(
            "--d needs at least one dimension",
            "for example --d 2,3,4",
        ));
    }
    let specs: Vec<CapSpec> = args
        .d
        .iter()
        .map(|&d| CapSpec {
            d,
            offset: args.offset,
            amplitude: args.amplitude,
            budget: args.budget,
            patience: args.patience,
            max_caps: args.max_caps,
            seed: args.seed,
        })
        .collect();
    for s in &specs {
        s.check().map_err(bad_flag)?;
    }
    if args.n == 0 {
        return Err(usage_hint(
            "--n 0 is out of range: the flatness check needs at least one sample point",
            "`shatter construct --help` lists every flag with its range",
        ));
    }
    let results: Vec<(Construction, SampleCheck)> = with_threads(global.threads, || {
        specs
            .iter()
            .map(|s| {
                let c = Construction::build(s)?;
                let check = c.check_on_sample(c.atoms_under_budget.max(1), args.n, args.seed)?;
                Ok((c, check))
            })
            .collect::<Result<Vec<_>, ConstructionError>>()
    })?
    .context("building the construction")?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let rows: Vec<Vec<String>> = results.iter().map(|(c, k)| row(c, k)).collect();
    let mut csv = COLUMNS.join(",") + "\n";
    for r in &rows {
        csv += &(r.join(",") + "\n");
    }
    write_file_atomically(&args.out.join("construction.csv"), csv.as_bytes())?;
    let json_rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let map: serde_json::Map<String, serde_json::Value> = COLUMNS
                .iter()
                .zip(r)
                .map(|(k, v)| ((*k).to_string(), json_value(v)))
                .collect();
            serde_json::Value::Object(map)
        })
        .collect();
    let doc = serde_json::json!({
        "program": "shatter",
        "version": env!("CARGO_PKG_VERSION"),
        "what": "lower-bound construction: atoms a relu(u_j . x - t) on disjoint caps of the unit ball",
        "settings": {
            "d": args.d,
            "offset": args.offset,
            "amplitude": args.amplitude,
            "budget": args.budget,
            "patience": args.patience,
            "max_caps": args.max_caps,
            "n": args.n,
            "seed": args.seed,
        },
        "rows": json_rows,
    });
    let text = serde_json::to_string_pretty(&doc)? + "\n";
    write_file_atomically(&args.out.join("construction.json"), text.as_bytes())?;
    for (c, k) in &results {
        let name = format!("atoms_d{}.csv", c.spec.d);
        write_file_atomically(&args.out.join(&name), atoms_csv(c, k).as_bytes())?;
    }
    print_stdout(&table(&results))?;
    if !global.quiet {
        eprintln!("wrote {}", args.out.display());
    }
    Ok(())
}

/// A core settings error as a usage error naming the flag (`max_caps` is `--max-caps`).
fn bad_flag(e: ConstructionError) -> anyhow::Error {
    match &e {
        ConstructionError::OutOfRange { field, .. } => usage_hint(
            format!("--{}: {e}", field.replace('_', "-")),
            "`shatter construct --help` lists every flag with its range",
        ),
        _ => anyhow::Error::new(e),
    }
}

/// A CSV cell back as a JSON value: numbers as numbers, `true`/`false` as booleans, empty as
/// null.
fn json_value(cell: &str) -> serde_json::Value {
    match cell {
        "" => serde_json::Value::Null,
        "true" => serde_json::Value::Bool(true),
        "false" => serde_json::Value::Bool(false),
        _ => cell
            .parse::<i64>()
            .map(serde_json::Value::from)
            .or_else(|_| {
                cell.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .map(serde_json::Value::from)
                    .ok_or(())
            })
            .unwrap_or(serde_json::Value::Null),
    }
}

/// A float cell: shortest round-trip form, empty when not finite (pandas reads NaN).
fn cell(x: f64) -> String {
    if x.is_finite() {
        fmt_f64(x)
    } else {
        String::new()
    }
}

fn row(c: &Construction, k: &SampleCheck) -> Vec<String> {
    let s = &c.spec;
    vec![
        s.d.to_string(),
        cell(s.offset),
        cell(1.0 - s.offset),
        cell(s.amplitude),
        cell(s.budget),
        s.seed.to_string(),
        c.packing.count().to_string(),
        c.packing.candidates.to_string(),
        cell(c.packing_bounds.0),
        cell(c.packing_bounds.1),
        cell(c.cap_probability),
        cell(c.atom_vg),
        cell(c.atom_l2),
        cell(c.separation),
        cell(c.budget_capacity),
        c.atoms_under_budget.to_string(),
        k.n.to_string(),
        k.atoms_hit.to_string(),
        k.max_points_per_cap.to_string(),
        cell(k.vg_population),
        cell(k.vg_empirical),
        cell(k.loss),
        cell(k.radius),
        cell(k.lambda_max),
        cell(k.lambda_error),
        cell(k.bound),
        k.bound_holds.to_string(),
    ]
}

/// `atoms_d<d>.csv`: `atom,sign,u_1..u_d,vg_population,vg_empirical,in_network`, one row per
/// packed cap (`vg_empirical` empty for atoms left out of the network by the budget).
fn atoms_csv(c: &Construction, k: &SampleCheck) -> String {
    let d = c.spec.d;
    let mut s = String::from("atom,sign");
    for j in 1..=d {
        s += &format!(",u_{j}");
    }
    s += ",vg_population,vg_empirical,in_network\n";
    let signs = c.signs();
    for (j, sign) in signs.iter().enumerate() {
        s += &format!("{j},{}", cell(*sign));
        for u in c.packing.direction(j) {
            s += &format!(",{}", cell(*u));
        }
        let emp = k.atom_vg_empirical.get(j).copied();
        s += &format!(
            ",{},{},{}\n",
            cell(c.atom_vg),
            emp.map(cell).unwrap_or_default(),
            emp.is_some()
        );
    }
    s
}

/// Scientific notation with 3 significant digits, `-` when not finite.
fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2e}")
    } else {
        "-".into()
    }
}

fn table(results: &[(Construction, SampleCheck)]) -> String {
    let mut s = format!(
        "{:>3} {:>7} {:>16} {:>10} {:>10} {:>10} {:>10} {:>9} {:>10} {:>10} {:>10} {:>6}\n",
        "d",
        "caps",
        "bounds",
        "atom_vg",
        "atom_l2",
        "capacity",
        "under_bud",
        "hit",
        "vg_emp",
        "lambda",
        "vg_bound",
        "holds"
    );
    for (c, k) in results {
        s += &format!(
            "{:>3} {:>7} {:>16} {:>10} {:>10} {:>10} {:>10} {:>9} {:>10} {:>10} {:>10} {:>6}\n",
            c.spec.d,
            c.packing.count(),
            format!(
                "[{:.0}, {:.0}]",
                c.packing_bounds.0.ceil(),
                c.packing_bounds.1.floor()
            ),
            num(c.atom_vg),
            num(c.atom_l2),
            num(c.budget_capacity),
            c.atoms_under_budget,
            format!("{}/{}", k.atoms_hit, k.atoms),
            num(k.vg_empirical),
            num(k.lambda_max),
            num(k.bound),
            if k.bound_holds { "yes" } else { "NO" }
        );
    }
    s
}
