"""The generic dataset records. A dataset is a folder with ``interactions.{csv,jsonl}`` and optionally
``items.{csv,jsonl}``; see ``streamsim.data.io`` for reading and writing it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Interaction:
    user_id: str
    item_id: str
    rating: float
    timestamp: int | None = None  # unix seconds; None when the source has none
    review: str = ""


@dataclass(frozen=True, slots=True)
class Item:
    item_id: str
    title: str = ""
    categories: tuple[str, ...] = ()
    description: str = ""


@dataclass
class Dataset:
    name: str
    interactions: list[Interaction]
    items: dict[str, Item] = field(default_factory=dict)
