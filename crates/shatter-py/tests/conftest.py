"""Shared helpers: the `shatter` binary of the checkout (built by `cargo build --release`)."""

import os
import pathlib
import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


def cli_path():
    """The `shatter` binary: $SHATTER_BIN, target/release/shatter, or one on PATH."""
    for candidate in (os.environ.get("SHATTER_BIN"), str(ROOT / "target" / "release" / "shatter"), shutil.which("shatter")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture
def cli():
    path = cli_path()
    if path is None:
        message = "the shatter binary is missing: run `cargo build --release` first (or set SHATTER_BIN)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
