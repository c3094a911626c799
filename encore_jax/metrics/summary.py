"""The per-rule summary table: coverage, entropy, ENCORE and BT weights, accuracy, ranks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Bool, Float, Integer, PRNGKeyArray

from encore_jax import _checks
from encore_jax._checks import validated_pairs
from encore_jax.metrics.accuracy import pair_credit
from encore_jax.metrics.bootstrap import bootstrap_ci, masked_mean

__all__ = ["RuleRow", "checked_rule_names", "rule_summary"]


class RuleRow(NamedTuple):
    """One rule's row of :func:`rule_summary` (Python scalars; ``None`` where not computed).

    Attributes:
      rule: the rule's name.
      coverage: ``|P_k| / N``, the fraction of pairs it rated on both sides.
      entropy, normalized_entropy: ``H_k`` and ``H_k / log_base L``.
      encore_weight: ``softmax(-H / tau)_k``.
      bt_weight: the given Bradley-Terry weight, or None.
      accuracy, accuracy_low, accuracy_high: accuracy over ``P_k`` and its bootstrap
        interval (None without a key).
      entropy_rank, bt_rank: 1-based ranks (entropy ascending, BT weight descending).
      rank_disagreement: the rank-disagreement flag, or None without BT weights.
    """

    rule: str
    coverage: float
    entropy: float
    normalized_entropy: float
    encore_weight: float
    bt_weight: float | None
    accuracy: float
    accuracy_low: float | None
    accuracy_high: float | None
    entropy_rank: float
    bt_rank: float | None
    rank_disagreement: bool | None

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-able dict keyed by field name."""
        return self._asdict()


