"""Simulated rule ensembles with known entropy, accuracy and Bradley–Terry weight.

Symbols: ``N`` pairs, ``K`` rules, ``L`` rating levels with centred positions
``c_l = l - (L - 1) / 2`` for ``l = 0..L-1``. Each pair has a truly preferred (chosen)
response, latent quality ``z = +1``, and a rejected one, ``z = -1``. Given ``z``, rule ``k``
rates a response independently of everything else, with level probabilities

    p_k(l | z) ∝ exp( (beta_k / 2) z c_l - c_l^2 / (2 s_k^2) ),

an exponential tilt of a discretised Gaussian envelope. ``beta_k`` (``informativeness``)
sets how strongly the ratings track quality; ``s_k`` (``spread``) sets the width of the
envelope, hence (for an untilted rule, monotonically) the rating entropy; ``s_k = inf``
removes the envelope. Two consequences,
both exact (see ``theory/THEORY.md``):

* For any two levels ``u, v``, ``P(chosen = u, rejected = v) / P(chosen = v, rejected = u)
  = exp(beta_k (c_u - c_v))``, so the rules' rating differences follow a well-specified
  Bradley–Terry (logistic) model: the population Bradley–Terry weights are exactly
  ``w*_k = beta_k``.
* ``beta_k = 0`` makes the rule independent of the preference; with ``s_k = inf`` its ratings
  are i.i.d. uniform over the ``L`` levels (maximum entropy ``log L``): the pure-noise rule.
  A large ``s_k`` with ``beta_k > 0`` gives a high-entropy rule that is still informative
  (the counterexample to "high entropy means uninformative").

The population entropy is that of the marginal rating distribution over all rated responses,
``q_k = (p_k(. | +1) + p_k(. | -1)) / 2``, in nats; the population accuracy is
``P(chosen rating > rejected rating)`` (strictly; ties count as misses). Both are exact
finite sums over the ``L`` levels.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from encore_jax import _checks

__all__ = ["RuleEnsemble", "rating_distributions", "simulate_rule_ensemble"]


class RuleEnsemble(NamedTuple):
    """Simulated preference pairs rated by ``K`` rules on ``L`` levels (a JAX pytree).

    Attributes:
      ratings_a: ``int32 [N, K]`` levels ``0..L-1`` given to response A of each pair.
      ratings_b: ``int32 [N, K]`` levels given to response B.
      preferred_a: ``bool [N]``, the true preference: ``True`` when A is better.
      entropy: ``[K]`` population entropy (nats) of each rule's marginal rating distribution.
      accuracy: ``[K]`` population ``P(rule rates the preferred response strictly higher)``.
      num_levels: ``L`` (a static pytree field: it stays a Python ``int`` under ``jit`` and
        ``vmap``).

    The properties ``chosen`` and ``rejected`` give the ``[N, K]`` ratings of the truly
    preferred and of the other response.
    """

    ratings_a: Int[Array, "N K"]
    ratings_b: Int[Array, "N K"]
    preferred_a: Bool[Array, " N"]
    entropy: Float[Array, " K"]
    accuracy: Float[Array, " K"]
    num_levels: int

    @property
    def chosen(self) -> Int[Array, "N K"]:
        """Ratings ``[N, K]`` of the truly preferred response of each pair."""
        return jnp.where(self.preferred_a[:, None], self.ratings_a, self.ratings_b)

    @property
    def rejected(self) -> Int[Array, "N K"]:
        """Ratings ``[N, K]`` of the other response of each pair."""
        return jnp.where(self.preferred_a[:, None], self.ratings_b, self.ratings_a)


_ARRAY_FIELDS = ("ratings_a", "ratings_b", "preferred_a", "entropy", "accuracy")


def _flatten(ensemble: RuleEnsemble):
    children = tuple((jax.tree_util.GetAttrKey(f), getattr(ensemble, f)) for f in _ARRAY_FIELDS)
    return children, ensemble.num_levels


def _unflatten(num_levels: int, children) -> RuleEnsemble:
    return RuleEnsemble(*children, num_levels=num_levels)


jax.tree_util.register_pytree_with_keys(RuleEnsemble, _flatten, _unflatten)


def _validated_parameters(informativeness: ArrayLike, spread: ArrayLike) -> tuple[jax.Array, ...]:
    informativeness = _checks.as_array("informativeness", informativeness)
    spread = _checks.as_array("spread", spread)
    for name, x in (("informativeness", informativeness), ("spread", spread)):
        _checks.check_float_dtype(name, x)
        _checks.check_ndim(name, x, 1, "[K]")
    if informativeness.shape[0] == 0:
        raise ValueError("informativeness has no rules (shape [0]); at least one rule is needed")
    _checks.check_same_shape("informativeness", informativeness, "spread", spread)
    _checks.check_finite("informativeness", informativeness)
    if _checks.is_concrete(informativeness):
        host = np.asarray(informativeness)
        if np.any(host < 0):
            index = int(np.argmax(host < 0))
            raise ValueError(
                f"informativeness has {host[index]} at index {index}; it must be >= 0 "
                "(0 = ratings independent of quality)"
            )
    if _checks.is_concrete(spread):
        host = np.asarray(spread)
        bad = ~(host > 0)  # also catches NaN; +inf is allowed (no envelope)
        if np.any(bad):
            index = int(np.argmax(bad))
            raise ValueError(
                f"spread has {host[index]} at index {index}; it must be > 0 "
                "(inf = no envelope: uniform when informativeness is 0)"
            )
    dtype = jnp.result_type(float)
    for x in (informativeness, spread):
        if jnp.issubdtype(x.dtype, jnp.floating) and x.dtype.itemsize > dtype.itemsize:
            dtype = x.dtype
    return informativeness.astype(dtype), spread.astype(dtype)


@functools.partial(jax.jit, static_argnames="num_levels")
def _distributions(
    informativeness: jax.Array, spread: jax.Array, num_levels: int
) -> tuple[jax.Array, jax.Array]:
    dtype = informativeness.dtype
    centred = jnp.arange(num_levels, dtype=dtype) - (num_levels - 1) / 2
    tilt = 0.5 * informativeness[:, None] * centred[None, :]
    # 1 / inf**2 == 0: an infinite spread drops the envelope exactly, no special case.
    envelope = -0.5 * (centred[None, :] / spread[:, None]) ** 2
    return jax.nn.softmax(envelope + tilt, axis=-1), jax.nn.softmax(envelope - tilt, axis=-1)


def rating_distributions(
    informativeness: Float[ArrayLike, " K"],
    spread: Float[ArrayLike, " K"],
    num_levels: int = 5,
) -> tuple[Float[Array, "K L"], Float[Array, "K L"]]:
    """Level probabilities of each rule for the preferred and the other response.

        p_k(l | z) = exp(a_kl(z)) / sum_m exp(a_km(z)),
        a_kl(z) = (beta_k / 2) z c_l - c_l^2 / (2 s_k^2),   c_l = l - (L - 1) / 2.

    Args:
      informativeness: ``beta`` ``[K]``, >= 0; the population Bradley–Terry weight per level.
      spread: ``s`` ``[K]``, > 0; ``inf`` removes the envelope.
      num_levels: ``L`` (>= 2).

    Returns:
      ``(p_chosen, p_rejected)``, each ``[K, L]`` with rows summing to one
      (``z = +1`` and ``z = -1``).
    """
    num_levels = _checks.check_num_levels(num_levels)
    informativeness, spread = _validated_parameters(informativeness, spread)
    return _distributions(informativeness, spread, num_levels)


def _entropy_and_accuracy(
    p_chosen: jax.Array, p_rejected: jax.Array
) -> tuple[jax.Array, jax.Array]:
    marginal = 0.5 * (p_chosen + p_rejected)
    # Levels far out in a narrow envelope can underflow to probability 0: 0 log 0 = 0.
    safe = jnp.where(marginal > 0, marginal, 1)
    entropy = -jnp.sum(jnp.where(marginal > 0, marginal * jnp.log(safe), 0), axis=-1)
    num_levels = p_chosen.shape[-1]
    above = jnp.tril(jnp.ones((num_levels, num_levels), dtype=bool), k=-1)  # u > v
    joint = p_chosen[:, :, None] * p_rejected[:, None, :]
    accuracy = jnp.sum(jnp.where(above[None, :, :], joint, 0), axis=(1, 2))
    return entropy, accuracy


def _sample_levels(key: jax.Array, probs: jax.Array, num_pairs: int) -> jax.Array:
    # Inverse-CDF sampling: the level is the number of interior CDF knots below u. A float
    # CDF whose last entry rounds below 1 cannot produce level L (only L - 1 knots are used).
    cdf = jnp.cumsum(probs, axis=-1)[:, :-1]
    u = jax.random.uniform(key, (num_pairs, probs.shape[0]), dtype=probs.dtype)
    return jnp.sum(u[:, :, None] >= cdf[None, :, :], axis=-1, dtype=jnp.int32)


def _sample_pairs(
    key: jax.Array, p_chosen: jax.Array, p_rejected: jax.Array, num_pairs: int
) -> tuple[jax.Array, ...]:
    """``N`` pairs from the per-rule level distributions ``[K, L]`` of the chosen and the
    rejected response, in a random order: ``(ratings_a, ratings_b, preferred_a, entropy,
    accuracy)`` (``entropy`` and ``accuracy`` of the rules, as :func:`_entropy_and_accuracy`)."""
    entropy, accuracy = _entropy_and_accuracy(p_chosen, p_rejected)
    key_order, key_chosen, key_rejected = jax.random.split(key, 3)
    preferred_a = jax.random.bernoulli(key_order, 0.5, (num_pairs,))
    chosen = _sample_levels(key_chosen, p_chosen, num_pairs)
    rejected = _sample_levels(key_rejected, p_rejected, num_pairs)
    ratings_a = jnp.where(preferred_a[:, None], chosen, rejected)
    ratings_b = jnp.where(preferred_a[:, None], rejected, chosen)
    return ratings_a, ratings_b, preferred_a, entropy, accuracy


@functools.partial(jax.jit, static_argnames=("num_pairs", "num_levels"))
def _simulate(
    key: jax.Array,
    informativeness: jax.Array,
    spread: jax.Array,
    num_pairs: int,
    num_levels: int,
) -> tuple[jax.Array, ...]:
    p_chosen, p_rejected = _distributions(informativeness, spread, num_levels)
    return _sample_pairs(key, p_chosen, p_rejected, num_pairs)


def simulate_rule_ensemble(
    key: PRNGKeyArray,
    num_pairs: int,
    *,
    informativeness: Float[ArrayLike, " K"],
    spread: Float[ArrayLike, " K"],
    num_levels: int = 5,
) -> RuleEnsemble:
    """Simulates ``N`` preference pairs rated by ``K`` rules with known properties.

    Each pair's preferred response has latent quality ``z = +1`` and the other ``z = -1``;
    which of A / B is preferred is a fair coin. Rule ``k`` rates each response
    independently given ``z`` with

        p_k(l | z) ∝ exp( (beta_k / 2) z c_l - c_l^2 / (2 s_k^2) ),   c_l = l - (L - 1) / 2,

    so the differences ``d_k = chosen_k - rejected_k`` follow a Bradley–Terry model whose
    population weights are exactly ``w*_k = beta_k`` (see the module docstring).

    Paper / theory symbols to arguments: ``beta`` -> ``informativeness``, ``s`` -> ``spread``,
    ``L`` -> ``num_levels``. The pure-noise rule of ENCORE's Theorem 1 (i.i.d. uniform
    ratings, entropy ``log L``, independent of the preference) is
    ``informativeness=0, spread=inf``.

    Args:
      key: a JAX PRNG key; the output is a deterministic function of it.
      num_pairs: ``N`` (>= 1).
      informativeness: ``beta`` ``[K]``, finite and >= 0 (0 = independent of quality).
      spread: ``s`` ``[K]``, > 0 (``inf`` allowed); the envelope width in levels. With
        ``informativeness = 0`` the entropy rises with the spread up to ``log L`` at ``inf``;
        with a strong tilt it need not be monotone (mass piles up on the extreme levels).
      num_levels: ``L`` (>= 2).

    Returns:
      A :class:`RuleEnsemble` with ratings ``[N, K]`` of both responses, the true preference,
      and each rule's population ``entropy`` (nats) and ``accuracy`` (exact finite sums).

    Raises:
      TypeError / ValueError: bad shapes or dtypes, ``num_pairs < 1``, ``num_levels < 2``,
        negative or non-finite ``informativeness``, ``spread <= 0`` or NaN. Under an outer
        ``jit`` the value checks cannot raise and invalid parameters give NaN entropies.
    """
    num_pairs = _checks.check_positive_int("num_pairs", num_pairs)
    num_levels = _checks.check_num_levels(num_levels)
    informativeness, spread = _validated_parameters(informativeness, spread)
    arrays = _simulate(key, informativeness, spread, num_pairs, num_levels)
    return RuleEnsemble(*arrays, num_levels=num_levels)
