"""ENCORE weights and the baseline weightings of the paper.

ENCORE (Li et al., arXiv 2503.20995) weights rule ``k`` by its rating entropy ``H_k``:

    w_k = exp(-H_k / tau) / sum_j exp(-H_j / tau)

Paper symbol to argument: ``H`` -> ``entropies``, ``tau`` -> ``temperature`` (paper default 2).
Every weighting here returns non-negative weights ``[K]`` that sum to one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Integer, PRNGKeyArray

from encore_jax import _checks
from encore_jax.entropy import rating_entropy

__all__ = [
    "encore_weights",
    "entropy_weights",
    "lowest_entropy_weights",
    "random_weights",
    "single_rule_weights",
    "uniform_weights",
]

DEFAULT_TEMPERATURE = 2.0


def _validated_entropies(entropies: ArrayLike) -> jax.Array:
    entropies = _checks.as_array("entropies", entropies)
    if not jnp.issubdtype(entropies.dtype, jnp.floating):
        raise TypeError(f"entropies must be a float array, got dtype {entropies.dtype}")
    if entropies.ndim < 1 or entropies.shape[-1] < 1:
        raise ValueError(f"entropies must have shape [..., K] with K >= 1, got {entropies.shape}")
    _checks.check_finite("entropies", entropies)
    return entropies


def entropy_weights(
    entropies: Float[ArrayLike, "*batch K"], temperature: float | Float[ArrayLike, ""] = 2.0
) -> Float[Array, "*batch K"]:
    """ENCORE weights ``w = softmax(-H / tau)`` over the rule axis (the last axis).

    ``w_k = exp(-H_k / tau) / sum_j exp(-H_j / tau)``; lower entropy, higher weight.
    As ``tau -> inf`` the weights become uniform; as ``tau -> 0`` they put all mass on the
    lowest-entropy rule (split evenly among exact ties). The logits are measured from the
    lowest entropy, ``-(H_k - min_j H_j) / tau``, so any finite ``H`` and ``tau`` give weights
    free of NaN: a huge ``H / tau`` (or a ``tau`` too small for the dtype) gives the limit.

    Args:
      entropies: ``H``, entropies ``[..., K]`` (any base, any estimator).
      temperature: ``tau`` > 0 and finite (a scalar; may be traced for ``grad``).

    Returns:
      Weights ``[..., K]``, non-negative, summing to 1 over the last axis.

    References:
      Li et al., ENCORE, arXiv:2503.20995 (entropy-penalised composition of rule rewards;
      paper default ``tau = 2``).
    """
    _checks.check_scalar("temperature", temperature, above=0.0)
    entropies = _validated_entropies(entropies)
    return _softmax_neg(entropies, temperature)


@jax.jit
def _softmax_neg(entropies: jax.Array, temperature: ArrayLike) -> jax.Array:
    tau = jnp.asarray(temperature).astype(entropies.dtype)
    # A tau below the dtype's range (1e-300 in float32) rounds to 0, where the lowest entropy
    # would get 0 / 0 = NaN; the smallest normal number gives the same (tau -> 0) weights.
    tau = jnp.maximum(tau, jnp.finfo(entropies.dtype).tiny)
    # Measure entropies from the lowest one: its logit is then exactly 0 and every other
    # logit is <= 0, possibly -inf (a huge H / tau), never NaN as -H / tau = -inf for all
    # rules would be. softmax is shift-invariant, so no gradient flows through the minimum.
    gap = entropies - jax.lax.stop_gradient(jnp.min(entropies, axis=-1, keepdims=True))
    return jax.nn.softmax(-gap / tau, axis=-1)


def encore_weights(
    ratings: Integer[ArrayLike, "N K"],
    num_levels: int,
    *,
    temperature: float = DEFAULT_TEMPERATURE,
    mask: Bool[ArrayLike, "N K"] | None = None,
    base: float | None = None,
    estimator: str = "plugin",
) -> tuple[Float[Array, " K"], Float[Array, " K"]]:
    """ENCORE from a calibration set of ratings: ``(H, softmax(-H / tau))``.

    Args:
      ratings: integer levels ``[N, K]`` in ``0..L-1`` on the calibration set.
      num_levels: ``L``.
      temperature: ``tau`` > 0 (paper default 2).
      mask: optional boolean ``[N, K]``, ``True`` = observed.
      base, estimator: as :func:`encore_jax.rating_entropy` (natural log, plug-in by default;
        note that the base rescales ``H`` and so changes the weights at a fixed ``tau``).

    Returns:
      ``(entropies [K], weights [K])``.

    References:
      Li et al., ENCORE, arXiv:2503.20995.
    """
    _checks.check_scalar("temperature", temperature, above=0.0)
    entropies = rating_entropy(ratings, num_levels, mask=mask, base=base, estimator=estimator)
    return entropies, _softmax_neg(entropies, temperature)


def uniform_weights(num_rules: int) -> Float[Array, " K"]:
    """Equal weights ``w_k = 1 / K``."""
    num_rules = _checks.check_positive_int("num_rules", num_rules)
    return jnp.full((num_rules,), 1.0 / num_rules, dtype=jnp.float32)


def random_weights(
    key: PRNGKeyArray, num_rules: int, *, concentration: float = 1.0
) -> Float[Array, " K"]:
    """Random weights ``w ~ Dirichlet(concentration * 1_K)`` (uniform on the simplex at 1)."""
    num_rules = _checks.check_positive_int("num_rules", num_rules)
    if not (np.isfinite(concentration) and concentration > 0):
        raise ValueError(f"concentration must be finite and > 0, got {concentration}")
    alpha = jnp.full((num_rules,), concentration, dtype=jnp.float32)
    return jax.random.dirichlet(key, alpha)


def single_rule_weights(num_rules: int, index: int) -> Float[Array, " K"]:
    """One-hot weights on rule ``index``: the single-rule baseline."""
    num_rules = _checks.check_positive_int("num_rules", num_rules)
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        raise TypeError(f"index must be an int, got {index!r}")
    if not 0 <= index < num_rules:
        raise ValueError(f"index must be in 0..{num_rules - 1}, got {index}")
    return jax.nn.one_hot(index, num_rules, dtype=jnp.float32)


def lowest_entropy_weights(entropies: Float[ArrayLike, " K"], k: int) -> Float[Array, " K"]:
    """Uniform weights ``1 / k`` on the ``k`` lowest-entropy rules, zero elsewhere.

    Ties in entropy are broken by the lower rule index (a stable sort).

    Args:
      entropies: ``H`` ``[K]``.
      k: number of rules kept, ``1 <= k <= K``.
    """
    entropies = _validated_entropies(entropies)
    _checks.check_ndim("entropies", entropies, 1, "[K]")
    k = _checks.check_positive_int("k", k)
    if k > entropies.shape[0]:
        raise ValueError(f"k must be <= K = {entropies.shape[0]}, got {k}")
    kept = jnp.argsort(entropies, stable=True)[:k]
    return jnp.zeros(entropies.shape, jnp.float32).at[kept].set(1.0 / k)
