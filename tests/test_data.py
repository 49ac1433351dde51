"""The generic dataset format and the converters, on small hand-made sources."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from streamsim.data.convert import FORMATS, convert
from streamsim.data.io import load_dataset, write_dataset
from streamsim.data.schema import Dataset, Interaction, Item
from streamsim.errors import DataError, StreamsimError

DEMO = Path(__file__).resolve().parents[1] / "datasets" / "ml-latest-small"


def put(folder: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def check_error(err: DataError, path: Path, line: int | None, column: str | None, fragment: str) -> None:
    """The message names file, line and column, in DataError's format, and says what is wrong."""
    assert (err.file, err.line, err.column) == (str(path), line, column)
    where = str(path) + (f":{line}" if line is not None else "") + (
        f": column '{column}'" if column is not None else "")
    assert str(err).startswith(where + ": "), str(err)
    assert fragment in err.message, err.message


# --------------------------------------------------------------------------- load / write

def test_load_csv(tmp_path: Path) -> None:
    d = tmp_path / "shop"
    put(d, "interactions.csv",
        "user_id,item_id,rating,timestamp,review\n"
        "u1,i2,4.5,100,\"good, \"\"really\"\"\nsecond line\"\n"
        "u2,i1,1,,\n"
        "u1,i9,3.0,964982703.0,meh\n")
    put(d, "items.csv", "item_id,title,categories\ni1,One,a|b\ni2,Two,\ni7,Unrated,c\n")
    ds = load_dataset(d)
    assert ds.name == "shop"
    assert ds.interactions == [
        Interaction("u1", "i2", 4.5, 100, 'good, "really"\nsecond line'),
        Interaction("u2", "i1", 1.0, None, ""),
        Interaction("u1", "i9", 3.0, 964982703, "meh"),
    ]
    # items file first (including unrated ones), then bare items seen only in interactions
    assert ds.items == {"i1": Item("i1", "One", ("a", "b")), "i2": Item("i2", "Two"),
                        "i7": Item("i7", "Unrated", ("c",)), "i9": Item("i9")}
    assert list(ds.items) == ["i1", "i2", "i7", "i9"]
    assert load_dataset(str(d), name="other").name == "other"


def test_load_csv_without_optional_columns(tmp_path: Path) -> None:
    put(tmp_path / "d", "interactions.csv", "\ufeffrating,item_id,user_id\n2,i,u\n")  # BOM, any order
    ds = load_dataset(tmp_path / "d")
    assert ds.interactions == [Interaction("u", "i", 2.0)]
    assert ds.items == {"i": Item("i")}


def test_load_jsonl(tmp_path: Path) -> None:
    d = tmp_path / "j"
    put(d, "interactions.jsonl",
        '{"user_id": "u1", "item_id": "i1", "rating": 5, "timestamp": 7, "review": "ok"}\n'
        "\n"
        '{"user_id": 2, "item_id": "i2", "rating": "3.5", "timestamp": null}\n'
        '{"user_id": "u3", "item_id": "i1", "rating": 1.0}\n')
    put(d, "items.jsonl",
        '{"item_id": "i1", "title": "T", "categories": ["x", "y"], "description": "long"}\n'
        '{"item_id": "i2", "categories": "p|q"}\n')
    ds = load_dataset(d)
    assert ds.interactions == [Interaction("u1", "i1", 5.0, 7, "ok"), Interaction("2", "i2", 3.5),
                               Interaction("u3", "i1", 1.0)]
    assert ds.items == {"i1": Item("i1", "T", ("x", "y"), "long"), "i2": Item("i2", "", ("p", "q"))}


def test_write_and_load_round_trip(tmp_path: Path) -> None:
    ds = Dataset("rt", [
        Interaction("ü1", "i1", 0.5, 1, 'comma, "quote"\r\nCRLF and\nLF'),
        Interaction("u2", "i2", 4.25, None, ""),
        Interaction("u2", "i1", 3.0, -5, "naïve ☃"),
    ], {"i1": Item("i1", "Title, with comma", ("Sci-Fi", "Drama"), "desc\nmultiline"),
        "i2": Item("i2"), "i3": Item("i3", "no interactions")})
    write_dataset(ds, tmp_path / "rt")
    assert (tmp_path / "rt" / "interactions.csv").read_text("utf-8").splitlines()[0] == \
        "user_id,item_id,rating,timestamp,review"
    assert (tmp_path / "rt" / "items.csv").read_text("utf-8").splitlines()[0] == \
        "item_id,title,categories,description"
    assert load_dataset(tmp_path / "rt") == ds
    write_dataset(load_dataset(tmp_path / "rt"), tmp_path / "rt2")  # and again, byte for byte
    for f in ("interactions.csv", "items.csv"):
        assert (tmp_path / "rt" / f).read_bytes() == (tmp_path / "rt2" / f).read_bytes()


