"""Percentile bootstrap of many rows of per-pair values in bounded memory.

:func:`bootstrap_rows` gives each row ``r`` of ``values [R, N]`` the interval that
``encore_jax.metrics.bootstrap_ci(key, values, mask=masks)`` gives it, without ever holding
``resamples x R x N`` draws: rows with the same mask are bootstrapped together (their
resamples are paired: the same draws), in blocks of rows and of resamples sized so that one
step gathers at most :data:`ELEMENTS_PER_STEP` values. A row's draws depend only on the key,
the resample index and its mask, so the blocking does not change any replicate.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from encore_jax.metrics.bootstrap import bootstrap_ci

__all__ = ["ELEMENTS_PER_STEP", "HostCI", "bootstrap_rows", "paired_differences"]

ELEMENTS_PER_STEP = 2**23
"""Values gathered per bootstrap step (rows x resamples x pairs): 32 MB of float32."""


class HostCI(NamedTuple):
    """Estimates, intervals ``[R]`` and replicates ``[R, B]`` as NumPy arrays."""

    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    replicates: np.ndarray

    def rows(self, selected: slice | np.ndarray) -> HostCI:
        return HostCI(*(x[selected] for x in self))


def _mask_groups(masks: np.ndarray) -> list[np.ndarray]:
    """Row indices grouped by identical mask, in order of first appearance."""
    packed = np.packbits(masks, axis=1)
    _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    return [np.flatnonzero(inverse == g) for g in np.argsort(first, kind="stable")]


def _block_rows(num_rows: int, num_pairs: int) -> int:
    """Rows per block: a multiple of 8 (few compiled shapes), one resample within budget."""
    cap = max(1, ELEMENTS_PER_STEP // num_pairs)
    if cap < 8:
        return min(num_rows, cap)
    return min(-(-num_rows // 8) * 8, cap // 8 * 8)


def bootstrap_rows(key: object, values: np.ndarray, masks: np.ndarray, *, num_resamples: int,
                   confidence: float) -> HostCI:
    """Bootstrap intervals of the masked mean of each row of ``values [R, N]``.

    Args:
      key: PRNG key (the same for every row: rows with equal masks are paired).
      values: host float32 ``[R, N]`` per-pair values.
      masks: host boolean ``[R, N]`` (``True`` = pair counted), at least one per row.
      num_resamples, confidence: of the intervals.

    Returns:
      :class:`HostCI` with ``[R]`` estimates and intervals and ``[R, B]`` replicates, equal
      to those of one ``bootstrap_ci(key, values, mask=masks)`` call.
    """
    num_rows, num_pairs = values.shape
    estimate = np.empty(num_rows, np.float32)
    low = np.empty(num_rows, np.float32)
    high = np.empty(num_rows, np.float32)
    replicates = np.empty((num_rows, num_resamples), np.float32)
    for group in _mask_groups(masks):
        block = _block_rows(group.size, num_pairs)
        batch = max(1, ELEMENTS_PER_STEP // (block * num_pairs))
        mask = jnp.asarray(masks[group[0]])
        for start in range(0, group.size, block):
            rows = group[start:start + block]
            padded = np.zeros((block, num_pairs), np.float32)
            padded[:rows.size] = values[rows]
            ci = bootstrap_ci(key, jnp.asarray(padded), mask=mask, num_resamples=num_resamples,
                              confidence=confidence, batch_size=batch)
            n = rows.size
            estimate[rows] = np.asarray(ci.estimate)[:n]
            low[rows] = np.asarray(ci.low)[:n]
            high[rows] = np.asarray(ci.high)[:n]
            replicates[rows] = np.asarray(ci.replicates)[:n]
    return HostCI(estimate, low, high, replicates)


def paired_differences(ci: HostCI, baseline: int, confidence: float) -> HostCI:
    """``baseline - row`` for every row of ``ci``, from paired replicates (rows bootstrapped
    with the same draws): the replicate of a difference of means is the difference of the
    replicates, and its interval the same percentiles as :func:`bootstrap_rows`'."""
    estimate = ci.estimate[baseline] - ci.estimate
    replicates = ci.replicates[baseline][None, :] - ci.replicates
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(replicates, [tail, 1.0 - tail], axis=-1)
    return HostCI(estimate, low.astype(np.float32), high.astype(np.float32), replicates)
