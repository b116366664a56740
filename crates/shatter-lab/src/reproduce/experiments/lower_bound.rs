//! The `lower-bound` experiment: Liang, Qiao, Wang, Parhi 2025, Section 4 and Fig. 1 (middle
//! and right): the construction behind the minimax lower bound, boundary-localised ReLU atoms
//! on disjoint caps of the unit ball (`shatter_core::construction`). Nothing is trained: every
//! number follows from the parameters below (closed forms, quadrature, a seeded packing, one
//! seeded sample for the empirical weight and the flatness check), so the report has 0 runs.

use super::{About, Computed, Experiment, Scale};
use crate::figures::style::format_sig;
use crate::figures::{fit_loglog, AtomMap, Curve, CurvePlot, CurveStyle};
use crate::reproduce::analysis::{Analysis, Row, RunView};
use crate::reproduce::claims::{Claim, Method};
use crate::reproduce::error::ReproduceError;
use crate::reproduce::figs::{figure, ReportFigure};
use shatter_core::construction::{
    atom_population_vg, CapSpec, Construction, ConstructionError, SampleCheck,
};
use std::path::Path;

/// The parameters of the experiment at one scale.
#[derive(Clone, Debug, PartialEq)]
pub struct LowerBoundParams {
    /// Input dimensions, one construction each.
    pub dims: Vec<usize>,
    /// Offset `t` of every atom (cap height `1 - t`).
    pub offset: f64,
    /// Amplitude `a` of every atom.
    pub amplitude: f64,
    /// Budget on the network's `|f|_Vg` (population weight).
    pub budget: f64,
    /// Consecutive rejections before the greedy packing stops.
    pub patience: usize,
    /// Most caps packed per dimension.
    pub max_caps: usize,
    /// Sample size of the empirical weight and the flatness check (the papers' n).
    pub n: usize,
    /// Monte Carlo points of the separation check.
    pub mc_points: usize,
    /// Cap heights `1 - t` of the `|f|_Vg` figure: from, to, count (log-spaced).
    pub heights: (f64, f64, usize),
    /// Cap heights `1 - t` of the boundary-exponent fit: from, to, count (log-spaced).
    pub fit_heights: (f64, f64, usize),
    /// Offset of the `d = 2` map of the atoms.
    pub map_offset: f64,
    /// Seed of the packing, the signs, the sample and the Monte Carlo points.
    pub seed: u64,
}

impl LowerBoundParams {
    /// The parameters at `scale`: `quick` packs `d = 2..6` with patience 2000 (under a
    /// second); `paper` `d = 2..12` with patience 200000 (seconds), n = 512 as the papers'
    /// shattering runs.
    pub fn at(scale: Scale) -> LowerBoundParams {
        let quick = scale == Scale::Quick;
        LowerBoundParams {
            dims: if quick {
                (2..=6).collect()
            } else {
                (2..=12).collect()
            },
            offset: 0.9,
            amplitude: 1.0,
            budget: 1.0,
            patience: if quick { 2000 } else { 200_000 },
            max_caps: 200_000,
            n: 512,
            mc_points: if quick { 100_000 } else { 1_000_000 },
            heights: (1e-3, 0.5, 40),
            fit_heights: (1e-3, 1e-2, 10),
            map_offset: 0.8,
            seed: 0,
        }
    }

    /// The parameters as TOML (what `--print-spec` prints and the report shows).
    pub fn to_toml(&self, scale: Scale) -> String {
        let dims: Vec<String> = self.dims.iter().map(usize::to_string).collect();
        format!(
            r#"# lower-bound ({scale} scale): nothing is trained; every number follows from these parameters.
name = "lower-bound-{scale}"
dims = [{dims}]
offset = {offset}
amplitude = {amplitude}
budget = {budget}
patience = {patience}
max_caps = {max_caps}
n = {n}
mc_points = {mc}
heights = [{h0}, {h1}, {hn}]
fit_heights = [{f0}, {f1}, {fn_}]
map_offset = {map}
seed = {seed}
"#,
            dims = dims.join(", "),
            offset = self.offset,
            amplitude = self.amplitude,
            budget = self.budget,
            patience = self.patience,
            max_caps = self.max_caps,
            n = self.n,
            mc = self.mc_points,
            h0 = self.heights.0,
            h1 = self.heights.1,
            hn = self.heights.2,
            f0 = self.fit_heights.0,
            f1 = self.fit_heights.1,
            fn_ = self.fit_heights.2,
            map = self.map_offset,
            seed = self.seed,
        )
    }

