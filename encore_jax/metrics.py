"""Evaluation metrics.

Pairwise accuracy of margins ``m_i`` (composite reward of the chosen response minus that of
the rejected one): a pair is won when ``m_i > 0``, lost when ``m_i < 0``, and tied when
``m_i == 0``; the tie policy says what a tie is worth.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from encore_jax import _checks

__all__ = ["pairwise_accuracy"]


def pairwise_accuracy(
    margins: Float[ArrayLike, " N"],
    *,
    tie: str = "loss",
    key: PRNGKeyArray | None = None,
    mask: Bool[ArrayLike, " N"] | None = None,
) -> Float[Array, ""]:
    """Fraction of pairs whose margin prefers the chosen response.

        acc = (1 / |M|) sum_{i in M} ( [m_i > 0] + t_i [m_i == 0] )

    where ``M`` is the set of unmasked pairs and the tie credit ``t_i`` is

    * ``tie="loss"``: 0, as RewardBench counts ties (the default);
    * ``tie="half"``: 1/2, the expected accuracy of a fair coin;
    * ``tie="random"``: a Bernoulli(1/2) draw per pair from ``key``.

    Args:
      margins: ``m`` ``[N]`` (e.g. from :func:`encore_jax.pair_margins`).
      tie: the tie policy, ``"loss"``, ``"half"`` or ``"random"``.
      key: PRNG key, required with ``tie="random"``.
      mask: optional boolean ``[N]``; ``True`` = pair counted.

    Returns:
      Scalar accuracy in ``[0, 1]``.
    """
    _checks.check_choice("tie", tie, _checks.TIE_POLICIES)
    if (tie == "random") != (key is not None):
        raise ValueError("key is required with tie='random' and only then")
    margins = _checks.as_array("margins", margins)
    _checks.check_float_dtype("margins", margins)
    _checks.check_ndim("margins", margins, 1, "[N]")
    _checks.check_finite("margins", margins)
    if mask is None:
        if margins.shape[0] == 0:
            raise ValueError("margins is empty; accuracy over zero pairs is undefined")
    else:
        mask = _checks.as_array("mask", mask)
        if mask.dtype != jnp.bool_ or mask.shape != margins.shape:
            raise ValueError(
                f"mask must be boolean with shape {margins.shape}, got {mask.dtype} {mask.shape}"
            )
        if _checks.is_concrete(mask) and not bool(jnp.any(mask)):
            raise ValueError("mask excludes every pair; accuracy over zero pairs is undefined")
    return _accuracy(margins, mask, key, tie)


@functools.partial(jax.jit, static_argnames="tie")
def _accuracy(
    margins: jax.Array, mask: jax.Array | None, key: jax.Array | None, tie: str
) -> jax.Array:
    if tie == "loss":
        credit = jnp.zeros(margins.shape, jnp.float32)
    elif tie == "half":
        credit = jnp.full(margins.shape, 0.5, jnp.float32)
    else:
        credit = jax.random.bernoulli(key, 0.5, margins.shape).astype(jnp.float32)
    score = jnp.where(margins > 0, 1.0, jnp.where(margins == 0, credit, 0.0))
    if mask is None:
        return jnp.mean(score)
    return jnp.sum(jnp.where(mask, score, 0.0)) / jnp.sum(mask, dtype=jnp.float32)
