"""The evaluation protocol of :func:`~encore_jax.workflows.compare.compare_methods`: rated pairs,
the train / eval split and its checks.

Symbols: ``N`` pairs, ``K`` rules, ``L`` rating levels. Pair ``i`` has integer ratings
``chosen_ik`` and ``rejected_ik``; a weighting ``w`` scores it by the composite margin
``m_i = sum_k w_k d_ik`` with ``d_ik = chosen_ik - rejected_ik`` and wins it when ``m_i > 0``.

The protocol itself (split, entropy source, selections, missing ratings, intervals) is
stated once, in :mod:`encore_jax.workflows.compare`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import numpy as np
from jaxtyping import ArrayLike, PRNGKeyArray

from encore_jax import _checks
from encore_jax._checks import validated_pairs

__all__ = ["MISSING_GROUP_POLICIES", "Pairs", "checked_groups", "compact_pairs",
           "group_holdout_split", "holdout_split"]

MISSING_GROUP_POLICIES = ("error", "own")
"""What a missing group id (``None``, NaN or an empty string) does: ``"error"`` (the
default) raises naming the rows; ``"own"`` makes each such pair a group of its own."""


class Pairs(NamedTuple):
    """Rated preference pairs (``encore_jax.io.PairTable`` has the same fields).

    Attributes:
      chosen, rejected: integer ratings ``[N, K]`` of the preferred and the other response.
      chosen_mask, rejected_mask: boolean ``[N, K]`` (``True`` = observed) or ``None``.
      subset: subset label per pair, ``[N]`` strings, or ``None``.
    """

    chosen: ArrayLike
    rejected: ArrayLike
    chosen_mask: ArrayLike | None = None
    rejected_mask: ArrayLike | None = None
    subset: Sequence[str] | np.ndarray | None = None


def holdout_split(
    key: PRNGKeyArray,
    num_pairs: int,
    *,
    test_fraction: float = 0.5,
    strata: Sequence[str] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A random train / eval split of ``range(num_pairs)``, stratified by ``strata``.

    Within each stratum of ``n_s`` pairs (all pairs form one stratum without ``strata``),
    ``max(1, round(test_fraction * n_s))`` pairs chosen uniformly at random go to eval and
    the rest to train (round half up). Stratum ``g`` (in order of first appearance) permutes
    with ``jax.random.fold_in(key, g)``.

    Args:
      key: PRNG key.
      num_pairs: ``N`` >= 2.
      test_fraction: fraction of each stratum held out for evaluation, in ``(0, 1)``.
      strata: optional label per pair ``[N]``.

    Returns:
      ``(train_indices, eval_indices)``: sorted, disjoint, together ``range(N)``.
    """
    num_pairs = _checks.check_positive_int("num_pairs", num_pairs)
    if not (isinstance(test_fraction, int | float) and 0.0 < test_fraction < 1.0):
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    labels = _labels(strata, num_pairs, "strata")
    eval_parts = []
    for g, name in enumerate(_unique_in_order(labels)):
        members = np.flatnonzero(labels == name)
        order = np.asarray(jax.random.permutation(jax.random.fold_in(key, g), members.size))
        num_eval = max(1, math.floor(test_fraction * members.size + 0.5))
        eval_parts.append(members[order[:num_eval]])
    eval_indices = np.sort(np.concatenate(eval_parts))
    train_indices = np.setdiff1d(np.arange(num_pairs), eval_indices)
    if train_indices.size == 0:
        raise ValueError(
            f"holding out test_fraction={test_fraction} of {num_pairs} pairs leaves no train "
            "pair; use more pairs or a smaller test_fraction"
        )
    return train_indices, eval_indices


def _is_missing(labels: np.ndarray) -> np.ndarray:
    """``True`` where a group id is missing: ``None``, NaN, or empty / blank text."""
    if labels.dtype.kind == "f":
        return np.isnan(labels)
    if labels.dtype.kind in "iub":
        return np.zeros(labels.shape, bool)
    return np.array([v is None or (isinstance(v, float) and math.isnan(v))
                     or (isinstance(v, str | bytes) and not v.strip()) for v in labels.tolist()],
                    bool)


