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
from encore_jax.metrics.accuracy import pair_credit
from encore_jax.metrics.correlation import entropy_accuracy_correlation
from encore_jax.metrics.rewardbench import rewardbench_safety
from encore_jax.metrics.summary import rule_summary

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
    credit = np.asarray(pair_credit(margins, tie=tie))
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
    ci = ej.bootstrap_ci(key, values, num_resamples=B, mask=mask, confidence=0.9,
                         method="draws")
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
    draws = {"num_resamples": B, "method": "draws"}
    whole = ej.bootstrap_ci(key, values, mask=mask, **draws)
    # 7 does not divide 64: exercises lax.map's remainder. Same draws; only the float32
    # summation order may differ between vmap widths.
    chunked = ej.bootstrap_ci(key, values, mask=mask, batch_size=7, **draws)
    np.testing.assert_allclose(chunked.replicates, whole.replicates, rtol=1e-6)
    per_row = ej.bootstrap_ci(key, values, mask=np.broadcast_to(mask, (2, N)), **draws)
    np.testing.assert_allclose(per_row.replicates, whole.replicates, rtol=1e-6)
    unmasked = ej.bootstrap_ci(key, values, **draws)
    single = ej.bootstrap_ci(key, values[1], **draws)
    np.testing.assert_allclose(single.replicates, unmasked.replicates[1], rtol=1e-6)


def masked_second_moment(sample, valid):
    valid = jnp.broadcast_to(valid, sample.shape)
    return jnp.sum(jnp.where(valid, sample * sample, 0.0), -1) / jnp.sum(valid, -1).astype(
        sample.dtype)


def test_bootstrap_with_a_custom_statistic(rng):
    values = rng.normal(size=N).astype(np.float32)
    key = jax.random.key(11)
    ci = ej.bootstrap_ci(key, values, num_resamples=B, statistic=masked_second_moment)
    assert ci.replicates.shape == (B,)  # a custom statistic always takes the item draws
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


# --- The exact multinomial bootstrap (method="cells") --------------------------------------
# Bounds are derived, not tuned: a two-sample Kolmogorov-Smirnov distance between B1 and B2
# replicates of the same distribution exceeds sqrt(-ln(alpha / 2) / 2) sqrt((B1 + B2) /
# (B1 B2)) with probability at most alpha (asymptotically; conservative for the discrete
# replicate distributions here); alpha = 1e-3. The keys are fixed, so each test is
# deterministic; the bound says how unlikely a failure of a correct sampler is.
ALPHA = 1e-3
MANY = 4000  # resamples in the distribution tests


def ks_bound(b1: int, b2: int, alpha: float = ALPHA) -> float:
    return math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((b1 + b2) / (b1 * b2))


def ks_distance(x: np.ndarray, y: np.ndarray) -> float:
    # Replicates are means on a lattice (k / n); float32 and float64 round a lattice point
    # differently, which would split its mass between neighbouring grid points: compare at
    # 5 decimals (every lattice here is coarser than 1e-4).
    x, y = np.round(np.asarray(x, np.float64), 5), np.round(np.asarray(y, np.float64), 5)
    grid = np.union1d(x, y)
    fx = np.searchsorted(np.sort(x), grid, side="right") / len(x)
    fy = np.searchsorted(np.sort(y), grid, side="right") / len(y)
    return float(np.max(np.abs(fx - fy)))


def test_cell_counts_follow_the_exact_multinomial():
    # Values 0, 1, 10 on n = 5 items: 5 * mean = Y_1 + 10 Y_10 identifies the cell counts,
    # whose law is Multinomial(5, (2, 2, 1) / 5). Pearson's chi-square over all outcomes
    # against scipy's pmf, bounded by the chi-square quantile at 1 - ALPHA.
    values = np.array([0.0, 1.0, 10.0, 1.0, 0.0], np.float32)
    ci = ej.bootstrap_ci(jax.random.key(1), values, num_resamples=MANY, method="cells")
    totals = np.rint(np.asarray(ci.replicates, np.float64) * 5).astype(int)
    outcomes = [(y1, y10) for y10 in range(6) for y1 in range(6 - y10)]
    observed = np.array([np.sum(totals == y1 + 10 * y10) for y1, y10 in outcomes])
    assert observed.sum() == MANY  # every replicate is one of the outcomes
    expected = MANY * np.array([scipy.stats.multinomial.pmf([5 - y1 - y10, y1, y10], 5,
                                                            [0.4, 0.4, 0.2])
                                for y1, y10 in outcomes])
    chi2 = float(np.sum((observed - expected) ** 2 / expected))
    assert chi2 <= scipy.stats.chi2.ppf(1 - ALPHA, len(outcomes) - 1), chi2


