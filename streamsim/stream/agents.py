"""The agents: decode -> core -> encode -> send, nothing else (the logic is in ``processor``).

Each agent runs with concurrency 1 (faust can commit past an in-flight event otherwise) and takes
batches with ``stream.take_events``, which acknowledges a batch only after the agent asks for the next
one, i.e. after its outputs were handed to the producer.
"""

from __future__ import annotations

import logging
import os
from time import monotonic, perf_counter

from streamsim.stream.app import Runtime, to_record
from streamsim.stream.catalog_reader import CatalogReader
from streamsim.stream.enrich import Enricher, load_analyzer

log = logging.getLogger("streamsim.stream")

STALL_SECONDS = float(os.environ.get("STREAMSIM_STALL_SECONDS", "5"))


def register(rt: Runtime) -> None:
    app, cfg, proc = rt.app, rt.cfg, rt.processor
    reader = rt.reader = CatalogReader(proc, cfg.bootstrap, cfg.topic("item-features"), rt.send)
    user_topics = {cfg.topic("recommendations"), cfg.topic("interactions")}

    async def barrier() -> None:
        if cfg.catalog_barrier:
            await reader.caught_up()

    @app.agent(rt.topics["interactions"], name="interactions")
    async def interactions(stream):
        t = rt.timings["interactions"]
        async for events in stream.take_events(cfg.interaction_batch_max,
                                               within=cfg.interaction_batch_within):
            rt.busy += 1
            t0 = perf_counter()
            records = [to_record(e) for e in events]
            await barrier()
            t1 = perf_counter()
            batch = proc.apply_interactions(records)
            t2 = perf_counter()
            await rt.write_state(batch)
            await rt.send(batch.dead_letters)
            t.add(len(records), t1 - t0, t2 - t1, perf_counter() - t2)
            rt.busy -= 1

    @app.agent(rt.topics["recommendations"], name="recommendations")
    async def recommendations(stream):
        t = rt.timings["recommendations"]
        async for events in stream.take_events(cfg.batch_max, within=cfg.batch_within):
            rt.busy += 1
            t0 = perf_counter()
            records = [to_record(e) for e in events]
            await barrier()
            t1 = perf_counter()
            outs, n_feedback = proc.decide(records)
            t2 = perf_counter()
            await rt.send(outs)
            rt.stats["feedback"] += n_feedback
            t.add(len(records), t1 - t0, t2 - t1, perf_counter() - t2)
            rt.busy -= 1

    analyzer = load_analyzer(cfg.analyzer)
    if analyzer is not None:
        enricher = rt.enricher = Enricher(proc, analyzer)

        @app.agent(rt.topics["items"], name="enrichment")
        async def enrichment(stream):
            async for events in stream.take_events(100, within=0.05):
                await rt.send(await enricher.enrich([to_record(e) for e in events]))

    @app.task
    async def catalog() -> None:
        await reader.start()
        try:
            await reader.run()
        finally:
            await reader.stop()

    def _shards(tps) -> set[int]:
        return {tp.partition for tp in tps if tp.topic in user_topics}

    @app.on_partitions_revoked.connect
    async def on_revoked(sender, revoked, **kwargs) -> None:
        proc.state.forget(_shards(revoked))

    @app.on_partitions_assigned.connect
    async def on_assigned(sender, assigned, **kwargs) -> None:
        # state of a partition owned before may be stale: re-read it from the recovered tables
        proc.state.forget(_shards(assigned))

    watch = {"events": -1, "since": monotonic()}

    @app.timer(interval=1.0)
    async def watchdog() -> None:
        """faust 0.15.3 can drop records its consumer thread fetched around a rebalance (the consumer's
        position moves past them, nothing fetches them again, and offset commits stop at the gap).
        When the agents have been idle for ``STALL_SECONDS`` while a user-scoped partition still lags,
        seek it back to its committed offset; a record processed twice is absorbed by at-least-once
        processing (offsets in the state, deterministic feedback)."""
        events = sum(t.events for t in rt.timings.values())
        now = monotonic()
        if events != watch["events"] or rt.busy or app.rebalancing:
            watch.update(events=events, since=now)
            return
        if now - watch["since"] < STALL_SECONDS:
            return
        consumer = app.consumer
        committed = getattr(consumer, "_committed_offset", {})
        for tp in consumer.assignment():
            if tp.topic in user_topics:
                end, done = consumer.highwater(tp), committed.get(tp) or 0
                if end is not None and end > done:
                    log.warning("no progress for %.0fs while %s[%d] lags (%d < %d): seeking back to %d",
                                now - watch["since"], tp.topic, tp.partition, done, end, done)
                    await consumer.seek(tp, done)
        watch["since"] = now

    @app.timer(interval=float(os.environ.get("STREAMSIM_REPORT_INTERVAL", "30")))
    async def report() -> None:
        log.info("catalog %d items; %s; %s", len(proc.sim.catalog), rt.stats,
                 {k: v.summary() for k, v in rt.timings.items()})
