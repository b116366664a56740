//! `shatter inspect`: every measurement of SCIENCE.md sections 4 to 6 for a saved model (ours,
//! or one exported from PyTorch as the arrays `W, b, v, beta`), computed in f64.

use super::{usage, with_threads};
use crate::args::{Global, InspectArgs};
use anyhow::Context;
use shatter_core::grad::{forward, Workspace};
use shatter_core::hessian::hvp::SharpnessTracker;
use shatter_core::hessian::lanczos::LanczosOptions;
use shatter_core::measure::{
    bound_holds_certified, neuron_stats, shattering_summary, univariate_summary, variation_summary,
};
use shatter_core::{Activation, Loss};
use shatter_lab::io::{load_dataset, load_model_npz, LabelColumn};
use shatter_lab::run::{neurons_csv, write_atomic};

pub fn run(args: InspectArgs, global: &Global) -> anyhow::Result<()> {
    let activation = match args.activation.as_str() {
        "relu" => Activation::Relu,
        "gelu" => Activation::Gelu,
        other => {
            return Err(usage(format!(
                "--activation {other:?}: must be relu or gelu"
            )))
        }
    };
    let loss = match args.loss.as_str() {
        "square" => Loss::Square,
        "mse" => Loss::Mse,
        "logistic" => Loss::Logistic,
        other => {
            return Err(usage(format!(
                "--loss {other:?}: must be square, mse or logistic"
            )))
        }
    };
    if !(args.lanczos_tol > 0.0 && args.lanczos_tol < 1.0) || args.top_k == 0 {
        return Err(usage(
            "--lanczos-tol must be in (0, 1) and --top-k at least 1",
        ));
    }
    let model = load_model_npz(&args.model)?;
    let label: LabelColumn = args
        .label_column
        .as_deref()
        .unwrap_or("last")
        .parse()
        .unwrap_or_default();
    let data = load_dataset(&args.data, &label, Some(model.d))?;
    let net = model
        .to_network::<f64>(true, activation)
        .context("model arrays do not fit together")?;
    let report = with_threads(global.threads, || -> anyhow::Result<serde_json::Value> {
        let mut ws = Workspace::new(net.shape, data.n);
        let l = forward(&net, &data, loss, &mut ws);
        let opts = LanczosOptions {
            top_k: args.top_k,
            rel_tol: args.lanczos_tol,
            max_iter: 300,
            ..LanczosOptions::default()
        };
        let est = SharpnessTracker::new(net.shape, opts).measure(&net, &data, &mut ws)?;
        let stats = neuron_stats(&net, &data)?;
        let sh = shattering_summary(&stats);
        let mut out = serde_json::json!({
            "model": args.model.display().to_string(),
            "data": args.data.display().to_string(),
            "d": model.d, "width": model.k, "n": data.n,
            "loss": loss.name(),
            "train_loss": l,
            "sharpness": est.sharpness,
            "sharpness_err": est.error_bound,
            "top_eigenvalues": est.spectrum.top.iter().map(|r| r.value).collect::<Vec<_>>(),
            "top_eigenvalue_errors": est.spectrum.top.iter().map(|r| r.error_bound).collect::<Vec<_>>(),
            "min_eigenvalue": est.spectrum.smallest.map(|r| r.value),
            "lanczos_iterations": est.spectrum.iterations,
            "frac_neurons_rate_le_10pct": sh.frac_neurons_rate_le_10pct,
            "frac_dead": sh.frac_dead,
            "median_activation_rate": sh.median_activation_rate,
            "frac_negligible": sh.frac_negligible,
            "frac_shattered": sh.frac_shattered,
            "path_share_dead": sh.path_share_dead,
            "path_share_negligible": sh.path_share_negligible,
            "path_share_shattered": sh.path_share_shattered,
        });
        if let Some(factor) = loss.to_half_square() {
            let v = variation_summary(&net, &data, est.sharpness * factor, l * factor)?;
            out["vg_norm"] = v.vg_norm.into();
            out["vg_reduced"] = v.vg_reduced.into();
            out["path_norm"] = v.path_norm.into();
            out["vg_bound"] = v.vg_bound.into();
            out["bound_holds"] =
                bound_holds_certified(v.vg_norm, v.vg_bound, est.error_bound * factor).into();
            out["radius"] = v.radius.into();
        }
        if model.d == 1 {
            let u = univariate_summary(&net, &data, shatter_core::measure::DEFAULT_KNOT_TOL)?;
            out["univariate"] = serde_json::json!({
                "pieces_inside": u.pieces_inside,
                "weighted_tv": u.weighted_tv,
                "tv_inside": u.tv_inside,
                "knots_inside": u.knots.iter().filter(|k| k.inside && k.kink).map(|k| k.position).collect::<Vec<_>>(),
                "median_knot_distance": u.median_knot_distance,
                "frac_small_output_weights": u.frac_small_output_weights,
                "output_participation": u.output_participation,
            });
        }
        if let Some(dir) = &args.out {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            write_atomic(&dir.join("neurons.csv"), neurons_csv(&stats).as_bytes())?;
            write_atomic(
                &dir.join("inspect.json"),
                (serde_json::to_string_pretty(&out)? + "\n").as_bytes(),
            )?;
        }
        Ok(out)
    })??;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
