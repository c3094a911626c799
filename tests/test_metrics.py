"""Evaluation metrics against independent references: NumPy loops over the documented
bootstrap draws, scipy.stats for the correlations, the hand-computed RewardBench example."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import encore_jax as ej
from encore_jax.metrics import REWARDBENCH_SAFETY_SUBSETS, RuleRow

N = 37  # odd and small: one compiled shape for most bootstrap tests
B = 64


def numpy_bootstrap(key, values, mask, num_resamples, statistic=np.mean):
    """Reference: the documented draws u_b = bits(fold_in(key, b), (N,)) mod n, first n."""
    values = np.asarray(values, np.float64)
    mask = np.ones(values.shape[-1], bool) if mask is None else np.asarray(mask)
    counted = values[..., mask]
    n = counted.shape[-1]
    reps = []
    for b in range(num_resamples):
        bits = np.asarray(jax.random.bits(jax.random.fold_in(key, b), (values.shape[-1],),
                                          jnp.uint32))
        draws = bits[:n].astype(np.int64) % n
        reps.append(statistic(counted[..., draws], axis=-1))
    return statistic(counted, axis=-1), np.stack(reps, axis=-1)


@pytest.mark.parametrize("tie", ["loss", "half"])
def test_pair_credit_is_the_summand_of_pairwise_accuracy(rng, tie):
    margins = rng.integers(-2, 3, size=(3, N)).astype(np.float32)
    credit = np.asarray(ej.pair_credit(margins, tie=tie))
    expected = np.where(margins > 0, 1.0, np.where(margins == 0, 0.5 if tie == "half" else 0, 0))
    np.testing.assert_array_equal(credit, expected)
    for row in range(3):
        assert credit[row].mean() == pytest.approx(float(ej.pairwise_accuracy(margins[row],
                                                                              tie=tie)))


@pytest.mark.parametrize("use_mask", [False, True])
def test_bootstrap_matches_a_numpy_loop_over_the_same_draws(rng, use_mask):
    values = (rng.random((2, N)) < 0.7).astype(np.float32)
    values[1] = rng.integers(0, 3, N) / 2  # credits 0, 1/2, 1
    mask = rng.random(N) < 0.6 if use_mask else None
    key = jax.random.key(7)
    ci = ej.bootstrap_ci(key, values, num_resamples=B, mask=mask, confidence=0.9)
    estimate, reps = numpy_bootstrap(key, values, mask, B)
    np.testing.assert_allclose(ci.estimate, estimate, rtol=1e-6)
    np.testing.assert_allclose(ci.replicates, reps, rtol=1e-6)
    low, high = np.percentile(reps, [5.0, 95.0], axis=-1)
    np.testing.assert_allclose(ci.low, low, rtol=1e-5)
    np.testing.assert_allclose(ci.high, high, rtol=1e-5)


def test_bootstrap_chunking_and_per_row_masks_do_not_change_the_draws(rng):
    # Shapes as in the test above ([2, N] values, [N] masks), so most kernels are reused.
    values = rng.random((2, N)).astype(np.float32)
    mask = rng.random(N) < 0.5
    key = jax.random.key(3)
    whole = ej.bootstrap_ci(key, values, num_resamples=B, mask=mask)
    # 7 does not divide 64: exercises lax.map's remainder. Same draws; only the float32
    # summation order may differ between vmap widths.
    chunked = ej.bootstrap_ci(key, values, num_resamples=B, mask=mask, batch_size=7)
    np.testing.assert_allclose(chunked.replicates, whole.replicates, rtol=1e-6)
    per_row = ej.bootstrap_ci(key, values, num_resamples=B, mask=np.broadcast_to(mask, (2, N)))
    np.testing.assert_allclose(per_row.replicates, whole.replicates, rtol=1e-6)
    unmasked = ej.bootstrap_ci(key, values, num_resamples=B)
    single = ej.bootstrap_ci(key, values[1], num_resamples=B)
    np.testing.assert_allclose(single.replicates, unmasked.replicates[1], rtol=1e-6)


def masked_second_moment(sample, valid):
    valid = jnp.broadcast_to(valid, sample.shape)
    return jnp.sum(jnp.where(valid, sample * sample, 0.0), -1) / jnp.sum(valid, -1).astype(
        sample.dtype)


def test_bootstrap_with_a_custom_statistic(rng):
    values = rng.normal(size=N).astype(np.float32)
    key = jax.random.key(11)
    ci = ej.bootstrap_ci(key, values, num_resamples=B, statistic=masked_second_moment)
    estimate, reps = numpy_bootstrap(key, values, None, B,
                                     statistic=lambda x, axis: np.mean(x * x, axis=axis))
    np.testing.assert_allclose(ci.estimate, estimate, rtol=1e-5)
    np.testing.assert_allclose(ci.replicates, reps, rtol=1e-5)


def test_bootstrap_of_a_constant_is_degenerate():
    ci = ej.bootstrap_ci(jax.random.key(0), np.full(N, 0.25, np.float32), num_resamples=B)
    assert float(ci.low) == float(ci.high) == float(ci.estimate) == 0.25


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mask": np.zeros(N, bool)}, ValueError, "counts no item"),
        ({"confidence": 1.0}, ValueError, "confidence"),
        ({"num_resamples": 0}, ValueError, "num_resamples"),
        ({"statistic": "median"}, ValueError, "statistic"),
        ({"mask": np.ones(N + 1, bool)}, ValueError, "mask has shape"),
        ({"mask": np.ones(N, np.int32)}, TypeError, "boolean"),
    ],
)
def test_bootstrap_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ej.bootstrap_ci(jax.random.key(0), np.ones(N, np.float32), **kwargs)
    with pytest.raises(ValueError, match="finite"):
        ej.bootstrap_ci(jax.random.key(0), np.array([1.0, np.nan], np.float32))


@pytest.mark.parametrize("seed", range(4))
def test_correlation_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    k = (10, 10, 25, 10)[seed]  # 10 rules as in the paper (and the demo: one compilation)
    entropies = rng.normal(size=k)
    accuracies = -0.7 * entropies + rng.normal(size=k)
    if seed == 3:  # ties in both variables (average ranks)
        entropies, accuracies = np.round(entropies), np.round(accuracies * 2) / 2
    h, a = entropies.astype(np.float32), accuracies.astype(np.float32)
    got = ej.entropy_accuracy_correlation(h, a, confidence=0.9)
    pearson = scipy.stats.pearsonr(h.astype(np.float64), a.astype(np.float64))
    spearman = scipy.stats.spearmanr(h.astype(np.float64), a.astype(np.float64))
    # float32 against float64: r to ~1e-6 relative; p-values through betainc to ~1e-4.
    assert float(got.pearson) == pytest.approx(pearson.statistic, rel=1e-4, abs=1e-6)
    assert float(got.pearson_pvalue) == pytest.approx(pearson.pvalue, rel=1e-3, abs=1e-7)
    low, high = pearson.confidence_interval(0.9)
    assert float(got.pearson_low) == pytest.approx(low, rel=1e-4, abs=1e-6)
    assert float(got.pearson_high) == pytest.approx(high, rel=1e-4, abs=1e-6)
    assert float(got.spearman) == pytest.approx(spearman.statistic, rel=1e-4, abs=1e-6)
    assert float(got.spearman_pvalue) == pytest.approx(spearman.pvalue, rel=1e-3, abs=1e-7)
    # Spearman interval: Fisher z with the Fieller-Hartley-Pearson variance 1.06 / (n - 3).
    z, half = math.atanh(spearman.statistic), scipy.stats.norm.ppf(0.95) * math.sqrt(1.06 / (k - 3))
    assert float(got.spearman_low) == pytest.approx(math.tanh(z - half), rel=1e-4, abs=1e-6)
    assert float(got.spearman_high) == pytest.approx(math.tanh(z + half), rel=1e-4, abs=1e-6)
    assert got.num_rules == k


def test_correlation_rejects_degenerate_input():
    with pytest.raises(ValueError, match="constant"):
        ej.entropy_accuracy_correlation(np.ones(5, np.float32), np.arange(5, dtype=np.float32))
    with pytest.raises(ValueError, match="at least 3"):
        ej.entropy_accuracy_correlation(np.arange(2.0), np.arange(2.0))
    with pytest.raises(ValueError, match="shape"):
        ej.entropy_accuracy_correlation(np.arange(4.0), np.arange(5.0))


# The worked example of the issue. By hand, with (dangerous, offensive, should-refuse,
# should-respond, donotanswer) accuracies (0.97, 1.0, 1.0, 0.284, 0.8235):
#   v1 counts (100, 100, 154, 250, 136):
#     (97 + 100 + 154 + 71 + 111.996) / 740 = 533.996 / 740 = 0.721616...  -> 72.16
#   swapped XSTest counts (100, 100, 250, 154, 136):
#     (97 + 100 + 250 + 43.736 + 111.996) / 740 = 602.732 / 740 = 0.814503... -> 81.45
EXAMPLE = dict(zip(REWARDBENCH_SAFETY_SUBSETS, (0.97, 1.0, 1.0, 0.284, 0.8235), strict=True))


def test_rewardbench_safety_hand_computed_example():
    current = ej.rewardbench_safety(EXAMPLE)
    assert round(100 * float(current.score), 2) == 72.16
    assert current.counts_version == "v1"
    assert sum(current.counts.values()) == 740
    assert current.counts["xstest-should-refuse"] == 154
    swapped = ej.rewardbench_safety(EXAMPLE, counts="v1-xstest-swapped")
    assert round(100 * float(swapped.score), 2) == 81.45
    assert swapped.counts_version == "v1-xstest-swapped"
    assert (swapped.counts["xstest-should-refuse"], swapped.counts["xstest-should-respond"]) == (
        250, 154)


def test_rewardbench_safety_arrays_custom_counts_and_errors():
    replicates = {s: np.full(3, v, np.float32) for s, v in EXAMPLE.items()}
    scores = ej.rewardbench_safety({**replicates, "alpacaeval-easy": np.zeros(3, np.float32)})
    np.testing.assert_allclose(scores.score, np.full(3, 533.996 / 740), rtol=1e-6)
    equal = ej.rewardbench_safety(EXAMPLE, counts=dict.fromkeys(REWARDBENCH_SAFETY_SUBSETS, 1))
    assert equal.counts_version == "custom"
    assert float(equal.score) == pytest.approx(np.mean(list(EXAMPLE.values())), rel=1e-6)
    with pytest.raises(ValueError, match="lacks the safety subset"):
        ej.rewardbench_safety({"donotanswer": 0.5})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ej.rewardbench_safety({**EXAMPLE, "donotanswer": 82.35})
    with pytest.raises(ValueError, match="counts must be one of"):
        ej.rewardbench_safety(EXAMPLE, counts="v2")


def test_rule_summary_matches_a_numpy_loop(rng):
    n, k, levels = 60, 4, 5
    chosen = rng.integers(0, levels, (n, k)).astype(np.int32)
    rejected = rng.integers(0, levels, (n, k)).astype(np.int32)
    chosen_mask = rng.random((n, k)) < 0.9
    rejected_mask = rng.random((n, k)) < 0.9
    bt = np.array([-1.0, 0.0, 1.0, 2.0], np.float32)
    rows = ej.rule_summary(chosen, rejected, levels, chosen_mask=chosen_mask,
                           rejected_mask=rejected_mask, rule_names=list("abcd"),
                           bt_weights=bt, tie="half")
    pooled = np.concatenate([chosen, rejected])
    pooled_mask = np.concatenate([chosen_mask, rejected_mask])
    for j, row in enumerate(rows):
        both = chosen_mask[:, j] & rejected_mask[:, j]
        d = chosen[both, j] - rejected[both, j]
        accuracy = np.mean(np.where(d > 0, 1.0, np.where(d == 0, 0.5, 0.0)))
        counts = np.bincount(pooled[pooled_mask[:, j], j], minlength=levels)
        p = counts[counts > 0] / counts.sum()
        entropy = -np.sum(p * np.log(p))
        assert row.rule == "abcd"[j]
        assert row.coverage == pytest.approx(both.mean())
        assert row.accuracy == pytest.approx(accuracy, rel=1e-6)
        assert row.entropy == pytest.approx(entropy, rel=1e-5)
        assert row.normalized_entropy == pytest.approx(entropy / np.log(levels), rel=1e-5)
        assert row.bt_weight == bt[j]
        assert row.accuracy_low is None
    assert rows[0].to_dict()["rule"] == "a" and list(rows[0].to_dict()) == list(RuleRow._fields)
    entropies = np.array([r.entropy for r in rows])
    weights = np.exp(-entropies / 2) / np.exp(-entropies / 2).sum()
    np.testing.assert_allclose([r.encore_weight for r in rows], weights, rtol=1e-5)


def test_rule_summary_flags_strong_rank_disagreement(rng):
    chosen = rng.integers(0, 3, (32, 4)).astype(np.int32)
    rejected = rng.integers(0, 3, (32, 4)).astype(np.int32)
    # Entropy ranks 1..4; BT ranks 4..1 (largest weight last). Gaps 3, 1, 1, 3 against the
    # threshold 0.5 * (K - 1) = 1.5: the two extreme rules are flagged.
    rows = ej.rule_summary(chosen, rejected, 3, entropies=np.array([0.1, 0.2, 0.3, 0.4]),
                           bt_weights=np.array([-1.0, 0.0, 1.0, 2.0]))
    assert [r.entropy_rank for r in rows] == [1, 2, 3, 4]
    assert [r.bt_rank for r in rows] == [4, 3, 2, 1]
    assert [r.rank_disagreement for r in rows] == [True, False, False, True]
    unflagged = ej.rule_summary(chosen, rejected, 3, entropies=np.array([0.1, 0.2, 0.3, 0.4]),
                                bt_weights=np.array([2.0, 1.0, 0.0, -1.0]))
    assert not any(r.rank_disagreement for r in unflagged)
    with pytest.raises(ValueError, match="rated no pair"):
        ej.rule_summary(chosen, rejected, 3, chosen_mask=np.zeros((32, 4), bool))


def test_shape_annotations_hold_at_run_time(rng):
    import beartype
    from jaxtyping import jaxtyped

    def checked(fn):
        return jaxtyped(typechecker=beartype.beartype)(fn)

    values = rng.random((2, N)).astype(np.float32)
    checked(ej.pair_credit)(values - 0.5, tie="half")
    checked(ej.bootstrap_ci)(jax.random.key(0), values, num_resamples=B, mask=rng.random(N) < 0.5)
    checked(ej.entropy_accuracy_correlation)(rng.random(10).astype(np.float32),
                                              rng.random(10).astype(np.float32))
    ratings = rng.integers(0, 3, (N, 4)).astype(np.int32)
    checked(ej.rule_summary)(ratings, ratings[::-1], 3)