def test_write_rejects_category_with_separator(tmp_path: Path) -> None:
    ds = Dataset("x", [Interaction("u", "i", 1.0)], {"i": Item("i", categories=("a|b",))})
    with pytest.raises(DataError) as e:
        write_dataset(ds, tmp_path / "x")
    check_error(e.value, tmp_path / "x" / "items.csv", 2, "categories", "contains '|'")


HEAD = "user_id,item_id,rating,timestamp,review\n"

BAD_INPUTS = {
    # name: (file, content, line, column, message fragment)
    "missing column": ("interactions.csv", "user_id,rating\nu,1\n", 1, "item_id", "missing required column"),
    "rating five": ("interactions.csv", HEAD + "u,i,4,,\nu,i,five,,\n", 3, "rating",
                    "'five' is not a number"),
    "rating empty": ("interactions.csv", HEAD + "u,i,,,\n", 2, "rating", "is not a number"),
    "rating nan": ("interactions.csv", HEAD + "u,i,nan,,\n", 2, "rating", "not finite"),
    "rating inf": ("interactions.csv", HEAD + "u,i,-inf,,\n", 2, "rating", "not finite"),
    "timestamp fraction": ("interactions.csv", HEAD + "u,i,1,12.5,\n", 2, "timestamp", "not an integer"),
    "timestamp text": ("interactions.csv", HEAD + "u,i,1,yesterday,\n", 2, "timestamp", "not an integer"),
    "empty user": ("interactions.csv", HEAD + "u,i,1,,\n,i,1,,\n", 3, "user_id", "empty user id"),
    "blank item": ("interactions.csv", HEAD + "u, ,1,,\n", 2, "item_id", "empty item id"),
    "empty file": ("interactions.csv", "", 1, "user_id", "empty file"),
    "header only": ("interactions.csv", HEAD, 2, "user_id", "no data rows"),
    "short row": ("interactions.csv", HEAD + "u,i,1\n", 2, "timestamp", "row has 3 fields"),
    "long row": ("interactions.csv", HEAD + "u,i,1,2,great, really\n", 2, "review", "unquoted ','"),
    # line = where the record starts, counting the physical lines of the multi-line review before it
    "after multiline": ("interactions.csv", HEAD + 'u,i,1,,"a\nb\nc"\nu,i,x,,\n', 5, "rating",
                        "not a number"),
    "latin-1 review": ("interactions.csv", (HEAD + "u,i,1,,fine\nu,i,2,,caf\xe9\n").encode("latin-1"),
                       3, "review", "0xe9 is not valid utf-8"),
    "latin-1 header": ("interactions.csv", "us\xe9r_id,item_id,rating\n".encode("latin-1"), 1, "header",
                       "not valid utf-8"),
    "jsonl invalid": ("interactions.jsonl", '{"user_id": "u", "item_id": "i", "rating": 1}\n{"user_id": u}\n',
                      2, "13", "invalid JSON"),
    "jsonl not object": ("interactions.jsonl", "[1, 2]\n", 1, "1", "expected a JSON object"),
    "jsonl missing key": ("interactions.jsonl", '{"user_id": "u", "rating": 1}\n', 1, "item_id",
                          "missing required key"),
    "jsonl rating bool": ("interactions.jsonl", '{"user_id": "u", "item_id": "i", "rating": true}\n', 1,
                          "rating", "not a number"),
    "jsonl timestamp": ("interactions.jsonl",
                        '{"user_id": "u", "item_id": "i", "rating": 1, "timestamp": 1.5}\n',
                        1, "timestamp", "not an integer"),
    "jsonl user object": ("interactions.jsonl", '{"user_id": {}, "item_id": "i", "rating": 1}\n', 1,
                          "user_id", "expected text"),
    "jsonl latin-1": ("interactions.jsonl",
                      '{"user_id": "u", "item_id": "i", "rating": 1, "review": "caf\xe9"}\n'
                      .encode("latin-1"), 1, "review", "not valid utf-8"),
    "jsonl empty": ("interactions.jsonl", "\n\n", 1, "user_id", "empty file"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_load_bad_interactions(tmp_path: Path, case: str) -> None:
    name, content, line, column, fragment = BAD_INPUTS[case]
    path = put(tmp_path / "d", name, content)
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path / "d")
    check_error(e.value, path, line, column, fragment)


@pytest.mark.parametrize(("name", "content", "line", "column", "fragment"), [
    ("items.csv", "item_id,title\n,x\n", 2, "item_id", "empty item id"),
    ("items.csv", "title\nx\n", 1, "item_id", "missing required column"),
    ("items.csv", "", 1, "item_id", "empty file"),
    ("items.csv", "item_id,title\ni,A\ni,B\n", 3, "item_id", "duplicate item"),
    ("items.csv", "item_id,title\ni,Caf\xe9\n".encode("latin-1"), 2, "title", "not valid utf-8"),
    ("items.jsonl", '{"item_id": "i", "categories": {"a": 1}}\n', 1, "categories", "expected text"),
])
def test_load_bad_items(tmp_path: Path, name: str, content: str | bytes, line: int, column: str,
                        fragment: str) -> None:
    put(tmp_path / "d", "interactions.csv", HEAD + "u,i,1,,\n")
    path = put(tmp_path / "d", name, content)
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path / "d")
    check_error(e.value, path, line, column, fragment)


