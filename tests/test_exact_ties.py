"""Exact ties in composite margins (encore_jax.compose, encore_jax.selection.label_pairs).

A margin that is zero in exact arithmetic must come out as exactly 0.0 whatever the rule
order, dtype, or jit; a non-zero margin must have the exact margin's sign; and a true
margin may be reported as a tie only within the documented rounding threshold
``t = 2 (K + 1) u sum_k |w_k d_k|``. Oracles: exact integer arithmetic on the weights'
binary fractions (Python ints, no rounding) for signs and ties, NumPy float64 for values.
Plain ``w . d`` in float32 miscounts about two thirds of the exactly tied pairs on these
inputs (asserted below, so the tests are known to detect the bug).
"""

import math
from fractions import Fraction
from math import lcm

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import encore_jax as ej
from encore_jax.compose import _weighted_sum, margins_from_differences

NUM_PAIRS = 512
NUM_LEVELS = 5


def exact_margin_signs(diffs, weights):
    """sign(sum_k w_k d_k) per row, in exact arithmetic: every float weight is a binary
    fraction, so ``w = W / D`` with Python-int ``W`` and one power-of-two ``D``."""
    fractions = [Fraction(float(w)) for w in np.asarray(weights, np.float64)]
    denominator = lcm(*(f.denominator for f in fractions))
    scaled = np.array([f.numerator * (denominator // f.denominator) for f in fractions], object)
    margins = np.asarray(diffs).astype(np.int64).astype(object) @ scaled
    return np.sign(margins.astype(np.float64)).astype(np.int8), margins, denominator


def rounding_threshold(diffs, weights, dtype):
    """The documented tie threshold ``2 (K + 1) u sum_k |w_k d_k|`` (float64, no tiny term)."""
    unit_roundoff = np.finfo(dtype).eps / 2
    scale = np.abs(np.asarray(diffs, np.float64)) @ np.abs(np.asarray(weights, np.float64))
    return 2 * (diffs.shape[1] + 1) * unit_roundoff * scale


def integer_pairs(seed, num_rules, num_levels=NUM_LEVELS, num_pairs=NUM_PAIRS):
    """Uniform levels for the chosen responses; the rejected response re-rated on about
    ten of the rules (at least a tenth), so that many pairs tie through cancellation."""
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, num_levels, (num_pairs, num_rules)).astype(np.int8)
    redrawn = rng.random((num_pairs, num_rules)) < max(0.1, 10 / num_rules)
    fresh = rng.integers(0, num_levels, (num_pairs, num_rules)).astype(np.int8)
    return chosen, np.where(redrawn, fresh, chosen)


def equal_entropy_pairs(seed, num_groups, group_size, num_pairs=NUM_PAIRS, changed=0.1):
    """Ratings whose rules come in groups with identical level counts (so identical
    entropies and exactly equal ENCORE weights). Each group draws base (chosen, rejected)
    columns, the rejected one re-rated on a ``changed`` share of pairs; each member rates
    the base pairs in its own random order, so its differences are sparse and many pairs
    tie by cancellation within the groups."""
    rng = np.random.default_rng(seed)
    chosen, rejected = [], []
    for _ in range(num_groups):
        probs = rng.dirichlet(np.ones(NUM_LEVELS))
        base_chosen = rng.choice(NUM_LEVELS, size=num_pairs, p=probs)
        fresh = rng.choice(NUM_LEVELS, size=num_pairs, p=probs)
        base_rejected = np.where(rng.random(num_pairs) < changed, fresh, base_chosen)
        for _ in range(group_size):
            order = rng.permutation(num_pairs)
            chosen.append(base_chosen[order])
            rejected.append(base_rejected[order])
    return np.stack(chosen, axis=1).astype(np.int8), np.stack(rejected, axis=1).astype(np.int8)


def assert_certified(margins, diffs, weights, dtype):
    """Exact zeros are 0.0, non-zero signs are exact, values within the error bound of
    float64 NumPy, and a tie of a non-zero exact margin only within twice the threshold."""
    margins = np.asarray(margins)
    assert margins.dtype == dtype
    signs, _, _ = exact_margin_signs(diffs, weights)
    threshold = rounding_threshold(diffs, weights, dtype)
    np.testing.assert_array_equal(margins[signs == 0], 0.0)
    decided = margins != 0
    np.testing.assert_array_equal(np.sign(margins[decided]), signs[decided])
    reference = np.asarray(diffs, np.float64) @ np.asarray(weights, np.float64)
    # |fl(m) - m*| <= gamma_{K+1} S <= t / 2 in dtype, and float64 NumPy's own error is below
    # the same bound; a zeroed margin moved by at most t.
    np.testing.assert_array_less(np.abs(margins - reference), threshold + 1e-300)
    return signs


@pytest.mark.parametrize("num_rules", [10, 100])
@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
def test_uniform_weights_on_integer_ratings_tie_exactly(maybe_jit, num_rules, x64):
    with jax.enable_x64(x64):
        dtype = np.float64 if x64 else np.float32
        chosen, rejected = integer_pairs(num_rules, num_rules)
        diffs = chosen.astype(np.int64) - rejected
        weights = np.full(num_rules, 1 / num_rules, dtype)
        margins = maybe_jit(ej.pair_margins)(chosen, rejected, weights)
        signs = assert_certified(margins, diffs, weights, dtype)
        # Uniform weights: no true margin is within the threshold, so the ties are exactly
        # the integer ties and accuracy with tie="loss" is exact.
        np.testing.assert_array_equal(np.sign(np.asarray(margins)), signs)
        np.testing.assert_array_equal(signs == 0, diffs.sum(axis=1) == 0)
        assert float(ej.pairwise_accuracy(margins, tie="loss")) == pytest.approx(
            np.mean(diffs.sum(axis=1) > 0), abs=1e-12)
        # Precondition: many exact ties that need cancellation (not all differences zero).
        assert np.sum((signs == 0) & np.any(diffs != 0, axis=1)) >= 20


def test_plain_float_sum_miscounts_the_ties_these_tests_check():
    # The bug being guarded against, on the inputs of the tests above.
    chosen, rejected = integer_pairs(100, 100)
    diffs = chosen.astype(np.float32) - rejected.astype(np.float32)
    plain = np.asarray(_weighted_sum(diffs, np.full(100, 1 / 100, np.float32)))
    tied = diffs.sum(axis=1) == 0
    assert np.sum(plain[tied] != 0) > np.sum(tied) // 4


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
def test_equal_entropy_encore_weights_tie_exactly_in_any_rule_order(maybe_jit, x64):
    with jax.enable_x64(x64):
        dtype = np.float64 if x64 else np.float32
        num_groups, group_size = 2, 16
        chosen, rejected = equal_entropy_pairs(7, num_groups, group_size)
        calibration = np.concatenate([chosen, rejected])
        entropies, weights = ej.encore_weights(calibration, NUM_LEVELS, temperature=2.0)
        weights = np.asarray(weights).astype(dtype)
        groups = weights.reshape(num_groups, group_size)
        # Precondition: the groups' weights are exactly equal and differ between groups.
        assert np.all(groups == groups[:, :1]) and np.unique(groups[:, 0]).size == num_groups
        diffs = chosen.astype(np.int64) - rejected
        signs, _, _ = exact_margin_signs(diffs, weights)
        # Ties that need cancellation (not every difference zero), in number.
        assert np.sum((signs == 0) & np.any(diffs != 0, axis=1)) >= 10
        margins = np.asarray(maybe_jit(ej.pair_margins)(chosen, rejected, weights))
        assert_certified(margins, diffs, weights, dtype)
        rng = np.random.default_rng(0)
        for _ in range(3):
            order = rng.permutation(diffs.shape[1])
            permuted = np.asarray(maybe_jit(ej.pair_margins)(chosen[:, order],
                                                             rejected[:, order],
                                                             weights[order]))
            np.testing.assert_array_equal(permuted == 0, margins == 0)
            np.testing.assert_array_equal(np.sign(permuted), np.sign(margins))


def test_many_weightings_at_once_agree_with_one_at_a_time():
    chosen, rejected = integer_pairs(3, 100)
    diffs = chosen.astype(np.float32) - rejected.astype(np.float32)
    rng = np.random.default_rng(3)
    weights = np.stack([np.full(100, 0.01, np.float32), np.eye(100, dtype=np.float32)[4],
                        rng.dirichlet(np.ones(100)).astype(np.float32)])
    many = np.asarray(margins_from_differences(diffs, weights))
    assert many.shape == (3, NUM_PAIRS)
    for row, w in zip(many, weights, strict=True):
        assert_certified(row, diffs.astype(np.int64), w, np.float32)
        one = np.asarray(ej.pair_margins(chosen, rejected, w))
        np.testing.assert_array_equal(one == 0, row == 0)


@pytest.mark.parametrize("weighted", [False, True])
def test_label_pairs_ties_exactly_in_any_rule_order(maybe_jit, weighted):
    chosen, rejected = equal_entropy_pairs(11, 2, 16)
    num_rules = chosen.shape[1]
    _, weights = ej.encore_weights(np.concatenate([chosen, rejected]), NUM_LEVELS)
    weights = np.asarray(weights)
    selected = np.asarray(ej.select_rules(chosen, rejected, 8))
    diffs = np.where(selected, chosen.astype(np.int64) - rejected, 0)
    signs, _, _ = exact_margin_signs(diffs, weights if weighted else np.ones(num_rules))
    assert np.sum(signs == 0) >= 10
    label = maybe_jit(lambda a, b, s, w: ej.label_pairs(a, b, s, weights=w if weighted else None))
    labels = np.asarray(label(chosen, rejected, selected, weights))
    # Ties go to B; every other label is the exact sign (these weights leave no true margin
    # within the rounding threshold: asserted through the threshold below).
    threshold = rounding_threshold(diffs, weights if weighted else np.ones(num_rules),
                                   np.float32)
    _, exact, denominator = exact_margin_signs(diffs, weights if weighted else np.ones(num_rules))
    nonzero = signs != 0
    assert np.all(np.abs(exact[nonzero].astype(np.float64)) / denominator > 2 * threshold[nonzero])
    np.testing.assert_array_equal(labels, signs > 0)
    order = np.random.default_rng(1).permutation(num_rules)
    np.testing.assert_array_equal(
        label(chosen[:, order], rejected[:, order], selected[:, order], weights[order]), labels)


@st.composite
def integer_rating_cases(draw):
    """(chosen, rejected int8 [64, K], float32 weights [K]) with uniform, grouped-equal or
    arbitrary weights; K from a few sizes so that JAX compiles a handful of programs."""
    num_rules = draw(st.sampled_from((3, 12, 40)))
    num_levels = draw(st.sampled_from((2, 5, 11)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    chosen, rejected = integer_pairs(rng.integers(2**31), num_rules, num_levels, 64)
    kind = draw(st.sampled_from(("uniform", "grouped", "dirichlet")))
    if kind == "uniform":
        weights = np.full(num_rules, 1 / num_rules)
    elif kind == "grouped":
        values = rng.dirichlet(np.ones(3))
        weights = values[rng.integers(0, 3, num_rules)]
    else:
        weights = rng.dirichlet(np.ones(num_rules))
    return chosen, rejected, weights.astype(np.float32), kind


@given(integer_rating_cases())
def test_margins_are_certified_on_random_integer_ratings(case):
    chosen, rejected, weights, kind = case
    diffs = chosen.astype(np.int64) - rejected
    margins = np.asarray(ej.pair_margins(chosen, rejected, weights))
    signs = assert_certified(margins, diffs, weights, np.float32)
    if kind == "uniform":
        np.testing.assert_array_equal(np.sign(margins), signs)
    order = np.random.default_rng(0).permutation(weights.size)
    permuted = np.asarray(ej.pair_margins(chosen[:, order], rejected[:, order], weights[order]))
    assert_certified(permuted, diffs[:, order], weights[order], np.float32)


def test_too_many_rules_for_the_certificate_is_an_error():
    diffs = np.zeros((1, 2_000_000), np.float32)
    with pytest.raises(ValueError, match="too many to certify exact ties in float32"):
        margins_from_differences(diffs, np.ones(2_000_000, np.float32))


# --- No decided pair lost: the host re-check of flagged pairs (issue 19 item 6) ------------

def exact_signs_by_fsum(diffs, weights):
    """sign(sum_k w_k d_k) exactly: float32 x float32 products are exact in float64, and
    math.fsum rounds their sum correctly (zero only when the exact sum is zero)."""
    products = np.asarray(diffs, np.float64) * np.asarray(weights, np.float64)
    return np.sign([math.fsum(row) for row in products]).astype(np.int8)


def exact_sign_by_fraction(diff_row, weights):
    return np.sign(sum(Fraction(float(w)) * Fraction(float(d))
                       for w, d in zip(weights, diff_row, strict=True)))


@pytest.mark.parametrize(("num_rules", "num_pairs"), [(1000, 10_000), (3000, 4000)])
def test_continuous_float32_rules_lose_no_decided_pair(num_rules, num_pairs):
    rng = np.random.default_rng(num_rules)
    diffs = (rng.normal(size=(num_pairs, num_rules))
             - rng.normal(size=(num_pairs, num_rules))).astype(np.float32)
    weights = rng.dirichlet(np.ones(num_rules)).astype(np.float32)
    signs = exact_signs_by_fsum(diffs, weights)
    decided = signs != 0
    kernel = np.asarray(margins_from_differences(diffs, weights, recheck=False))
    margins = np.asarray(margins_from_differences(diffs, weights))
    # The kernel alone turns decided pairs into ties here (so the test can see the bug) ...
    flagged = np.flatnonzero(decided & (kernel == 0))
    assert len(flagged) > decided.sum() // 10_000
    # ... the re-check keeps at most 1 in 10,000 of them tied, with every sign exact.
    assert np.sum(decided & (margins == 0)) <= decided.sum() // 10_000
    np.testing.assert_array_equal(np.sign(margins), signs)
    # Independent exact oracle (rational arithmetic) on the pairs the kernel flagged.
    for i in flagged[:20]:
        assert np.sign(margins[i]) == exact_sign_by_fraction(diffs[i], weights)
    np.testing.assert_array_equal(margins[kernel != 0], kernel[kernel != 0])


def test_margins_below_the_rounding_bound_get_their_exact_sign():
    # d = (1, -1, +-2^-30) and (1, +-2^-140, -1): the exact margins +-2^-30 and +-2^-140
    # cancel below the rounding bound 2 (K + 1) u S ~ 1e-6 (S ~ 2); the last pair ties.
    weights = np.ones(3, np.float32)
    tiny = np.finfo(np.float32).tiny
    chosen = np.array([[1, 0, 2**-30], [1, 0, 0], [1, 2**-140, 0], [1, 0, 0], [1, 0, 0]],
                      np.float32)
    rejected = np.array([[0, 1, 0], [0, 1, 2**-30], [0, 0, 1], [0, 2**-140, 1], [0, 1, 0]],
                        np.float32)
    eager = np.asarray(ej.pair_margins(chosen, rejected, weights))
    np.testing.assert_array_equal(eager, [2**-30, -(2**-30), tiny, -tiny, 0.0])
    kernel = np.asarray(jax.jit(ej.pair_margins)(chosen, rejected, weights))
    np.testing.assert_array_equal(kernel, 0.0)  # under jit: the certificate's ties stand
    np.testing.assert_array_equal(
        np.asarray(ej.pair_margins(chosen, rejected, weights, recheck=False)), 0.0)


def test_many_weightings_are_rechecked_like_one():
    rng = np.random.default_rng(5)
    diffs = rng.normal(size=(256, 1000)).astype(np.float32)
    weights = rng.dirichlet(np.ones(1000), size=3).astype(np.float32)
    diffs[:8] = 0.0
    diffs[:8, :2] = [[1.0, -1.0]] * 8  # exact ties under weighting 1 (w_0 = w_1) only
    weights[1, 1] = weights[1, 0]
    many = np.asarray(margins_from_differences(diffs, weights))
    for row, w in zip(many, weights, strict=True):
        one = np.asarray(margins_from_differences(diffs, w))  # a GEMV: other rounding
        np.testing.assert_array_equal(np.sign(row), np.sign(one))
        np.testing.assert_array_equal(np.sign(row), exact_signs_by_fsum(diffs, w))
    np.testing.assert_array_equal(many[1, :8], 0.0)


def test_an_overflowing_margin_is_an_error_naming_the_pair_never_a_tie():
    big = np.finfo(np.float32).max / 2
    chosen = np.array([[1.0, 1.0], [big, big], [0.0, 0.0]], np.float32)
    rejected = np.array([[0.0, 0.0], [-big, -big], [0.0, 0.0]], np.float32)
    weights = np.ones(2, np.float32)
    with pytest.raises(ValueError, match="margin of pair 1 .*overflows float32"):
        ej.pair_margins(chosen, rejected, weights)
    with pytest.raises(ValueError, match=r"pair 1 \(weighting 1\).*overflows"):
        margins_from_differences(chosen - rejected / 2, np.stack([weights / 4, weights]))
    jitted = np.asarray(jax.jit(ej.pair_margins)(chosen, rejected, weights))
    assert np.isnan(jitted[1]) and jitted[0] == 2.0 and jitted[2] == 0.0
