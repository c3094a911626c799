"""Composite rewards and pair margins.

For rule heads ``psi_k`` and weights ``w`` the composite reward is
``phi(x, y) = sum_k w_k psi_k(x, y)``; for a preference pair (chosen ``c``, rejected ``r``)
the margin is ``m = phi(c) - phi(r) = sum_k w_k (psi_k(c) - psi_k(r))``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from encore_jax import _checks

__all__ = ["compose", "pair_margins"]


def _validated_scores(name: str, scores: ArrayLike, weights: jax.Array) -> jax.Array:
    scores = _checks.as_array(name, scores)
    _checks.check_float_dtype(name, scores)
    if scores.ndim < 1 or scores.shape[-1] != weights.shape[0]:
        raise ValueError(
            f"{name} has shape {scores.shape}; its last axis must be K = {weights.shape[0]} "
            "(the number of weights)"
        )
    _checks.check_finite(name, scores)
    return scores


def _validated_weights(weights: ArrayLike) -> jax.Array:
    weights = _checks.as_array("weights", weights)
    if not jnp.issubdtype(weights.dtype, jnp.floating):
        raise TypeError(f"weights must be a float array, got dtype {weights.dtype}")
    _checks.check_ndim("weights", weights, 1, "[K]")
    _checks.check_finite("weights", weights)
    return weights


def _matvec(matrix: jax.Array, vector: jax.Array) -> jax.Array:
    """``matrix [..., K] @ vector [K]``, computed as ``vector @ matrix^T`` on a ``[R, K]``
    view: XLA:CPU lowers that form to a GEMV measured 2x faster than ``matrix @ vector`` at
    1e6 x 100 float32 (on par with NumPy's), and never slower from 1e4 x 100 to 1e5 x 1000."""
    rows = math.prod(matrix.shape[:-1])
    return (vector @ matrix.reshape(rows, matrix.shape[-1]).T).reshape(matrix.shape[:-1])


@jax.jit
def _weighted_sum(scores: jax.Array, weights: jax.Array) -> jax.Array:
    dtype = _checks.common_float_dtype(scores, weights)
    return _matvec(scores.astype(dtype), weights.astype(dtype))


def compose(
    scores: Real[ArrayLike, "*batch K"], weights: Float[ArrayLike, " K"]
) -> Float[Array, "*batch"]:
    """Composite reward ``phi = sum_k w_k psi_k``.

    Args:
      scores: per-rule head scores ``psi`` ``[..., K]`` (float, or integer ratings).
      weights: ``w`` ``[K]``.

    Returns:
      Composite rewards ``[...]``.
    """
    weights = _validated_weights(weights)
    scores = _validated_scores("scores", scores, weights)
    return _weighted_sum(scores, weights)


@jax.jit
def _margins(chosen: jax.Array, rejected: jax.Array, weights: jax.Array) -> jax.Array:
    dtype = _checks.common_float_dtype(chosen, rejected, weights)
    # Difference in the float dtype: unsigned integer ratings would wrap around.
    diffs = chosen.astype(dtype) - rejected.astype(dtype)
    return _matvec(diffs, weights.astype(dtype))


def pair_margins(
    chosen: Real[ArrayLike, "N K"],
    rejected: Real[ArrayLike, "N K"],
    weights: Float[ArrayLike, " K"],
) -> Float[Array, " N"]:
    """Composite margins ``m_i = sum_k w_k (chosen_ik - rejected_ik)``.

    Args:
      chosen: per-rule scores of the preferred responses ``[N, K]``.
      rejected: per-rule scores of the other responses ``[N, K]``.
      weights: ``w`` ``[K]``.

    Returns:
      Margins ``[N]``; ``m_i > 0`` means the composite prefers the chosen response.
    """
    weights = _validated_weights(weights)
    chosen = _validated_scores("chosen", chosen, weights)
    rejected = _validated_scores("rejected", rejected, weights)
    _checks.check_ndim("chosen", chosen, 2, "[N, K]")
    _checks.check_same_shape("chosen", chosen, "rejected", rejected)
    return _margins(chosen, rejected, weights)
