"""``streamsim worker``: the Faust worker (recommendations and interactions in, feedback out).

Creates the topics if they are missing, takes the number of model shards from the broker's partition
count, loads the embedding model, then runs the faust worker until SIGINT/SIGTERM (a graceful stop
commits what was processed). Run several with the same ``--app-id`` to share the partitions.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from streamsim.stream import config


def add_arguments(p: argparse.ArgumentParser) -> None:
    config.add_arguments(p, worker=True)


def run(args: argparse.Namespace) -> int:
    import faust

    from streamsim.stream.admin import create_topics, user_partitions
    from streamsim.stream.app import build_runtime

    cfg = config.from_args(args)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(create_topics(cfg))
    cfg = cfg.with_(partitions=loop.run_until_complete(user_partitions(cfg)))
    rt = build_runtime(cfg)
    level = {"crit": "CRITICAL", "warn": "WARNING"}.get(cfg.loglevel, cfg.loglevel.upper())
    logging.getLogger("streamsim").setLevel(level)
    print(f"streamsim worker: group {cfg.group_id}, {cfg.user_partitions} partitions, "
          f"bootstrap {cfg.bootstrap}, seed {cfg.seed}", flush=True)
    worker = faust.Worker(rt.app, loop=loop, loglevel=cfg.loglevel, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as e:
        return int(e.code or 0)
    return 0
