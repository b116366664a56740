//! Claims with uncertainty: an estimate, its 95% interval (and the method that gave it), the
//! agreement interval taken from the paper, and the verdict that follows from those numbers
//! alone. Also the files every report folder gets from them: `claims.csv` (one line per row
//! of the comparison table) and `provenance.json`. The statistics live in `stats.rs`; which
//! claims an experiment makes lives with its analysis.

use super::report::Provenance;
use super::stats;
use std::path::Path;

/// Whether a measured outcome matches the paper's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The whole 95% interval (or, without one, the point estimate) lies inside the agreement
    /// interval.
    Agrees,
    /// The whole interval (or the point estimate) lies outside it.
    Differs,
    /// The interval straddles a bound of the agreement interval, or the estimate is missing.
    Inconclusive,
    /// No criterion (context, not a claim).
    Context,
}

impl Verdict {
    /// `agrees`, `differs`, `inconclusive` or empty.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Agrees => "agrees",
            Verdict::Differs => "differs",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Context => "",
        }
    }
}

/// The verdict of an estimate with its 95% interval `ci` against the closed agreement
/// interval `agree` (bounds may be infinite for one-sided claims): `Agrees` when the whole
/// interval is inside, `Differs` when wholly outside, `Inconclusive` otherwise. Without an
/// interval the point estimate decides; a non-finite estimate is `Inconclusive`.
pub fn decide(estimate: f64, ci: Option<(f64, f64)>, agree: (f64, f64)) -> Verdict {
    let (a_lo, a_hi) = agree;
    let (lo, hi) = match ci {
        Some((lo, hi)) if !lo.is_nan() && !hi.is_nan() => (lo.min(hi), lo.max(hi)),
        Some(_) => return Verdict::Inconclusive,
        None if estimate.is_finite() => (estimate, estimate),
        None => return Verdict::Inconclusive,
    };
    if lo >= a_lo && hi <= a_hi {
        Verdict::Agrees
    } else if hi < a_lo || lo > a_hi {
        Verdict::Differs
    } else {
        Verdict::Inconclusive
    }
}

/// How the 95% interval of a claim was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Percentile bootstrap of the median over this many seeds ([`stats::bootstrap_median`]).
    BootstrapSeeds(usize),
    /// Percentile bootstrap of a statistic over this many points, resampling points
    /// ([`stats::bootstrap_spearman`]).
    BootstrapPoints(usize),
    /// t-interval of a regression slope over this many sample sizes ([`stats::rate_interval`]).
    SlopeT(usize),
    /// t-interval of a regression slope over this many points of the named abscissa
    /// (`"dimensions"`, `"cap heights"`): `slope ± t_{0.975, m-2} SE`.
    SlopeTOver(usize, &'static str),
    /// Too few points (this many) for a bootstrap interval of a rank correlation: the interval
    /// is the whole range `[-1, 1]`, so the claim is inconclusive.
    TooFewPoints(usize),
    /// Wilson score interval of a proportion over this many trials
    /// ([`stats::wilson_interval`]).
    Wilson(usize),
    /// Difference of two intervals, excluding 0 exactly when they do not overlap
    /// ([`stats::difference_interval`]).
    NonOverlap,
    /// A certified bound of a Lanczos estimate (an eigenvalue lies within it): not random,
    /// so the interval holds with certainty, not 95%.
    CertifiedBound,
    /// Plus or minus 1.96 standard errors of a Monte Carlo estimate (Hutch++).
    StandardErrors,
    /// No interval (one seed, one point, or a count): the point estimate decides.
    Point,
}

impl Method {
    /// The method in words, for the report and `claims.csv` readers.
    pub fn describe(self) -> String {
        match self {
            Method::BootstrapSeeds(m) => {
                format!("median over {m} seeds, percentile bootstrap 95% interval")
            }
            Method::BootstrapPoints(m) => format!("percentile bootstrap over {m} points"),
            Method::TooFewPoints(m) => {
                format!("{m} points are too few for an interval: [-1, 1], inconclusive")
            }
            Method::SlopeT(m) => format!("t-interval of the slope over {m} sample sizes"),
            Method::SlopeTOver(m, what) => format!("t-interval of the slope over {m} {what}"),
            Method::Wilson(m) => format!("Wilson score 95% interval of a proportion of {m} runs"),
            Method::NonOverlap => {
                "difference of the two t-intervals (excludes 0 only when they do not overlap)"
                    .into()
            }
            Method::CertifiedBound => "interval: the certified Lanczos error bound".into(),
            Method::StandardErrors => "interval: +-1.96 Monte Carlo standard errors".into(),
            Method::Point => "no interval: the point estimate decides".into(),
        }
    }
}

