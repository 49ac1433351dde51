"""In-process evaluation: replay a dataset chronologically and measure how faithfully the simulator
predicts real users (the protocol is in ``streamsim.protocol``).

1. Split: each user's last interaction (users with >= 3) is held out.
2. Analyse items from the history only (or take features from a file, e.g. the LLM analyzer's).
3. Learn: every history interaction, oldest first, goes through ``Simulator.observe``.
4. Decide: every held-out interaction goes through ``Simulator.decide``; compare with the real rating.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
from tqdm import tqdm

from streamsim.analysis.base import Analyzer, ItemFeatures, Review, filter_keywords
from streamsim.analysis.embeddings import Embedder
from streamsim.analysis.offline import OfflineAnalyzer
from streamsim.catalog import Catalog
from streamsim.data.schema import Dataset, Interaction, Item
from streamsim.metrics import binary_metrics, calibration, roc_curve
from streamsim.protocol import is_like, split_holdout, visible_reviews
from streamsim.simulator import Decision, Simulator, UserState

VOTERS = ("keyword", "similarity", "statistical")


def event_id_for(x: Interaction) -> str:
    """A deterministic id for a held-out interaction decided as a recommendation (also used by replay)."""
    return f"{x.user_id}|{x.item_id}|{x.timestamp if x.timestamp is not None else ''}"


def analyze_items(items: dict[str, Item], reviews: dict[str, list[Review]], analyzer: Analyzer,
                  progress: bool = False) -> list[ItemFeatures]:
    """Run an analyzer over every item, then the paper's corpus-level keyword filter."""
    feats = [analyzer.analyze(item, reviews.get(item_id, []))
             for item_id, item in tqdm(items.items(), desc="analysing items", unit="item",
                                       disable=not progress, leave=False)]
    return filter_keywords(feats)


def load_features(path: str | Path) -> list[ItemFeatures]:
    from streamsim.errors import DataError

    out = []
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    out.append(ItemFeatures.from_dict(orjson.loads(line)))
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                    raise DataError(f"invalid item features: {e}", str(path), n) from None
    return out


@dataclass
class Evaluation:
    report: dict
    decisions: list[Decision]
    labels: np.ndarray  # the real like(1)/dislike(0) of each held-out interaction
    baseline: np.ndarray  # the popularity baseline's probability per held-out interaction


def popularity_baseline(history: Sequence[Interaction], held_out: Sequence[Interaction],
                        like_threshold: float, strength: float = 5.0) -> np.ndarray:
    """The item's smoothed like rate in the history: what a simulator without any user model predicts."""
    likes: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    for x in history:
        likes[x.item_id] += is_like(x.rating, like_threshold)
        count[x.item_id] += 1
    prior = (sum(likes.values()) + 1) / (len(history) + 2)
    return np.array([(likes[x.item_id] + strength * prior) / (count[x.item_id] + strength)
                     for x in held_out])


def evaluate(ds: Dataset, *, like_threshold: float = 3.0, seed: int = 0, n_shards: int = 1,
             features: Sequence[ItemFeatures] | None = None, analyzer: Analyzer | None = None,
             embedder: Embedder | None = None, progress: bool = True) -> Evaluation:
    t0 = time.perf_counter()
    history, held_out = split_holdout(ds.interactions)
    if not held_out:
        from streamsim.errors import DataError
        raise DataError(f"dataset '{ds.name}' has no user with 3 or more interactions to hold out")

    if features is None:
        analyzer = analyzer or OfflineAnalyzer()
        features = analyze_items(ds.items, visible_reviews(history, like_threshold), analyzer, progress)
    catalog = Catalog(embedder or Embedder(), capacity=max(len(features), 16))
    catalog.add_all(features)
    t_features = time.perf_counter() - t0

    sim = Simulator(catalog, seed=seed, n_shards=n_shards)
    users: dict[str, UserState] = {}
    for x in tqdm(history, desc="learning from history", unit="event", disable=not progress,
                  leave=False, mininterval=0.5):
        user = users.get(x.user_id) or users.setdefault(x.user_id, UserState(x.user_id))
        sim.observe(user, x.item_id, is_like(x.rating, like_threshold))

    t1 = time.perf_counter()
    decisions = [sim.decide(users.get(x.user_id) or UserState(x.user_id), x.item_id, event_id_for(x))
                 for x in tqdm(held_out, desc="deciding held-out", unit="decision",
                               disable=not progress, leave=False, mininterval=0.5)]
    t_decide = time.perf_counter() - t1

    labels = np.array([is_like(x.rating, like_threshold) for x in held_out], dtype=bool)
    baseline = popularity_baseline(history, held_out, like_threshold)
    report = build_report(ds, decisions, labels, baseline, like_threshold=like_threshold, seed=seed,
                          n_shards=n_shards, analyzer=features[0].analyzer if features else "none",
                          versions=sim.versions)
    report["timing_s"] = {"features": round(t_features, 3), "decide": round(t_decide, 3),
                          "total": round(time.perf_counter() - t0, 3)}
    report["decisions_per_s"] = round(len(decisions) / t_decide, 1) if t_decide > 0 else None
    return Evaluation(report, decisions, labels, baseline)


