"""Sufficient statistics of the built-in weightings, and each built-in as a function of them.

Every built-in weighting of :mod:`encore_jax.weightings` is computed here from statistics
that are sums over rows or pairs (so a caller that streams a file, such as
:mod:`encore_jax.workflows.diagnose`, adds them up chunk by chunk and calls the same
functions); :mod:`encore_jax.weightings` computes the statistics of a ``WeightingData`` and
calls these too, so each built-in has one implementation.

Symbols: ``N`` pairs, ``K`` rules, ``L`` rating levels ``0..L-1``; ``H_k`` the plug-in
entropy (nats) of rule ``k``'s calibration level counts, ``t_k`` its tie rate, ``H_dec_k``
the entropy of its pooled ratings on the pairs it decides, ``tau`` the temperature
(``temperature``). The tie and decisive counts are symmetric in the two sides of a pair, so
the fair-coin order of ``encore_jax.weightings.unlabelled_pairs`` gives exactly the counts
of ``(chosen, rejected)``.

The agreement weightings (``research_agreement_*``) are functions of the table of distinct
vote patterns up to a global sign (:func:`encore_jax.agreement.vote_patterns`): additive over
chunks (:func:`encore_jax.agreement.merge_vote_patterns`) and the same for either side
order, but its size grows with the number of distinct patterns (at most
``min(N, (3^K - 1) / 2)`` rows), not only with ``K`` and ``L``.

References:
  Li et al., ENCORE, arXiv:2503.20995 (``encore``); the research extensions
  ``research_decisive_encore`` / ``research_decisive_entropy`` / ``research_agreement_*``
  are not from that paper (``encore_jax/theory/extensions.md``).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Integer, Real

from encore_jax import _checks
from encore_jax.agreement import dawid_skene_one_coin, noisy_bt_skills
from encore_jax.entropy import entropy_from_counts, rating_histogram
from encore_jax.weights import DEFAULT_TEMPERATURE, entropy_weights, uniform_weights

__all__ = [
    "BuiltinStats",
    "agreement_bt_from_patterns",
    "agreement_dawid_skene_from_patterns",
    "builtin_weights_from_stats",
    "collision_tie_rates",
    "decisive_encore_from_stats",
    "decisive_entropies_from_counts",
    "decisive_entropy_from_counts",
    "encore_from_counts",
    "independent_draw_decisive_counts",
    "normalised",
    "pair_decisive_counts",
    "pair_tie_counts",
    "tie_rates_from_counts",
]


class BuiltinStats(NamedTuple):
    """The sufficient statistics of the built-in weightings.

    Attributes:
      counts: ``[K, L]`` level counts of the calibration ratings (ENCORE's histogram);
        additive over rows.
      tie_rates: ``[K]`` tie rates ``t_k`` (:func:`tie_rates_from_counts` of the additive tie
        and rated-pair counts, or the collision probability without pairs).
      decisive_counts: ``[K, L]`` level counts of the pooled ratings of the pairs each rule
        decides (:func:`pair_decisive_counts`, additive over pairs; or
        ``c_l (n - c_l)`` without pairs).
      vote_patterns: ``(patterns [P, K], counts [P])``, the distinct vote patterns of the
        pairs up to a global sign (:func:`encore_jax.agreement.vote_patterns`; additive
        with :func:`encore_jax.agreement.merge_vote_patterns`); ``None`` when there are no
        pairs, and then the agreement weightings are left out of
        :func:`builtin_weights_from_stats`.
    """

    counts: Real[ArrayLike, "K L"]
    tie_rates: Float[ArrayLike, " K"]
    decisive_counts: Real[ArrayLike, "K L"]
    vote_patterns: tuple[np.ndarray, np.ndarray] | None = None


def pair_tie_counts(
    pair_a: Integer[ArrayLike, "N K"], pair_b: Integer[ArrayLike, "N K"],
    rated: Bool[ArrayLike, "N K"] | None,
) -> tuple[jax.Array, jax.Array]:
    """``(ties [K], rated [K])``: pairs rated by rule ``k`` on both sides (``rated``, ``None``
    = all) and those of them whose two ratings are equal. Both are sums over pairs (additive
    over chunks) and symmetric in the two sides: the fair-coin order of
    :func:`encore_jax.weightings.unlabelled_pairs` gives the counts of
    ``(chosen, rejected)``."""
    pair_a, pair_b = jnp.asarray(pair_a), jnp.asarray(pair_b)
    rated = jnp.ones(pair_a.shape, bool) if rated is None else jnp.asarray(rated)
    return jnp.sum((pair_a == pair_b) & rated, axis=0), jnp.sum(rated, axis=0)


def tie_rates_from_counts(ties: Real[ArrayLike, " K"], rated: Real[ArrayLike, " K"]
                          ) -> Float[Array, " K"]:
    """Tie rate ``t_k = ties_k / rated_k`` (float32) from the counts of
    :func:`pair_tie_counts` (or their sums over chunks).

    Raises:
      ValueError: a rule rated on both sides of no pair (when concrete).
    """
    rated = jnp.asarray(rated, jnp.float32)
    if _checks.is_concrete(rated) and np.any(np.asarray(rated) == 0):
        index = int(np.argmax(np.asarray(rated) == 0))
        raise ValueError(
            f"rule {index} is rated on both sides of no unlabelled pair (pair_mask column "
            f"{index} is all False); drop the rule or pass pairs it rates")
    return jnp.asarray(ties, jnp.float32) / rated


def collision_tie_rates(counts: Real[ArrayLike, "K L"]) -> Float[Array, " K"]:
    """The tie probability of two independent draws from each rule's rating distribution
    ``q_k = counts_k / n_k``: ``t_k = sum_l q_kl^2`` (its collision probability, ``exp(-H2_k)``
    with ``H2`` the Rényi entropy of order 2)."""
    _checks.check_rules_observed(counts, "ratings")
    counts = jnp.asarray(counts, jnp.float32)
    q = counts / jnp.sum(counts, axis=-1, keepdims=True)
    return jnp.sum(q * q, axis=-1)


def pair_decisive_counts(
    pair_a: Integer[ArrayLike, "N K"], pair_b: Integer[ArrayLike, "N K"],
    rated: Bool[ArrayLike, "N K"] | None, num_levels: int,
) -> Int[Array, "K L"]:
    """``[K, L]`` level counts of the pooled ratings of both responses of the pairs rated by
    rule ``k`` on both sides with ``a_k != b_k`` (the pairs it decides). A sum over pairs
    (additive over chunks), symmetric in the two sides: the fair-coin order of
    :func:`encore_jax.weightings.unlabelled_pairs` gives the counts of
    ``(chosen, rejected)``."""
    pair_a, pair_b = jnp.asarray(pair_a), jnp.asarray(pair_b)
    rated = jnp.ones(pair_a.shape, bool) if rated is None else jnp.asarray(rated)
    decisive = rated & (pair_a != pair_b)
    return rating_histogram(jnp.concatenate([pair_a, pair_b]), num_levels,
                            mask=jnp.concatenate([decisive, decisive]))


def independent_draw_decisive_counts(counts: Real[ArrayLike, "K L"]) -> Float[Array, "K L"]:
    """Without pairs: ``c_l (n - c_l)``, proportional to the decisive-pair rating distribution
    ``q_l (1 - q_l) / sum_m q_m (1 - q_m)`` of two independent draws from ``q = c / n``."""
    _checks.check_rules_observed(counts, "ratings")
    counts = jnp.asarray(counts, jnp.float32)
    # c (n - c) ∝ q (1 - q) without the cancellation of 1 - q for q near 1 (a rare flag).
    return counts * (jnp.sum(counts, axis=-1, keepdims=True) - counts)


def encore_from_counts(counts: Real[ArrayLike, "K L"], temperature: float = DEFAULT_TEMPERATURE
                       ) -> Float[Array, " K"]:
    """ENCORE ``softmax(-H / tau)`` with ``H`` the plug-in entropy (nats) of each rule's
    level counts ``[K, L]`` and ``tau`` = ``temperature``.

    References:
      Li et al., ENCORE, arXiv:2503.20995.
    """
    return entropy_weights(entropy_from_counts(jnp.asarray(counts, jnp.float32)), temperature)


def decisive_encore_from_stats(
    entropies: Float[ArrayLike, " K"], tie_rates: Float[ArrayLike, " K"],
    temperature: float = DEFAULT_TEMPERATURE,
) -> Float[Array, " K"]:
    """``w_k ∝ (1 - t_k) exp(-H_k / tau)`` normalised to sum to 1 (all 0 if every rule ties
    always): :func:`encore_jax.weightings.decisive_encore_weights` on its statistics,
    ENCORE's entropies ``H`` (``entropies``) and the tie rates ``t`` (``tie_rates``)."""
    _checks.check_temperature(temperature)
    encore = entropy_weights(jnp.asarray(entropies, jnp.float32), temperature)
    return normalised(jnp.clip(1.0 - jnp.asarray(tie_rates, jnp.float32), 0.0, 1.0) * encore)


def decisive_entropies_from_counts(decisive_counts: Real[ArrayLike, "K L"]
                                   ) -> tuple[jax.Array, jax.Array]:
    """``(H_dec [K], decides [K])`` from the decisive level counts (:class:`BuiltinStats`):
    the plug-in entropy (nats) of each row, and whether the rule decides any pair (else its
    ``H_dec`` is a placeholder, ``log L``, that must not be used)."""
    decisive_counts = jnp.asarray(decisive_counts, jnp.float32)
    decides = jnp.sum(decisive_counts, axis=-1) > 0
    placeholder = jnp.ones_like(decisive_counts)
    entropy = entropy_from_counts(jnp.where(decides[:, None], decisive_counts, placeholder))
    return entropy, decides


def decisive_entropy_from_counts(
    decisive_counts: Real[ArrayLike, "K L"], temperature: float = DEFAULT_TEMPERATURE
) -> Float[Array, " K"]:
    """:func:`encore_jax.weightings.decisive_entropy_weights` on its statistic, the
    decisive level counts ``[K, L]``."""
    _checks.check_temperature(temperature)
    entropy, decides = decisive_entropies_from_counts(decisive_counts)
    return masked_entropy_weights(entropy, decides, jnp.asarray(temperature, jnp.float32))


def agreement_dawid_skene_from_patterns(patterns: Integer[ArrayLike, "P K"],
                                        counts: Real[ArrayLike, " P"]) -> Float[Array, " K"]:
    """:func:`encore_jax.weightings.agreement_dawid_skene_weights` on its statistic, the
    vote-pattern table: the log-odds of the one-coin Dawid–Skene accuracies
    (:func:`encore_jax.agreement.dawid_skene_one_coin`, default options)."""
    return dawid_skene_one_coin(_at_least_one_row(patterns), _at_least_one_count(counts)
                                ).log_odds


def agreement_bt_from_patterns(patterns: Integer[ArrayLike, "P K"],
                               counts: Real[ArrayLike, " P"]) -> Float[Array, " K"]:
    """:func:`encore_jax.weightings.agreement_bt_weights` on its statistic, the vote-pattern
    table: the log-odds of the noisy Bradley–Terry accuracies
    (:func:`encore_jax.agreement.noisy_bt_skills`, default options)."""
    return noisy_bt_skills(_at_least_one_row(patterns), _at_least_one_count(counts)).log_odds


def _at_least_one_row(patterns: ArrayLike) -> np.ndarray:
    """An empty pattern table (no rule ever votes) as one all-abstain row of count 0."""
    patterns = np.asarray(patterns, np.int8)
    return patterns if patterns.shape[0] else np.zeros((1, patterns.shape[1]), np.int8)


def _at_least_one_count(counts: ArrayLike) -> np.ndarray:
    counts = np.asarray(counts, np.float64)
    return counts if counts.shape[0] else np.zeros(1)


def builtin_weights_from_stats(stats: BuiltinStats, temperature: float = DEFAULT_TEMPERATURE
                               ) -> dict[str, jax.Array]:
    """Every built-in weighting (:func:`encore_jax.weightings.builtin_weightings`, same
    names and order) from its sufficient statistics: equal to running the built-ins on the
    ``WeightingData`` whose statistics (:func:`encore_jax.weightings.builtin_stats`) these
    are. Without ``stats.vote_patterns`` the two agreement weightings are left out."""
    _checks.check_temperature(temperature)
    counts = jnp.asarray(stats.counts)
    agreement = {} if stats.vote_patterns is None else {
        "research_agreement_dawid_skene": agreement_dawid_skene_from_patterns(
            *stats.vote_patterns),
        "research_agreement_bt": agreement_bt_from_patterns(*stats.vote_patterns),
    }
    return {
        "encore": encore_from_counts(counts, temperature),
        "uniform": uniform_weights(int(counts.shape[0])),
        "research_decisive_encore": decisive_encore_from_stats(
            entropy_from_counts(jnp.asarray(counts, jnp.float32)), stats.tie_rates,
            temperature),
        "research_decisive_entropy": decisive_entropy_from_counts(stats.decisive_counts,
                                                                  temperature),
        **agreement,
    }


@jax.jit
def masked_entropy_weights(entropy: jax.Array, active: jax.Array, tau: jax.Array) -> jax.Array:
    """ENCORE's ``softmax(-H / tau)`` over the ``active`` rules only; inactive rules get 0.

    ``entropy [K]`` (``H``), ``active [K]`` bool, ``tau`` the temperature (a traced scalar).
    Shifting by the lowest active entropy keeps ``exp`` from underflowing.
    """
    lowest = jnp.min(jnp.where(active, entropy, jnp.inf))
    gap = jnp.where(active, entropy - jnp.where(jnp.isfinite(lowest), lowest, 0.0), 0.0)
    raw = jnp.where(active, jnp.exp(-gap / jnp.maximum(tau, jnp.finfo(tau.dtype).tiny)), 0.0)
    return normalised(raw)


@jax.jit
def normalised(raw: jax.Array) -> jax.Array:
    """``raw / sum(raw)``, or all 0 when the sum is 0."""
    total = jnp.sum(raw)
    return jnp.where(total > 0, raw / jnp.where(total > 0, total, 1.0), 0.0)