/// The numbers of one row of a comparison table. A claim has an agreement interval; a context
/// row (`agree: None`) only reports its estimate.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    /// The measured value (median over seeds, fitted rate, correlation, ...).
    pub estimate: f64,
    /// Its 95% interval, `None` when there is none (see `method`).
    pub ci: Option<(f64, f64)>,
    /// How `ci` was obtained.
    pub method: Method,
    /// The paper's value, when it gives a number.
    pub paper: Option<f64>,
    /// The closed interval of values that agree with the paper (bounds may be infinite).
    pub agree: Option<(f64, f64)>,
    /// Loss convention of the runs behind the claim (empty: the experiment's only one).
    pub loss: String,
}

impl Claim {
    /// A claim on the median over seeds of `values`, with its bootstrap interval when there
    /// are at least two finite values; the point estimate decides otherwise.
    pub fn over_seeds(values: &[f64], paper: Option<f64>, agree: (f64, f64)) -> Claim {
        let finite = values.iter().filter(|v| v.is_finite()).count();
        let ci = stats::bootstrap_median(values);
        Claim {
            estimate: stats::median(values).unwrap_or(f64::NAN),
            method: if ci.is_some() {
                Method::BootstrapSeeds(finite)
            } else {
                Method::Point
            },
            ci,
            paper,
            agree: Some(agree),
            loss: String::new(),
        }
    }

    /// A claim on one number without an interval: the point estimate decides.
    pub fn point(estimate: f64, paper: Option<f64>, agree: (f64, f64)) -> Claim {
        Claim {
            estimate,
            ci: None,
            method: Method::Point,
            paper,
            agree: Some(agree),
            loss: String::new(),
        }
    }

    /// A claim with a given interval and method.
    pub fn interval(
        estimate: f64,
        ci: Option<(f64, f64)>,
        method: Method,
        paper: Option<f64>,
        agree: (f64, f64),
    ) -> Claim {
        Claim {
            agree: Some(agree),
            ..Claim::context(estimate, ci, method, paper)
        }
    }

    /// The numbers of a context row: an estimate with its interval (and the paper's or the
    /// theory's value, when there is one to show beside it), no agreement interval, no verdict.
    pub fn context(
        estimate: f64,
        ci: Option<(f64, f64)>,
        method: Method,
        paper: Option<f64>,
    ) -> Claim {
        Claim {
            estimate,
            ci,
            method: if ci.is_some() { method } else { Method::Point },
            paper,
            agree: None,
            loss: String::new(),
        }
    }

    /// The same claim, for runs under loss convention `loss`.
    pub fn with_loss(mut self, loss: &str) -> Claim {
        self.loss = loss.into();
        self
    }

    /// The verdict that follows from the numbers ([`decide`]); `Context` without an
    /// agreement interval.
    pub fn verdict(&self) -> Verdict {
        match self.agree {
            Some(agree) => decide(self.estimate, self.ci, agree),
            None => Verdict::Context,
        }
    }

    /// The interval and the agreement interval in words, for the report's verdict column.
    pub fn describe(&self) -> String {
        let Some((lo, hi)) = self.agree else {
            return String::new();
        };
        let ci = match self.ci {
            Some((a, b)) => format!(
                "95% interval [{}, {}], {}",
                sig(a),
                sig(b),
                self.method.describe()
            ),
            None => self.method.describe(),
        };
        format!("agreement interval [{}, {}]; {ci}", sig(lo), sig(hi))
    }
}

fn sig(x: f64) -> String {
    if x.is_finite() {
        crate::figures::style::format_sig(x, 3)
    } else if x > 0.0 {
        "inf".into()
    } else if x < 0.0 {
        "-inf".into()
    } else {
        "-".into()
    }
}

/// The columns of `claims.csv`, in order.
pub const CLAIMS_CSV_HEADER: [&str; 11] = [
    "experiment",
    "claim",
    "setting",
    "loss",
    "measured",
    "ci_low",
    "ci_high",
    "paper",
    "agree_low",
    "agree_high",
    "verdict",
];

/// One line of `claims.csv`: a row of a comparison table as numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimLine {
    /// Experiment id (`sweep` for a user's store).
    pub experiment: String,
    /// What is compared (the table's quantity).
    pub claim: String,
    /// Where (arm, dimension, step size).
    pub setting: String,
    /// Loss convention.
    pub loss: String,
    /// The numbers (`None` for a row that has none, which is then context only).
    pub numbers: Option<Claim>,
    /// The row's verdict.
    pub verdict: Verdict,
}

