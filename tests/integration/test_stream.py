"""End to end on the real broker: a dataset replayed through ``python -m streamsim worker`` subprocesses.

The worker is killed (SIGKILL) once while it learns the history and once while it answers
recommendations, and restarted each time. Afterwards every recommendation must have its feedback,
byte-identical to what the in-process simulator (same data, seed and shards) gives; invalid records must
be in the dead-letter topic with their reasons and bytes, without any valid record lost; and the models
recovered from the changelog must equal the in-process ones.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import orjson
import pytest
from aiokafka import TopicPartition

from streamsim.events import DeadLetterEvent, RecommendationEvent, decode_or_raise, encode
from streamsim.sharding import partition_for
from streamsim.stream import config
from streamsim.stream.admin import admin_client, create_topics
from streamsim.stream.io import Publisher, read_topic, wait_for_group
from streamsim.stream.replay import expected_feedback, learn_history, plan_replay
from streamsim.stream.state import MODEL_KEY_PREFIX, decode_checkpoint
from streamsim.stream.synthetic import synthetic_dataset

pytestmark = [pytest.mark.kafka, pytest.mark.asyncio]

ROOT = Path(__file__).resolve().parents[2]
N_PARTITIONS = 4
SEED = 3
MAX_BYTES = 64 * 1024


class Worker:
    """``python -m streamsim worker`` as a subprocess that can be killed and started again."""

    def __init__(self, bootstrap: str, prefix: str, workdir: Path) -> None:
        self.bootstrap, self.prefix, self.workdir = bootstrap, prefix, workdir
        self.proc: subprocess.Popen | None = None
        self.logs: list[Path] = []

    def start(self) -> None:
        log = self.workdir / f"worker-{len(self.logs) + 1}.log"
        self.logs.append(log)
        env = {**os.environ, "STREAMSIM_REPORT_INTERVAL": "1", "STREAMSIM_DATADIR": str(self.workdir)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamsim", "worker", "--bootstrap", self.bootstrap, "--prefix",
             self.prefix, "--partitions", str(N_PARTITIONS), "--seed", str(SEED), "--max-event-bytes",
             str(MAX_BYTES), "--loglevel", "info"],
            cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            tail = self.logs[-1].read_text(errors="replace")[-4000:]
            pytest.fail(f"worker exited with {self.proc.returncode}:\n{tail}", pytrace=False)

    def last_stats(self) -> str:
        lines = [ln for ln in self.logs[-1].read_text(errors="replace").splitlines() if " items; " in ln]
        return lines[-1] if lines else ""


def differences(a, b, path: str = "model") -> list[str]:
    """Where two object graphs differ in value (pickles of equal graphs can differ in bytes: pickle
    memoizes by object identity, and a worker decodes each event's strings anew)."""
    if type(a) is not type(b):
        return [f"{path}: {type(a).__name__} != {type(b).__name__}"]
    if isinstance(a, dict):
        if list(a) != list(b):
            return [f"{path}: keys differ"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}[{k!r}]")]
    if isinstance(a, list | tuple):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in differences(x, y, f"{path}[{i}]")]
    if hasattr(a, "__dict__") and not isinstance(a, type):
        return differences(vars(a), vars(b), path)
    if hasattr(type(a), "__slots__") and not isinstance(a, str | bytes | int | float):
        return [d for slot in type(a).__slots__
                for d in differences(getattr(a, slot, None), getattr(b, slot, None), f"{path}.{slot}")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


async def committed(bootstrap: str, group: str, topic: str) -> int:
    async with admin_client(bootstrap) as admin:
        tps = [TopicPartition(topic, p) for p in range(N_PARTITIONS)]
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
    return sum(max(0, m.offset) for m in offsets.values())


async def kill_when(worker: Worker, cfg: config.StreamConfig, topic: str, at_least: int, total: int,
                    timeout: float = 120) -> int:
    """SIGKILL the worker once the group has committed ``at_least`` records of ``topic``, restart it,
    and return how many were committed at the kill (which must be fewer than ``total``)."""
    deadline = time.monotonic() + timeout
    while True:
        worker.check_alive()
        done = await committed(cfg.bootstrap, cfg.group_id, topic)
        if done >= at_least:
            worker.kill()
            worker.start()
            return done
        assert time.monotonic() < deadline, f"worker committed only {done} of {total} on {topic}"
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def plan_and_expected(embedder):
    ds = synthetic_dataset(n_users=2200, n_items=600, seed=11)
    plan = plan_replay(ds, seed=5, slates_per_user=1, slate_size=3)
    learned = learn_history(plan, seed=SEED, n_shards=N_PARTITIONS, embedder=embedder)
    return plan, learned, expected_feedback(plan, seed=SEED, n_shards=N_PARTITIONS, learned=learned)


async def test_replay_through_killed_and_restarted_workers(kafka_bootstrap, plan_and_expected, tmp_path):
    plan, (sim, _), expected = plan_and_expected
    assert plan.n_held_out >= 2000 and len(expected) >= 2 * plan.n_held_out
    prefix = f"it-{uuid.uuid4().hex[:8]}-"
    cfg = config.from_args(None, bootstrap=kafka_bootstrap, prefix=prefix, partitions=N_PARTITIONS)
    await create_topics(cfg)
    t_interactions, t_recs = cfg.topic("interactions"), cfg.topic("recommendations")
    worker = Worker(kafka_bootstrap, prefix, tmp_path)
    worker.start()
    injected: list[tuple[str, str, bytes]] = []  # (topic, reason, value)
    t0 = time.monotonic()
    try:
        async with Publisher(kafka_bootstrap) as pub:
            # catalog (plus one invalid record the catalog reader must dead-letter)
            await pub.publish(cfg.topic("item-features"),
                              ((f.item_id.encode(), encode(f)) for f in plan.features), len(plan.features),
                              "catalog", progress=False)
            bad = b'{"item_id": "x", "categories": "not a list"}'
            await pub.send(cfg.topic("item-features"), b"x", bad)
            injected.append((cfg.topic("item-features"), "schema", bad))
            for reason, value in (("bad_json", b"{not json"), ("schema", b'{"event_id": "e"}')):
                await pub.send(t_interactions, b"u1", value)
                injected.append((t_interactions, reason, value))
            await pub.flush()

            # the history, paced, with a kill once the worker has committed part of it
            pub.rate = 5000
            history = asyncio.create_task(pub.publish(
                t_interactions, ((e.user_id.encode(), encode(e)) for e in plan.interactions()),
                len(plan.history), "history", progress=False))
            killed_at = await kill_when(worker, cfg, t_interactions, 2500, len(plan.history))
            await history
            assert killed_at < len(plan.history) + 2, "the kill came after the history was consumed"
            await wait_for_group(kafka_bootstrap, cfg.group_id, t_interactions, N_PARTITIONS, timeout=120,
                                 progress=False)
            t_history = time.monotonic() - t0

            # recommendations, with invalid records among them, and another kill
            def recommendations():
                for k, r in enumerate(plan.recommendations):
                    yield r.user_id.encode(), encode(r)
                    if k % 1000 == 500:
                        value = (b"[1, 2" if k % 2 else b'{"event_id": "e", "user_id": "u", "items": []}')
                        injected.append((t_recs, "bad_json" if k % 2 else "schema", value))
                        yield b"u1", value
                big = RecommendationEvent("big", "u7", "p", ("m1",), metadata={})
                value = encode(big)[:-1] + b',"padding":"' + b"x" * (MAX_BYTES + 10) + b'"}'
                injected.append((t_recs, "oversized", value))
                yield b"u7", value

            pub.rate = 3000
            recs = asyncio.create_task(pub.publish(t_recs, recommendations(),
                                                   len(plan.recommendations), "recs", progress=False))
            # a valid recommendation on the wrong partition (not keyed by the user's partitioner)
            misrouted = RecommendationEvent("misrouted", "u3", "p", ("m1",))
            wrong = (partition_for("u3", N_PARTITIONS) + 1) % N_PARTITIONS
            await pub.producer.send(t_recs, encode(misrouted), key=b"u3", partition=wrong)
            injected.append((t_recs, "misrouted", encode(misrouted)))
            killed_recs_at = await kill_when(worker, cfg, t_recs, 1200, len(plan.recommendations))
            await recs
            assert killed_recs_at < len(plan.recommendations)

        # every expected feedback arrives, byte-identical to the in-process simulator's
        seen: dict[str, bytes] = {}
        duplicates = 0
        async for batch in read_topic(kafka_bootstrap, cfg.topic("feedback"), timeout=120,
                                      follow_until=lambda: len(seen) >= len(expected)):
            worker.check_alive()
            for r in batch:
                fb = decode_or_raise("feedback", r.value)
                assert fb.event_id in expected, f"unexpected feedback {fb.event_id}"
                if fb.event_id in seen:
                    duplicates += 1
                    assert r.value == seen[fb.event_id], \
                        f"re-delivered feedback changed: {seen[fb.event_id]!r} then {r.value!r}"
                seen[fb.event_id] = r.value
        t_all = time.monotonic() - t0
        assert seen.keys() == expected.keys()
        differ = [k for k, v in seen.items() if v != encode(expected[k])]
        assert not differ, f"{len(differ)} feedback events differ from in-process, e.g. " \
                           f"{seen[differ[0]]!r} vs {encode(expected[differ[0]])!r}"

        # the invalid records, and only they, are dead letters with reasons and original bytes
        letters = [DeadLetterEvent.from_dict(orjson.loads(r.value)) for batch in
                   [b async for b in read_topic(kafka_bootstrap, cfg.topic("dead-letter"))] for r in batch]
        got = Counter((d.topic, d.reason, d.original) for d in letters
                      if d.reason != "oversized")
        want = Counter((t, reason, v) for t, reason, v in injected if reason != "oversized")
        assert set(got) == set(want), f"dead letters {got} != injected {want}"
        big_value = next(v for _, reason, v in injected if reason == "oversized")
        big = [d for d in letters if d.reason == "oversized"]
        assert big and all(d.original_size == len(big_value) and big_value.startswith(d.original)
                           for d in big)
        assert all(d.offset >= 0 and d.detail for d in letters)

        # the models recovered from the changelog equal the in-process ones
        checkpoints: dict[int, bytes] = {}
        changelog = f"{cfg.group_id}-state-changelog"
        async for batch in read_topic(kafka_bootstrap, changelog):
            for r in batch:
                if r.key.startswith(MODEL_KEY_PREFIX):
                    checkpoints[r.partition] = r.value
        assert sorted(checkpoints) == list(range(N_PARTITIONS))
        for shard, data in checkpoints.items():
            model, _ = decode_checkpoint(data)
            assert differences(model, sim.models[shard]) == [], f"model of shard {shard} differs"
        print(f"\nhistory {len(plan.history)} interactions in {t_history:.1f}s (killed at {killed_at}); "
              f"{len(plan.recommendations)} recommendations, {len(expected)} feedback "
              f"({duplicates} duplicates after the kill at {killed_recs_at}); all in {t_all:.1f}s\n"
              f"{worker.last_stats()}")
    finally:
        worker.stop()
