"""The RuleAdapter theorem check (encore_jax/theory/max_discrepancy_mi.py).

Claim (encore_jax/theory/THEORY.md, "RuleAdapter"): with votes Z_k wrong with probability
eps_k = eps(|d_k|), eps non-increasing with values in [0, 1/2], independent given Y, the k
rules with the largest |d| (encore_jax.select_rules) maximise I(Y; Z_S) over size-k subsets.
"""

import itertools
import json
import math

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from encore_jax.selection import label_pairs, random_rule_selection, select_rules
from encore_jax.simulate import simulate_rule_ensemble
from encore_jax.theory import max_discrepancy_mi as mdmi
from encore_jax.theory import mi_enumeration as mie


def brute_force_information(eps, prior=0.5):
    """I(Y; Z) by a loop over the 2^m vote patterns: an independent oracle."""
    joint = {}
    for y, p_y in ((1, prior), (0, 1 - prior)):
        for z in itertools.product((0, 1), repeat=len(eps)):
            p = p_y
            for vote, e in zip(z, eps, strict=True):
                p *= (1 - e) if vote == y else e
            joint[(y, z)] = p
    p_z = {z: joint[(1, z)] + joint[(0, z)] for z in itertools.product((0, 1), repeat=len(eps))}
    p_y = {1: prior, 0: 1 - prior}
    return sum(p * math.log(p / (p_y[y] * p_z[z])) for (y, z), p in joint.items() if p > 0)


def binary_entropy(p):
    return -sum(q * math.log(q) for q in (p, 1 - p) if q > 0)


@given(st.integers(1, 5), st.integers(0, 2**32 - 1), st.sampled_from((0.5, 0.2)))
def test_vote_information_matches_brute_force(m, seed, prior):
    eps = np.random.default_rng(seed).uniform(0, 0.5, m)
    eps[0] = 0.0 if seed % 3 == 0 else eps[0]  # a perfect rule: 0 log 0 terms
    np.testing.assert_allclose(mie.vote_information(eps, prior),
                               brute_force_information(eps, prior), rtol=1e-12, atol=1e-15)


def test_vote_information_closed_forms():
    # One vote through a binary symmetric channel with a fair prior: log 2 - h(eps).
    for eps in (0.0, 0.1, 0.3, 0.5):
        np.testing.assert_allclose(mie.vote_information(np.array([eps])),
                                   math.log(2) - binary_entropy(eps), atol=1e-15)
    # A coin vote adds nothing; a perfect vote carries all of H(Y).
    np.testing.assert_allclose(mie.vote_information(np.array([0.2, 0.5])),
                               mie.vote_information(np.array([0.2])), atol=1e-15)
    np.testing.assert_allclose(mie.vote_information(np.array([0.0, 0.3])), math.log(2),
                               atol=1e-15)
    # Majority of three votes with error e: the label errs w.p. 3e^2(1-e) + e^3.
    e = 0.2
    err = 3 * e**2 * (1 - e) + e**3
    np.testing.assert_allclose(mie.majority_label_information(np.full(3, e)),
                               math.log(2) - binary_entropy(err), atol=1e-15)


def label_pairs_information(eps, abs_d, vote, prior=0.5):
    """I(Y; label) of ``label_pairs(..., vote=vote, tie_winner="b")`` on one pair's rules, by
    enumerating the 2^m vote patterns: pattern z gives d_k = +|d_k| where z_k says A and
    -|d_k| where it says B (a rule with |d_k| = 0 has d_k = 0 either way), and the label is
    what label_pairs returns for d against zeros, every rule selected."""
    m = len(eps)
    patterns = np.array(list(itertools.product((0, 1), repeat=m)))  # [P, m], 1 = says A
    d = np.where(patterns == 1, abs_d, -abs_d).astype(np.float32)
    says_a = np.asarray(label_pairs(d, np.zeros_like(d), np.ones(d.shape, bool), vote=vote))
    joint = {}
    for y, p_y in ((1, prior), (0, 1 - prior)):
        p_z = [p_y * math.prod((1 - e) if v == y else e for v, e in zip(z, eps, strict=True))
               for z in patterns]
        joint[y] = (sum(p for p, a in zip(p_z, says_a, strict=True) if a),
                    sum(p for p, a in zip(p_z, says_a, strict=True) if not a))
    p_label = [joint[1][i] + joint[0][i] for i in range(2)]
    return sum(joint[y][i] * math.log(joint[y][i] / (p_y * p_label[i]))
               for y, p_y in ((1, prior), (0, 1 - prior)) for i in range(2) if joint[y][i] > 0)


