"""The premise check's correlations across rules: entropy against an accuracy, with a
bootstrap interval (resampling pairs or groups, the rules held fixed) and a permutation test
across the rules (:func:`encore_jax.metrics.correlation.rule_permutation_test`).

Shapes: ``K`` rules, ``B`` bootstrap resamples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from encore_jax.metrics.correlation import (
    PermutationTest,
    entropy_accuracy_correlation,
    rule_permutation_test,
)

__all__ = ["CorrelationEstimate", "PremiseCorrelation", "premise_correlation"]


class CorrelationEstimate(NamedTuple):
    """A correlation, its two-sided p-value (t approximation) and its bootstrap percentile
    interval (NaN when there are fewer than two bootstrap units: no interval)."""

    estimate: float
    pvalue: float
    low: float
    high: float


class PremiseCorrelation(NamedTuple):
    """Entropy against an accuracy across ``num_rules`` rules.

    ``num_valid_resamples``: resamples where the correlation was defined (a resample can
    leave a rule without pairs or make a column constant); the interval uses those.
    ``pearson_replicates`` / ``spearman_replicates``: the ``[B]`` bootstrap values (NaN where
    undefined). ``pearson_permutation`` / ``spearman_permutation``: the two-sided permutation
    test across the rules (exact for ``K <= 8``)."""

    pearson: CorrelationEstimate
    spearman: CorrelationEstimate
    rules: tuple[str, ...]
    num_valid_resamples: int
    pearson_replicates: np.ndarray
    spearman_replicates: np.ndarray
    pearson_permutation: PermutationTest
    spearman_permutation: PermutationTest

    def to_dict(self) -> dict[str, Any]:
        return {"pearson": self.pearson._asdict(), "spearman": self.spearman._asdict(),
                "num_rules": len(self.rules), "rules": list(self.rules),
                "num_valid_resamples": self.num_valid_resamples,
                "permutation": {"pearson": self.pearson_permutation._asdict(),
                                "spearman": self.spearman_permutation._asdict()}}


# One jitted function at module level: a second call with the same shapes compiles nothing.
_vmapped_correlation = jax.jit(jax.vmap(entropy_accuracy_correlation))


def _bootstrap_correlations(entropies: np.ndarray, values: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Pearson and Spearman ``[B]`` of ``entropies[b]`` vs ``values[b]`` (``[B, K]``), NaN
    where undefined, through the library's correlation function."""
    corr = _vmapped_correlation(jnp.asarray(entropies, jnp.float32),
                                jnp.asarray(values, jnp.float32))
    return np.asarray(corr.pearson, np.float64), np.asarray(corr.spearman, np.float64)


def premise_correlation(names: Sequence[str], entropies: np.ndarray, values: np.ndarray,
                        boot_entropies: np.ndarray, boot_values: np.ndarray,
                        confidence: float, with_interval: bool) -> PremiseCorrelation | None:
    """Entropy ``[K]`` against ``values [K]`` over the rules ``names``, or None (fewer than 3
    rules, or a constant column). ``boot_*`` are the ``[B, K]`` bootstrap counterparts;
    ``with_interval`` False (fewer than two bootstrap units) leaves the interval NaN."""
    if len(names) < 3 or np.ptp(entropies) == 0 or np.ptp(values) == 0:
        return None
    point = entropy_accuracy_correlation(entropies.astype(np.float32),
                                         values.astype(np.float32), confidence=confidence)
    pearson, spearman = _bootstrap_correlations(boot_entropies, boot_values)
    valid = np.isfinite(pearson) & np.isfinite(spearman)
    tail = 100 * (1 - confidence) / 2

    def estimate(value: Any, pvalue: Any, replicates: np.ndarray) -> CorrelationEstimate:
        if not with_interval or not valid.any():
            return CorrelationEstimate(float(value), float(pvalue), math.nan, math.nan)
        low, high = np.percentile(replicates[valid], [tail, 100 - tail])
        return CorrelationEstimate(float(value), float(pvalue), float(low), float(high))

    return PremiseCorrelation(
        estimate(point.pearson, point.pearson_pvalue, pearson),
        estimate(point.spearman, point.spearman_pvalue, spearman),
        tuple(names), int(valid.sum()), pearson, spearman,
        rule_permutation_test(entropies, values, statistic="pearson"),
        rule_permutation_test(entropies, values, statistic="spearman"))
