"""shatter: exact, certified measurements of two-layer networks.

The numbers come from shatter's Rust library (the same code as the ``shatter`` command line):
exact gradients and Hessian-vector products, the top Hessian eigenvalues by Lanczos with a
certified error bound, the weighted variation norm and its flatness bound, and per-neuron
shattering statistics.

Main entry points:

* :func:`measure` -- every measurement of ``shatter inspect`` for your own network ``(W, b, v, beta)``
  on data ``(X, y)``; arrays may be numpy arrays or anything with ``__dlpack__`` or
  ``__array__`` (torch tensors, jax arrays).
* :func:`gradient`, :func:`hvp` -- the exact gradient and Hessian-vector product.
* :func:`train` -- one run with the settings of ``shatter train`` (see :func:`settings`).
* :func:`sweep` -- a sweep into a results store, as ``shatter sweep``.
* :class:`Store` -- read a results store as pandas DataFrames.

The network is ``f(x) = sum_k v_k relu(w_k . x + b_k) + beta`` with ``W`` of shape ``(K, d)``
(row ``k`` is ``w_k``), ``b`` and ``v`` of length ``K``; ``X`` is ``(n, d)`` and ``y`` is ``(n,)``.
The ``square`` loss is ``1/(2n) sum (f(x_i) - y_i)^2``, ``mse`` is twice that.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from . import _native

__all__ = [
    "Measurement",
    "Run",
    "Store",
    "gradient",
    "hvp",
    "measure",
    "settings",
    "sweep",
    "train",
]

__version__ = "0.1.0"


# ---------------------------------------------------------------------------------------------
# Arrays


def _as_numpy(a: Any, name: str) -> np.ndarray:
    """``a`` as a numpy array without a copy where possible (DLPack first, then ``__array__``)."""
    if isinstance(a, np.ndarray):
        return a
    if hasattr(a, "__dlpack__") and hasattr(np, "from_dlpack"):
        try:
            return np.from_dlpack(a)
        except (TypeError, RuntimeError, BufferError, ValueError):
            pass  # e.g. a tensor on a GPU or one needing grad: fall back to __array__
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # a torch tensor that DLPack refused
        a = a.detach().cpu()
    try:
        return np.asarray(a)
    except Exception as e:  # noqa: BLE001 - re-raised with the argument's name
        raise TypeError(f"{name}: cannot be read as an array ({e})") from e


def _f64(a: Any, name: str, ndim: int) -> np.ndarray:
    arr = _as_numpy(a, name)
    if arr.dtype not in (np.float32, np.float64):
        if np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
            arr = arr.astype(np.float64)
        else:
            raise TypeError(f"{name}: dtype {arr.dtype} is not a float32 or float64 array")
    if ndim == 1 and arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, not of shape {arr.shape}")
    # float32 is widened exactly; float64 C-contiguous arrays pass without a copy.
    return np.ascontiguousarray(arr, dtype=np.float64)


def _scalar(a: Any, name: str) -> float:
    arr = _as_numpy(a, name)
    if arr.size != 1:
        raise ValueError(f"{name} must be a single number, not of shape {arr.shape}")
    return float(arr.reshape(()))


def _network(W: Any, b: Any, v: Any, beta: Any) -> Tuple[np.ndarray, Optional[np.ndarray], np.ndarray, float]:
    W = _f64(W, "W", 2)
    b = None if b is None else _f64(b, "b", 1)
    v = _f64(v, "v", 1)
    return W, b, v, _scalar(beta, "beta")


def _data(X: Any, y: Any) -> Tuple[np.ndarray, np.ndarray]:
    X = _f64(X, "X", 2)
    y = _f64(y, "y", 1)
    return X, y


def _pandas():
    try:
        import pandas  # noqa: F401

        return pandas
    except ImportError:
        return None


def _table(columns: Mapping[str, Any]):
    """A pandas DataFrame of ``columns`` when pandas is installed, else the dict itself."""
    pd = _pandas()
    return pd.DataFrame(dict(columns)) if pd is not None else dict(columns)


def _exact_csv() -> Dict[str, Any]:
    """read_csv options that read floats back exactly (pandas 3 does by default)."""
    pd = _pandas()
    if pd is None or int(pd.__version__.split(".")[0]) >= 3:
        return {}
    return {"float_precision": "round_trip"}


_EXACT_CSV = _exact_csv()


def _csv_table(text: str):
    """CSV text written by shatter as a DataFrame (floats read back exactly), or a dict of
    column lists without pandas."""
    pd = _pandas()
    if pd is not None:
        return pd.read_csv(io.StringIO(text), **_exact_csv())
    import csv

    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return {}
    header, body = rows[0], rows[1:]

    def value(s: str):
        if s == "":
            return None
        if s in ("true", "false"):
            return s == "true"
        try:
            return int(s)
        except ValueError:
            try:
                return float(s)
            except ValueError:
                return s

    return {h: [value(r[i]) for r in body] for i, h in enumerate(header)}


# ---------------------------------------------------------------------------------------------
# Measurements


class Measurement:
    """Everything :func:`measure` found for one network on one data set.

    Attributes:
        sharpness: the top Hessian eigenvalue ``lambda_max`` of the training loss.
        sharpness_err: a certified bound on ``|sharpness - lambda_max|`` (the Ritz residual).
        eigenvalues: the ``top_k`` largest eigenvalues, descending (numpy array).
        eigenvalue_errors: their certified error bounds.
        min_eigenvalue: the smallest Ritz value Lanczos found (``None`` if not converged).
        train_loss: the training loss at the parameters.
        vg_norm: the weighted variation norm ``||f||_{V,g}`` on the training inputs.
        vg_reduced: the same after merging neurons that share a hyperplane.
        vg_bound: the flatness bound ``(lambda_max - 1) / 2 + (R + 1) sqrt(2 L)`` (``None`` for the
            logistic loss, where it is not stated).
        bound_holds: whether ``vg_norm <= vg_bound`` holds with the eigenvalue error accounted for.
        path_norm: ``sum_k |v_k| ||w_k||``.
        radius: the radius ``R`` of the training inputs.
        activation_rate, amplitude, dead, active_count, param_norm, boundary_offset: per-neuron
            numpy arrays (neuron ``k`` at index ``k``).
        neurons: the per-neuron arrays as a pandas DataFrame (a dict without pandas).
        density_grid, density: the SLQ estimate of the spectral density (``spectrum=True``).
        raw: every number as a dict (also fractions of dead, negligible and shattered neurons).
    """

    def __init__(self, raw: Dict[str, Any]):
        self.raw = raw
        neurons = raw["neurons"]
        self.sharpness: float = raw["sharpness"]
        self.sharpness_err: float = raw["sharpness_err"]
        self.eigenvalues: np.ndarray = raw["eigenvalues"]
        self.eigenvalue_errors: np.ndarray = raw["eigenvalue_errors"]
        self.min_eigenvalue: Optional[float] = raw["min_eigenvalue"]
        self.train_loss: float = raw["train_loss"]
        self.vg_norm: float = raw["vg_norm"]
        self.vg_reduced: float = raw["vg_reduced"]
        self.vg_bound: Optional[float] = raw["vg_bound"]
        self.bound_holds: Optional[bool] = raw["bound_holds"]
        self.path_norm: float = raw["path_norm"]
        self.radius: float = raw["radius"]
        self.activation_rate: np.ndarray = neurons["activation_rate"]
        self.amplitude: np.ndarray = neurons["amplitude"]
        self.dead: np.ndarray = neurons["dead"]
        self.active_count: np.ndarray = neurons["active_count"]
        self.param_norm: np.ndarray = neurons["param_norm"]
        self.boundary_offset: np.ndarray = neurons["boundary_offset"]
        self.density_grid: Optional[np.ndarray] = raw.get("density_grid")
        self.density: Optional[np.ndarray] = raw.get("density")

    @property
    def neurons(self):
        """The per-neuron table (``neuron``, ``active_count``, ``activation_rate``,
        ``amplitude``, ``param_norm``, ``boundary_offset``, ``dead``)."""
        cols = {"neuron": np.arange(len(self.amplitude))}
        cols.update(self.raw["neurons"])
        return _table(cols)

    def __repr__(self) -> str:
        bound = "" if self.vg_bound is None else f", vg_bound={self.vg_bound:.6g}"
        return (
            f"Measurement(sharpness={self.sharpness:.6g} +- {self.sharpness_err:.2g}, "
            f"train_loss={self.train_loss:.6g}, vg_norm={self.vg_norm:.6g}{bound}, "
            f"dead={int(np.sum(self.dead))}/{len(self.dead)})"
        )


def measure(
    W: Any,
    b: Any,
    v: Any,
    beta: Any,
    X: Any,
    y: Any,
    loss: str = "square",
    activation: str = "relu",
    top_k: int = 1,
    spectrum: bool = False,
    tol: float = 1e-4,
    max_iter: int = 300,
) -> Measurement:
    """Measure a two-layer network ``f(x) = sum_k v_k act(w_k . x + b_k) + beta`` on ``(X, y)``.

    Computes, in float64 and exactly as ``shatter inspect`` does: the training loss; the top
    ``top_k`` Hessian eigenvalues by Lanczos on exact Hessian-vector products, with certified
    error bounds (``sharpness``, ``sharpness_err``, ``eigenvalues``, ``min_eigenvalue``); the
    weighted variation norm ``vg_norm``, the flatness bound ``vg_bound`` and whether it
    holds; the path norm; and per-neuron activation rates, amplitudes and dead flags.

    Args:
        W: input weights, shape ``(K, d)`` (row ``k`` is neuron ``k``'s weights; a PyTorch
            ``nn.Linear(d, K).weight`` as is).
        b: hidden biases, shape ``(K,)``, or ``None`` for a network without them (then the
            Hessian is taken over ``W, v, beta`` only).
        v: output weights, shape ``(K,)`` (or ``(1, K)``).
        beta: output bias (a number or a one-element array).
        X: inputs, shape ``(n, d)``.
        y: labels, shape ``(n,)``.
        loss: ``"square"`` (``1/(2n) sum r^2``), ``"mse"`` (``1/n sum r^2``) or ``"logistic"``.
        activation: ``"relu"`` or ``"gelu"``.
        top_k: how many top eigenvalues to certify.
        spectrum: also estimate the spectral density by stochastic Lanczos quadrature.
        tol: relative tolerance of the eigenvalues, in (0, 1).
        max_iter: most Lanczos iterations.

    Arrays may be numpy arrays, or anything with ``__dlpack__`` or ``__array__`` (torch
    tensors, jax arrays), float32 or float64; float64 contiguous arrays are read without a
    copy, float32 ones are widened exactly.

    Returns:
        A :class:`Measurement`.

    Raises:
        ValueError: shapes that do not fit, non-finite numbers, an unknown loss or activation.

    Example:
        >>> m = shatter.measure(W, b, v, beta, X, y)
        >>> m.sharpness, m.sharpness_err, m.bound_holds
    """
    W, b, v, beta = _network(W, b, v, beta)
    X, y = _data(X, y)
    raw = _native.measure(W, b, v, beta, X, y, loss, activation, int(top_k), bool(spectrum), float(tol), int(max_iter))
    return Measurement(raw)


def gradient(
    params: Tuple[Any, Any, Any, Any],
    X: Any,
    y: Any,
    loss: str = "square",
    activation: str = "relu",
) -> Tuple[float, Tuple[np.ndarray, Optional[np.ndarray], np.ndarray, float]]:
    """The exact training loss and its gradient at ``params = (W, b, v, beta)``.

    Returns ``(loss, (dW, db, dv, dbeta))`` with each part shaped like the parameter (``db`` is
    zero when ``b`` is ``None``). See :func:`measure` for the shapes and accepted arrays.
    """
    W, b, v, beta = _network(*params)
    X, y = _data(X, y)
    value, (gw, gb, gv, gbeta) = _native.gradient(W, b, v, beta, X, y, loss, activation)
    return value, (gw, gb, gv, gbeta)


def hvp(
    params: Tuple[Any, Any, Any, Any],
    X: Any,
    y: Any,
    vector: Tuple[Any, Any, Any, Any],
    loss: str = "square",
    activation: str = "relu",
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The exact Hessian-vector product ``H u`` of the training loss at ``params``.

    ``params = (W, b, v, beta)`` and ``vector = (dW, db, dv, dbeta)`` have the same shapes;
    the result is ``(hW, hb, hv, hbeta)``. When ``b`` is ``None`` the biases are not
    parameters: ``db`` is ignored and ``hb`` is zero. One call costs about one gradient.
    """
    W, b, v, beta = _network(*params)
    X, y = _data(X, y)
    if len(vector) != 4:
        raise ValueError("vector must be (dW, db, dv, dbeta), like params")
    dW = _f64(vector[0], "vector dW", 2)
    db = None if vector[1] is None else _f64(vector[1], "vector db", 1)
    dv = _f64(vector[2], "vector dv", 1)
    dbeta = _scalar(vector[3], "vector dbeta")
    return tuple(_native.hvp(W, b, v, beta, X, y, dW, db, dv, dbeta, loss, activation))  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Settings, training and sweeps


