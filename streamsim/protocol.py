"""The evaluation protocol shared by every path (in-process, Kafka replay, annotation).

Per user with at least ``min_interactions`` interactions, the chronologically last one is held out and
decided from the history before it. Everything else is history: it feeds item analysis, user states and
the statistical model. Held-out reviews never reach an analyzer (no leakage into item keywords).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from streamsim.analysis.base import Review
from streamsim.data.schema import Interaction


def chronological(interactions: Sequence[Interaction]) -> list[Interaction]:
    """Stable sort by timestamp (missing timestamps keep file order, before timestamped ones)."""
    order = sorted(range(len(interactions)),
                   key=lambda i: (interactions[i].timestamp is not None, interactions[i].timestamp or 0, i))
    return [interactions[i] for i in order]


def split_holdout(interactions: Sequence[Interaction], min_interactions: int = 3
                  ) -> tuple[list[Interaction], list[Interaction]]:
    """Return (history, held_out), both in chronological order."""
    ordered = chronological(interactions)
    last: dict[str, int] = {}
    count: dict[str, int] = defaultdict(int)
    for pos, x in enumerate(ordered):
        last[x.user_id] = pos
        count[x.user_id] += 1
    held = {pos for user, pos in last.items() if count[user] >= min_interactions}
    history = [x for pos, x in enumerate(ordered) if pos not in held]
    held_out = [x for pos, x in enumerate(ordered) if pos in held]
    return history, held_out


def is_like(rating: float, like_threshold: float) -> bool:
    """The paper binarises ratings: rating >= 3 is a like."""
    return rating >= like_threshold


def visible_reviews(history: Sequence[Interaction], like_threshold: float) -> dict[str, list[Review]]:
    """The rated reviews an analyzer may see, per item: pass only the history part of the split."""
    out: dict[str, list[Review]] = defaultdict(list)
    for x in history:
        out[x.item_id].append(Review(x.rating, x.review, is_like(x.rating, like_threshold)))
    return dict(out)
