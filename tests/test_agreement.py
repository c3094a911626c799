"""Label-free agreement models (one-coin Dawid–Skene, noisy Bradley–Terry skills) and the
signed weightings built on them.

Oracles: an independent NumPy EM (per pair, float64), scipy's optimiser on a NumPy marginal
likelihood, crowd-kit's ``OneCoinDawidSkene`` when it imports, and recovery of known
accuracies within a bound derived from the models' Fisher information.
"""

import functools
import itertools

import jax
import numpy as np
import pytest
from scipy import optimize, special

from encore_jax.agreement import (
    DEFAULT_MAX_ITERATIONS,
    DEFAULT_TOLERANCE,
    dawid_skene_one_coin,
    merge_vote_patterns,
    noisy_bt_skills,
    rule_votes,
    vote_patterns,
)
from encore_jax.weightings import (
    AGREEMENT_NAMES,
    EXTENSION_NAMES,
    WeightingData,
    agreement_bt_weights,
    agreement_dawid_skene_weights,
    apply_weightings,
    builtin_weightings,
    returns_signed_weights,
    signed_weighting,
    unlabelled_pairs,
)

K = 5  # one rule count for every test: patterns <= (3^5 - 1) / 2 = 121 rows, one compile
ACCURACY = np.array([0.9, 0.8, 0.7, 0.62, 0.4])  # the last rule is worse than chance
VOTE_RATE = np.array([0.9, 0.7, 0.8, 0.6, 0.75])  # P(rule votes), independent of the label
SKILL = np.array([3.0, 1.5, 1.0, 0.5, -0.6])


def one_coin_votes(rng, n, accuracy=ACCURACY, vote_rate=VOTE_RATE):
    """``(votes [n, K], labels [n])`` from the one-coin model with class prior 1/2."""
    y = rng.choice([-1, 1], n)
    correct = rng.random((n, accuracy.size)) < accuracy
    votes = np.where(correct, y[:, None], -y[:, None])
    return np.where(rng.random((n, accuracy.size)) < vote_rate, votes, 0).astype(np.int8), y


def skill_votes(rng, n, skill=SKILL, vote_rate=VOTE_RATE):
    """Votes of the noisy Bradley–Terry model: ``z ~ N(0, 1)``, ``P(+1) = sigmoid(s z)``."""
    z = rng.standard_normal(n)
    plus = rng.random((n, skill.size)) < special.expit(skill[None, :] * z[:, None])
    votes = np.where(plus, 1, -1)
    return np.where(rng.random((n, skill.size)) < vote_rate, votes, 0).astype(np.int8)


# --- the vote table ------------------------------------------------------------------------


def test_votes_and_patterns_are_blind_to_the_side_order():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 3, (50, K)).astype(np.int32)
    b = rng.integers(0, 3, (50, K)).astype(np.int32)
    mask = rng.random((50, K)) < 0.8
    votes = np.asarray(rule_votes(a, b, mask))
    np.testing.assert_array_equal(votes, np.where(mask, np.sign(a - b), 0))
    swap = rng.random(50) < 0.5
    a2, b2 = np.where(swap[:, None], b, a), np.where(swap[:, None], a, b)
    first, second = vote_patterns(votes), vote_patterns(rule_votes(a2, b2, mask))
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    # every non-empty row counted once, canonical sign, additive over chunks
    assert first[1].sum() == int((votes != 0).any(axis=1).sum())
    assert np.all(first[0][np.arange(len(first[0])), np.argmax(first[0] != 0, axis=1)] == 1)
    merged = merge_vote_patterns(vote_patterns(votes[:20]), vote_patterns(votes[20:]))
    np.testing.assert_array_equal(merged[0], first[0])
    np.testing.assert_array_equal(merged[1], first[1])


# --- Dawid–Skene: an independent NumPy EM, crowd-kit, recovery -----------------------------