_SETTINGS = [
    {"name": name, "kind": kind, "help": help_text, "flag": flag}
    for (name, kind, help_text, flag) in _native.settings_table()
]
_SETTING_NAMES = [s["name"] for s in _SETTINGS]


def settings() -> List[Dict[str, Any]]:
    """Every run setting of ``shatter train``, in the order of its ``--help``: dicts with
    ``name`` (the TOML key and keyword of :func:`train`), ``kind`` (its type), ``help`` (the
    text of ``--help``, with the default and range), ``flag`` and ``default`` (the resolved
    default of a run with nothing set; ``None`` where it depends on other settings)."""
    defaults = json.loads(_native.default_settings())
    return [dict(s, default=defaults.get(s["name"])) for s in _SETTINGS]


def _settings_dict(given: Mapping[str, Any]) -> Dict[str, Any]:
    unknown = [k for k in given if k not in _SETTING_NAMES]
    if unknown:
        raise ValueError(
            f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"the settings are: {', '.join(_SETTING_NAMES)}"
        )
    out: Dict[str, Any] = {}
    for k, value in given.items():
        if value is None:
            continue
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        elif isinstance(value, np.generic):
            value = value.item()
        out[k] = value
    return out


class _Bar:
    """A tqdm bar when tqdm is installed and ``enabled``; nothing otherwise."""

    def __init__(self, enabled: bool, total: Optional[float], unit: str, desc: str):
        self.bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, unit=unit, desc=desc, leave=False)
            except ImportError:
                self.bar = None

    def update_to(self, n: float, total: Optional[float] = None, postfix: Optional[str] = None) -> None:
        if self.bar is None:
            return
        if total is not None:
            self.bar.total = total
        self.bar.n = n
        if postfix:
            self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Run:
    """One trained run, as :func:`train` returns it.

    Attributes:
        run_id: the run's id (the same as ``shatter train`` gives the same settings).
        status: ``completed`` or ``diverged``.
        summary: the summary numbers (the ``summary`` object of ``run.json``) as a dict.
        info: the whole ``run.json`` (spec, summary, device, versions) as a dict.
        spec_toml: the resolved settings as TOML.
        trajectory: the recorded rows (``trajectory.csv``) as a DataFrame.
        neurons: the final per-neuron statistics (``neurons.csv``) as a DataFrame.
        spectrum: ``spectrum.csv`` as a DataFrame (``spectrum=True``), else ``None``.
        W, b, v, beta: the final network (``model.npz``).
    """

    def __init__(self, raw: Dict[str, Any]):
        self.raw = raw
        self.run_id: str = raw["run_id"]
        self.status: str = raw["status"]
        self.info: Dict[str, Any] = json.loads(raw["run_json"])
        self.summary: Dict[str, Any] = self.info.get("summary", {})
        self.spec_toml: str = raw["spec_toml"]
        self.trajectory = _csv_table(raw["trajectory_csv"])
        self.neurons = _csv_table(raw["neurons_csv"])
        self.spectrum = None if raw["spectrum_csv"] is None else _csv_table(raw["spectrum_csv"])
        model = raw["model"]
        self.W: np.ndarray = model["W"]
        self.b: np.ndarray = model["b"]
        self.v: np.ndarray = model["v"]
        self.beta: float = model["beta"]

    @property
    def model(self) -> Dict[str, Any]:
        """The final network as a dict ``W, b, v, beta``."""
        return {"W": self.W, "b": self.b, "v": self.v, "beta": self.beta}

    def __repr__(self) -> str:
        return f"Run({self.run_id}, {self.status}, sharpness={self.summary.get('sharpness')})"