def test_items_header_only_means_no_metadata(tmp_path: Path) -> None:
    put(tmp_path / "d", "interactions.csv", HEAD + "u,i,1,,\n")
    put(tmp_path / "d", "items.csv", "item_id,title,categories,description\n")
    assert load_dataset(tmp_path / "d").items == {"i": Item("i")}


def test_load_missing_folder_or_file(tmp_path: Path) -> None:
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path / "nope")
    assert str(e.value) == f"{tmp_path / 'nope'}: dataset folder not found"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as e:
        load_dataset(tmp_path / "empty")
    assert str(e.value) == f"{tmp_path / 'empty'}: no interactions.csv or interactions.jsonl in the folder"
    put(tmp_path / "both", "interactions.csv", HEAD + "u,i,1,,\n")
    put(tmp_path / "both", "interactions.jsonl", '{"user_id": "u", "item_id": "i", "rating": 1}\n')
    with pytest.raises(DataError, match="keep one"):
        load_dataset(tmp_path / "both")


def test_load_is_fast(tmp_path: Path) -> None:
    import time
    rows = "".join(f"u{k % 997},i{k % 4999},{k % 5 + 1},{1_000_000 + k},\n" for k in range(100_000))
    put(tmp_path / "big", "interactions.csv", HEAD + rows)
    t = time.perf_counter()
    ds = load_dataset(tmp_path / "big")
    assert len(ds.interactions) == 100_000 and len(ds.items) == 4999
    assert time.perf_counter() - t < 2.0


# --------------------------------------------------------------------------- converters

def converted(tmp_path: Path, fmt: str, src: Path, meta: Path | None = None) -> tuple[dict, Dataset]:
    summary = convert(fmt, src, meta, tmp_path / "out")
    return summary, load_dataset(tmp_path / "out")


GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
          "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
          "War", "Western"]


def ml100k(folder: Path, item_rows: list[str] | None = None, data: str | None = None) -> Path:
    put(folder, "u.genre", "".join(f"{g}|{k}\n" for k, g in enumerate(GENRES)) + "\n")

    def flags(*names: str) -> str:
        return "|".join("1" if g in names else "0" for g in GENRES)

    rows = item_rows if item_rows is not None else [
        f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags('Animation', 'Comedy')}",
        f"2|Caf\xe9 \"Noir\" (1996)|01-Jan-1996||http://y|{flags('Drama')}",
        f"3|unknown||||{flags('unknown')}",
    ]
    put(folder, "u.item", "".join(r + "\n" for r in rows), encoding="latin-1")
    put(folder, "u.data", data if data is not None else "196\t1\t3\t881250949\n22\t2\t1\t878887116\n"
                                                          "196\t3\t5\t881250950\n")
    return folder


