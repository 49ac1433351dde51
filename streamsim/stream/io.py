"""Producing and consuming outside the worker: paced publishing, waiting for the worker group, reading a
topic whole. Used by the replay job, the evaluation from the feedback topic, the benchmark and tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from tqdm import tqdm

from streamsim.errors import StreamsimError
from streamsim.stream.admin import admin_client, group_lag, offsets_client


class Publisher:
    """An idempotent, acks=all producer (retries neither duplicate nor reorder a partition) that can pace
    itself to ``rate`` records per second."""

    def __init__(self, bootstrap: str, rate: float = 0.0, linger_ms: int = 5) -> None:
        self.bootstrap = bootstrap
        self.rate = rate
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                         linger_ms=linger_ms, max_request_size=4 * 1024 * 1024)
        self._pending: list[asyncio.Future] = []

    async def __aenter__(self) -> Publisher:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    async def send(self, topic: str, key: bytes | None, value: bytes | None) -> asyncio.Future:
        fut = await self.producer.send(topic, value=value, key=key)
        self._pending.append(fut)
        if len(self._pending) >= 20000:
            await self.flush()
        return fut

    async def flush(self) -> None:
        """Wait until everything sent is acknowledged; raise if anything failed."""
        await self.producer.flush()
        pending, self._pending = self._pending, []
        for fut in pending:
            if fut.exception() is not None:
                raise StreamsimError(f"publishing failed: {fut.exception()}")

    async def publish(self, topic: str, records: Iterable[tuple[bytes | None, bytes]], total: int,
                      desc: str, progress: bool = True) -> int:
        """Send ``records`` in order (paced if ``rate`` > 0) and wait for all acknowledgements."""
        t0 = time.perf_counter()
        n = 0
        with tqdm(total=total, desc=desc, unit="ev", disable=not progress, mininterval=0.5) as bar:
            for key, value in records:
                if self.rate > 0:
                    ahead = t0 + n / self.rate - time.perf_counter()
                    if ahead > 0.002:
                        await asyncio.sleep(ahead)
                await self.send(topic, key, value)
                n += 1
                if n % 1000 == 0:
                    bar.update(1000)
            bar.update(n % 1000)
            await self.flush()
        return n


async def wait_for_group(bootstrap: str, group: str, topic: str, n_partitions: int, *, timeout: float,
                         progress: bool = True, desc: str = "worker consuming") -> None:
    """Wait until the consumer group has committed everything in ``topic`` (consumer lag 0)."""
    deadline = time.monotonic() + timeout
    async with admin_client(bootstrap) as admin, offsets_client(bootstrap) as oc:
        with tqdm(total=0, desc=desc, unit="ev", disable=not progress, mininterval=0.5) as bar:
            while True:
                try:
                    lag = await group_lag(admin, oc, group, topic, n_partitions)
                except KafkaError as e:  # e.g. no group coordinator yet on a fresh broker
                    lag, error = None, e
                if lag is not None:
                    bar.total = max(bar.total, lag)
                    bar.n = bar.total - lag
                    bar.refresh()
                    if lag == 0:
                        return
                if time.monotonic() > deadline:
                    behind = f"still {lag} records behind" if lag is not None else f"not answering ({error})"
                    raise StreamsimError(f"group {group} {behind} on {topic} after {timeout:g}s (is "
                                         "`streamsim worker` running with the same --prefix/--app-id?)")
                await asyncio.sleep(0.2)


async def partitions_of(consumer: AIOKafkaConsumer, topic: str, timeout: float = 10.0
                        ) -> list[TopicPartition]:
    """The partitions of ``topic`` as a group-less consumer sees them (metadata can lag a creation)."""
    deadline = time.monotonic() + timeout
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        if time.monotonic() > deadline:
            raise StreamsimError(f"topic {topic} not found (run `streamsim topics create`)")
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)


@dataclass(frozen=True, slots=True)
class Consumed:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


async def read_topic(bootstrap: str, topic: str, *, follow_until: Callable[[], bool] | None = None,
                     timeout: float = 30.0, start: dict[int, int] | None = None
                     ) -> AsyncIterator[list[Consumed]]:
    """Batches of records of every partition of ``topic`` from the beginning (or ``start`` offsets).
    Without ``follow_until``: up to the end offsets seen at the start. With it: until it returns True;
    ``timeout`` seconds pass without a record (then StreamsimError)."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                         auto_offset_reset="earliest", max_poll_records=10000, fetch_max_wait_ms=100)
    await c.start()
    try:
        tps = await partitions_of(c, topic)
        c.assign(tps)
        for tp in tps:
            if start and tp.partition in start:
                c.seek(tp, start[tp.partition])
            else:
                await c.seek_to_beginning(tp)
        ends = await c.end_offsets(tps) if follow_until is None else None
        deadline = time.monotonic() + timeout
        while True:
            if ends is not None:
                positions = {tp: await c.position(tp) for tp in tps}
                if all(positions[tp] >= ends[tp] for tp in tps):
                    return
            elif follow_until():
                return
            if time.monotonic() > deadline:
                raise StreamsimError(f"timed out after {timeout:g}s reading {topic}")
            batches = await c.getmany(timeout_ms=200)
            out = [Consumed(r.partition, r.offset, r.key, r.value, r.timestamp)
                   for recs in batches.values() for r in recs]
            if out:
                deadline = time.monotonic() + timeout  # an idle timeout: progress extends it
                yield out
    finally:
        await c.stop()