def numpy_one_coin_em(votes, prior_count, init=0.75, max_iterations=DEFAULT_MAX_ITERATIONS,
                      tolerance=DEFAULT_TOLERANCE):
    """The one-coin model's MAP-EM, per pair, in float64 (independent of the library)."""
    votes = votes.astype(np.float64)
    voted = (votes != 0).sum(0)
    p = np.where(voted > 0, init, 0.5)
    for _ in range(max_iterations):
        lam = np.log(p / (1 - p))
        q = 1 / (1 + np.exp(-(votes @ lam)))  # P(y = +1 | votes)
        correct = ((votes > 0) * q[:, None] + (votes < 0) * (1 - q[:, None])).sum(0)
        new = np.where(voted + 2 * prior_count > 0,
                       (correct + prior_count) / np.maximum(voted + 2 * prior_count, 1e-300),
                       0.5)
        done = np.max(np.abs(new - p)) <= tolerance
        p = new
        if done:
            break
    return p


@pytest.mark.parametrize("prior_count", [0.0, 1.0])
def test_dawid_skene_matches_an_independent_numpy_em(prior_count):
    votes, _ = one_coin_votes(np.random.default_rng(1), 120)
    fit = dawid_skene_one_coin(votes, prior_count=prior_count)
    assert bool(fit.converged)
    # float32 against float64, both stopped by the same rule: agreement to ~1e-4.
    np.testing.assert_allclose(fit.accuracy, numpy_one_coin_em(votes, prior_count), atol=2e-4)
    np.testing.assert_allclose(fit.log_odds, np.log(fit.accuracy / (1 - fit.accuracy)),
                               rtol=1e-5)
    # the pattern table is a sufficient statistic: same fit from it
    table = dawid_skene_one_coin(*vote_patterns(votes), prior_count=prior_count)
    np.testing.assert_allclose(table.accuracy, fit.accuracy, atol=1e-5)


def test_dawid_skene_matches_crowdkit_when_installed():
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    import pandas as pd

    votes, _ = one_coin_votes(np.random.default_rng(2), 120)
    rows = [(i, k, int(v > 0)) for i, k in zip(*np.nonzero(votes), strict=True)
            for v in [votes[i, k]]]
    frame = pd.DataFrame(rows, columns=["task", "worker", "label"])
    model = crowdkit.OneCoinDawidSkene(n_iter=DEFAULT_MAX_ITERATIONS, tol=1e-10).fit(frame)
    skills = model.skills_.sort_index().to_numpy()
    fit = dawid_skene_one_coin(votes, prior_count=0.0)
    # crowd-kit fits the class prior too (here it is 1/2 by construction): loose agreement.
    np.testing.assert_allclose(fit.accuracy, skills, atol=0.02)


def one_coin_fisher_se(accuracy, vote_rate, n):
    """Asymptotic standard errors of the one-coin MLE of ``p`` from ``n`` pairs: the exact
    Fisher information ``sum_v P(v) s(v) s(v)^T`` (score ``s = d log P(v) / dp``) by
    enumerating every vote pattern ``v`` in ``{-1, 0, 1}^K``."""
    k = accuracy.size
    info = np.zeros((k, k))
    for pattern in itertools.product((-1, 0, 1), repeat=k):
        v = np.array(pattern)
        abstain = np.prod(np.where(v == 0, 1 - vote_rate, vote_rate))
        score = np.zeros(k)
        prob = 0.0
        for y in (1, -1):
            agree = v == y
            factor = np.where(v == 0, 1.0, np.where(agree, accuracy, 1 - accuracy))
            joint = 0.5 * abstain * np.prod(factor)
            prob += joint
            score += joint * np.where(v == 0, 0.0, np.where(agree, 1 / accuracy,
                                                             -1 / (1 - accuracy)))
        info += np.outer(score, score) / prob
    return np.sqrt(np.diag(np.linalg.inv(info)) / n)


