"""The tables the readers return, and the one error type of the I/O layer.

Shapes: ``N`` rows (responses or pairs), ``K`` rules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "DataError",
    "MissingCounts",
    "PairTable",
    "RatingTable",
    "ScoreTable",
    "WeightsFile",
]


class DataError(ValueError):
    """Input that cannot be read as ratings; the message names the file, row and column
    where known, and the option or change that fixes it."""


class MissingCounts(NamedTuple):
    """What the missing-value policy did (see :mod:`encore_jax.io.missing`).

    Attributes:
      policy: ``"mask"``, ``"drop"`` or ``"error"``.
      cells: missing cells seen (unobserved ``(row, rule)`` entries; for pairs, both blocks).
      rows_dropped: rows (responses or pairs) removed by ``policy="drop"``.
    """

    policy: str = "mask"
    cells: int = 0
    rows_dropped: int = 0

    def __add__(self, other: Any) -> MissingCounts:  # type: ignore[override]
        if not isinstance(other, MissingCounts):
            return NotImplemented
        return MissingCounts(self.policy, self.cells + other.cells,
                             self.rows_dropped + other.rows_dropped)

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "cells": self.cells, "rows_dropped": self.rows_dropped}


class _Masked:
    """``fully_observed``: every entry of ``mask`` is ``True``."""

    mask: np.ndarray

    @property
    def fully_observed(self) -> bool:
        return bool(self.mask.all())


@dataclasses.dataclass(frozen=True)
class RatingTable(_Masked):
    """Ratings read from a file or an in-memory table.

    Attributes:
      rule_names: the ``K`` rule names, in column order.
      ratings: integer levels ``[N, K]`` (``int32``); masked entries hold 0.
      mask: boolean ``[N, K]``, ``True`` = observed.
      source: where it came from (a path, or a description of an in-memory table).
      ids: response ids ``[N]`` (strings) when there is an id column, else ``None``.
      text: the text columns kept beside the ratings, name -> ``[N]`` strings.
      missing: what the missing-value policy did.
    """

    rule_names: tuple[str, ...]
    ratings: np.ndarray
    mask: np.ndarray
    source: str
    ids: np.ndarray | None = None
    text: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    missing: MissingCounts = MissingCounts()

    @property
    def values(self) -> np.ndarray:
        return self.ratings


@dataclasses.dataclass(frozen=True)
class ScoreTable(_Masked):
    """Real-valued per-rule scores (e.g. reward-model head outputs).

    Attributes are those of :class:`RatingTable`, with ``scores`` (``float64`` ``[N, K]``,
    masked entries 0) in place of ``ratings``.
    """

    rule_names: tuple[str, ...]
    scores: np.ndarray
    mask: np.ndarray
    source: str
    ids: np.ndarray | None = None
    text: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    missing: MissingCounts = MissingCounts()

    @property
    def values(self) -> np.ndarray:
        return self.scores


@dataclasses.dataclass(frozen=True)
class PairTable:
    """Ratings of preference pairs: one block for the chosen, one for the rejected response.

    Attributes:
      rule_names: the ``K`` rule names.
      chosen: ratings of the chosen (or first) responses ``[N, K]``; ``int32`` from
        :func:`encore_jax.read_rating_pairs`, ``float64`` from ``read_score_pairs``; masked
        entries 0.
      rejected: ratings of the rejected (or second) responses ``[N, K]``.
      chosen_mask, rejected_mask: boolean ``[N, K]``, ``True`` = observed.
      subset: per-pair subset names ``[N]`` (strings) or ``None``.
      source: where it came from.
      ids: per-pair ids ``[N]`` (strings) or ``None``.
      text: text columns kept beside the ratings (e.g. prompt), name -> ``[N]`` strings.
      missing: what the missing-value policy did (``rows_dropped`` counts pairs).
    """

    rule_names: tuple[str, ...]
    chosen: np.ndarray
    rejected: np.ndarray
    chosen_mask: np.ndarray
    rejected_mask: np.ndarray
    subset: np.ndarray | None
    source: str
    ids: np.ndarray | None = None
    text: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    missing: MissingCounts = MissingCounts()

    @property
    def observed(self) -> np.ndarray:
        """Boolean ``[N, K]``: both ratings of the pair observed."""
        return self.chosen_mask & self.rejected_mask

    @property
    def num_pairs(self) -> int:
        return int(self.chosen.shape[0])


@dataclasses.dataclass(frozen=True)
class WeightsFile:
    """A weights JSON file: rule names, weights ``[K]``, the method and its metadata;
    ``list_names`` (``{column: names}``, from the metadata's ``list_names``) names the rules
    held in list columns of the file the weights came from, so that the same layout reads
    them by name without ``--list-names``."""

    rule_names: tuple[str, ...]
    weights: np.ndarray
    method: str
    metadata: dict[str, Any]
    source: str
    list_names: dict[str, tuple[str, ...]] | None = None


def pooled_pair_table(pairs: PairTable) -> RatingTable | ScoreTable:
    """The chosen and rejected ratings of every pair stacked as ``2N`` responses (chosen
    block first), e.g. for rule entropies and weights of a pairs file."""
    values = np.concatenate([pairs.chosen, pairs.rejected])
    mask = np.concatenate([pairs.chosen_mask, pairs.rejected_mask])
    cls = RatingTable if np.issubdtype(values.dtype, np.integer) else ScoreTable
    return cls(pairs.rule_names, values, mask, pairs.source, None, {}, pairs.missing)


def check_unique(where: str, names: Sequence[str], what: str) -> None:
    """Raises :class:`DataError` on an empty or duplicate name (1-based column numbers)."""
    seen: dict[str, int] = {}
    for column, name in enumerate(names, start=1):
        if not name:
            raise DataError(f"{where}: column {column} has an empty {what}")
        if name in seen:
            raise DataError(f"{where}: duplicate {what} {name!r} (columns {seen[name]} and "
                            f"{column}); rename one, or leave one out with --exclude")
        seen[name] = column
