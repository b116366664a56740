//! `shatter._native`: the Python binding of shatter's library crates. Every number comes from
//! shatter-core (derivatives, Lanczos with certified error, measurements) or shatter-lab (the
//! settings layer, runs, sweeps, stores); this file only converts arrays and errors and keeps
//! long calls interruptible. The Python package `shatter` (python/shatter) wraps it with
//! array conversion (DLPack, `__array__`), pandas tables and progress bars.

use numpy::{PyUntypedArrayMethods, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use shatter_core::grad::{backward, forward, hvp as hvp_kernel, Workspace};
use shatter_core::hessian::hvp::{HessianOperator, SharpnessTracker};
use shatter_core::hessian::lanczos::LanczosOptions;
use shatter_core::hessian::trace::{spectral_density, SlqOptions};
use shatter_core::measure::{
    bound_holds_certified, neuron_stats, shattering_summary, variation_summary,
};
use shatter_core::train::{Control, Record, RunStatus};
use shatter_core::{Activation, Dataset, Loss, Network};
use shatter_lab::io::ModelArrays;
use shatter_lab::run::{
    execute, neurons_csv, run_json, spectrum_csv, trajectory_csv, write_run_dir, RunError,
    RunOptions,
};
use shatter_lab::spec::{RunSpec, SpecError, SETTINGS};
use shatter_lab::store::{queryable_columns, Filter, SqlValue, Store, StoreError};
use shatter_lab::sweep::{run_sweep, Parallelism, Progress, SweepSpec, SweepSpecError};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// How often a long call wakes to look for Ctrl-C and to report progress.
const POLL: Duration = Duration::from_millis(50);

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn spec_error(e: SpecError) -> PyErr {
    match e {
        e @ (SpecError::Read { .. } | SpecError::Input { .. }) => PyOSError::new_err(e.to_string()),
        e => value_error(e),
    }
}

fn run_error(e: RunError) -> PyErr {
    match e {
        e @ (RunError::Io(_) | RunError::Write { .. } | RunError::Changed { .. }) => {
            PyOSError::new_err(e.to_string())
        }
        e => PyRuntimeError::new_err(e.to_string()),
    }
}

fn store_error(e: StoreError) -> PyErr {
    PyOSError::new_err(e.to_string())
}

fn parse_loss(name: &str) -> PyResult<Loss> {
    match name {
        "square" => Ok(Loss::Square),
        "mse" => Ok(Loss::Mse),
        "logistic" => Ok(Loss::Logistic),
        other => Err(value_error(format!(
            "loss {other:?}: must be square, mse or logistic"
        ))),
    }
}

fn parse_activation(name: &str) -> PyResult<Activation> {
    match name {
        "relu" => Ok(Activation::Relu),
        "gelu" => Ok(Activation::Gelu),
        other => Err(value_error(format!(
            "activation {other:?}: must be relu or gelu"
        ))),
    }
}

fn slice<'a, T: numpy::Element>(
    a: &'a PyReadonlyArray1<'_, T>,
    what: &str,
) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| value_error(format!("{what} must be a contiguous array")))
}

/// The network `(W, b, v, beta)` (`W` is `K x d`; `b = None` for a network without hidden
/// biases) and the data set `(X, y)` in `f64`.
struct Problem {
    net: Network<f64>,
    data: Dataset<f64>,
    loss: Loss,
}