def train(*, progress: bool = True, spectrum: bool = False, out: Union[str, os.PathLike, None] = None, **settings: Any) -> Run:
    """Train one run with the settings of ``shatter train`` (``shatter.settings()`` lists them,
    with their defaults and ranges): the same names (TOML keys, e.g. ``lr=0.2, width=64``), the
    same defaults, the same checks and error messages, the same numbers.

    Args:
        progress: show a progress bar (tqdm, when installed).
        spectrum: also estimate the spectral density at the end.
        out: a folder to write the run directory to, as ``shatter train --out`` (written only
            when the run finishes).
        **settings: run settings; ``None`` values are left at their defaults.

    Returns:
        A :class:`Run`.

    Raises:
        ValueError: an unknown setting or a value out of range (the message of the CLI).
        OSError: an input file that cannot be read.
        KeyboardInterrupt: Ctrl-C; the run stops at its next recorded epoch (every
            ``log_every`` epochs, as ``shatter train`` does) and nothing is written.
    """
    given = _settings_dict(settings)
    bar = _Bar(progress, None, "epoch", "train")

    def on_progress(epoch: int, epochs: int, loss: float, sharpness: Optional[float]) -> None:
        extra = f"loss {loss:.6g}" + ("" if sharpness is None else f" sharpness {sharpness:.4g}")
        bar.update_to(epoch, epochs, extra)

    try:
        raw = _native.train(
            given,
            bool(spectrum),
            None if out is None else os.fspath(out),
            on_progress if progress else None,
        )
    finally:
        bar.close()
    return Run(raw)