def checked_groups(groups: Any, num_pairs: int, *, missing: str = "error",
                   what: str = "groups") -> tuple[np.ndarray, int]:
    """Group ids ``[N]`` (e.g. the prompt of each pair) as integer codes ``0..G-1`` in order
    of first appearance, and the number of missing ids.

    A missing id (``None``, NaN, empty text) is an error naming the first rows
    (``missing="error"``) or becomes a group of its own (``missing="own"``); missing ids
    are never pooled into one group.
    """
    _checks.check_choice("missing_groups", missing, MISSING_GROUP_POLICIES)
    labels = np.asarray(groups)
    if labels.dtype.kind not in "iufbUSO":
        labels = labels.astype(object)
    if labels.shape != (num_pairs,):
        raise ValueError(f"{what} must have one id per pair, shape ({num_pairs},), got "
                         f"{labels.shape}")
    absent = _is_missing(labels)
    num_missing = int(absent.sum())
    if num_missing and missing == "error":
        rows = np.flatnonzero(absent)
        shown = ", ".join(str(r) for r in rows[:5]) + (", ..." if rows.size > 5 else "")
        raise ValueError(
            f"{what} has {num_missing} missing group id(s) (rows {shown}; 0-based); fill "
            "them in, or pass missing_groups='own' (CLI: --missing-groups own) to make each "
            "such pair a group of its own")
    text = np.array([str(v) for v in labels.tolist()], dtype=object)
    text[absent] = [f"\0missing:{r}" for r in np.flatnonzero(absent)]
    _, first, inverse = np.unique(text, return_index=True, return_inverse=True)
    rank = np.empty(first.size, np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse].astype(np.int32), num_missing