#[allow(clippy::too_many_arguments)]
fn problem(
    w: &PyReadonlyArray2<'_, f64>,
    b: Option<&PyReadonlyArray1<'_, f64>>,
    v: &PyReadonlyArray1<'_, f64>,
    beta: f64,
    x: &PyReadonlyArray2<'_, f64>,
    y: &PyReadonlyArray1<'_, f64>,
    loss: &str,
    activation: &str,
) -> PyResult<Problem> {
    let loss = parse_loss(loss)?;
    let activation = parse_activation(activation)?;
    let (k, d) = (w.shape()[0], w.shape()[1]);
    if k == 0 || d == 0 {
        return Err(value_error(format!(
            "W has shape ({k}, {d}): a network needs at least one neuron and one input"
        )));
    }
    let vs = slice(v, "v")?;
    if vs.len() != k {
        return Err(value_error(format!(
            "v has {} entries but W has {k} rows (one per neuron)",
            vs.len()
        )));
    }
    let bs = match b {
        Some(b) => {
            let bs = slice(b, "b")?.to_vec();
            if bs.len() != k {
                return Err(value_error(format!(
                    "b has {} entries but W has {k} rows (one per neuron)",
                    bs.len()
                )));
            }
            bs
        }
        None => vec![0.0; k],
    };
    let ws = w
        .as_slice()
        .map_err(|_| value_error("W must be a C-contiguous array"))?;
    let model = ModelArrays {
        k,
        d,
        w: ws.to_vec(),
        b: bs,
        v: vs.to_vec(),
        beta,
    };
    let net = model
        .to_network::<f64>(b.is_some(), activation)
        .ok_or_else(|| value_error("the arrays W, b, v do not fit together"))?;
    let (n, dx) = (x.shape()[0], x.shape()[1]);
    if dx != d {
        return Err(value_error(format!(
            "X has {dx} columns but W has {d} (the input dimension d)"
        )));
    }
    let ys = slice(y, "y")?;
    if ys.len() != n {
        return Err(value_error(format!(
            "y has {} entries but X has {n} rows",
            ys.len()
        )));
    }
    if n == 0 {
        return Err(value_error("X has no rows: the data set is empty"));
    }
    let xs = x
        .as_slice()
        .map_err(|_| value_error("X must be a C-contiguous array"))?;
    if xs.iter().chain(ys).any(|t| !t.is_finite()) {
        return Err(value_error("X and y must be finite"));
    }
    if !net.is_finite() {
        return Err(value_error("the parameters W, b, v, beta must be finite"));
    }
    let data = Dataset::new(d, xs.to_vec(), ys.to_vec())
        .ok_or_else(|| value_error("X and y do not fit together"))?;
    Ok(Problem { net, data, loss })
}

/// A flat parameter vector (`[Wt (d x K), b, v, beta]`, the library's layout) split into the
/// user's `(W (K x d), b, v, beta)`.
fn split_flat<'py>(
    py: Python<'py>,
    net: &Network<f64>,
    flat: &[f64],
) -> PyResult<Bound<'py, PyTuple>> {
    let s = net.shape;
    let (d, k) = (s.d, s.width);
    let mut w = vec![vec![0.0; d]; k];
    for j in 0..d {
        for (kk, row) in w.iter_mut().enumerate() {
            row[j] = flat[j * k + kk];
        }
    }
    let w = PyArray2::from_vec2(py, &w).map_err(value_error)?;
    let b = PyArray1::from_slice(py, &flat[s.b_offset()..s.v_offset()]);
    let v = PyArray1::from_slice(py, &flat[s.v_offset()..s.beta_offset()]);
    PyTuple::new(
        py,
        [
            w.into_any(),
            b.into_any(),
            v.into_any(),
            PyFloat::new(py, flat[s.beta_offset()]).into_any(),
        ],
    )
}

/// The exact loss and gradient: `(loss, dW, db, dv, dbeta)`.
#[pyfunction]
#[pyo3(signature = (w, b, v, beta, x, y, loss = "square", activation = "relu"))]
#[allow(clippy::too_many_arguments)]
fn gradient<'py>(
    py: Python<'py>,
    w: PyReadonlyArray2<'py, f64>,
    b: Option<PyReadonlyArray1<'py, f64>>,
    v: PyReadonlyArray1<'py, f64>,
    beta: f64,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    loss: &str,
    activation: &str,
) -> PyResult<(f64, Bound<'py, PyTuple>)> {
    let p = problem(&w, b.as_ref(), &v, beta, &x, &y, loss, activation)?;
    let (l, g) = py.allow_threads(|| {
        let mut ws = Workspace::new(p.net.shape, p.data.n);
        let mut g = vec![0.0; p.net.shape.len()];
        let l = forward(&p.net, &p.data, p.loss, &mut ws);
        backward(&p.net, &p.data, &mut ws, &mut g);
        (l, g)
    });
    Ok((l, split_flat(py, &p.net, &g)?))
}