def test_cells_variance_is_exact_at_five_million_units():
    # 5e6 credits, a share p = 0.3 of ones: the replicate of the mean is Y / n with
    # Y ~ Binomial(n, p), so its variance is p (1 - p) / n exactly. The sample variance of B
    # replicates (nearly normal at this n) has relative standard error sqrt(2 / (B - 1));
    # the bound is the normal quantile at 1 - ALPHA / 2 times that. (A single float32
    # binomial draw of n = 5e6 gave 1-3 % too much variance: benchmarks/results/
    # bootstrap_exactness.json; the split draw of metrics/_cells.py fixes it.)
    from encore_jax.metrics import _cells
    from encore_jax.metrics.bootstrap import bootstrap_ci

    n, p, resamples = 5_000_000, 0.3, 4000
    values = np.zeros(n, np.float32)
    values[: int(n * p)] = 1.0
    assert _cells.pieces_for(n) > 1  # the split draw is in use
    ci = bootstrap_ci(jax.random.key(11), values, num_resamples=resamples, method="cells")
    replicates = np.asarray(ci.replicates, np.float64)
    z = scipy.stats.norm.ppf(1 - ALPHA / 2)
    variance = p * (1 - p) / n
    ratio = replicates.var(ddof=1) / variance
    assert abs(ratio - 1) <= z * math.sqrt(2 / (resamples - 1)), ratio
    assert abs(replicates.mean() - p) <= z * math.sqrt(variance / resamples)
    # Counts are whole numbers of units: n * replicate is an integer.
    counts = replicates * n
    np.testing.assert_allclose(counts, np.rint(counts), atol=0.5)


def test_cells_agree_in_distribution_with_the_item_draws(rng):
    # Paired rows: a credit row, a second credit row and their paired difference.
    a = rng.integers(0, 3, 400) / 2
    b = np.where(rng.random(400) < 0.7, a, rng.integers(0, 3, 400) / 2)
    values = np.stack([a, b, a - b]).astype(np.float32)
    key = jax.random.key(5)
    fast = ej.bootstrap_ci(key, values, num_resamples=MANY, method="cells")
    slow = ej.bootstrap_ci(jax.random.key(6), values, num_resamples=MANY, method="draws")
    np.testing.assert_allclose(fast.estimate, values.mean(axis=1), rtol=1e-6, atol=1e-7)
    for row in range(3):
        d = ks_distance(np.asarray(fast.replicates[row]), np.asarray(slow.replicates[row]))
        assert d <= ks_bound(MANY, MANY), (row, d)
    # Paired: the rows share each resample, so row 0 - row 1 is the difference row's
    # replicate (up to float32 rounding of the sums).
    np.testing.assert_allclose(fast.replicates[0] - fast.replicates[1], fast.replicates[2],
                               atol=1e-5)


def test_auto_uses_cells_for_few_values_and_draws_otherwise(rng):
    key = jax.random.key(2)
    credits = (rng.random(N) < 0.6).astype(np.float32)
    auto = ej.bootstrap_ci(key, credits, num_resamples=B)
    np.testing.assert_array_equal(
        auto.replicates, ej.bootstrap_ci(key, credits, num_resamples=B, method="cells").replicates)
    continuous = rng.normal(size=(2, 100)).astype(np.float32)  # 100 > MAX_CELLS cells
    auto = ej.bootstrap_ci(key, continuous, num_resamples=B)
    np.testing.assert_array_equal(
        auto.replicates,
        ej.bootstrap_ci(key, continuous, num_resamples=B, method="draws").replicates)
    with pytest.raises(ValueError, match="method='cells' needs at most"):
        ej.bootstrap_ci(key, continuous, num_resamples=B, method="cells")


def numpy_stratified(values, strata, num_resamples, seed):
    """Reference: each stratum resamples its own items with replacement; mean of all."""
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    reps = np.empty(num_resamples)
    for b in range(num_resamples):
        drawn = np.concatenate([values[rng.choice(g, len(g))] for g in groups])
        reps[b] = drawn.mean()
    return reps


def numpy_clustered(values, clusters, num_resamples, seed):
    """Reference: resample whole clusters with replacement; resampled items' mean."""
    rng = np.random.default_rng(seed)
    ids = np.unique(clusters)
    sums = np.array([values[clusters == c].sum() for c in ids])
    sizes = np.array([np.sum(clusters == c) for c in ids])
    reps = np.empty(num_resamples)
    for b in range(num_resamples):
        pick = rng.integers(0, len(ids), len(ids))
        reps[b] = sums[pick].sum() / sizes[pick].sum()
    return reps


