"""The Analyzer contract and the features it produces.

An analyzer reads one item (metadata plus its rated reviews) and returns ``ItemFeatures``. It never sees
held-out interactions: the caller decides which reviews are visible. Corpus-level keyword filtering (the
paper drops too-common and too-rare keywords) runs after all items are analysed: ``filter_keywords``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from streamsim.data.schema import Item


@dataclass(frozen=True, slots=True)
class Review:
    """One rated review of an item, the input of the paper's subjective description (T_sub)."""

    rating: float
    text: str
    liked: bool


@dataclass(frozen=True, slots=True)
class ItemFeatures:
    """What the simulator knows about an item: the paper's D_cate, D_pos and D_neg, with provenance."""

    item_id: str
    categories: tuple[str, ...] = ()
    like_keywords: tuple[str, ...] = ()  # D_pos: pros
    dislike_keywords: tuple[str, ...] = ()  # D_neg: cons
    evidence: Mapping[str, str] = field(default_factory=dict)  # keyword -> the text it came from
    n_reviews: int = 0
    like_rate: float | None = None  # share of visible ratings that are likes; None without ratings
    analyzer: str = ""  # e.g. "offline/1" or "llm/<model>/<prompt version>"

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "categories": list(self.categories),
            "like_keywords": list(self.like_keywords),
            "dislike_keywords": list(self.dislike_keywords),
            "evidence": dict(self.evidence),
            "n_reviews": self.n_reviews,
            "like_rate": self.like_rate,
            "analyzer": self.analyzer,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ItemFeatures:
        return cls(
            item_id=str(d["item_id"]),
            categories=tuple(d.get("categories") or ()),
            like_keywords=tuple(d.get("like_keywords") or ()),
            dislike_keywords=tuple(d.get("dislike_keywords") or ()),
            evidence=dict(d.get("evidence") or {}),
            n_reviews=int(d.get("n_reviews") or 0),
            like_rate=d.get("like_rate"),
            analyzer=str(d.get("analyzer") or ""),
        )


class Analyzer(ABC):
    """Produces ``ItemFeatures`` for one item. Implementations: offline (no network), LLM."""

    #: name and version go into every feature record and feedback event, and into cache keys
    name: str = "analyzer"
    version: str = "0"

    @property
    def tag(self) -> str:
        return f"{self.name}/{self.version}"

    @abstractmethod
    def analyze(self, item: Item, reviews: list[Review]) -> ItemFeatures:
        """Describe one item from its metadata and its visible rated reviews."""


def filter_keywords(features: Iterable[ItemFeatures], *, min_items: int = 2,
                    max_item_fraction: float = 0.5) -> list[ItemFeatures]:
    """Drop keywords that are too rare (in fewer than ``min_items`` items) or too common (in more than
    ``max_item_fraction`` of items), as the paper does; it gives no thresholds, these are ours.
    Counted per side, so a word may be a common con yet a distinctive pro."""
    features = list(features)
    n = max(len(features), 1)
    limit = max(min_items, int(max_item_fraction * n))
    pos = Counter(k for f in features for k in set(f.like_keywords))
    neg = Counter(k for f in features for k in set(f.dislike_keywords))

    def keep(words: tuple[str, ...], df: Counter) -> tuple[str, ...]:
        return tuple(k for k in words if min_items <= df[k] <= limit)

    out = []
    for f in features:
        like, dislike = keep(f.like_keywords, pos), keep(f.dislike_keywords, neg)
        ev = {k: v for k, v in f.evidence.items() if k in like or k in dislike}
        out.append(replace(f, like_keywords=like, dislike_keywords=dislike, evidence=ev))
    return out
