"""Percentile bootstrap of many rows of per-pair values in bounded memory.

:func:`bootstrap_rows` bootstraps each row ``r`` of ``values [R, N]`` on its own, with
``encore_jax.metrics.bootstrap_ci(key, values[r], mask=masks[r])``: the exact multinomial
over the row's distinct values when it has few (pair credits 0 / 0.5 / 1), else item draws
in blocks of resamples, so memory never holds ``resamples x R x N`` draws. Rows are not
paired with each other: a difference between two rows is bootstrapped as its own row of
per-pair differences (:func:`paired_differences`), which is what pairing means for a
difference of means, and is exact in distribution on the cells path.

With ``clusters`` (integer group codes ``[N]``, e.g. the prompt of each pair) every row
resamples whole groups (``bootstrap_ci(..., clusters=...)``): a replicate is the sum of
the resampled groups' values over their number of counted pairs.
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


def bootstrap_rows(key: object, values: np.ndarray, masks: np.ndarray, *, num_resamples: int,
                   confidence: float, clusters: np.ndarray | None = None) -> HostCI:
    """Bootstrap intervals of the masked mean of each row of ``values [R, N]``.

    Args:
      key: PRNG key (the same for every row).
      values: host float32 ``[R, N]`` per-pair values.
      masks: host boolean ``[R, N]`` (``True`` = pair counted), at least one per row.
      num_resamples, confidence: of the intervals.
      clusters: optional integer group codes ``[N]`` (non-negative): resample whole groups.

    Returns:
      :class:`HostCI` with ``[R]`` estimates and intervals and ``[R, B]`` replicates; row
      ``r``'s equal those of ``bootstrap_ci(key, values[r], mask=masks[r],
      clusters=clusters)``.
    """
    num_rows, num_pairs = values.shape
    estimate = np.empty(num_rows, np.float32)
    low = np.empty(num_rows, np.float32)
    high = np.empty(num_rows, np.float32)
    replicates = np.empty((num_rows, num_resamples), np.float32)
    batch = max(1, ELEMENTS_PER_STEP // num_pairs)
    groups = None if clusters is None else jnp.asarray(clusters, jnp.int32)
    for r in range(num_rows):
        ci = bootstrap_ci(key, jnp.asarray(values[r]), mask=jnp.asarray(masks[r]),
                          num_resamples=num_resamples, confidence=confidence,
                          batch_size=batch, clusters=groups)
        estimate[r], low[r], high[r] = ci.estimate, ci.low, ci.high
        replicates[r] = np.asarray(ci.replicates)
    return HostCI(estimate, low, high, replicates)


def paired_differences(key: object, values: np.ndarray, baseline: int | np.ndarray, *,
                       num_resamples: int, confidence: float,
                       clusters: np.ndarray | None = None) -> HostCI:
    """``baseline - row`` for every row of ``values [R, N]`` (every pair counted): the
    bootstrap of the per-pair differences ``values[baseline] - values[r]``, so each
    difference is resampled pair by pair (or group by group with ``clusters``), paired,
    whatever the rows' own resamples. ``baseline`` is a row index or a row ``[N]``."""
    base = values[baseline] if isinstance(baseline, int | np.integer) else baseline
    differences = base[None, :] - values
    return bootstrap_rows(key, differences, np.ones(differences.shape, bool),
                          num_resamples=num_resamples, confidence=confidence,
                          clusters=clusters)
