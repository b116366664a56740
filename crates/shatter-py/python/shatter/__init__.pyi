"""Type stubs of shatter: exact, certified measurements of two-layer networks."""

import os
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

ArrayLike = Any  # numpy arrays, or anything with __dlpack__ or __array__ (torch, jax)
PathLike = Union[str, os.PathLike]
Table = Any  # a pandas DataFrame when pandas is installed, else a dict of columns

class Measurement:
    """Everything :func:`measure` found for one network on one data set."""

    raw: Dict[str, Any]
    sharpness: float
    sharpness_err: float
    eigenvalues: npt.NDArray[np.float64]
    eigenvalue_errors: npt.NDArray[np.float64]
    min_eigenvalue: Optional[float]
    train_loss: float
    vg_norm: float
    vg_reduced: float
    vg_bound: Optional[float]
    bound_holds: Optional[bool]
    path_norm: float
    radius: float
    activation_rate: npt.NDArray[np.float64]
    amplitude: npt.NDArray[np.float64]
    dead: npt.NDArray[np.bool_]
    active_count: npt.NDArray[np.uint64]
    param_norm: npt.NDArray[np.float64]
    boundary_offset: npt.NDArray[np.float64]
    density_grid: Optional[npt.NDArray[np.float64]]
    density: Optional[npt.NDArray[np.float64]]
    def __init__(self, raw: Dict[str, Any]) -> None: ...
    @property
    def neurons(self) -> Table:
        """The per-neuron table."""

def measure(
    W: ArrayLike,
    b: Optional[ArrayLike],
    v: ArrayLike,
    beta: Any,
    X: ArrayLike,
    y: ArrayLike,
    loss: str = "square",
    activation: str = "relu",
    top_k: int = 1,
    spectrum: bool = False,
    tol: float = 1e-4,
    max_iter: int = 300,
) -> Measurement:
    """Measure a two-layer network on (X, y): certified sharpness, variation norm, bound, neurons."""

def gradient(
    params: Tuple[ArrayLike, Optional[ArrayLike], ArrayLike, Any],
    X: ArrayLike,
    y: ArrayLike,
    loss: str = "square",
    activation: str = "relu",
) -> Tuple[float, Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], float]]:
    """The exact loss and gradient ``(loss, (dW, db, dv, dbeta))``."""

def hvp(
    params: Tuple[ArrayLike, Optional[ArrayLike], ArrayLike, Any],
    X: ArrayLike,
    y: ArrayLike,
    vector: Tuple[ArrayLike, Optional[ArrayLike], ArrayLike, Any],
    loss: str = "square",
    activation: str = "relu",
) -> Tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], float]:
    """The exact Hessian-vector product ``(hW, hb, hv, hbeta)``."""

def settings() -> List[Dict[str, Any]]:
    """Every run setting of ``shatter train``: name, kind, help, flag, default."""

class Run:
    """One trained run."""

    raw: Dict[str, Any]
    run_id: str
    status: str
    info: Dict[str, Any]
    summary: Dict[str, Any]
    spec_toml: str
    trajectory: Table
    neurons: Table
    spectrum: Optional[Table]
    W: npt.NDArray[np.float64]
    b: npt.NDArray[np.float64]
    v: npt.NDArray[np.float64]
    beta: float
    def __init__(self, raw: Dict[str, Any]) -> None: ...
    @property
    def model(self) -> Dict[str, Any]:
        """The final network ``W, b, v, beta``."""

def train(*, progress: bool = True, spectrum: bool = False, out: Optional[PathLike] = None, **settings: Any) -> Run:
    """Train one run with the settings of ``shatter train``."""

def sweep(
    spec: Union[Mapping[str, Any], PathLike],
    store: PathLike,
    *,
    jobs: Optional[int] = None,
    progress: bool = True,
) -> Dict[str, Any]:
    """Run a sweep into a results store, as ``shatter sweep``."""

class Store:
    """A results store read as tables."""

    path: str
    def __init__(self, path: PathLike) -> None: ...
    @staticmethod
    def columns() -> List[str]:
        """The columns of :meth:`runs`."""
    def runs(self, where: Optional[str] = None) -> Table:
        """The stored runs passing ``where``."""
    def run_ids(self, where: Optional[str] = None) -> List[str]:
        """The ids of the stored runs passing ``where``."""
    def trajectories(self, where: Optional[str] = None, run_id: Optional[str] = None) -> Table:
        """Trajectory rows with a ``run_id`` column."""
    def neurons(self, where: Optional[str] = None, run_id: Optional[str] = None) -> Table:
        """Per-neuron rows with a ``run_id`` column."""
    def model(self, run_id: str) -> Dict[str, Any]:
        """A stored run's final network."""