@pytest.mark.parametrize("method", ["cells", "draws"])
def test_stratified_bootstrap_matches_numpy(rng, method):
    # Three strata of unequal sizes and accuracies (as RewardBench subsets).
    strata = np.repeat([0, 1, 2], [50, 120, 30])
    credit = (rng.random(200) < np.array([0.9, 0.6, 0.3])[strata]).astype(np.float32)
    ci = ej.bootstrap_ci(jax.random.key(8), credit, num_resamples=MANY, strata=strata,
                         method=method)
    reference = numpy_stratified(credit, strata, MANY, seed=8)
    assert ks_distance(np.asarray(ci.replicates), reference) <= ks_bound(MANY, MANY)
    # Closed form: Var T* = sum_s (n_s / n)^2 sigma_s^2 / n_s (sigma_s^2 with ddof 0). The
    # replicate variance has relative standard error ~ sqrt(2 / (B - 1)); 5 of them.
    n = len(credit)
    exact = sum((np.sum(strata == s) / n) ** 2 * credit[strata == s].var() / np.sum(strata == s)
                for s in range(3))
    got = float(np.var(np.asarray(ci.replicates, np.float64), ddof=1))
    assert abs(got / exact - 1) <= 5 * math.sqrt(2 / (MANY - 1)), (got, exact)
    # Resamples stay within strata: a stratum whose items are all 1 contributes exactly.
    assert float(ci.estimate) == pytest.approx(credit.mean(), rel=1e-6)


@pytest.mark.parametrize("method", ["cells", "draws"])
def test_cluster_bootstrap_matches_numpy(rng, method):
    # Prompts with 1..4 pairs each; credits correlated within a prompt.
    sizes = rng.integers(1, 5, 80)
    clusters = np.repeat(np.arange(80), sizes)
    easy = rng.random(80) < 0.6
    credit = (rng.random(len(clusters)) < np.where(easy, 0.9, 0.4)[clusters]).astype(np.float32)
    ci = ej.bootstrap_ci(jax.random.key(9), credit, num_resamples=MANY, clusters=clusters,
                         method=method)
    reference = numpy_clustered(credit, clusters, MANY, seed=9)
    assert ks_distance(np.asarray(ci.replicates), reference) <= ks_bound(MANY, MANY)
    assert float(ci.estimate) == pytest.approx(credit.mean(), rel=1e-6)


def test_cells_with_per_row_masks_match_the_item_draws_in_distribution(rng):
    values = (rng.random((2, 300)) < 0.7).astype(np.float32)
    mask = rng.random((2, 300)) < np.array([[0.5], [0.9]])
    fast = ej.bootstrap_ci(jax.random.key(3), values, num_resamples=MANY, mask=mask)
    slow = ej.bootstrap_ci(jax.random.key(4), values, num_resamples=MANY, mask=mask,
                           method="draws")
    np.testing.assert_allclose(fast.estimate, slow.estimate, rtol=1e-6)
    for row in range(2):
        d = ks_distance(np.asarray(fast.replicates[row]), np.asarray(slow.replicates[row]))
        assert d <= ks_bound(MANY, MANY), (row, d)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"clusters": np.arange(N) - 1}, ValueError, "non-negative"),
        ({"clusters": np.arange(N), "statistic": masked_second_moment}, ValueError,
         "statistic='mean'"),
        ({"strata": np.zeros(N)}, TypeError, "integer labels"),
        ({"strata": np.zeros(N + 1, np.int32)}, ValueError, "strata must have shape"),
        ({"clusters": np.arange(N) // 2, "strata": np.arange(N) % 2}, ValueError, "nest"),
        ({"method": "exact"}, ValueError, "method"),
    ],
)
def test_bootstrap_rejects_bad_strata_clusters_and_methods(kwargs, error, match):
    with pytest.raises(error, match=match):
        ej.bootstrap_ci(jax.random.key(0), np.ones(N, np.float32), **kwargs)


@pytest.mark.parametrize("seed", range(4))
def test_correlation_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    k = (10, 10, 25, 10)[seed]  # 10 rules as in the paper (and the demo: one compilation)
    entropies = rng.normal(size=k)
    accuracies = -0.7 * entropies + rng.normal(size=k)
    if seed == 3:  # ties in both variables (average ranks)
        entropies, accuracies = np.round(entropies), np.round(accuracies * 2) / 2
    h, a = entropies.astype(np.float32), accuracies.astype(np.float32)
    got = entropy_accuracy_correlation(h, a, confidence=0.9)
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
        entropy_accuracy_correlation(np.ones(5, np.float32), np.arange(5, dtype=np.float32))
    with pytest.raises(ValueError, match="at least 3"):
        entropy_accuracy_correlation(np.arange(2.0), np.arange(2.0))
    with pytest.raises(ValueError, match="shape"):
        entropy_accuracy_correlation(np.arange(4.0), np.arange(5.0))


