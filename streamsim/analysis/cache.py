"""A persistent cache of item features: one SQLite file, keyed by the sha256 of everything that
determines an analysis (item content, the visible reviews in order, the analyzer's tag with model and
prompt version). A warm cache makes an annotation run without any LLM call. Only features are stored:
no settings, no endpoint, no key."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from streamsim.analysis.base import ItemFeatures, Review
from streamsim.data.schema import Item
from streamsim.errors import StreamsimError

__all__ = ["FeatureCache", "CacheError", "cache_key"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS features (
    key TEXT PRIMARY KEY,
    item_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL
)"""


class CacheError(StreamsimError):
    """The cache file cannot be opened or is not a cache."""


def cache_key(item: Item, reviews: Sequence[Review], tag: str) -> str:
    payload = {
        "item": [item.item_id, item.title, list(item.categories), item.description],
        "reviews": [[r.rating, r.text, r.liked] for r in reviews],
        "tag": tag,
    }
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


class FeatureCache:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.hits = self.misses = self.puts = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # autocommit: every put is durable at once, so an interrupted run keeps what it paid for
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 5000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute(_SCHEMA)
        except (sqlite3.Error, OSError) as e:
            raise CacheError(f"{self.path}: cannot use as feature cache ({e}); delete it or choose "
                             "another cache path") from None

    @staticmethod
    def key(item: Item, reviews: Sequence[Review], tag: str) -> str:
        return cache_key(item, reviews, tag)

    def get(self, key: str) -> ItemFeatures | None:
        try:
            row = self._db.execute("SELECT value FROM features WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as e:
            raise CacheError(f"{self.path}: cannot read the cache ({e})") from None
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return ItemFeatures.from_dict(orjson.loads(row[0]))

    def put(self, key: str, features: ItemFeatures) -> None:
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO features (key, item_id, tag, value, created) VALUES (?, ?, ?, ?, ?)",
                (key, features.item_id, features.analyzer, orjson.dumps(features.to_dict()).decode(),
                 time.time()))
        except sqlite3.Error as e:
            raise CacheError(f"{self.path}: cannot write the cache ({e})") from None
        self.puts += 1

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM features").fetchone()[0]

    @property
    def hit_rate(self) -> float | None:
        n = self.hits + self.misses
        return self.hits / n if n else None

    def stats(self) -> dict[str, Any]:
        return {"hits": self.hits, "misses": self.misses, "puts": self.puts, "hit_rate": self.hit_rate}

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
