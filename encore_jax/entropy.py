"""Histograms of discrete ratings, binning of continuous scores, and entropy estimators.

Symbols used throughout: ``N`` responses (rows), ``K`` rules (columns), ``L`` rating levels.
A rating is an integer level in ``0..L-1``; ``mask[i, k] = True`` marks rating ``(i, k)`` as
observed (missing ratings are masked, never filled). For rule ``k`` with level counts
``c_k = (c_k0, ..., c_k,L-1)`` and ``n_k = sum_l c_kl``, the plug-in entropy is

    H_k = - sum_l (c_kl / n_k) log(c_kl / n_k),       with 0 log 0 = 0,

so ``0 <= H_k <= log L``. Counts are additive, so histograms of chunks can be summed before
taking the entropy (see the streaming helpers in :mod:`encore_jax.data`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Integer, Real

from encore_jax import _checks

__all__ = ["discretize", "entropy_from_counts", "rating_entropy", "rating_histogram"]


def _validated_ratings(
    ratings: ArrayLike, num_levels: int, mask: ArrayLike | None
) -> tuple[jax.Array, jax.Array | None]:
    ratings = _checks.as_array("ratings", ratings)
    _checks.check_ndim("ratings", ratings, 2, "[N, K]")
    _checks.check_integer_dtype("ratings", ratings)
    if ratings.shape[1] == 0:
        raise ValueError("ratings has no rules (shape [N, 0]); at least one rule is needed")
    mask = _checks.check_mask(mask, ratings.shape)
    _checks.check_levels_in_range("ratings", ratings, num_levels, mask)
    return ratings, mask


@functools.partial(jax.jit, static_argnames="num_levels")
def _histogram(
    ratings: Int[Array, "N K"], mask: Bool[Array, "N K"] | None, num_levels: int
) -> Int[Array, "K L"]:
    # A compare-and-sum over levels never clips: a level outside 0..L-1 matches no bin
    # (unlike jnp.bincount, which clips negatives and drops overflow into the last bin).
    levels = jnp.arange(num_levels, dtype=jnp.int32)
    hits = ratings.astype(jnp.int32)[:, :, None] == levels[None, None, :]
    if mask is not None:
        hits = hits & mask[..., None]
    return jnp.sum(hits, axis=0, dtype=jnp.int32)


def rating_histogram(
    ratings: Integer[ArrayLike, "N K"],
    num_levels: int,
    *,
    mask: Bool[ArrayLike, "N K"] | None = None,
) -> Int[Array, "K L"]:
    """Counts how often each rule gives each rating level.

    ``counts[k, l] = #{i : ratings[i, k] == l and mask[i, k]}``.

    Args:
      ratings: integer levels ``[N, K]`` in ``0..L-1`` (``N`` responses, ``K`` rules).
      num_levels: ``L``, the number of rating levels (>= 2).
      mask: optional boolean ``[N, K]``; ``True`` = observed. Masked entries may hold any value.

    Returns:
      ``int32`` counts ``[K, L]``.

    Raises:
      TypeError / ValueError: non-integer ratings, wrong rank, no rules, a mask of another
        shape, or (for concrete input) an observed level outside ``0..L-1``. Under an outer
        ``jit`` the range check cannot raise; out-of-range levels then match no bin, and
        :func:`rating_entropy` reports NaN for the affected rule.
    """
    num_levels = _checks.check_num_levels(num_levels)
    ratings, mask = _validated_ratings(ratings, num_levels, mask)
    return _histogram(ratings, mask, num_levels)


def discretize(
    scores: Real[ArrayLike, "*shape"],
    num_levels: int,
    *,
    low: float = 0.0,
    high: float = 1.0,
) -> Int[Array, "*shape"]:
    """Bins continuous scores into ``L`` equal-width levels over ``[low, high]``.

    ``level = floor(L * (s - low) / (high - low))``, except that ``s == high`` falls in the
    last level ``L - 1`` (the last bin is closed).

    Args:
      scores: real scores of any shape, each in ``[low, high]``.
      num_levels: ``L`` (>= 2).
      low, high: the binning range, ``low < high``, both finite.

    Returns:
      ``int32`` levels of the same shape, in ``0..L-1``.

    Raises:
      ValueError: a NaN / inf score or one outside ``[low, high]`` (never clipped). Under an
        outer ``jit`` such scores map to the invalid levels ``-1`` (below or NaN) and ``L``
        (above), which :func:`rating_entropy` reports as NaN.
    """
    num_levels = _checks.check_num_levels(num_levels)
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"need finite low < high, got low={low}, high={high}")
    scores = _checks.as_array("scores", scores)
    _checks.check_float_dtype("scores", scores)
    _checks.check_finite("scores", scores)
    if _checks.is_concrete(scores):
        host = np.asarray(scores)
        outside = (host < low) | (host > high)
        if outside.any():
            index = tuple(int(i) for i in np.argwhere(outside)[0])
            raise ValueError(
                f"scores has {host[index]} at index {index}, outside [low, high] = "
                f"[{low}, {high}]; scores are never clipped"
            )
    return _discretize(scores, num_levels, float(low), float(high))


@functools.partial(jax.jit, static_argnames=("num_levels", "low", "high"))
def _discretize(scores: jax.Array, num_levels: int, low: float, high: float) -> jax.Array:
    dtype = scores.dtype if jnp.issubdtype(scores.dtype, jnp.floating) else jnp.float32
    unit = (scores.astype(dtype) - low) / (high - low)
    level = jnp.floor(unit * num_levels).astype(jnp.int32)
    level = jnp.where(unit == 1.0, num_levels - 1, level)
    level = jnp.where((unit < 0) | jnp.isnan(unit), -1, level)
    return jnp.where(unit > 1, num_levels, level)


def entropy_from_counts(
    counts: Real[ArrayLike, "*batch L"],
    *,
    base: float | None = None,
    estimator: str = "plugin",
) -> Float[Array, "*batch"]:
    """Entropy of each row of level counts.

    With ``n = sum_l c_l`` and ``p_l = c_l / n``:

        plug-in:       H = - sum_l p_l log p_l                (0 log 0 = 0)
        Miller-Madow:  H = plug-in + (m - 1) / (2 n),  m = #{l : c_l > 0}

    divided by ``log(base)`` when ``base`` is given. The plug-in value lies in ``[0, log L]``;
    the Miller-Madow correction removes the ``O(1/n)`` downward bias and may exceed ``log L``.
    Values and gradients are NaN-free for empty bins.

    Args:
      counts: non-negative counts ``[..., L]`` (integer or float; e.g. from
        :func:`rating_histogram`).
      base: logarithm base; ``None`` means natural log (nats), ``2`` gives bits.
      estimator: ``"plugin"`` or ``"miller_madow"``.

    Returns:
      Entropies ``[...]`` in the default float dtype (float32 unless x64 is enabled).

    Raises:
      ValueError: negative or non-finite counts, or a row with zero total (its entropy is
        undefined; under an outer ``jit`` such a row gives NaN).
    """
    _checks.check_base(base)
    _checks.check_choice("estimator", estimator, _checks.ESTIMATORS)
    counts = _checks.as_array("counts", counts)
    _checks.check_float_dtype("counts", counts)
    if counts.ndim < 1 or counts.shape[-1] < 1:
        raise ValueError(f"counts must have shape [..., L] with L >= 1, got {counts.shape}")
    _checks.check_finite("counts", counts)
    if _checks.is_concrete(counts) and bool(np.any(np.asarray(counts) < 0)):
        raise ValueError("counts must be non-negative")
    _checks.check_rules_observed(counts, "counts")
    return _entropy_from_counts(counts, base, estimator)


@functools.partial(jax.jit, static_argnames=("base", "estimator"))
def _entropy_from_counts(
    counts: jax.Array, base: float | None, estimator: str
) -> jax.Array:
    dtype = counts.dtype if jnp.issubdtype(counts.dtype, jnp.floating) else jnp.result_type(float)
    c = counts.astype(dtype)
    n = jnp.sum(c, axis=-1, keepdims=True)
    observed = c > 0
    # Double-where: empty bins take p = 1 in the log so that neither the value (0 log 0) nor
    # the gradient (d/dp p log p = log p + 1 -> -inf at 0) can produce NaN.
    p = jnp.where(observed, c / jnp.where(n > 0, n, 1), 1)
    h = -jnp.sum(jnp.where(observed, p * jnp.log(p), 0), axis=-1)
    n = n[..., 0]
    if estimator == "miller_madow":
        support = jnp.sum(observed, axis=-1).astype(dtype)
        h = h + (support - 1) / (2 * jnp.where(n > 0, n, 1))
    if base is not None:
        h = h / np.log(base).astype(dtype)
    return jnp.where(n > 0, h, jnp.nan)


@functools.partial(jax.jit, static_argnames=("num_levels", "base", "estimator"))
def _rating_entropy(
    ratings: jax.Array,
    mask: jax.Array | None,
    num_levels: int,
    base: float | None,
    estimator: str,
) -> jax.Array:
    counts = _histogram(ratings, mask, num_levels)
    h = _entropy_from_counts(counts, base, estimator)
    expected = ratings.shape[0] if mask is None else jnp.sum(mask, axis=0, dtype=jnp.int32)
    # An observed level outside 0..L-1 (possible only under an outer jit, where the range
    # check cannot raise) matches no bin; poison that rule rather than drop the rating.
    return jnp.where(jnp.sum(counts, axis=-1) == expected, h, jnp.nan)


def rating_entropy(
    ratings: Integer[ArrayLike, "N K"],
    num_levels: int,
    *,
    mask: Bool[ArrayLike, "N K"] | None = None,
    base: float | None = None,
    estimator: str = "plugin",
) -> Float[Array, " K"]:
    """Entropy ``H_k`` of each rule's discrete ratings, in one jitted call.

    Equivalent to ``entropy_from_counts(rating_histogram(ratings, L, mask=mask), ...)``.

    Args:
      ratings: integer levels ``[N, K]`` in ``0..L-1``.
      num_levels: ``L`` (>= 2); ``H_k <= log L``.
      mask: optional boolean ``[N, K]``, ``True`` = observed.
      base: logarithm base, ``None`` = natural log.
      estimator: ``"plugin"`` or ``"miller_madow"``.

    Returns:
      ``[K]`` entropies.

    Raises:
      ValueError / TypeError: as :func:`rating_histogram`, and a rule with no observed rating.
        Under an outer ``jit`` those rules give NaN instead.
    """
    num_levels = _checks.check_num_levels(num_levels)
    _checks.check_base(base)
    _checks.check_choice("estimator", estimator, _checks.ESTIMATORS)
    ratings, mask = _validated_ratings(ratings, num_levels, mask)
    if mask is not None and _checks.is_concrete(mask):
        _checks.check_rules_observed(np.asarray(mask).sum(axis=0)[:, None], "mask")
    elif ratings.shape[0] == 0:
        raise ValueError("ratings has zero rows; entropy is undefined")
    return _rating_entropy(ratings, mask, num_levels, base, estimator)
