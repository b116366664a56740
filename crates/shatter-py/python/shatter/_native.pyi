"""The compiled binding of shatter's Rust library (use the functions of ``shatter`` instead)."""

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

def measure(w: F64, b: Optional[F64], v: F64, beta: float, x: F64, y: F64, loss: str = ..., activation: str = ..., top_k: int = ..., spectrum: bool = ..., tol: float = ..., max_iter: int = ...) -> Dict[str, Any]:
    """Every measurement of ``shatter inspect`` as a dict."""

def gradient(w: F64, b: Optional[F64], v: F64, beta: float, x: F64, y: F64, loss: str = ..., activation: str = ...) -> Tuple[float, Tuple[F64, F64, F64, float]]:
    """The exact loss and gradient."""

def hvp(w: F64, b: Optional[F64], v: F64, beta: float, x: F64, y: F64, dw: F64, db: Optional[F64], dv: F64, dbeta: float, loss: str = ..., activation: str = ...) -> Tuple[F64, F64, F64, float]:
    """The exact Hessian-vector product."""

def train(settings: Dict[str, Any], spectrum: bool = ..., out: Optional[str] = ..., progress: Any = ...) -> Dict[str, Any]:
    """One run, as ``shatter train``."""

def sweep(store: str, spec: Optional[Dict[str, Any]] = ..., spec_path: Optional[str] = ..., jobs: Optional[int] = ..., progress: Any = ...) -> Dict[str, Any]:
    """A sweep into a store, as ``shatter sweep``."""

def settings_table() -> List[Tuple[str, str, str, bool]]:
    """The run settings table."""

def default_settings() -> str:
    """The resolved defaults as JSON."""

class StoreReader:
    """A results store opened for reading."""

    def __init__(self, path: str) -> None: ...
    @staticmethod
    def columns() -> List[str]: ...
    def runs(self, where: Optional[str] = ...) -> Dict[str, List[Any]]: ...
    def trajectory_csv(self, run_id: str) -> str: ...
    def neurons(self, run_id: str) -> Dict[str, List[Any]]: ...
    def model(self, run_id: str) -> Dict[str, Any]: ...
