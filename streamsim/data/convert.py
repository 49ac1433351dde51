"""Converters from public recommender datasets to the generic format of ``streamsim.data.io``.

``convert(fmt, src, meta, out)`` reads a source with ``FORMATS[fmt]``, drops exact duplicate
interactions, keeps item metadata only for items that have interactions (bare ``Item`` for those
without), writes the result with ``write_dataset`` and returns a summary dict.
"""

from __future__ import annotations

import csv
import html
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

from streamsim.data.io import csv_rows, jsonl_rows, make_interaction, write_dataset
from streamsim.data.schema import Dataset, Interaction, Item
from streamsim.errors import DataError, StreamsimError

__all__ = ["FORMATS", "Converted", "convert"]

LIKE_THRESHOLD = 3.0  # the paper's binarisation: rating >= 3 is a like


class Converted(NamedTuple):
    interactions: list[Interaction]
    items: dict[str, Item]  # metadata by item id, possibly for items without interactions
    extras: dict[str, Any]  # format-specific counts for the summary


def _folder(src: Path) -> Path:
    if not src.is_dir():
        raise DataError("folder not found" if not src.exists() else "expected a folder", str(src))
    return src


def _no_meta(meta: Path | None, fmt: str) -> None:
    if meta is not None:
        raise DataError(f"format {fmt} takes no meta file", str(meta))


def _review(*parts: str | None) -> str:
    return ". ".join(p for p in parts if p and not p.isspace())


def _unescape(value: Any) -> str:
    # Amazon metadata carries HTML entities (&quot;, &amp;) in titles and categories.
    return html.unescape(value) if isinstance(value, str) else ""


def _movielens_100k(src: Path, meta: Path | None) -> Converted:
    _no_meta(meta, "movielens-100k")
    folder = _folder(src)
    raw = {"delimiter": "|", "quoting": csv.QUOTE_NONE}  # titles hold quotes that are not CSV quoting
    genres = [g for _, (g,) in csv_rows(folder / "u.genre", ("genre",), names=("genre", "index"), **raw)]
    head = ("movie id", "movie title", "release date", "video release date", "IMDb URL")
    file = str(folder / "u.item")
    items: dict[str, Item] = {}
    for line, (mid, title, *flags) in csv_rows(folder / "u.item", (head[0], head[1], *genres),
                                               names=(*head, *genres), encoding="latin-1", **raw):
        if not mid:
            raise DataError("empty movie id", file, line, head[0])
        for g, f in zip(genres, flags, strict=True):
            if f not in ("0", "1"):
                raise DataError(f"genre flag {f!r} is not 0 or 1", file, line, g)
        # "unknown" is the absence of a genre, like ml-latest's "(no genres listed)"
        cats = tuple(g for g, f in zip(genres, flags, strict=True) if f == "1" and g != "unknown")
        items.setdefault(mid, Item(mid, title, cats))
    cols = ("user id", "item id", "rating", "timestamp")
    file = str(folder / "u.data")
    inter = [make_interaction(file, line, cols, *v)
             for line, v in csv_rows(folder / "u.data", cols, names=cols, delimiter="\t",
                                     quoting=csv.QUOTE_NONE)]
    return Converted(inter, items, {})


def _movielens_latest(src: Path, meta: Path | None) -> Converted:
    _no_meta(meta, "movielens-latest")
    folder = _folder(src)
    file = str(folder / "movies.csv")
    items: dict[str, Item] = {}
    for line, (mid, title, genres) in csv_rows(folder / "movies.csv", ("movieId", "title", "genres")):
        if not mid:
            raise DataError("empty movie id", file, line, "movieId")
        cats = () if genres == "(no genres listed)" else tuple(g for g in genres.split("|") if g)
        items.setdefault(mid, Item(mid, title, cats))
    tags: dict[tuple[str, str], list[str]] = {}
    n_tags = 0
    if (folder / "tags.csv").exists():
        file = str(folder / "tags.csv")
        for line, (u, m, tag) in csv_rows(folder / "tags.csv", ("userId", "movieId", "tag"), need_rows=False):
            if not u or not m:
                raise DataError("empty id", file, line, "userId" if not u else "movieId")
            if tag.strip():
                tags.setdefault((u, m), []).append(tag.strip())
                n_tags += 1
    cols = ("userId", "movieId", "rating", "timestamp")
    file = str(folder / "ratings.csv")
    inter = [make_interaction(file, line, cols, u, m, r, t, "; ".join(tags.get((u, m), ())))
             for line, (u, m, r, t) in csv_rows(folder / "ratings.csv", cols)]
    rated = {(x.user_id, x.item_id) for x in inter}
    attached = sum(len(v) for k, v in tags.items() if k in rated)
    return Converted(inter, items, {"n_tags": n_tags, "n_tags_attached": attached,
                                    "n_tags_dropped": n_tags - attached})


