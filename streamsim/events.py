"""The records on the Kafka topics: frozen dataclasses, orjson encoding, JSON Schema validation.

Decoding never raises on bad input: it returns the event or a ``Rejection`` (reason and detail), which
the worker turns into a dead-letter record. Encoding is deterministic (sorted keys, floats rounded to
``FLOAT_DIGITS``, keyword lists sorted), so the same decision always gives the same bytes and a
re-delivered recommendation gives byte-identical feedback.

The schemas live in ``topics/`` at the project root (``STREAMSIM_TOPICS_DIR`` overrides) and are
compiled once with fastjsonschema.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import fastjsonschema
import orjson

import streamsim
from streamsim.analysis.base import ItemFeatures, Review
from streamsim.data.schema import Item

KINDS = ("recommendation", "feedback", "interaction", "item", "item-features", "dead-letter")
DEFAULT_MAX_BYTES = 256 * 1024
DEAD_LETTER_MAX_ORIGINAL = 64 * 1024  # keep dead letters well under the broker's 1 MB message limit
FLOAT_DIGITS = 6
REASONS = ("bad_json", "schema", "oversized", "misrouted", "error")


def topics_dir() -> Path:
    env = os.environ.get("STREAMSIM_TOPICS_DIR")
    return Path(env) if env else Path(streamsim.__file__).resolve().parents[1] / "topics"


@functools.cache
def schema(kind: str) -> dict:
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r} (one of {', '.join(KINDS)})")
    path = topics_dir() / f"{kind}.schema.json"
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise FileNotFoundError(f"schema {path} not found (set STREAMSIM_TOPICS_DIR)") from None


@functools.cache
def validator(kind: str) -> Callable[[Any], Any]:
    return fastjsonschema.compile(schema(kind))


def _num(x: float) -> float:
    return round(float(x), FLOAT_DIGITS) + 0.0  # + 0.0 turns -0.0 into 0.0


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


# ------------------------------------------------------------------------------------------- records

@dataclass(frozen=True, slots=True)
class RecommendationEvent:
    """A slate a policy showed a user; ``metadata`` (optional) describes items by id."""

    event_id: str
    user_id: str
    policy_id: str
    items: tuple[str, ...]
    timestamp: float | None = None
    metadata: Mapping[str, Item] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"event_id": self.event_id, "user_id": self.user_id,
                             "policy_id": self.policy_id, "items": list(self.items),
                             "timestamp": self.timestamp}
        if self.metadata:
            d["metadata"] = {i: {"title": m.title, "categories": list(m.categories),
                                 "description": m.description} for i, m in self.metadata.items()}
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RecommendationEvent:
        meta = d.get("metadata") or {}
        return cls(d["event_id"], d["user_id"], d["policy_id"], tuple(d["items"]), d.get("timestamp"),
                   {i: Item(i, m.get("title", ""), tuple(m.get("categories") or ()),
                            m.get("description", "")) for i, m in meta.items()})


@dataclass(frozen=True, slots=True)
class InteractionEvent:
    """A real interaction (ground truth). ``liked`` None: decided by the worker's like threshold."""

    event_id: str
    user_id: str
    item_id: str
    rating: float
    liked: bool | None = None
    timestamp: float | None = None
    review: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "user_id": self.user_id, "item_id": self.item_id,
                "rating": self.rating, "liked": self.liked, "timestamp": self.timestamp,
                "review": self.review}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InteractionEvent:
        return cls(d["event_id"], d["user_id"], d["item_id"], d["rating"], d.get("liked"),
                   d.get("timestamp"), d.get("review") or "")


@dataclass(frozen=True, slots=True)
class ItemEvent:
    """An item to analyse, optionally with rated reviews."""

    item_id: str
    title: str = ""
    categories: tuple[str, ...] = ()
    description: str = ""
    reviews: tuple[Review, ...] = ()
    timestamp: float | None = None

    @property
    def item(self) -> Item:
        return Item(self.item_id, self.title, self.categories, self.description)

    @classmethod
    def of(cls, item: Item, reviews: Sequence[Review] = (), timestamp: float | None = None) -> ItemEvent:
        return cls(item.item_id, item.title, tuple(item.categories), item.description, tuple(reviews),
                   timestamp)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"item_id": self.item_id, "title": self.title,
                             "categories": list(self.categories), "description": self.description,
                             "timestamp": self.timestamp}
        if self.reviews:
            d["reviews"] = [{"rating": r.rating, "text": r.text, "liked": r.liked} for r in self.reviews]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ItemEvent:
        return cls(d["item_id"], d.get("title", ""), tuple(d.get("categories") or ()),
                   d.get("description", ""),
                   tuple(Review(r["rating"], r.get("text", ""), r["liked"]) for r in d.get("reviews") or ()),
                   d.get("timestamp"))


