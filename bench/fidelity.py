"""Fidelity on every development dataset: convert, evaluate in-process, print one JSON object per dataset
and a Markdown table of all metrics.

    python bench/fidelity.py [--shared ../shared/data] [--out out/fidelity] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson

from streamsim.analysis.embeddings import Embedder
from streamsim.data.convert import convert
from streamsim.data.io import load_dataset
from streamsim.evaluate import evaluate, plot

ROOT = Path(__file__).resolve().parents[1]
MI = "amazon-musical-instruments-5core-2014"
SOURCES = {  # name -> (format, source, meta), relative to the shared data folder
    "amazon-musical-instruments": ("amazon-2014", f"{MI}/Musical_instruments_reviews.csv",
                                   f"{MI}/Music_Instruments_meta_5.csv"),
    "ml-100k": ("movielens-100k", "ml-100k", None),
    "ml-latest-small": ("movielens-latest", "ml-latest-small", None),
    "yelp-kaggle-10k": ("yelp-reviews", "yelp-kaggle-10k/yelp.csv", None),
    "amazon-fashion": ("amazon-2018", "amazon-fashion-5core-2018/AMAZON_FASHION_5.jsonl", None),
}
COLS = ("auc", "accuracy", "balanced_accuracy", "f1_like", "f1_dislike", "logloss")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "fidelity")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    embedder = Embedder()
    table = ["| dataset | model | " + " | ".join(COLS) + " |", "|---|---|" + "---|" * len(COLS)]
    for name, (fmt, src, meta) in SOURCES.items():
        t0 = time.perf_counter()
        folder = args.out / name
        convert(fmt, args.shared / src, args.shared / meta if meta else None, folder)
        ev = evaluate(load_dataset(folder, name), seed=args.seed, embedder=embedder, progress=False)
        (args.out / f"{name}.json").write_bytes(orjson.dumps(ev.report, option=orjson.OPT_INDENT_2))
        plot(ev, args.out / f"{name}.png")
        r = ev.report
        print(orjson.dumps({"dataset": name, "n_decisions": r["n_decisions"], "like_rate": r["like_rate"],
                            "auc": {m: v["auc"] for m, v in r["metrics"].items()},
                            "decisions_per_s": r["decisions_per_s"],
                            "wall_s": round(time.perf_counter() - t0, 1)}).decode(), flush=True)
        for model, m in r["metrics"].items():
            table.append(f"| {name} ({r['n_decisions']}) | {model} | "
                         + " | ".join("-" if m[c] is None else f"{m[c]:.4f}" for c in COLS) + " |")
    (args.out / "table.md").write_text("\n".join(table) + "\n")
    print(f"table: {args.out / 'table.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
