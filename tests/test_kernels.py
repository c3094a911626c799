"""Every histogram formulation against a NumPy oracle, including the invariant that a level
outside ``0..L-1`` (reachable only under an outer jit, where the range check cannot run)
matches no bin."""

import functools

import jax
import numpy as np
import pytest

from encore_jax import entropy
from encore_jax.compose import compose, pair_margins
from encore_jax.entropy import rating_entropy, rating_histogram
from encore_jax.metrics.bootstrap import bootstrap_ci

CHUNK = entropy._CHUNK_ROWS

# (rows, dtype, L, low, high, masked) span the blocked kernel's paths: the reference for few
# compares; a chunk loop plus a ragged tail of 300 rows and of one row; a padded tail chunk
# alone. uint8 with L = 100 masks with the dtype maximum as sentinel; int8 with L = 130
# widens to int32.
CASES = [
    (500, np.int32, 5, -2, 7, True),
    (2 * CHUNK + 300, np.int8, 11, -3, 14, True),
    (CHUNK + 1, np.uint8, 100, 0, 256, True),
    (3000, np.int8, 130, -128, 128, False),
]


def oracle(ratings, num_levels, mask):
    """Per-rule np.bincount of the observed in-range entries."""
    levels = ratings.astype(np.int64)
    keep = (levels >= 0) & (levels < num_levels)
    if mask is not None:
        keep &= mask
    return np.stack([
        np.bincount(levels[keep[:, k], k], minlength=num_levels)
        for k in range(ratings.shape[1])
    ])


@pytest.mark.parametrize("name", sorted(entropy._HISTOGRAM_KERNELS))
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}x{np.dtype(c[1]).name}-L{c[2]}")
def test_kernel_matches_bincount_and_never_clips(name, case):
    rows, dtype, num_levels, low, high, masked = case
    rng = np.random.default_rng(rows)
    ratings = rng.integers(low, high, size=(rows, 6)).astype(dtype)
    mask = rng.random(ratings.shape) < 0.7 if masked else None
    kernel = jax.jit(functools.partial(entropy._HISTOGRAM_KERNELS[name], num_levels=num_levels))
    np.testing.assert_array_equal(kernel(ratings, mask), oracle(ratings, num_levels, mask))


def test_backend_dispatch():
    assert entropy._histogram_kernel_name(11, "cpu") == "blocked"
    assert entropy._histogram_kernel_name(entropy._BLOCKED_MAX_LEVELS + 1, "cpu") == "scatter"
    assert entropy._histogram_kernel_name(11, "gpu") == "compare"


def test_out_of_range_level_under_jit_poisons_entropy_on_the_fast_path():
    ratings = np.zeros((CHUNK + 5, 16), np.int32)  # above _SMALL_COMPARES: blocked kernel
    assert ratings.size * 11 > entropy._SMALL_COMPARES
    ratings[CHUNK + 2, 1] = 11  # in the ragged tail chunk
    ratings[7, 2] = -1  # in the chunk loop
    h = np.asarray(jax.jit(lambda r: rating_entropy(r, 11))(ratings))
    assert np.isnan(h[1]) and np.isnan(h[2])
    assert np.isfinite(np.delete(h, [1, 2])).all()


def test_value_checks_move_flags_not_the_data():
    """Device inputs are validated on the device: with implicit device-to-host transfers
    disallowed, the public calls succeed (the checks read one flag with an explicit
    ``jax.device_get``), and bad values are still named eagerly."""
    rng = np.random.default_rng(0)
    ratings = jax.device_put(rng.integers(0, 5, (300, 4)).astype(np.int8))
    scores = jax.device_put(rng.random((300, 4)).astype(np.float32))
    weights = jax.device_put(np.full(4, 0.25, np.float32))
    credit = jax.device_put((rng.random(300) < 0.6).astype(np.float32))
    with jax.transfer_guard_device_to_host("disallow"):
        rating_entropy(ratings, 5)
        rating_histogram(ratings, 5)
        compose(scores, weights)
        pair_margins(scores, scores, weights)
        bootstrap_ci(jax.random.key(0), credit, num_resamples=8)
        with pytest.raises(ValueError, match=r"ratings has level 7 at index \(3, 2\)"):
            rating_entropy(ratings.at[3, 2].set(7), 5)
        with pytest.raises(ValueError, match=r"scores contains nan at index \(5, 1\)"):
            compose(scores.at[5, 1].set(np.nan), weights)
        with pytest.raises(ValueError, match=r"rejected contains inf at index \(2, 0\)"):
            pair_margins(scores, scores.at[2, 0].set(np.inf), weights)


def test_a_zero_weight_still_catches_a_non_finite_score():
    """A zero weight may let a matrix kernel skip its column; the exact check then runs."""
    scores = np.ones((6, 3), np.float32)
    scores[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"scores contains nan at index \(4, 1\)"):
        compose(scores, np.array([0.5, 0.0, 0.5], np.float32))
    # Finite scores whose composite overflows are valid input: no error, inf out.
    big = np.full((2, 2), 3e38, np.float32)
    assert np.isinf(np.asarray(compose(big, np.ones(2, np.float32)))).all()
