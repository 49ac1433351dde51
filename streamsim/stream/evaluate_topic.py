"""``streamsim evaluate --from-topic``: the fidelity report built from the Kafka feedback topic.

Reads the feedback topic from the beginning, joins it with the ground truth (the dataset's held-out
interactions, matched by recommendation id ``event_id_for(x)`` and item), and writes the same report as
the in-process evaluation (``build_report``). It then runs the in-process evaluation with the same seed
and shard count (the broker's partition count) and reports how many decisions differ, which must be 0,
plus what at-least-once left behind: duplicates, and whether they were byte-identical.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import numpy as np
import orjson

from streamsim.events import FeedbackEvent, decode_or_raise, feedback_id
from streamsim.stream import config

DECISION_FIELDS = ("liked", "probability", "votes", "matched_like_keywords", "matched_dislike_keywords",
                   "analyzer", "shard")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="dataset folder in the generic format")
    p.add_argument("--out", type=Path, default=Path("report.json"), help="report path")
    p.add_argument("--like-threshold", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=0, help="the worker's seed")
    p.add_argument("--partitions", type=int, default=None, help="model shards (default: the broker's count)")
    p.add_argument("--features", type=Path, help="item features the replay used (JSON lines)")
    p.add_argument("--policy-id", default="replay")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds without new feedback before giving up")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--quiet", action="store_true")
    config.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    return run_from_topic(args)


def decision_of(fb: FeedbackEvent):
    """The core's ``Decision`` a feedback event reports."""
    from streamsim.simulator import Decision
    from streamsim.voters.ensemble import Vote

    return Decision(user_id=fb.user_id, item_id=fb.item_id, event_id=fb.recommendation_id, liked=fb.liked,
                    probability=fb.probability,
                    votes=tuple(Vote(v["voter"], v["vote"], v["probability"], v["score"], v["tie"])
                                for v in fb.votes),
                    matched_like_keywords=fb.matched_like_keywords,
                    matched_dislike_keywords=fb.matched_dislike_keywords, analyzer=fb.analyzer,
                    shard=fb.shard)


def differs(a: FeedbackEvent, b: FeedbackEvent) -> list[str]:
    return [f for f in DECISION_FIELDS if getattr(a, f) != getattr(b, f)]


async def collect_feedback(cfg: config.StreamConfig, wanted: set[str], timeout: float
                           ) -> tuple[dict[str, bytes], dict]:
    """Feedback bytes by event id for ``wanted`` (first delivery), and duplicate statistics."""
    from streamsim.stream.io import read_topic

    first: dict[str, bytes] = {}
    stats = {"records": 0, "duplicates": 0, "duplicates_not_identical": 0}
    async for batch in read_topic(cfg.bootstrap, cfg.topic("feedback"), timeout=timeout,
                                  follow_until=lambda: wanted <= first.keys()):
        for r in batch:
            stats["records"] += 1
            if r.value is None:
                continue
            eid = orjson.loads(r.value).get("event_id")
            if eid in first:
                stats["duplicates"] += 1
                stats["duplicates_not_identical"] += first[eid] != r.value
            elif eid in wanted:
                first[eid] = r.value
    return first, stats


def run_from_topic(args: argparse.Namespace) -> int:
    from streamsim.commands.evaluate import write_outputs
    from streamsim.data.io import load_dataset
    from streamsim.errors import StreamsimError
    from streamsim.evaluate import (
        Evaluation,
        build_report,
        evaluate,
        event_id_for,
        load_features,
        plot,
        popularity_baseline,
        summary_table,
    )
    from streamsim.protocol import is_like
    from streamsim.stream.admin import user_partitions
    from streamsim.stream.replay import plan_replay

    cfg = config.from_args(args)
    progress = not getattr(args, "quiet", False)
    ds = load_dataset(args.data)
    features = load_features(args.features) if getattr(args, "features", None) else None
    plan = plan_replay(ds, features=features, like_threshold=args.like_threshold,
                       policy_id=getattr(args, "policy_id", "replay"), progress=progress)
    n_shards = asyncio.run(user_partitions(cfg))
    asked = getattr(args, "partitions", None)
    if asked not in (None, 1, n_shards):  # 1 is the core evaluate command's default
        raise StreamsimError(f"--partitions {asked}, but the topics have {n_shards} partitions")
    ids = [feedback_id(event_id_for(x), x.item_id) for x in plan.held_out]
    got, dup = asyncio.run(collect_feedback(cfg, set(ids), getattr(args, "timeout", 60.0)))
    present = [(x, decode_or_raise("feedback", got[i])) for x, i in zip(plan.held_out, ids, strict=True)
               if i in got]
    missing = len(ids) - len(present)
    if not present:
        raise StreamsimError(f"no feedback for the {len(ids)} held-out recommendations of {ds.name} on "
                             f"{cfg.topic('feedback')}")

    decisions = [decision_of(fb) for _, fb in present]
    xs = [x for x, _ in present]
    labels = np.array([is_like(x.rating, args.like_threshold) for x in xs], dtype=bool)
    baseline = popularity_baseline(plan.history, xs, args.like_threshold)
    report = build_report(ds, decisions, labels, baseline, like_threshold=args.like_threshold,
                          seed=args.seed, n_shards=n_shards,
                          analyzer=plan.features[0].analyzer if plan.features else "none",
                          versions=dict(present[0][1].versions))
    report["source"] = f"kafka topic {cfg.topic('feedback')} at {cfg.bootstrap}"

    # the same decisions in-process: same core, same seed, same shards
    ev = evaluate(ds, like_threshold=args.like_threshold, seed=args.seed, n_shards=n_shards,
                  features=plan.features, progress=progress)
    by_event = {d.event_id: d for d in ev.decisions}
    recs = {r.event_id: r for r in plan.recommendations}
    n_diff = 0
    examples = []
    for x, fb in present:
        eid = event_id_for(x)
        expected = FeedbackEvent.from_decision(by_event[eid], recs[eid], 0, fb.versions, fb.history_length)
        fields = differs(fb, expected)
        if fields:
            n_diff += 1
            if len(examples) < 5:
                examples.append({"event_id": fb.recommendation_id, "fields": fields})
    report["stream"] = {"held_out": len(ids), "feedback_found": len(present), "missing": missing,
                        **dup, "differing_decisions": n_diff, "differing_examples": examples}
    write_outputs(Evaluation(report, decisions, labels, baseline), args.out,
                  plot_png=not getattr(args, "no_plot", False), plot=plot)
    print(summary_table(report))
    print(f"kafka: {len(present)}/{len(ids)} held-out decisions from {cfg.topic('feedback')}, "
          f"{missing} missing, {dup.get('duplicates', 0)} duplicates "
          f"({dup.get('duplicates_not_identical', 0)} not byte-identical), "
          f"{n_diff} differ from the in-process evaluation", file=sys.stderr)
    return 0 if n_diff == 0 and missing == 0 and not dup.get("duplicates_not_identical") else 1
