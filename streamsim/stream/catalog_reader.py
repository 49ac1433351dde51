"""Every worker's copy of the item-features topic, kept in the simulator's ``Catalog``.

A plain aiokafka consumer (no group) assigned every partition of the compacted topic, reading it from the
beginning and then following it. Chosen over a faust GlobalTable because the catalog is not a key-value
map but vectorised arrays that must be updated on every record (a GlobalTable offers no reliable
per-record hook), and because it gives a simple, exact barrier:

``caught_up()`` asks the broker for the topic's end offsets and waits until everything before them is in
the catalog. The agents call it before each batch, so any item features acknowledged before a
recommendation or interaction was produced are used for it, whichever partition they sit on. This is
what makes the worker decide exactly like the in-process evaluation after a replay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from streamsim.stream.io import partitions_of
from streamsim.stream.processor import Out, Processor, Record

log = logging.getLogger("streamsim.stream")


class CatalogReader:
    def __init__(self, processor: Processor, bootstrap: str, topic: str,
                 send_dead_letters: Callable[[list[Out]], Awaitable[None]]) -> None:
        self.processor = processor
        self.bootstrap = bootstrap
        self.topic = topic
        self.send_dead_letters = send_dead_letters
        self.consumer: AIOKafkaConsumer | None = None
        # end offsets on a connection of their own: the broker answers a connection's requests in order,
        # so behind the reader's long-polling fetch a ListOffsets would wait out fetch_max_wait_ms
        self.offsets: AIOKafkaConsumer | None = None
        self.tps: list[TopicPartition] = []
        self.applied: dict[TopicPartition, int] = {}  # next offset to apply, per partition
        self.n_items = 0
        self._progress = asyncio.Event()
        self._started = asyncio.Event()

    async def start(self) -> None:
        c = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                             auto_offset_reset="earliest", max_poll_records=5000,
                             fetch_max_wait_ms=100)
        await c.start()
        try:
            self.tps = await partitions_of(c, self.topic)
        except Exception:
            await c.stop()
            raise
        c.assign(self.tps)
        await c.seek_to_beginning(*self.tps)
        self.applied = {tp: 0 for tp in self.tps}
        self.consumer = c
        self.offsets = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await self.offsets.start()
        self._started.set()

    async def stop(self) -> None:
        for c in (self.consumer, self.offsets):
            if c is not None:
                await c.stop()
        self.consumer = self.offsets = None

    async def run(self) -> None:
        """Follow the topic until cancelled."""
        await self._started.wait()
        c = self.consumer
        assert c is not None
        while True:
            batches = await c.getmany(timeout_ms=500)
            records = [Record(r.topic, r.partition, r.offset, r.key, r.value)
                       for recs in batches.values() for r in recs]
            if records:
                feats, dead = self.processor.decode_features(records)
                if feats:
                    self.processor.sim.catalog.add_all(feats)
                    self.n_items = len(self.processor.sim.catalog)
                if dead:
                    await self.send_dead_letters(dead)
            for tp in self.tps:
                # the position also steps over offsets compaction removed
                self.applied[tp] = max(self.applied[tp], await c.position(tp))
            self._progress.set()
            self._progress = asyncio.Event()

    async def caught_up(self) -> None:
        """Return once every record produced to the topic before this call is in the catalog.
        The end offsets are asked for after the call starts (never shared with an earlier request),
        which is what makes this a barrier."""
        await self._started.wait()
        assert self.offsets is not None
        ends = await self.offsets.end_offsets(self.tps)
        while any(self.applied[tp] < end for tp, end in ends.items()):
            await self._progress.wait()