def rule_summary(
    chosen: Integer[ArrayLike, "N K"],
    rejected: Integer[ArrayLike, "N K"],
    num_levels: int,
    *,
    chosen_mask: Bool[ArrayLike, "N K"] | None = None,
    rejected_mask: Bool[ArrayLike, "N K"] | None = None,
    rule_names: Sequence[str] | None = None,
    entropies: Float[ArrayLike, " K"] | None = None,
    temperature: float = 2.0,
    bt_weights: Float[ArrayLike, " K"] | None = None,
    tie: str = "half",
    key: PRNGKeyArray | None = None,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    disagreement: float = 0.5,
    base: float | None = None,
    estimator: str = "plugin",
) -> list[RuleRow]:
    """One row per rule: coverage, entropy, ENCORE weight, BT weight, accuracy, rank flag.

    For rule ``k`` over the pairs ``P_k`` where it rated both responses (``d_ik = chosen_ik -
    rejected_ik``):

        coverage_k = |P_k| / N,    acc_k = (1 / |P_k|) sum_{i in P_k} s(d_ik),
        Hn_k = H_k / log L,        w_k = softmax(-H / tau)_k,

    with ``s`` the per-pair credit of :func:`pair_credit` under ``tie``. The default tie
    policy here is ``"half"``: a single discrete rule ties often, and counting ties as losses
    would rank rules by how rarely they tie rather than by how reliable they are.

    Rank disagreement: ``entropy_rank`` ranks rules by entropy ascending (1 = lowest, the
    rule ENCORE trusts most) and ``bt_rank`` by signed BT weight descending (1 = largest);
    ties share their mean rank. A rule is flagged when ``|entropy_rank - bt_rank| >=
    disagreement * (K - 1)``: with the default 0.5 the two rankings put it in opposite
    halves of the order (for K = 10, at least 5 places apart), e.g. a high-entropy rule that
    Bradley-Terry still weights heavily because its spread ratings track quality. With
    fewer than 4 rules a one-place difference would already count, so nothing is flagged.
    The flag compares point estimates; it is not a significance test (on pure-noise rules
    the BT weights are all near 0 and their ranks are noise).

    Args:
      chosen, rejected: integer ratings ``[N, K]`` in ``0..L-1`` of the preferred and the
        other response of each pair.
      num_levels: ``L``.
      chosen_mask, rejected_mask: optional boolean ``[N, K]``, ``True`` = observed.
      rule_names: ``K`` names (default ``rule_0..``).
      entropies: ``H`` ``[K]`` (e.g. from a calibration set, in log ``base``); by default the
        entropy of each rule's observed ratings of all chosen and rejected responses pooled.
      temperature: ``tau`` of the ENCORE weights.
      bt_weights: fitted Bradley-Terry weights ``[K]``, or ``None`` (columns then ``None``).
      tie: tie policy of the per-rule accuracy (``"half"``, ``"loss"`` or ``"random"``).
      key: PRNG key; with it each accuracy gets a percentile bootstrap interval over its
        pairs (and ``tie="random"`` draws from it); without it the interval fields are None.
      num_resamples, confidence: of the bootstrap interval.
      disagreement: the rank-disagreement threshold as a fraction of ``K - 1``, in ``(0, 1]``.
      base, estimator: of the entropy (``normalized_entropy`` divides by ``log_base L``).

    Returns:
      A list of ``K`` :class:`RuleRow` NamedTuples ``(rule, coverage, entropy,
      normalized_entropy, encore_weight, bt_weight, accuracy, accuracy_low, accuracy_high,
      entropy_rank, bt_rank, rank_disagreement)`` of Python scalars (the BT fields are None
      without ``bt_weights``); ``row.to_dict()`` for JSON.
    """
    from encore_jax.entropy import rating_entropy
    from encore_jax.weights import entropy_weights

    num_levels = _checks.check_num_levels(num_levels)
    chosen, rejected, observed = validated_pairs(
        chosen, rejected, num_levels, chosen_mask, rejected_mask
    )
    num_pairs, num_rules = chosen.shape
    names = checked_rule_names(rule_names, num_rules)
    unrated = np.flatnonzero(~np.asarray(observed).any(axis=0))
    if unrated.size:
        raise ValueError(
            f"rule(s) {[names[k] for k in unrated[:5]]} rated no pair on both sides; "
            "their accuracy is undefined"
        )
    if not (isinstance(disagreement, int | float) and 0 < disagreement <= 1):
        raise ValueError(f"disagreement must be in (0, 1], got {disagreement!r}")
    if tie == "random" and key is None:
        raise ValueError("key is required with tie='random'")
    if entropies is None:
        pooled = jnp.concatenate([chosen, rejected], axis=0)
        pooled_mask = jnp.concatenate([
            jnp.ones(chosen.shape, bool) if chosen_mask is None else jnp.asarray(chosen_mask),
            jnp.ones(chosen.shape, bool) if rejected_mask is None else jnp.asarray(rejected_mask),
        ], axis=0)
        entropies = rating_entropy(pooled, num_levels, mask=pooled_mask, base=base,
                                   estimator=estimator)
    else:
        entropies = _checks.as_array("entropies", entropies)
        _checks.check_ndim("entropies", entropies, 1, "[K]")
        if entropies.shape[0] != num_rules:
            raise ValueError(f"entropies has {entropies.shape[0]} rules, ratings have {num_rules}")
    weights = entropy_weights(entropies, temperature)
    max_entropy = math.log(num_levels) if base is None else math.log(num_levels, base)

    diffs = (chosen.astype(jnp.float32) - rejected.astype(jnp.float32)).T  # [K, N]
    if key is not None:
        tie_key, boot_key = jax.random.split(key)
    credit = pair_credit(diffs, tie=tie, key=tie_key if tie == "random" else None)
    if key is None:
        accuracy = masked_mean(credit, observed.T)
        low = high = [None] * num_rules
    else:
        ci = bootstrap_ci(boot_key, credit, mask=observed.T, num_resamples=num_resamples,
                          confidence=confidence)
        accuracy = ci.estimate
        low, high = np.asarray(ci.low).tolist(), np.asarray(ci.high).tolist()

    entropy_rank = _host_average_ranks(np.asarray(entropies))
    if bt_weights is None:
        bt = bt_rank = flags = [None] * num_rules
    else:
        bt_weights = _checks.as_array("bt_weights", bt_weights)
        _checks.check_ndim("bt_weights", bt_weights, 1, "[K]")
        if bt_weights.shape[0] != num_rules:
            raise ValueError(f"bt_weights has {bt_weights.shape[0]} rules, ratings have "
                             f"{num_rules}")
        _checks.check_finite("bt_weights", bt_weights)
        bt = [float(x) for x in np.asarray(bt_weights)]
        bt_rank = list(_host_average_ranks(-np.asarray(bt_weights, np.float64)))
        gap = np.abs(entropy_rank - np.asarray(bt_rank))
        flags = [bool(num_rules >= 4 and g >= disagreement * (num_rules - 1)) for g in gap]
    coverage = np.asarray(observed).mean(axis=0)
    entropies, weights, accuracy = (np.asarray(a, np.float64) for a in
                                    (entropies, weights, accuracy))
    return [
        RuleRow(
            rule=names[k],
            coverage=float(coverage[k]),
            entropy=float(entropies[k]),
            normalized_entropy=float(entropies[k]) / max_entropy,
            encore_weight=float(weights[k]),
            bt_weight=bt[k],
            accuracy=float(accuracy[k]),
            accuracy_low=low[k],
            accuracy_high=high[k],
            entropy_rank=float(entropy_rank[k]),
            bt_rank=None if bt_rank[k] is None else float(bt_rank[k]),
            rank_disagreement=flags[k],
        )
        for k in range(num_rules)
    ]


def _host_average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ascending ranks of a small host vector, ties sharing their mean rank."""
    x = np.asarray(x, np.float64)
    below = (x[None, :] < x[:, None]).sum(axis=1)
    equal = (x[None, :] == x[:, None]).sum(axis=1)
    return below + (equal + 1) / 2.0


def checked_rule_names(rule_names: Sequence[str] | None, num_rules: int) -> list[str]:
    if rule_names is None:
        return [f"rule_{k}" for k in range(num_rules)]
    names = [str(n) for n in rule_names]
    if len(names) != num_rules:
        raise ValueError(f"rule_names has {len(names)} names for {num_rules} rules")
    return names