/// The exact Hessian-vector product `H u` with `u = (dW, db, dv, dbeta)`.
#[pyfunction]
#[pyo3(signature = (w, b, v, beta, x, y, dw, db, dv, dbeta, loss = "square", activation = "relu"))]
#[allow(clippy::too_many_arguments)]
fn hvp<'py>(
    py: Python<'py>,
    w: PyReadonlyArray2<'py, f64>,
    b: Option<PyReadonlyArray1<'py, f64>>,
    v: PyReadonlyArray1<'py, f64>,
    beta: f64,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    dw: PyReadonlyArray2<'py, f64>,
    db: Option<PyReadonlyArray1<'py, f64>>,
    dv: PyReadonlyArray1<'py, f64>,
    dbeta: f64,
    loss: &str,
    activation: &str,
) -> PyResult<Bound<'py, PyTuple>> {
    let p = problem(&w, b.as_ref(), &v, beta, &x, &y, loss, activation)?;
    let s = p.net.shape;
    let (k, d) = (s.width, s.d);
    if dw.shape() != [k, d] {
        return Err(value_error(format!(
            "the direction's W part has shape {:?} but W has ({k}, {d})",
            dw.shape()
        )));
    }
    let dws = dw
        .as_slice()
        .map_err(|_| value_error("the direction's W part must be C-contiguous"))?;
    let dvs = slice(&dv, "the direction's v part")?;
    if dvs.len() != k {
        return Err(value_error(format!(
            "the direction's v part has {} entries, not {k}",
            dvs.len()
        )));
    }
    let mut dir = vec![0.0; s.len()];
    for kk in 0..k {
        for j in 0..d {
            dir[j * k + kk] = dws[kk * d + j];
        }
    }
    if let Some(db) = &db {
        let dbs = slice(db, "the direction's b part")?;
        if dbs.len() != k {
            return Err(value_error(format!(
                "the direction's b part has {} entries, not {k}",
                dbs.len()
            )));
        }
        dir[s.b_offset()..s.v_offset()].copy_from_slice(dbs);
    }
    dir[s.v_offset()..s.beta_offset()].copy_from_slice(dvs);
    dir[s.beta_offset()] = dbeta;
    s.project(&mut dir);
    let out = py.allow_threads(|| {
        let mut ws = Workspace::new(s, p.data.n);
        let mut out = vec![0.0; s.len()];
        forward(&p.net, &p.data, p.loss, &mut ws);
        hvp_kernel(&p.net, &p.data, &mut ws, &dir, &mut out);
        out
    });
    split_flat(py, &p.net, &out)
}

