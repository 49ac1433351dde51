"""``streamsim convert``: write the generic dataset format from a public source."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson


def add_arguments(p: argparse.ArgumentParser) -> None:
    from streamsim.data.convert import FORMATS

    p.add_argument("--format", required=True, choices=sorted(FORMATS), help="source format")
    p.add_argument("--src", required=True, type=Path, help="source file or folder")
    p.add_argument("--meta", type=Path, help="item metadata file (amazon-2014, amazon-2018)")
    p.add_argument("--out", required=True, type=Path, help="output folder")


def run(args: argparse.Namespace) -> int:
    from streamsim.data.convert import convert

    summary = convert(args.format, args.src, args.meta, args.out)
    print(orjson.dumps(summary, default=str).decode())
    return 0
