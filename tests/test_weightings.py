"""The weighting extension point and the research extension research_decisive_encore."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from encore_jax.simulate_rare import rare_flag_distributions, simulate_mixed_ensemble
from encore_jax.weightings import (
    AGREEMENT_NAMES,
    EXTENSION_NAMES,
    WeightingData,
    apply_weightings,
    builtin_stats,
    builtin_weightings,
    builtin_weights_from_stats,
    decisive_encore_weights,
    decisive_entropies,
    decisive_entropy_weights,
    pair_decisive_counts,
    pair_tie_counts,
    resolve_weighting,
    tie_rates,
    unlabelled_pairs,
)
from encore_jax.weights import encore_weights, uniform_weights

# One shape for every property test, so JAX compiles once.
M, N, K, L = 10, 8, 4, 4
TAU = 2.0


def _numpy_entropy(ratings, mask):
    out = []
    for k in range(ratings.shape[1]):
        counts = np.bincount(ratings[mask[:, k], k], minlength=L).astype(np.float64)
        q = counts[counts > 0] / counts.sum()
        out.append(-(q * np.log(q)).sum())
    return np.array(out)


def _numpy_decisive_encore(ratings, mask, a, b, pair_mask):
    entropy = _numpy_entropy(ratings, mask)
    ties = ((a == b) & pair_mask).sum(axis=0) / pair_mask.sum(axis=0)
    raw = (1 - ties) * np.exp(-entropy / TAU)
    return raw / raw.sum() if raw.sum() > 0 else raw


@st.composite
def weighting_data(draw, masked=None):
    masked = st.booleans() if masked is None else masked
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    # Rules with few levels in use make ties (and rare-flag columns) common.
    top = rng.integers(1, L + 1, K)
    ratings = (rng.integers(0, L, (M, K)) % top).astype(np.int32)
    a = (rng.integers(0, L, (N, K)) % top).astype(np.int32)
    b = (rng.integers(0, L, (N, K)) % top).astype(np.int32)
    mask = np.ones((M, K), bool)
    pair_mask = np.ones((N, K), bool)
    if draw(masked):
        mask = rng.random((M, K)) < 0.8
        mask[0] = True  # every rule observed at least once
        pair_mask = rng.random((N, K)) < 0.8
        pair_mask[0] = True
    return WeightingData(ratings, mask, L, a, b, pair_mask)


@given(weighting_data())
def test_decisive_encore_matches_numpy_oracle(data):
    got = decisive_encore_weights(data, TAU)
    expected = _numpy_decisive_encore(*(np.asarray(x) for x in (
        data.ratings, data.mask, data.pair_a, data.pair_b, data.pair_mask)))
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-7)


def _numpy_decisive_entropy(a, b, pair_mask):
    decisive = (a != b) & pair_mask
    raw = np.zeros(a.shape[1])
    entropy = np.zeros(a.shape[1])
    for k in range(a.shape[1]):
        levels = np.concatenate([a[decisive[:, k], k], b[decisive[:, k], k]])
        if levels.size:
            q = np.bincount(levels, minlength=L) / levels.size
            q = q[q > 0]
            entropy[k] = -(q * np.log(q)).sum()
    active = decisive.any(axis=0)
    if active.any():
        raw[active] = np.exp(-(entropy[active] - entropy[active].min()) / TAU)
        raw /= raw.sum()
    return raw


@given(weighting_data())
def test_decisive_entropy_matches_numpy_oracle(data):
    got = decisive_entropy_weights(data, TAU)
    expected = _numpy_decisive_entropy(*(np.asarray(x) for x in (
        data.pair_a, data.pair_b, data.pair_mask)))
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-7)


@given(weighting_data(), st.integers(0, 2**32 - 1))
def test_extensions_ignore_which_side_is_which(data, seed):
    swap = np.random.default_rng(seed).random(N) < 0.5
    a, b = np.asarray(data.pair_a), np.asarray(data.pair_b)
    swapped = data._replace(pair_a=np.where(swap[:, None], b, a),
                            pair_b=np.where(swap[:, None], a, b))
    for weighting in (decisive_encore_weights, decisive_entropy_weights):
        np.testing.assert_array_equal(weighting(data), weighting(swapped))


@given(weighting_data(masked=st.just(False)), st.integers(0, 2**32 - 1))
def test_every_builtin_is_blind_to_the_labels(data, seed):
    """Flipping every label (chosen <-> rejected) under the same coins: identical weights."""
    key = jax.random.key(seed)
    chosen, rejected = data.pair_a, data.pair_b
    a1, b1, _ = unlabelled_pairs(key, chosen, rejected)
    a2, b2, _ = unlabelled_pairs(key, rejected, chosen)
    first = apply_weightings(builtin_weightings(), data._replace(pair_a=a1, pair_b=b1))
    second = apply_weightings(builtin_weightings(), data._replace(pair_a=a2, pair_b=b2))
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


@given(weighting_data())
def test_a_rule_that_always_ties_gets_weight_exactly_zero(data):
    b = np.asarray(data.pair_b).copy()
    b[:, 1] = np.asarray(data.pair_a)[:, 1]
    for weighting in (decisive_encore_weights, decisive_entropy_weights):
        w = np.asarray(weighting(data._replace(pair_b=b)))
        assert w[1] == 0.0
        assert np.all(w >= 0)


def test_rules_that_always_tie_give_all_zero_weights():
    ratings = np.array([[0, 1], [1, 1], [2, 0]], np.int32)
    pairs = np.array([[0, 1], [2, 0]], np.int32)
    data = WeightingData(ratings, None, 3, pairs, pairs, None)
    np.testing.assert_array_equal(decisive_encore_weights(data), [0.0, 0.0])
    np.testing.assert_array_equal(decisive_entropy_weights(data), [0.0, 0.0])


def test_equal_tie_rates_keep_encore_ratios():
    rng = np.random.default_rng(0)
    ratings = rng.integers(0, L, (M, K)).astype(np.int32)
    a = np.zeros((N, K), np.int32)
    b = np.zeros((N, K), np.int32)
    b[: N // 2] = 1  # every rule decides exactly half of the pairs
    data = WeightingData(ratings, None, L, a, b, None)
    _, encore = encore_weights(ratings, L, temperature=TAU)
    np.testing.assert_allclose(decisive_encore_weights(data), encore, rtol=1e-6)


def test_without_pairs_the_tie_rate_is_the_collision_probability():
    ratings = np.array([[0, 0], [0, 1], [0, 2], [1, 2]], np.int32)
    data = WeightingData(ratings, None, 3, None, None, None)
    # rule 0: q = (3/4, 1/4); rule 1: q = (1/4, 1/4, 1/2)
    np.testing.assert_allclose(tie_rates(data), [10 / 16, 6 / 16], rtol=1e-6)
    assert np.all(np.asarray(decisive_encore_weights(data)) > 0)


def test_decisive_entropy_without_pairs_is_the_independent_draw_limit():
    ratings = np.array([[0, 0], [0, 1], [0, 2], [1, 2]], np.int32)
    entropy, decides = decisive_entropies(WeightingData(ratings, None, 3))
    # q (1 - q) normalised: rule 0 (3/16, 3/16) -> log 2; rule 1 (3/16, 3/16, 4/16)
    rule1 = np.array([3, 3, 4]) / 10
    np.testing.assert_allclose(entropy, [np.log(2), -(rule1 * np.log(rule1)).sum()], rtol=1e-6)
    np.testing.assert_array_equal(decides, [True, True])


def test_a_rare_flag_keeps_its_decisive_entropy_as_its_base_rate_vanishes():
    """H_dec -> log 2 + H(r) / 2 as p -> 0 (fired severities r uniform on 3 levels)."""
    limit = np.log(2) + np.log(3) / 2
    for rows in (100, 10_000):  # base rate 3 / rows
        ratings = np.full((rows, 1), 3, np.int32)
        ratings[:3, 0] = [0, 1, 2]
        entropy, _ = decisive_entropies(WeightingData(ratings, None, 4))
        p = 3 / rows
        exact_q = np.array([p / 3] * 3 + [1 - p])
        dist = exact_q * (1 - exact_q) / (exact_q * (1 - exact_q)).sum()
        np.testing.assert_allclose(entropy[0], -(dist * np.log(dist)).sum(), rtol=1e-5)
    assert abs(float(entropy[0]) - limit) < 2e-3


def test_builtins_equal_the_paper_weightings():
    rng = np.random.default_rng(3)
    ratings = rng.integers(0, L, (M, K)).astype(np.int32)
    mask = rng.random((M, K)) < 0.7
    mask[0] = True
    data = WeightingData(ratings, mask, L)
    builtins = builtin_weightings(temperature=0.7)
    assert list(builtins) == ["encore", "uniform", *EXTENSION_NAMES]
    got = apply_weightings({n: w for n, w in builtins.items() if n not in AGREEMENT_NAMES},
                           data)
    np.testing.assert_array_equal(
        got["encore"], encore_weights(ratings, L, temperature=0.7, mask=mask)[1])
    np.testing.assert_array_equal(got["uniform"], uniform_weights(K))
    np.testing.assert_array_equal(resolve_weighting("encore", temperature=0.7)(data),
                                  got["encore"])


def _numpy_stats(data):
    """NumPy oracle of BuiltinStats with pairs: (counts, tie rates, decisive counts)."""
    ratings, mask, a, b, rated = (np.asarray(x) for x in (
        data.ratings, data.mask, data.pair_a, data.pair_b, data.pair_mask))
    counts = np.stack([np.bincount(ratings[mask[:, k], k], minlength=L) for k in range(K)])
    ties = ((a == b) & rated).sum(0) / rated.sum(0)
    decisive = rated & (a != b)
    decisive_counts = np.stack([
        np.bincount(np.concatenate([a[decisive[:, k], k], b[decisive[:, k], k]]), minlength=L)
        for k in range(K)])
    return counts, ties, decisive_counts


@given(weighting_data())
def test_builtin_stats_match_numpy(data):
    counts, ties, decisive_counts = _numpy_stats(data)
    stats = builtin_stats(data)
    np.testing.assert_array_equal(stats.counts, counts)
    np.testing.assert_allclose(stats.tie_rates, ties, rtol=1e-6)
    np.testing.assert_array_equal(stats.decisive_counts, decisive_counts)


@given(weighting_data(), st.booleans())
def test_builtins_on_statistics_equal_builtins_on_data(data, with_pairs):
    """One implementation: the WeightingData built-ins are the statistics-based ones."""
    builtins = builtin_weightings(TAU)
    if not with_pairs:  # the agreement weightings need pairs (and are left out of the stats)
        data = data._replace(pair_a=None, pair_b=None, pair_mask=None)
        builtins = {n: w for n, w in builtins.items() if n not in AGREEMENT_NAMES}
    on_data = apply_weightings(builtins, data)
    on_stats = builtin_weights_from_stats(builtin_stats(data), TAU)
    assert list(on_stats) == list(on_data)
    for name in on_data:
        np.testing.assert_array_equal(on_stats[name], on_data[name], err_msg=name)


@given(weighting_data(), st.integers(0, 2**32 - 1))
def test_pair_statistics_are_additive_and_blind_to_the_fair_coin(data, seed):
    """The sums a streamed caller accumulates on (chosen, rejected), chunk by chunk, equal
    the statistics of the fair-coin pairs the WeightingData built-ins see."""
    chosen, rejected, rated = data.pair_a, data.pair_b, data.pair_mask
    a, b, _ = unlabelled_pairs(jax.random.key(seed), chosen, rejected, rated)
    halves = [slice(0, N // 2), slice(N // 2, N)]
    ties = sum(np.asarray(pair_tie_counts(chosen[h], rejected[h], rated[h])) for h in halves)
    decisive = sum(np.asarray(pair_decisive_counts(chosen[h], rejected[h], rated[h], L))
                   for h in halves)
    np.testing.assert_array_equal(ties, np.asarray(pair_tie_counts(a, b, rated)))
    np.testing.assert_array_equal(decisive, pair_decisive_counts(a, b, rated, L))


def test_unlabelled_pairs_swap_whole_pairs_by_a_fair_coin():
    chosen = np.arange(2000 * 2, dtype=np.int32).reshape(2000, 2)
    rejected = -chosen - 1
    mask = np.ones((2000, 2), bool)
    a, b, pair_mask = unlabelled_pairs(jax.random.key(5), chosen, rejected, mask)
    a, b = np.asarray(a), np.asarray(b)
    heads = a[:, 0] >= 0
    np.testing.assert_array_equal(a, np.where(heads[:, None], chosen, rejected))
    np.testing.assert_array_equal(b, np.where(heads[:, None], rejected, chosen))
    np.testing.assert_array_equal(pair_mask, mask)
    assert 0.4 < heads.mean() < 0.6  # 9 standard deviations either side of 1/2


# --- the contract's validation -------------------------------------------------------------

DATA = WeightingData(np.array([[0, 1, 2], [1, 1, 0]], np.int32), None, 3)


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (np.ones(2, np.float32), r"'mine' returned shape \(2,\); it must return \[K\] = \[3\]"),
        (np.array([0.5, np.nan, 1.0]), r"'mine' returned nan for rule 1; weights must be finite"),
        (np.array([0.5, -1.0, 1.0]), r"'mine' returned -1.0 for rule 1; weights must be >= 0"),
        (np.ones((3, 1)), r"'mine' returned shape \(3, 1\)"),
    ],
)
def test_bad_weights_name_the_weighting_and_the_fix(returned, message):
    with pytest.raises(ValueError, match=message):
        apply_weightings({"mine": lambda data: returned}, DATA)


def test_non_real_weights_are_rejected():
    with pytest.raises(TypeError, match="'flags' returned dtype bool"):
        apply_weightings({"flags": lambda data: np.ones(3, bool)}, DATA)
    with pytest.raises(TypeError, match="'text' returned"):
        apply_weightings({"text": lambda data: "weights"}, DATA)


def test_integer_weights_become_float_and_errors_inside_are_annotated():
    got = apply_weightings({"counts": lambda data: np.array([1, 2, 3])}, DATA)
    assert got["counts"].dtype == jnp.float32
    np.testing.assert_array_equal(got["counts"], [1.0, 2.0, 3.0])

    def broken(data):
        raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError) as info:
        apply_weightings({"broken": broken}, DATA)
    assert "raised by weighting 'broken'" in info.value.__notes__


def test_weighting_data_is_validated():
    with pytest.raises(ValueError, match="pair_a has K = 2 rules but ratings has K = 3"):
        apply_weightings({}, DATA._replace(pair_a=np.zeros((4, 2), np.int32),
                                           pair_b=np.zeros((4, 2), np.int32)))
    with pytest.raises(ValueError, match="pair_b has level 3"):
        apply_weightings({}, DATA._replace(pair_a=np.zeros((1, 3), np.int32),
                                           pair_b=np.full((1, 3), 3, np.int32)))
    with pytest.raises(ValueError, match="both be given"):
        apply_weightings({}, DATA._replace(pair_a=np.zeros((1, 3), np.int32)))
    never_rated = np.array([[True, False, True]])
    with pytest.raises(ValueError, match="rule 1 is rated on both sides of no unlabelled pair"):
        tie_rates(DATA._replace(pair_a=np.zeros((1, 3), np.int32),
                                pair_b=np.zeros((1, 3), np.int32), pair_mask=never_rated))


def test_resolve_weighting_by_import_path():
    assert resolve_weighting("encore_jax.weightings:decisive_encore_weights") is \
        decisive_encore_weights
    assert resolve_weighting("encore_jax.weightings:WeightingData._make") == \
        WeightingData._make


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuch", r"unknown weighting spec 'nosuch': use a built-in name \(encore, "
                   r"research_agreement_bt, research_agreement_dawid_skene, "
                   r"research_decisive_encore, research_decisive_entropy, uniform\) or an "
                   r"import path"),
        ("no_such_module_xyz:f", r"module 'no_such_module_xyz' does not import"),
        ("encore_jax.weights:nosuch", r"module 'encore_jax.weights' has no attribute 'nosuch'"),
        ("encore_jax.weights:DEFAULT_TEMPERATURE", r"is a float, not a function"),
        (":f", r"must have the form 'package.module:function'"),
        ("", r"non-empty string"),
    ],
)
def test_resolve_weighting_errors_name_the_spec(spec, message):
    with pytest.raises(ValueError, match=message):
        resolve_weighting(spec)


# --- the rare-flag simulator ---------------------------------------------------------------


def test_rare_flags_fire_at_their_base_rate():
    p = np.array([0.01, 0.1, 0.3])
    gamma = np.array([0.0, 2.0, 1.0])
    beta = np.array([0.0, 1.0, 0.5])
    p_chosen, p_rejected = rare_flag_distributions(p, gamma, beta, num_levels=5)
    np.testing.assert_allclose(p_chosen.sum(axis=1), 1.0)
    np.testing.assert_allclose(p_rejected.sum(axis=1), 1.0)
    fired = 1 - (p_chosen[:, -1] + p_rejected[:, -1]) / 2
    np.testing.assert_allclose(fired, p)
    np.testing.assert_array_equal(p_chosen[0], p_rejected[0])  # uninformative flag
    # the firing odds ratio of the other response against the preferred one is exp(gamma)
    fire_c, fire_r = 1 - p_chosen[1, -1], 1 - p_rejected[1, -1]
    np.testing.assert_allclose(fire_r / fire_c, np.exp(2.0))
    with pytest.raises(ValueError, match=r"base_rate\[0\] = 0.9 must lie in"):
        rare_flag_distributions([0.9], [1.0], [0.0])


def test_mixed_ensemble_stacks_graded_rules_then_flags():
    ensemble = simulate_mixed_ensemble(
        jax.random.key(0), 4000, informativeness=[1.0], spread=[2.0], base_rate=[0.05],
        firing_informativeness=[0.0], severity_informativeness=[0.0])
    assert ensemble.ratings_a.shape == (4000, 2)
    flag = np.concatenate([np.asarray(ensemble.chosen)[:, 1], np.asarray(ensemble.rejected)[:, 1]])
    # 8000 draws at p = 0.05: standard deviation 0.0024; the bounds are 4 of them
    assert abs((flag != 4).mean() - 0.05) < 0.01
    # population P(chosen > rejected) of the uninformative flag, by enumeration: chosen not
    # fired and rejected fired, or both fired (uniform severities 0..3) with chosen higher
    np.testing.assert_allclose(ensemble.accuracy[1], 0.95 * 0.05 + 0.05**2 * 6 / 16, rtol=1e-5)


def test_a_user_weighting_from_a_module_on_the_path(tmp_path, monkeypatch):
    """The module docstring's example, imported by path as the CLI's --weighting does."""
    (tmp_path / "my_weightings.py").write_text(
        "from encore_jax.entropy import rating_entropy\n\n"
        "def inverse_entropy(data):\n"
        "    entropy = rating_entropy(data.ratings, data.num_levels, mask=data.mask)\n"
        "    return 1.0 / (1.0 + entropy)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    weighting = resolve_weighting("my_weightings:inverse_entropy")
    ratings = np.array([[0, 1], [0, 2], [0, 0]], np.int32)
    got = apply_weightings({"inverse_entropy": weighting}, WeightingData(ratings, None, 3))
    np.testing.assert_allclose(got["inverse_entropy"], [1.0, 1.0 / (1.0 + np.log(3))],
                               rtol=1e-6)