def _to_plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def sweep(
    spec: Union[Mapping[str, Any], str, os.PathLike],
    store: Union[str, os.PathLike],
    *,
    jobs: Optional[int] = None,
    progress: bool = True,
) -> Dict[str, Any]:
    """Run a sweep into a results store, as ``shatter sweep SPEC --store STORE``.

    Args:
        spec: the experiment spec: a dict with the tables of a sweep file (``name``,
            ``base``, ``grid``, ``zip``, ``measure``, ``keep``) or the path of a TOML file.
        store: the SQLite results store (created when missing). Runs it already holds are
            skipped, so a stopped sweep resumes where it stopped.
        jobs: runs at once (default: by the number of cores and runs).
        progress: show a progress bar (tqdm, when installed).

    Returns:
        Counts: ``total``, ``skipped`` (already stored), ``todo``, ``finished``, ``completed``,
        ``diverged``, ``failed`` and the sweep's ``name``.

    Raises:
        ValueError: a malformed spec or a setting out of range (the message of the CLI).
        OSError: a spec file or store that cannot be read or written, or a store in use.
        KeyboardInterrupt: Ctrl-C; the runs in progress stop, every finished run stays
            stored and nothing half-written is left.
    """
    bar = _Bar(progress, None, "run", "sweep")

    def on_progress(p: Dict[str, Any]) -> None:
        bar.update_to(
            p["finished"],
            p["todo"],
            f"{p['completed']} completed, {p['diverged']} diverged, {p['failed']} failed",
        )

    cb = on_progress if progress else None
    try:
        if isinstance(spec, Mapping):
            return _native.sweep(os.fspath(store), spec=_to_plain(spec), jobs=jobs, progress=cb)
        return _native.sweep(os.fspath(store), spec_path=os.fspath(spec), jobs=jobs, progress=cb)
    finally:
        bar.close()