# The worked example of the issue. By hand, with (dangerous, offensive, should-refuse,
# should-respond, donotanswer) accuracies (0.97, 1.0, 1.0, 0.284, 0.8235):
#   v1 counts (100, 100, 154, 250, 136):
#     (97 + 100 + 154 + 71 + 111.996) / 740 = 533.996 / 740 = 0.721616...  -> 72.16
#   swapped XSTest counts (100, 100, 250, 154, 136):
#     (97 + 100 + 250 + 43.736 + 111.996) / 740 = 602.732 / 740 = 0.814503... -> 81.45
EXAMPLE = dict(zip(REWARDBENCH_SAFETY_SUBSETS, (0.97, 1.0, 1.0, 0.284, 0.8235), strict=True))


def test_rewardbench_safety_hand_computed_example():
    current = rewardbench_safety(EXAMPLE)
    assert round(100 * float(current.score), 2) == 72.16
    assert current.counts_version == "v1"
    assert sum(current.counts.values()) == 740
    assert current.counts["xstest-should-refuse"] == 154
    swapped = rewardbench_safety(EXAMPLE, counts="v1-xstest-swapped")
    assert round(100 * float(swapped.score), 2) == 81.45
    assert swapped.counts_version == "v1-xstest-swapped"
    assert (swapped.counts["xstest-should-refuse"], swapped.counts["xstest-should-respond"]) == (
        250, 154)


def test_rewardbench_safety_arrays_custom_counts_and_errors():
    replicates = {s: np.full(3, v, np.float32) for s, v in EXAMPLE.items()}
    scores = rewardbench_safety({**replicates, "alpacaeval-easy": np.zeros(3, np.float32)})
    np.testing.assert_allclose(scores.score, np.full(3, 533.996 / 740), rtol=1e-6)
    equal = rewardbench_safety(EXAMPLE, counts=dict.fromkeys(REWARDBENCH_SAFETY_SUBSETS, 1))
    assert equal.counts_version == "custom"
    assert float(equal.score) == pytest.approx(np.mean(list(EXAMPLE.values())), rel=1e-6)
    with pytest.raises(ValueError, match="lacks the safety subset"):
        rewardbench_safety({"donotanswer": 0.5})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rewardbench_safety({**EXAMPLE, "donotanswer": 82.35})
    with pytest.raises(ValueError, match="counts must be one of"):
        rewardbench_safety(EXAMPLE, counts="v2")


def test_rule_summary_matches_a_numpy_loop(rng):
    n, k, levels = 60, 4, 5
    chosen = rng.integers(0, levels, (n, k)).astype(np.int32)
    rejected = rng.integers(0, levels, (n, k)).astype(np.int32)
    chosen_mask = rng.random((n, k)) < 0.9
    rejected_mask = rng.random((n, k)) < 0.9
    bt = np.array([-1.0, 0.0, 1.0, 2.0], np.float32)
    rows = rule_summary(chosen, rejected, levels, chosen_mask=chosen_mask,
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
    rows = rule_summary(chosen, rejected, 3, entropies=np.array([0.1, 0.2, 0.3, 0.4]),
                           bt_weights=np.array([-1.0, 0.0, 1.0, 2.0]))
    assert [r.entropy_rank for r in rows] == [1, 2, 3, 4]
    assert [r.bt_rank for r in rows] == [4, 3, 2, 1]
    assert [r.rank_disagreement for r in rows] == [True, False, False, True]
    unflagged = rule_summary(chosen, rejected, 3, entropies=np.array([0.1, 0.2, 0.3, 0.4]),
                                bt_weights=np.array([2.0, 1.0, 0.0, -1.0]))
    assert not any(r.rank_disagreement for r in unflagged)
    with pytest.raises(ValueError, match="rated no pair"):
        rule_summary(chosen, rejected, 3, chosen_mask=np.zeros((32, 4), bool))


def test_shape_annotations_hold_at_run_time(rng):
    import beartype
    from jaxtyping import jaxtyped

    def checked(fn):
        return jaxtyped(typechecker=beartype.beartype)(fn)

    values = rng.random((2, N)).astype(np.float32)
    checked(pair_credit)(values - 0.5, tie="half")
    checked(ej.bootstrap_ci)(jax.random.key(0), values, num_resamples=B, mask=rng.random(N) < 0.5)
    checked(entropy_accuracy_correlation)(rng.random(10).astype(np.float32),
                                              rng.random(10).astype(np.float32))
    ratings = rng.integers(0, 3, (N, 4)).astype(np.int32)
    checked(rule_summary)(ratings, ratings[::-1], 3)
