"""The generic dataset format on disk, and the row readers the converters share.

A dataset is a folder with ``interactions.csv`` or ``interactions.jsonl``
(``user_id,item_id,rating,timestamp,review``) and optionally ``items.csv`` or ``items.jsonl``
(``item_id,title,categories,description``; categories separated by ``|``). Every problem in the input
is raised as a ``DataError`` naming file, line (1-based, a CSV header is line 1) and column.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from streamsim.data.schema import Dataset, Interaction, Item
from streamsim.errors import DataError

__all__ = ["load_dataset", "write_dataset", "read_bytes", "csv_rows", "jsonl_rows", "make_interaction",
           "INTERACTION_COLUMNS", "ITEM_COLUMNS"]

INTERACTION_COLUMNS = ("user_id", "item_id", "rating", "timestamp", "review")
ITEM_COLUMNS = ("item_id", "title", "categories", "description")
CATEGORY_SEP = "|"

# Review texts can exceed the csv module's default 128 KiB field limit.
csv.field_size_limit(max(csv.field_size_limit(), 1 << 28))

_SURROGATE = re.compile("[\udc80-\udcff]")  # undecodable bytes under errors="surrogateescape"


# --------------------------------------------------------------------------- reading raw files

def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it ends in ``.gz``."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("file not found", str(path)) from None
    except IsADirectoryError:
        raise DataError("expected a file, found a folder", str(path)) from None
    except OSError as e:
        raise DataError(f"cannot read file: {e.strerror}", str(path)) from None
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"not a valid gzip file ({e})", str(path)) from None
    return data


def _decode(data: bytes, path: Path, encoding: str, locate) -> str:
    """Decode strictly; on failure report the line of the first bad byte, and the column ``locate``
    finds for it in the leniently decoded text."""
    codec = "utf-8-sig" if encoding.replace("_", "-").lower() in ("utf-8", "utf8") else encoding
    try:
        return data.decode(codec)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        text = data.decode(codec, errors="surrogateescape")
        try:
            column = locate(text, line)
        except Exception:  # locating is best effort; the line is what matters
            column = None
        raise DataError(f"byte 0x{data[e.start]:02x} is not valid {encoding} (wrong encoding?)",
                        str(path), line, column) from None


# --------------------------------------------------------------------------- CSV rows

def csv_rows(path: Path, columns: Sequence[str], optional: Sequence[str] = (), *,
             names: Sequence[str] | None = None, encoding: str = "utf-8", delimiter: str = ",",
             quoting: int = csv.QUOTE_MINIMAL, need_rows: bool = True
             ) -> Iterator[tuple[int, list[str | None]]]:
    """Yield ``(line, values)`` for each data row, ``values`` ordered as ``columns + optional``
    (``None`` for an optional column the file lacks). The header is the first row unless ``names``
    gives the columns of a headerless file. ``line`` is where the row starts."""
    dialect = {"delimiter": delimiter, "quoting": quoting}
    file = str(path)

    def locate(text: str, _line: int) -> str | None:
        reader = csv.reader(io.StringIO(text, newline=""), **dialect)
        header = list(names) if names is not None else None
        for row in reader:
            hit = next((k for k, v in enumerate(row) if _SURROGATE.search(v)), None)
            if header is None:
                header = [h.strip() for h in row]
                if hit is not None:
                    return "header"
            elif hit is not None:  # the first bad byte is in the first row holding one
                return header[hit] if hit < len(header) else f"#{hit + 1}"
        return None

    text = _decode(read_bytes(path), path, encoding, locate)
    reader = csv.reader(io.StringIO(text, newline=""), **dialect)
    first = columns[0] if columns else None
    try:
        if names is None:
            header = next((row for row in reader if row), None)
            if header is None:
                raise DataError("empty file (no header row)", file, 1, first)
            header = [h.strip() for h in header]
        else:
            header = list(names)
        index = {h: k for k, h in reversed(list(enumerate(header)))}  # first occurrence wins
        for c in columns:
            if c not in index:
                raise DataError(f"missing required column (header has: {', '.join(header)})", file,
                                reader.line_num or 1, c)
        wanted = [index[c] for c in columns] + [index.get(c, -1) for c in optional]
        width = len(header)
        start = reader.line_num + 1
        n = 0
        for row in reader:
            line, start = start, reader.line_num + 1
            if not row:
                continue
            if len(row) != width:
                if len(row) < width:
                    raise DataError(f"row has {len(row)} fields, the header {width}", file, line,
                                    header[len(row)])
                raise DataError(f"row has {len(row)} fields, the header {width} "
                                f"(unquoted '{delimiter}' in a value?)", file, line, header[-1])
            n += 1
            yield line, [row[k] if k >= 0 else None for k in wanted]
    except csv.Error as e:
        raise DataError(f"malformed CSV: {e}", file, reader.line_num, None) from None
    if need_rows and n == 0:
        raise DataError("no data rows" + (" after the header" if names is None else ""), file,
                        reader.line_num + 1, first)


# --------------------------------------------------------------------------- JSON lines

def jsonl_rows(path: Path, columns: Sequence[str] = (), need_rows: bool = True
               ) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line, object)`` for each non-blank line; every object must have ``columns``."""
    file = str(path)

    def locate(text: str, bad_line: int) -> str | None:
        obj = json.loads(text.split("\n")[bad_line - 1])
        return next((k for k, v in obj.items() if _SURROGATE.search(json.dumps(v, ensure_ascii=False))),
                    None)

    text = _decode(read_bytes(path), path, "utf-8", locate)
    first = columns[0] if columns else None
    n = 0
    for line, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as e:
            raise DataError(f"invalid JSON: {e.msg}", file, line, str(e.colno)) from None
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", file, line, "1")
        for c in columns:
            if c not in obj:
                raise DataError("missing required key", file, line, c)
        n += 1
        yield line, obj
    if need_rows and n == 0:
        raise DataError("empty file (no JSON objects)", file, 1, first)


