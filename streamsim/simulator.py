"""The simulator: a user state plus the three voters, deciding like/dislike for a recommended item.

``Simulator.decide`` is pure (it reads the user's state and the models, changes nothing) and
deterministic given the seed and the event id; ``Simulator.observe`` applies a real interaction (the
user's history grows, the statistical model learns). The Kafka worker and the in-process evaluation both
call exactly these two functions, which is why they agree decision for decision.

Fixes relative to the paper's released code: the history is the deciding user's own (not the item's first
reviewer's); the statistical model's probability is used once (no double sigmoid, so it can vote 0); ties
break with a seeded coin, not a constant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from streamsim.catalog import Catalog
from streamsim.sharding import partition_for
from streamsim.voters.ensemble import EnsembleCalibrator, Vote, coin, majority_vote
from streamsim.voters.keyword import keyword_match, overlap
from streamsim.voters.similarity import embedding_similarity, max_cosine
from streamsim.voters.statistical import StatisticalModel


@dataclass(slots=True)
class UserState:
    """A user *is* their history (paper §1.4): items and like(1)/dislike(0) labels, oldest first."""

    user_id: str
    items: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    # rows of ``items`` in the catalog, rebuilt when the history or the catalog grows
    _rows: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def n_likes(self) -> int:
        return sum(self.labels)

    def to_dict(self) -> dict:
        return {"user_id": self.user_id, "items": self.items, "labels": self.labels}

    @classmethod
    def from_dict(cls, d: dict) -> UserState:
        return cls(str(d["user_id"]), list(d.get("items") or []), [int(x) for x in d.get("labels") or []])


@dataclass(frozen=True, slots=True)
class Decision:
    """One simulated reaction, with everything needed to explain it."""

    user_id: str
    item_id: str
    event_id: str
    liked: bool
    probability: float
    votes: tuple[Vote, ...]
    matched_like_keywords: tuple[str, ...]
    matched_dislike_keywords: tuple[str, ...]
    analyzer: str
    shard: int

    def vote(self, voter: str) -> Vote:
        return next(v for v in self.votes if v.voter == voter)


class ShardModels:
    """Everything learned from one shard's real interactions: f_sta and the ensemble's calibrator.
    Small and picklable, so a worker can checkpoint it and a restart gets the same decisions."""

    def __init__(self, statistical: StatisticalModel | None = None) -> None:
        self.statistical = statistical or StatisticalModel()
        self.ensemble = EnsembleCalibrator()

    def learn(self, x: dict[str, float], votes: tuple[Vote, ...], liked: bool, item_id: str) -> None:
        self.statistical.learn(x, liked, item_id)
        self.ensemble.learn(votes, liked)


class Simulator:
    """Decides with the paper's ensemble. ``n_shards`` is the number of partitions users are spread over:
    each shard has its own statistical model, so a worker that owns a partition owns its model."""

    def __init__(self, catalog: Catalog, *, seed: int = 0, n_shards: int = 1,
                 model_factory: Callable[[], StatisticalModel] = StatisticalModel) -> None:
        self.catalog = catalog
        self.seed = seed
        self.n_shards = n_shards
        self.model_factory = model_factory
        self.models: dict[int, ShardModels] = {}
        self.explain = True

    def shard_of(self, user_id: str) -> int:
        return partition_for(user_id, self.n_shards)

    def model(self, shard: int) -> ShardModels:
        m = self.models.get(shard)
        if m is None:
            m = self.models[shard] = ShardModels(self.model_factory())
        return m

    @property
    def versions(self) -> dict[str, str]:
        return {"simulator": "1", "statistical": self.model_factory.version,
                "ensemble": EnsembleCalibrator.version,
                "embedding": self.catalog.embedder.version}

    def _history(self, user: UserState) -> tuple[np.ndarray, np.ndarray]:
        """The user's history as catalog rows and labels (items without features are left out).
        Extended incrementally as the history grows; rebuilt only when the catalog has grown, since
        a history item may just have received its features."""
        cached = user._rows
        if cached is not None and cached[0] == len(user.items) and cached[1] == len(self.catalog):
            return cached[4], cached[5]
        if cached is None or cached[1] != len(self.catalog):
            user._rows = cached = (0, len(self.catalog), [], [], None, None)
        seen, _, rows_l, labels_l, _, _ = cached
        index = self.catalog.index
        for item, label in zip(user.items[seen:], user.labels[seen:], strict=True):
            row = index.get(item)
            if row is not None:
                rows_l.append(row)
                labels_l.append(label)
        rows, labels = np.array(rows_l, dtype=np.int64), np.array(labels_l, dtype=np.int8)
        user._rows = (len(user.items), len(self.catalog), rows_l, labels_l, rows, labels)
        return rows, labels

    def _category_history(self, user: UserState, c: int | None) -> tuple[np.ndarray, np.ndarray]:
        """h_C: history items sharing a category with the candidate; the whole history if none does."""
        rows, labels = self._history(user)
        if c is None or len(rows) == 0:
            return rows, labels
        cats = self.catalog.cat_bits
        same = (cats.take(rows, axis=0) & cats[c]).any(axis=1)
        if same.any():
            return rows[same], labels[same]
        return rows, labels

    def _votes(self, user: UserState, item_id: str, event_id: str, model: ShardModels,
               explain: bool):
        """The three voters on (user, candidate): the part shared by decide (predict) and observe
        (predict, then learn)."""
        cat = self.catalog
        c = cat.index.get(item_id)
        rows, labels = self._category_history(user, c)
        liked_rows, disliked_rows = rows[labels == 1], rows[labels == 0]
        if c is None:  # no features yet: nothing to match, the logical voters tie
            alpha_pos = alpha_neg = 0
            beta_pos = beta_neg = 0.0
            match_pos = match_neg = None
        else:
            alpha_pos, match_pos = overlap(cat.pos_bits, liked_rows, cat.pos_bits[c])
            alpha_neg, match_neg = overlap(cat.neg_bits, disliked_rows, cat.neg_bits[c])
            beta_pos = max_cosine(cat.pos_emb, liked_rows, cat.pos_emb[c])
            beta_neg = max_cosine(cat.neg_emb, disliked_rows, cat.neg_emb[c])
        x = model.statistical.features(user.n_likes, len(user.items), item_id, len(liked_rows), len(rows))
        p_sta = model.statistical.predict_proba(x)
        key = (user.user_id, item_id, event_id)
        votes = (
            keyword_match(alpha_pos, alpha_neg, coin(self.seed, *key, "keyword")),
            embedding_similarity(beta_pos, beta_neg, coin(self.seed, *key, "similarity")),
            Vote("statistical", int(p_sta >= 0.5), p_sta, p_sta),
        )
        matched = ((), ())
        if explain and c is not None:
            matched = (tuple(cat.decode_keywords(match_pos)), tuple(cat.decode_keywords(match_neg)))
        return votes, x, matched, c

    def decide(self, user: UserState, item_id: str, event_id: str) -> Decision:
        shard = self.shard_of(user.user_id)
        model = self.model(shard)
        votes, _, matched, c = self._votes(user, item_id, event_id, model, self.explain)
        liked = majority_vote(votes)
        return Decision(
            user_id=user.user_id, item_id=item_id, event_id=event_id, liked=liked,
            probability=model.ensemble.predict_proba(votes), votes=votes,
            matched_like_keywords=matched[0], matched_dislike_keywords=matched[1],
            analyzer="none" if c is None else self.catalog.features[c].analyzer, shard=shard,
        )

    def observe(self, user: UserState, item_id: str, liked: bool) -> None:
        """Apply a real interaction: the voters predict, the shard's models learn, the history grows."""
        model = self.model(self.shard_of(user.user_id))
        votes, x, _, _ = self._votes(user, item_id, "", model, explain=False)
        model.learn(x, votes, liked, item_id)
        user.items.append(item_id)
        user.labels.append(int(liked))
