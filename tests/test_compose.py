"""Composite rewards, pair margins and pairwise accuracy against NumPy float64 references."""

import jax
import numpy as np
import pytest

import encore_jax as ej
from encore_jax.compose import compose


def test_compose_matches_numpy(rng, maybe_jit):
    scores = rng.normal(size=(2, 64, 8)).astype(np.float32)
    weights = rng.dirichlet(np.ones(8)).astype(np.float32)
    got = maybe_jit(compose)(scores, weights)
    np.testing.assert_allclose(got, scores.astype(np.float64) @ weights, rtol=1e-5, atol=1e-6)


def test_compose_accepts_integer_ratings(rng):
    ratings = rng.integers(0, 5, size=(64, 8)).astype(np.int8)
    weights = np.full(8, 0.125, np.float32)
    np.testing.assert_allclose(compose(ratings, weights), ratings.mean(1), rtol=1e-6)


def test_pair_margins_matches_numpy_and_does_not_wrap_unsigned(rng, maybe_jit):
    chosen = rng.integers(0, 5, size=(64, 8)).astype(np.uint8)
    rejected = rng.integers(0, 5, size=(64, 8)).astype(np.uint8)
    weights = rng.dirichlet(np.ones(8)).astype(np.float32)
    got = maybe_jit(ej.pair_margins)(chosen, rejected, weights)
    expected = (chosen.astype(np.float64) - rejected) @ weights
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_pairwise_accuracy_tie_policies():
    margins = np.array([1.0, -1.0, 0.0, 0.0, 2.0], np.float32)
    assert float(ej.pairwise_accuracy(margins)) == pytest.approx(2 / 5)
    assert float(ej.pairwise_accuracy(margins, tie="half")) == pytest.approx(3 / 5)
    mask = np.array([True, True, False, False, True])
    assert float(ej.pairwise_accuracy(margins, mask=mask)) == pytest.approx(2 / 3)


def test_pairwise_accuracy_random_ties_is_keyed_and_unbiased():
    margins = np.zeros(20000, np.float32)
    a = ej.pairwise_accuracy(margins, tie="random", key=jax.random.key(3))
    b = ej.pairwise_accuracy(margins, tie="random", key=jax.random.key(3))
    assert float(a) == float(b)
    # Binomial(20000, 1/2) / 20000 has standard deviation 0.0035; 5 of them is 0.018.
    assert abs(float(a) - 0.5) < 0.018


# Bad inputs (and their documented results) are rows of the table in tests/test_reliability.py.