def _amazon_2014(src: Path, meta: Path | None) -> Converted:
    cols = ("reviewerID", "asin", "overall", "unixReviewTime")
    file = str(src)
    inter = [make_interaction(file, line, cols, u, i, r, t, _review(s, txt))
             for line, (u, i, r, t, s, txt) in csv_rows(src, cols[:3], (cols[3], "summary", "reviewText"))]
    items: dict[str, Item] = {}
    if meta is not None:
        file = str(meta)
        for line, (pid, title, cat) in csv_rows(meta, ("Product ID",), ("Description", "Category")):
            if not pid:
                raise DataError("empty product id", file, line, "Product ID")
            items.setdefault(pid, Item(pid, _unescape(title), (_unescape(cat),) if cat else ()))
    return Converted(inter, items, {})


def _amazon_2018(src: Path, meta: Path | None) -> Converted:
    cols = ("reviewerID", "asin", "overall", "unixReviewTime")
    file = str(src)
    inter = [make_interaction(file, line, cols, o["reviewerID"], o["asin"], o["overall"],
                              o.get("unixReviewTime"), _review(o.get("summary"), o.get("reviewText")))
             for line, o in jsonl_rows(src, cols[:3])]
    # The 2018 release copies one review onto every variant (asin) of a product. Those copies are one
    # judgement, and left in they leak a held-out rating into the history through a sibling asin.
    # Exact duplicates (same asin too) are among them; all are counted as variant copies.
    seen: set[tuple] = set()
    kept = []
    for x in inter:
        key = (x.user_id, x.timestamp, x.rating, x.review)
        if key not in seen:
            seen.add(key)
            kept.append(x)
    items: dict[str, Item] = {}
    if meta is not None:
        file = str(meta)
        for line, o in jsonl_rows(meta, ("asin",)):
            asin, cats, desc = o["asin"], o.get("category") or [], o.get("description") or ""
            if not isinstance(asin, str) or not asin:
                raise DataError("empty or non-text asin", file, line, "asin")
            if not isinstance(cats, list):
                raise DataError("expected a list of categories", file, line, "category")
            desc = " ".join(d for d in desc if isinstance(d, str)) if isinstance(desc, list) else desc
            items.setdefault(asin, Item(asin, _unescape(o.get("title")),
                                        tuple(_unescape(c) for c in cats if c), _unescape(desc)))
    return Converted(kept, items, {"n_variant_copies": len(inter) - len(kept)})


_EPOCH = date(1970, 1, 1)


def _yelp_reviews(src: Path, meta: Path | None) -> Converted:
    _no_meta(meta, "yelp-reviews")
    cols = ("user_id", "business_id", "stars", "date")
    file = str(src)
    inter = []
    for line, (u, b, stars, day, text) in csv_rows(src, cols[:3], ("date", "text")):
        ts = None
        if day:
            try:
                ts = (date.fromisoformat(day.strip()) - _EPOCH).days * 86400  # midnight UTC
            except ValueError:
                raise DataError(f"date {day!r} is not YYYY-MM-DD", file, line, "date") from None
        inter.append(make_interaction(file, line, cols, u, b, stars, ts, text))
    return Converted(inter, {}, {})


FORMATS: dict[str, Callable[[Path, Path | None], Converted]] = {
    "movielens-100k": _movielens_100k,
    "movielens-latest": _movielens_latest,
    "amazon-2014": _amazon_2014,
    "amazon-2018": _amazon_2018,
    "yelp-reviews": _yelp_reviews,
}


def convert(fmt: str, src: Path, meta: Path | None, out: Path) -> dict[str, Any]:
    """Convert ``src`` (plus optional ``meta``) in format ``fmt`` into a dataset folder ``out``."""
    if fmt not in FORMATS:
        raise StreamsimError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    got = FORMATS[fmt](Path(src), Path(meta) if meta is not None else None)
    interactions = list(dict.fromkeys(got.interactions))  # exact duplicates: keep the first
    ids = dict.fromkeys(x.item_id for x in interactions)
    items = {i: got.items.get(i) or Item(i) for i in ids}
    out = Path(out)
    write_dataset(Dataset(out.name, interactions, items), out)
    ratings = [x.rating for x in interactions]
    return {
        "format": fmt,
        "out": str(out),
        "n_interactions": len(interactions),
        "n_users": len({x.user_id for x in interactions}),
        "n_items": len(items),
        "n_dropped_duplicates": len(got.interactions) - len(interactions),
        "n_items_without_meta": sum(i not in got.items for i in ids),
        "n_meta_unused": sum(i not in ids for i in got.items),  # metadata rows for unrated items
        "rating_min": min(ratings),
        "rating_max": max(ratings),
        "mean_rating": sum(ratings) / len(ratings),
        "like_rate": sum(r >= LIKE_THRESHOLD for r in ratings) / len(ratings),
        **got.extras,
    }
