"""The Faust app: settings, topics, tables, and the runtime the agents share.

Settings that matter on a small machine and in tests: a memory table store (rebuilt from the changelog
on start), the web server off unless asked for, short session and rebalance timeouts so a restarted
worker rejoins in seconds, a short commit interval so the replay job sees consumer lag reach 0 soon
after the last interaction, at-least-once processing (faust's exactly-once is not reliable).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import faust
from faust.tables import TableManager
from faust.tables.recovery import Recovery

from streamsim.stream.config import StreamConfig
from streamsim.stream.processor import InteractionBatch, Out, Processor, Record
from streamsim.stream.state import model_key, user_key

log = logging.getLogger("streamsim.stream")

MAX_CHECKPOINT_BYTES = 16 * 1024 * 1024  # a model checkpoint grows with the items a shard has seen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_app(cfg: StreamConfig) -> faust.App:
    brokers = ";".join(f"kafka://{b}" for b in cfg.bootstrap.split(","))
    datadir = Path(os.environ.get("STREAMSIM_DATADIR") or Path(tempfile.gettempdir()) / "streamsim-faust")
    datadir.mkdir(parents=True, exist_ok=True)
    web = cfg.web_port is not None
    return faust.App(
        cfg.group_id,
        broker=brokers,
        store="memory://",
        datadir=str(datadir / cfg.group_id),
        topic_partitions=cfg.user_partitions,
        topic_replication_factor=1,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=cfg.commit_interval,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=10.0,
        producer_acks=-1,
        producer_max_request_size=MAX_CHECKPOINT_BYTES + 1024 * 1024,
        web_enabled=web,
        web_port=(cfg.web_port or free_port()) if web else 6066,
        web_bind="127.0.0.1",
        stream_wait_empty=False,
        worker_redirect_stdouts=False,
        TableManager=OrderedRecoveryTableManager,
    )


class _OrderedRecovery(Recovery):
    """faust 0.15.3's recovery, with the stream partitions resumed only after the seek and the flush.

    Upstream, ``on_recovery_completed`` resumes the stream partitions, seeks them to the committed
    offsets, and only then calls ``flow_control.resume()``, which empties the stream queues. The consumer
    runs in its own thread, so records fetched right after the seek are already queued, and the read
    offset moved past them, when the queues are emptied: they are never fetched again. The result is a
    gap that loses records and stops offset commits for good (seen here whenever a restarted worker had
    a backlog). Seeking while the partitions are still paused, emptying the queues, and then resuming
    (the order of earlier faust releases) fetches every record from the committed offset exactly once.
    """

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        consumer = self.app.consumer
        self.log.info("Restore complete!")
        await self.app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callbacks = [asyncio.ensure_future(table.on_recovery_completed(
            self.actives_for_table[table], self.standbys_for_table[table])) for table in self.tables.values()]
        if callbacks:
            await asyncio.wait(callbacks)
        assignment = consumer.assignment()
        if self.app.consumer_generation_id != generation_id:
            self.log.warning("Recovery rebalancing again app id %r param %r",
                             self.app.consumer_generation_id, generation_id)
            return
        if assignment:
            self.log.info("Seek stream partitions to committed offsets.")
            await self._wait(consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout)
        self.completed.set()
        self.app.flow_control.resume()  # empties the queues: nothing of the stream partitions is in them
        consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
        consumer.resume_flow()
        await self.app._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not self.app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        self.app.on_rebalance_end()
        self.log.info("Worker ready")


class OrderedRecoveryTableManager(TableManager):
    """faust's TableManager with ``_OrderedRecovery`` (set through the App's ``TableManager`` setting)."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = _OrderedRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


def to_record(event: faust.EventT) -> Record:
    m = event.message
    return Record(m.topic, m.partition, m.offset, m.key, m.value)


