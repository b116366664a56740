//! The built-in experiments of SCIENCE.md section 7, one unit each: a file per experiment
//! holds its paper reference, what it shows and the outcome the paper reports, its sweep spec
//! at two scales (`paper`: the papers' sizes, epochs and seeds; `quick`: the same phenomenon at
//! reduced size, a few minutes on two cores), its claims (analysis of the stored runs, with each
//! threshold beside the paper value it comes from), an optional analysis that reads the stored
//! models, and its figures. `EXPERIMENTS` is the registry; `shatter reproduce ID --print-spec`
//! prints a spec so users can copy one as a starting point. `SWEEP` is the generic experiment
//! of `shatter report` on a user's store: no spec, no paper, no claims. An experiment that
//! trains nothing (`lower-bound`: the construction behind the minimax lower bound) has
//! parameters instead of a sweep spec and computes its report itself (`Experiment::compute`).

mod cod;
mod cod_variants;
mod curvature;
mod dims;
mod gelu;
mod geometry;
mod logistic;
mod lower_bound;
mod lr;
mod mixup;
mod no_bias;
mod ood;
mod shattering;
mod sphere;
mod sweep;
mod underparam;
mod univariate;
mod univariate_interpolation;
mod univariate_rate;

use super::analysis::{Analysis, RunView};
use super::error::ReproduceError;
use super::figs::ReportFigure;
use crate::store::Store;
use std::path::Path;

pub use super::scale::Scale;
pub use lower_bound::LowerBoundParams;

/// What an experiment that trains nothing produced ([`Experiment::compute`]).
#[derive(Clone, Debug)]
pub struct Computed {
    /// The comparison rows and sentences.
    pub analysis: Analysis,
    /// The figures, already written under the folder `compute` was given.
    pub figures: Vec<ReportFigure>,
    /// The parameters in words, for the provenance (`settings`).
    pub settings: String,
    /// The seeds the computation drew from.
    pub seeds: Vec<u64>,
}

/// What an experiment is, in words: each experiment's file holds one as its constant `ABOUT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct About {
    /// The id users type (`shatter reproduce cod`).
    pub id: &'static str,
    /// Which figure of which paper (empty for a user's sweep).
    pub figure: &'static str,
    /// What it shows, in one sentence.
    pub what: &'static str,
    /// The outcome the paper reports (empty when there is no paper to compare with).
    pub reported: &'static str,
}

/// One experiment: what it is, how it runs, how its runs are judged and drawn.
pub trait Experiment: Sync {
    /// Its id, paper reference, what it shows and what the paper reports.
    fn about(&self) -> &'static About;
    /// The id users type (`shatter reproduce cod`).
    fn id(&self) -> &'static str {
        self.about().id
    }
    /// Which figure of which paper (empty for a user's sweep).
    fn figure(&self) -> &'static str {
        self.about().figure
    }
    /// What it shows, in one sentence.
    fn what(&self) -> &'static str {
        self.about().what
    }
    /// The outcome the paper reports (empty when there is no paper to compare with).
    fn reported(&self) -> &'static str {
        self.about().reported
    }
    /// The sweep spec (TOML) at `scale`; `None` for an experiment without a built-in spec.
    fn spec(&self, scale: Scale) -> Option<String>;
    /// The comparison rows, sentences and rates from the completed runs.
    fn claims(&self, runs: &[RunView]) -> Analysis;
    /// Whether the experiment trains networks (runs a sweep). One that does not has `spec`
    /// return its parameters (TOML, not a sweep spec) and does all its work in `compute`;
    /// its report has 0 runs.
    fn trains(&self) -> bool {
        true
    }
    /// The work of an experiment that trains nothing, at `scale`: its analysis, its figures
    /// (written under `dir`) and its parameters in words. Experiments that train do not
    /// override it.
    fn compute(&self, _scale: Scale, _dir: &Path) -> Result<Computed, ReproduceError> {
        Err(ReproduceError::Compute {
            what: self.id().into(),
            message: "this experiment trains networks: it runs as a sweep".into(),
        })
    }
    /// Whether `claims` (and `figures`) tell loss conventions apart themselves, tagging each
    /// row with its loss. When not, and the runs hold several conventions, the report calls
    /// them once per convention (see `reproduce::analyse`).
    fn separates_losses(&self) -> bool {
        false
    }
    /// Whether `claims` gets every run, diverged and unfinished ones included (a user's sweep
    /// lists them with their status), instead of the completed runs only.
    fn lists_every_run(&self) -> bool {
        false
    }
    /// Rows added from the stored models (runs without a usable model are left out).
    fn with_models(&self, _store: &Store, _runs: &[RunView], a: Analysis) -> Analysis {
        a
    }
    /// Whether the training curves are drawn whatever the number of runs shown.
    fn training_curves(&self) -> bool {
        false
    }
    /// The experiment's own figures, after the shared ones, written under `dir`.
    fn figures(
        &self,
        _store: &Store,
        _done: &[RunView],
        _dir: &Path,
    ) -> Result<Vec<ReportFigure>, ReproduceError> {
        Ok(Vec::new())
    }
}

/// Every experiment `shatter reproduce all` runs, in order.
pub const EXPERIMENTS: &[&dyn Experiment] = &[
    &shattering::Shattering,
    &cod::Cod,
    &dims::Dims,
    &lr::StepSize,
    &underparam::Underparam,
    &gelu::Gelu,
    &cod_variants::CodVariants,
    &univariate::Univariate,
    &univariate_interpolation::UnivariateInterpolation,
    &univariate_rate::UnivariateRate,
    &no_bias::NoBias,
    &geometry::Geometry,
    &logistic::Logistic,
    &mixup::Mixup,
    &sphere::Sphere,
    &ood::Ood,
    &lower_bound::LowerBound,
    &curvature::Curvature,
];

