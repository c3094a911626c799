"""ENCORE weights and the baseline weightings."""

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special
from hypothesis import given
from hypothesis import strategies as st
from strategies import NUM_RULES, rating_matrices

from encore_jax.entropy import rating_entropy
from encore_jax.weights import (
    encore_weights,
    entropy_weights,
    lowest_entropy_weights,
    random_weights,
    single_rule_weights,
    uniform_weights,
)

entropy_vectors = st.builds(
    lambda k, seed, scale: np.random.default_rng(seed).uniform(0, scale, k).astype(np.float32),
    st.sampled_from(NUM_RULES),
    st.integers(0, 2**32 - 1),
    st.sampled_from((0.1, 2.4, 50.0)),
)
temperatures = st.sampled_from((1e-3, 0.5, 2.0, 30.0))


@given(entropy_vectors, temperatures)
def test_entropy_weights_match_scipy_softmax(entropies, temperature):
    got = entropy_weights(entropies, temperature)
    expected = scipy.special.softmax(-entropies.astype(np.float64) / temperature)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


@given(entropy_vectors, temperatures)
def test_weights_are_a_probability_vector(entropies, temperature):
    w = np.asarray(entropy_weights(entropies, temperature))
    assert np.all(w >= 0)
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-6)
    # Lower entropy never gets less weight.
    order = np.argsort(entropies, kind="stable")
    assert np.all(np.diff(w[order]) <= 1e-7)


@given(entropy_vectors)
def test_infinite_temperature_limit_is_uniform(entropies):
    w = entropy_weights(entropies, 1e7)
    np.testing.assert_allclose(w, np.full(entropies.shape, 1 / entropies.size), rtol=1e-5)


@given(entropy_vectors)
def test_zero_temperature_limit_is_one_hot_on_lowest_entropy(entropies):
    gaps = np.diff(np.sort(entropies))
    # tau much smaller than the gap between the two lowest entropies: exp(-gap / tau) ~ 0.
    temperature = 1e-2 * gaps[0] if gaps.size else 1.0
    if gaps.size and gaps[0] < 1e-3:
        return  # an exact-enough tie: the limit splits mass, checked separately
    w = entropy_weights(entropies, temperature)
    np.testing.assert_allclose(w, np.eye(entropies.size)[np.argmin(entropies)], atol=1e-6)


def test_zero_temperature_limit_splits_exact_ties():
    w = entropy_weights(np.array([0.3, 0.3, 1.0], np.float32), 1e-6)
    np.testing.assert_allclose(w, [0.5, 0.5, 0.0], atol=1e-7)


@given(entropy_vectors, st.randoms(use_true_random=False))
def test_permuting_rules_permutes_weights(entropies, random):
    perm = np.array(random.sample(range(entropies.size), entropies.size))
    w = entropy_weights(entropies, 2.0)
    np.testing.assert_allclose(entropy_weights(entropies[perm], 2.0), w[perm], rtol=1e-6)


def test_weights_jit_and_eager_agree(maybe_jit):
    h = jnp.array([0.1, 1.0, 2.0])
    np.testing.assert_allclose(maybe_jit(entropy_weights)(h, 2.0),
                               scipy.special.softmax(-np.array([0.1, 1.0, 2.0]) / 2), rtol=1e-6)


def test_weights_vmap_over_leading_axis_equals_batched_call():
    h = jnp.array([[0.1, 1.0, 2.0], [2.0, 0.0, 0.5]])
    np.testing.assert_allclose(jax.vmap(entropy_weights)(h), entropy_weights(h), rtol=1e-6)


def test_large_entropy_over_temperature_is_nan_free_in_values_and_gradients():
    h = jnp.array([1e4, 2e4, 0.0])
    w = entropy_weights(h, 1e-3)
    np.testing.assert_allclose(w, [0.0, 0.0, 1.0])
    grad_h, grad_tau = jax.grad(lambda h, t: entropy_weights(h, t)[2], argnums=(0, 1))(h, 1e-3)
    assert np.all(np.isfinite(grad_h)) and np.isfinite(grad_tau)


@given(rating_matrices(with_mask=True))
def test_encore_weights_is_entropy_then_softmax(case):
    ratings, num_levels, mask = case
    entropies, weights = encore_weights(ratings, num_levels, mask=mask, temperature=2.0)
    np.testing.assert_array_equal(entropies, rating_entropy(ratings, num_levels, mask=mask))
    np.testing.assert_allclose(weights, entropy_weights(entropies, 2.0), rtol=1e-6)


def test_baselines():
    np.testing.assert_allclose(uniform_weights(4), [0.25] * 4)
    np.testing.assert_array_equal(single_rule_weights(3, 1), [0.0, 1.0, 0.0])
    np.testing.assert_allclose(
        lowest_entropy_weights(np.array([0.9, 0.1, 0.5, 0.1], np.float32), 2), [0, 0.5, 0, 0.5]
    )
    w = random_weights(jax.random.key(0), 5)
    assert w.shape == (5,) and np.all(w >= 0)
    np.testing.assert_allclose(w.sum(), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(w, random_weights(jax.random.key(0), 5))


def test_random_weights_have_the_dirichlet_mean():
    keys = jax.random.split(jax.random.key(1), 4000)
    draws = jax.vmap(lambda k: random_weights(k, 4, concentration=0.5))(keys)
    # Dirichlet(0.5 * 1_4): mean 1/4, variance (1/4)(3/4)/(2 + 1) = 1/16; 4000 draws give a
    # standard error of 0.25 / sqrt(4000) ~ 0.004, so 5 standard errors is 0.02.
    np.testing.assert_allclose(draws.mean(0), 0.25, atol=0.02)
    np.testing.assert_allclose(draws.var(0), 1 / 16, rtol=0.15)


# Bad inputs (and their documented results) are rows of the table in tests/test_reliability.py.
