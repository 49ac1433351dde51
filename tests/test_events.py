"""Event records: round trips, validation errors as data, deterministic encoding."""

from __future__ import annotations

import base64

import orjson
import pytest

from streamsim.analysis.base import ItemFeatures
from streamsim.data.schema import Item
from streamsim.events import (
    KINDS,
    DeadLetterEvent,
    FeedbackEvent,
    InteractionEvent,
    ItemEvent,
    RecommendationEvent,
    Rejection,
    decode,
    encode,
    feedback_id,
    key_of,
    schema,
    topics_dir,
    validator,
)
from streamsim.simulator import Decision
from streamsim.voters.ensemble import Vote


def decision(**kw) -> Decision:
    d = dict(user_id="u1", item_id="i1", event_id="r1", liked=True, probability=0.6666666666,
             votes=(Vote("keyword", 1, 0.75, 3.0), Vote("similarity", 0, 0.4, -0.1234567891),
                    Vote("statistical", 1, 0.61, 0.61, tie=False)),
             matched_like_keywords=("zeta", "alpha"), matched_dislike_keywords=("boring",),
             analyzer="offline/1", shard=2)
    d.update(kw)
    return Decision(**d)


def test_every_kind_has_a_schema_that_compiles():
    assert (topics_dir() / "topics.json").is_file()
    for kind in KINDS:
        assert schema(kind)["type"] == "object"
        validator(kind)


@pytest.mark.parametrize("event", [
    RecommendationEvent("r1", "u1", "p", ("a", "b"), 12.5, {"a": Item("a", "Title", ("drama",), "desc")}),
    RecommendationEvent("r2", "u1", "p", ("a",)),
    InteractionEvent("e1", "u1", "i1", 4.5, True, 100, "great"),
    InteractionEvent("e2", "u1", "i1", 2.0),
    ItemEvent("i1", "T", ("a", "b"), "d"),
    ItemFeatures("i1", ("drama",), ("cast",), ("plot",), {"cast": "great cast"}, 3, 0.5, "offline/1"),
    DeadLetterEvent("t", 1, 2, "schema", "bad", b"\x00\xff", b"k", 1.5),
])
def test_round_trip(event):
    kind = {RecommendationEvent: "recommendation", InteractionEvent: "interaction", ItemEvent: "item",
            ItemFeatures: "item-features", DeadLetterEvent: "dead-letter"}[type(event)]
    data = encode(event)
    assert decode(kind, data) == event
    assert encode(decode(kind, data)) == data


def test_feedback_round_trip_and_determinism():
    rec = RecommendationEvent("r1", "u1", "p", ("i1",), 7)
    a = FeedbackEvent.from_decision(decision(), rec, 0, {"simulator": "1"}, 5)
    b = FeedbackEvent.from_decision(decision(matched_like_keywords=("alpha", "zeta")), rec, 0,
                                    {"simulator": "1"}, 5)
    assert encode(a) == encode(b)  # keyword order does not leak into the bytes
    assert decode("feedback", encode(a)) == a
    d = orjson.loads(encode(a))
    assert d["probability"] == 0.666667 and d["votes"][1]["score"] == -0.123457
    assert d["matched_like_keywords"] == ["alpha", "zeta"]
    assert list(d) == sorted(d)  # sorted keys
    assert d["event_id"] == feedback_id("r1", "i1") != feedback_id("r1", "i2")


def test_negative_zero_is_normalised():
    rec = RecommendationEvent("r1", "u1", "p", ("i1",))
    fb = FeedbackEvent.from_decision(decision(votes=(Vote("keyword", 0, 0.5, -0.0, True),)), rec, 0, {}, 0)
    assert b"-0.0" not in encode(fb)


def test_rejections_are_data():
    assert decode("recommendation", b"{nope").reason == "bad_json"
    assert decode("recommendation", None).reason == "bad_json"
    r = decode("recommendation", b'{"event_id": "e", "user_id": "u", "policy_id": "p", "items": []}')
    assert isinstance(r, Rejection) and r.reason == "schema" and "items" in r.detail
    r = decode("recommendation", b'{"event_id": "e", "user_id": "u", "policy_id": "p", "items": ["a", "a"]}')
    assert r.reason == "schema"
    assert decode("interaction", b'{"event_id": "e", "user_id": "u", "item_id": "i", "rating": "5"}'
                  ).reason == "schema"
    assert decode("item-features", b'[1, 2]').reason == "schema"
    big = encode(RecommendationEvent("e", "u", "p", ("a",)))
    r = decode("recommendation", big, max_bytes=len(big) - 1)
    assert r.reason == "oversized" and str(len(big)) in r.detail
    assert not isinstance(decode("recommendation", big, max_bytes=len(big)), Rejection)


def test_dead_letter_keeps_original_bytes_and_truncates_huge_ones():
    value = b"x" * 100
    dl = DeadLetterEvent.of(Rejection("oversized", "too big"), topic="t", partition=0, offset=3, value=value,
                            key=None, timestamp=1.0, max_original=10)
    d = orjson.loads(encode(dl))
    assert base64.b64decode(d["original"]) == value[:10]
    assert d["truncated"] and d["original_size"] == 100 and d["key"] is None
    assert decode("dead-letter", encode(dl)) == dl


def test_keys():
    assert key_of(RecommendationEvent("r", "u7", "p", ("a",))) == b"u7"
    assert key_of(ItemFeatures("i9")) == b"i9"


def test_topics_dir_override(tmp_path, monkeypatch):
    monkeypatch.setenv("STREAMSIM_TOPICS_DIR", str(tmp_path))
    assert topics_dir() == tmp_path