@pytest.mark.parametrize("n", [2000, 32000])
def test_dawid_skene_recovers_known_accuracies_within_a_shrinking_bound(n):
    """|p_hat - p| <= 4 SE_k + c / n_k: SE_k from the exact Fisher information (so the bound
    is c_k / sqrt(N)); 4 standard errors leave a family-wise error below 1e-3 over the 2K
    estimates (Bonferroni); c / n_k bounds the shift of the Beta(1 + c, 1 + c) prior."""
    votes, _ = one_coin_votes(np.random.default_rng(3 + n), n)
    fit = dawid_skene_one_coin(*vote_patterns(votes))
    se = one_coin_fisher_se(ACCURACY, VOTE_RATE, n)
    bound = 4 * se + 1.0 / (votes != 0).sum(0)
    error = np.abs(np.asarray(fit.accuracy, np.float64) - ACCURACY)
    assert np.all(error <= bound), (error, bound)
    # the worse-than-chance rule gets a negative weight
    assert fit.log_odds[-1] < 0 and np.all(np.asarray(fit.log_odds[:-1]) > 0)


def test_near_duplicate_rules_break_the_independence_assumption():
    """The documented failure: four copies of one 60 %-accurate rule agree with each other
    on every vote, so the model reads them as (nearly) perfect and the two independent
    80 %-accurate rules as the noisy ones."""
    rng = np.random.default_rng(4)
    base, y = one_coin_votes(rng, 4000, np.array([0.8, 0.8, 0.6]), np.ones(3))
    votes = np.concatenate([base[:, :2], np.repeat(base[:, 2:], 3, axis=1)], axis=1)
    fit = dawid_skene_one_coin(*vote_patterns(votes))
    accuracy = np.asarray(fit.accuracy)
    assert np.all(accuracy[2:] > 0.95)  # truth: 0.6
    assert np.all(accuracy[:2] < 0.7)   # truth: 0.8


# --- noisy Bradley–Terry skills ------------------------------------------------------------


def numpy_skill_nll(skill, votes, prior_count, nodes, weights, counts=None):
    """Penalised negative marginal log-likelihood of the skill model, float64 (``counts``:
    row multiplicities, default 1)."""
    arg = skill[:, None] * nodes[None, :]  # [K, Q]
    log_lik = (votes > 0) @ special.log_expit(arg) + (votes < 0) @ special.log_expit(-arg)
    marginal = special.logsumexp(log_lik + np.log(weights)[None, :], axis=1)
    abs_arg = skill[:, None] * np.abs(nodes)[None, :]
    penalty = prior_count * ((special.log_expit(abs_arg) + special.log_expit(-abs_arg))
                             @ weights).sum()
    counts = np.ones(len(votes)) if counts is None else counts
    return -(counts @ marginal + penalty)


@functools.cache
def hermite_normal(num_nodes):
    nodes, weights = np.polynomial.hermite_e.hermegauss(num_nodes)
    return nodes, weights / weights.sum()


def test_skills_match_scipy_on_a_numpy_likelihood():
    votes = skill_votes(np.random.default_rng(5), 120)
    fit = noisy_bt_skills(votes)
    assert bool(fit.converged)
    nodes, weights = hermite_normal(24)
    best = optimize.minimize(numpy_skill_nll, np.ones(K), args=(votes, 1.0, nodes, weights),
                             method="BFGS", options={"gtol": 1e-8})
    # Same objective and quadrature; EM stops when no accuracy moves by 1e-6, BFGS at a
    # gradient of 1e-8: skills agree to 1e-2 (flat directions of 120 pairs).
    np.testing.assert_allclose(fit.skill, best.x, atol=1e-2)
    assert numpy_skill_nll(np.asarray(fit.skill, np.float64), votes, 1.0, nodes,
                           weights) <= best.fun + 1e-3


def test_skills_recover_known_skills_within_a_shrinking_bound():
    """|s_hat - s| <= 4 SE_k + bias, with SE from the observed information (the numerical
    Hessian of the NumPy log-likelihood at the estimate) of N = 32000 pairs; the prior's
    shift is bounded by |prior gradient| / curvature, both computed."""
    votes = skill_votes(np.random.default_rng(6), 32000)
    patterns, counts = vote_patterns(votes)
    fit = noisy_bt_skills(patterns, counts)
    nodes, weights = hermite_normal(24)
    hat = np.asarray(fit.skill, np.float64)

    def nll(s, c=0.0):
        return numpy_skill_nll(s, patterns, c, nodes, weights, counts.astype(np.float64))

    step = 1e-3
    hessian = np.array([[
        (nll(hat + step * (np.eye(K)[i] + np.eye(K)[j])) - nll(hat + step * np.eye(K)[i])
         - nll(hat + step * np.eye(K)[j]) + nll(hat)) / step**2 for j in range(K)]
        for i in range(K)])
    se = np.sqrt(np.diag(np.linalg.inv(hessian)))
    prior_shift = np.abs(optimize.approx_fprime(hat, lambda s: nll(s, 1.0) - nll(s), 1e-6)
                         ) / np.diag(hessian)
    assert np.all(np.abs(hat - SKILL) <= 4 * se + prior_shift), (hat, SKILL, se)
    assert fit.log_odds[-1] < 0 and np.all(np.asarray(fit.log_odds[:-1]) > 0)


