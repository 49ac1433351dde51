"""Keyword embeddings without torch and without a download: WordLlama's weights ship in its wheel.

The paper embeds each keyword with BERT and average-pools an item's keywords (E_pos, E_neg). WordLlama
(256-d) stands in for BERT; ``Embedder`` caches each keyword's vector, so an item is embedded once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

DIM = 256


def _import_wordllama():
    """wordllama calls ``logging.basicConfig(level=INFO)`` on import, which would make every library's
    INFO messages appear in our output; undo that side effect."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    import wordllama  # local import: loading weights is the slow part and not every command needs it

    for h in root.handlers[:]:
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)
    return wordllama


class Embedder:
    """Keyword -> unit vector, cached. ``version`` names the model for provenance."""

    version = "wordllama-l2-supercat-256"

    def __init__(self) -> None:
        wordllama = _import_wordllama()

        # The default loader looks for the tokenizer in the wrong folder and then tries to download it.
        self._model = wordllama.WordLlama.load(
            cache_dir=Path(wordllama.__file__).parent, disable_download=True, dim=DIM)
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, keywords: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per keyword (float32)."""
        missing = [k for k in dict.fromkeys(keywords) if k not in self._cache]
        if missing:
            vecs = np.asarray(self._model.embed(missing), dtype=np.float32)
            vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
            self._cache.update(zip(missing, vecs, strict=True))
        if not keywords:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([self._cache[k] for k in keywords])

    def pool(self, keywords: Sequence[str]) -> np.ndarray:
        """The paper's AvgPool over an item's keywords, re-normalised so a dot product is a cosine.
        An item without keywords gets the zero vector (cosine 0 with everything)."""
        if not keywords:
            return np.zeros(DIM, dtype=np.float32)
        v = self.embed(keywords).mean(axis=0)
        n = float(np.linalg.norm(v))
        return v / n if n > 0 else v
