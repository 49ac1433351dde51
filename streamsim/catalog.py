"""The catalog: item features laid out for fast voting.

Per item we keep the paper's D_cate, D_pos, D_neg as bitsets (so |D[c] ∩ D[i]| over a whole history is one
vectorised popcount) and E_pos, E_neg as unit vectors (so the max cosine is one matrix-vector product).
Items are upserted as features arrive (from an analyzer, a features file or the item-features topic).
"""

from __future__ import annotations

import numpy as np

from streamsim.analysis.base import ItemFeatures
from streamsim.analysis.embeddings import DIM, Embedder


class _Vocab:
    """String -> bit position, growing in 64-bit words."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.words: list[str] = []

    def add(self, terms) -> list[int]:
        out = []
        for t in terms:
            i = self.ids.get(t)
            if i is None:
                i = self.ids[t] = len(self.words)
                self.words.append(t)
            out.append(i)
        return out

    @property
    def n_words(self) -> int:
        return max(1, (len(self.words) + 63) // 64)


def _bits(ids: list[int], n_words: int) -> np.ndarray:
    row = np.zeros(n_words, dtype=np.uint64)
    for i in ids:
        row[i >> 6] |= np.uint64(1) << np.uint64(i & 63)
    return row


def _decode(row: np.ndarray, vocab: _Vocab) -> list[str]:
    out = []
    for w in np.flatnonzero(row).tolist():
        word = int(row[w])
        while word:
            low = word & -word
            out.append(vocab.words[(w << 6) + low.bit_length() - 1])
            word ^= low
    return out


class Catalog:
    """Item features plus their vectorised forms. ``index[item_id]`` is the row of an item."""

    def __init__(self, embedder: Embedder, capacity: int = 1024) -> None:
        self.embedder = embedder
        self.index: dict[str, int] = {}
        self.features: list[ItemFeatures] = []
        self.keywords, self.categories = _Vocab(), _Vocab()
        self.pos_emb = np.zeros((capacity, DIM), dtype=np.float32)
        self.neg_emb = np.zeros((capacity, DIM), dtype=np.float32)
        self.pos_bits = np.zeros((capacity, 1), dtype=np.uint64)
        self.neg_bits = np.zeros((capacity, 1), dtype=np.uint64)
        self.cat_bits = np.zeros((capacity, 1), dtype=np.uint64)

    def __len__(self) -> int:
        return len(self.features)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self.index

    def get(self, item_id: str) -> ItemFeatures | None:
        i = self.index.get(item_id)
        return None if i is None else self.features[i]

    def add(self, f: ItemFeatures) -> int:
        """Insert or replace an item's features; returns its row. Bit positions never move, so growing
        the vocabulary only appends zero columns and no other row is touched."""
        row = self.index.get(f.item_id)
        if row is None:
            row = self.index[f.item_id] = len(self.features)
            self.features.append(f)
            if row >= len(self.pos_emb):
                self._grow_rows()
        else:
            self.features[row] = f
        pos, neg = self.keywords.add(f.like_keywords), self.keywords.add(f.dislike_keywords)
        cats = self.categories.add(f.categories)
        self._fit_columns()
        self.pos_bits[row] = _bits(pos, self.pos_bits.shape[1])
        self.neg_bits[row] = _bits(neg, self.neg_bits.shape[1])
        self.cat_bits[row] = _bits(cats, self.cat_bits.shape[1])
        self.pos_emb[row] = self.embedder.pool(f.like_keywords)
        self.neg_emb[row] = self.embedder.pool(f.dislike_keywords)
        return row

    def add_all(self, features) -> None:
        features = list(features)
        # one batched embedding call for every new keyword, then cheap per-item pooling
        self.embedder.embed([k for f in features for k in (*f.like_keywords, *f.dislike_keywords)])
        for f in features:
            self.add(f)

    def _grow_rows(self) -> None:
        for name in ("pos_emb", "neg_emb", "pos_bits", "neg_bits", "cat_bits"):
            a = getattr(self, name)
            setattr(self, name, np.vstack([a, np.zeros_like(a)]))

    def _fit_columns(self) -> None:
        for name, vocab in (("pos_bits", self.keywords), ("neg_bits", self.keywords),
                            ("cat_bits", self.categories)):
            a = getattr(self, name)
            if vocab.n_words > a.shape[1]:
                pad = np.zeros((a.shape[0], 2 * vocab.n_words - a.shape[1]), dtype=np.uint64)
                setattr(self, name, np.hstack([a, pad]))

    def decode_keywords(self, row: np.ndarray) -> list[str]:
        return _decode(row, self.keywords)
