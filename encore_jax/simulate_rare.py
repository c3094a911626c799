"""Simulated ensembles with rare-flag rules next to the graded rules of :mod:`encore_jax.simulate`.

A *rare flag* is a rule that rates almost every response "nothing to flag" and fires on a
few: the harm labels of real data (pii, hate speech, ...), whose low rating entropy comes
from their base rate, not from consistent raters. Symbols: ``L`` levels; the top level
``L - 1`` is "not fired" (ratings are oriented, higher = better); a fired rating is a
severity level ``0..L-2``. Each pair has a preferred response (latent quality ``z = +1``)
and another (``z = -1``). Flag ``k`` with base rate ``p_k``, firing informativeness
``gamma_k`` >= 0 and severity informativeness ``beta_k`` >= 0 rates a response with

    P(fired | z)            = p_k exp(-gamma_k z / 2) / cosh(gamma_k / 2),
    P(level l | fired, z)   ∝ exp((beta_k / 2) z e_l),   e_l = l - (L - 2) / 2,  l = 0..L-2,

so the marginal firing rate (over ``z = ±1``) is exactly ``p_k``, worse responses fire more
often when ``gamma_k > 0``, and fired better responses get milder severities when
``beta_k > 0``. ``gamma_k = beta_k = 0`` is an uninformative flag: its ratings do not depend
on the preference, and a pair it decides is a fair coin. Population entropy and accuracy are
exact finite sums, as in :func:`encore_jax.simulate.simulate_rule_ensemble`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float, PRNGKeyArray

from encore_jax import _checks
from encore_jax.simulate import (
    RuleEnsemble,
    _sample_pairs,
    rating_distributions,
)

__all__ = ["rare_flag_distributions", "simulate_mixed_ensemble"]


def _host_vector(name: str, x: ArrayLike) -> np.ndarray:
    host = np.asarray(x, dtype=np.float64)
    if host.ndim != 1:
        raise ValueError(f"{name} must have shape [K], got {host.shape}")
    if not np.all(np.isfinite(host)):
        raise ValueError(f"{name} must be finite, got {host}")
    return host


def rare_flag_distributions(
    base_rate: Float[ArrayLike, " K"],
    firing_informativeness: Float[ArrayLike, " K"],
    severity_informativeness: Float[ArrayLike, " K"],
    num_levels: int = 5,
) -> tuple[np.ndarray, np.ndarray]:
    """Level probabilities ``[K, L]`` of rare flags for the preferred and the other response.

    Args:
      base_rate: ``p`` ``[K]``, the marginal firing rate, in ``(0, (1 + exp(-gamma)) / 2]``
        (so that ``P(fired | z = -1) <= 1``).
      firing_informativeness: ``gamma`` ``[K]`` >= 0, log odds ratio of firing on the
        other response against the preferred one.
      severity_informativeness: ``beta`` ``[K]`` >= 0, the tilt of fired severities.
      num_levels: ``L`` >= 3 (at least two severities and "not fired").

    Returns:
      ``(p_chosen, p_rejected)`` float64 ``[K, L]``, rows summing to one; column ``L - 1`` is
      "not fired".
    """
    num_levels = _checks.check_num_levels(num_levels)
    if num_levels < 3:
        raise ValueError(f"num_levels must be >= 3 for rare flags, got {num_levels}")
    p = _host_vector("base_rate", base_rate)
    gamma = _host_vector("firing_informativeness", firing_informativeness)
    beta = _host_vector("severity_informativeness", severity_informativeness)
    if not (p.shape == gamma.shape == beta.shape):
        raise ValueError(
            f"base_rate, firing_informativeness, severity_informativeness must share shape "
            f"[K], got {p.shape}, {gamma.shape}, {beta.shape}")
    if np.any(gamma < 0) or np.any(beta < 0):
        raise ValueError("firing_informativeness and severity_informativeness must be >= 0")
    limit = (1 + np.exp(-gamma)) / 2
    if np.any(p <= 0) or np.any(p > limit):
        index = int(np.argmax((p <= 0) | (p > limit)))
        raise ValueError(
            f"base_rate[{index}] = {p[index]} must lie in (0, {limit[index]:.4g}] so that "
            "P(fired | z) <= 1 on both sides")
    severities = np.arange(num_levels - 1) - (num_levels - 2) / 2
    out = []
    for z in (1.0, -1.0):
        fired = p * np.exp(-gamma * z / 2) / np.cosh(gamma / 2)
        logits = 0.5 * beta[:, None] * z * severities[None, :]
        severity = np.exp(logits - logits.max(axis=1, keepdims=True))
        severity /= severity.sum(axis=1, keepdims=True)
        out.append(np.concatenate([fired[:, None] * severity, (1 - fired)[:, None]], axis=1))
    return out[0], out[1]


@functools.partial(jax.jit, static_argnames="num_pairs")
def _simulate(key: jax.Array, p_chosen: jax.Array, p_rejected: jax.Array, num_pairs: int):
    return _sample_pairs(key, p_chosen, p_rejected, num_pairs)


def simulate_mixed_ensemble(
    key: PRNGKeyArray,
    num_pairs: int,
    *,
    informativeness: Float[ArrayLike, " G"],
    spread: Float[ArrayLike, " G"],
    base_rate: Float[ArrayLike, " F"],
    firing_informativeness: Float[ArrayLike, " F"],
    severity_informativeness: Float[ArrayLike, " F"],
    num_levels: int = 5,
) -> RuleEnsemble:
    """``N`` pairs rated by ``G`` graded rules then ``F`` rare flags (``K = G + F`` columns).

    Graded rule ``g`` follows :func:`encore_jax.simulate.rating_distributions` with
    ``beta`` = ``informativeness[g]`` and ``s`` = ``spread[g]``; flag ``f`` follows
    :func:`rare_flag_distributions`. Given the preference, every rule rates each response
    independently. Either group may be empty (shape ``[0]``), not both.

    Args:
      key: PRNG key; the output is a deterministic function of it.
      num_pairs: ``N`` >= 1.
      informativeness, spread: graded rules' ``beta`` and ``s`` ``[G]``.
      base_rate, firing_informativeness, severity_informativeness: flags' ``p``, ``gamma``,
        ``beta`` ``[F]``.
      num_levels: ``L`` >= 3.

    Returns:
      A :class:`encore_jax.simulate.RuleEnsemble` (population entropy and accuracy exact).
    """
    num_pairs = _checks.check_positive_int("num_pairs", num_pairs)
    num_levels = _checks.check_num_levels(num_levels)
    parts_chosen, parts_rejected = [], []
    if np.asarray(informativeness).size:
        graded = rating_distributions(jnp.asarray(informativeness, jnp.float32),
                                      jnp.asarray(spread, jnp.float32), num_levels)
        parts_chosen.append(np.asarray(graded[0], np.float64))
        parts_rejected.append(np.asarray(graded[1], np.float64))
    if np.asarray(base_rate).size:
        flags = rare_flag_distributions(base_rate, firing_informativeness,
                                        severity_informativeness, num_levels)
        parts_chosen.append(flags[0])
        parts_rejected.append(flags[1])
    if not parts_chosen:
        raise ValueError("no rules: give at least one graded rule or one rare flag")
    p_chosen = jnp.asarray(np.concatenate(parts_chosen), jnp.float32)
    p_rejected = jnp.asarray(np.concatenate(parts_rejected), jnp.float32)
    return RuleEnsemble(*_simulate(key, p_chosen, p_rejected, num_pairs), num_levels=num_levels)
