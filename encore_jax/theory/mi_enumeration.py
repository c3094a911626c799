"""Part 1 of the RuleAdapter check: exact information of vote patterns by enumeration.

The independent-errors model and the claim are in :mod:`encore_jax.theory.max_discrepancy_mi`
(which runs this part and reports it) and in ``THEORY.md`` ("RuleAdapter"). Everything here is
plain NumPy in float64: ``I(Y; Z_S)`` of every size-``k`` subset, the probes outside the
assumptions, and the exact label agreement of a small simulated ensemble (an oracle for the
simulated part).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from encore_jax.selection import select_rules

# float64 unit roundoff; the enumeration tolerance below is a multiple of it.
_UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2

# --------------------------------------------------------------------------------------------
# Exact information of vote patterns (plain NumPy, float64)
# --------------------------------------------------------------------------------------------


def _patterns(m: int) -> np.ndarray:
    """All ``2^m`` vote patterns as a ``[2^m, m]`` 0/1 array (1 = the vote says A)."""
    return ((np.arange(2**m)[:, None] >> np.arange(m)[None, :]) & 1).astype(np.float64)


def _pattern_likelihoods(eps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``P(z | Y = A)`` and ``P(z | Y = B)`` for every pattern ``z`` of ``len(eps)`` votes.

    Accepts ``eps`` ``[..., m]`` and returns ``[..., 2^m]`` arrays.
    """
    z = _patterns(eps.shape[-1])  # [P, m]
    e = eps[..., None, :]
    given_a = np.prod(np.where(z == 1, 1 - e, e), axis=-1)
    given_b = np.prod(np.where(z == 1, e, 1 - e), axis=-1)
    return given_a, given_b


def _information(joint_a: np.ndarray, joint_b: np.ndarray) -> np.ndarray:
    """``I(Y; X)`` in nats from the joint ``P(Y = A, X = x)``, ``P(Y = B, X = x)`` ``[..., X]``."""
    p_x = joint_a + joint_b
    p_a = np.sum(joint_a, axis=-1, keepdims=True)
    p_b = np.sum(joint_b, axis=-1, keepdims=True)

    def term(joint: np.ndarray, p_y: np.ndarray) -> np.ndarray:
        # 0 log 0 = 0: cells with zero probability contribute nothing.
        positive = joint > 0
        ratio = np.where(positive, joint, 1.0) / np.where(positive, p_x * p_y, 1.0)
        return np.where(positive, joint * np.log(ratio), 0.0)

    return np.sum(term(joint_a, p_a) + term(joint_b, p_b), axis=-1)


def vote_information(eps: np.ndarray, prior: float | np.ndarray = 0.5) -> np.ndarray:
    """Exact ``I(Y; Z_S)`` (nats) for independent votes with error rates ``eps`` ``[..., m]``
    and prior ``P(Y = A)`` ``prior`` (a scalar or ``[...]``).

        I(Y; Z_S) = sum_y sum_z P(y) P(z | y) log( P(z | y) / P(z) ),
        P(z | y) = prod_{k in S} (1 - eps_k)^[z_k = y] eps_k^[z_k != y].
    """
    given_a, given_b = _pattern_likelihoods(np.asarray(eps, np.float64))
    prior = np.asarray(prior, np.float64)[..., None]
    return _information(prior * given_a, (1 - prior) * given_b)