    fn spec(&self, d: usize, offset: f64) -> CapSpec {
        CapSpec {
            d,
            offset,
            amplitude: self.amplitude,
            budget: self.budget,
            patience: self.patience,
            max_caps: self.max_caps,
            seed: self.seed,
        }
    }
}

/// `count` log-spaced values from `lo` to `hi`.
fn log_spaced(lo: f64, hi: f64, count: usize) -> Vec<f64> {
    let (a, b) = (lo.ln(), hi.ln());
    (0..count)
        .map(|i| (a + (b - a) * i as f64 / (count.max(2) - 1) as f64).exp())
        .collect()
}

/// One dimension's construction and its checks.
struct PerDim {
    c: Construction,
    check: SampleCheck,
    /// Monte Carlo `||f_0 - f_1||^2` and its standard error (`None` with one cap).
    mc: Option<(f64, f64)>,
    /// Fitted exponent of `|f|_Vg` in the cap height with its 95% half-width.
    exponent: (f64, f64),
}

fn construct_error(e: ConstructionError) -> ReproduceError {
    ReproduceError::Compute {
        what: "the lower-bound construction".into(),
        message: e.to_string(),
    }
}

fn per_dim(p: &LowerBoundParams, d: usize) -> Result<PerDim, ReproduceError> {
    let c = Construction::build(&p.spec(d, p.offset)).map_err(construct_error)?;
    let check = c
        .check_on_sample(c.atoms_under_budget.max(1), p.n, p.seed)
        .map_err(construct_error)?;
    let mc = if c.packing.count() >= 2 {
        Some(
            c.monte_carlo_separation_squared(0, 1, p.mc_points, p.seed)
                .map_err(construct_error)?,
        )
    } else {
        None
    };
    let hs = log_spaced(p.fit_heights.0, p.fit_heights.1, p.fit_heights.2);
    let vg: Vec<f64> = hs
        .iter()
        .map(|h| atom_population_vg(p.amplitude, 1.0 - h, d))
        .collect::<Result<_, _>>()
        .map_err(construct_error)?;
    let fit = fit_loglog(&hs, &vg).map_err(|e| ReproduceError::Compute {
        what: format!("the boundary exponent at d = {d}"),
        message: e.to_string(),
    })?;
    Ok(PerDim {
        c,
        check,
        mc,
        exponent: (fit.slope, fit.ci95),
    })
}

/// The boundary-localised atoms of the lower bound, measured without training.
pub struct LowerBound;

const ABOUT: About = About {
    id: "lower-bound",
    figure: "Liang, Qiao, Wang, Parhi 2025, Section 4 and Fig. 1 (middle, right)",
    what: "Boundary-localised ReLU atoms a relu(u_j . x - t) on disjoint caps of the unit ball: each costs a g_P(t) ~ a (1-t)^(d+2) of |f|_Vg, and the number of disjoint caps, hence of atoms under a fixed budget, grows exponentially with d. Nothing is trained.",
    reported: "Flat networks can fit noise with neurons that fire on thin boundary caps; the weight g vanishes like (1-|t|)^(d+2) there, and the packing of such caps grows exponentially with d, which gives the minimax lower bound 2/(d+1) for stable minima.",
};

impl Experiment for LowerBound {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn spec(&self, scale: Scale) -> Option<String> {
        Some(LowerBoundParams::at(scale).to_toml(scale))
    }
    fn claims(&self, _runs: &[RunView]) -> Analysis {
        Analysis::default()
    }
    fn trains(&self) -> bool {
        false
    }
    fn compute(&self, scale: Scale, dir: &Path) -> Result<Computed, ReproduceError> {
        let p = LowerBoundParams::at(scale);
        compute(&p, dir)
    }
}