/// The headline experiments (`shatter reproduce headline`): the 2025 paper's shattering
/// mechanism and its curse of dimensionality.
pub const HEADLINE: &[&dyn Experiment] = &[&shattering::Shattering, &cod::Cod];

/// The generic experiment of a user's store (`shatter report` without `--experiment`).
pub const SWEEP: &dyn Experiment = &sweep::Sweep;

/// The experiment with this id.
pub fn experiment(id: &str) -> Option<&'static dyn Experiment> {
    EXPERIMENTS.iter().copied().find(|e| e.id() == id)
}

/// The ids, comma-separated, for messages.
pub fn experiment_ids() -> String {
    EXPERIMENTS
        .iter()
        .map(|e| e.id())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The sweep spec (TOML) of experiment `id` at `scale`; `None` for unknown ids.
pub fn spec_text(id: &str, scale: Scale) -> Option<String> {
    experiment(id).and_then(|e| e.spec(scale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::SweepSpec;

    #[test]
    fn every_built_in_spec_parses_and_expands_at_both_scales() {
        for e in EXPERIMENTS.iter().filter(|e| e.trains()) {
            let e_id = e.id();
            for scale in [Scale::Quick, Scale::Paper] {
                let text = spec_text(e_id, scale).expect("a spec for every experiment");
                let spec = SweepSpec::from_toml(&text, "built-in")
                    .unwrap_or_else(|err| panic!("{} {scale}: {err}", e_id));
                let points = spec
                    .points()
                    .unwrap_or_else(|err| panic!("{} {scale}: {err}", e_id));
                assert!(!points.is_empty(), "{} {scale}", e_id);
                // Printing the spec and reading it back gives the same runs.
                let again = SweepSpec::from_toml(&text, "printed")
                    .unwrap()
                    .points()
                    .unwrap();
                let ids: Vec<_> = points.iter().map(|p| p.run_id.clone()).collect();
                let ids_again: Vec<_> = again.iter().map(|p| p.run_id.clone()).collect();
                assert_eq!(ids, ids_again, "{} {scale}", e_id);
            }
        }
    }

    #[test]
    fn paper_scale_uses_the_papers_sizes() {
        let count = |id, scale| {
            SweepSpec::from_toml(&spec_text(id, scale).unwrap(), "x")
                .unwrap()
                .points()
                .unwrap()
        };
        let cod = count("cod", Scale::Paper);
        assert_eq!(
            cod.len(),
            500,
            "5 d x 5 n x 5 seeds x 2 arms x 2 loss conventions"
        );
        assert!(cod.iter().all(
            |p| p.config.train.epochs == 20000 && p.config.shape.width == 4 * p.config.data_n()
        ));
        let shattering = count("shattering", Scale::Paper);
        assert!(shattering.iter().all(|p| p.config.shape.width == 2048
            && p.config.shape.d == 10
            && p.config.train.epochs == 20000));
        assert_eq!(
            shattering.len(),
            12,
            "two arms x 3 seeds x both loss conventions"
        );
        let quick = count("shattering", Scale::Quick);
        assert_eq!(quick.len(), 4, "two arms under both loss conventions");
        let curvature = count("curvature", Scale::Paper);
        assert_eq!(
            curvature.len(),
            24,
            "two arms x d in {{10, 2}} x 3 seeds x both loss conventions"
        );
        assert!(curvature.iter().all(|p| p.config.shape.width == 2048
            && p.config.data_n() == 512
            && p.config.train.epochs == 20000
            && p.config.curvature.outlier_threshold == Some(1.5)
            && p.config.curvature.trace_products > 0));
        let quick = count("curvature", Scale::Quick);
        assert_eq!(quick.len(), 4, "two arms x two dimensions");
        assert!(quick.iter().all(|p| p.config.curvature.enabled()));
    }

    #[test]
    fn experiments_without_training_print_their_parameters() {
        let e = experiment("lower-bound").expect("registered");
        assert!(!e.trains());
        for scale in [Scale::Quick, Scale::Paper] {
            let text = spec_text("lower-bound", scale).unwrap();
            let v: toml::Value = toml::from_str(&text).unwrap();
            assert_eq!(v["offset"].as_float(), Some(0.9), "{scale}");
        }
        let paper = LowerBoundParams::at(Scale::Paper);
        assert_eq!(paper.n, 512, "the papers' n");
        assert_eq!(paper.dims, (2..=12).collect::<Vec<_>>());
        assert!(LowerBoundParams::at(Scale::Quick).dims.len() < paper.dims.len());
        assert!(experiment("cod").unwrap().trains());
    }

    #[test]
    fn ids_are_unique_and_every_paper_experiment_names_its_source() {
        let mut ids: Vec<&str> = EXPERIMENTS.iter().map(|e| e.id()).collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "duplicate ids: {:?}", ids);
        for e in EXPERIMENTS {
            let about = e.about();
            assert_eq!(e.id(), about.id);
            assert!(!about.id.is_empty() && !about.id.contains(' '), "{about:?}");
            assert!(
                !about.figure.is_empty() && !about.what.is_empty(),
                "{about:?}"
            );
            assert!(!about.reported.is_empty(), "{about:?}");
        }
        assert_eq!(SWEEP.reported(), "", "a user's sweep has no paper");
        assert!(!EXPERIMENTS.iter().any(|e| e.id() == SWEEP.id()));
        assert!(HEADLINE.iter().all(|h| experiment(h.id()).is_some()));
    }

    #[test]
    fn unknown_ids_have_no_spec() {
        assert!(spec_text("nope", Scale::Quick).is_none());
        assert!(experiment("nope").is_none());
        assert!(experiment_ids().contains("cod-variants"));
    }
}
