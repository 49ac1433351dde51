"""LLM annotation against the project's test server: calls, retries, the busiest one-second window
against the rate limit, in-flight requests against the concurrency cap, and a second run on the warm
cache. Prints one JSON object.

    .venv/bin/python bench/llm_rate.py [--items 50] [--rps 10] [--concurrency 4] [--max-reviews 3]

Data: the first N items of Amazon Musical Instruments (../shared/data), converted with the project's
converter, reviews from the history part of the split only; a small hand-built set if that fails.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import orjson

from streamsim.analysis.annotate import annotate_items
from streamsim.analysis.cache import FeatureCache
from streamsim.analysis.llm import LLMAnalyzer, LLMSettings
from streamsim.data.schema import Item
from streamsim.devtools.llm_server import FakeLLMServer
from streamsim.protocol import split_holdout, visible_reviews

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT.parent / "shared" / "data" / "amazon-musical-instruments-5core-2014"


def load_items(n: int, tmp: Path) -> tuple[dict, dict, str]:
    try:
        from streamsim.data.convert import convert
        from streamsim.data.io import load_dataset

        convert("amazon-2014", SRC / "Musical_instruments_reviews.csv", SRC / "Music_Instruments_meta_5.csv",
                tmp / "ds")
        ds = load_dataset(tmp / "ds")
        history, _ = split_holdout(ds.interactions)
        reviews = visible_reviews(history, 3.0)
        items = {i: it for i, it in ds.items.items() if i in reviews}
        items = dict(list(items.items())[:n])
        return items, {i: reviews[i] for i in items}, "amazon-musical-instruments-5core-2014"
    except Exception as e:  # the converter is optional here: fall back to a hand-built set
        print(f"note: using hand-built items ({type(e).__name__}: {e})", file=sys.stderr)
        from streamsim.analysis.base import Review

        items = {f"i{k}": Item(f"i{k}", f"Item {k} guitar accessory", ("Accessories",),
                               f"model {k} with sturdy build and bright finish") for k in range(n)}
        reviews = {i: [Review(5, f"Works well with my amp number {k}", True),
                       Review(2, f"Broke after {k} weeks of light use", False)] for k, i in enumerate(items)}
        return items, reviews, "hand-built"


async def main(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        items, reviews, source = load_items(args.items, Path(tmp))
        faults = {"429": args.fault_rate, "500": args.fault_rate, "malformed": args.fault_rate}
        async with FakeLLMServer(latency=args.latency, probabilities=faults, seed=7) as srv:
            s = LLMSettings(base_url=srv.base_url, api_key="bench", model="fake-llm", rps=args.rps,
                            concurrency=args.concurrency, max_reviews_per_item=args.max_reviews, timeout=10)
            cache = FeatureCache(Path(tmp) / "cache.sqlite")
            async with LLMAnalyzer(s) as an:
                t = time.monotonic()
                _, first = await annotate_items(items, reviews, an, cache, progress=False)
                wall1 = time.monotonic() - t
                n_first = len(srv.requests)
                _, second = await annotate_items(items, reviews, an, cache, progress=False)
            cache.close()
    return {
        "data": source,
        "items": len(items),
        "reviews_visible": sum(len(r) for r in reviews.values()),
        "fault_rate_each": args.fault_rate,
        "calls": first["calls"],
        "http_requests": first["requests"],
        "retries": first["retries"],
        "reasks": first["reasks"],
        "failures": first["failures"],
        "items_failed": first["items_failed"],
        "items_partial": first["items_partial"],
        "prompt_tokens": first["prompt_tokens"],
        "completion_tokens": first["completion_tokens"],
        "rps_limit": args.rps,
        "max_requests_in_any_1s_window": srv.max_in_window(1.0),
        "concurrency_limit": args.concurrency,
        "max_in_flight_at_server": srv.max_in_flight,
        "wall_s": round(wall1, 2),
        "achieved_rps": round(n_first / wall1, 2),
        "second_run_calls": second["calls"],
        "second_run_server_requests": len(srv.requests) - n_first,
        "second_run_cache_hit_rate": second["cache_hit_rate"],
        "second_run_wall_s": second["wall_s"],
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=50)
    p.add_argument("--rps", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--max-reviews", type=int, default=3)
    p.add_argument("--latency", type=float, default=0.05, help="server seconds per answer")
    p.add_argument("--fault-rate", type=float, default=0.03,
                   help="probability of each of 429, 500, malformed")
    print(orjson.dumps(asyncio.run(main(p.parse_args()))).decode())