def test_movielens_100k(tmp_path: Path) -> None:
    summary, ds = converted(tmp_path, "movielens-100k", ml100k(tmp_path / "ml"))
    assert ds.interactions == [Interaction("196", "1", 3.0, 881250949),
                               Interaction("22", "2", 1.0, 878887116),
                               Interaction("196", "3", 5.0, 881250950)]
    assert ds.items == {"1": Item("1", "Toy Story (1995)", ("Animation", "Comedy")),
                        "2": Item("2", 'Café "Noir" (1996)', ("Drama",)),
                        "3": Item("3", "unknown", ())}  # the "unknown" genre means none
    assert summary | {"out": None} == {
        "format": "movielens-100k", "out": None, "n_interactions": 3, "n_users": 2, "n_items": 3,
        "n_dropped_duplicates": 0, "n_items_without_meta": 0, "n_meta_unused": 0, "rating_min": 1.0,
        "rating_max": 5.0, "mean_rating": 3.0, "like_rate": 2 / 3}


def test_movielens_latest(tmp_path: Path) -> None:
    src = tmp_path / "src"
    put(src, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,0.5,964982224\n"
                            "2,1,3.5,1445714835\n2,1,3.5,1445714835\n")
    put(src, "movies.csv", 'movieId,title,genres\n1,"American President, The (1995)",Comedy|Drama|Romance\n'
                           "2,Nothing (2000),(no genres listed)\n3,Unrated (2001),Horror\n")
    put(src, "tags.csv", "userId,movieId,tag,timestamp\n2,1,funny,1445714994\n2,1,\"Highly, quotable\",1\n"
                         "1,2,dark,3\n1,3,never rated,4\n")
    summary, ds = converted(tmp_path, "movielens-latest", src)
    assert ds.interactions == [
        Interaction("1", "1", 4.0, 964982703), Interaction("1", "2", 0.5, 964982224, "dark"),
        Interaction("2", "1", 3.5, 1445714835, "funny; Highly, quotable")]
    assert ds.items == {"1": Item("1", "American President, The (1995)", ("Comedy", "Drama", "Romance")),
                        "2": Item("2", "Nothing (2000)", ())}
    assert {k: summary[k] for k in ("n_interactions", "n_users", "n_items", "n_dropped_duplicates",
                                    "n_meta_unused", "n_tags", "n_tags_attached", "n_tags_dropped")} == {
        "n_interactions": 3, "n_users": 2, "n_items": 2, "n_dropped_duplicates": 1, "n_meta_unused": 1,
        "n_tags": 4, "n_tags_attached": 3, "n_tags_dropped": 1}


def test_shipped_demo_dataset(tmp_path: Path) -> None:
    assert {p.name for p in DEMO.iterdir()} == {"ratings.csv", "movies.csv", "tags.csv", "README.txt"}
    summary, ds = converted(tmp_path, "movielens-latest", DEMO)
    assert (summary["n_interactions"], summary["n_users"], summary["n_items"]) == (100_836, 610, 9_724)
    assert len(ds.interactions) == 100_836 and len(ds.items) == 9_724


AMAZON_2014_HEAD = ("reviewerID,asin,reviewerName,helpful,reviewText,overall,summary,unixReviewTime,"
                    "reviewTime\n")


def test_amazon_2014(tmp_path: Path) -> None:
    src = put(tmp_path, "reviews.csv", AMAZON_2014_HEAD +
              'A1,B01,"cassandra ""tu""","[0, 0]","Works, mostly.",5.0,good,1393545600,"02 28, 2014"\n'
              "A2,B01,Jake,\"[1, 2]\",,2.0,Meh,1363392000,\"03 16, 2013\"\n"
              'A1,B02,x,"[0, 0]","Text only",4.0,,1363392001,"03 16, 2013"\n')
    meta = put(tmp_path, "meta.csv", "Product ID,Description,price,Category\n"
                                     "B01,Cable 1/4&quot; plugs,19.56,Instrument Cables\n"
                                     "B09,Never reviewed,1.00,Picks\n")
    summary, ds = converted(tmp_path, "amazon-2014", src, meta)
    assert ds.interactions == [Interaction("A1", "B01", 5.0, 1393545600, "good. Works, mostly."),
                               Interaction("A2", "B01", 2.0, 1363392000, "Meh"),
                               Interaction("A1", "B02", 4.0, 1363392001, "Text only")]
    assert ds.items == {"B01": Item("B01", 'Cable 1/4" plugs', ("Instrument Cables",)), "B02": Item("B02")}
    assert (summary["n_items_without_meta"], summary["n_meta_unused"]) == (1, 1)
    summary, ds = converted(tmp_path / "nometa", "amazon-2014", src)
    assert ds.items == {"B01": Item("B01"), "B02": Item("B02")}


