"""Fidelity guards on real data from ../shared/data: the simulator must beat the popularity baseline
and chance. Missing shared data fails these tests; it never skips them."""

from __future__ import annotations

import pytest

from streamsim.data.convert import convert
from streamsim.data.io import load_dataset
from streamsim.evaluate import evaluate

pytestmark = pytest.mark.shared_data
MI = "amazon-musical-instruments-5core-2014"


@pytest.mark.parametrize("fmt,src,meta", [
    ("amazon-2014", f"{MI}/Musical_instruments_reviews.csv", f"{MI}/Music_Instruments_meta_5.csv"),
    ("yelp-reviews", "yelp-kaggle-10k/yelp.csv", None),
    ("movielens-100k", "ml-100k", None),
])
def test_ensemble_beats_popularity_on_real_data(tmp_path, embedder, shared_data, fmt, src, meta):
    root = shared_data()
    convert(fmt, root / src, root / meta if meta else None, tmp_path / "ds")
    report = evaluate(load_dataset(tmp_path / "ds"), embedder=embedder, progress=False).report
    m = report["metrics"]
    assert report["n_decisions"] >= 500
    assert m["ensemble"]["auc"] > max(0.6, m["popularity_baseline"]["auc"])