/// Every measurement of `shatter inspect` for one network, as a dict.
#[pyfunction]
#[pyo3(signature = (w, b, v, beta, x, y, loss = "square", activation = "relu", top_k = 1, spectrum = false, tol = 1e-4, max_iter = 300))]
#[allow(clippy::too_many_arguments)]
fn measure<'py>(
    py: Python<'py>,
    w: PyReadonlyArray2<'py, f64>,
    b: Option<PyReadonlyArray1<'py, f64>>,
    v: PyReadonlyArray1<'py, f64>,
    beta: f64,
    x: PyReadonlyArray2<'py, f64>,
    y: PyReadonlyArray1<'py, f64>,
    loss: &str,
    activation: &str,
    top_k: usize,
    spectrum: bool,
    tol: f64,
    max_iter: usize,
) -> PyResult<Bound<'py, PyDict>> {
    if !(tol > 0.0 && tol < 1.0) {
        return Err(value_error(format!("tol = {tol}: must be in (0, 1)")));
    }
    if top_k == 0 {
        return Err(value_error("top_k must be at least 1"));
    }
    if max_iter < 2 {
        return Err(value_error("max_iter must be at least 2"));
    }
    let p = problem(&w, b.as_ref(), &v, beta, &x, &y, loss, activation)?;
    let top_k = top_k.min(p.net.shape.trainable());
    let measured = py.allow_threads(|| {
        let mut ws = Workspace::new(p.net.shape, p.data.n);
        let l = forward(&p.net, &p.data, p.loss, &mut ws);
        let opts = LanczosOptions {
            top_k,
            rel_tol: tol,
            max_iter,
            ..LanczosOptions::default()
        };
        let est = SharpnessTracker::new(p.net.shape, opts).measure(&p.net, &p.data, &mut ws);
        let density = if spectrum {
            forward(&p.net, &p.data, p.loss, &mut ws);
            let n = p.net.shape.len();
            let (mut a, mut c) = (vec![0.0; n], vec![0.0; n]);
            let mut op = HessianOperator::new(&p.net, &p.data, &mut ws, &mut a, &mut c);
            Some(
                spectral_density(
                    &mut op,
                    &SlqOptions {
                        num_probes: 8,
                        steps: 40,
                        seed: 0,
                    },
                )
                .map_err(|e| e.to_string())
                .and_then(|d| d.on_grid(200, None).map_err(|e| e.to_string())),
            )
        } else {
            None
        };
        (l, est, density)
    });
    let (l, est, density) = measured;
    let est = est.map_err(|e| PyRuntimeError::new_err(format!("Lanczos: {e}")))?;
    let stats = neuron_stats(&p.net, &p.data).map_err(value_error)?;
    let sh = shattering_summary(&stats);
    let out = PyDict::new(py);
    out.set_item("d", p.net.shape.d)?;
    out.set_item("width", p.net.shape.width)?;
    out.set_item("n", p.data.n)?;
    out.set_item("loss", p.loss.name())?;
    out.set_item("train_loss", l)?;
    out.set_item("sharpness", est.sharpness)?;
    out.set_item("sharpness_err", est.error_bound)?;
    let top: Vec<f64> = est.spectrum.top.iter().map(|r| r.value).collect();
    let top_err: Vec<f64> = est.spectrum.top.iter().map(|r| r.error_bound).collect();
    out.set_item("eigenvalues", PyArray1::from_vec(py, top))?;
    out.set_item("eigenvalue_errors", PyArray1::from_vec(py, top_err))?;
    out.set_item("min_eigenvalue", est.spectrum.smallest.map(|r| r.value))?;
    out.set_item(
        "min_eigenvalue_err",
        est.spectrum.smallest.map(|r| r.error_bound),
    )?;
    out.set_item("lanczos_iterations", est.spectrum.iterations)?;
    out.set_item("hessian_products", est.products)?;
    let (vs, certified) = match p.loss.to_half_square() {
        Some(factor) => (
            variation_summary(&p.net, &p.data, est.sharpness * factor, l * factor)
                .map_err(value_error)?,
            Some(est.error_bound * factor),
        ),
        None => (
            variation_summary(&p.net, &p.data, 0.0, 0.0).map_err(value_error)?,
            None,
        ),
    };
    out.set_item("vg_norm", vs.vg_norm)?;
    out.set_item("vg_reduced", vs.vg_reduced)?;
    out.set_item("path_norm", vs.path_norm)?;
    out.set_item("radius", vs.radius)?;
    out.set_item("vg_bound", certified.map(|_| vs.vg_bound))?;
    out.set_item(
        "bound_holds",
        certified.map(|err| bound_holds_certified(vs.vg_norm, vs.vg_bound, err)),
    )?;
    for (key, value) in [
        ("frac_neurons_rate_le_10pct", sh.frac_neurons_rate_le_10pct),
        ("frac_dead", sh.frac_dead),
        ("frac_negligible", sh.frac_negligible),
        ("frac_shattered", sh.frac_shattered),
        ("median_activation_rate", sh.median_activation_rate),
        ("path_share_dead", sh.path_share_dead),
        ("path_share_negligible", sh.path_share_negligible),
        ("path_share_shattered", sh.path_share_shattered),
    ] {
        out.set_item(key, value)?;
    }
    out.set_item("count_shattered", sh.count_shattered)?;
    let neurons = PyDict::new(py);
    neurons.set_item(
        "active_count",
        PyArray1::from_vec(
            py,
            stats.active_count.iter().map(|&c| c as u64).collect::<Vec<u64>>(),
        ),
    )?;
    neurons.set_item("activation_rate", PyArray1::from_slice(py, &stats.activation_rate))?;
    neurons.set_item("amplitude", PyArray1::from_slice(py, &stats.amplitude))?;
    neurons.set_item("param_norm", PyArray1::from_slice(py, &stats.param_norm))?;
    neurons.set_item("boundary_offset", PyArray1::from_slice(py, &stats.offset))?;
    neurons.set_item("dead", PyArray1::from_slice(py, &stats.dead))?;
    out.set_item("neurons", neurons)?;
    match density {
        Some(Ok(grid)) => {
            out.set_item("density_grid", PyArray1::from_vec(py, grid.points))?;
            out.set_item("density", PyArray1::from_vec(py, grid.density))?;
        }
        Some(Err(e)) => {
            return Err(PyRuntimeError::new_err(format!(
                "spectral density: {e}"
            )))
        }
        None => {}
    }
    Ok(out)
}

