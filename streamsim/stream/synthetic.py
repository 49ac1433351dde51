"""A synthetic but realistic-looking dataset for streaming tests and benchmarks (no download needed).

Items have a title, one to three genres and a description; users have favourite and disliked genres;
ratings (1-5, half stars) follow the genres with noise; reviews mention what the user liked or disliked.
Timestamps interleave users, so the chronological history mixes everyone, as a real log does.
"""

from __future__ import annotations

import random

from streamsim.data.schema import Dataset, Interaction, Item

GENRES = ["comedy", "horror", "drama", "action", "romance", "documentary", "animation", "thriller",
          "sci-fi", "western", "musical", "crime"]
PROS = ["wonderful cast", "clever script", "stunning visuals", "great soundtrack", "moving story",
        "sharp dialogue", "tight pacing", "memorable characters", "beautiful photography", "witty humour"]
CONS = ["boring plot", "weak acting", "predictable ending", "too long", "flat characters", "cheap effects",
        "confusing story", "bad editing", "dull dialogue", "forced romance"]
WORDS = ["river", "night", "city", "winter", "secret", "garden", "machine", "island", "letter", "road",
         "mirror", "storm", "house", "signal", "summer", "shadow", "harbor", "echo", "circus", "planet"]


def synthetic_dataset(n_users: int = 2200, n_items: int = 600, per_user: tuple[int, int] = (4, 9),
                      seed: int = 7, name: str = "synthetic-stream") -> Dataset:
    rng = random.Random(seed)
    items: dict[str, Item] = {}
    for n in range(n_items):
        genres = tuple(rng.sample(GENRES, rng.choice((1, 1, 2, 3))))
        title = " ".join(rng.sample(WORDS, 2)).title()
        desc = f"A {genres[0]} about a {rng.choice(WORDS)} and a {rng.choice(WORDS)}."
        items[f"m{n}"] = Item(f"m{n}", f"{title} {n}", genres, desc)
    ids = sorted(items)
    popularity = [1.0 / (1 + k) ** 0.6 for k in range(n_items)]  # a long tail, as real catalogs have
    inter: list[Interaction] = []
    for u in range(n_users):
        fav = set(rng.sample(GENRES, 3))
        hate = set(rng.sample([g for g in GENRES if g not in fav], 2))
        start = rng.randrange(0, 10_000_000)
        chosen = set()
        for t in range(rng.randint(*per_user)):
            i = rng.choices(ids, popularity)[0]
            while i in chosen:
                i = rng.choice(ids)
            chosen.add(i)
            g = set(items[i].categories)
            score = 3.0 + 1.2 * len(g & fav) - 1.5 * len(g & hate) + rng.gauss(0, 0.9)
            rating = min(5.0, max(0.5, round(score * 2) / 2))
            if rating >= 3:
                review = f"{rng.choice(PROS)}, {rng.choice(PROS)}"
            else:
                review = f"{rng.choice(CONS)} and {rng.choice(CONS)}"
            inter.append(Interaction(f"u{u}", i, rating, 1_600_000_000 + start + 3600 * t * 24, review))
    return Dataset(name, inter, items)
