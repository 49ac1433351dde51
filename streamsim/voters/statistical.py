"""The statistical model f_sta: an online River logistic regression (the paper uses a frozen SASRec).

It learns from every observed interaction in time order (predict, then learn) over evidence a frozen
sequence model cannot update: how much this user likes things, how much everyone likes this item, and how
much this user likes the candidate's categories, each a smoothed rate on the log-odds scale. Its state (the
River model and the item counts) is small, pickles, and is sharded like the users (see ``Simulator``).
"""

from __future__ import annotations

import math

from river import linear_model, optim, preprocessing


def _logit(likes: float, n: float, prior: float, strength: float) -> float:
    r = (likes + strength * prior) / (n + strength)
    r = min(max(r, 1e-4), 1 - 1e-4)
    return math.log(r / (1 - r))


class StatisticalModel:
    """``predict_proba(x)`` / ``learn(x, liked, item_id)``, with ``features(...)`` building x."""

    version = "river-logreg/2"

    def __init__(self, prior_strength: float = 5.0, learning_rate: float = 0.01) -> None:
        self.prior_strength = prior_strength
        self.learning_rate = learning_rate
        self.model = preprocessing.StandardScaler() | linear_model.LogisticRegression(
            optimizer=optim.SGD(learning_rate))
        self.item_counts: dict[str, list[int]] = {}  # item -> [likes, n] among observed interactions
        self.likes = 0
        self.n = 0

    @property
    def prior(self) -> float:
        return (self.likes + 1) / (self.n + 2)

    def item_rate(self, item_id: str) -> tuple[int, int]:
        c = self.item_counts.get(item_id)
        return (c[0], c[1]) if c else (0, 0)

    def features(self, user_likes: int, user_n: int, item_id: str, cat_likes: int, cat_n: int
                 ) -> dict[str, float]:
        prior, k = self.prior, self.prior_strength
        item_likes, item_n = self.item_rate(item_id)
        return {
            "user": _logit(user_likes, user_n, prior, k),
            "item": _logit(item_likes, item_n, prior, k),
            "category": _logit(cat_likes, cat_n, prior, k),
            "user_n": math.log1p(user_n),
            "item_n": math.log1p(item_n),
        }

    def predict_proba(self, x: dict[str, float]) -> float:
        return float(self.model.predict_proba_one(x).get(True, 0.5))

    def learn(self, x: dict[str, float], liked: bool, item_id: str) -> None:
        self.model.learn_one(x, liked)
        c = self.item_counts.setdefault(item_id, [0, 0])
        c[0] += int(liked)
        c[1] += 1
        self.likes += int(liked)
        self.n += 1
