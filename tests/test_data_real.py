"""Every converter on the real datasets in ../shared/data (or $STREAMSIM_SHARED_DATA), checked against
the counts in that folder's README. A missing folder is a failure, not a skip: these tests are how we
know the converters still handle the real files."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from streamsim.data.convert import convert
from streamsim.data.io import jsonl_rows, load_dataset
from streamsim.data.schema import Dataset, Item

pytestmark = pytest.mark.shared_data

MI = "amazon-musical-instruments-5core-2014"

# format, source, meta (relative to the shared data folder), interactions, users, items
CASES = {
    "amazon-musical-instruments": ("amazon-2014", f"{MI}/Musical_instruments_reviews.csv",
                                   f"{MI}/Music_Instruments_meta_5.csv", 10_261, 1_429, 900),
    "ml-100k": ("movielens-100k", "ml-100k", None, 100_000, 943, 1_682),
    "ml-latest-small": ("movielens-latest", "ml-latest-small", None, 100_836, 610, 9_724),
    "yelp": ("yelp-reviews", "yelp-kaggle-10k/yelp.csv", None, 10_000, 6_403, 4_174),
    # 3,176 rows, but the 2018 release copies each review onto every variant (asin) of a product:
    # 2,728 rows repeat an earlier (reviewer, time, rating, review) and are collapsed, which leaves 448
    # reviews of 27 items. The README's 89 exact duplicates are among them.
    "amazon-fashion": ("amazon-2018", "amazon-fashion-5core-2018/AMAZON_FASHION_5.jsonl", None,
                       448, 406, 27),
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory, shared_data) -> Callable[[str], tuple[dict, Dataset]]:
    """Convert + load each real dataset once per module: (summary, dataset)."""
    cache: dict[str, tuple[dict, Dataset]] = {}

    def get(name: str) -> tuple[dict, Dataset]:
        if name not in cache:
            root = shared_data()
            fmt, src, meta, *_ = CASES[name]
            out = tmp_path_factory.mktemp(name)
            cache[name] = convert(fmt, root / src, root / meta if meta else None, out), load_dataset(out)
        return cache[name]

    return get


@pytest.mark.parametrize("name", CASES)
def test_real_dataset_counts(converted, name: str) -> None:
    *_, n_inter, n_users, n_items = CASES[name]
    summary, ds = converted(name)
    assert (summary["n_interactions"], summary["n_users"], summary["n_items"]) == (n_inter, n_users, n_items)
    assert len(ds.interactions) == n_inter
    assert len({x.user_id for x in ds.interactions}) == n_users
    assert len(ds.items) == n_items == len({x.item_id for x in ds.interactions})
    assert all(x.timestamp is not None for x in ds.interactions)


def test_amazon_fashion_duplicates(converted, shared_data) -> None:
    assert sum(1 for _ in jsonl_rows(shared_data() / CASES["amazon-fashion"][1])) == 3_176
    summary = converted("amazon-fashion")[0]
    assert summary["n_variant_copies"] == 3_176 - 448
    assert summary["n_dropped_duplicates"] == 0  # the exact duplicates went with the variant copies


def test_real_dataset_details(converted) -> None:
    mi, _ = converted("amazon-musical-instruments")
    assert round(mi["mean_rating"], 2) == 4.49  # README: mean 4.49
    assert mi["n_items_without_meta"] == 0
    ml, ds = converted("ml-latest-small")
    assert (ml["rating_min"], ml["rating_max"], ml["n_tags"]) == (0.5, 5.0, 3_683)  # README: 3,683 tags
    assert ds.items["1"] == Item("1", "Toy Story (1995)",
                                 ("Adventure", "Animation", "Children", "Comedy", "Fantasy"))
    _, ds = converted("ml-100k")
    assert ds.items["543"] == Item("543", "Misérables, Les (1995)", ("Drama", "Musical"))  # latin-1 title
    _, ds = converted("yelp")
    users = Counter(x.user_id for x in ds.interactions)
    assert sum(n >= 5 for n in users.values()) == 267  # README: only 267 users have 5 or more reviews
