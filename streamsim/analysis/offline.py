"""The offline analyzer: the paper's item description without a network.

* Objective description (T_obj): the item's categories and the content words of its title and description.
  These are neutral attributes, so they go to both sides: an attribute is a pro for a user who liked
  items with it and a con for a user who disliked them, which is exactly what the voters compare.
* Subjective description (T_sub): keywords (content words and adjacent pairs) from the visible rated
  reviews, pros from liked reviews and cons from disliked ones, most frequent first.

Deterministic: the same item and reviews give the same features.
"""

from __future__ import annotations

import re
from collections import Counter

from streamsim.analysis.base import Analyzer, ItemFeatures, Review
from streamsim.data.schema import Item

_STOP = frozenset("""
a about above after again against all almost also although am an and any are aren as at be because been
before being below between both but by can cannot could couldn did didn do does doesn doing don down during
each even ever every few for from further get gets got had hadn has hasn have haven having he her here hers
herself him himself his how however i if in into is isn it its itself just least less let like lot lots
made make makes many may me might more most much must my myself never no nor not now of off often on once
one only or other our ours ourselves out over own per quite rather really same say says see seem seems she
should shouldn since so some still such than that the their theirs them themselves then there these they
thing things this those though through thus to too under until up upon us use used using very was wasn way
we well were weren what when where whether which while who whom whose why will with within without won
would wouldn yet you your yours yourself yourselves item product film movie place buy bought time times
im ive id youre theyre thats dont cant wont isnt doesnt didnt
""".split())
_WORD = re.compile(r"[a-z][a-z0-9'-]*[a-z0-9]|[a-z]")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")


def content_words(text: str) -> list[str]:
    """Lowercase content words (no stop words, at least 3 letters), in order."""
    return [w.replace("'", "") for w in _WORD.findall(text.lower())
            if len(w) >= 3 and w.replace("'", "") not in _STOP]


def phrases(text: str) -> list[str]:
    """Candidate keywords of one text: content words and pairs of adjacent content words."""
    out: list[str] = []
    for sentence in _SENTENCE.split(text):
        words = content_words(sentence)
        out.extend(words)
        out.extend(f"{a} {b}" for a, b in zip(words, words[1:], strict=False) if a != b)
    return out


def _evidence(keyword: str, texts: list[str], limit: int = 160) -> str:
    first = keyword.split()[0]
    for t in texts:
        for sentence in _SENTENCE.split(t):
            low = sentence.lower()
            if keyword in low or first in low:
                return sentence.strip()[:limit]
    return ""


class OfflineAnalyzer(Analyzer):
    """Features from metadata and review text alone. ``max_keywords`` caps each side's review keywords."""

    name = "offline"
    version = "1"

    def __init__(self, max_keywords: int = 20, min_count: int = 1) -> None:
        self.max_keywords = max_keywords
        self.min_count = min_count

    def analyze(self, item: Item, reviews: list[Review]) -> ItemFeatures:
        categories = tuple(dict.fromkeys(c.strip().lower() for c in item.categories if c.strip()))
        objective = list(dict.fromkeys(
            [*categories, *content_words(item.title), *content_words(item.description)]))
        evidence = {k: "category" if k in categories else "metadata" for k in objective}

        liked = [r.text for r in reviews if r.liked and r.text]
        disliked = [r.text for r in reviews if not r.liked and r.text]
        pros = self._top(liked, exclude=objective)
        cons = self._top(disliked, exclude=objective)
        for k in pros:
            evidence.setdefault(k, _evidence(k, liked))
        for k in cons:
            evidence.setdefault(k, _evidence(k, disliked))

        n_like = sum(r.liked for r in reviews)
        return ItemFeatures(
            item_id=item.item_id,
            categories=categories,
            like_keywords=tuple(objective + pros),
            dislike_keywords=tuple(objective + cons),
            evidence=evidence,
            n_reviews=len(reviews),
            like_rate=n_like / len(reviews) if reviews else None,
            analyzer=self.tag,
        )

    def _top(self, texts: list[str], exclude: list[str]) -> list[str]:
        # count each phrase once per review, so one long review cannot dominate an item
        counts = Counter(p for t in texts for p in set(phrases(t)))
        skip = set(exclude)
        ranked = sorted((c, k) for k, c in counts.items() if c >= self.min_count and k not in skip)
        ranked.sort(key=lambda ck: (-ck[0], ck[1]))
        return [k for _, k in ranked[: self.max_keywords]]
