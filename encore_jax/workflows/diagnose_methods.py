"""Per-weighting accuracies of the premise check, streamed, with group-resampled intervals.

For every weighting ``w`` the premise check reports (built-ins and extra ones), over all ``N``
pairs: the certified margin ``m_i = sum_k w_k d_ik`` with ``d_ik = chosen_ik - rejected_ik``
where rule ``k`` rated both responses of pair ``i`` and 0 otherwise (a missing rating adds
nothing to the margin; a pair that no rule rated is a tie), scored by
:func:`encore_jax.workflows.methods.score_pairs`, the function ``compare`` uses:

* ``accuracy = (#{m_i > 0} + #{m_i = 0} / 2) / N`` (ties count 1/2);
* ``tie_rate = #{m_i = 0} / N``;
* ``minus_uniform``: ``accuracy(w) - accuracy(uniform)`` (paired: the same pairs).

Intervals: the Poisson(1) bootstrap of :mod:`encore_jax.workflows.poisson_bootstrap` with the
same key, stream and unit ids as the premise check's other intervals (whole groups when
groups are given, else single pairs), so every interval of one report comes from the same
resamples; ``accuracy_b = sum_i W_bi credit_i / sum_i W_bi`` and the difference is taken
within each resample. Fewer than two units: no interval (NaN).

Memory: sums only, ``O(B * M)`` for ``M`` weightings, over blocks of
:data:`~encore_jax.workflows.poisson_bootstrap.BLOCK_ROWS` pairs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from encore_jax.workflows import poisson_bootstrap as pb
from encore_jax.workflows.methods import score_pairs

__all__ = ["MethodAccuracy", "MethodTotals"]


class MethodAccuracy(NamedTuple):
    """One weighting's accuracy on the pairs (see the module docstring); intervals are
    ``(low, high)`` percentile intervals, NaN without an interval."""

    name: str
    accuracy: float
    low: float
    high: float
    tie_rate: float
    minus_uniform: float
    minus_uniform_low: float
    minus_uniform_high: float
    num_pairs: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name,
                "accuracy": {"estimate": self.accuracy, "low": self.low, "high": self.high},
                "tie_rate": self.tie_rate,
                "minus_uniform": {"estimate": self.minus_uniform,
                                  "low": self.minus_uniform_low,
                                  "high": self.minus_uniform_high},
                "num_pairs": self.num_pairs}


@jax.jit
def _block(poisson: jax.Array, diffs: jax.Array, valid: jax.Array, weights: jax.Array
           ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Point sums (credit, ties ``[M]``) and bootstrap sums (``[B, M]`` credit, ``[B]``
    pairs) of one block; padded rows have ``valid`` False."""
    credit, tied = score_pairs(diffs, weights, None, "half")      # [M, S]
    v = valid.astype(jnp.float32)
    credit = credit * v[None, :]
    hi = jax.lax.Precision.HIGHEST
    return (jnp.sum(credit, axis=1), jnp.sum(tied.astype(jnp.float32) * v[None, :], axis=1),
            jnp.matmul(poisson.T, credit.T, precision=hi), jnp.matmul(poisson.T, v,
                                                                      precision=hi))


class MethodTotals:
    """Additive sums of the weightings' credits over pairs, chunk by chunk."""

    def __init__(self, key: jax.Array, weights: Mapping[str, np.ndarray], num_resamples: int
                 ) -> None:
        self.key, self.b = key, num_resamples
        self.names = list(weights)
        self.weights = jnp.asarray(np.stack([np.asarray(w, np.float32)
                                             for w in weights.values()]))
        m = len(self.names)
        self.credit = np.zeros(m)
        self.ties = np.zeros(m)
        self.boot_credit = np.zeros((num_resamples, m))
        self.boot_pairs = np.zeros(num_resamples)
        self.num_pairs = 0

    def add(self, chosen: np.ndarray, rejected: np.ndarray, rated: np.ndarray, stream: str,
            ids: np.ndarray) -> None:
        """Pairs ``chosen``, ``rejected`` ``[n, K]`` with ``rated`` ``[n, K]``, their bootstrap
        unit ``ids`` ``[n]`` in ``stream`` (as the premise check's own sums)."""
        n = chosen.shape[0]
        diffs = np.where(rated, chosen.astype(np.int64) - rejected, 0).astype(np.float32)
        size = pb.BLOCK_ROWS
        for start in range(0, n, size):
            stop = min(start + size, n)
            pad = size - (stop - start)
            block_ids = np.pad(np.asarray(ids, np.uint64)[start:stop], (0, pad))
            poisson = pb.poisson_weights(self.key, stream, block_ids, self.b)
            valid = np.arange(size) < stop - start
            sums = _block(poisson, jnp.asarray(np.pad(diffs[start:stop], [(0, pad), (0, 0)])),
                          jnp.asarray(valid), self.weights)
            credit, ties, boot_credit, boot_pairs = (np.asarray(x, np.float64) for x in sums)
            self.credit += credit
            self.ties += ties
            self.boot_credit += boot_credit
            self.boot_pairs += boot_pairs
        self.num_pairs += n

    def result(self, confidence: float, with_interval: bool) -> tuple[MethodAccuracy, ...]:
        """The accuracies; ``with_interval`` False (fewer than two units) leaves NaN."""
        n = self.num_pairs
        accuracy = self.credit / n
        uniform = self.names.index("uniform")
        ok = self.boot_pairs > 0
        boot = self.boot_credit[ok] / self.boot_pairs[ok, None]       # [B', M]
        tail = 100 * (1 - confidence) / 2

        def interval(values: np.ndarray) -> tuple[float, float]:
            if not with_interval or values.size == 0:
                return math.nan, math.nan
            low, high = np.percentile(values, [tail, 100 - tail])
            return float(low), float(high)

        out = []
        for j, name in enumerate(self.names):
            low, high = interval(boot[:, j])
            d_low, d_high = interval(boot[:, j] - boot[:, uniform])
            out.append(MethodAccuracy(name, float(accuracy[j]), low, high,
                                      float(self.ties[j] / n),
                                      float(accuracy[j] - accuracy[uniform]), d_low, d_high, n))
        return tuple(out)
