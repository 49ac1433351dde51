"""The evaluation protocol, metrics, offline analyzer and the CLI's error paths."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import orjson
import pytest

from streamsim.analysis.base import ItemFeatures, Review, filter_keywords
from streamsim.analysis.offline import OfflineAnalyzer
from streamsim.data.io import write_dataset
from streamsim.data.schema import Dataset, Interaction, Item
from streamsim.evaluate import evaluate
from streamsim.metrics import auc, binary_metrics
from streamsim.protocol import split_holdout
from streamsim.sharding import partition_for


def synthetic(n_users=60, n_items=30, seed=1, secret_review="") -> Dataset:
    """Users like items of their favourite genre and dislike the rest; reviews say so."""
    rng = random.Random(seed)
    genres = ["comedy", "horror", "drama"]
    items = {f"i{n}": Item(f"i{n}", f"title {n}", (genres[n % 3],)) for n in range(n_items)}
    inter = []
    for u in range(n_users):
        fav = genres[u % 3]
        for t, i in enumerate(rng.sample(sorted(items), 8)):
            liked = items[i].categories[0] == fav
            text = "wonderful cast" if liked else "boring plot"
            inter.append(Interaction(f"u{u}", i, 5.0 if liked else 1.0, 1000 * u + t, text))
        if secret_review:
            last = inter[-1]
            inter[-1] = Interaction(last.user_id, last.item_id, last.rating, last.timestamp, secret_review)
    return Dataset("synthetic", inter, items)


def test_split_holdout_takes_each_users_last_event():
    xs = [Interaction("a", "1", 5, 3), Interaction("a", "2", 5, 1), Interaction("a", "3", 1, 2),
          Interaction("b", "1", 5, 1), Interaction("b", "2", 5, 2)]
    history, held = split_holdout(xs)
    assert held == [Interaction("a", "1", 5, 3)]  # b has only two interactions
    assert [x.item_id for x in history if x.user_id == "a"] == ["2", "3"]


def test_evaluate_report_and_no_leakage(embedder):
    ds = synthetic(secret_review="zyzzyva zyzzyva")
    ev = evaluate(ds, embedder=embedder, progress=False)
    r = ev.report
    assert (r["n_users"], r["n_items"], r["n_events"], r["n_decisions"]) == (60, 30, 480, 60)
    for model in ("keyword", "similarity", "statistical", "ensemble", "popularity_baseline"):
        assert set(r["metrics"][model]) == {"auc", "accuracy", "balanced_accuracy", "f1_like",
                                            "f1_dislike", "logloss"}
    # genre-driven users: the logical voters must see it, far above chance
    assert r["metrics"]["keyword"]["auc"] > 0.9 and r["metrics"]["ensemble"]["auc"] > 0.9
    # the held-out review's words never reach an item's keywords
    for d in ev.decisions:
        assert "zyzzyva" not in d.matched_like_keywords + d.matched_dislike_keywords


def test_evaluate_is_deterministic(embedder):
    a = evaluate(synthetic(), embedder=embedder, progress=False, seed=3)
    b = evaluate(synthetic(), embedder=embedder, progress=False, seed=3)
    assert a.decisions == b.decisions


def test_auc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    y = rng.random(300) > 0.4
    p = np.round(rng.random(300) + 0.3 * y, 1)  # many ties
    pos, neg = p[y], p[~y]
    ref = ((pos[:, None] > neg).sum() + 0.5 * (pos[:, None] == neg).sum()) / (len(pos) * len(neg))
    assert auc(y, p) == pytest.approx(ref)
    m = binary_metrics([1, 0, 1, 1], [0.9, 0.2, 0.4, 0.8], [1, 0, 0, 1])
    assert m["accuracy"] == 0.75 and m["f1_dislike"] == pytest.approx(0.6667, abs=1e-4)


def test_partition_for_matches_kafka_default_partitioner():
    from aiokafka.partitioner import murmur2

    for key in ["u1", "user-42", "", "ü", "A2IBPI20UZIR0U"]:
        assert partition_for(key, 12) == (murmur2(key.encode()) & 0x7FFFFFFF) % 12


def test_offline_analyzer_splits_pros_and_cons_by_rating():
    f = OfflineAnalyzer().analyze(Item("x", "Quiet Bistro", ("French",)), [
        Review(5, "Lovely terrace. Friendly staff.", True),
        Review(1, "Rude waiter.", False)])
    assert {"lovely terrace", "friendly staff"} <= set(f.like_keywords)
    assert "rude waiter" in f.dislike_keywords and "rude waiter" not in f.like_keywords
    assert "french" in f.like_keywords and "french" in f.dislike_keywords  # neutral attribute: both sides
    assert f.evidence["rude waiter"] == "Rude waiter."
    assert f.like_rate == 0.5 and f.n_reviews == 2


def test_filter_keywords_drops_too_common_and_too_rare():
    feats = [ItemFeatures(str(n), like_keywords=("great", f"own{n}", "shared" if n < 3 else "x"))
             for n in range(10)]
    out = filter_keywords(feats, min_items=2, max_item_fraction=0.5)
    assert all("great" not in f.like_keywords for f in out)  # in all 10 items
    assert all(not any(k.startswith("own") for k in f.like_keywords) for f in out)  # in one item each
    assert out[0].like_keywords == ("shared",)


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "streamsim.cli", *args], capture_output=True, text=True)


def test_cli_bad_input_is_one_line_and_nonzero(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "interactions.csv").write_text("user_id,item_id,rating\nu1,i1,five\n")
    r = run_cli("evaluate", "--data", str(bad), "--out", str(tmp_path / "r.json"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "line 2" not in r.stderr  # one line, file:line form
    assert "interactions.csv:2: column 'rating'" in r.stderr
    r = run_cli("evaluate", "--data", str(tmp_path / "missing"))
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("no-such-command")
    assert r.returncode == 2 and "unknown command" in r.stderr


def test_cli_evaluate_writes_report_and_plot(tmp_path):
    write_dataset(synthetic(), tmp_path / "ds")
    r = run_cli("evaluate", "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "out/report.json"),
                "--quiet")
    assert r.returncode == 0, r.stderr
    report = orjson.loads((tmp_path / "out/report.json").read_bytes())
    assert report["dataset"] == "ds" and report["metrics"]["ensemble"]["auc"] > 0.9
    assert (tmp_path / "out/report.png").read_bytes()[:4] == b"\x89PNG"
    assert "ensemble" in r.stdout


def test_cli_bench_prints_json(tmp_path):
    write_dataset(synthetic(), tmp_path / "ds")
    r = run_cli("bench", "--data", str(tmp_path / "ds"), "--decisions", "500")
    assert r.returncode == 0, r.stderr
    out = orjson.loads(r.stdout)
    assert out["decisions_per_s"] > 0 and out["baseline_scores_agree"] is True
