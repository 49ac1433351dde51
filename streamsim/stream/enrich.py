"""Enrichment: items in, item features out (the compacted topic every worker's catalog follows).

The analyzer is pluggable: the offline analyzer by default, ``llm`` for
``streamsim.analysis.llm.LLMAnalyzer`` or any ``module:Class`` implementing ``Analyzer``. An analyzer with
``analyze_async`` is awaited (a batch concurrently, bounded by a semaphore); a synchronous one other than
the offline analyzer runs in a thread. Either way the event loop, and with it every user's decisions,
never waits for the analysis. Corpus-level keyword filtering (``filter_keywords``) needs the whole
catalog, so single items enriched here keep all their keywords.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Sequence

from streamsim.analysis.base import Analyzer, ItemFeatures
from streamsim.analysis.offline import OfflineAnalyzer
from streamsim.errors import StreamsimError
from streamsim.events import ItemEvent, Rejection, decode, encode
from streamsim.stream.processor import Out, Processor, Record

log = logging.getLogger("streamsim.stream")


def load_analyzer(spec: str) -> Analyzer | None:
    """``offline``, ``llm``, ``none`` (no enrichment) or ``module:Class``."""
    if spec in ("", "none"):
        return None
    if spec == "offline":
        return OfflineAnalyzer()
    if spec == "llm":
        from streamsim.analysis.llm import LLMAnalyzer

        return LLMAnalyzer()
    module, _, name = spec.partition(":")
    if not name:
        raise StreamsimError(f"analyzer {spec!r}: expected offline, llm, none or module:Class")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise StreamsimError(f"analyzer {spec!r}: {e}") from None
    return cls()


class Enricher:
    def __init__(self, processor: Processor, analyzer: Analyzer, max_concurrency: int = 8) -> None:
        self.processor = processor
        self.analyzer = analyzer
        self.semaphore = asyncio.Semaphore(max_concurrency)
        self.t_features = processor.cfg.topic("item-features")

    async def _analyze(self, ev: ItemEvent) -> ItemFeatures | None:
        a = self.analyzer
        async with self.semaphore:
            try:
                if hasattr(a, "analyze_async"):
                    return await a.analyze_async(ev.item, list(ev.reviews))
                if isinstance(a, OfflineAnalyzer):  # microseconds: not worth a thread
                    return a.analyze(ev.item, list(ev.reviews))
                return await asyncio.to_thread(a.analyze, ev.item, list(ev.reviews))
            except Exception as e:  # one item's failure must not stop enrichment of the others
                log.warning("analysis of item %r failed: %s", ev.item_id, e)
                return None

    async def enrich(self, records: Sequence[Record]) -> list[Out]:
        """Item features for the items not yet enriched (or sent with reviews), plus dead letters."""
        outs: list[Out] = []
        todo: dict[str, ItemEvent] = {}
        for r in records:
            ev = decode("item", r.value, self.processor.cfg.max_event_bytes)
            if isinstance(ev, Rejection):
                outs.append(self.processor.dead_letter(r, ev))
                continue
            if ev.reviews or not self.processor.is_enriched(ev.item_id):
                todo[ev.item_id] = ev  # the latest request per item wins
        results = await asyncio.gather(*(self._analyze(ev) for ev in todo.values()))
        for f in results:
            if f is not None:
                outs.append(Out(self.t_features, f.item_id.encode(), encode(f)))
        return outs