def build_report(ds: Dataset, decisions: Sequence[Decision], labels: np.ndarray, baseline: np.ndarray,
                 **meta) -> dict:
    metrics = {}
    for voter in VOTERS:
        votes = [d.vote(voter) for d in decisions]
        metrics[voter] = binary_metrics(labels, [v.probability for v in votes], [v.vote for v in votes])
    metrics["ensemble"] = binary_metrics(labels, [d.probability for d in decisions],
                                         [d.liked for d in decisions])
    metrics["popularity_baseline"] = binary_metrics(labels, baseline, baseline >= 0.5)
    users = {x.user_id for x in ds.interactions}
    return {
        "dataset": ds.name,
        "n_users": len(users),
        "n_items": len({x.item_id for x in ds.interactions} | set(ds.items)),
        "n_events": len(ds.interactions),
        "n_decisions": len(decisions),
        "like_rate": round(float(labels.mean()), 4) if len(labels) else None,
        "history_like_rate": round(float(np.mean([is_like(x.rating, meta["like_threshold"])
                                                  for x in ds.interactions])), 4),
        **meta,
        "metrics": metrics,
    }


def summary_table(report: dict) -> str:
    cols = ("auc", "accuracy", "balanced_accuracy", "f1_like", "f1_dislike", "logloss")
    lines = [f"{report['dataset']}: {report['n_users']} users, {report['n_items']} items, "
             f"{report['n_events']} events, {report['n_decisions']} held-out decisions, "
             f"like rate {report['like_rate']}",
             f"{'model':<20}" + "".join(f"{c:>18}" for c in cols)]
    for name, m in report["metrics"].items():
        lines.append(f"{name:<20}" + "".join(
            f"{'-' if m[c] is None else format(m[c], '.4f'):>18}" for c in cols))
    return "\n".join(lines)


def plot(ev: Evaluation, path: str | Path) -> None:
    """ROC curves of every voter, the ensemble and the baseline, plus the ensemble's calibration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.8))
    series = {v: [d.vote(v).probability for d in ev.decisions] for v in VOTERS}
    series["ensemble"] = [d.probability for d in ev.decisions]
    series["popularity baseline"] = list(ev.baseline)
    aucs = dict(ev.report["metrics"], **{"popularity baseline": ev.report["metrics"]["popularity_baseline"]})
    for name, p in series.items():
        fpr, tpr = roc_curve(ev.labels, p)
        ax1.plot(fpr, tpr, label=f"{name} (AUC {aucs[name]['auc']})", lw=2 if name == "ensemble" else 1)
    ax1.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax1.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC: {ev.report['dataset']}")
    ax1.legend(loc="lower right", fontsize=8)
    for name in ("ensemble", "statistical"):
        mp, rate, _ = calibration(ev.labels, series[name])
        ax2.plot(mp, rate, "o-", label=name)
    ax2.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax2.set(xlabel="predicted like probability", ylabel="observed like rate", title="calibration")
    ax2.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
