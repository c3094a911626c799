"""Pairwise accuracy and per-pair credit.

A pair with margin ``m_i`` (composite reward of the chosen response minus that of the
rejected one) is won when ``m_i > 0``, lost when ``m_i < 0`` and tied when ``m_i == 0``; the
tie policy (``"loss"``, ``"half"``, ``"random"``, :data:`encore_jax._checks.TIE_POLICIES`)
says what a tie is worth.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from encore_jax import _checks

__all__ = ["pair_credit", "pairwise_accuracy"]


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
    margins = _validated_margins(margins, tie, key)
    _checks.check_ndim("margins", margins, 1, "[N]")
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
    score = _credit(margins, key, tie)
    if mask is None:
        return jnp.mean(score)
    return jnp.sum(jnp.where(mask, score, 0.0)) / jnp.sum(mask, dtype=jnp.float32)


def pair_credit(
    margins: Float[ArrayLike, "*batch N"],
    *,
    tie: str = "loss",
    key: PRNGKeyArray | None = None,
) -> Float[Array, "*batch N"]:
    """Per-pair credit ``s_i = [m_i > 0] + t_i [m_i == 0]``, the summand of the accuracy.

    ``pairwise_accuracy(m, tie=...)`` is the (masked) mean of these values; bootstrapping them
    with :func:`bootstrap_ci` gives the accuracy's confidence interval.

    Args:
      margins: ``m`` ``[..., N]``; finite.
      tie: ``"loss"`` (``t = 0``), ``"half"`` (``t = 1/2``) or ``"random"`` (``t`` a
        Bernoulli(1/2) draw per entry from ``key``).
      key: PRNG key, required with ``tie="random"`` and only then.

    Returns:
      float32 credits in ``{0, t, 1}`` with the shape of ``margins``.
    """
    return _credit(_validated_margins(margins, tie, key), key, tie)


def _validated_margins(margins: ArrayLike, tie: str, key: PRNGKeyArray | None) -> jax.Array:
    """Checks the tie policy, its key, and finite real margins of shape ``[..., N]``."""
    _checks.check_choice("tie", tie, _checks.TIE_POLICIES)
    if (tie == "random") != (key is not None):
        raise ValueError("key is required with tie='random' and only then")
    margins = _checks.as_array("margins", margins)
    _checks.check_float_dtype("margins", margins)
    if margins.ndim < 1:
        raise ValueError(f"margins must have shape [..., N], got shape {margins.shape}")
    _checks.check_finite("margins", margins)
    return margins


@functools.partial(jax.jit, static_argnames="tie")
def _credit(margins: jax.Array, key: jax.Array | None, tie: str) -> jax.Array:
    if tie == "loss":
        tie_credit = jnp.zeros(margins.shape, jnp.float32)
    elif tie == "half":
        tie_credit = jnp.full(margins.shape, 0.5, jnp.float32)
    else:
        tie_credit = jax.random.bernoulli(key, 0.5, margins.shape).astype(jnp.float32)
    return jnp.where(margins > 0, 1.0, jnp.where(margins == 0, tie_credit, 0.0))


# --------------------------------------------------------------------------------------------
# Bootstrap confidence intervals
# --------------------------------------------------------------------------------------------
