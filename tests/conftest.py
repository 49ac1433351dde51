"""Shared fixtures: the real embedding model (loads in well under a second) and the shared data folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from streamsim.analysis.embeddings import Embedder

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


SHARED = Path(os.environ.get("STREAMSIM_SHARED_DATA") or ROOT.parent / "shared" / "data")


def _shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"shared data folder {SHARED} not found: these tests need the real datasets "
                    "(set STREAMSIM_SHARED_DATA to their folder)", pytrace=False)
    return SHARED


@pytest.fixture(scope="session")
def shared_data() -> Callable[[], Path]:
    """../shared/data or $STREAMSIM_SHARED_DATA, as a function to call inside the test, so that missing
    data is a FAILED test (never a skip, never hidden in a fixture error)."""
    return _shared_dir
