"""Composite rewards and pair margins, with exact ties.

For rule heads ``psi_k`` and weights ``w`` the composite reward is
``phi(x, y) = sum_k w_k psi_k(x, y)``; for a preference pair (chosen ``c``, rejected ``r``)
the margin is ``m = phi(c) - phi(r) = sum_k w_k (psi_k(c) - psi_k(r))``.

Exact ties (the contract of :func:`pair_margins` and :func:`margins_from_differences`).
Write ``d_ik`` for the differences, ``m*_i = sum_k w_k d_ik`` for the margin in exact real
arithmetic on the given (float) inputs, and ``m_i`` for the returned margin. The margin is
computed in floating point (dtype with unit roundoff ``u``: 2^-24 for float32, 2^-53 for
float64), so rounding alone could turn ``m*_i = 0`` into a tiny non-zero value whose sign
depends on the summation order (integer ratings with uniform weights ``1/K`` do this on
about two thirds of the tied pairs). Every margin is therefore certified against a
rigorous forward error bound (Higham, *Accuracy and Stability of Numerical Algorithms*,
Lemma 3.1 and eq. 3.5; ``gamma_n = n u / (1 - n u)``): with ``S_i = sum_k |w_k| |d_ik|``
computed in the same pass,

    |fl(m_i) - m*_i| <= gamma_{K+1} S_i          (any summation order, FMA or not),

where ``K + 1`` counts the subtraction ``c - r``, the product and the ``K - 1`` additions.
The returned margin is ``m_i = 0.0`` when ``|fl(m_i)| <= t_i`` with the threshold

    t_i = 2 (K + 1) u S_i  +  4 (K + 1) tiny (1 + sum |w|)

(``tiny`` the smallest normal number; the second term covers flush-to-zero of subnormal
products). The factor 2 covers the rounding of ``S_i`` and ``t_i`` themselves whenever
``(K + 1) u <= 0.1``, which is checked (``K`` up to 1.6e6 rules in float32). Hence:

1. **Exact zeros are ties.** ``m*_i = 0`` gives ``m_i == 0.0`` exactly, whatever the
   summation order, rule order, device or ``jit``; ``margin == 0`` is the tie test
   downstream (:func:`encore_jax.pairwise_accuracy`, :func:`encore_jax.pair_credit`).
2. **Non-zero signs are certified.** ``m_i != 0`` implies ``sign(m_i) = sign(m*_i)``.
3. **No decision lost (eager calls).** A true margin within the rounding bound,
   ``0 < |m*_i| <= 2 t_i``, would come out of the device kernel as a tie (its float sign is
   rounding noise there). :func:`pair_margins` and :func:`margins_from_differences` re-check
   every such flagged pair on the host, exactly, when the device dtype has at most 26
   significand bits (float32, float16, bfloat16: ``recheck=True``, the default; see
   :mod:`encore_jax._exact_margins`): it gets the exact sign, and only exact zeros stay
   ``0.0``. Measured by ``python -m benchmarks.exact_ties --continuous`` (10,000 pairs of
   continuous float32 differences, Dirichlet(1) weights): the kernel alone ties 16 of the
   10,000 decided pairs at ``K = 1000`` and 89 at ``K = 3000``, the re-check none, with
   no wrong sign (checked against ``math.fsum`` of the exact products). Only the flagged
   pairs are copied and re-checked, so integer ratings pay for their exact ties (a vectorised
   exact float64 sum) and nothing else. Float64 inputs, ``recheck=False``, and the
   traceable :func:`certified_margins` (under ``jit``) keep the kernel's answer, where the
   rest of this item applies. For integer ratings on
   ``L`` levels with uniform weights ``1/K`` every non-zero ``|m*_i| >= 1/K`` while
   ``t_i <= 2 (K + 1) u (L - 1)`` (plus the negligible ``tiny`` term), so no true margin is
   lost while ``K (K + 1) < 1 / (4 u (L - 1))``: ``K <= 1023`` rules at ``L = 5`` in
   float32, ``K`` up to 4.7e7 in float64. With unequal weights a non-zero ``|m*_i|`` can be
   arbitrarily small only through a near-cancellation of the weighted differences at the
   level ``~ K u`` of their size.
4. **Overflow is an error, never a tie.** A margin or bound ``S_i`` that overflows the dtype
   (finite inputs) raises a ``ValueError`` naming the pair in the eager functions; inside
   ``jit`` (where nothing can be raised) the kernel returns NaN for that pair, which no tie
   test (``margin == 0``) counts as a tie. Non-finite inputs raise naming the entry.

Differences ``c - r`` are taken in the widest float dtype of the inputs (unsigned levels
cannot wrap around); integer ratings are exact there when ``|rating| < 2^24`` (float32) or
``2^53`` (float64). The products run at ``Precision.HIGHEST``, so GPUs and TPUs do not
round float32 operands to TF32/bfloat16 (which would void the bound). The composite of one
response (:func:`compose`) carries no such certificate: ``compose(c) - compose(r)`` rounds
each composite first, so compare responses with :func:`pair_margins` on their scores.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from encore_jax import _checks
from encore_jax._exact_margins import recheck_flagged

__all__ = ["compose", "margins_from_differences", "pair_margins"]

# The certificate needs (K + 1) u <= _MAX_ROUNDING (see the module docstring).
_MAX_ROUNDING = 0.1


def _validated_scores(name: str, scores: ArrayLike, weights: jax.Array) -> jax.Array:
    scores = _checks.as_array(name, scores)
    _checks.check_float_dtype(name, scores)
    if scores.ndim < 1 or scores.shape[-1] != weights.shape[-1]:
        raise ValueError(
            f"{name} has shape {scores.shape}; its last axis must be K = {weights.shape[-1]} "
            "(the number of weights)"
        )
    return scores


def _validated_weights(
    weights: ArrayLike, shape_doc: str = "[K]", *, check_values: bool = True
) -> jax.Array:
    """Weights ``[K]`` (or ``[M, K]``): float dtype and shape; finiteness too unless
    ``check_values=False`` (the public kernels check it from their validity flag)."""
    weights = _checks.as_array("weights", weights)
    if not jnp.issubdtype(weights.dtype, jnp.floating):
        raise TypeError(f"weights must be a float array, got dtype {weights.dtype}")
    if shape_doc == "[K]":
        _checks.check_ndim("weights", weights, 1, shape_doc)
    elif weights.ndim not in (1, 2):
        raise ValueError(f"weights must have shape {shape_doc}, got shape {weights.shape}")
    if check_values:
        _checks.check_finite("weights", weights)  # [K] or [M, K]: a small device reduction
    return weights


def _flag(output_scale: jax.Array, weights: jax.Array) -> jax.Array:
    """The validity flag the kernels return with their result, from the same pass.

    True when ``output_scale`` (the composite ``S w``, or ``S_i = sum_k |w_k| |d_ik|``) is
    finite everywhere and every weight is a finite *normal* number. Then every input is
    finite: a NaN or infinite entry ``x`` of the scores / differences times a weight
    ``w != 0`` is NaN or infinite, and a sum with a non-finite term is non-finite, whatever
    the summation order or the matrix kernel (which may skip terms whose weight is zero,
    hence the normal-weight condition: a subnormal weight may read as zero). When the flag
    is False (an input is not finite, a weight is zero or subnormal, or a sum overflowed),
    the public functions run the exact input checks to name the offender."""
    w = weights.astype(jnp.result_type(output_scale))
    tiny = jnp.finfo(w.dtype).tiny
    normal = jnp.all(jnp.isfinite(w) & (jnp.abs(w) >= tiny))
    return normal & jnp.all(jnp.isfinite(output_scale))


def _raise_if_overflow(ok: jax.Array, margins: jax.Array) -> None:
    """After the margin kernels, with finite inputs: a NaN margin is an overflow of the
    margin or its bound; raises naming the first such pair."""
    if not _checks.is_concrete(margins) or _checks.device_all(ok):
        return
    bad = ~jnp.isfinite(margins)
    if not _checks.device_all(jnp.any(bad)):
        return  # the flag failed on a zero or subnormal weight only
    index = tuple(int(i) for i in np.argwhere(np.asarray(jax.device_get(bad)))[0])
    pair = index[-1] if len(index) == 1 else f"{index[1]} (weighting {index[0]})"
    raise ValueError(
        f"the margin of pair {pair} or its rounding bound sum_k |w_k d_k| overflows "
        f"{np.dtype(margins.dtype).name}; rescale the scores or weights, or use float64"
    )


def _raise_if_not_finite(ok: jax.Array, named: tuple[tuple[str, jax.Array], ...]) -> None:
    """After a kernel: when its flag ``ok`` fails (and the inputs are concrete), names the
    first non-finite input entry; an overflow or a zero weight with finite inputs passes."""
    if not all(_checks.is_concrete(x) for _, x in named):
        return
    if _checks.is_concrete(ok) and _checks.device_all(ok):
        return
    for name, x in named:  # the flag failed, or concrete inputs closed over by an outer jit
        _checks.check_finite(name, x)


def _contract(weights: jax.Array, matrix: jax.Array) -> jax.Array:
    """``weights [*W, K]`` against ``matrix [..., K]``: ``[*W, ...]`` (``W`` empty or one axis).

    Computed as ``weights @ matrix^T`` on a ``[R, K]`` view: XLA:CPU lowers the vector case
    to a GEMV, which was faster than ``matrix @ vector`` (``benchmarks/run.py`` times
    ``compose`` against NumPy's matmul). ``Precision.HIGHEST`` keeps
    float32 products in float32 on GPU/TPU (no TF32/bfloat16 passes).
    """
    rows = math.prod(matrix.shape[:-1])
    flat = matrix.reshape(rows, matrix.shape[-1])
    out = jnp.matmul(weights, flat.T, precision=jax.lax.Precision.HIGHEST)
    return out.reshape(weights.shape[:-1] + matrix.shape[:-1])


def _weighted_sum_impl(scores: jax.Array, weights: jax.Array) -> jax.Array:
    dtype = _checks.common_float_dtype(scores, weights)
    return _contract(weights.astype(dtype), scores.astype(dtype))


_weighted_sum = jax.jit(_weighted_sum_impl)


@jax.jit
def _flagged_weighted_sum(scores: jax.Array, weights: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(S w, validity flag)`` in one program (see :func:`_flag`)."""
    out = _weighted_sum_impl(scores, weights)
    return out, _flag(out, weights)


def compose(
    scores: Real[ArrayLike, "*batch K"], weights: Float[ArrayLike, " K"]
) -> Float[Array, "*batch"]:
    """Composite reward ``phi = sum_k w_k psi_k``.

    To compare two responses, use :func:`pair_margins` on their scores rather than the
    difference of two composites: only the former decides exact ties exactly.

    Args:
      scores: per-rule head scores ``psi`` ``[..., K]`` (float, or integer ratings).
      weights: ``w`` ``[K]``.

    Returns:
      Composite rewards ``[...]``.
    """
    weights = _validated_weights(weights, check_values=False)
    scores = _validated_scores("scores", scores, weights)
    out, ok = _flagged_weighted_sum(scores, weights)
    _raise_if_not_finite(ok, (("weights", weights), ("scores", scores)))
    return out


def check_certifiable(num_rules: int, dtype: np.dtype) -> None:
    """Raises when ``K`` rules are too many for the tie certificate in ``dtype``."""
    unit_roundoff = float(jnp.finfo(dtype).eps) / 2
    if (num_rules + 1) * unit_roundoff > _MAX_ROUNDING:
        raise ValueError(
            f"{num_rules} rules are too many to certify exact ties in {np.dtype(dtype).name} "
            f"(needs (K + 1) u <= {_MAX_ROUNDING}); use float64 scores or weights"
        )


def certified_margins(diffs: jax.Array, weights: jax.Array) -> jax.Array:
    """Traceable kernel of :func:`margins_from_differences` (no input checks, no re-check).

    ``diffs [..., K]`` (``d``; any real dtype) and ``weights [K]`` or ``[M, K]`` give
    margins ``[...]`` or ``[M, ...]``: ``fl(sum_k w_k d_k)``, set to exactly ``0.0`` where
    its magnitude is within the rounding-error threshold ``t`` of the module docstring, and
    NaN where the margin or its bound overflowed. On concrete arrays,
    :func:`encore_jax._exact_margins.recheck_flagged` then decides the flagged pairs exactly.
    Use inside other jitted code; the public functions validate and call this.
    """
    return _certified_margins_and_scale(diffs, weights)[0]


def _certified_margins_and_scale(
    diffs: jax.Array, weights: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """:func:`certified_margins` and the scale ``S = sum_k |w_k| |d_k|`` of its threshold."""
    dtype = _checks.common_float_dtype(diffs, weights)
    num_rules = diffs.shape[-1]
    check_certifiable(num_rules, dtype)
    diffs, weights = diffs.astype(dtype), weights.astype(dtype)
    margins = _contract(weights, diffs)
    scale = _contract(jnp.abs(weights), jnp.abs(diffs))  # S = sum_k |w_k| |d_k|
    info = jnp.finfo(dtype)
    relative = jnp.asarray(2 * (num_rules + 1) * float(info.eps) / 2, dtype)
    absolute = jnp.asarray(4 * (num_rules + 1) * float(info.tiny), dtype) * (
        1 + jnp.sum(jnp.abs(weights)))
    threshold = relative * scale + absolute
    certified = jnp.where(jnp.abs(margins) <= threshold, jnp.zeros((), dtype), margins)
    # A margin or bound that overflowed is NaN, never a tie (item 4 of the module docstring).
    finite = jnp.isfinite(margins) & jnp.isfinite(scale)
    return jnp.where(finite, certified, jnp.asarray(jnp.nan, dtype)), scale


def _flagged_margins(diffs: jax.Array, weights: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(certified margins, validity flag)``: the flag from the scale ``S`` (see
    :func:`_flag`; a non-finite difference makes ``S`` non-finite even where the threshold
    would turn its margin into a tie)."""
    margins, scale = _certified_margins_and_scale(diffs, weights)
    return margins, _flag(scale, weights)


@jax.jit
def _margins(
    chosen: jax.Array, rejected: jax.Array, weights: jax.Array
) -> tuple[jax.Array, jax.Array]:
    dtype = _checks.common_float_dtype(chosen, rejected, weights)
    # Difference in the float dtype: unsigned integer ratings would wrap around.
    return _flagged_margins(chosen.astype(dtype) - rejected.astype(dtype), weights)


def pair_margins(
    chosen: Real[ArrayLike, "N K"],
    rejected: Real[ArrayLike, "N K"],
    weights: Float[ArrayLike, " K"],
    *,
    recheck: bool = True,
) -> Float[Array, " N"]:
    """Composite margins ``m_i = sum_k w_k (chosen_ik - rejected_ik)``, with exact ties.

    A margin that is zero in exact arithmetic comes out as exactly ``0.0`` whatever the
    summation or rule order, and every non-zero margin has the sign of the exact one; a
    true margin within the float rounding bound (never, for integer ratings on ``L <= 5``
    levels with uniform weights and up to 1023 rules in float32) is a tie too. The
    guarantee, its threshold and when it holds are in the :mod:`encore_jax.compose`
    module docstring. One fused pass: two GEMVs (``w . d`` and ``|w| . |d|``) and a select.

    Args:
      chosen: per-rule scores of the preferred responses ``[N, K]`` (float, or integer
        ratings).
      rejected: per-rule scores of the other responses ``[N, K]``.
      weights: ``w`` ``[K]``.
      recheck: re-check the pairs the certificate flags exactly on the host (default
        ``True``; float32 and narrower; item 3 of the module docstring), so that only exact
        ties are ``0.0``. ``False`` keeps the device kernel's answer (a true margin within
        the rounding bound is then a tie). Ignored under ``jit`` (tracers).

    Returns:
      Margins ``[N]`` in the widest float dtype of the inputs; ``m_i > 0`` means the
      composite prefers the chosen response, ``m_i == 0`` is a tie.

    Raises:
      ValueError: a non-finite input (naming the entry), or a margin that overflows the
        dtype (naming the pair).
    """
    weights = _validated_weights(weights, check_values=False)
    chosen = _validated_scores("chosen", chosen, weights)
    rejected = _validated_scores("rejected", rejected, weights)
    _checks.check_ndim("chosen", chosen, 2, "[N, K]")
    _checks.check_same_shape("chosen", chosen, "rejected", rejected)
    margins, ok = _margins(chosen, rejected, weights)
    _raise_if_not_finite(ok, (("weights", weights), ("chosen", chosen), ("rejected", rejected)))
    _raise_if_overflow(ok, margins)
    if recheck and all(_checks.is_concrete(x) for x in (margins, weights, chosen, rejected)):
        return recheck_flagged(margins, weights, chosen, rejected)
    return margins


_certified_margins = jax.jit(_flagged_margins)


def margins_from_differences(
    diffs: Real[ArrayLike, "N K"],
    weights: Float[ArrayLike, "*M K"],
    *,
    recheck: bool = True,
) -> Float[Array, "*M N"]:
    """Margins ``m_i = sum_k w_k d_ik`` from precomputed differences, with exact ties.

    The same certificate as :func:`pair_margins` (see the :mod:`encore_jax.compose` module
    docstring), with ``d`` taken as exact: a margin that is zero in exact arithmetic on
    ``d`` and ``w`` is exactly ``0.0``. Several weightings at once: ``weights [M, K]`` gives
    ``[M, N]`` (one GEMM each for ``W d^T`` and ``|W| |d|^T``). Missing ratings are entered
    as ``d_ik = 0``.

    Args:
      diffs: ``d = chosen - rejected`` ``[N, K]`` (float, or integer).
      weights: ``w`` ``[K]``, or ``M`` weightings ``[M, K]``.
      recheck: as in :func:`pair_margins` (default ``True``).

    Returns:
      Margins ``[N]`` or ``[M, N]``; ``== 0`` exactly on ties.

    Raises:
      ValueError: a non-finite input (naming the entry), or a margin that overflows the
        dtype (naming the pair).
    """
    weights = _validated_weights(weights, "[K] or [M, K]", check_values=False)
    diffs = _validated_scores("diffs", diffs, weights)
    _checks.check_ndim("diffs", diffs, 2, "[N, K]")
    margins, ok = _certified_margins(diffs, weights)
    _raise_if_not_finite(ok, (("weights", weights), ("diffs", diffs)))
    _raise_if_overflow(ok, margins)
    if recheck and all(_checks.is_concrete(x) for x in (margins, weights, diffs)):
        return recheck_flagged(margins, weights, diffs)
    return margins