/// A Python value as a TOML value (bool, int, float, str, list, dict).
fn to_toml(key: &str, obj: &Bound<'_, PyAny>) -> PyResult<toml::Value> {
    if let Ok(b) = obj.downcast::<PyBool>() {
        return Ok(toml::Value::Boolean(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        let i: i64 = obj
            .extract()
            .map_err(|_| value_error(format!("{key} = {obj}: the integer is out of range")))?;
        return Ok(toml::Value::Integer(i));
    }
    if let Ok(f) = obj.downcast::<PyFloat>() {
        return Ok(toml::Value::Float(f.value()));
    }
    if let Ok(s) = obj.downcast::<PyString>() {
        return Ok(toml::Value::String(s.extract::<String>()?));
    }
    if let Ok(d) = obj.downcast::<PyDict>() {
        return Ok(toml::Value::Table(to_table(d)?));
    }
    if obj.downcast::<PyList>().is_ok() || obj.downcast::<PyTuple>().is_ok() {
        let items: Vec<Bound<'_, PyAny>> = obj.try_iter()?.collect::<PyResult<_>>()?;
        return Ok(toml::Value::Array(
            items
                .iter()
                .map(|i| to_toml(key, i))
                .collect::<PyResult<_>>()?,
        ));
    }
    Err(value_error(format!(
        "{key} = {}: must be a bool, int, float, str, list or dict",
        obj.repr()?
    )))
}

fn to_table(d: &Bound<'_, PyDict>) -> PyResult<toml::Table> {
    let mut t = toml::Table::new();
    for (k, v) in d.iter() {
        let key: String = k
            .extract()
            .map_err(|_| value_error(format!("setting names must be strings, not {}", k.repr().map(|r| r.to_string()).unwrap_or_default())))?;
        if v.is_none() {
            continue;
        }
        let value = to_toml(&key, &v)?;
        t.insert(key, value);
    }
    Ok(t)
}

/// Every run setting of the table, in `shatter train --help` order: `(name, kind, help,
/// flag)`.
#[pyfunction]
fn settings_table() -> Vec<(&'static str, &'static str, &'static str, bool)> {
    SETTINGS
        .iter()
        .map(|s| (s.name, s.kind, s.help, s.flag))
        .collect()
}

/// The resolved defaults of a run spec with nothing set, as JSON.
#[pyfunction]
fn default_settings() -> PyResult<String> {
    serde_json::to_string(&RunSpec::default().resolved()).map_err(value_error)
}

/// Runs the work of `body` on a worker thread while this thread, holding the GIL only briefly,
/// looks for Ctrl-C every [`POLL`] and calls `tick`. On a signal `stop` is raised, the worker
/// is waited for, and the signal's exception is returned.
fn interruptible<T: Send>(
    py: Python<'_>,
    stop: &AtomicBool,
    body: impl FnOnce() -> T + Send,
    mut tick: impl FnMut(Python<'_>) -> PyResult<()>,
) -> PyResult<T> {
    std::thread::scope(|scope| {
        let handle = scope.spawn(body);
        let mut signal: Option<PyErr> = None;
        loop {
            let finished = py.allow_threads(|| {
                std::thread::sleep(POLL);
                handle.is_finished()
            });
            if signal.is_none() {
                if let Err(e) = py.check_signals().and_then(|_| tick(py)) {
                    stop.store(true, Ordering::SeqCst);
                    signal = Some(e);
                }
            }
            if finished {
                break;
            }
        }
        let value = py
            .allow_threads(|| handle.join())
            .map_err(|_| PyRuntimeError::new_err("the worker thread panicked"))?;
        match signal {
            Some(e) => Err(e),
            None => Ok(value),
        }
    })
}

/// Trains one run from its settings (a dict of TOML keys), as `shatter train` does.
#[pyfunction]
#[pyo3(signature = (settings, spectrum = false, out = None, progress = None))]
fn train<'py>(
    py: Python<'py>,
    settings: &Bound<'py, PyDict>,
    spectrum: bool,
    out: Option<PathBuf>,
    progress: Option<PyObject>,
) -> PyResult<Bound<'py, PyDict>> {
    let text = toml::to_string(&to_table(settings)?).map_err(value_error)?;
    let spec = RunSpec::from_toml(&text, "settings").map_err(spec_error)?;
    let cfg = spec.check(None).map_err(spec_error)?;
    let epochs = cfg.train.epochs;
    let stop = AtomicBool::new(false);
    let last: Mutex<Option<(usize, f64, Option<f64>)>> = Mutex::new(None);
    let opts = RunOptions { spectrum };
    let result = interruptible(
        py,
        &stop,
        || {
            execute(&cfg, &opts, &mut |r: &Record| {
                let mut l = last.lock().unwrap_or_else(|e| e.into_inner());
                let sharp = r.sharpness.or(l.and_then(|t| t.2));
                *l = Some((r.epoch, r.train_loss, sharp));
                if stop.load(Ordering::SeqCst) {
                    Control::Stop
                } else {
                    Control::Continue
                }
            })
        },
        |py| {
            if let Some(cb) = &progress {
                let snapshot = *last.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((epoch, loss, sharp)) = snapshot {
                    cb.call1(py, (epoch, epochs, loss, sharp))?;
                }
            }
            Ok(())
        },
    )?;
    let output = result.map_err(run_error)?;
    if let RunStatus::Interrupted { epoch } = output.status {
        // Only a signal stops a run here, and the signal's exception was raised above.
        return Err(PyKeyboardInterrupt::new_err(format!(
            "interrupted after {epoch} of {epochs} epochs"
        )));
    }
    if let Some(dir) = &out {
        py.allow_threads(|| write_run_dir(dir, &cfg, &output))
            .map_err(run_error)?;
    }
    let d = PyDict::new(py);
    d.set_item("run_id", cfg.spec.run_id())?;
    d.set_item("status", output.summary.status.to_string())?;
    d.set_item(
        "run_json",
        serde_json::to_string(&run_json(&cfg, &output)).map_err(value_error)?,
    )?;
    d.set_item("spec_toml", cfg.spec.to_toml())?;
    d.set_item("trajectory_csv", trajectory_csv(&output.trajectory))?;
    d.set_item("neurons_csv", neurons_csv(&output.neurons))?;
    d.set_item(
        "spectrum_csv",
        output.spectrum.as_ref().map(spectrum_csv),
    )?;
    d.set_item("model", model_dict(py, &output.model)?)?;
    Ok(d)
}

fn model_dict<'py>(py: Python<'py>, m: &ModelArrays) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let rows: Vec<Vec<f64>> = m.w.chunks(m.d.max(1)).map(|r| r.to_vec()).collect();
    d.set_item("W", PyArray2::from_vec2(py, &rows).map_err(value_error)?)?;
    d.set_item("b", PyArray1::from_slice(py, &m.b))?;
    d.set_item("v", PyArray1::from_slice(py, &m.v))?;
    d.set_item("beta", m.beta)?;
    Ok(d)
}