# ---------------------------------------------------------------------------------------------
# Stores


class Store:
    """A results store written by ``shatter sweep`` (or :func:`sweep`), read as tables.

    ``where`` filters use the syntax of ``shatter runs --where`` (for example
    ``"lr >= 0.1 and status = completed"``); :meth:`columns` lists the names they may use.

    Raises:
        OSError: when the store cannot be opened.
    """

    def __init__(self, path: Union[str, os.PathLike]):
        self.path = os.fspath(path)
        self._reader = _native.StoreReader(self.path)

    @staticmethod
    def columns() -> List[str]:
        """The columns of :meth:`runs`."""
        return list(_native.StoreReader.columns())

    def runs(self, where: Optional[str] = None):
        """The stored runs passing ``where`` (settings, status and summary numbers, one row a
        run) as a DataFrame."""
        return _table(self._reader.runs(where))

    def run_ids(self, where: Optional[str] = None) -> List[str]:
        """The ids of the stored runs passing ``where``."""
        return list(self._reader.runs(where)["run_id"])

    def _many(self, where: Optional[str], run_id: Optional[str], one: Callable[[str], Any]):
        ids = [run_id] if run_id is not None else self.run_ids(where)
        parts = [(i, one(i)) for i in ids]
        pd = _pandas()
        if pd is not None:
            frames = [t.assign(run_id=i) for i, t in parts]
            if not frames:
                return pd.DataFrame()
            df = pd.concat(frames, ignore_index=True)
            return df[["run_id"] + [c for c in df.columns if c != "run_id"]]
        out: Dict[str, list] = {}
        for i, t in parts:
            n = len(next(iter(t.values()), []))
            out.setdefault("run_id", []).extend([i] * n)
            for k, col in t.items():
                out.setdefault(k, []).extend(col)
        return out

    def trajectories(self, where: Optional[str] = None, run_id: Optional[str] = None):
        """The trajectory rows of the runs passing ``where`` (or of one ``run_id``), with a
        ``run_id`` column, as a DataFrame."""
        return self._many(where, run_id, lambda i: _csv_table(self._reader.trajectory_csv(i)))

    def neurons(self, where: Optional[str] = None, run_id: Optional[str] = None):
        """The per-neuron rows of the runs passing ``where`` (or of one ``run_id``), with a
        ``run_id`` column, as a DataFrame."""
        return self._many(where, run_id, lambda i: _table(self._reader.neurons(i)))

    def model(self, run_id: str) -> Dict[str, Any]:
        """A stored run's final network as a dict ``W, b, v, beta`` of numpy arrays.

        Raises:
            KeyError: no such run. ValueError: the sweep did not keep its model.
        """
        return dict(self._reader.model(run_id))

    def __repr__(self) -> str:
        return f"Store({self.path!r})"


def _settings_doc() -> str:
    lines = ["", "    The settings (from the table of ``shatter train --help``):", ""]
    for s in _SETTINGS:
        lines.append(f"        {s['name']} ({s['kind']}): {s['help']}")
    return "\n".join(lines) + "\n"


train.__doc__ = (train.__doc__ or "") + _settings_doc()
