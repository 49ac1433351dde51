"""Votes and the ensemble: R = 1 if f_mat + f_sim + f_sta >= 2 (the paper's Eq. 9)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Vote:
    """One voter's verdict: its 0/1 vote, the raw score behind it and a probability for ranking."""

    voter: str
    vote: int
    probability: float
    score: float
    tie: bool = False

    def to_dict(self) -> dict:
        return {"voter": self.voter, "vote": self.vote, "probability": round(self.probability, 6),
                "score": round(self.score, 6), "tie": self.tie}


def coin(seed: int, *parts: str) -> int:
    """A fair 0/1 draw derived from (seed, parts): the same event always breaks a tie the same way,
    so a replay or a re-delivery decides identically. No global RNG anywhere."""
    h = hashlib.blake2b(repr((seed, parts)).encode(), digest_size=8).digest()
    return h[0] & 1


def compare(voter: str, pos: float, neg: float, probability: float, tie_break: int) -> Vote:
    """f = 1 if pos > neg, 0 if pos < neg, a seeded coin on a tie (the paper; the reference code used 0)."""
    if pos > neg:
        return Vote(voter, 1, probability, pos - neg)
    if pos < neg:
        return Vote(voter, 0, probability, pos - neg)
    return Vote(voter, tie_break, probability, 0.0, tie=True)


def majority_vote(votes: Sequence[Vote]) -> bool:
    """Like iff at least two of the three voters say like (Eq. 9)."""
    return sum(v.vote for v in votes) * 2 > len(votes)


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


class EnsembleCalibrator:
    """The ensemble's like-probability: an online logistic regression over the three voters' evidence,
    learned from real interactions (predict, then learn) like f_sta. The decision stays the paper's
    majority vote; this probability ranks and calibrates it (AUC, log-loss), where a plain mean of
    three differently-scaled scores would not."""

    version = "river-logreg-stack/1"

    def __init__(self, learning_rate: float = 0.02) -> None:
        from river import linear_model, optim, preprocessing

        self.model = preprocessing.StandardScaler() | linear_model.LogisticRegression(
            optimizer=optim.SGD(learning_rate))

    @staticmethod
    def features(votes: Sequence[Vote]) -> dict[str, float]:
        return {v.voter: _logit(v.probability) for v in votes}

    def predict_proba(self, votes: Sequence[Vote]) -> float:
        return float(self.model.predict_proba_one(self.features(votes)).get(True, 0.5))

    def learn(self, votes: Sequence[Vote], liked: bool) -> None:
        self.model.learn_one(self.features(votes), liked)
