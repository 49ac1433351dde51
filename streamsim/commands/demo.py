"""``streamsim demo``: the main job. Converts the bundled MovieLens latest-small, evaluates the simulator
on it (held-out last interaction per user) and prints the fidelity table. Well under two minutes."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import streamsim

BUNDLED = Path(streamsim.__file__).resolve().parents[1] / "datasets" / "ml-latest-small"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--src", type=Path, default=BUNDLED, help="MovieLens latest-small folder (bundled)")
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="where the report and plot go")
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from streamsim.commands.evaluate import write_outputs
    from streamsim.data.convert import convert
    from streamsim.data.io import load_dataset
    from streamsim.errors import StreamsimError
    from streamsim.evaluate import evaluate, plot, summary_table

    if not (args.src / "ratings.csv").exists():
        raise StreamsimError(f"{args.src}: MovieLens latest-small not found (ratings.csv missing)")
    t0 = time.perf_counter()
    data = args.out / "ml-latest-small"
    print(f"converting {args.src} -> {data}", file=sys.stderr)
    convert("movielens-latest", args.src, None, data)
    ds = load_dataset(data)
    ev = evaluate(ds, seed=args.seed, progress=True)
    write_outputs(ev, args.out / "report.json", plot_png=True, plot=plot)
    print(summary_table(ev.report))
    print(f"decisions/s {ev.report['decisions_per_s']}, wall {time.perf_counter() - t0:.1f}s",
          file=sys.stderr)
    return 0
