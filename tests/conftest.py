"""Shared fixtures: the real embedding model (loads in well under a second) and the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streamsim.analysis.embeddings import Embedder

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


def shared_data() -> Path:
    """../shared/data, or $STREAMSIM_SHARED_DATA. Missing data fails loudly: it is never a skip."""
    path = Path(os.environ.get("STREAMSIM_SHARED_DATA", ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.fail(f"shared data folder {path} is missing (set STREAMSIM_SHARED_DATA)", pytrace=False)
    return path