@given(st.integers(0, 2**32 - 1), st.booleans())
def test_enumerated_majority_label_is_label_pairs_sign_vote(seed, with_zero):
    # The corollary's labeller in the enumeration (majority of the votes cast, ties to B) is
    # exactly label_pairs(vote="sign"): same information, abstentions (|d| = 0) included.
    rng = np.random.default_rng(seed)
    abs_d = rng.integers(1, 5, 4).astype(np.float64)
    if with_zero:
        abs_d[rng.integers(0, 4)] = 0.0
    eps = rng.uniform(0.0, 0.5, 4)
    got = label_pairs_information(eps, abs_d, "sign")
    np.testing.assert_allclose(mie.sign_vote_label_information(eps, 0.5, abs_d), got,
                               rtol=1e-12, atol=1e-15)
    if not with_zero:  # every rule votes: the corollary's [#A-votes > m / 2]
        np.testing.assert_allclose(mie.majority_label_information(eps), got,
                                   rtol=1e-12, atol=1e-15)


def test_the_default_sum_vote_is_not_the_enumerated_labeller():
    # |d| = (3, 1, 1, 1): the sum labels A when rule 0 says A against two of the others, the
    # sign vote labels B; the two labels carry different information.
    eps, abs_d = np.array([0.1, 0.3, 0.3, 0.3]), np.array([3.0, 1.0, 1.0, 1.0])
    assert abs(label_pairs_information(eps, abs_d, "sum")
               - mie.majority_label_information(eps)) > 1e-3
    assert mie.majority_label_information(eps) == pytest.approx(
        label_pairs_information(eps, abs_d, "sign"), rel=1e-12)