fn progress_dict<'py>(py: Python<'py>, p: &Progress) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("total", p.total)?;
    d.set_item("skipped", p.skipped)?;
    d.set_item("todo", p.todo)?;
    d.set_item("finished", p.finished)?;
    d.set_item("running", p.running)?;
    d.set_item("completed", p.completed)?;
    d.set_item("diverged", p.diverged)?;
    d.set_item("failed", p.failed)?;
    d.set_item("work_total", p.work_total)?;
    d.set_item("work_done", p.work_done)?;
    Ok(d)
}

/// Runs a sweep (a spec as a dict, or a TOML file) into a store, as `shatter sweep` does.
#[pyfunction]
#[pyo3(signature = (store, spec = None, spec_path = None, jobs = None, progress = None))]
fn sweep<'py>(
    py: Python<'py>,
    store: PathBuf,
    spec: Option<&Bound<'py, PyDict>>,
    spec_path: Option<PathBuf>,
    jobs: Option<usize>,
    progress: Option<PyObject>,
) -> PyResult<Bound<'py, PyDict>> {
    let sweep_error = |e: SweepSpecError| match e {
        e @ SweepSpecError::Read { .. } => PyOSError::new_err(e.to_string()),
        e => value_error(e),
    };
    let spec = match (spec, spec_path) {
        (Some(d), None) => {
            let text = toml::to_string(&to_table(d)?).map_err(value_error)?;
            SweepSpec::from_toml(&text, "spec").map_err(sweep_error)?
        }
        (None, Some(p)) => SweepSpec::from_file(&p).map_err(sweep_error)?,
        _ => return Err(value_error("give the sweep spec as a dict or as a TOML path")),
    };
    let points = spec.points().map_err(sweep_error)?;
    let mut store = Store::open_writer(&store).map_err(store_error)?;
    let done = store.done_ids().map_err(store_error)?;
    let todo = points.iter().filter(|p| !done.contains(&p.run_id)).count();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parallelism = match jobs {
        Some(0) => return Err(value_error("jobs must be at least 1")),
        Some(jobs) => Parallelism {
            jobs,
            threads_per_run: (cores / jobs).max(1),
        },
        None => Parallelism::auto(cores, todo),
    };
    let stop = AtomicBool::new(false);
    let last: Mutex<Option<Progress>> = Mutex::new(None);
    let name = spec.name.clone();
    let keep = spec.keep;
    let report = interruptible(
        py,
        &stop,
        || {
            run_sweep(
                &points,
                &mut store,
                &name,
                keep,
                parallelism,
                &stop,
                &mut |p: &Progress| {
                    *last.lock().unwrap_or_else(|e| e.into_inner()) = Some(p.clone());
                },
            )
        },
        |py| {
            if let Some(cb) = &progress {
                let snapshot = last.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if let Some(p) = snapshot {
                    cb.call1(py, (progress_dict(py, &p)?,))?;
                }
            }
            Ok(())
        },
    )?
    .map_err(|e| PyRuntimeError::new_err(format!("running the sweep: {e}")))?;
    if report.interrupted {
        return Err(PyKeyboardInterrupt::new_err("the sweep was interrupted"));
    }
    let d = progress_dict(py, &report.progress)?;
    d.set_item("name", spec.name)?;
    Ok(d)
}

