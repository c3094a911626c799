"""On-disk rating formats: readers and writers.

A *wide* rating table has one row per response and one column per rule; the header (CSV) or
``rule_names`` array (NPZ) names the rules. Missing ratings become ``mask = False``, never a
fill value. Malformed files raise :class:`DataError`, whose message names the file, and the
row and column where they are known.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = ["DataError", "RatingTable", "example_ratings_path", "read_ratings"]


class DataError(ValueError):
    """A file that cannot be read as ratings; the message names the file and position."""


@dataclasses.dataclass(frozen=True)
class RatingTable:
    """Ratings read from a file.

    Attributes:
      rule_names: the ``K`` rule names, in column order.
      ratings: integer levels ``[N, K]`` (``int32``); masked entries hold 0.
      mask: boolean ``[N, K]``, ``True`` = observed.
      source: the file it came from.
    """

    rule_names: tuple[str, ...]
    ratings: np.ndarray
    mask: np.ndarray
    source: str

    @property
    def fully_observed(self) -> bool:
        return bool(self.mask.all())


def example_ratings_path() -> Path:
    """The small demo data set that ships with the package (10 rules, 5 levels)."""
    return Path(str(resources.files("encore_jax") / "examples" / "demo_ratings.csv"))


def read_ratings(path: str | Path, *, mask_value: float | None = None) -> RatingTable:
    """Reads a wide table of integer ratings from ``.csv`` or ``.npz``.

    Args:
      path: a CSV file (header = rule names; an empty cell is a missing rating) or an NPZ
        archive with ``ratings [N, K]`` and optional ``rule_names [K]`` and ``mask [N, K]``.
      mask_value: a rating value that means "missing" (e.g. ``-1``), masked like an empty cell.

    Returns:
      A :class:`RatingTable`.

    Raises:
      DataError: a missing, empty or malformed file, a non-integer rating, or duplicate
        rule names; the message names the file, row and column.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        table = _read_csv(path, mask_value)
    elif suffix == ".npz":
        table = _read_npz(path, mask_value)
    else:
        raise DataError(f"{path}: unsupported format {suffix!r} (expected .csv or .npz)")
    _check_rule_names(path, table.rule_names)
    return table


def _check_rule_names(path: Path, names: tuple[str, ...]) -> None:
    if not names:
        raise DataError(f"{path}: no rule columns")
    seen: set[str] = set()
    for column, name in enumerate(names):
        if not name:
            raise DataError(f"{path}: column {column + 1} has an empty rule name")
        if name in seen:
            raise DataError(f"{path}: duplicate rule name {name!r} (column {column + 1})")
        seen.add(name)


def _parse_level(
    path: Path, cell: str, row: int, name: str, mask_value: float | None
) -> int | None:
    text = cell.strip()
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{path}: row {row}, column {name!r}: {text!r} is not a number") from None
    if mask_value is not None and value == mask_value:
        return None
    if not math.isfinite(value) or value != int(value):
        raise DataError(f"{path}: row {row}, column {name!r}: {text!r} is not an integer level")
    return int(value)


def _read_csv(path: Path, mask_value: float | None) -> RatingTable:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    if not rows:
        raise DataError(f"{path}: empty file (expected a header of rule names)")
    names = tuple(name.strip() for name in rows[0])
    _check_rule_names(path, names)
    body = rows[1:]
    if not body:
        raise DataError(f"{path}: header only, no ratings")
    ratings = np.zeros((len(body), len(names)), dtype=np.int32)
    mask = np.ones((len(body), len(names)), dtype=bool)
    for i, row in enumerate(body):
        line = i + 2
        if len(row) != len(names):
            raise DataError(f"{path}: row {line} has {len(row)} cells, header has {len(names)}")
        for k, cell in enumerate(row):
            level = _parse_level(path, cell, line, names[k], mask_value)
            if level is None:
                mask[i, k] = False
            else:
                ratings[i, k] = level
    return RatingTable(names, ratings, mask, str(path))


def _read_npz(path: Path, mask_value: float | None) -> RatingTable:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception as err:
        raise DataError(f"{path}: not a readable NPZ archive ({err})") from None
    if "ratings" not in arrays:
        raise DataError(f"{path}: no 'ratings' array (found {sorted(arrays)})")
    ratings = arrays["ratings"]
    if ratings.ndim != 2:
        raise DataError(f"{path}: 'ratings' must be [N, K], got shape {ratings.shape}")
    mask = arrays.get("mask", np.ones(ratings.shape, dtype=bool))
    if mask.shape != ratings.shape or mask.dtype != np.bool_:
        raise DataError(f"{path}: 'mask' must be boolean with shape {ratings.shape}")
    if mask_value is not None:
        mask = mask & (ratings != mask_value)
    if ratings.dtype.kind == "f":
        observed = ratings[mask]
        bad = ~np.isfinite(observed) | (observed != np.round(observed))
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(mask)[np.argmax(bad)])
            raise DataError(f"{path}: ratings{list(index)} = {ratings[index]} is not an integer")
        ratings = np.where(mask, ratings, 0)
    elif ratings.dtype.kind not in "iu":
        raise DataError(f"{path}: 'ratings' must be numeric, got dtype {ratings.dtype}")
    int32 = np.iinfo(np.int32)
    if ratings.size and (ratings.min() < int32.min or ratings.max() > int32.max):
        raise DataError(f"{path}: 'ratings' holds values outside the int32 range")
    default_names = [f"rule_{k}" for k in range(ratings.shape[1])]
    names = tuple(str(n) for n in arrays.get("rule_names", default_names))
    if len(names) != ratings.shape[1]:
        raise DataError(f"{path}: {len(names)} rule_names for {ratings.shape[1]} columns")
    return RatingTable(names, ratings.astype(np.int32), mask, str(path))
