"""OASST1 English validation ratings and pairs shipped with the package, and how they are made.

The files in ``encore_jax/datasets/oasst1/`` (paths: :func:`oasst1_path`) are derived from the
English rows of the ``validation`` split of OpenAssistant/oasst1 (Köpf et al.,
arXiv:2304.07327; Apache-2.0) by :func:`build_oasst1_files`; ``README.md`` there gives the
source file, its sha256 and the command. Rebuild them with::

    python -m encore_jax.datasets.build_oasst1 oasst1_en_validation.jsonl.gz OUT_DIR

Shipped files (CSV; an empty cell is a missing label):

* ``pairs.csv``: the 1,026 preference pairs in the wide pairs layout every pairs reader takes:
  ``group_id`` (parent message id), ``message_id_chosen``, ``message_id_rejected`` (these
  names avoid the ``chosen_`` / ``rejected_`` rating prefixes), then ``chosen_<label>`` and
  ``rejected_<label>``: raw oriented values (floats, higher = better).
* ``pairs_levels.csv``: ``group_id`` and the same blocks as integer levels ``0..L-1``.
* ``ratings.csv``: one row per assistant reply: ``response_id`` (message id), ``group_id``,
  the 13 raw oriented values.
* ``ratings_levels.csv``: ``response_id`` and the 13 integer levels (no group column, so
  the wide ratings reader needs only ``id_column="response_id"``).

Levels: the dense rank of each distinct oriented value within its label, over all 1,243
assistant replies (:func:`encore_jax.datasets.oasst.dense_levels`); ``L`` =
:data:`OASST1_NUM_LEVELS` = 38, the distinct values of ``quality``. OASST1 values are means of
a varying number of annotators' ratings, so they lie on no common coarse grid (e.g. 1/3 and
1/4 and 1/7 all occur); the dense rank keeps every distinct value a level, so the plug-in
entropies equal those of the raw values and every per-label win / tie is unchanged.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from encore_jax.datasets.oasst import (
    NEGATED_LABELS,
    STANDARD_LABELS,
    dense_levels,
    oasst_preference_pairs,
    oasst_reply_ratings,
    read_oasst_messages,
)

__all__ = [
    "OASST1_ATTRIBUTION",
    "OASST1_FILES",
    "OASST1_NUM_LEVELS",
    "OASST1_SOURCE_SHA256",
    "Oasst1",
    "build_oasst1_files",
    "derive_oasst1",
    "load_oasst1",
    "oasst1_path",
]

OASST1_SOURCE_SHA256 = "b92db3f1db324f5aa3c5d75ed65a451b54063de1de7370506233c9917043bd66"
"""sha256 of the decompressed source: ``original-data/en-validation.jsonl`` of the GitHub
repository TurkuNLP/oasst-fi at commit f164a7d3ace246eec0ac04a4aa5dec26f2342d7c (the
``lang == "en"`` rows of OpenAssistant/oasst1, split ``validation``)."""

OASST1_NUM_LEVELS = 38
"""Levels to declare for the shipped level files (``--levels 38``)."""

OASST1_ATTRIBUTION = (
    "OpenAssistant Conversations (OASST1), OpenAssistant/oasst1, validation split, English rows; "
    "Köpf et al., 'OpenAssistant Conversations: Democratizing Large Language Model Alignment', "
    "arXiv:2304.07327. Licensed under the Apache License 2.0. Copy used: TurkuNLP/oasst-fi "
    "original-data/en-validation.jsonl at commit f164a7d3ace246eec0ac04a4aa5dec26f2342d7c "
    f"(sha256 {OASST1_SOURCE_SHA256}). Derived by encore-jax: oriented label ratings of the "
    "assistant replies and sibling-rank preference pairs."
)

OASST1_FILES = {
    "pairs": "pairs.csv",
    "pairs_levels": "pairs_levels.csv",
    "ratings": "ratings.csv",
    "ratings_levels": "ratings_levels.csv",
    "readme": "README.md",
    "license": "LICENSE",
    "notice": "NOTICE",
}
"""Kind -> file name of the shipped OASST1 files (:func:`oasst1_path`)."""


class Oasst1(NamedTuple):
    """The OASST1 English validation replies and preference pairs.

    Shapes: ``N`` = 1,243 assistant replies, ``P`` = 1,026 pairs, ``K`` = 13 labels.

    Attributes:
      rule_names: the ``K`` label names.
      negated: boolean ``[K]``: the column holds ``0 - value`` (higher = better).
      num_levels: ``L``, the number of integer levels (max distinct values of a label).
      level_values: per label, the sorted distinct oriented values; level ``j`` of label
        ``k`` stands for ``level_values[k][j]``.
      message_ids, group_ids: ``[N]`` reply ids and their parent (prompt) ids.
      values: ``float64`` ``[N, K]`` raw oriented values, ``NaN`` where missing.
      levels: ``int32`` ``[N, K]`` levels, ``0`` where missing.
      mask: boolean ``[N, K]``, ``True`` = observed.
      chosen, rejected: ``int64`` ``[P]`` rows of the preferred / other reply.
      pair_group_ids, chosen_ids, rejected_ids: ``[P]`` parent id and the two message ids.
      attribution: source, authors, license.
    """

    rule_names: tuple[str, ...]
    negated: np.ndarray
    num_levels: int
    level_values: tuple[np.ndarray, ...]
    message_ids: np.ndarray
    group_ids: np.ndarray
    values: np.ndarray
    levels: np.ndarray
    mask: np.ndarray
    chosen: np.ndarray
    rejected: np.ndarray
    pair_group_ids: np.ndarray
    chosen_ids: np.ndarray
    rejected_ids: np.ndarray
    attribution: str

    @property
    def chosen_values(self) -> np.ndarray:
        return self.values[self.chosen]

    @property
    def rejected_values(self) -> np.ndarray:
        return self.values[self.rejected]

    @property
    def chosen_levels(self) -> np.ndarray:
        return self.levels[self.chosen]

    @property
    def rejected_levels(self) -> np.ndarray:
        return self.levels[self.rejected]

    @property
    def pair_mask(self) -> np.ndarray:
        """Boolean ``[P, K]``: both replies carry the label."""
        return self.mask[self.chosen] & self.mask[self.rejected]

    @property
    def complete_pairs(self) -> np.ndarray:
        """Boolean ``[P]``: both replies carry all ``K`` labels (997 of 1,026)."""
        return self.pair_mask.all(axis=1)


def oasst1_path(kind: str = "pairs") -> Path:
    """Path of a shipped OASST1 file; ``kind`` is a key of :data:`OASST1_FILES`."""
    if kind not in OASST1_FILES:
        raise ValueError(f"kind must be one of {sorted(OASST1_FILES)}, got {kind!r}")
    return Path(str(resources.files("encore_jax.datasets") / "oasst1" / OASST1_FILES[kind]))


def _assemble(
    rule_names: tuple[str, ...], negated: np.ndarray, message_ids: np.ndarray,
    group_ids: np.ndarray, values: np.ndarray, chosen: np.ndarray, rejected: np.ndarray,
    pair_group_ids: np.ndarray,
) -> Oasst1:
    mask = ~np.isnan(values)
    levels, table = dense_levels(values, mask)
    return Oasst1(
        rule_names, negated, max(len(t) for t in table), tuple(table), message_ids, group_ids,
        values, levels, mask, chosen, rejected, pair_group_ids, message_ids[chosen],
        message_ids[rejected], OASST1_ATTRIBUTION)


def derive_oasst1(messages: Sequence[dict[str, Any]]) -> Oasst1:
    """:class:`Oasst1` from raw OASST messages: the 13 standard labels, the standard
    orientation, every assistant reply, every pair of ranked siblings."""
    ratings = oasst_reply_ratings(messages, labels=STANDARD_LABELS, negated=NEGATED_LABELS)
    pairs = oasst_preference_pairs(ratings)
    return _assemble(ratings.rule_names, ratings.negated, ratings.message_ids,
                     ratings.group_ids, ratings.values, pairs.chosen, pairs.rejected,
                     pairs.group_ids)


def _cell(value: float) -> str:
    """Shortest exact text of a float (``repr`` round-trips); integers without ``.0``."""
    if math.isnan(value):
        return ""
    return str(int(value)) if value == int(value) else repr(float(value))


def _write_csv(path: Path, header: Sequence[str], rows: Any) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _level_cells(levels: np.ndarray, mask: np.ndarray) -> list[str]:
    return [str(int(v)) if m else "" for v, m in zip(levels, mask, strict=True)]


def write_oasst1_files(data: Oasst1, out_dir: str | Path) -> list[Path]:
    """Writes the four CSV files of ``data`` into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = data.rule_names
    blocks = [f"chosen_{n}" for n in names] + [f"rejected_{n}" for n in names]
    c, r = data.chosen, data.rejected
    paths = [out / OASST1_FILES[k] for k in ("pairs", "pairs_levels", "ratings", "ratings_levels")]
    _write_csv(paths[0], ["group_id", "message_id_chosen", "message_id_rejected", *blocks], (
        [g, data.message_ids[i], data.message_ids[j],
         *map(_cell, data.values[i]), *map(_cell, data.values[j])]
        for g, i, j in zip(data.pair_group_ids, c, r, strict=True)))
    _write_csv(paths[1], ["group_id", *blocks], (
        [g, *_level_cells(data.levels[i], data.mask[i]),
         *_level_cells(data.levels[j], data.mask[j])]
        for g, i, j in zip(data.pair_group_ids, c, r, strict=True)))
    _write_csv(paths[2], ["response_id", "group_id", *names], (
        [m, g, *map(_cell, v)]
        for m, g, v in zip(data.message_ids, data.group_ids, data.values, strict=True)))
    _write_csv(paths[3], ["response_id", *names], (
        [m, *_level_cells(lv, mk)]
        for m, lv, mk in zip(data.message_ids, data.levels, data.mask, strict=True)))
    return paths