/// The analysis and figures of the construction with parameters `p`, figures under `dir`.
pub fn compute(p: &LowerBoundParams, dir: &Path) -> Result<Computed, ReproduceError> {
    let rows: Vec<PerDim> = p
        .dims
        .iter()
        .map(|&d| per_dim(p, d))
        .collect::<Result<_, _>>()?;
    let mut a = Analysis::default();
    let t = p.offset;
    // Exponential growth: slope of ln(count) against d (fit_loglog on (e^d, count) fits
    // ln count = c + slope d).
    let ds: Vec<f64> = rows.iter().map(|r| r.c.spec.d as f64).collect();
    let growth = |counts: &[f64]| {
        let ex: Vec<f64> = ds.iter().map(|d| d.exp()).collect();
        fit_loglog(&ex, counts).ok()
    };
    let under: Vec<f64> = rows.iter().map(|r| r.c.atoms_under_budget as f64).collect();
    let caps: Vec<f64> = rows.iter().map(|r| r.c.packing.count() as f64).collect();
    let setting = format!(
        "t = {t}, a = {}, budget {}, d = {}..{}",
        p.amplitude,
        p.budget,
        p.dims.first().copied().unwrap_or(0),
        p.dims.last().copied().unwrap_or(0)
    );
    let under_fit = growth(&under);
    for (what, fit) in [
        (
            "growth with d of the number of atoms under the |f|_Vg budget",
            under_fit,
        ),
        (
            "growth with d of the number of disjoint caps",
            growth(&caps),
        ),
    ] {
        let (est, ci) = match &fit {
            Some(f) => (f.slope, Some((f.slope - f.ci95, f.slope + f.ci95))),
            None => (f64::NAN, None),
        };
        a.rows.push(Row::claim(
            what,
            setting.clone(),
            format!(
                "slope of ln count on d {} (x{} per dimension)",
                format_sig(est, 3),
                format_sig(est.exp(), 3)
            ),
            "exponential in d (slope > 0)",
            "agrees when the whole interval of the slope is above 0",
            Claim::interval(
                est,
                ci,
                Method::SlopeTOver(ds.len(), "dimensions"),
                None,
                (0.0, f64::INFINITY),
            ),
        ));
    }
    for r in &rows {
        let d = r.c.spec.d;
        let s = format!("d = {d}, t = {t}");
        let want = d as f64 + 2.0;
        let (slope, half) = r.exponent;
        a.rows.push(Row::claim(
            "boundary exponent of one atom's |f|_Vg in the cap height 1 - t",
            s.clone(),
            format_sig(slope, 3),
            format!("d + 2 = {want}"),
            "agrees when the interval lies within 5% of d + 2 (fit over cap heights 1e-3..1e-2)",
            Claim::interval(
                slope,
                Some((slope - half, slope + half)),
                Method::SlopeTOver(p.fit_heights.2, "cap heights"),
                Some(want),
                (0.95 * want, 1.05 * want),
            ),
        ));
        let ch = &r.check;
        // The rounding allowance of `bound_holds_certified`: with no sample point in any cap
        // the bound is 0 = |f|_Vg, met with equality up to rounding.
        let slack = ch.bound + 0.5 * ch.lambda_error - ch.vg_empirical;
        let rounding = 1e-9 * ch.bound.abs().max(1.0);
        a.rows.push(Row::claim(
            "flatness bound on the atom network (Theorem 3.2): bound - |f|_Vg",
            format!("{s}, {} atoms, n = {}", ch.atoms, ch.n),
            format!(
                "|f|_Vg {} <= {} (lambda_max {})",
                format_sig(ch.vg_empirical, 3),
                format_sig(ch.bound, 3),
                format_sig(ch.lambda_max, 3)
            ),
            "holds for every network",
            "agrees when the slack is >= 0 (with the certified Lanczos error, up to 1e-9 rounding)",
            Claim::point(slack, None, (-rounding, f64::INFINITY)),
        ));
        let (lower, upper) = r.c.packing_bounds;
        a.rows.push(Row::context(
            "disjoint caps packed (greedy), against a maximal packing's bounds",
            s.clone(),
            format!(
                "{} caps in [{}, {}]; {} candidates",
                r.c.packing.count(),
                format_sig(lower, 3),
                format_sig(upper, 3),
                r.c.packing.candidates
            ),
            "",
        ));
        a.rows.push(Row::context(
            "one atom: |f|_Vg under g_P, L2(P) norm, share of the ball in its cap",
            s.clone(),
            format!(
                "{}, {}, {}",
                format_sig(r.c.atom_vg, 3),
                format_sig(r.c.atom_l2, 3),
                format_sig(r.c.cap_probability, 3)
            ),
            "",
        ));
        a.rows.push(Row::context(
            "atoms the budget pays for, atoms under the budget with disjoint caps",
            s.clone(),
            format!(
                "{}, {}",
                format_sig(r.c.budget_capacity, 3),
                r.c.atoms_under_budget
            ),
            "",
        ));
        let sep_measured = match r.mc {
            Some((m, se)) => format!(
                "{} (Monte Carlo {} ± {}, {} points)",
                format_sig(r.c.separation, 3),
                format_sig(m.sqrt(), 3),
                format_sig(se / (2.0 * m.sqrt().max(1e-300)), 3),
                p.mc_points
            ),
            None => "one cap: no pair".into(),
        };
        a.rows.push(Row::context(
            "pairwise L2(P) separation sqrt(||f_i||^2 + ||f_j||^2)",
            s.clone(),
            sep_measured,
            "",
        ));
        a.rows.push(Row::context(
            "on the sample: atoms whose cap holds a point, most points in one cap",
            format!("{s}, n = {}", ch.n),
            format!(
                "{} of {}, {}",
                ch.atoms_hit, ch.atoms, ch.max_points_per_cap
            ),
            "",
        ));
        a.rows.push(Row::context(
            "network |f|_Vg: empirical weight against population weight; stable step 2/lambda_max",
            format!("{s}, n = {}", ch.n),
            format!(
                "{} vs {}; {}",
                format_sig(ch.vg_empirical, 3),
                format_sig(ch.vg_population, 3),
                format_sig(2.0 / ch.lambda_max, 3)
            ),
            "",
        ));
    }
    let first = rows.first();
    let last = rows.last();
    if let (Some(f), Some(l)) = (first, last) {
        a.words.push(format!(
            "At t = {t}, the greedy packing holds {} disjoint caps at d = {} and {} at d = {}; one atom costs {} of |f|_Vg at d = {} and {} at d = {}, so the budget {} pays for {} and {} atoms there.",
            f.c.packing.count(), f.c.spec.d, l.c.packing.count(), l.c.spec.d,
            format_sig(f.c.atom_vg, 3), f.c.spec.d, format_sig(l.c.atom_vg, 3), l.c.spec.d,
            p.budget, format_sig(f.c.budget_capacity, 3), format_sig(l.c.budget_capacity, 3)
        ));
        a.words.push(format!(
            "On a sample of n = {} points, {} of the {} atoms at d = {} fire on at least one point: the atoms fit noise where there is almost no data, and the flatness bound, which holds on every one of these networks, barely sees them (lambda_max {} at d = {}).",
            l.check.n, l.check.atoms_hit, l.check.atoms, l.c.spec.d,
            format_sig(l.check.lambda_max, 3), l.c.spec.d
        ));
    }
    let figures = figures(p, &rows, under_fit.as_ref(), dir)?;
    Ok(Computed {
        analysis: a,
        figures,
        settings: format!(
            "nothing trained; d in {{{}}}, offset t = {}, amplitude {}, budget {}, patience {}, n = {}, seed {}",
            p.dims.iter().map(usize::to_string).collect::<Vec<_>>().join(", "),
            p.offset, p.amplitude, p.budget, p.patience, p.n, p.seed
        ),
        seeds: vec![p.seed],
    })
}

