"""``streamsim evaluate``: the fidelity report (in-process, or from the Kafka feedback topic)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, type=Path, help="dataset folder in the generic format")
    p.add_argument("--out", type=Path, default=Path("report.json"), help="report path (a PNG goes beside it)")
    p.add_argument("--like-threshold", type=float, default=3.0, help="rating >= this is a like (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed for tie-breaking coins (default 0)")
    p.add_argument("--partitions", type=int, default=1,
                   help="shards of the statistical model, as in a worker reading N partitions (default 1)")
    p.add_argument("--features", type=Path, help="item features (JSON lines), e.g. from `streamsim annotate`")
    p.add_argument("--from-topic", action="store_true",
                   help="build the report from the Kafka feedback topic instead of simulating in-process")
    p.add_argument("--bootstrap", default=None, help="Kafka bootstrap servers (with --from-topic)")
    p.add_argument("--no-plot", action="store_true", help="skip the ROC/calibration PNG")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    if args.from_topic:
        from streamsim.stream.evaluate_topic import run_from_topic

        return run_from_topic(args)
    from streamsim.data.io import load_dataset
    from streamsim.evaluate import evaluate, load_features, plot, summary_table

    ds = load_dataset(args.data)
    features = load_features(args.features) if args.features else None
    ev = evaluate(ds, like_threshold=args.like_threshold, seed=args.seed, n_shards=args.partitions,
                  features=features, progress=not args.quiet)
    write_outputs(ev, args.out, plot_png=not args.no_plot, plot=plot)
    print(summary_table(ev.report))
    return 0


def write_outputs(ev, out: Path, *, plot_png: bool, plot) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(ev.report, option=orjson.OPT_INDENT_2))
    print(f"report: {out}", file=sys.stderr)
    if plot_png:
        png = out.with_suffix(".png")
        plot(ev, png)
        print(f"plot:   {png}", file=sys.stderr)