def majority_label_information(
    eps: np.ndarray, prior: float | np.ndarray = 0.5, abstain: np.ndarray | None = None
) -> np.ndarray:
    """Exact ``I(Y; label_S)`` (nats) for the majority-vote label with ties to B.

    ``label_S = A`` iff more votes of ``S`` say A than say B, ties (equal counts) to B: the
    sign-vote labeller ``label_pairs(..., vote="sign", tie_winner="b")`` with unit weights,
    where the vote of rule ``k`` is the sign of ``d_k``. ``abstain`` (boolean, shaped like
    ``eps``) marks rules that cast no vote, as ``label_pairs(vote="sign")`` treats a rule
    with ``d_k = 0``; their ``eps`` is then unused. ``abstain=None``: every rule votes, and
    the label is ``[#A-votes > m / 2]`` (the corollary in THEORY.md).
    """
    eps = np.asarray(eps, np.float64)
    m = eps.shape[-1]
    given_a, given_b = _pattern_likelihoods(eps)
    z = _patterns(m)  # [P, m]
    votes = np.ones(eps.shape, bool) if abstain is None else ~np.asarray(abstain, bool)
    votes = votes[..., None, :]  # [..., 1, m]
    says_a = np.sum(votes & (z == 1), -1) > np.sum(votes & (z == 0), -1)  # [..., P]
    label_given_a = np.stack([np.sum(given_a * says_a, -1), np.sum(given_a * ~says_a, -1)], -1)
    label_given_b = np.stack([np.sum(given_b * says_a, -1), np.sum(given_b * ~says_a, -1)], -1)
    prior = np.asarray(prior, np.float64)[..., None]
    return _information(prior * label_given_a, (1 - prior) * label_given_b)


def sign_vote_label_information(
    eps: np.ndarray, prior: float | np.ndarray, abs_d: np.ndarray
) -> np.ndarray:
    """``I(Y; label_S)`` of ``label_pairs(vote="sign", tie_winner="b")`` on the rules ``S``:
    :func:`majority_label_information` with the rules of ``|d_k| = 0`` abstaining."""
    return majority_label_information(eps, prior, abstain=np.asarray(abs_d) == 0)


def duplicated_vote_information(
    eps: np.ndarray, source: np.ndarray, subset: np.ndarray, prior: float = 0.5
) -> float:
    """``I(Y; Z_S)`` when rule ``k`` casts *the same vote* as rule ``source[k]`` (correlated
    errors): the information of the distinct sources in ``S``."""
    distinct = np.unique(source[subset])
    return float(vote_information(eps[distinct], prior))


def information_tolerance(m: int) -> float:
    """Float64 rounding bound on an enumerated ``I(Y; Z_S)`` with ``m`` votes (nats).

    Each of the ``2 * 2^m`` summands ``p log(p / q)`` is at most ``log 2`` in magnitude per
    unit of probability and is computed from ``m`` products, a division and a log: relative
    error at most ``(m + 4) u``. Summing ``2^(m+1)`` of them adds at most ``2^(m+1) u``
    relative to the sum of magnitudes (<= 1 + log 2 < 2). So ``|error| <= 2 (m + 4 + 2^(m+1))
    u``; the tolerance doubles that, and is below 1e-12 for ``m <= 10``.
    """
    return 4.0 * (m + 4 + 2 ** (m + 1)) * _UNIT_ROUNDOFF


# --------------------------------------------------------------------------------------------
# Part 1: exact enumeration over random eps profiles
# --------------------------------------------------------------------------------------------

FAMILIES = ("logistic", "random_step", "plateau", "continuous")


