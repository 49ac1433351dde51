"""``streamsim annotate``: item features from an LLM for a whole dataset.

Reviews come only from the history part of the evaluation protocol's split: held-out interactions are
never shown to the analyzer. Features are cached per item (``FeatureCache``), so a re-run pays only for
items that changed or failed; corpus-level keyword filtering runs after all items are analysed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from tqdm import tqdm

from streamsim.analysis.base import Analyzer, ItemFeatures, Review, filter_keywords
from streamsim.analysis.cache import FeatureCache
from streamsim.analysis.llm import LLMAnalyzer, LLMEndpointError, LLMError, LLMSettings
from streamsim.data.schema import Item
from streamsim.errors import StreamsimError
from streamsim.protocol import split_holdout, visible_reviews

__all__ = ["annotate_items", "add_arguments", "run"]

DEFAULT_CACHE = Path(".cache") / "llm-features.sqlite"


def _failed_features(item: Item, reviews: Sequence[Review], tag: str) -> ItemFeatures:
    """What is known without the LLM, so that the item still has its categories and like rate."""
    likes = [r.liked for r in reviews]
    return ItemFeatures(item_id=item.item_id, categories=tuple(item.categories), n_reviews=len(reviews),
                        like_rate=sum(likes) / len(likes) if likes else None, analyzer=f"{tag}+failed")


async def annotate_items(items: Mapping[str, Item], reviews: Mapping[str, Sequence[Review]],
                         analyzer: Analyzer, cache: FeatureCache | None = None, progress: bool = True,
                         *, items_in_flight: int | None = None
                         ) -> tuple[dict[str, ItemFeatures], dict[str, Any]]:
    """Features for every item (in the order of ``items``) and a summary of the run.

    Cached items make no call. Items whose every LLM call failed get features without keywords (tagged
    ``<analyzer>+failed``) and are not cached; items with some failed calls keep what succeeded and are
    not cached either, so a re-run retries them. ``items_in_flight`` bounds how many items are analysed
    at once (the analyzer's own limits bound the requests); the default keeps its semaphore busy.
    """
    t0 = time.monotonic()
    stats = getattr(analyzer, "stats", None)
    before = stats.snapshot() if stats is not None else {}
    tag = getattr(analyzer, "cache_tag", analyzer.tag)
    out: dict[str, ItemFeatures] = {}
    todo: list[tuple[Item, Sequence[Review], str | None]] = []
    hits = 0
    for item_id, item in items.items():
        revs = reviews.get(item_id, ())
        key = cache.key(item, revs, tag) if cache is not None else None
        cached = cache.get(key) if cache is not None and key is not None else None
        if cached is not None:
            out[item_id] = cached
            hits += 1
        else:
            todo.append((item, revs, key))

    failed: list[str] = []
    partial = 0
    if items_in_flight is None:
        settings = getattr(analyzer, "settings", None)
        items_in_flight = max(4, 2 * getattr(settings, "concurrency", 2))
    gate = asyncio.Semaphore(items_in_flight)
    bar = tqdm(total=len(items), initial=hits, disable=not progress, unit="item", desc="annotate",
               file=sys.stderr)

    async def one(item: Item, revs: Sequence[Review], key: str | None) -> None:
        nonlocal partial
        async with gate:
            complete = True
            try:
                if hasattr(analyzer, "analyze_report"):
                    res = await analyzer.analyze_report(item, revs)
                    f, complete = res.features, res.complete
                elif hasattr(analyzer, "analyze_async"):
                    f = await analyzer.analyze_async(item, list(revs))
                else:
                    f = analyzer.analyze(item, list(revs))
            except LLMEndpointError:
                raise  # wrong key, URL or model: every item would fail the same way
            except LLMError:
                failed.append(item.item_id)
                f, complete = _failed_features(item, revs, analyzer.tag), False
            else:
                partial += not complete
            out[item.item_id] = f
            if cache is not None and key is not None and complete:
                cache.put(key, f)
            bar.update(1)

    try:
        async with asyncio.TaskGroup() as tg:
            for job in todo:
                tg.create_task(one(*job))
    except ExceptionGroup as eg:
        for e in eg.exceptions:
            if isinstance(e, StreamsimError):
                raise e from None
        raise
    finally:
        bar.close()

    after = stats.snapshot() if stats is not None else {}
    delta = {k: after[k] - before.get(k, 0) for k in ("calls", "requests", "retries", "reasks", "fallbacks",
                                                       "failures", "prompt_tokens", "completion_tokens")
             if k in after}
    summary: dict[str, Any] = {
        "items": len(items),
        "analyzed": len(todo),
        "cache_hits": hits,
        "cache_hit_rate": round(hits / len(items), 4) if items else None,
        "items_failed": len(failed),
        "items_partial": partial,
        **{k: delta.get(k, 0) for k in ("calls", "requests", "retries", "reasks", "fallbacks", "failures",
                                        "prompt_tokens", "completion_tokens")},
        "format_mode": getattr(analyzer, "format_mode", None),
        "analyzer": analyzer.tag,
        "wall_s": round(time.monotonic() - t0, 3),
    }
    return {i: out[i] for i in items}, summary


# ------------------------------------------------------------------------------------------ CLI

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="dataset folder (generic format)")
    p.add_argument("--out", required=True, type=Path, help="features file to write (JSON lines)")
    g = p.add_argument_group("endpoint (defaults from OPENAI_BASE_URL, OPENAI_API_KEY, STREAMSIM_LLM_MODEL)")
    g.add_argument("--base-url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1")
    g.add_argument("--model", help="model name")
    g.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="VAR",
                   help="environment variable holding the API key (never pass a key on the command line)")
    g = p.add_argument_group("limits")
    g.add_argument("--rps", type=int, help="request starts per --period seconds (default 5)")
    g.add_argument("--period", type=float, help="rate window in seconds (default 1)")
    g.add_argument("--concurrency", type=int, help="requests in flight (default 4)")
    g.add_argument("--tpm", type=int, help="token budget per minute, estimated (default: none)")
    g.add_argument("--timeout", type=float, help="seconds per HTTP attempt (default 60)")
    g.add_argument("--max-retries", type=int, help="client retries per call (default 2)")
    g.add_argument("--max-reviews", type=int, dest="max_reviews_per_item",
                   help="reviews analysed per item (default 10)")
    g.add_argument("--max-review-chars", type=int, help="review text cap (default 1500)")
    g.add_argument("--max-tokens", type=int, help="completion tokens per call (default 700)")
    g.add_argument("--domain", help="what an item is called in the prompts (default 'product')")
    g = p.add_argument_group("run")
    g.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                   help=f"feature cache (default {DEFAULT_CACHE})")
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    g.add_argument("--like-threshold", type=float, default=3.0, help="rating >= this is a like (default 3)")
    g.add_argument("--min-interactions", type=int, default=3,
                   help="users with at least this many interactions have their last one held out (default 3)")
    g.add_argument("--limit", type=int, help="annotate only the first N items")
    g.add_argument("--no-filter", action="store_true", help="skip the corpus-level keyword filter")
    g.add_argument("--min-items", type=int, default=2, help="keyword filter: drop keywords in fewer items")
    g.add_argument("--max-item-fraction", type=float, default=0.2,
                   help="keyword filter: drop keywords in more than this share of items")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def _settings(args: argparse.Namespace) -> LLMSettings:
    names = ("base_url", "model", "rps", "period", "concurrency", "tpm", "timeout", "max_retries",
             "max_reviews_per_item", "max_review_chars", "max_tokens", "domain")
    overrides = {n: getattr(args, n, None) for n in names}
    key_var = getattr(args, "api_key_env", "OPENAI_API_KEY") or "OPENAI_API_KEY"
    if key_var != "OPENAI_API_KEY":
        if not os.environ.get(key_var):
            raise LLMError(f"environment variable {key_var} (--api-key-env) is not set")
        overrides["api_key"] = os.environ[key_var]
    return LLMSettings.from_env(**overrides)


def _write_jsonl(path: Path, features: Sequence[ItemFeatures]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as fh:
            for f in features:
                fh.write(orjson.dumps(f.to_dict()) + b"\n")
        tmp.replace(path)  # never leave a half-written features file behind
    except OSError as e:
        raise StreamsimError(f"{path}: cannot write features ({e.strerror})") from None


def run(args: argparse.Namespace) -> int:
    from streamsim.data.io import load_dataset

    t0 = time.monotonic()
    analyzer = LLMAnalyzer(_settings(args))  # settings errors before any data is read
    settings = analyzer.settings
    if args.limit is not None and args.limit < 1:
        raise StreamsimError("--limit must be at least 1")
    ds = load_dataset(args.data)
    history, _held_out = split_holdout(ds.interactions, args.min_interactions)  # held-out never analysed
    reviews = visible_reviews(history, args.like_threshold)
    items = dict(ds.items)
    for x in ds.interactions:
        items.setdefault(x.item_id, Item(x.item_id))
    if args.limit is not None:
        items = dict(list(items.items())[: args.limit])
    if not items:
        raise StreamsimError(f"{args.data}: the dataset has no items")

    cache = None if args.no_cache else FeatureCache(args.cache)

    async def main() -> tuple[dict[str, ItemFeatures], dict[str, Any]]:
        async with analyzer:
            return await annotate_items(items, reviews, analyzer, cache, progress=not args.no_progress)

    try:
        features, summary = asyncio.run(main())
    finally:
        if cache is not None:
            cache.close()
    result = list(features.values())
    if not args.no_filter:
        result = filter_keywords(result, min_items=args.min_items, max_item_fraction=args.max_item_fraction)
    _write_jsonl(args.out, result)
    summary["wall_s"] = round(time.monotonic() - t0, 3)
    summary["out"] = str(args.out)
    print(orjson.dumps(summary).decode())
    if summary["items_failed"] == len(items):
        raise LLMError(f"all {len(items)} items failed: no answer from {settings.base_url or 'the API'} "
                       f"with model {settings.model!r} (see the warnings above)")
    if summary["items_failed"]:
        print(f"streamsim annotate: {summary['items_failed']} item(s) failed and have no keywords; "
              "run again to retry them (the others are cached)", file=sys.stderr)
        return 1
    return 0