def group_holdout_split(
    key: PRNGKeyArray,
    groups: np.ndarray,
    *,
    test_fraction: float = 0.5,
    strata: Sequence[str] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A random train / eval split of the pairs by whole groups: no group has pairs on both
    sides.

    Each group takes the stratum of its first pair, and :func:`holdout_split` splits the
    ``G`` groups (``test_fraction`` of each stratum's *groups* to eval, at least one) with
    ``key``; a pair goes where its group goes.

    Args:
      key: PRNG key.
      groups: integer group codes ``[N]`` in ``0..G-1`` (:func:`checked_groups`).
      test_fraction: fraction of each stratum's groups held out, in ``(0, 1)``.
      strata: optional label per pair ``[N]``.

    Returns:
      ``(train_indices, eval_indices)`` of pairs: sorted, disjoint, together ``range(N)``.
    """
    groups = np.asarray(groups)
    num_groups = int(groups.max()) + 1 if groups.size else 0
    if num_groups < 2:
        raise ValueError(f"a split by groups needs at least 2 groups, got {num_groups}; "
                         "give more groups, or no groups (pairs as independent units)")
    _, first = np.unique(groups, return_index=True)
    group_strata = None if strata is None else _labels(strata, groups.size, "strata")[first]
    try:
        train_g, _ = holdout_split(key, num_groups, test_fraction=test_fraction,
                                   strata=group_strata)
    except ValueError as err:
        raise ValueError(f"{err} (the split is over {num_groups} groups)") from None
    in_train = np.isin(groups, train_g)
    return np.flatnonzero(in_train), np.flatnonzero(~in_train)


def _labels(strata: Any, num_pairs: int, name: str) -> np.ndarray:
    if strata is None:
        return np.zeros(num_pairs, dtype="<U1")
    labels = np.asarray(strata).astype(str)
    if labels.shape != (num_pairs,):
        raise ValueError(f"{name} must have shape [N] = ({num_pairs},), got {labels.shape}")
    return labels


def _unique_in_order(labels: np.ndarray) -> list[str]:
    _, first = np.unique(labels, return_index=True)
    return [str(labels[i]) for i in np.sort(first)]


class _RatedPairs(NamedTuple):
    """Validated pairs as compact NumPy arrays: levels and differences in the smallest integer
    dtype that holds them (``int8`` for up to 128 levels), missing entries zeroed. A mask
    that is all ``True`` is stored as ``None`` (and ``observed`` is ``None`` when both are)."""

    chosen: np.ndarray
    rejected: np.ndarray
    chosen_mask: np.ndarray | None
    rejected_mask: np.ndarray | None
    observed: np.ndarray | None
    diffs: np.ndarray
    subset: np.ndarray | None
    groups: np.ndarray | None = None  # integer group codes [N] (checked_groups)

    def take(self, rows: np.ndarray) -> _RatedPairs:
        return _RatedPairs(*(None if a is None else a[rows] for a in self))

    def mask_or_all(self, mask: np.ndarray | None) -> np.ndarray:
        return np.ones(self.chosen.shape, bool) if mask is None else mask

    def observed_or_all(self) -> np.ndarray:
        return self.mask_or_all(self.observed)


def _level_dtype(num_levels: int) -> np.dtype:
    """The smallest signed integer dtype holding ``-(L - 1)..(L - 1)``."""
    for dtype in (np.int8, np.int16, np.int32):
        if num_levels - 1 <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def _narrowed(ratings: Any, num_levels: int, dtype: np.dtype) -> np.ndarray | None:
    """``ratings`` as ``dtype`` when it is a 2-D integer array whose every entry is a level
    (two cheap passes, no temporaries); else ``None`` (the caller validates the original)."""
    if not isinstance(ratings, np.ndarray) or ratings.ndim != 2 or ratings.size == 0:
        return None
    if ratings.dtype.kind not in "iu" or ratings.min() < 0 or ratings.max() >= num_levels:
        return None
    return ratings.astype(dtype, copy=False)


def _rated_pairs(pairs: Any, num_levels: int, what: str) -> _RatedPairs:
    try:
        chosen, rejected = pairs.chosen, pairs.rejected
    except AttributeError:
        raise TypeError(f"{what} must have .chosen and .rejected ratings (e.g. Pairs)") from None
    chosen_mask = getattr(pairs, "chosen_mask", None)
    rejected_mask = getattr(pairs, "rejected_mask", None)
    dtype = _level_dtype(num_levels)
    # Narrow first when every entry is a level, so that validation copies int8, not int32.
    narrow = (_narrowed(chosen, num_levels, dtype), _narrowed(rejected, num_levels, dtype))
    if narrow[0] is not None and narrow[1] is not None:
        chosen, rejected = narrow
    del narrow
    checked = validated_pairs(chosen, rejected, num_levels, chosen_mask, rejected_mask)
    shape = checked[0].shape
    chosen_mask, rejected_mask = _mask_or_none(chosen_mask), _mask_or_none(rejected_mask)
    # Unobserved entries may hold any placeholder; zero them so the narrow dtype cannot wrap.
    chosen = _observed_levels(checked[0], chosen_mask, dtype)
    rejected = _observed_levels(checked[1], rejected_mask, dtype)
    observed = None
    if chosen_mask is not None or rejected_mask is not None:
        observed = np.asarray(checked[2])
    del checked
    diffs = chosen - rejected  # within -(L - 1)..(L - 1): no wrap-around in dtype
    if observed is not None:
        diffs = np.where(observed, diffs, 0).astype(dtype)
    subset = getattr(pairs, "subset", None)
    subset = None if subset is None else _labels(subset, shape[0], f"{what}.subset")
    return _RatedPairs(chosen, rejected, chosen_mask, rejected_mask, observed, diffs, subset)


def _mask_or_none(mask: Any) -> np.ndarray | None:
    """A validated mask as NumPy, or ``None`` when absent or all ``True``."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    return None if mask.all() else mask


def _observed_levels(ratings: Any, mask: np.ndarray | None, dtype: np.dtype) -> np.ndarray:
    ratings = np.asarray(ratings)
    if ratings.dtype == dtype:
        return ratings  # narrowed above: every entry is already a level
    if mask is not None:
        ratings = np.where(mask, ratings, 0)
    return ratings.astype(dtype)


def compact_pairs(pairs: Any, num_levels: int) -> Pairs:
    """``pairs`` validated and stored compactly (levels in the smallest integer dtype, e.g.
    ``int8``; all-``True`` masks dropped), for callers that hold large tables: rebinding
    ``pairs = compact_pairs(pairs, L)`` frees the reader's wider arrays before
    :func:`~encore_jax.workflows.compare.compare_methods` runs. Same pairs, same results."""
    data = _rated_pairs(pairs, num_levels, "pairs")
    return Pairs(data.chosen, data.rejected, data.chosen_mask, data.rejected_mask, data.subset)


def _checked_split(split: Any, num_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        train_idx, eval_idx = (np.asarray(s) for s in split)
    except (TypeError, ValueError):
        raise TypeError("split must be a pair (train_indices, eval_indices)") from None
    for name, idx in (("train", train_idx), ("eval", eval_idx)):
        if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
            raise ValueError(f"split's {name} indices must be a non-empty 1-D integer array")
        if idx.min() < 0 or idx.max() >= num_pairs or np.unique(idx).size != idx.size:
            raise ValueError(f"split's {name} indices must be distinct and in 0..{num_pairs - 1}")
    if np.intersect1d(train_idx, eval_idx).size:
        raise ValueError("split's train and eval indices overlap; BT must never be evaluated "
                         "on its training pairs")
    return train_idx, eval_idx