def _draw_case(rng: np.random.Generator, family: str, num_rules: int) -> tuple[np.ndarray, ...]:
    """One random ``(|d| [K], eps [K])`` with ``eps = eps(|d|)`` non-increasing, in [0, 1/2]."""
    if family == "continuous":
        abs_d = rng.exponential(rng.uniform(0.2, 3.0), num_rules)
        scale, power = rng.uniform(0.1, 3.0), rng.uniform(0.3, 3.0)
        return abs_d, 0.5 * np.exp(-((abs_d / scale) ** power))
    num_levels = int(rng.choice([3, 5, 11]))
    # |d| = |a - b| of two integer ratings: ties between rules are common.
    abs_d = np.abs(rng.integers(0, num_levels, num_rules) - rng.integers(0, num_levels, num_rules))
    magnitudes = np.arange(num_levels)
    if family == "logistic":
        beta = math.exp(rng.uniform(math.log(0.05), math.log(5.0)))
        profile = 1.0 / (1.0 + np.exp(beta * magnitudes))
    elif family == "random_step":
        profile = np.sort(rng.uniform(0.0, 0.5, num_levels))[::-1]
    else:  # plateau: equal eps for different |d| (eps non-increasing, not strictly)
        steps = np.sort(rng.uniform(0.0, 0.5, rng.integers(1, 4)))[::-1]
        profile = steps[np.minimum(np.arange(num_levels) // 2, steps.size - 1)]
    return abs_d.astype(np.float64), profile[abs_d]


def _selected_subsets(abs_d: np.ndarray, k: int) -> np.ndarray:
    """Indices ``[D, k]`` of the rules ``encore_jax.select_rules`` keeps for each draw."""
    zeros = np.zeros_like(abs_d, dtype=np.float32)
    mask = np.asarray(select_rules(abs_d.astype(np.float32), zeros, k))
    return np.nonzero(mask)[1].reshape(abs_d.shape[0], k)


def _case_record(abs_d, eps, k, chosen, best, i_chosen, i_best, prior=0.5) -> dict[str, Any]:
    return {
        "abs_d": [round(float(x), 6) for x in abs_d],
        "eps": [float(x) for x in eps],
        "k": int(k),
        "prior": float(prior),
        "selected": [int(x) for x in chosen],
        "best_subset": [int(x) for x in best],
        "information_selected": float(i_chosen),
        "information_best": float(i_best),
        "gap": float(i_best - i_chosen),
    }


def _enumerate(
    abs_d: np.ndarray,
    eps: np.ndarray,
    k: int,
    information,
    priors: np.ndarray,
    *,
    uses_d: bool = False,
) -> dict[str, Any]:
    """Compares the selected subset with the best size-``k`` subset for a batch of draws.

    ``information(eps [..., k], prior [...]) -> [...]`` is the objective; with ``uses_d`` it
    also receives the subset's ``|d| [..., k]`` as a third argument.
    """
    num_draws, num_rules = abs_d.shape
    subsets = np.array(list(itertools.combinations(range(num_rules), k)))  # [C, k]
    chosen = _selected_subsets(abs_d, k)
    if uses_d:
        values = information(eps[:, subsets], priors[:, None], abs_d[:, subsets])  # [D, C]
        chosen_value = information(np.take_along_axis(eps, chosen, 1), priors,
                                   np.take_along_axis(abs_d, chosen, 1))
    else:
        values = information(eps[:, subsets], priors[:, None])  # [D, C]; priors broadcast
        chosen_value = information(np.take_along_axis(eps, chosen, 1), priors)
    best = np.argmax(values, axis=1)
    best_value = values[np.arange(num_draws), best]
    tolerance = information_tolerance(k)
    gap = best_value - chosen_value
    bad = np.nonzero(gap > tolerance)[0]
    ties = np.sum(values >= best_value[:, None] - tolerance, axis=1) > 1
    examples = [
        _case_record(abs_d[i], eps[i], k, chosen[i], subsets[best[i]], chosen_value[i],
                     best_value[i], priors[i])
        for i in bad[np.argsort(-gap[bad])][:3]
    ]
    return {
        "draws": int(num_draws),
        "counterexamples": int(bad.size),
        "max_gap": float(max(gap.max(), 0.0)),
        "draws_with_tied_maximisers": int(ties.sum()),
        "examples": examples,
        "tolerance": tolerance,
    }


def _merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    merged = {
        "draws": sum(r["draws"] for r in results),
        "counterexamples": sum(r["counterexamples"] for r in results),
        "max_gap": max(r["max_gap"] for r in results),
        "draws_with_tied_maximisers": sum(r["draws_with_tied_maximisers"] for r in results),
        "tolerance_max": max(r["tolerance"] for r in results),
    }
    examples = [e for r in results for e in r["examples"]]
    merged["examples"] = sorted(examples, key=lambda e: -e["gap"])[:3]
    return merged


def _grid(rule_counts: Sequence[int]) -> list[tuple[int, int]]:
    return [(K, k) for K in rule_counts for k in range(1, K)]


def enumeration_check(
    seed: int = 0, draws_per_cell: int = 40, rule_counts: Sequence[int] = (3, 4, 6, 8, 10)
) -> dict[str, Any]:
    """Part 1: the exact-enumeration check and the probes outside the assumptions.

    For every ``(K, k)`` with ``K`` in ``rule_counts`` and ``1 <= k < K`` and every eps
    family, ``draws_per_cell`` random cases are enumerated.
    """
    rng = np.random.default_rng(seed)
    families: dict[str, list] = {f: [] for f in FAMILIES}
    probes: dict[str, list] = {
        "asymmetric_prior": [], "eps_above_half": [], "duplicated_rules": [],
        "majority_label_information": [], "sign_vote_label_with_abstentions": [],
    }
    dup_examples: list[dict[str, Any]] = []
    dup_counts = {"draws": 0, "counterexamples": 0, "max_gap": 0.0}
    half = np.full(draws_per_cell, 0.5)
    for num_rules, k in _grid(rule_counts):
        for family in FAMILIES:
            cases = [_draw_case(rng, family, num_rules) for _ in range(draws_per_cell)]
            abs_d = np.stack([c[0] for c in cases])
            eps = np.stack([c[1] for c in cases])
            families[family].append(_enumerate(abs_d, eps, k, vote_information, half))
            if family == "random_step":
                # Same profiles, prior P(Y = A) away from 1/2: the proof does not need symmetry.
                priors = rng.uniform(0.05, 0.95, draws_per_cell)
                probes["asymmetric_prior"].append(
                    _enumerate(abs_d, eps, k, vote_information, priors))
                probes["majority_label_information"].append(
                    _enumerate(abs_d, eps, k, majority_label_information, half))
                # label_pairs(vote="sign") exactly: rules with |d| = 0 abstain (outside
                # the corollary, which needs every selected rule to vote).
                probes["sign_vote_label_with_abstentions"].append(
                    _enumerate(abs_d, eps, k, sign_vote_label_information, half, uses_d=True))
        # eps non-increasing but allowed above 1/2 (worse than a coin for small |d|).
        cases = [_draw_case(rng, "random_step", num_rules) for _ in range(draws_per_cell)]
        abs_d = np.stack([c[0] for c in cases])
        eps = np.minimum(2.0 * np.stack([c[1] for c in cases]), 1.0)
        probes["eps_above_half"].append(_enumerate(abs_d, eps, k, vote_information, half))
        _duplicates(rng, num_rules, k, draws_per_cell, dup_counts, dup_examples)
    dup_counts["examples"] = sorted(dup_examples, key=lambda e: -e["gap"])[:3]
    dup_counts["tolerance_max"] = information_tolerance(max(rule_counts))
    return {
        "model": "independent votes, P(Z_k != Y) = eps(|d_k|), eps non-increasing, in [0, 1/2]",
        "grid": {"rule_counts": list(rule_counts), "k": "1..K-1",
                 "draws_per_family_and_cell": draws_per_cell},
        "within_assumptions": {f: _merge(r) for f, r in families.items()},
        "probes": {
            "asymmetric_prior": _merge(probes["asymmetric_prior"]),
            "eps_above_half": _merge(probes["eps_above_half"]),
            "duplicated_rules": dup_counts,
            "majority_label_information": _merge(probes["majority_label_information"]),
            "sign_vote_label_with_abstentions": _merge(
                probes["sign_vote_label_with_abstentions"]),
        },
    }


def _duplicates(rng, num_rules, k, draws, counts, examples) -> None:
    """Correlated-errors probe: some rules repeat another rule's ratings (hence its |d|, eps
    and vote). The top-|d| subset may then spend slots on copies."""
    subsets = list(itertools.combinations(range(num_rules), k))
    batch_abs_d, batch_eps, batch_source = [], [], []
    for _ in range(draws):
        abs_d, eps = _draw_case(rng, "random_step", num_rules)
        # Originals keep their own ratings; each copy repeats a random original's ratings
        # (so source[o] == o for an original). Rule 0 is always an original.
        copies = rng.random(num_rules) < 0.4
        copies[0] = False
        originals = np.flatnonzero(~copies)
        source = np.arange(num_rules)
        source[copies] = rng.choice(originals, copies.sum())
        batch_abs_d.append(abs_d[source])
        batch_eps.append(eps[source])
        batch_source.append(source)
    abs_d = np.stack(batch_abs_d)
    chosen = _selected_subsets(abs_d, k)
    tolerance = information_tolerance(k)
    for i in range(draws):
        values = [duplicated_vote_information(batch_eps[i], batch_source[i], np.array(s))
                  for s in subsets]
        best = int(np.argmax(values))
        mine = duplicated_vote_information(batch_eps[i], batch_source[i], chosen[i])
        gap = values[best] - mine
        counts["draws"] += 1
        counts["max_gap"] = max(counts["max_gap"], gap)
        if gap > tolerance:
            counts["counterexamples"] += 1
            record = _case_record(abs_d[i], batch_eps[i], k, chosen[i], subsets[best], mine,
                                  values[best])
            record["copies_of"] = [int(x) for x in batch_source[i]]
            examples.append(record)
            examples.sort(key=lambda e: -e["gap"])
            del examples[3:]


# --------------------------------------------------------------------------------------------
# Exact label agreement of a small simulated ensemble (an oracle for part 2)
# --------------------------------------------------------------------------------------------


def exact_label_agreement(
    informativeness: Sequence[float], spread: Sequence[float], num_levels: int, k: int
) -> dict[str, float]:
    """Exact ``P(label = Y)`` of maximum-discrepancy-``k`` and random-``k`` labels
    (``label_pairs(..., tie_winner="b")``, unit weights) on ``simulate_rule_ensemble(...,
    informativeness, spread, num_levels)`` pairs, by enumerating every vector of rating
    differences (``(2L - 1)^K`` of them; keep ``K`` small).

    Given ``Y = A`` the differences ``d = a - b`` are chosen minus rejected, independent across
    rules; given ``Y = B`` they are the negatives. The label is A iff the sum of the selected
    differences is ``> 0``. Maximum discrepancy selects the ``k`` largest ``|d_j|`` (lower index
    first on ties, as :func:`encore_jax.select_rules`); random-``k`` averages over the
    ``C(K, k)`` subsets. Returns ``{"max_discrepancy": ., "random": .}`` (float64).
    """
    from encore_jax.simulate import rating_distributions

    p_chosen, p_rejected = (np.asarray(p, np.float64) for p in rating_distributions(
        np.asarray(informativeness, np.float32), np.asarray(spread, np.float32), num_levels))
    num_rules = p_chosen.shape[0]
    values = np.arange(-(num_levels - 1), num_levels)
    per_rule = np.zeros((num_rules, values.size))  # P(chosen_j - rejected_j = v)
    for u, v in itertools.product(range(num_levels), repeat=2):
        per_rule[:, u - v + num_levels - 1] += p_chosen[:, u] * p_rejected[:, v]
    d = np.array(list(itertools.product(values, repeat=num_rules)), np.float64)  # [P, K]
    prob = np.prod(per_rule[np.arange(num_rules), d.astype(int) + num_levels - 1], axis=1)
    # Stable sort on -|d|: equal |d| keep index order, the lower index first.
    top = np.argsort(-np.abs(d), axis=1, kind="stable")[:, :k]
    top_mask = np.zeros(d.shape, bool)
    np.put_along_axis(top_mask, top, True, axis=1)
    subsets = [np.isin(np.arange(num_rules), s) for s in
               itertools.combinations(range(num_rules), k)]

    def agreement(mask: np.ndarray) -> float:
        margin = np.sum(np.where(mask, d, 0.0), axis=1)  # Y = A; Y = B has margin -margin
        return float(0.5 * prob @ (margin > 0) + 0.5 * prob @ (-margin <= 0))

    return {"max_discrepancy": agreement(top_mask),
            "random": float(np.mean([agreement(np.broadcast_to(s, d.shape)) for s in subsets]))}