fn figures(
    p: &LowerBoundParams,
    rows: &[PerDim],
    under_fit: Option<&crate::figures::Fit>,
    dir: &Path,
) -> Result<Vec<ReportFigure>, ReproduceError> {
    let mut out = Vec::new();
    // 1. The atoms in d = 2.
    let c2 = Construction::build(&p.spec(2, p.map_offset)).map_err(construct_error)?;
    let signs = c2.signs();
    let map = AtomMap {
        title: format!(
            "{} atoms a relu(u_j . x - t) on disjoint caps, d = 2, t = {}",
            c2.packing.count(),
            p.map_offset
        ),
        directions: (0..c2.packing.count())
            .map(|j| {
                let u = c2.packing.direction(j);
                [u[0], u[1]]
            })
            .collect(),
        signs,
        amplitude: p.amplitude,
        offset: p.map_offset,
        resolution: 240,
    };
    out.push(figure(
        &map,
        "atom map",
        &dir.join("atoms_d2"),
        format!(
            "The function of {} boundary-localised atoms with random signs in d = 2 (t = {}, a = {}): left, a heat map over the unit disk (each cap's chord in white; f = 0 elsewhere); right, f along the unit circle, one bump of height {} per cap, the bumps disjoint.",
            c2.packing.count(),
            p.map_offset,
            p.amplitude,
            format_sig(p.amplitude * (1.0 - p.map_offset), 3)
        ),
    )?);
    // 2. One atom's |f|_Vg against the cap height, per d.
    let hs = log_spaced(p.heights.0, p.heights.1, p.heights.2);
    let mut curves = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let d = r.c.spec.d;
        let ys: Vec<f64> = hs
            .iter()
            .map(|h| atom_population_vg(p.amplitude, 1.0 - h, d).unwrap_or(f64::NAN))
            .collect();
        curves.push(Curve {
            label: format!("d = {d}: exponent {}", format_sig(r.exponent.0, 3)),
            xs: hs.clone(),
            ys,
            colour: i,
            style: CurveStyle::Line,
        });
    }
    let vg_plot = CurvePlot {
        title: "One atom's |f|_Vg = a g_P(t) against the cap height 1 - t".into(),
        x_label: "cap height 1 - t".into(),
        y_label: "|f|_Vg of one atom".into(),
        log_x: true,
        log_y: true,
        integer_x: false,
        legend_heading: "fitted exponent near the boundary".into(),
        curves,
    };
    out.push(figure(
        &vg_plot,
        "atom norm",
        &dir.join("atom_vg"),
        format!(
            "|f|_Vg of one atom of amplitude {} under the population weight of Uniform(B^d), against the cap height on log-log axes; near the boundary it falls like (1-t)^(d+2) (fitted exponents over heights {}..{} in the legend).",
            p.amplitude,
            format_sig(p.fit_heights.0, 3),
            format_sig(p.fit_heights.1, 3)
        ),
    )?);
    // 3. The number of atoms against d.
    let ds: Vec<f64> = rows.iter().map(|r| r.c.spec.d as f64).collect();
    let mut curves = vec![
        Curve {
            label: "disjoint caps packed (greedy)".into(),
            xs: ds.clone(),
            ys: rows.iter().map(|r| r.c.packing.count() as f64).collect(),
            colour: 0,
            style: CurveStyle::Points,
        },
        Curve {
            label: format!(
                "atoms under the budget {} (the caps where it does not bind)",
                p.budget
            ),
            xs: ds.clone(),
            ys: rows.iter().map(|r| r.c.atoms_under_budget as f64).collect(),
            colour: 1,
            style: CurveStyle::Dashed,
        },
        Curve {
            label: "atoms the budget pays for".into(),
            xs: ds.clone(),
            ys: rows.iter().map(|r| r.c.budget_capacity).collect(),
            colour: 2,
            style: CurveStyle::Points,
        },
        Curve {
            label: "upper bound 1/sigma(theta)".into(),
            xs: ds.clone(),
            ys: rows.iter().map(|r| r.c.packing_bounds.1).collect(),
            colour: 3,
            style: CurveStyle::Dashed,
        },
        Curve {
            label: "maximal packing at least 1/sigma(2 theta)".into(),
            xs: ds.clone(),
            ys: rows.iter().map(|r| r.c.packing_bounds.0).collect(),
            colour: 4,
            style: CurveStyle::Dashed,
        },
    ];
    if let Some(f) = under_fit {
        curves.push(Curve {
            label: format!(
                "fit to the atoms under the budget: ln count slope {} ± {} per dimension",
                format_sig(f.slope, 3),
                format_sig(f.ci95, 3)
            ),
            xs: ds.clone(),
            ys: ds
                .iter()
                .map(|d| (f.intercept + f.slope * d).exp())
                .collect(),
            colour: 5,
            style: CurveStyle::Line,
        });
    }
    let count_plot = CurvePlot {
        title: format!("Atoms on disjoint caps against d (t = {})", p.offset),
        x_label: "input dimension d".into(),
        y_label: "number of atoms".into(),
        log_x: false,
        log_y: true,
        integer_x: true,
        legend_heading: String::new(),
        curves,
    };
    out.push(figure(
        &count_plot,
        "atom counts",
        &dir.join("atom_counts"),
        format!(
            "The number of disjoint caps at t = {} (greedy packing, patience {}), the atoms that fit under the |f|_Vg budget {} and the number the budget pays for (budget / (a g_P(t))), against d on a log axis, with the spherical-cap bounds on a maximal packing (theta = arccos t) and the fitted exponential.",
            p.offset, p.patience, p.budget
        ),
    )?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small construction end to end: claims, verdicts and figures.
    #[test]
    fn small_construction_reports_growth_and_the_bound() {
        let p = LowerBoundParams {
            dims: vec![2, 3, 4],
            patience: 300,
            mc_points: 20_000,
            n: 64,
            heights: (1e-3, 0.5, 8),
            ..LowerBoundParams::at(Scale::Quick)
        };
        let dir = tempfile::tempdir().unwrap();
        let out = compute(&p, dir.path()).unwrap();
        assert_eq!(out.figures.len(), 3);
        for stem in ["atoms_d2", "atom_vg", "atom_counts"] {
            assert!(dir.path().join(format!("{stem}.png")).exists(), "{stem}");
        }
        let rows = &out.analysis.rows;
        let bound_rows: Vec<_> = rows
            .iter()
            .filter(|r| r.quantity.starts_with("flatness bound"))
            .collect();
        assert_eq!(bound_rows.len(), 3);
        for r in bound_rows {
            let c = r.claim.as_ref().unwrap();
            assert!(c.estimate >= 0.0, "{r:?}");
        }
        let exps: Vec<_> = rows
            .iter()
            .filter(|r| r.quantity.starts_with("boundary exponent"))
            .collect();
        for (r, d) in exps.iter().zip([2.0, 3.0, 4.0]) {
            let c = r.claim.as_ref().unwrap();
            assert!((c.estimate - (d + 2.0)).abs() < 0.1, "{r:?}");
        }
        let growth = &rows[1];
        assert!(growth.quantity.contains("disjoint caps"));
        assert!(growth.claim.as_ref().unwrap().estimate > 0.0, "{growth:?}");
        assert!(out.settings.contains("nothing trained"));
    }

    /// `run_experiment` on an experiment without training: the report folder of a sweep,
    /// with 0 runs, no store, the parameters in the provenance and one claims.csv line per row.
    #[test]
    fn quick_scale_writes_a_report_without_runs() {
        let dir = tempfile::tempdir().unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let (outcome, sweep) = crate::reproduce::run_experiment(
            "lower-bound",
            Scale::Quick,
            dir.path(),
            None,
            1,
            None,
            &stop,
            &mut |_| {},
        )
        .unwrap();
        let folder = dir.path().join("lower-bound");
        assert_eq!(outcome.runs, 0);
        assert_eq!(sweep.progress.total, 0);
        assert!(!folder.join("results.db").exists(), "no store for no runs");
        for f in ["index.html", "claims.csv", "provenance.json", "spec.toml"] {
            assert!(folder.join(f).exists(), "{f}");
        }
        let prov: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(folder.join("provenance.json")).unwrap())
                .unwrap();
        assert_eq!(prov["runs"], 0, "{prov}");
        assert!(prov.to_string().contains("offset t = 0.9"), "{prov}");
        let csv = std::fs::read_to_string(folder.join("claims.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + outcome.claims.len());
        assert!(
            outcome.agree >= 2,
            "growth claims agree at quick scale: {csv}"
        );
        assert_eq!(outcome.differ, 0, "{csv}");
        let html = std::fs::read_to_string(folder.join("index.html")).unwrap();
        assert!(html.contains("Nothing is trained"));
    }

    #[test]
    fn parameters_print_as_toml_with_every_field() {
        let text = LowerBoundParams::at(Scale::Paper).to_toml(Scale::Paper);
        let v: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(v["dims"].as_array().unwrap().len(), 11);
        assert_eq!(v["offset"].as_float(), Some(0.9));
        assert_eq!(v["n"].as_integer(), Some(512));
    }
}