fn plain(x: Option<f64>) -> String {
    match x {
        Some(v) if !v.is_nan() => format!("{v}"),
        _ => String::new(),
    }
}

/// Writes `claims.csv` at `path`: the header [`CLAIMS_CSV_HEADER`], then one line per entry,
/// numbers as plain decimals (`inf` and `-inf` for one-sided agreement bounds, both of which
/// pandas reads as floats), empty cells for missing numbers, and an empty verdict on context
/// lines.
pub fn write_claims_csv(path: &Path, lines: &[ClaimLine]) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(CLAIMS_CSV_HEADER)?;
    for l in lines {
        let c = l.numbers.as_ref();
        let ci = c.and_then(|c| c.ci);
        let agree = c.and_then(|c| c.agree);
        w.write_record([
            l.experiment.clone(),
            l.claim.clone(),
            l.setting.clone(),
            l.loss.clone(),
            plain(c.map(|c| c.estimate)),
            plain(ci.map(|c| c.0)),
            plain(ci.map(|c| c.1)),
            plain(c.and_then(|c| c.paper)),
            plain(agree.map(|a| a.0)),
            plain(agree.map(|a| a.1)),
            l.verdict.word().to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

/// `provenance.json`: program version and commit (embedded at build time), machine, date,
/// runs, seeds, `wall_seconds` (summed over the runs), scale, loss conventions, the devices the
/// runs trained on, the wall time of the reproduction and the store.
pub fn provenance_json(p: &Provenance) -> String {
    let value = serde_json::json!({
        "version": p.version,
        "commit": p.git_commit,
        "machine": p.machine,
        "date": p.date,
        "runs": p.runs,
        "seeds": p.seeds,
        "wall_seconds": p.run_seconds,
        "scale": p.scale,
        "losses": p.losses,
        "settings": p.settings,
        "devices": p.devices.iter().map(|(d, n)| serde_json::json!({"device": d, "runs": n})).collect::<Vec<_>>(),
        "reproduction_seconds": p.wall_seconds,
        "store": p.store,
    });
    let mut s = serde_json::to_string_pretty(&value).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_rule_on_constructed_intervals() {
        let agree = (0.0, 0.3);
        // Inside, outside on either side, straddling either bound, no interval.
        assert_eq!(decide(0.2, Some((0.1, 0.25)), agree), Verdict::Agrees);
        assert_eq!(decide(0.5, Some((0.4, 0.6)), agree), Verdict::Differs);
        assert_eq!(decide(-0.5, Some((-0.6, -0.4)), agree), Verdict::Differs);
        // The cod rate at d = 5: 0.2999942 +- 0.35 is not agreement.
        assert_eq!(
            decide(0.2999942, Some((0.2999942 - 0.35, 0.2999942 + 0.35)), agree),
            Verdict::Inconclusive
        );
        assert_eq!(decide(0.0, Some((-0.1, 0.1)), agree), Verdict::Inconclusive);
        assert_eq!(decide(0.2, None, agree), Verdict::Agrees);
        assert_eq!(decide(0.4, None, agree), Verdict::Differs);
        assert_eq!(decide(f64::NAN, None, agree), Verdict::Inconclusive);
        // One-sided agreement, and an infinite interval (two points, no residual freedom).
        let above = (0.5, f64::INFINITY);
        assert_eq!(decide(0.8, Some((0.6, 1.0)), above), Verdict::Agrees);
        assert_eq!(
            decide(0.8, Some((f64::NEG_INFINITY, f64::INFINITY)), above),
            Verdict::Inconclusive
        );
        let context = Claim {
            agree: None,
            ..Claim::point(1.0, None, agree)
        };
        assert_eq!(context.verdict(), Verdict::Context);
    }

    #[test]
    fn one_seed_claims_say_the_point_estimate_decides() {
        let c = Claim::over_seeds(&[0.2], Some(0.1), (0.0, 0.3));
        assert_eq!(c.method, Method::Point);
        assert_eq!(c.verdict(), Verdict::Agrees);
        assert!(
            c.describe().contains("point estimate decides"),
            "{}",
            c.describe()
        );
        let c = Claim::over_seeds(&[0.2, 0.25, 0.29], Some(0.1), (0.0, 0.3));
        assert_eq!(c.method, Method::BootstrapSeeds(3));
        assert!(c.describe().contains("bootstrap"), "{}", c.describe());
    }
}
