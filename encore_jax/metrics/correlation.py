"""Entropy-accuracy correlation across rules, with p-values and Fisher intervals."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float

from encore_jax import _checks

__all__ = ["Correlation", "entropy_accuracy_correlation"]


class Correlation(NamedTuple):
    """Pearson and Spearman correlation with two-sided p-values and confidence intervals.

    Attributes:
      pearson, pearson_pvalue, pearson_low, pearson_high: ``r``, its p-value and interval.
      spearman, spearman_pvalue, spearman_low, spearman_high: ``rho`` (Pearson's ``r`` of
        average ranks), its p-value and interval.
      num_rules: ``n``, the number of (entropy, accuracy) points.
      confidence: the interval's confidence level.
    """

    pearson: jax.Array
    pearson_pvalue: jax.Array
    pearson_low: jax.Array
    pearson_high: jax.Array
    spearman: jax.Array
    spearman_pvalue: jax.Array
    spearman_low: jax.Array
    spearman_high: jax.Array
    num_rules: int
    confidence: float


# Fieller, Hartley & Pearson (1957): var(atanh(rho_s)) ~ 1.06 / (n - 3) for Spearman's rho.
_SPEARMAN_FISHER_VARIANCE = 1.06


def entropy_accuracy_correlation(
    entropies: Float[ArrayLike, " K"],
    accuracies: Float[ArrayLike, " K"],
    *,
    confidence: float = 0.95,
) -> Correlation:
    """Correlation between per-rule entropy ``H_k`` and per-rule pairwise accuracy ``a_k``.

    Pearson's ``r = sum_k (H_k - Hbar)(a_k - abar) / sqrt(sum_k (H_k - Hbar)^2
    sum_k (a_k - abar)^2)``; Spearman's ``rho`` is ``r`` of the average ranks (ties share
    their mean rank). Both get the two-sided p-value of the null "no correlation" from
    ``t = r sqrt((n - 2) / (1 - r^2))`` with ``n - 2`` degrees of freedom, i.e.

        p = I_{1 - r^2}((n - 2) / 2, 1 / 2)      (regularised incomplete beta)

    exact for Pearson under bivariate normality (``scipy.stats.pearsonr``) and the usual
    t approximation for Spearman (``scipy.stats.spearmanr``), which is poor for few rules
    (perfectly ranked 3 rules give ``p = 0``; the exact permutation p-value is 1/3).
    Intervals use Fisher's ``z = atanh(r)``: ``tanh(z -+ z_{(1+c)/2} s)`` with
    ``s = 1 / sqrt(n - 3)`` for Pearson (as ``pearsonr(...).confidence_interval()``) and
    ``s = sqrt(1.06 / (n - 3))`` for Spearman (Fieller, Hartley & Pearson 1957, an
    approximation); with ``n = 3`` the interval is ``[-1, 1]``. The ENCORE paper reports
    ``r`` of about -0.84 to -0.96 over 10 rules.

    Args:
      entropies: ``H`` ``[K]``, finite, not all equal.
      accuracies: ``a`` ``[K]``, finite, not all equal (e.g. ``rule_summary`` accuracies).
      confidence: ``c`` in ``(0, 1)``.

    Returns:
      :class:`Correlation`.
    """
    _checks.check_confidence(confidence)
    entropies = _checks.as_array("entropies", entropies)
    accuracies = _checks.as_array("accuracies", accuracies)
    for name, x in (("entropies", entropies), ("accuracies", accuracies)):
        _checks.check_float_dtype(name, x)
        _checks.check_ndim(name, x, 1, "[K]")
        _checks.check_finite(name, x)
        if _checks.is_concrete(x) and x.shape[0] and bool(np.ptp(np.asarray(x)) == 0):
            raise ValueError(f"{name} is constant ({float(x[0])}); correlation is undefined")
    _checks.check_same_shape("entropies", entropies, "accuracies", accuracies)
    n = entropies.shape[0]
    if n < 3:
        raise ValueError(f"entropies and accuracies need at least 3 rules for a correlation "
                         f"test, got {n}")
    values = _correlation(entropies.astype(jnp.float32), accuracies.astype(jnp.float32),
                          confidence)
    return Correlation(*values, num_rules=n, confidence=float(confidence))


def _pearson_r(x: jax.Array, y: jax.Array) -> jax.Array:
    xc = x - jnp.mean(x)
    yc = y - jnp.mean(y)
    r = jnp.sum(xc * yc) / jnp.sqrt(jnp.sum(xc * xc) * jnp.sum(yc * yc))
    # Rounding can push |r| a few ulps past 1, where the p-value and atanh are undefined.
    return jnp.clip(r, -1.0, 1.0)


def _average_ranks(x: jax.Array) -> jax.Array:
    """1-based ranks, ties sharing their mean rank (``scipy.stats.rankdata``'s default)."""
    below = jnp.sum(x[None, :] < x[:, None], axis=1).astype(jnp.float32)
    equal = jnp.sum(x[None, :] == x[:, None], axis=1).astype(jnp.float32)
    return below + (equal + 1.0) / 2.0


def _pvalue(r: jax.Array, n: int) -> jax.Array:
    df = n - 2
    return jax.scipy.special.betainc(df / 2.0, 0.5, 1.0 - r * r)


def _fisher_interval(
    r: jax.Array, n: int, confidence: float, variance: float
) -> tuple[jax.Array, jax.Array]:
    if n <= 3:
        return jnp.asarray(-1.0, jnp.float32), jnp.asarray(1.0, jnp.float32)
    z = jnp.arctanh(r)
    # In r's dtype: ndtri of a Python float is float64 under jax_enable_x64.
    half = (jax.scipy.special.ndtri((1.0 + confidence) / 2.0)
            * np.sqrt(variance / (n - 3))).astype(r.dtype)
    return jnp.tanh(z - half), jnp.tanh(z + half)


@functools.partial(jax.jit, static_argnames="confidence")
def _correlation(x: jax.Array, y: jax.Array, confidence: float) -> tuple[jax.Array, ...]:
    n = x.shape[0]
    r = _pearson_r(x, y)
    rho = _pearson_r(_average_ranks(x), _average_ranks(y))
    r_low, r_high = _fisher_interval(r, n, confidence, 1.0)
    rho_low, rho_high = _fisher_interval(rho, n, confidence, _SPEARMAN_FISHER_VARIANCE)
    return r, _pvalue(r, n), r_low, r_high, rho, _pvalue(rho, n), rho_low, rho_high
