"""The worker's logic as plain functions (no broker): the processor, its state recovery, enrichment."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from streamsim.analysis.base import ItemFeatures
from streamsim.catalog import Catalog
from streamsim.data.schema import Item
from streamsim.events import (
    DeadLetterEvent,
    InteractionEvent,
    ItemEvent,
    RecommendationEvent,
    decode_or_raise,
    encode,
)
from streamsim.sharding import partition_for
from streamsim.simulator import Simulator
from streamsim.stream import config
from streamsim.stream.enrich import Enricher, load_analyzer
from streamsim.stream.processor import PROVISIONAL, InteractionBatch, Processor, Record
from streamsim.stream.replay import expected_feedback, learn_history, plan_replay
from streamsim.stream.state import (
    MODEL_KEY_PREFIX,
    StateStore,
    decode_checkpoint,
    encode_checkpoint,
    model_key,
    user_key,
)
from streamsim.stream.synthetic import synthetic_dataset

N = 3
CFG = config.from_args(None, prefix="t-", partitions=N, seed=4)


def differences(a, b, path="x") -> list[str]:
    if type(a) is not type(b):
        return [f"{path}: type"]
    if isinstance(a, dict):
        if list(a) != list(b):
            return [f"{path}: keys"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}[{k!r}]")]
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return [f"{path}: len"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in differences(x, y, f"{path}[{i}]")]
    if hasattr(a, "__dict__") and not isinstance(a, type):
        return differences(vars(a), vars(b), path)
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


@pytest.fixture(scope="module")
def plan():
    return plan_replay(synthetic_dataset(n_users=150, n_items=80, seed=3), seed=1, slates_per_user=1,
                       slate_size=3)


def new_processor(plan, embedder, table=None) -> Processor:
    sim = Simulator(Catalog(embedder, capacity=128), seed=CFG.seed, n_shards=N)
    sim.catalog.add_all(plan.features)
    return Processor(sim, StateStore(sim, {} if table is None else table), CFG, clock=lambda: 123.0)


def interaction_records(plan) -> list[Record]:
    offsets = [0] * N
    out = []
    for e in plan.interactions():
        p = partition_for(e.user_id, N)
        out.append(Record(CFG.topic("interactions"), p, offsets[p], e.user_id.encode(), encode(e)))
        offsets[p] += 1
    return out


def recommendation_records(plan) -> list[Record]:
    return [Record(CFG.topic("recommendations"), partition_for(r.user_id, N), k, r.user_id.encode(),
                   encode(r)) for k, r in enumerate(plan.recommendations)]


def write(table: dict, batch: InteractionBatch, users: bool = True) -> None:
    """What ``Runtime.write_state`` does to the table: checkpoints first, then the user records."""
    for shard, data in batch.checkpoints.items():
        table[model_key(shard)] = data
    if users:
        for user_id, (_, data) in batch.users.items():
            table[user_key(user_id)] = data


def run(proc: Processor, table: dict, records: list[Record], size: int = 40) -> dict[str, int]:
    counts: dict[str, int] = {}
    for i in range(0, len(records), size):
        batch = proc.apply_interactions(records[i:i + size])
        write(table, batch)
        for k, v in batch.counts.items():
            counts[k] = counts.get(k, 0) + v
    return counts


def feedback_bytes(proc: Processor, plan) -> dict[str, bytes]:
    outs, n = proc.decide(recommendation_records(plan))
    assert n == sum(len(r.items) for r in plan.recommendations)
    return {orjson.loads(o.value)["event_id"]: o.value for o in outs if o.topic == CFG.topic("feedback")}


def test_worker_logic_decides_byte_for_byte_like_the_in_process_simulator(plan, embedder):
    table: dict = {}
    proc = new_processor(plan, embedder, table)
    run(proc, table, interaction_records(plan))
    expected = expected_feedback(plan, seed=CFG.seed, n_shards=N, embedder=embedder)
    got = feedback_bytes(proc, plan)
    assert got.keys() == expected.keys()
    assert all(got[k] == encode(v) for k, v in expected.items())
    # and a re-delivered recommendation gives the same bytes again
    assert feedback_bytes(proc, plan) == got


@pytest.mark.parametrize("crash_after,user_records_landed", [(3, True), (3, False), (7, False)])
def test_recovery_after_a_crash_applies_every_interaction_exactly_once(plan, embedder, crash_after,
                                                                       user_records_landed):
    records = interaction_records(plan)
    size = 40
    # the run that crashes: batches up to crash_after are durable; the last one only partly
    table: dict = {}
    proc = new_processor(plan, embedder, table)
    for b in range(crash_after):
        write(table, proc.apply_interactions(records[b * size:(b + 1) * size]))
    write(table, proc.apply_interactions(records[crash_after * size:(crash_after + 1) * size]),
          users=user_records_landed)
    # a new worker recovers the table and gets everything after an older committed offset again
    recovered = new_processor(plan, embedder, dict(table))
    redelivered = records[(crash_after - 2) * size:]
    counts = run(recovered, recovered.state.table, redelivered, size)
    assert counts["duplicate"] > 0  # interactions whose user records landed
    assert (counts["history"] > 0) == (not user_records_landed)  # learned by the model, not in the history
    # compare with a run that never stopped
    sim, users = learn_history(plan, seed=CFG.seed, n_shards=N, embedder=embedder)
    for shard in range(N):
        assert differences(recovered.sim.models[shard], sim.models[shard]) == []
    for user_id, state in users.items():
        got = recovered.state.user(user_id).state
        assert (got.items, got.labels) == (state.items, state.labels), user_id
    counts = recovered.apply_interactions(records[:size]).counts  # all of them seen before
    assert counts["duplicate"] == size and counts["observed"] == 0
    assert feedback_bytes(recovered, plan) == {k: encode(v) for k, v in expected_feedback(
        plan, seed=CFG.seed, n_shards=N, learned=(sim, users)).items()}


def test_invalid_records_become_dead_letters_and_valid_ones_still_count(plan, embedder):
    proc = new_processor(plan, embedder)
    good = InteractionEvent("e1", "u1", "m1", 5.0, True)
    p = partition_for("u1", N)
    t = CFG.topic("interactions")
    batch = proc.apply_interactions([
        Record(t, p, 0, b"u1", b"{bad"),
        Record(t, p, 1, b"u1", b'{"event_id": "e"}'),
        Record(t, (p + 1) % N, 0, b"u1", encode(good)),
        Record(t, p, 2, b"u1", encode(good)),
    ])
    reasons = [orjson.loads(o.value)["reason"] for o in batch.dead_letters]
    assert reasons == ["bad_json", "schema", "misrouted"]
    assert all(o.topic == CFG.topic("dead-letter") for o in batch.dead_letters)
    letter = DeadLetterEvent.from_dict(orjson.loads(batch.dead_letters[0].value))
    assert (letter.original, letter.offset, letter.partition, letter.topic) == (b"{bad", 0, p, t)
    assert batch.counts["observed"] == 1 and proc.state.user("u1").state.items == ["m1"]
    huge = Record(CFG.topic("recommendations"), p, 0, b"u1", b" " * (CFG.max_event_bytes + 1))
    outs, n = proc.decide([huge])
    assert n == 0 and orjson.loads(outs[0].value)["reason"] == "oversized"


def test_cache_miss_decides_from_slate_metadata_and_asks_for_enrichment_once(plan, embedder):
    proc = new_processor(plan, embedder)
    meta = Item("new-1", "Harbor Storm", ("thriller",), "A thriller about a storm.")
    rec = RecommendationEvent("r1", "u5", "p", ("new-1", "unknown-2"), None, {"new-1": meta})
    rec_record = Record(CFG.topic("recommendations"), partition_for("u5", N), 0, b"u5", encode(rec))
    outs, n = proc.decide([rec_record])
    feedback = [decode_or_raise("feedback", o.value) for o in outs if o.topic == CFG.topic("feedback")]
    asks = [decode_or_raise("item", o.value) for o in outs if o.topic == CFG.topic("items")]
    assert n == 2 and feedback[0].analyzer.endswith(PROVISIONAL) and feedback[1].analyzer == "none"
    assert {a.item_id for a in asks} == {"new-1", "unknown-2"} and asks[0].title == "Harbor Storm"
    outs, _ = proc.decide([rec_record])
    assert not [o for o in outs if o.topic == CFG.topic("items")]  # asked once


def test_enrichment_analyses_new_items_with_a_pluggable_analyzer(plan, embedder):
    proc = new_processor(plan, embedder)
    enricher = Enricher(proc, load_analyzer("offline"))
    t = CFG.topic("items")
    known = plan.features[0].item_id
    records = [Record(t, 0, 0, b"n1", encode(ItemEvent("n1", "Secret Garden", ("drama",)))),
               Record(t, 0, 1, known.encode(), encode(ItemEvent(known))),
               Record(t, 0, 2, b"x", b"not json")]
    outs = asyncio.run(enricher.enrich(records))
    feats = [decode_or_raise("item-features", o.value) for o in outs if o.topic == CFG.topic("item-features")]
    assert [f.item_id for f in feats] == ["n1"] and "drama" in feats[0].categories
    reasons = [orjson.loads(o.value)["reason"] for o in outs if o.topic == CFG.topic("dead-letter")]
    assert reasons == ["bad_json"]
    assert load_analyzer("none") is None


def test_checkpoint_codec_and_keys():
    data = encode_checkpoint({"a": [1, 2]}, 41)
    assert decode_checkpoint(data) == ({"a": [1, 2]}, 41)
    with pytest.raises(ValueError):
        decode_checkpoint(b"XXXX" + data[4:])
    assert model_key(2).startswith(MODEL_KEY_PREFIX)
    with pytest.raises(UnicodeDecodeError):
        model_key(2).decode()  # no user id (valid UTF-8) can collide with it


def test_config_names_and_partitions():
    assert CFG.topic("feedback") == "t-feedback" and CFG.group_id == "t-streamsim"
    assert CFG.spec("interactions").partitions == N and CFG.spec("item-features").config[
        "cleanup.policy"] == "compact"
    assert config.from_args(None).spec("recommendations").partitions == 4  # topics.json
    with pytest.raises(KeyError):
        CFG.topic("nope")


def test_item_features_decode_skips_tombstones(plan, embedder):
    proc = new_processor(plan, embedder)
    t = CFG.topic("item-features")
    feats, dead = proc.decode_features([Record(t, 0, 0, b"a", None),
                                        Record(t, 0, 1, b"b", encode(ItemFeatures("b", ("x",)))),
                                        Record(t, 0, 2, b"c", b"{}")])
    assert [f.item_id for f in feats] == ["b"] and len(dead) == 1
