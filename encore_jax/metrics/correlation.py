"""Entropy-accuracy correlation across rules, with p-values and Fisher intervals, and an
exact (or documented Monte Carlo) permutation test over the rules."""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float

from encore_jax import _checks

__all__ = ["PERMUTATION_EXACT_MAX_RULES", "PERMUTATION_MONTE_CARLO", "PERMUTATION_SEED",
           "Correlation", "PermutationTest", "entropy_accuracy_correlation",
           "rule_permutation_test"]

PERMUTATION_EXACT_MAX_RULES = 8
"""Up to this many rules the permutation test enumerates all ``K!`` orders (40,320 at 8)."""

PERMUTATION_MONTE_CARLO = 10_000
"""Random orders drawn by the Monte Carlo permutation test above
:data:`PERMUTATION_EXACT_MAX_RULES` rules: the p-value's Monte Carlo standard error is at most
``0.5 / sqrt(10,000) = 0.005``."""

PERMUTATION_SEED = 0
"""Seed of the Monte Carlo orders (``numpy.random.default_rng``), so the p-value is
reproducible."""

_PERMUTATION_TOLERANCE = 1e-12
"""Correlations within this of the observed one count as "as extreme" (the same value
computed in another order differs by rounding only)."""


class PermutationTest(NamedTuple):
    """A permutation test of "no association" across the rules.

    Attributes:
      statistic: ``"pearson"`` or ``"spearman"``.
      observed: the correlation of the rules as paired.
      pvalue: the share of orders of ``y`` against ``x`` whose correlation is at least as
        extreme as ``observed`` (exact), or ``(1 + count) / (1 + num_permutations)`` (Monte
        Carlo, Phipson & Smyth 2010: never 0).
      alternative: ``"two-sided"`` (``|r_pi| >= |r|``), ``"less"`` (``r_pi <= r``) or
        ``"greater"`` (``r_pi >= r``).
      exact: True when all ``K!`` orders were enumerated.
      num_permutations: ``K!`` (exact) or the number of random orders.
    """

    statistic: str
    observed: float
    pvalue: float
    alternative: str
    exact: bool
    num_permutations: int



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


def _np_average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks along the last axis, ties sharing their mean rank."""
    below = np.sum(x[..., None, :] < x[..., :, None], axis=-1)
    equal = np.sum(x[..., None, :] == x[..., :, None], axis=-1)
    return below + (equal + 1.0) / 2.0


def _np_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson ``r`` of ``x [K]`` with each row of ``y [P, K]`` (float64)."""
    xc = x - x.mean()
    yc = y - y.mean(axis=-1, keepdims=True)
    return (yc @ xc) / np.sqrt(np.sum(xc * xc) * np.sum(yc * yc, axis=-1))


def _orders(k: int, num_permutations: int, seed: int) -> tuple[bool, list[np.ndarray]]:
    """``(exact, blocks of orders [P, K])``: all ``K!`` orders for ``K <=``
    :data:`PERMUTATION_EXACT_MAX_RULES`, else ``num_permutations`` random ones."""
    if k <= PERMUTATION_EXACT_MAX_RULES:
        return True, [np.array(list(itertools.permutations(range(k))), np.int64)]
    rng = np.random.default_rng(seed)
    blocks, left = [], num_permutations
    while left:
        size = min(left, max(1, 2_000_000 // k))
        blocks.append(rng.permuted(np.tile(np.arange(k), (size, 1)), axis=1))
        left -= size
    return False, blocks


def rule_permutation_test(
    x: ArrayLike,
    y: ArrayLike,
    *,
    statistic: str = "pearson",
    alternative: str = "two-sided",
    num_permutations: int = PERMUTATION_MONTE_CARLO,
    seed: int = PERMUTATION_SEED,
) -> PermutationTest:
    """Is the pairing of ``x_k`` with ``y_k`` across the ``K`` rules more extreme than chance?

    The null: every order of ``y`` against ``x`` is equally likely (no association between,
    e.g., rule entropy ``x`` and rule accuracy ``y``). The statistic is Pearson's ``r`` or
    Spearman's ``rho`` (Pearson of average ranks) of ``(x, y_pi)``. For
    ``K <=`` :data:`PERMUTATION_EXACT_MAX_RULES` every one of the ``K!`` orders is enumerated
    (exact p-value, as ``scipy.stats.permutation_test(..., permutation_type="pairings",
    n_resamples=inf)``); above, ``num_permutations`` uniformly random orders from
    ``numpy.random.default_rng(seed)`` give ``p = (1 + count) / (1 + num_permutations)``.
    This tests across the rules, complementing a bootstrap over pairs or groups (which
    holds the rules fixed): with 4 rules even a perfect order has two-sided ``p = 2/24``.

    Args:
      x, y: ``[K]`` finite values, ``K >= 3``, neither constant.
      statistic: ``"pearson"`` or ``"spearman"``.
      alternative: ``"two-sided"``, ``"less"`` or ``"greater"`` (see :class:`PermutationTest`).
      num_permutations: random orders above the exact limit (default
        :data:`PERMUTATION_MONTE_CARLO`).
      seed: their seed (default :data:`PERMUTATION_SEED`).

    Returns:
      :class:`PermutationTest`.
    """
    _checks.check_choice("statistic", statistic, ("pearson", "spearman"))
    _checks.check_choice("alternative", alternative, ("two-sided", "less", "greater"))
    _checks.check_positive_int("num_permutations", num_permutations)
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    for name, v in (("x", x), ("y", y)):
        if v.ndim != 1 or v.shape != x.shape:
            raise ValueError(f"{name} must be [K] with the shape of x {x.shape}, got {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} has non-finite values; drop those rules first")
        if v.size and np.ptp(v) == 0:
            raise ValueError(f"{name} is constant ({v[0]}); the correlation is undefined")
    k = x.shape[0]
    if k < 3:
        raise ValueError(f"a permutation test across rules needs at least 3 rules, got {k}")
    if statistic == "spearman":
        x, y = _np_average_ranks(x), _np_average_ranks(y)
    observed = float(_np_pearson(x, y[None, :])[0])
    exact, blocks = _orders(k, num_permutations, seed)
    count = total = 0
    for orders in blocks:
        r = _np_pearson(x, y[orders])
        if alternative == "two-sided":
            hit = np.abs(r) >= abs(observed) - _PERMUTATION_TOLERANCE
        elif alternative == "less":
            hit = r <= observed + _PERMUTATION_TOLERANCE
        else:
            hit = r >= observed - _PERMUTATION_TOLERANCE
        count += int(hit.sum())
        total += orders.shape[0]
    pvalue = count / total if exact else (1 + count) / (1 + total)
    return PermutationTest(statistic, observed, float(pvalue), alternative, exact,
                           math.factorial(k) if exact else total)
