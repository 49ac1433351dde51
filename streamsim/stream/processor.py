"""What the worker's agents do, as plain synchronous functions over batches of records.

The agents (``streamsim.stream.agents``) only move bytes between Kafka and these functions, so the
logic is testable without a broker and the in-process evaluation and the worker call the same core
(``Simulator.observe`` and ``Simulator.decide``). Errors are data: an undecodable record becomes a
dead-letter output, never an exception that stops the worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from streamsim.analysis.base import Analyzer, ItemFeatures
from streamsim.analysis.offline import OfflineAnalyzer
from streamsim.data.schema import Item
from streamsim.events import (
    DeadLetterEvent,
    FeedbackEvent,
    InteractionEvent,
    ItemEvent,
    RecommendationEvent,
    Rejection,
    decode,
    encode,
)
from streamsim.protocol import is_like
from streamsim.simulator import Simulator
from streamsim.stream.config import StreamConfig
from streamsim.stream.state import StateStore

log = logging.getLogger("streamsim.stream")

PROVISIONAL = "+metadata-only"  # suffix of the analyzer tag of features built from slate metadata


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed Kafka record (where it came from, and its raw bytes)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Out:
    """One record to produce; ``key`` decides the partition (Kafka's default partitioner)."""

    topic: str
    key: bytes | None
    value: bytes


@dataclass(slots=True)
class InteractionBatch:
    """The result of applying a batch of interactions: what to write, in this order."""

    dead_letters: list[Out] = field(default_factory=list)
    checkpoints: dict[int, bytes] = field(default_factory=dict)  # shard -> model checkpoint, first
    users: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # user -> (shard, record), after
    counts: dict[str, int] = field(default_factory=dict)


class Processor:
    """The worker's logic for one process: a simulator, its catalog and the state of owned shards."""

    def __init__(self, sim: Simulator, state: StateStore, cfg: StreamConfig,
                 provisional_analyzer: Analyzer | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.sim = sim
        self.state = state
        self.cfg = cfg
        self.provisional_analyzer = provisional_analyzer or OfflineAnalyzer()
        self.clock = clock
        self.versions = dict(sim.versions)
        self.requested: set[str] = set()  # items already sent for enrichment by this process
        self.t_dead_letter = cfg.topic("dead-letter")
        self.t_feedback = cfg.topic("feedback")
        self.t_items = cfg.topic("items")

    # ---------------------------------------------------------------------------------------- helpers

    def dead_letter(self, r: Record, rejection: Rejection) -> Out:
        log.warning("dead letter %s[%d]@%d: %s: %s", r.topic, r.partition, r.offset, rejection.reason,
                    rejection.detail)
        ev = DeadLetterEvent.of(rejection, topic=r.topic, partition=r.partition, offset=r.offset,
                                value=r.value, key=r.key, timestamp=self.clock())
        return Out(self.t_dead_letter, r.key, encode(ev))

    def _misrouted(self, r: Record, user_id: str) -> Rejection | None:
        """A user's state lives on one partition: a record elsewhere was keyed or partitioned wrongly."""
        expected = self.sim.shard_of(user_id)
        if r.partition != expected:
            return Rejection("misrouted", f"user {user_id!r} belongs to partition {expected} of "
                                          f"{self.sim.n_shards}, record is on partition {r.partition} "
                                          "(key records by user id with the default partitioner)")
        return None

    # ----------------------------------------------------------------------------------- interactions

    def apply_interactions(self, records: Sequence[Record]) -> InteractionBatch:
        out = InteractionBatch(counts={"observed": 0, "history": 0, "duplicate": 0, "rejected": 0})
        touched: set[int] = set()
        users: dict[str, int] = {}
        for r in records:
            ev = decode("interaction", r.value, self.cfg.max_event_bytes)
            if not isinstance(ev, Rejection):
                ev = self._misrouted(r, ev.user_id) or ev
            if isinstance(ev, Rejection):
                out.dead_letters.append(self.dead_letter(r, ev))
                out.counts["rejected"] += 1
                continue
            assert isinstance(ev, InteractionEvent)
            liked = ev.liked if ev.liked is not None else is_like(ev.rating, self.cfg.like_threshold)
            what = self.state.apply(r.partition, r.offset, ev.user_id, ev.item_id, liked)
            out.counts[what] += 1
            if what != "duplicate":
                touched.add(r.partition)
                users[ev.user_id] = r.partition
        for shard in sorted(touched):
            out.checkpoints[shard] = self.state.checkpoint(shard)
        for user_id, shard in users.items():
            out.users[user_id] = (shard, self.state.user(user_id).to_record())
        return out

    # -------------------------------------------------------------------------------- recommendations

    def decide(self, records: Sequence[Record]) -> tuple[list[Out], int]:
        """Feedback for every item of every valid recommendation (plus dead letters and enrichment
        requests); returns the outputs and the number of feedback events among them."""
        outs: list[Out] = []
        n_feedback = 0
        sim, catalog = self.sim, self.sim.catalog
        for r in records:
            rec = decode("recommendation", r.value, self.cfg.max_event_bytes)
            if not isinstance(rec, Rejection):
                rec = self._misrouted(r, rec.user_id) or rec
            if isinstance(rec, Rejection):
                outs.append(self.dead_letter(r, rec))
                continue
            assert isinstance(rec, RecommendationEvent)
            self.state.shard(r.partition)  # loads the shard's checkpointed models after a restart
            user = self.state.peek_user(rec.user_id)
            key = rec.user_id.encode()
            for pos, item_id in enumerate(rec.items):
                if item_id not in catalog.index:
                    outs.extend(self._cache_miss(item_id, rec))
                d = sim.decide(user, item_id, rec.event_id)
                fb = FeedbackEvent.from_decision(d, rec, pos, self.versions, len(user.items))
                outs.append(Out(self.t_feedback, key, encode(fb)))
                n_feedback += 1
        return outs, n_feedback

    def _cache_miss(self, item_id: str, rec: RecommendationEvent) -> list[Out]:
        """No features for the item yet: decide with what the slate says about it (offline analysis of
        its metadata, provisional until the item-features topic has the item) and ask for enrichment
        once; never wait for it."""
        meta = rec.metadata.get(item_id)
        if meta is not None:
            f = self.provisional_analyzer.analyze(meta, [])
            self.sim.catalog.add(replace(f, analyzer=f.analyzer + PROVISIONAL))
        if item_id in self.requested:
            return []
        self.requested.add(item_id)
        item = meta if meta is not None else Item(item_id)
        return [Out(self.t_items, item_id.encode(), encode(ItemEvent.of(item, timestamp=self.clock())))]

    # ------------------------------------------------------------------------------------ item features

    def decode_features(self, records: Iterable[Record]) -> tuple[list[ItemFeatures], list[Out]]:
        feats, dead = [], []
        for r in records:
            if r.value is None:  # a tombstone on the compacted topic: nothing to add
                continue
            f = decode("item-features", r.value, self.cfg.max_event_bytes)
            if isinstance(f, Rejection):
                dead.append(self.dead_letter(r, f))
            else:
                feats.append(f)
        return feats, dead

    def is_enriched(self, item_id: str) -> bool:
        f = self.sim.catalog.get(item_id)
        return f is not None and not f.analyzer.endswith(PROVISIONAL)


__all__ = ["Record", "Out", "InteractionBatch", "Processor", "PROVISIONAL"]