@dataclass
class Timings:
    """Where an agent's time goes: waiting for the catalog barrier, in the core, handing to Kafka."""

    batches: int = 0
    events: int = 0
    barrier_s: float = 0.0
    core_s: float = 0.0
    send_s: float = 0.0

    def add(self, n: int, barrier: float, core: float, send: float) -> None:
        self.batches += 1
        self.events += n
        self.barrier_s += barrier
        self.core_s += core
        self.send_s += send

    def summary(self) -> dict:
        b = max(self.batches, 1)
        return {"batches": self.batches, "events": self.events, "mean_batch": round(self.events / b, 1),
                "barrier_ms": round(1000 * self.barrier_s / b, 2),
                "core_ms": round(1000 * self.core_s / b, 2),
                "send_ms": round(1000 * self.send_s / b, 2)}


@dataclass
class Runtime:
    """Everything the agents share in one worker process."""

    cfg: StreamConfig
    app: faust.App
    processor: Processor
    state: faust.Table
    topics: dict[str, faust.TopicT] = field(default_factory=dict)
    reader: object | None = None  # CatalogReader
    enricher: object | None = None  # Enricher
    stats: dict[str, int] = field(default_factory=lambda: {"feedback": 0, "dead_letters": 0,
                                                           "observed": 0, "history": 0, "duplicate": 0})
    busy: int = 0  # agents inside a batch
    timings: dict[str, Timings] = field(default_factory=lambda: {"interactions": Timings(),
                                                                  "recommendations": Timings()})

    async def send(self, outs: list[Out]) -> None:
        """Hand records to the producer without waiting for each acknowledgement: faust flushes the
        producer before it commits the consumed offsets, which keeps at-least-once."""
        send = self.app.producer.send
        dl = self.cfg.topic("dead-letter")
        for o in outs:
            await send(o.topic, o.key, o.value, None, None, None)
            if o.topic == dl:
                self.stats["dead_letters"] += 1

    async def write_state(self, batch: InteractionBatch) -> None:
        """Model checkpoints, then the user records, on the shard's changelog partition (the order
        recovery relies on, see ``streamsim.stream.state``). Sent straight to the producer with explicit
        partitions: a batch mixes partitions, so faust's current-event partition would be wrong, and the
        producer's flush before each offset commit then covers these writes too."""
        send, topic, data = self.app.producer.send, self.changelog, self.state.data
        for shard, value in batch.checkpoints.items():
            key = model_key(shard)
            await send(topic, key, value, shard, None, None)
            data[key] = value
        for user_id, (shard, value) in batch.users.items():
            key = user_key(user_id)
            await send(topic, key, value, shard, None, None)
            data[key] = value
        for k, v in batch.counts.items():
            if k in self.stats:
                self.stats[k] += v

    @property
    def changelog(self) -> str:
        return self.state.changelog_topic.get_topic_name()


def build_runtime(cfg: StreamConfig, sim=None) -> Runtime:
    """The app with its tables, the simulator (with an empty catalog the item-features topic fills) and
    the processor. ``cfg.partitions`` must be the broker's partition count of the user topics."""
    from streamsim.analysis.embeddings import Embedder
    from streamsim.catalog import Catalog
    from streamsim.simulator import Simulator
    from streamsim.stream.state import StateStore

    if sim is None:
        sim = Simulator(Catalog(Embedder()), seed=cfg.seed, n_shards=cfg.user_partitions)
    app = make_app(cfg)
    n = cfg.user_partitions
    # bytes keys and values: faust picks the raw codec from the types (a schema's serializers are not
    # used by table recovery)
    table = app.Table("state", partitions=n, key_type=bytes, value_type=bytes,
                      extra_topic_configs={"max.message.bytes": str(MAX_CHECKPOINT_BYTES)})
    state = StateStore(sim, table)
    processor = Processor(sim, state, cfg)
    rt = Runtime(cfg, app, processor, table)
    for name in ("recommendations", "interactions", "items"):
        rt.topics[name] = app.topic(cfg.topic(name), key_type=bytes, value_type=bytes,
                                    key_serializer="raw", value_serializer="raw")
    from streamsim.stream import agents

    agents.register(rt)
    return rt