fn sql_to_py(py: Python<'_>, v: &SqlValue) -> PyResult<PyObject> {
    match v {
        SqlValue::Null => Ok(py.None()),
        SqlValue::Integer(i) => i.into_py_any(py),
        SqlValue::Real(f) => f.into_py_any(py),
        SqlValue::Text(s) => s.into_py_any(py),
        SqlValue::Blob(b) => b.as_slice().into_py_any(py),
    }
}

/// A results store written by `shatter sweep`, opened for reading.
#[pyclass(module = "shatter._native", frozen)]
struct StoreReader {
    path: PathBuf,
}

impl StoreReader {
    fn open(&self) -> PyResult<Store> {
        Store::open_reader(&self.path).map_err(store_error)
    }
}

#[pymethods]
impl StoreReader {
    #[new]
    fn new(path: PathBuf) -> PyResult<Self> {
        let reader = StoreReader { path };
        reader.open()?;
        Ok(reader)
    }

    /// The names of the columns `runs` returns (and `where` filters may use).
    #[staticmethod]
    fn columns() -> Vec<&'static str> {
        queryable_columns()
    }

    /// The `runs` table rows passing `where` (the filter syntax of `shatter runs --where`), as a
    /// dict of column lists.
    #[pyo3(signature = (r#where = None))]
    fn runs<'py>(&self, py: Python<'py>, r#where: Option<&str>) -> PyResult<Bound<'py, PyDict>> {
        let filter = match r#where {
            Some(w) => Filter::parse(w).map_err(value_error)?,
            None => Filter::default(),
        };
        let cols = queryable_columns();
        let rows = self
            .open()?
            .select_runs(&cols, &filter, None)
            .map_err(store_error)?;
        let d = PyDict::new(py);
        for (i, c) in cols.iter().enumerate() {
            let values = rows
                .iter()
                .map(|r| sql_to_py(py, &r[i]))
                .collect::<PyResult<Vec<_>>>()?;
            d.set_item(*c, PyList::new(py, values)?)?;
        }
        Ok(d)
    }

    /// A stored run's trajectory as the CSV text of its `trajectory.csv`.
    fn trajectory_csv(&self, run_id: &str) -> PyResult<String> {
        let store = self.open()?;
        self.known(&store, run_id)?;
        Ok(trajectory_csv(&store.trajectory(run_id).map_err(store_error)?))
    }

    /// A stored run's neuron table as a dict of column lists.
    fn neurons<'py>(&self, py: Python<'py>, run_id: &str) -> PyResult<Bound<'py, PyDict>> {
        let store = self.open()?;
        self.known(&store, run_id)?;
        let rows = store.neurons(run_id).map_err(store_error)?;
        let d = PyDict::new(py);
        d.set_item("neuron", rows.iter().map(|r| r.neuron).collect::<Vec<_>>())?;
        d.set_item(
            "active_count",
            rows.iter().map(|r| r.active_count).collect::<Vec<_>>(),
        )?;
        d.set_item(
            "activation_rate",
            rows.iter().map(|r| r.activation_rate).collect::<Vec<_>>(),
        )?;
        d.set_item("amplitude", rows.iter().map(|r| r.amplitude).collect::<Vec<_>>())?;
        d.set_item("param_norm", rows.iter().map(|r| r.param_norm).collect::<Vec<_>>())?;
        d.set_item(
            "boundary_offset",
            rows.iter().map(|r| r.boundary_offset).collect::<Vec<_>>(),
        )?;
        d.set_item("dead", rows.iter().map(|r| r.dead).collect::<Vec<_>>())?;
        Ok(d)
    }

    /// A stored run's final model as a dict `W, b, v, beta`.
    fn model<'py>(&self, py: Python<'py>, run_id: &str) -> PyResult<Bound<'py, PyDict>> {
        let store = self.open()?;
        let run = self.known(&store, run_id)?;
        match store.load_model(&run) {
            None => Err(value_error(format!(
                "run {run_id} has no stored model (the sweep's [keep] did not keep it)"
            ))),
            Some(Err(e)) => Err(PyOSError::new_err(e.to_string())),
            Some(Ok(m)) => model_dict(py, &m),
        }
    }
}

impl StoreReader {
    fn known(&self, store: &Store, run_id: &str) -> PyResult<shatter_lab::store::StoredRun> {
        store.load(run_id).map_err(store_error)?.ok_or_else(|| {
            pyo3::exceptions::PyKeyError::new_err(format!(
                "{}: no run {run_id}",
                self.path.display()
            ))
        })
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(measure, m)?)?;
    m.add_function(wrap_pyfunction!(gradient, m)?)?;
    m.add_function(wrap_pyfunction!(hvp, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(settings_table, m)?)?;
    m.add_function(wrap_pyfunction!(default_settings, m)?)?;
    m.add_class::<StoreReader>()?;
    Ok(())
}