def amazon_2018_lines() -> list[str]:
    base = {"overall": 5.0, "verified": True, "reviewTime": "09 4, 2015", "reviewerID": "R1", "asin": "P1",
            "style": {"Color:": " Blue"}, "reviewerName": "T", "reviewText": "Great!",
            "summary": "Five Stars",
            "unixReviewTime": 1441324800}
    return [json.dumps(base),
            json.dumps(base),  # exact duplicate line
            json.dumps(base | {"style": {"Color:": " Red"}}),  # the same review copied to another variant
            json.dumps(base | {"asin": "P9"}),  # ... and onto a sibling asin: one judgement, collapsed
            json.dumps(base | {"reviewerID": "R2", "overall": 2.0, "summary": "Too small"}),
            json.dumps({"overall": 3, "reviewerID": "R2", "asin": "P2", "unixReviewTime": 1441324801})]


@pytest.mark.parametrize("gz", [False, True])
def test_amazon_2018(tmp_path: Path, gz: bool) -> None:
    text = "\n".join(amazon_2018_lines()) + "\n"
    src = (put(tmp_path, "F_5.json.gz", gzip.compress(text.encode())) if gz
           else put(tmp_path, "F_5.jsonl", text))
    meta = put(tmp_path, "meta.jsonl", json.dumps({"asin": "P1", "title": "Kid&#39;s Tee", "description": [
        "Soft", "cotton"], "category": ["Clothing, Shoes &amp; Jewelry", "Boys"]}) + "\n"
        + json.dumps({"asin": "P3", "title": "Unreviewed"}) + "\n")
    summary, ds = converted(tmp_path, "amazon-2018", src, meta)
    assert ds.interactions == [Interaction("R1", "P1", 5.0, 1441324800, "Five Stars. Great!"),
                               Interaction("R2", "P1", 2.0, 1441324800, "Too small. Great!"),
                               Interaction("R2", "P2", 3.0, 1441324801, "")]
    assert ds.items == {"P1": Item("P1", "Kid's Tee", ("Clothing, Shoes & Jewelry", "Boys"), "Soft cotton"),
                        "P2": Item("P2")}
    assert {k: summary[k] for k in ("n_interactions", "n_users", "n_items", "n_dropped_duplicates",
                                    "n_variant_copies", "n_items_without_meta", "n_meta_unused")} == {
        "n_interactions": 3, "n_users": 2, "n_items": 2, "n_dropped_duplicates": 0, "n_variant_copies": 3,
        "n_items_without_meta": 1, "n_meta_unused": 1}


YELP_HEAD = "business_id,date,review_id,stars,text,type,user_id,cool,useful,funny\n"


def test_yelp_reviews(tmp_path: Path) -> None:
    src = put(tmp_path, "yelp.csv", YELP_HEAD +
              'B1,2011-01-26,r1,5,"Great.\n\nWould ""go"" again",review,U1,2,5,0\n'
              "B2,1970-01-02,r2,1,,review,U1,0,0,0\n")
    summary, ds = converted(tmp_path, "yelp-reviews", src)
    assert ds.interactions == [Interaction("U1", "B1", 5.0, 1_296_000_000, 'Great.\n\nWould "go" again'),
                               Interaction("U1", "B2", 1.0, 86_400, "")]
    assert ds.items == {"B1": Item("B1"), "B2": Item("B2")}
    assert (summary["n_users"], summary["n_items_without_meta"]) == (1, 2)


def test_formats_listed() -> None:
    assert list(FORMATS) == ["movielens-100k", "movielens-latest", "amazon-2014", "amazon-2018",
                             "yelp-reviews"]


# --------------------------------------------------------------------------- converter input errors

