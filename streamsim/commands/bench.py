"""``streamsim bench [core|stream]``: throughput figures as JSON.

``core`` (default) measures the in-process simulator pinned to one core: the time to build item features
(analysis, embeddings, catalog), the learning rate over the history, and decisions per second with warm
caches. As a baseline in the same run it times a straightforward per-pair implementation of the same
voters (Python sets and one cosine per history item, the shape of the paper's released code) on a sample
and checks that both give the same scores. ``stream`` delegates to ``streamsim.stream.bench``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import orjson


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", nargs="?", choices=("core", "stream"), default="core")
    p.add_argument("--data", type=Path,
                   help="dataset folder in the generic format (core: required; stream: warms the worker)")
    p.add_argument("--decisions", type=int, default=20000, help="decisions to time (core)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--all-cores", action="store_true", help="do not pin the process to one core")
    # the stream benchmark's own options
    p.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers (stream)")
    p.add_argument("--rate", type=float, default=1000.0, help="offered load, events/s (stream)")
    p.add_argument("--events", type=int, default=20000, help="feedback events per measurement (stream)")
    p.add_argument("--slate-sizes", default="1,10", help="slate sizes to measure, comma-separated (stream)")
    p.add_argument("--partitions", type=int, default=4, help="partitions of the user topics (stream)")


def run(args: argparse.Namespace) -> int:
    if args.target == "stream":
        from streamsim.stream.bench import run as run_stream

        return run_stream(args)
    from streamsim.errors import StreamsimError

    if args.data is None:
        raise StreamsimError("--data is required for the core benchmark")
    if not args.all_cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    print(orjson.dumps(bench_core(args.data, args.decisions, args.seed),
                       option=orjson.OPT_INDENT_2).decode())
    return 0


def bench_core(path: Path, n_decisions: int, seed: int) -> dict:
    from streamsim.analysis.embeddings import Embedder
    from streamsim.catalog import Catalog
    from streamsim.data.io import load_dataset
    from streamsim.evaluate import analyze_items, event_id_for
    from streamsim.protocol import is_like, split_holdout, visible_reviews
    from streamsim.simulator import Simulator, UserState

    ds = load_dataset(path)
    history, held_out = split_holdout(ds.interactions)
    t0 = time.perf_counter()
    embedder = Embedder()
    t_model = time.perf_counter() - t0
    features = analyze_items(ds.items, visible_reviews(history, 3.0), _offline())
    t_analyze = time.perf_counter() - t0 - t_model
    catalog = Catalog(embedder, capacity=len(features))
    catalog.add_all(features)
    t_features = time.perf_counter() - t0

    sim = Simulator(catalog, seed=seed)
    users: dict[str, UserState] = {}
    t1 = time.perf_counter()
    for x in history:
        sim.observe(users.setdefault(x.user_id, UserState(x.user_id)), x.item_id, is_like(x.rating, 3.0))
    t_learn = time.perf_counter() - t1

    work = [(users.get(x.user_id) or UserState(x.user_id), x.item_id, event_id_for(x)) for x in held_out]
    for u, i, e in work:  # warm the per-user caches
        sim.decide(u, i, e)
    reps = max(1, n_decisions // len(work))
    t2 = time.perf_counter()
    for _ in range(reps):
        for u, i, e in work:
            sim.decide(u, i, e)
    t_decide = time.perf_counter() - t2
    n = reps * len(work)

    sample = work[: min(len(work), 300)]
    t3 = time.perf_counter()
    naive = [_naive_scores(catalog, u, i) for u, i, _ in sample]
    t_naive = time.perf_counter() - t3
    fast = [_fast_scores(sim, u, i, e) for u, i, e in sample]
    agree = all(a[0] == b[0] and a[1] == b[1] and abs(a[2] - b[2]) < 1e-5 and abs(a[3] - b[3]) < 1e-5
                for a, b in zip(naive, fast, strict=True))
    naive_rate = len(sample) / t_naive
    return {
        "dataset": ds.name, "n_items": len(features), "n_history_events": len(history),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "embedding_model_load_s": round(t_model, 3),
        "item_analysis_s": round(t_analyze, 3),
        "item_features_build_s": round(t_features, 3),
        "learn_events_per_s": round(len(history) / t_learn, 1),
        "decisions": n,
        "decisions_per_s": round(n / t_decide, 1),
        "mean_history_len_at_decision": round(float(np.mean([len(u.items) for u, _, _ in work])), 1),
        "baseline_per_pair_decisions_per_s": round(naive_rate, 1),
        "speedup_vs_per_pair": round((n / t_decide) / naive_rate, 1),
        "baseline_scores_agree": agree,
        "python": sys.version.split()[0],
    }


def _offline():
    from streamsim.analysis.offline import OfflineAnalyzer

    return OfflineAnalyzer()


def _fast_scores(sim, user, item_id, event_id):
    """(alpha_pos, alpha_neg, keyword probability, similarity probability) from the vectorised path;
    a vote keeps only alpha_pos - alpha_neg, so the two sums are read from the same ``overlap``."""
    from streamsim.voters.keyword import overlap

    d = sim.decide(user, item_id, event_id)
    c = sim.catalog.index.get(item_id)
    alphas = (0, 0)
    if c is not None:
        rows, labels = sim._category_history(user, c)
        alphas = (overlap(sim.catalog.pos_bits, rows[labels == 1], sim.catalog.pos_bits[c])[0],
                  overlap(sim.catalog.neg_bits, rows[labels == 0], sim.catalog.neg_bits[c])[0])
    return (*alphas, d.vote("keyword").probability, d.vote("similarity").probability)


def _naive_scores(catalog, user, item_id):
    """The same voters computed pair by pair, as a per-row implementation would."""
    f = catalog.get(item_id)
    if f is None:
        return 0, 0, 0.5, 0.5
    cats = set(f.categories)
    hist = [(catalog.get(i), y) for i, y in zip(user.items, user.labels, strict=True) if i in catalog]
    same = [(h, y) for h, y in hist if cats & set(h.categories)] if cats else []
    hist = same or hist
    pos, neg = set(f.like_keywords), set(f.dislike_keywords)
    a_pos = sum(len(pos & set(h.like_keywords)) for h, y in hist if y == 1)
    a_neg = sum(len(neg & set(h.dislike_keywords)) for h, y in hist if y == 0)
    e = catalog.embedder
    cp, cn = e.pool(f.like_keywords), e.pool(f.dislike_keywords)
    b_pos = max((float(cp @ e.pool(h.like_keywords)) for h, y in hist if y == 1), default=0.0)
    b_neg = max((float(cn @ e.pool(h.dislike_keywords)) for h, y in hist if y == 0), default=0.0)
    return a_pos, a_neg, (a_pos + 1) / (a_pos + a_neg + 2), 0.5 + (b_pos - b_neg) / 2
