"""Broker administration with aiokafka: topics from ``topics/topics.json``, partition counts, consumer lag."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError

from streamsim.errors import StreamsimError
from streamsim.stream.config import TOPIC_KEYS, StreamConfig

TOPIC_ALREADY_EXISTS = 36


@contextlib.asynccontextmanager
async def admin_client(bootstrap: str, timeout: float = 30.0) -> AsyncIterator[AIOKafkaAdminClient]:
    """A started admin client; retries until the broker answers or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
        try:
            await admin.start()
            break
        except (KafkaConnectionError, KafkaError, OSError) as e:
            await admin.close()
            if time.monotonic() > deadline:
                raise StreamsimError(f"Kafka at {bootstrap} is not reachable: {e}") from None
            await asyncio.sleep(0.5)
    try:
        yield admin
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def offsets_client(bootstrap: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A group-less consumer, used only to ask for end offsets."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, request_timeout_ms=10000)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


@dataclass(frozen=True, slots=True)
class TopicResult:
    name: str
    partitions: int
    created: bool


async def partition_counts(admin: AIOKafkaAdminClient, topics: Iterable[str]) -> dict[str, int]:
    """Partitions per existing topic (missing topics are left out). Only existing topics are described:
    a metadata request naming a missing topic creates it when the broker auto-creates topics."""
    wanted = set(topics) & set(await admin.list_topics())
    if not wanted:
        return {}
    out = {}
    for t in await admin.describe_topics(sorted(wanted)):
        if t.get("error_code", 0) == 0 and t.get("partitions"):
            out[t["topic"]] = len(t["partitions"])
    return out


async def create_topics(cfg: StreamConfig, timeout: float = 30.0) -> list[TopicResult]:
    """Create every topic of topics.json (prefixed) that does not exist; idempotent. An existing topic
    with another partition count is an error: user-scoped topics must match the model shards."""
    specs = {cfg.topic(k): cfg.spec(k) for k in TOPIC_KEYS}
    async with admin_client(cfg.bootstrap, timeout) as admin:
        existing = await partition_counts(admin, specs)
        new = [NewTopic(name, s.partitions, 1, topic_configs=dict(s.config))
               for name, s in specs.items() if name not in existing]
        created = set()
        if new:
            resp = await admin.create_topics(new, timeout_ms=int(timeout * 1000))
            for err in resp.topic_errors:
                name, code = err[0], err[1]
                if code == 0:
                    created.add(name)
                elif code != TOPIC_ALREADY_EXISTS:  # a concurrent create is fine
                    msg = err[2] if len(err) > 2 else ""
                    raise StreamsimError(f"cannot create topic {name}: error {code} {msg or ''}".rstrip())
        # metadata can lag a create by a moment
        deadline = time.monotonic() + timeout
        while True:
            counts = await partition_counts(admin, specs)
            if len(counts) == len(specs) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
    missing = set(specs) - set(counts)
    if missing:
        raise StreamsimError(f"topics not visible after creation: {', '.join(sorted(missing))}")
    for name, s in specs.items():
        if s.scope == "user" and counts[name] != s.partitions:
            raise StreamsimError(
                f"topic {name} has {counts[name]} partitions, expected {s.partitions}: user-scoped topics "
                "must share one partition count (delete the topics or pass --partitions "
                f"{counts[name]})")
    return [TopicResult(n, counts[n], n in created) for n in specs]


async def user_partitions(cfg: StreamConfig, timeout: float = 30.0) -> int:
    """The partition count shared by the user-scoped topics on the broker (= model shards)."""
    names = [cfg.topic(k) for k in TOPIC_KEYS if cfg.spec(k).scope == "user"]
    async with admin_client(cfg.bootstrap, timeout) as admin:
        counts = await partition_counts(admin, names)
    if len(counts) < len(names):
        missing = sorted(set(names) - set(counts))
        raise StreamsimError(f"topics missing on {cfg.bootstrap}: {', '.join(missing)} "
                             "(run `streamsim topics create`)")
    if len(set(counts.values())) != 1:
        raise StreamsimError(f"user-scoped topics differ in partition count: {counts}")
    return next(iter(counts.values()))


async def end_offsets(consumer: AIOKafkaConsumer, topic: str, n_partitions: int) -> dict[int, int]:
    tps = [TopicPartition(topic, p) for p in range(n_partitions)]
    ends = await consumer.end_offsets(tps)
    return {tp.partition: off for tp, off in ends.items()}


async def group_lag(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str, topic: str,
                    n_partitions: int) -> int:
    """Records of ``topic`` the group has not committed yet (a partition never committed counts whole)."""
    ends = await end_offsets(consumer, topic, n_partitions)
    tps = [TopicPartition(topic, p) for p in range(n_partitions)]
    committed = await admin.list_consumer_group_offsets(group, partitions=tps)
    lag = 0
    for p, end in ends.items():
        meta = committed.get(TopicPartition(topic, p))
        done = meta.offset if meta is not None and meta.offset >= 0 else 0
        lag += max(0, end - done)
    return lag