def bad_source(tmp_path: Path, case: str) -> tuple[str, Path, Path | None, Path, int, str, str]:
    """Build one broken source: (format, src, meta, file at fault, line, column, message fragment)."""
    t = tmp_path / "src"
    ok_review = 'A1,B01,n,"[0, 0]",text,5.0,s,1393545600,x\n'
    if case == "amazon-2014 no overall":
        src = put(t, "r.csv", "reviewerID,asin,reviewText\nA,B,t\n")
        return "amazon-2014", src, None, src, 1, "overall", "missing required column"
    if case == "amazon-2014 rating five":
        src = put(t, "r.csv", AMAZON_2014_HEAD + ok_review + 'A2,B01,n,"[0, 0]",t,five,s,1,x\n')
        return "amazon-2014", src, None, src, 3, "overall", "'five' is not a number"
    if case == "amazon-2014 empty file":
        src = put(t, "r.csv", "")
        return "amazon-2014", src, None, src, 1, "reviewerID", "empty file"
    if case == "amazon-2014 header only":
        src = put(t, "r.csv", AMAZON_2014_HEAD)
        return "amazon-2014", src, None, src, 2, "reviewerID", "no data rows"
    if case == "amazon-2014 bad timestamp":
        src = put(t, "r.csv", AMAZON_2014_HEAD + 'A2,B01,n,"[0, 0]",t,5.0,s,"02 28, 2014",x\n')
        return "amazon-2014", src, None, src, 2, "unixReviewTime", "not an integer"
    if case == "amazon-2014 meta latin-1":
        src = put(t, "r.csv", AMAZON_2014_HEAD + ok_review)
        meta = put(t, "m.csv", "Product ID,Description,price,Category\nB01,Caf\xe9 pick,1,Picks\n", "latin-1")
        return "amazon-2014", src, meta, meta, 2, "Description", "not valid utf-8"
    if case == "amazon-2014 meta no id":
        src = put(t, "r.csv", AMAZON_2014_HEAD + ok_review)
        meta = put(t, "m.csv", "asin,Description\nB01,x\n")
        return "amazon-2014", src, meta, meta, 1, "Product ID", "missing required column"
    if case == "amazon-2018 invalid json":
        src = put(t, "a.jsonl", '{"overall": 5.0, "reviewerID": "R", "asin": "P"}\n{"overall": 5.0,\n')
        return "amazon-2018", src, None, src, 2, "17", "invalid JSON"
    if case == "amazon-2018 no overall":
        src = put(t, "a.jsonl", '{"reviewerID": "R", "asin": "P"}\n')
        return "amazon-2018", src, None, src, 1, "overall", "missing required key"
    if case == "amazon-2018 rating five":
        src = put(t, "a.jsonl", '{"overall": "five", "reviewerID": "R", "asin": "P"}\n')
        return "amazon-2018", src, None, src, 1, "overall", "not a number"
    if case == "amazon-2018 empty gz":
        src = put(t, "a.json.gz", gzip.compress(b""))
        return "amazon-2018", src, None, src, 1, "reviewerID", "empty file"
    if case == "amazon-2018 meta categories":
        src = put(t, "a.jsonl", '{"overall": 5.0, "reviewerID": "R", "asin": "P"}\n')
        meta = put(t, "m.jsonl", '{"asin": "P", "category": "Boys"}\n')
        return "amazon-2018", src, meta, meta, 1, "category", "expected a list"
    if case == "ml-100k latin-1 read as utf-8":
        src = ml100k(t, data="1\t1\t3\t5\n1\t2\t4\t5\n")
        put(t, "u.data", "1\t1\t3\t5\n1\t2\t4\t5\n1\t\xe9\t4\t5\n", "latin-1")
        return "movielens-100k", src, None, t / "u.data", 3, "item id", "not valid utf-8"
    if case == "ml-100k genre flag":
        src = ml100k(t, ["1|A (1995)|||u|" + "|".join(["0"] * 18 + ["2"])])
        return "movielens-100k", src, None, t / "u.item", 1, "Western", "not 0 or 1"
    if case == "ml-100k short item row":
        src = ml100k(t, ["1|A (1995)|||u|0|1"])
        return "movielens-100k", src, None, t / "u.item", 1, "Adventure", "row has 7 fields"
    if case == "ml-100k rating":
        src = ml100k(t, data="1\t1\t3\t5\n1\t2\t-\t5\n")
        return "movielens-100k", src, None, t / "u.data", 2, "rating", "not a number"
    if case == "ml-latest movies latin-1":
        put(t, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4,1\n")
        put(t, "movies.csv", "movieId,title,genres\n1,A,Drama\n2,Caf\xe9,Drama\n", "latin-1")
        return "movielens-latest", t, None, t / "movies.csv", 3, "title", "not valid utf-8"
    if case == "ml-latest tag without movie":
        put(t, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4,1\n")
        put(t, "movies.csv", "movieId,title,genres\n1,A,Drama\n")
        put(t, "tags.csv", "userId,movieId,tag,timestamp\n1,,x,1\n")
        return "movielens-latest", t, None, t / "tags.csv", 2, "movieId", "empty id"
    if case == "ml-latest rating timestamp":
        put(t, "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4,1\n1,2,4,soon\n")
        put(t, "movies.csv", "movieId,title,genres\n1,A,Drama\n")
        return "movielens-latest", t, None, t / "ratings.csv", 3, "timestamp", "not an integer"
    if case == "yelp bad date":
        src = put(t, "y.csv", YELP_HEAD + "B,26/01/2011,r,5,t,review,U,0,0,0\n")
        return "yelp-reviews", src, None, src, 2, "date", "not YYYY-MM-DD"
    if case == "yelp empty business":
        src = put(t, "y.csv", YELP_HEAD + 'B,2011-01-26,r,5,"multi\nline",review,U,0,0,0\n'
                                          ",2011-01-26,r,5,t,review,U,0,0,0\n")
        return "yelp-reviews", src, None, src, 4, "business_id", "empty item id"
    if case == "yelp no stars":
        src = put(t, "y.csv", "business_id,user_id,text\nB,U,t\n")
        return "yelp-reviews", src, None, src, 1, "stars", "missing required column"
    raise AssertionError(case)


BAD_SOURCES = [
    "amazon-2014 no overall", "amazon-2014 rating five", "amazon-2014 empty file", "amazon-2014 header only",
    "amazon-2014 bad timestamp", "amazon-2014 meta latin-1", "amazon-2014 meta no id",
    "amazon-2018 invalid json", "amazon-2018 no overall", "amazon-2018 rating five", "amazon-2018 empty gz",
    "amazon-2018 meta categories", "ml-100k latin-1 read as utf-8", "ml-100k genre flag",
    "ml-100k short item row", "ml-100k rating", "ml-latest movies latin-1", "ml-latest tag without movie",
    "ml-latest rating timestamp", "yelp bad date", "yelp empty business", "yelp no stars",
]


@pytest.mark.parametrize("case", BAD_SOURCES)
def test_convert_bad_source(tmp_path: Path, case: str) -> None:
    fmt, src, meta, path, line, column, fragment = bad_source(tmp_path, case)
    with pytest.raises(DataError) as e:
        convert(fmt, src, meta, tmp_path / "out")
    check_error(e.value, path, line, column, fragment)
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_convert_missing_source(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(DataError) as e:
        convert(fmt, tmp_path / "missing", None, tmp_path / "out")
    missing = tmp_path / "missing"
    assert str(e.value) in (f"{missing}: folder not found", f"{missing}: file not found")


def test_convert_missing_file_in_folder(tmp_path: Path) -> None:
    src = ml100k(tmp_path / "ml")
    (src / "u.genre").unlink()
    with pytest.raises(DataError) as e:
        convert("movielens-100k", src, None, tmp_path / "out")
    assert str(e.value) == f"{src / 'u.genre'}: file not found"


def test_convert_usage_errors(tmp_path: Path) -> None:
    src = ml100k(tmp_path / "ml")
    with pytest.raises(StreamsimError, match="unknown format 'imdb'; choose one of: movielens-100k"):
        convert("imdb", src, None, tmp_path / "out")
    with pytest.raises(DataError) as e:
        convert("movielens-100k", src, src / "u.item", tmp_path / "out")
    assert str(e.value) == f"{src / 'u.item'}: format movielens-100k takes no meta file"
    bad_gz = put(tmp_path, "x.json.gz", b"not gzip")
    with pytest.raises(DataError, match="not a valid gzip file"):
        convert("amazon-2018", bad_gz, None, tmp_path / "out")