# --- the signed weightings -----------------------------------------------------------------


def _pairs_data(rng, n=120):
    """Binary ratings of two sides whose rule votes are one-coin votes (side a = +1)."""
    votes, _ = one_coin_votes(rng, n)
    return (votes > 0).astype(np.int32), (votes < 0).astype(np.int32), votes


def test_agreement_weightings_are_signed_builtins_that_see_only_votes():
    chosen, rejected, votes = _pairs_data(np.random.default_rng(7))
    np.testing.assert_array_equal(rule_votes(chosen, rejected), votes)
    a, b, _ = unlabelled_pairs(jax.random.key(0), chosen, rejected)
    data = WeightingData(np.concatenate([chosen, rejected]), None, 2, a, b, None)
    builtins = builtin_weightings()
    assert set(AGREEMENT_NAMES) <= set(EXTENSION_NAMES)
    assert all(returns_signed_weights(builtins[n]) for n in AGREEMENT_NAMES)
    assert not any(returns_signed_weights(builtins[n]) for n in builtins
                   if n not in AGREEMENT_NAMES)
    got = apply_weightings({n: builtins[n] for n in AGREEMENT_NAMES}, data)
    np.testing.assert_allclose(got["research_agreement_dawid_skene"],
                               dawid_skene_one_coin(votes).log_odds, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["research_agreement_bt"],
                               noisy_bt_skills(votes).log_odds, rtol=1e-5, atol=1e-6)
    assert got["research_agreement_dawid_skene"][-1] < 0  # accepted: the weighting is signed


def test_negative_weights_only_from_signed_weightings():
    chosen, rejected, _ = _pairs_data(np.random.default_rng(8))
    data = WeightingData(chosen, None, 2, chosen, rejected, None)

    def reverse_first(d):
        return np.array([-1.0, 1, 1, 1, 1], np.float32)

    with pytest.raises(ValueError, match=r"weighting 'rev' returned -1.0 for rule 0; .*"
                                         r"signed_weighting"):
        apply_weightings({"rev": reverse_first}, data)
    got = apply_weightings({"rev": signed_weighting(functools.partial(reverse_first))}, data)
    np.testing.assert_array_equal(got["rev"], [-1.0, 1, 1, 1, 1])
    with pytest.raises(ValueError, match="need unlabelled pairs"):
        agreement_dawid_skene_weights(WeightingData(chosen, None, 2))
    with pytest.raises(ValueError, match="need unlabelled pairs"):
        agreement_bt_weights(WeightingData(chosen, None, 2))


def test_a_rule_that_never_votes_gets_weight_zero():
    votes, _ = one_coin_votes(np.random.default_rng(9), 120)
    votes[:, 1] = 0
    for fit in (dawid_skene_one_coin(votes), noisy_bt_skills(votes)):
        assert float(fit.accuracy[1]) == 0.5 and float(fit.log_odds[1]) == 0.0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"prior_count": -1.0}, "prior_count"),
    ({"max_iterations": 0}, "max_iterations"),
    ({"tolerance": float("nan")}, "tolerance"),
])
def test_options_are_validated(kwargs, message):
    votes = np.zeros((3, K), np.int8)
    with pytest.raises(ValueError, match=message):
        dawid_skene_one_coin(votes, **kwargs)
    with pytest.raises(ValueError, match="only -1, 0 and \\+1"):
        noisy_bt_skills(votes + 2)
