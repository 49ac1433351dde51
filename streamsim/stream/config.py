"""Settings shared by the worker, the replay job, the topic admin and the benchmark.

Every setting has a CLI flag and an environment variable; the flag wins. Topic names are
``<prefix><name>`` with names from ``topics/topics.json``, so several deployments (or test runs) can share
one broker.
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from streamsim.errors import StreamsimError
from streamsim.events import DEFAULT_MAX_BYTES, topics_dir

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
TOPIC_KEYS = ("recommendations", "interactions", "feedback", "items", "item-features", "dead-letter")


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str  # the base name in topics.json; the real name is prefixed
    schema: str
    key: str
    scope: str  # "user": keyed by user id and co-partitioned; "item"; "any"
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)


@functools.cache
def topic_specs() -> dict[str, TopicSpec]:
    path = topics_dir() / "topics.json"
    try:
        doc = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise StreamsimError(f"{path} not found (set STREAMSIM_TOPICS_DIR)") from None
    specs = {t["name"]: TopicSpec(t["name"], t["schema"], t["key"], t.get("scope", "any"),
                                  int(t["partitions"]), {k: str(v) for k, v in t.get("config", {}).items()})
             for t in doc["topics"]}
    missing = set(TOPIC_KEYS) - set(specs)
    if missing:
        raise StreamsimError(f"{path}: topics missing: {', '.join(sorted(missing))}")
    return specs


def _env(name: str, default: Any) -> Any:
    v = os.environ.get(name)
    return default if v in (None, "") else type(default)(v) if default is not None else v


@dataclass(frozen=True, slots=True)
class StreamConfig:
    bootstrap: str = DEFAULT_BOOTSTRAP
    prefix: str = ""  # prepended to every topic name and to the app id
    app_id: str = "streamsim"
    partitions: int | None = None  # user-scoped topics; None: as in topics.json
    seed: int = 0
    like_threshold: float = 3.0
    max_event_bytes: int = DEFAULT_MAX_BYTES
    web_port: int | None = None  # None: faust's web server off
    batch_max: int = 500  # recommendations per stream.take() batch
    batch_within: float = 0.005  # seconds stream.take() waits to fill a batch of recommendations
    # interactions are not latency-bound and each batch ends with a model checkpoint per shard, so they
    # are taken in larger batches
    interaction_batch_max: int = 2000
    interaction_batch_within: float = 0.05
    commit_interval: float = 0.5
    analyzer: str = "offline"  # enrichment: "offline", "llm", "none" or "module:Class"
    catalog_barrier: bool = True
    loglevel: str = "warn"

    @property
    def group_id(self) -> str:
        """The worker's consumer group: faust uses the app id."""
        return f"{self.prefix}{self.app_id}"

    def topic(self, name: str) -> str:
        if name not in TOPIC_KEYS:
            raise KeyError(name)
        return f"{self.prefix}{name}"

    def spec(self, name: str) -> TopicSpec:
        s = topic_specs()[name]
        if s.scope == "user" and self.partitions is not None:
            s = replace(s, partitions=self.partitions)
        return s

    @property
    def user_partitions(self) -> int:
        return self.spec("recommendations").partitions

    def with_(self, **kw: Any) -> StreamConfig:
        return replace(self, **kw)


def add_arguments(p: argparse.ArgumentParser, *, worker: bool = False) -> None:
    """Connection and naming flags every streaming command takes."""
    p.add_argument("--bootstrap", default=None,
                   help="Kafka bootstrap servers (env STREAMSIM_BOOTSTRAP, KAFKA_BOOTSTRAP; "
                        f"{DEFAULT_BOOTSTRAP})")
    p.add_argument("--prefix", default=None,
                   help="topic and app-id prefix (env STREAMSIM_TOPIC_PREFIX; none)")
    p.add_argument("--app-id", default=None,
                   help="faust app id = consumer group (env STREAMSIM_APP_ID; streamsim)")
    p.add_argument("--partitions", type=int, default=None,
                   help="partitions of the user-scoped topics = model shards (env STREAMSIM_PARTITIONS; "
                        "topics.json)")
    if worker:
        p.add_argument("--seed", type=int, default=None,
                       help="seed of the tie-breaking coins (env STREAMSIM_SEED; 0)")
        p.add_argument("--like-threshold", type=float, default=None, help="rating >= this is a like (3)")
        p.add_argument("--max-event-bytes", type=int, default=None,
                       help=f"larger records go to the dead-letter topic (env STREAMSIM_MAX_EVENT_BYTES; "
                            f"{DEFAULT_MAX_BYTES})")
        p.add_argument("--web-port", type=int, default=None,
                       help="serve faust's web views on this port (0: a free one; default off)")
        p.add_argument("--batch-max", type=int, default=None, help="events per processing batch (500)")
        p.add_argument("--batch-within", type=float, default=None,
                       help="seconds to wait to fill a batch (0.005)")
        p.add_argument("--analyzer", default=None,
                       help="enrichment analyzer: offline (default), llm, none, or module:Class "
                            "(env STREAMSIM_ANALYZER)")
        p.add_argument("--no-catalog-barrier", action="store_true",
                       help="do not wait for item features published before an event (faster, less exact)")
        p.add_argument("--loglevel", default=None, choices=("crit", "error", "warn", "info", "debug"))


def from_args(args: argparse.Namespace | None = None, **overrides: Any) -> StreamConfig:
    """Flags, then environment, then defaults."""
    a = vars(args) if args is not None else {}

    def pick(flag: str, env: str, default: Any) -> Any:
        v = a.get(flag)
        return v if v is not None else _env(env, default)

    bootstrap = a.get("bootstrap") or os.environ.get("STREAMSIM_BOOTSTRAP") or os.environ.get(
        "KAFKA_BOOTSTRAP") or DEFAULT_BOOTSTRAP
    bootstrap = ",".join(b.strip().removeprefix("kafka://") for b in bootstrap.split(","))
    partitions = a.get("partitions") or (int(os.environ["STREAMSIM_PARTITIONS"])
                                         if os.environ.get("STREAMSIM_PARTITIONS") else None)
    cfg = StreamConfig(
        bootstrap=bootstrap,
        prefix=pick("prefix", "STREAMSIM_TOPIC_PREFIX", ""),
        app_id=pick("app_id", "STREAMSIM_APP_ID", "streamsim"),
        partitions=partitions,
        seed=pick("seed", "STREAMSIM_SEED", 0),
        like_threshold=pick("like_threshold", "STREAMSIM_LIKE_THRESHOLD", 3.0),
        max_event_bytes=pick("max_event_bytes", "STREAMSIM_MAX_EVENT_BYTES", DEFAULT_MAX_BYTES),
        web_port=a.get("web_port"),
        batch_max=pick("batch_max", "STREAMSIM_BATCH_MAX", 500),
        batch_within=pick("batch_within", "STREAMSIM_BATCH_WITHIN", 0.005),
        interaction_batch_max=_env("STREAMSIM_INTERACTION_BATCH_MAX", 2000),
        interaction_batch_within=_env("STREAMSIM_INTERACTION_BATCH_WITHIN", 0.05),
        analyzer=pick("analyzer", "STREAMSIM_ANALYZER", "offline"),
        catalog_barrier=not a.get("no_catalog_barrier", False),
        loglevel=pick("loglevel", "STREAMSIM_LOGLEVEL", "warn"),
    )
    return cfg.with_(**overrides) if overrides else cfg