def feedback_id(recommendation_id: str, item_id: str) -> str:
    """The feedback event id: a function of the recommendation and the item only."""
    return hashlib.blake2b(f"{recommendation_id}\x1f{item_id}".encode(), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """The simulated reaction to one item of a recommendation, explained (votes, keywords, versions)."""

    event_id: str
    recommendation_id: str
    user_id: str
    item_id: str
    policy_id: str
    position: int
    liked: bool
    probability: float
    votes: tuple[Mapping[str, Any], ...]
    matched_like_keywords: tuple[str, ...]
    matched_dislike_keywords: tuple[str, ...]
    analyzer: str
    versions: Mapping[str, str]
    shard: int = 0
    history_length: int = 0
    timestamp: float | None = None

    @classmethod
    def from_decision(cls, decision: Any, rec: RecommendationEvent, position: int,
                      versions: Mapping[str, str], history_length: int) -> FeedbackEvent:
        """``decision`` is a ``streamsim.simulator.Decision``."""
        return cls(
            event_id=feedback_id(rec.event_id, decision.item_id),
            recommendation_id=rec.event_id, user_id=rec.user_id, item_id=decision.item_id,
            policy_id=rec.policy_id, position=position, liked=bool(decision.liked),
            probability=_num(decision.probability),
            votes=tuple({"voter": v.voter, "vote": int(v.vote), "probability": _num(v.probability),
                         "score": _num(v.score), "tie": bool(v.tie)} for v in decision.votes),
            matched_like_keywords=tuple(sorted(decision.matched_like_keywords)),
            matched_dislike_keywords=tuple(sorted(decision.matched_dislike_keywords)),
            analyzer=decision.analyzer, versions=dict(versions), shard=decision.shard,
            history_length=history_length, timestamp=rec.timestamp,
        )

    def vote(self, voter: str) -> Mapping[str, Any]:
        return next(v for v in self.votes if v["voter"] == voter)

    def to_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "recommendation_id": self.recommendation_id,
                "user_id": self.user_id, "item_id": self.item_id, "policy_id": self.policy_id,
                "position": self.position, "liked": self.liked, "probability": self.probability,
                "votes": [dict(v) for v in self.votes],
                "matched_like_keywords": list(self.matched_like_keywords),
                "matched_dislike_keywords": list(self.matched_dislike_keywords),
                "analyzer": self.analyzer, "versions": dict(self.versions), "shard": self.shard,
                "history_length": self.history_length, "timestamp": self.timestamp}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeedbackEvent:
        return cls(d["event_id"], d["recommendation_id"], d["user_id"], d["item_id"], d["policy_id"],
                   d["position"], d["liked"], d["probability"], tuple(d["votes"]),
                   tuple(d["matched_like_keywords"]), tuple(d["matched_dislike_keywords"]),
                   d["analyzer"], d["versions"], d.get("shard", 0), d.get("history_length", 0),
                   d.get("timestamp"))


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an input record could not be used (errors as data): one of ``REASONS`` plus a detail."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class DeadLetterEvent:
    """An input record a worker could not use, with where it came from and why."""

    topic: str
    partition: int
    offset: int
    reason: str
    detail: str
    original: bytes
    key: bytes | None = None
    timestamp: float = 0.0
    original_size: int | None = None  # set when ``original`` was truncated

    @classmethod
    def of(cls, rejection: Rejection, *, topic: str, partition: int, offset: int, value: bytes | None,
           key: bytes | None, timestamp: float,
           max_original: int = DEAD_LETTER_MAX_ORIGINAL) -> DeadLetterEvent:
        value = value or b""
        return cls(topic, partition, offset, rejection.reason, rejection.detail, value[:max_original], key,
                   timestamp, len(value) if len(value) > max_original else None)

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset,
                "reason": self.reason, "detail": self.detail, "original": _b64(self.original),
                "original_size": self.original_size if self.original_size is not None else len(self.original),
                "truncated": self.original_size is not None, "key": _b64(self.key),
                "timestamp": self.timestamp}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DeadLetterEvent:
        key = d.get("key")
        return cls(d["topic"], d["partition"], d["offset"], d["reason"], d.get("detail", ""),
                   base64.b64decode(d["original"]), None if key is None else base64.b64decode(key),
                   d["timestamp"], d.get("original_size") if d.get("truncated") else None)


Event = (RecommendationEvent | InteractionEvent | ItemEvent | FeedbackEvent | ItemFeatures
         | DeadLetterEvent)
E = TypeVar("E")

_CLASSES: dict[str, Any] = {
    "recommendation": RecommendationEvent, "interaction": InteractionEvent, "item": ItemEvent,
    "feedback": FeedbackEvent, "item-features": ItemFeatures, "dead-letter": DeadLetterEvent,
}


# ------------------------------------------------------------------------------------- encode/decode

def encode(event: Event) -> bytes:
    """Canonical bytes: sorted keys, no whitespace."""
    return orjson.dumps(event.to_dict(), option=orjson.OPT_SORT_KEYS)


def decode(kind: str, data: bytes | None, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """The event of ``kind`` in ``data``, or a ``Rejection``; never raises on bad input."""
    if data is None:
        return Rejection("bad_json", "empty record (null value)")
    if len(data) > max_bytes:
        return Rejection("oversized", f"{len(data)} bytes > max {max_bytes}")
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        return Rejection("bad_json", str(e))
    try:
        validator(kind)(obj)
    except fastjsonschema.JsonSchemaValueException as e:
        return Rejection("schema", e.message)
    try:
        return _CLASSES[kind].from_dict(obj)
    except (KeyError, TypeError, ValueError, AttributeError) as e:  # schema allows what from_dict cannot use
        return Rejection("schema", f"{type(e).__name__}: {e}")


def decode_or_raise(kind: str, data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """For trusted readers (tests, evaluation): the event, or ValueError with the rejection."""
    out = decode(kind, data, max_bytes)
    if isinstance(out, Rejection):
        raise ValueError(f"{kind}: {out.reason}: {out.detail}")
    return out


def key_of(event: Event) -> bytes:
    """The record key: the user id for user-scoped events, the item id for item-scoped ones."""
    if isinstance(event, ItemEvent | ItemFeatures):
        return event.item_id.encode()
    if isinstance(event, DeadLetterEvent):
        return event.key or b""
    return event.user_id.encode()