# --------------------------------------------------------------------------- field parsing

def _text(value: Any, file: str, line: int, column: str) -> str:
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise DataError(f"expected text, got {type(value).__name__}", file, line, column)


def _number(value: Any) -> float | None:
    """``value`` as a float if it is a number or numeric text, else None."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        return float(value)
    except (ValueError, OverflowError):
        return None


def _timestamp(value: Any, file: str, line: int, column: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    f = _number(value)  # "964982703.0" is still a whole second
    if f is None or not f.is_integer():
        raise DataError(f"timestamp {value!r} is not an integer (unix seconds)", file, line, column)
    return int(f)


def make_interaction(file: str, line: int, columns: Sequence[str], user: Any, item: Any, rating: Any,
                     timestamp: Any = None, review: Any = "") -> Interaction:
    """Validate one interaction's raw values (CSV strings or JSON values). ``columns`` names the
    source columns of user, item, rating and timestamp, for error messages."""
    ucol, icol, rcol, tcol = columns
    if type(user) is not str or type(item) is not str:  # CSV gives str: skip the call on the hot path
        user, item = _text(user, file, line, ucol), _text(item, file, line, icol)
    if not user or user.isspace():
        raise DataError("empty user id", file, line, ucol)
    if not item or item.isspace():
        raise DataError("empty item id", file, line, icol)
    r = _number(rating)
    if r is None:
        raise DataError(f"rating {rating!r} is not a number", file, line, rcol)
    if not math.isfinite(r):
        raise DataError(f"rating {rating!r} is not finite", file, line, rcol)
    return Interaction(user, item, r, _timestamp(timestamp, file, line, tcol),
                       review if type(review) is str else _text(review, file, line, "review"))


def _categories(value: Any, file: str, line: int) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(_text(v, file, line, "categories") for v in value if v not in (None, ""))
    return tuple(c for c in _text(value, file, line, "categories").split(CATEGORY_SEP) if c)


# --------------------------------------------------------------------------- the generic format

def _pick(folder: Path, stem: str, required: bool) -> Path | None:
    found = [p for p in (folder / f"{stem}.csv", folder / f"{stem}.jsonl") if p.is_file()]
    if len(found) > 1:
        raise DataError(f"both {stem}.csv and {stem}.jsonl exist; keep one", str(folder))
    if not found and required:
        raise DataError(f"no {stem}.csv or {stem}.jsonl in the folder", str(folder))
    return found[0] if found else None


def _rows(path: Path, columns: Sequence[str], optional: Sequence[str], need_rows: bool = True
          ) -> Iterable[tuple[int, Sequence[Any]]]:
    if path.suffix == ".csv":
        return csv_rows(path, columns, optional, need_rows=need_rows)
    every = (*columns, *optional)
    return ((line, [obj.get(c) for c in every]) for line, obj in jsonl_rows(path, columns, need_rows))


def load_dataset(path: str | Path, name: str | None = None) -> Dataset:
    """Read a dataset folder. Interactions keep file order; items come from the items file (if any)
    followed by a bare ``Item`` for each item that appears only in interactions."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError("dataset folder not found" if not folder.exists() else "not a folder", str(folder))
    ipath = _pick(folder, "interactions", required=True)
    file = str(ipath)
    interactions = [make_interaction(file, line, INTERACTION_COLUMNS[:4], *values)
                    for line, values in _rows(ipath, INTERACTION_COLUMNS[:3], INTERACTION_COLUMNS[3:])]
    items: dict[str, Item] = {}
    mpath = _pick(folder, "items", required=False)
    if mpath is not None:
        file = str(mpath)
        for line, (iid, title, cats, desc) in _rows(mpath, ITEM_COLUMNS[:1], ITEM_COLUMNS[1:], False):
            iid = _text(iid, file, line, "item_id")
            if not iid or iid.isspace():
                raise DataError("empty item id", file, line, "item_id")
            if iid in items:
                raise DataError(f"duplicate item {iid!r}", file, line, "item_id")
            items[iid] = Item(iid, _text(title, file, line, "title"), _categories(cats, file, line),
                              _text(desc, file, line, "description"))
    for x in interactions:
        if x.item_id not in items:
            items[x.item_id] = Item(x.item_id)
    return Dataset(name or folder.resolve().name, interactions, items)


def write_dataset(ds: Dataset, out: str | Path) -> None:
    """Write ``interactions.csv`` and ``items.csv`` into ``out`` (created if needed)."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "interactions.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(INTERACTION_COLUMNS)
        w.writerows((x.user_id, x.item_id, repr(x.rating), "" if x.timestamp is None else x.timestamp,
                     x.review) for x in ds.interactions)
    with open(folder / "items.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(ITEM_COLUMNS)
        for line, it in enumerate(ds.items.values(), 2):
            if any(CATEGORY_SEP in c for c in it.categories):  # would not read back as one category
                raise DataError(f"category contains '{CATEGORY_SEP}'", str(folder / "items.csv"), line,
                                "categories")
            w.writerow((it.item_id, it.title, CATEGORY_SEP.join(it.categories), it.description))
