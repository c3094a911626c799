"""Histograms, binning and entropy estimators against NumPy / SciPy oracles."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st
from strategies import blocked_rating_matrices, rating_matrices

from encore_jax import entropy as entropy_module
from encore_jax.entropy import discretize, entropy_from_counts, rating_entropy, rating_histogram


def numpy_histogram(ratings, num_levels, mask=None):
    """Float64-free oracle: one np.bincount per rule over the observed entries."""
    mask = np.ones(ratings.shape, bool) if mask is None else mask
    return np.stack(
        [np.bincount(ratings[mask[:, k], k], minlength=num_levels) for k in range(ratings.shape[1])]
    )


def numpy_entropy(counts, estimator="plugin", base=None):
    """Float64 reference: scipy.stats.entropy per row, plus the Miller-Madow term."""
    counts = np.asarray(counts, np.float64)
    h = scipy.stats.entropy(counts, axis=-1)
    if estimator == "miller_madow":
        h = h + ((counts > 0).sum(-1) - 1) / (2 * counts.sum(-1))
    return h / np.log(base) if base else h


@given(rating_matrices(with_mask=True))
def test_histogram_matches_bincount(case):
    ratings, num_levels, mask = case
    got = rating_histogram(ratings, num_levels, mask=mask)
    np.testing.assert_array_equal(got, numpy_histogram(ratings, num_levels, mask))
    assert got.dtype == jnp.int32


def reaches_blocked_kernel(ratings, num_levels):
    """The blocked CPU kernel runs (not its small-input fallback) for this shape on the
    backend the tests run on (CPU: other backends use the reference kernel)."""
    n, k = ratings.shape
    return (entropy_module._histogram_kernel_name(num_levels) == "blocked"
            and n >= entropy_module._BLOCK_ROWS
            and n * k * num_levels > entropy_module._SMALL_COMPARES)


@given(blocked_rating_matrices(with_mask=True))
def test_blocked_kernel_histogram_matches_bincount(case):
    # Shapes past the blocked kernel's threshold, with ragged tails (tests/strategies.py);
    # the oracle is one np.bincount per rule.
    ratings, num_levels, mask = case
    assert reaches_blocked_kernel(ratings, num_levels)
    got = rating_histogram(ratings, num_levels, mask=mask)
    expected = numpy_histogram(ratings.astype(np.int64), num_levels, mask)
    np.testing.assert_array_equal(got, expected)


@given(blocked_rating_matrices(with_mask=True))
def test_blocked_kernel_entropy_matches_scipy(case):
    # Plug-in only: the estimators differ after the counts (covered on small shapes above).
    ratings, num_levels, mask = case
    assert reaches_blocked_kernel(ratings, num_levels)
    got = rating_entropy(ratings, num_levels, mask=mask)
    expected = numpy_entropy(numpy_histogram(ratings.astype(np.int64), num_levels, mask))
    # float32 entropy of exact counts: a sum of L terms p log p, each with a few float32 ulps
    # of relative error; the tolerances are those of the small-shape test above.
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int64])
def test_histogram_accepts_every_integer_dtype(dtype, rng):
    ratings = rng.integers(0, 11, size=(64, 3)).astype(dtype)
    np.testing.assert_array_equal(
        rating_histogram(ratings, 11), numpy_histogram(ratings.astype(np.int64), 11)
    )


@given(rating_matrices(with_mask=True), st.sampled_from(["plugin", "miller_madow"]),
       st.sampled_from([None, 2]))
def test_rating_entropy_matches_scipy(case, estimator, base):
    ratings, num_levels, mask = case
    got = rating_entropy(ratings, num_levels, mask=mask, estimator=estimator, base=base)
    expected = numpy_entropy(numpy_histogram(ratings, num_levels, mask), estimator, base)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@given(rating_matrices())
def test_plugin_entropy_is_between_zero_and_log_levels(case):
    ratings, num_levels, _ = case
    h = np.asarray(rating_entropy(ratings, num_levels))
    assert np.all(h >= 0)
    assert np.all(h <= np.log(num_levels) * (1 + 1e-6))


def test_entropy_jit_and_eager_agree(maybe_jit, rng):
    ratings = rng.integers(0, 5, size=(64, 8)).astype(np.int32)
    mask = rng.random((64, 8)) < 0.7
    got = maybe_jit(lambda r, m: rating_entropy(r, 5, mask=m))(ratings, mask)
    expected = numpy_entropy(numpy_histogram(ratings, 5, mask))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@given(rating_matrices(with_mask=True))
def test_mask_equals_slicing(case):
    ratings, num_levels, mask = case
    masked = rating_entropy(ratings, num_levels, mask=mask)
    for k in range(ratings.shape[1]):
        sliced = rating_entropy(ratings[mask[:, k], k : k + 1], num_levels)
        np.testing.assert_allclose(masked[k], sliced[0], rtol=1e-6, atol=1e-7)


@given(rating_matrices(), st.randoms(use_true_random=False))
def test_permuting_rules_permutes_entropies(case, random):
    ratings, num_levels, _ = case
    perm = np.array(random.sample(range(ratings.shape[1]), ratings.shape[1]))
    h = rating_entropy(ratings, num_levels)
    np.testing.assert_array_equal(rating_entropy(ratings[:, perm], num_levels), h[perm])


def test_entropy_is_vmappable_over_a_leading_axis(rng):
    batch = rng.integers(0, 5, size=(4, 64, 3)).astype(np.int32)
    got = jax.vmap(lambda r: rating_entropy(r, 5))(batch)
    for b in range(4):
        np.testing.assert_allclose(got[b], rating_entropy(batch[b], 5), rtol=1e-6)


def test_entropy_from_counts_known_values():
    counts = np.array([[5, 5, 0, 0], [10, 0, 0, 0], [1, 1, 1, 1]])
    np.testing.assert_allclose(
        entropy_from_counts(counts), [np.log(2), 0.0, np.log(4)], rtol=1e-6, atol=1e-7
    )
    np.testing.assert_allclose(entropy_from_counts(counts, base=2), [1.0, 0.0, 2.0], rtol=1e-6)
    # Miller-Madow adds (m - 1) / (2 n): m observed bins, n observations.
    np.testing.assert_allclose(
        entropy_from_counts(counts, estimator="miller_madow"),
        [np.log(2) + 1 / 20, 0.0, np.log(4) + 3 / 8],
        rtol=1e-6,
        atol=1e-7,
    )


def test_entropy_stable_for_huge_counts():
    counts = np.array([[1e12, 1e12, 0.0], [1e12, 1.0, 1.0]], np.float32)
    h = entropy_from_counts(counts)
    np.testing.assert_allclose(h, numpy_entropy(counts), rtol=1e-4, atol=1e-7)


def test_entropy_gradient_is_finite_with_empty_bins():
    counts = jnp.array([[3.0, 0.0, 1.0], [0.0, 0.0, 7.0]])
    grads = jax.grad(lambda c: entropy_from_counts(c).sum())(counts)
    assert np.all(np.isfinite(grads))
    # Oracle for the observed bins: dH/dc_l = -(log p_l + H) / n.
    p = np.array([0.75, 0.25])
    h = -(p * np.log(p)).sum()
    np.testing.assert_allclose(grads[0, [0, 2]], -(np.log(p) + h) / 4, rtol=1e-5)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [([0.0, 0.2499, 0.25, 0.5, 0.9999, 1.0], [0, 0, 1, 2, 3, 3])],
)
def test_discretize_bin_edges(scores, expected):
    np.testing.assert_array_equal(discretize(np.array(scores, np.float32), 4), expected)


@given(st.integers(0, 2**32 - 1), st.sampled_from(NUM_LEVELS := (2, 5, 11)))
def test_discretize_matches_numpy_digitize(seed, num_levels):
    scores = np.random.default_rng(seed).uniform(-3.0, 5.0, size=64).astype(np.float32)
    edges = np.linspace(-3.0, 5.0, num_levels + 1, dtype=np.float32)[1:-1]
    got = discretize(scores, num_levels, low=-3.0, high=5.0)
    # Float32 edge rounding can move a score sitting on an edge; allow that, nothing more.
    expected = np.digitize(scores, edges)
    on_edge = np.isclose(scores[:, None], edges[None], atol=1e-5).any(-1)
    np.testing.assert_array_equal(np.asarray(got)[~on_edge], expected[~on_edge])


def test_discretize_under_jit_marks_invalid_levels():
    got = jax.jit(lambda s: discretize(s, 4))(jnp.array([-0.5, 0.5, 1.5, jnp.nan]))
    np.testing.assert_array_equal(got, [-1, 2, 4, -1])


def test_out_of_range_levels_poison_entropy_under_jit():
    ratings = jnp.array([[0, 1], [1, 7], [2, 0]], jnp.int32)
    h = jax.jit(lambda r: rating_entropy(r, 3))(ratings)
    assert np.isfinite(h[0]) and np.isnan(h[1])


# Bad inputs (and their documented results) are rows of the table in tests/test_reliability.py.
