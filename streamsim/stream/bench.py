"""``streamsim bench stream``: the worker end to end on a real broker, beside a plain aiokafka ceiling.

In one run, for each slate size:

1. a worker (``python -m streamsim worker``, its own process) learns a dataset's history, so decisions
   run on warm user states and models (a synthetic dataset unless ``--data``);
2. fixed load: ``--rate`` feedback events per second offered (``rate / slate size`` recommendations per
   second); per feedback event, the latency from producing the recommendation to consuming its feedback
   (p50, p99, max);
3. maximum throughput: a burst produced as fast as possible; feedback events per second from the first
   recommendation sent to the last feedback consumed;
4. the same two measurements for a pass-through process (plain aiokafka: consume a recommendation,
   produce it once per slate item), the ceiling the broker, the client library and this machine allow.

Without ``--bootstrap`` a private broker is started with ``scripts/kafka-local.sh`` and stopped after.
Prints JSON. Everything (broker, worker, pass-through, this driver) shares the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap", default=None,
                   help="Kafka bootstrap servers (default: start a private broker)")
    p.add_argument("--data", type=Path, help="dataset whose history warms the worker (default: synthetic)")
    p.add_argument("--rate", type=float, default=1000.0,
                   help="fixed load, feedback events per second offered (1000)")
    p.add_argument("--events", type=int, default=20000, help="feedback events per measurement (20000)")
    p.add_argument("--slate-sizes", default="1,10", help="slate sizes to measure, comma-separated (1,10)")
    p.add_argument("--partitions", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    slates = [int(x) for x in str(getattr(args, "slate_sizes", "1,10")).split(",") if x.strip()]
    opts = dict(data=getattr(args, "data", None), rate=float(getattr(args, "rate", 1000.0)),
                events=int(getattr(args, "events", 20000)), slates=slates,
                partitions=int(getattr(args, "partitions", 4) or 4), seed=int(getattr(args, "seed", 0)))
    bootstrap = getattr(args, "bootstrap", None) or os.environ.get("STREAMSIM_BOOTSTRAP") or os.environ.get(
        "KAFKA_BOOTSTRAP")
    with contextlib.ExitStack() as stack:
        if not bootstrap:
            bootstrap = stack.enter_context(local_broker())
        result = asyncio.run(bench(bootstrap, **opts))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    return 0


# ------------------------------------------------------------------------------------------ processes

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_broker() -> Iterator[str]:
    script = ROOT / "scripts" / "kafka-local.sh"
    port, ctl = _free_port(), _free_port()
    env = {**os.environ, "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(ctl),
           "KAFKA_RUN": tempfile.mkdtemp(prefix="streamsim-bench-kafka-")}
    out = subprocess.run(["bash", str(script), "start"], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        from streamsim.errors import StreamsimError

        raise StreamsimError(f"could not start a broker with {script}: {out.stderr.strip()[-400:]}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run(["bash", str(script), "stop"], env=env, capture_output=True)


def _spawn(args: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# ------------------------------------------------------------------------------------------ pass-through

async def _consumer_at_end(bootstrap: str, topic: str, **kw):
    """A started consumer assigned to every partition of ``topic``, positioned at its current end, so
    it sees only what is produced from now on."""
    from aiokafka import AIOKafkaConsumer

    from streamsim.stream.io import partitions_of

    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100, **kw)
    await c.start()
    tps = await partitions_of(c, topic)
    c.assign(tps)
    await c.seek_to_end(*tps)
    for tp in tps:
        await c.position(tp)
    return c


async def passthrough(bootstrap: str, src: str, dst: str, fanout: int, ready: Path) -> None:
    """Consume ``src`` from its end, produce every record ``fanout`` times to ``dst``."""
    from aiokafka import AIOKafkaProducer

    c = await _consumer_at_end(bootstrap, src)
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await p.start()
    ready.write_text("ready")
    try:
        while True:
            batches = await c.getmany(timeout_ms=100, max_records=1000)
            for recs in batches.values():
                for r in recs:
                    for _ in range(fanout):
                        await p.send(dst, value=r.value, key=r.key)
    finally:
        await p.stop()
        await c.stop()


# ------------------------------------------------------------------------------------------ measuring

def _rec_id(value: bytes) -> str:
    d = orjson.loads(value)
    return d.get("recommendation_id") or d["event_id"]


def _percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def measure(bootstrap: str, topic_in: str, topic_out: str, recs: list[tuple[bytes, bytes, str]],
                  fanout: int, rate: float) -> dict:
    """Send ``recs`` (key, value, id) at ``rate`` per second (0: as fast as possible) and time every
    output record until ``len(recs) * fanout`` have arrived."""
    from aiokafka import AIOKafkaProducer

    c = await _consumer_at_end(bootstrap, topic_out, max_poll_records=5000)
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0 if rate else 5)
    await p.start()
    sent: dict[str, float] = {}
    latencies: list[float] = []
    want = len(recs) * fanout
    t_last = 0.0

    async def consume() -> None:
        nonlocal t_last
        while len(latencies) < want:
            batches = await c.getmany(timeout_ms=200)
            now = time.perf_counter()
            for records in batches.values():
                for r in records:
                    t = sent.get(_rec_id(r.value))
                    if t is not None:
                        latencies.append(now - t)
                        t_last = now

    consumer = asyncio.create_task(consume())
    t0 = time.perf_counter()
    for i, (key, value, rid) in enumerate(recs):
        if rate:
            ahead = t0 + i / rate - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(ahead)
        sent[rid] = time.perf_counter()
        await p.send(topic_in, value=value, key=key)
    t_sent = time.perf_counter()
    try:
        await asyncio.wait_for(consumer, timeout=max(120.0, 5 * len(recs) / max(rate, 1.0)))
    except TimeoutError:
        pass
    await p.stop()
    await c.stop()
    got = len(latencies)
    elapsed = (t_last - t0) if got else float("nan")
    load = os.getloadavg()[0]  # other processes on the machine skew every figure: say how busy it was
    ms = [1000 * x for x in latencies] or [float("nan")]
    return {"recommendations": len(recs), "feedback_expected": want, "feedback_received": got,
            "offered_recommendations_per_s": round(len(recs) / (t_sent - t0), 1),
            "feedback_per_s": round(got / elapsed, 1) if got else 0.0,
            "latency_ms": {"p50": round(_percentile(ms, 0.50), 2), "p99": round(_percentile(ms, 0.99), 2),
                           "max": round(max(ms), 2), "mean": round(statistics.fmean(ms), 2)},
            "loadavg_1m_after": round(load, 2)}


# ------------------------------------------------------------------------------------------ the run

async def _wait_file(path: Path, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"process not ready; log {log}:\n{log.read_text(errors='replace')[-2000:]}")
        await asyncio.sleep(0.1)


async def bench(bootstrap: str, *, data: Path | None, rate: float, events: int, slates: list[int],
                partitions: int, seed: int) -> dict:
    from aiokafka.admin import NewTopic

    from streamsim.events import RecommendationEvent, encode
    from streamsim.stream import config
    from streamsim.stream.admin import admin_client, create_topics
    from streamsim.stream.cli_replay import replay
    from streamsim.stream.replay import plan_replay

    if data is not None:
        from streamsim.data.io import load_dataset

        ds = load_dataset(data)
    else:
        from streamsim.stream.synthetic import synthetic_dataset

        ds = synthetic_dataset()
    plan = plan_replay(ds)
    prefix = f"bench-{uuid.uuid4().hex[:6]}-"
    cfg = config.from_args(None, bootstrap=bootstrap, prefix=prefix, partitions=partitions)
    await create_topics(cfg)
    work = Path(tempfile.mkdtemp(prefix="streamsim-bench-"))
    worker_log = work / "worker.log"
    worker = _spawn(["-m", "streamsim", "worker", "--bootstrap", bootstrap, "--prefix", prefix,
                     "--partitions", str(partitions), "--seed", str(seed)], worker_log,
                    env={"STREAMSIM_DATADIR": str(work)})
    result: dict = {"bootstrap": bootstrap, "cores": len(os.sched_getaffinity(0)), "partitions": partitions,
                    "dataset": ds.name, "history_events": len(plan.history), "rate": rate,
                    "python": sys.version.split()[0]}
    try:
        t0 = time.perf_counter()
        await replay(cfg, dataclasses.replace(plan, recommendations=[]), progress=False, wait_timeout=600)
        result["warmup_s"] = round(time.perf_counter() - t0, 1)
        users = sorted({x.user_id for x in ds.interactions})
        items = sorted(f.item_id for f in plan.features)
        rng = random.Random(seed)
        for k in slates:
            n_recs = max(100, events // k)

            def recs(tag: str, n: int, k: int = k) -> list[tuple[bytes, bytes, str]]:
                out = []
                for i in range(n):
                    u = rng.choice(users)
                    r = RecommendationEvent(f"{tag}-{k}-{i}", u, "bench", tuple(rng.sample(items, k)), None)
                    out.append((u.encode(), encode(r), r.event_id))
                return out

            row: dict = {}
            t_recs, t_fb = cfg.topic("recommendations"), cfg.topic("feedback")
            fixed_n = max(100, min(n_recs, int(10 * rate / k)))  # about 10 s of fixed load
            # warm the broker's JIT and the worker's caches: a burst, then a second of the fixed load
            await measure(bootstrap, t_recs, t_fb, recs("burst", max(100, 5000 // k)), k, 0)
            await measure(bootstrap, t_recs, t_fb, recs("warm", fixed_n // 10), k, rate / k)
            row["streamsim_fixed_rate"] = await measure(bootstrap, t_recs, t_fb, recs("fixed", fixed_n), k,
                                                        rate / k)
            row["streamsim_max"] = await measure(bootstrap, t_recs, t_fb, recs("max", n_recs), k, 0)

            pt_in, pt_out = f"{prefix}pt-in-{k}", f"{prefix}pt-out-{k}"
            async with admin_client(bootstrap) as admin:
                await admin.create_topics([NewTopic(pt_in, partitions, 1), NewTopic(pt_out, partitions, 1)])
            ready, pt_log = work / f"pt-{k}.ready", work / f"pt-{k}.log"
            pt = _spawn(["-m", "streamsim.stream.bench", "--passthrough", bootstrap, pt_in, pt_out, str(k),
                         str(ready)], pt_log)
            try:
                await _wait_file(ready, pt, pt_log)
                await measure(bootstrap, pt_in, pt_out, recs("ptburst", max(100, 5000 // k)), k, 0)
                await measure(bootstrap, pt_in, pt_out, recs("ptwarm", fixed_n // 10), k, rate / k)
                row["passthrough_fixed_rate"] = await measure(bootstrap, pt_in, pt_out,
                                                              recs("ptfixed", fixed_n), k, rate / k)
                row["passthrough_max"] = await measure(bootstrap, pt_in, pt_out, recs("ptmax", n_recs), k, 0)
            finally:
                _stop(pt)
            s, c = row["streamsim_max"]["feedback_per_s"], row["passthrough_max"]["feedback_per_s"]
            row["max_throughput_ratio_to_passthrough"] = round(s / c, 3) if c else None
            row["targets"] = {
                "feedback_per_s_at_least_5000": s >= 5000,
                "p99_below_100ms_at_fixed_rate": row["streamsim_fixed_rate"]["latency_ms"]["p99"] < 100,
            }
            result[f"slate_size_{k}"] = row
    finally:
        _stop(worker)
    result["worker_log"] = str(worker_log)
    return result


def _main(argv: list[str]) -> int:
    if argv and argv[0] == "--passthrough":
        bootstrap, src, dst, fanout, ready = argv[1:6]
        asyncio.run(passthrough(bootstrap, src, dst, int(fanout), Path(ready)))
        return 0
    p = argparse.ArgumentParser(prog="python -m streamsim.stream.bench")
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
