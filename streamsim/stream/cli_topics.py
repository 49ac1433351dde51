"""``streamsim topics create|list|tail``: the topics of ``topics/topics.json`` on the broker.

``create`` is idempotent; ``tail NAME`` prints the last records of a topic (one JSON per line) and, with
``--follow``, those that arrive after.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from streamsim.errors import StreamsimError
from streamsim.stream import config
from streamsim.stream.admin import admin_client, create_topics, partition_counts


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("create", "list", "tail"),
                   help="create the missing topics, list them, or print a topic's last records")
    p.add_argument("name", nargs="?", help=f"tail: one of {', '.join(config.TOPIC_KEYS)}")
    p.add_argument("--limit", type=int, default=5, help="tail: records per partition (5)")
    p.add_argument("--follow", action="store_true", help="tail: keep printing new records")
    config.add_arguments(p)


def run(args: argparse.Namespace) -> int:
    cfg = config.from_args(args)
    if args.action == "create":
        for t in asyncio.run(create_topics(cfg)):
            print(f"{t.name:<40} {t.partitions:>3} partitions  {'created' if t.created else 'exists'}")
        return 0
    if args.action == "tail":
        if args.name not in config.TOPIC_KEYS:
            raise StreamsimError(f"tail needs a topic name: one of {', '.join(config.TOPIC_KEYS)}")
        asyncio.run(tail(cfg, cfg.topic(args.name), args.limit, args.follow))
        return 0

    async def listing() -> dict[str, int]:
        async with admin_client(cfg.bootstrap) as admin:
            return await partition_counts(admin, [cfg.topic(k) for k in config.TOPIC_KEYS])

    counts = asyncio.run(listing())
    for k in config.TOPIC_KEYS:
        name = cfg.topic(k)
        print(f"{name:<40} {counts[name] if name in counts else '-':>3} partitions  "
              f"{'' if name in counts else 'missing'}".rstrip())
    return 0


async def tail(cfg: config.StreamConfig, topic: str, limit: int, follow: bool) -> None:
    from streamsim.stream.admin import end_offsets, offsets_client
    from streamsim.stream.io import read_topic

    async with admin_client(cfg.bootstrap) as admin:
        n = (await partition_counts(admin, [topic])).get(topic)
    if n is None:
        raise StreamsimError(f"topic {topic} not found (run `streamsim topics create`)")
    async with offsets_client(cfg.bootstrap) as oc:
        ends = await end_offsets(oc, topic, n)
    start = {p: max(0, end - limit) for p, end in ends.items()}
    follow_until = (lambda: False) if follow else None
    async for batch in read_topic(cfg.bootstrap, topic, start=start, follow_until=follow_until,
                                  timeout=float("inf") if follow else 30.0):
        for r in batch:
            sys.stdout.write((r.value or b"null").decode("utf-8", "replace") + "\n")
        sys.stdout.flush()