@st.composite
def eps_profiles(draw):
    """(|d| [K], eps [K], k): integer |d| and a random non-increasing eps profile in [0, 1/2]
    (plateaus included), so eps ties whenever |d| ties and sometimes across |d| values."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    num_rules = draw(st.sampled_from((4, 6)))
    k = draw(st.integers(1, num_rules - 1))
    family = draw(st.sampled_from(mie.FAMILIES))
    abs_d, eps = mie._draw_case(rng, family, num_rules)
    return abs_d, eps, k


@given(eps_profiles())
def test_top_discrepancy_subset_maximises_vote_information(case):
    # Exact enumeration against an independent brute force: no size-k subset may beat the
    # one select_rules keeps by more than the float64 rounding bound (information_tolerance,
    # derived in its docstring).
    abs_d, eps, k = case
    mask = np.asarray(select_rules(abs_d[None, :].astype(np.float32),
                                      np.zeros((1, abs_d.size), np.float32), k))[0]
    chosen = brute_force_information(eps[mask])
    best = max(brute_force_information(eps[list(s)])
               for s in itertools.combinations(range(abs_d.size), k))
    assert best - chosen <= mie.information_tolerance(k), (abs_d, eps, k)


def test_known_counterexamples_outside_the_assumptions():
    # eps above 1/2: a rule that is wrong 95% of the time (|d| = 0) is more informative than
    # an honest rule with eps = 0.3 (|d| = 1), but max discrepancy keeps the latter.
    assert mie.vote_information(np.array([0.95])) > mie.vote_information(np.array([0.3]))
    # Correlated errors: rule 1 copies rule 0, so {0, 1} carries what {0} does, and the
    # independent rule 2 with a smaller |d| is the better second pick.
    eps, source = np.array([0.1, 0.1, 0.2]), np.array([0, 0, 2])
    top = mie.duplicated_vote_information(eps, source, np.array([0, 1]))
    other = mie.duplicated_vote_information(eps, source, np.array([0, 2]))
    assert other > top + 0.01


def test_enumeration_check_reports_counterexamples_only_outside_the_assumptions():
    report = mie.enumeration_check(seed=1, draws_per_cell=3, rule_counts=(3, 4))
    for name, result in report["within_assumptions"].items():
        assert result["counterexamples"] == 0, name
        assert result["draws"] == 3 * 5  # (K, k) cells: (3, 1), (3, 2), (4, 1..3)
    assert report["probes"]["asymmetric_prior"]["counterexamples"] == 0
    assert report["probes"]["eps_above_half"]["counterexamples"] > 0
    assert report["probes"]["majority_label_information"]["counterexamples"] == 0
    for example in report["probes"]["eps_above_half"]["examples"]:
        assert example["information_best"] > example["information_selected"]


def test_plugin_information_matches_numpy():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 4, 500).astype(np.float32)
    valid = np.ones(500, bool)
    table = np.bincount(codes.astype(int), minlength=4).reshape(2, 2) / 500
    expected = sum(table[i, j] * math.log(table[i, j] / (table[i].sum() * table[:, j].sum()))
                   for i in range(2) for j in range(2) if table[i, j] > 0)
    # float32: each of the 4 terms p log(p / q) carries the rounding of the ratio (a few
    # float32 ulps, < 4 * 6e-8 relative) times p <= 1, so |error| < 1e-6 nats.
    np.testing.assert_allclose(mdmi.plugin_information(codes, valid), expected, atol=1e-6)
    # Label == Y always: I = H(Y).
    y = rng.integers(0, 2, 500)
    p = y.mean()
    np.testing.assert_allclose(mdmi.plugin_information((3 * y).astype(np.float32), valid),
                               binary_entropy(p), atol=1e-6)


def test_run_writes_report_and_figure(tmp_path):
    # Three-rule ensembles keep the k sweep (one compilation per k) short.
    ensembles = {"homogeneous": {"informativeness": [0.6] * 3, "spread": [1.5] * 3},
                 "heterogeneous": {"informativeness": [1.0, 0.5, 0.0],
                                   "spread": [1.0, 4.0, math.inf]}}
    report = mdmi.run(tmp_path, draws_per_cell=1, rule_counts=(3,), num_pairs=512, k=2,
                      num_resamples=50, ensembles=ensembles)
    assert (tmp_path / "report.json").exists() and (tmp_path / mdmi.FIGURE_NAME).exists()
    assert json.loads((tmp_path / "report.json").read_text())["check"] == "max_discrepancy_mi"
    assert report["enumeration"]["holds_within_assumptions"]
    for ensemble in report["simulation"]["ensembles"].values():
        for result in ensemble["methods"].values():
            assert 0 <= result["agreement"]["low"] <= result["agreement"]["high"] <= 1
            info = result["information_nats"]
            assert -1e-6 <= info["low"] <= info["high"] <= math.log(2) + 1e-6
        sweep = ensemble["k_sweep"]
        # k = K: both selections are all rules, so the labels and their information agree.
        assert sweep["max_discrepancy_information_nats"][-1] == sweep[
            "random_information_nats"][-1]


def test_exact_label_agreement_matches_closed_forms():
    # One rule: both selections are the rule itself; its label errs when d < 0 (Y = A) or
    # d > 0 (Y = B), and ties go to B: agreement = (P(d > 0) + P(d >= 0)) / 2.
    from encore_jax.simulate import rating_distributions

    p_c, p_r = (np.asarray(p, np.float64) for p in rating_distributions(
        np.array([0.6], np.float32), np.array([1.5], np.float32), 5))
    joint = p_c[0][:, None] * p_r[0][None, :]
    diff = np.arange(5)[:, None] - np.arange(5)[None, :]
    expected = 0.5 * joint[diff > 0].sum() + 0.5 * joint[diff >= 0].sum()
    exact = mie.exact_label_agreement([0.6], [1.5], 5, 1)
    np.testing.assert_allclose([exact["max_discrepancy"], exact["random"]], expected, rtol=1e-12)
    # Pure-noise rules: every label is a coin with ties to B, agreement exactly 1/2 (up to the
    # float32 rounding of the simulator's level probabilities, a few 6e-8 relative each).
    noise = mie.exact_label_agreement([0.0, 0.0, 0.0], [np.inf] * 3, 3, 1)
    np.testing.assert_allclose(list(noise.values()), 0.5, atol=1e-6)


def test_max_discrepancy_beats_random_k_at_a_size_where_it_is_certain():
    # Homogeneous ensemble (the theorem's model), K = 3 rules, k = 1. The exact agreements
    # (exact_label_agreement, an enumeration over the 9^3 difference vectors) give the gap
    # delta = P(max-discrepancy label = Y) - P(random-k label = Y) > 0. Per pair the difference
    # of the two correctness indicators lies in [-1, 1] and pairs are i.i.d., so Hoeffding
    # gives P(mean difference <= 0) <= exp(-N delta^2 / 2); N is chosen to make this <= 1e-9.
    beta, spread, k, delta_fail = [0.6] * 3, [1.5] * 3, 1, 1e-9
    exact = mie.exact_label_agreement(beta, spread, 5, k)
    delta = exact["max_discrepancy"] - exact["random"]
    assert delta > 0.05  # the theorem's direction, in exact arithmetic
    n = int(math.ceil(2 * math.log(1 / delta_fail) / delta**2))
    ens = simulate_rule_ensemble(jax.random.key(0), n, informativeness=np.array(beta),
                                    spread=np.array(spread))
    a, b, truth = ens.ratings_a, ens.ratings_b, np.asarray(ens.preferred_a)
    max_disc = np.asarray(label_pairs(a, b, select_rules(a, b, k))) == truth
    random_k = np.asarray(label_pairs(
        a, b, random_rule_selection(jax.random.key(1), n, 3, k))) == truth
    assert max_disc.mean() > random_k.mean()
    # The plug-in agreements agree with the exact values: Hoeffding at 1e-9 per method.
    slack = math.sqrt(math.log(2 / delta_fail) / (2 * n))
    assert abs(max_disc.mean() - exact["max_discrepancy"]) <= slack
    assert abs(random_k.mean() - exact["random"]) <= slack
