"""``streamsim replay``: publish a dataset to Kafka as a worker group would see it live.

1. the catalog to item-features (computed as ``streamsim evaluate`` computes it, or ``--features``);
2. the history to interactions, oldest first (``--rate`` paces it);
3. waits until the worker group has consumed every interaction (consumer lag 0), so decisions see the
   whole history, as in the in-process evaluation;
4. the held-out interactions to recommendations (ids ``event_id_for(x)``), plus ``--slates-per-user``
   random slates per user;
5. with ``--wait-feedback``, follows the feedback topic until every recommended item has its feedback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from streamsim.events import encode, feedback_id
from streamsim.stream import config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="dataset folder in the generic format")
    p.add_argument("--features", type=Path, help="item features (JSON lines) instead of the offline analyzer")
    p.add_argument("--rate", type=float, default=0.0, help="events per second (default: as fast as possible)")
    p.add_argument("--policy-id", default="replay", help="policy id of the recommendations (replay)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random slates (0)")
    p.add_argument("--slates-per-user", type=int, default=0,
                   help="random slates per user after the held-out recommendations (0)")
    p.add_argument("--slate-size", type=int, default=10, help="items per random slate (10)")
    p.add_argument("--like-threshold", type=float, default=3.0, help="rating >= this is a like (3)")
    p.add_argument("--wait-timeout", type=float, default=600.0,
                   help="seconds to wait for the worker group, and for feedback (600)")
    p.add_argument("--wait-feedback", action="store_true",
                   help="follow the feedback topic until every recommendation has its feedback")
    p.add_argument("--skip", choices=("catalog", "history"), action="append", default=[],
                   help="do not publish this part again (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    config.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    from streamsim.data.io import load_dataset
    from streamsim.evaluate import load_features
    from streamsim.stream.replay import plan_replay

    cfg = config.from_args(args)
    ds = load_dataset(args.data)
    plan = plan_replay(ds, features=load_features(args.features) if args.features else None,
                       like_threshold=args.like_threshold, policy_id=args.policy_id, seed=args.seed,
                       slates_per_user=args.slates_per_user, slate_size=args.slate_size,
                       progress=not args.quiet)
    summary = asyncio.run(replay(cfg, plan, rate=args.rate, wait_timeout=args.wait_timeout,
                                 wait_feedback=args.wait_feedback, skip=set(args.skip),
                                 progress=not args.quiet))
    for k, v in summary.items():
        print(f"{k}: {v}")
    return 0


async def replay(cfg: config.StreamConfig, plan, *, rate: float = 0.0, wait_timeout: float = 600.0,
                 wait_feedback: bool = False, skip: set[str] = frozenset(), progress: bool = True,
                 after_history=None) -> dict:
    """Publish ``plan``; ``after_history`` (an async callable) runs once the history is published."""
    from streamsim.stream.admin import create_topics, end_offsets, offsets_client
    from streamsim.stream.io import Publisher, wait_for_group

    t0 = time.perf_counter()
    await create_topics(cfg)
    n = cfg.user_partitions
    summary: dict = {"dataset": plan.dataset.name, "group": cfg.group_id, "partitions": n}
    async with Publisher(cfg.bootstrap, rate=rate) as pub:
        if "catalog" not in skip:
            summary["items"] = await pub.publish(
                cfg.topic("item-features"), ((f.item_id.encode(), encode(f)) for f in plan.features),
                len(plan.features), "catalog", progress)
        if "history" not in skip:
            summary["interactions"] = await pub.publish(
                cfg.topic("interactions"), ((e.user_id.encode(), encode(e)) for e in plan.interactions()),
                len(plan.history), "history", progress)
        if after_history is not None:
            await after_history()
        await wait_for_group(cfg.bootstrap, cfg.group_id, cfg.topic("interactions"), n,
                             timeout=wait_timeout, progress=progress, desc="worker learning")
        async with offsets_client(cfg.bootstrap) as oc:
            start = await end_offsets(oc, cfg.topic("feedback"), n)
        summary["recommendations"] = await pub.publish(
            cfg.topic("recommendations"), ((r.user_id.encode(), encode(r)) for r in plan.recommendations),
            len(plan.recommendations), "recommendations", progress)
    if wait_feedback:
        got = await follow_feedback(cfg, plan.feedback_ids(), start, timeout=wait_timeout,
                                    progress=progress)
        summary["feedback"] = got
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    return summary


async def follow_feedback(cfg: config.StreamConfig, expected: set[str], start: dict[int, int], *,
                          timeout: float, progress: bool = True) -> int:
    """Read feedback from ``start`` until every id in ``expected`` was seen; returns how many were."""
    import orjson
    from tqdm import tqdm

    from streamsim.stream.io import read_topic

    seen: set[str] = set()
    want = set(expected)
    with tqdm(total=len(want), desc="feedback", unit="ev", disable=not progress, mininterval=0.5,
              file=sys.stderr) as bar:
        async for batch in read_topic(cfg.bootstrap, cfg.topic("feedback"), start=start, timeout=timeout,
                                      follow_until=lambda: want <= seen):
            for r in batch:
                eid = orjson.loads(r.value).get("event_id") if r.value else None
                if eid in want and eid not in seen:
                    seen.add(eid)
                    bar.update(1)
    return len(seen)


__all__ = ["add_arguments", "run", "replay", "follow_feedback", "feedback_id"]