def build_oasst1_files(
    source: str | Path, out_dir: str | Path, *, expected_sha256: str | None = OASST1_SOURCE_SHA256
) -> list[Path]:
    """Regenerates the shipped CSV files from the raw OASST1 JSONL (gzipped or plain).

    Args:
      source: the English validation rows, ``oasst1_en_validation.jsonl.gz``.
      out_dir: where to write ``pairs.csv``, ``pairs_levels.csv``, ``ratings.csv``,
        ``ratings_levels.csv``.
      expected_sha256: sha256 of the decompressed source; ``None`` skips the check (the
        files then no longer match the shipped provenance).

    Raises:
      ValueError: the source's sha256 differs from ``expected_sha256``.
    """
    source = Path(source)
    if expected_sha256 is not None:
        with source.open("rb") as handle:
            gzipped = handle.read(2) == b"\x1f\x8b"
        with (gzip.open if gzipped else open)(source, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if digest != expected_sha256:
            raise ValueError(
                f"{source}: sha256 of its content is {digest}, expected {expected_sha256}; "
                "pass expected_sha256=None to derive from another copy")
    return write_oasst1_files(derive_oasst1(read_oasst_messages(source)), out_dir)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _floats(rows: list[list[str]], start: int, stop: int) -> np.ndarray:
    return np.array([[float(x) if x else np.nan for x in row[start:stop]] for row in rows],
                    dtype=np.float64).reshape(len(rows), stop - start)


def load_oasst1() -> Oasst1:
    """The OASST1 English validation replies and pairs shipped with the package.

    Reads ``ratings.csv`` and ``pairs.csv`` (see the module docstring); the levels are the
    dense ranks of the values (:func:`encore_jax.datasets.oasst.dense_levels`), equal to the
    shipped level files. Label orientation: :data:`encore_jax.datasets.oasst.NEGATED_LABELS`
    are negated.

    Example::

        from encore_jax.datasets import load_oasst1
        data = load_oasst1()
        data.chosen_levels.shape      # (1026, 13)
        data.complete_pairs.sum()     # 997
    """
    header, rows = _read_csv(oasst1_path("ratings"))
    names = tuple(header[2:])
    message_ids = np.array([row[0] for row in rows], dtype=str)
    group_ids = np.array([row[1] for row in rows], dtype=str)
    values = _floats(rows, 2, 2 + len(names))
    pair_header, pair_rows = _read_csv(oasst1_path("pairs"))
    if pair_header[3:] != [f"chosen_{n}" for n in names] + [f"rejected_{n}" for n in names]:
        raise ValueError(f"{oasst1_path('pairs')}: columns do not match {oasst1_path('ratings')}")
    row_of = {m: i for i, m in enumerate(message_ids)}
    chosen = np.array([row_of[row[1]] for row in pair_rows], dtype=np.int64)
    rejected = np.array([row_of[row[2]] for row in pair_rows], dtype=np.int64)
    negated = np.array([n in NEGATED_LABELS for n in names])
    return _assemble(names, negated, message_ids, group_ids, values, chosen, rejected,
                     np.array([row[0] for row in pair_rows], dtype=str))
