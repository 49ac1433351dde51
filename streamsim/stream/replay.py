"""A dataset as Kafka events, under the evaluation protocol (``streamsim.protocol``).

The plan holds what a replay publishes, in order: the catalog (item features built exactly as
``streamsim.evaluate`` builds them, or read from a file), the history as interaction events in
chronological order, and the held-out interactions as one-item recommendations whose ids are
``event_id_for(x)``. Optionally each user also gets random slates (seeded), whose feedback is shadow
feedback with no ground truth. ``expected_feedback`` computes, in-process with the same core, the feedback
a worker must produce for every recommendation of the plan.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from streamsim.analysis.base import ItemFeatures
from streamsim.data.schema import Dataset, Interaction
from streamsim.evaluate import analyze_items, event_id_for, visible_reviews
from streamsim.events import FeedbackEvent, InteractionEvent, RecommendationEvent, feedback_id
from streamsim.protocol import is_like, split_holdout


@dataclass
class ReplayPlan:
    dataset: Dataset
    history: list[Interaction]
    held_out: list[Interaction]
    features: list[ItemFeatures]
    recommendations: list[RecommendationEvent]  # the held-out ones first, then random slates
    like_threshold: float = 3.0

    def interactions(self) -> Iterator[InteractionEvent]:
        """History as interaction events; a repeated (user, item, time) gets a ``#n`` suffix."""
        seen: Counter[str] = Counter()
        for x in self.history:
            base = event_id_for(x)
            seen[base] += 1
            eid = base if seen[base] == 1 else f"{base}#{seen[base]}"
            yield InteractionEvent(eid, x.user_id, x.item_id, x.rating,
                                   is_like(x.rating, self.like_threshold), x.timestamp, x.review)

    @property
    def n_held_out(self) -> int:
        return len(self.held_out)

    def feedback_ids(self) -> set[str]:
        return {feedback_id(r.event_id, i) for r in self.recommendations for i in r.items}


def plan_replay(ds: Dataset, *, features: Sequence[ItemFeatures] | None = None, analyzer=None,
                like_threshold: float = 3.0, policy_id: str = "replay", seed: int = 0,
                slates_per_user: int = 0, slate_size: int = 10, progress: bool = False) -> ReplayPlan:
    history, held_out = split_holdout(ds.interactions)
    if features is None:
        from streamsim.analysis.offline import OfflineAnalyzer

        features = analyze_items(ds.items, visible_reviews(history, like_threshold),
                                 analyzer or OfflineAnalyzer(), progress)
    recs = [RecommendationEvent(event_id_for(x), x.user_id, policy_id, (x.item_id,), x.timestamp)
            for x in held_out]
    if slates_per_user > 0:
        catalog = sorted(f.item_id for f in features)
        size = min(slate_size, len(catalog))
        users = sorted({x.user_id for x in ds.interactions})
        for k in range(slates_per_user):
            for u in users:
                rng = random.Random(f"{seed}|{u}|{k}")  # str seeds hash deterministically (sha512)
                recs.append(RecommendationEvent(f"{policy_id}|{u}|{k}|{seed}", u, policy_id,
                                                tuple(rng.sample(catalog, size)), None))
    return ReplayPlan(ds, history, held_out, list(features), recs, like_threshold)


def learn_history(plan: ReplayPlan, *, seed: int, n_shards: int, embedder=None):
    """The in-process simulator after the history, built with the same steps as
    ``streamsim.evaluate.evaluate``: the catalog, then every history interaction through ``observe``.
    Returns ``(simulator, users)``."""
    from streamsim.analysis.embeddings import Embedder
    from streamsim.catalog import Catalog
    from streamsim.simulator import Simulator, UserState

    catalog = Catalog(embedder or Embedder(), capacity=max(len(plan.features), 16))
    catalog.add_all(plan.features)
    sim = Simulator(catalog, seed=seed, n_shards=n_shards)
    users: dict[str, UserState] = {}
    for x in plan.history:
        user = users.get(x.user_id) or users.setdefault(x.user_id, UserState(x.user_id))
        sim.observe(user, x.item_id, is_like(x.rating, plan.like_threshold))
    return sim, users


def expected_feedback(plan: ReplayPlan, *, seed: int, n_shards: int, embedder=None, learned=None
                      ) -> dict[str, FeedbackEvent]:
    """Feedback event id -> the feedback the in-process simulator gives for every recommendation of the
    plan (``learned``: a ``learn_history`` result to reuse)."""
    from streamsim.simulator import UserState

    sim, users = learned or learn_history(plan, seed=seed, n_shards=n_shards, embedder=embedder)
    versions = sim.versions
    out = {}
    for rec in plan.recommendations:
        user = users.get(rec.user_id) or UserState(rec.user_id)
        for pos, item_id in enumerate(rec.items):
            d = sim.decide(user, item_id, rec.event_id)
            fb = FeedbackEvent.from_decision(d, rec, pos, versions, len(user.items))
            out[fb.event_id] = fb
    return out
