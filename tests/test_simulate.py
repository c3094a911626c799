"""Simulated rule ensembles: closed forms against an independent NumPy computation, samples
against the closed forms within derived concentration bounds, jit / vmap behaviour, errors."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from encore_jax.entropy import rating_entropy
from encore_jax.simulate import rating_distributions, simulate_rule_ensemble

# One shape for every Monte Carlo example: JAX compiles the sampler once per L.
NUM_PAIRS = 4096
NUM_RULES = 4
# Failure probability allowed per assertion; with the union bounds below and 12 hypothesis
# examples per test the chance of a spurious failure is below 1e-4 per test run.
DELTA = 1e-6

informativeness_values = st.sampled_from((0.0, 0.3, 1.0, 2.5, 6.0))
spread_values = st.sampled_from((0.3, 1.0, 3.0, np.inf))
rule_parameters = st.tuples(
    st.lists(informativeness_values, min_size=NUM_RULES, max_size=NUM_RULES),
    st.lists(spread_values, min_size=NUM_RULES, max_size=NUM_RULES),
    st.sampled_from((2, 3, 5)),
    st.integers(0, 2**32 - 1),
)


def simulate(seed, beta, spread, num_levels=5):
    """Every ensemble in this file has the same shape, so each L compiles once."""
    return simulate_rule_ensemble(jax.random.key(seed), NUM_PAIRS, informativeness=beta,
                                     spread=spread, num_levels=num_levels)


def numpy_distributions(beta, spread, num_levels):
    """p(l | z) from the formula, in float64 with explicit loops (the oracle)."""
    centred = np.arange(num_levels) - (num_levels - 1) / 2
    out = []
    for z in (+1, -1):
        probs = np.empty((len(beta), num_levels))
        for k, (b, s) in enumerate(zip(beta, spread, strict=True)):
            envelope = 0.0 if np.isinf(s) else centred**2 / (2 * s**2)
            logits = 0.5 * b * z * centred - envelope
            w = np.exp(logits - logits.max())
            probs[k] = w / w.sum()
        out.append(probs)
    return out


def numpy_entropy_accuracy(p_chosen, p_rejected):
    entropy = scipy.stats.entropy(0.5 * (p_chosen + p_rejected), axis=-1)
    num_levels = p_chosen.shape[1]
    accuracy = np.zeros(p_chosen.shape[0])
    for u, v in itertools.product(range(num_levels), repeat=2):
        if u > v:
            accuracy += p_chosen[:, u] * p_rejected[:, v]
    return entropy, accuracy


@given(rule_parameters)
def test_closed_forms_match_numpy(params):
    beta, spread, num_levels, seed = params
    ens = simulate(seed, beta, spread, num_levels)
    p_chosen, p_rejected = numpy_distributions(beta, spread, num_levels)
    got_chosen, got_rejected = rating_distributions(beta, spread, num_levels)
    np.testing.assert_allclose(got_chosen, p_chosen, atol=1e-6)
    np.testing.assert_allclose(got_rejected, p_rejected, atol=1e-6)
    entropy, accuracy = numpy_entropy_accuracy(p_chosen, p_rejected)
    np.testing.assert_allclose(ens.entropy, entropy, atol=2e-6)
    np.testing.assert_allclose(ens.accuracy, accuracy, atol=2e-6)


@given(rule_parameters)
def test_rating_differences_follow_bradley_terry_with_weight_beta(params):
    # P(chosen=u, rejected=v) / P(chosen=v, rejected=u) = exp(beta (c_u - c_v)) exactly: the
    # population Bradley-Terry weight of each rule is its informativeness.
    beta, spread, num_levels, _ = params
    p_chosen, p_rejected = (np.asarray(p, np.float64) for p in rating_distributions(
        np.asarray(beta, np.float32), np.asarray(spread, np.float32), num_levels))
    centred = np.arange(num_levels) - (num_levels - 1) / 2
    for k in range(NUM_RULES):
        joint = np.outer(p_chosen[k], p_rejected[k])
        observed = joint > 1e-30
        log_ratio = np.log(np.where(observed, joint, 1)) - np.log(np.where(observed, joint.T, 1))
        expected = beta[k] * (centred[:, None] - centred[None, :])
        # float32 probabilities: the log of each entry carries relative error ~1e-6 except
        # for tiny ones; compare where both entries are well above the float32 floor.
        ok = (joint > 1e-20) & (joint.T > 1e-20)
        np.testing.assert_allclose(log_ratio[ok], expected[ok], atol=1e-3)


def test_pure_noise_rule_is_iid_uniform_with_maximum_entropy():
    beta, spread = np.zeros(NUM_RULES), np.full(NUM_RULES, np.inf)
    for num_levels in (2, 3, 5):
        ens = simulate(0, beta, spread, num_levels)
        p_chosen, p_rejected = rating_distributions(beta, spread, num_levels)
        uniform = np.full((NUM_RULES, num_levels), 1 / num_levels)
        np.testing.assert_allclose(p_chosen, uniform, rtol=1e-6)
        np.testing.assert_allclose(p_rejected, p_chosen)
        np.testing.assert_allclose(ens.entropy, np.log(num_levels), rtol=1e-6)
        # P(U > V) for i.i.d. uniform levels: (1 - P(U = V)) / 2 = (1 - 1/L) / 2.
        np.testing.assert_allclose(ens.accuracy, (1 - 1 / num_levels) / 2, rtol=1e-6)


def test_high_entropy_informative_rule_exists():
    # The counterexample of DESIGN §4: near-maximal entropy, yet well above chance.
    ens = simulate(0, [0.0, 1.0, 0.0, 0.0], [np.inf, np.inf, np.inf, np.inf])
    assert ens.entropy[1] > 0.98 * np.log(5)
    assert ens.accuracy[1] > ens.accuracy[0] + 0.3


def test_untilted_entropy_rises_with_spread():
    spread = np.geomspace(0.05, 50.0, 64).astype(np.float32)
    for num_levels in (3, 4, 7):
        p_chosen, p_rejected = rating_distributions(np.zeros_like(spread), spread, num_levels)
        entropy, _ = numpy_entropy_accuracy(np.asarray(p_chosen), np.asarray(p_rejected))
        assert np.all(np.diff(entropy) >= -1e-6)
        assert entropy[-1] <= np.log(num_levels) + 1e-6


@given(rule_parameters)
def test_samples_match_the_closed_forms(params):
    beta, spread, num_levels, seed = params
    ens = simulate(seed, beta, spread, num_levels)
    n = NUM_PAIRS
    chosen, rejected = np.asarray(ens.chosen), np.asarray(ens.rejected)
    p_chosen, p_rejected = numpy_distributions(beta, spread, num_levels)

    # Level frequencies: each is a mean of n i.i.d. indicators, so by Hoeffding
    # P(|f - p| >= t) <= 2 exp(-2 n t^2); a union bound over the 2 K L cells gives
    # t = sqrt(log(4 K L / DELTA) / (2 n)).
    t = np.sqrt(np.log(4 * NUM_RULES * num_levels / DELTA) / (2 * n))
    levels = np.arange(num_levels)
    f_chosen = (chosen[:, :, None] == levels).mean(axis=0)
    f_rejected = (rejected[:, :, None] == levels).mean(axis=0)
    assert np.max(np.abs(f_chosen - p_chosen)) <= t
    assert np.max(np.abs(f_rejected - p_rejected)) <= t

    # Accuracy: a mean of n i.i.d. indicators; Hoeffding with a union bound over K rules.
    t_acc = np.sqrt(np.log(2 * NUM_RULES / DELTA) / (2 * n))
    np.testing.assert_array_less(np.abs((chosen > rejected).mean(0) - ens.accuracy), t_acc)

    # Which response is preferred is a fair coin (Hoeffding, one mean).
    assert abs(np.asarray(ens.preferred_a).mean() - 0.5) <= np.sqrt(np.log(2 / DELTA) / (2 * n))

    # Entropy: the plug-in entropy of the pooled ratings of both responses estimates H(q),
    # q = (p_chosen + p_rejected) / 2. Cover & Thomas, Thm 17.3.3: if ||q_hat - q||_1 = theta
    # <= 1/2 then |H(q_hat) - H(q)| <= -theta log(theta / L). theta <= L t by the bound above.
    pooled = np.concatenate([chosen, rejected])
    estimate = rating_entropy(pooled, num_levels)
    q_hat = 0.5 * (f_chosen + f_rejected)
    theta = np.abs(q_hat - 0.5 * (p_chosen + p_rejected)).sum(axis=1)
    assert np.all(theta <= min(num_levels * t, 0.5))
    bound = np.where(theta > 0, -theta * np.log(np.maximum(theta, 1e-300) / num_levels), 0)
    assert np.all(np.abs(np.asarray(estimate) - np.asarray(ens.entropy)) <= bound + 1e-5)


def test_ratings_are_consistent_and_deterministic():
    beta, spread = [0.0, 2.0, 1.0, 0.5], [np.inf, 1.0, 3.0, 0.3]
    a, b, c = simulate(3, beta, spread), simulate(3, beta, spread), simulate(4, beta, spread)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.ratings_a, c.ratings_a)
    assert a.ratings_a.dtype == jnp.int32 and a.ratings_a.shape == (NUM_PAIRS, NUM_RULES)
    assert a.preferred_a.dtype == jnp.bool_ and a.num_levels == 5
    assert np.all((np.asarray(a.ratings_a) >= 0) & (np.asarray(a.ratings_a) < 5))
    pref = np.asarray(a.preferred_a)[:, None]
    np.testing.assert_array_equal(a.chosen, np.where(pref, a.ratings_a, a.ratings_b))
    np.testing.assert_array_equal(a.rejected, np.where(pref, a.ratings_b, a.ratings_a))


def test_jit_and_vmap_keep_num_levels_static():
    beta, spread = jnp.array([0.0, 1.0, 2.0, 0.5]), jnp.array([jnp.inf, 2.0, 1.0, 3.0])

    def sim(key, beta, spread):
        return simulate_rule_ensemble(key, NUM_PAIRS, informativeness=beta, spread=spread)

    eager = sim(jax.random.key(1), beta, spread)
    jitted = jax.jit(sim)(jax.random.key(1), beta, spread)
    assert jitted.num_levels == 5 and isinstance(jitted.num_levels, int)
    for x, y in zip(eager, jitted, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6)
    batched = jax.vmap(sim, in_axes=(0, None, None))(jax.random.split(jax.random.key(2), 3),
                                                     beta, spread)
    assert batched.ratings_a.shape == (3, NUM_PAIRS, NUM_RULES) and batched.num_levels == 5
    assert len(jax.tree_util.tree_leaves(batched)) == 5


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(informativeness=[-1.0], spread=[1.0]), ValueError, "informativeness has -1.0"),
        (dict(informativeness=[np.nan], spread=[1.0]), ValueError, "informativeness contains"),
        (dict(informativeness=[1.0], spread=[0.0]), ValueError, "spread has 0.0"),
        (dict(informativeness=[1.0], spread=[np.nan]), ValueError, "spread has nan"),
        (dict(informativeness=[1.0, 2.0], spread=[1.0]), ValueError, "shape"),
        (dict(informativeness=[[1.0]], spread=[[1.0]]), ValueError, r"\[K\]"),
        (dict(informativeness=[], spread=[]), ValueError, "no rules"),
        (dict(informativeness=["a"], spread=[1.0]), TypeError, "numeric"),
        (dict(informativeness=[1.0], spread=[1.0], num_levels=1), ValueError, "num_levels"),
    ],
)
def test_invalid_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        simulate_rule_ensemble(jax.random.key(0), 8, **kwargs)


def test_invalid_num_pairs_raise():
    with pytest.raises(ValueError, match="num_pairs"):
        simulate_rule_ensemble(jax.random.key(0), 0, informativeness=[1.0], spread=[1.0])
    with pytest.raises(TypeError, match="num_pairs"):
        simulate_rule_ensemble(jax.random.key(0), 8.0, informativeness=[1.0], spread=[1.0])
