"""The premise check (encore_jax.workflows.diagnose) against plain NumPy oracles, the
shipped OASST1 reference numbers, a simulated ensemble where the premise holds by
construction, the streamed file path, and the properties of its (group) bootstrap."""

import json
import math

import jax
import numpy as np
import pytest

from encore_jax import cli
from encore_jax.datasets import load_oasst1, oasst1_path
from encore_jax.weightings import (
    WeightingData,
    apply_weightings,
    builtin_weightings,
    unlabelled_pairs,
)
from encore_jax.workflows.diagnose import diagnose_file, diagnose_premise

N, K, L = 240, 5, 5          # shared shapes: one compilation for the small cases
KEY = jax.random.key(3)


def small_pairs(seed=0, n=N):
    """Random pairs with a mask, a rule that ties on every pair, and groups of 1-4 pairs."""
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, L, (n, K), dtype=np.int32)
    rejected = np.clip(chosen - rng.integers(-1, 3, (n, K)), 0, L - 1).astype(np.int32)
    chosen[:, 4] = rejected[:, 4] = 2                      # rule 4 ties everywhere
    mask = rng.random((n, K)) > 0.15
    groups = np.repeat(np.arange(n), rng.integers(1, 5, n))[:n].astype(str)
    return chosen, rejected, mask, groups


def numpy_rule_numbers(chosen, rejected, mask):
    d = chosen.astype(np.int64) - rejected
    out = []
    for k in range(chosen.shape[1]):
        m = mask[:, k]
        dk = d[m, k]
        pooled = np.concatenate([chosen[m, k], rejected[m, k]])
        p = np.bincount(pooled, minlength=L) / pooled.size
        entropy = -np.sum(p[p > 0] * np.log(p[p > 0]))
        decided = dk != 0
        out.append({
            "entropy": entropy, "tie_rate": np.mean(dk == 0),
            "accuracy": np.mean((dk > 0) + 0.5 * (dk == 0)),
            "decisive_accuracy": np.mean(dk[decided] > 0) if decided.any() else None,
            "coverage": m.mean(), "num_rated": int(m.sum())})
    return out


def test_every_per_rule_number_matches_numpy():
    chosen, rejected, mask, groups = small_pairs()
    report = diagnose_premise(KEY, chosen, rejected, L, mask=mask, groups=groups,
                              num_resamples=20)
    for rule, expected in zip(report.rules, numpy_rule_numbers(chosen, rejected, mask),
                              strict=True):
        for name, value in expected.items():
            got = getattr(rule, name)
            if value is None:
                assert got is None
            else:
                assert got == pytest.approx(value, rel=1e-6, abs=1e-7), (rule.rule, name)
    weights = np.array([r.encore_weight for r in report.rules])
    h = np.array([r.entropy for r in report.rules])
    np.testing.assert_allclose(weights, np.exp(-h / 2) / np.exp(-h / 2).sum(), rtol=1e-5)
    assert report.weights["uniform"] == pytest.approx((1 / K,) * K)
    doc = report.to_dict()
    json.dumps(doc)
    assert doc["rules"][4]["decisive_accuracy"] is None
    assert any("tie(s) on every pair" in r for r in doc["reasons"])
    assert {"rule", "entropy", "tie_rate", "accuracy", "decisive_accuracy", "coverage",
            "encore_weight", "uniform_weight"} <= set(doc["rules"][0])


def test_calibration_entropies_match_numpy():
    chosen, rejected, mask, _ = small_pairs()
    rng = np.random.default_rng(1)
    calibration = rng.integers(0, L, (N, K), dtype=np.int32)
    cal_mask = rng.random((N, K)) > 0.3
    report = diagnose_premise(KEY, chosen, rejected, L, mask=mask, calibration=calibration,
                              calibration_mask=cal_mask, num_resamples=20)
    for k, rule in enumerate(report.rules):
        p = np.bincount(calibration[cal_mask[:, k], k], minlength=L) / cal_mask[:, k].sum()
        assert rule.entropy == pytest.approx(-np.sum(p[p > 0] * np.log(p[p > 0])), rel=1e-6)


@pytest.fixture(scope="module")
def oasst1_report():
    data = load_oasst1()
    return diagnose_premise(
        KEY, data.chosen_levels, data.rejected_levels, data.num_levels, mask=data.pair_mask,
        groups=data.pair_group_ids, calibration=data.levels, calibration_mask=data.mask,
        calibration_groups=data.group_ids, rule_names=data.rule_names, num_resamples=200)


def test_oasst1_matches_the_shipped_reference_numbers(oasst1_report):
    # ../shared/data/oasst1/README.md: accuracy to 4 decimals, tie rate to 2, H to 4.
    reference = {"quality": (2.6182, 0.6334, 0.11), "helpfulness": (2.7157, 0.6053, 0.10),
                 "fails_task": (0.8718, 0.5653, 0.68), "pii": (0.0066, 0.4995, 1.00)}
    rules = {r.rule: r for r in oasst1_report.rules}
    for name, (entropy, accuracy, tie_rate) in reference.items():
        assert rules[name].entropy == pytest.approx(entropy, abs=5e-5)
        assert rules[name].accuracy == pytest.approx(accuracy, abs=5e-5)
        assert rules[name].tie_rate == pytest.approx(tie_rate, abs=5e-3)
    assert oasst1_report.correlation.pearson.estimate == pytest.approx(0.675, abs=5e-4)


def test_oasst1_verdict_is_false_with_the_rare_flag_reason(oasst1_report):
    assert oasst1_report.premise_holds is False
    assert oasst1_report.correlation.pearson.low > 0
    assert "lie above 0" in oasst1_report.reasons[0]
    assert "resampling 418 groups" in oasst1_report.reasons[0]
    rare = [r for r in oasst1_report.reasons if "rare flags" in r]
    assert len(rare) == 1 and "pii" in rare[0] and "hate_speech" in rare[0]


def noisy_raters(seed, n, noise):
    """Two responses per pair with qualities q ~ N(0, 1), the better one chosen; rule k rates
    round(2 + 0.6 q + noise_k e), e ~ N(0, 1), clipped to 0..4. A noisier rater spreads its
    ratings (higher entropy) and tracks quality less (lower accuracy): ENCORE's premise by
    construction."""
    rng = np.random.default_rng(seed)
    q = np.sort(rng.normal(size=(n, 2)), axis=1)

    def rate(quality):
        x = 2 + 0.6 * quality[:, None] + noise * rng.normal(size=(n, noise.size))
        return np.clip(np.round(x), 0, 4).astype(np.int32)
    return rate(q[:, 1]), rate(q[:, 0])


def test_premise_holds_on_rules_whose_entropy_tracks_rater_noise():
    # 8 rules (the exact permutation test's largest K), noise 0.2 to 1.2 (entropy 1.06 to
    # 1.57 nats, below log 5 = 1.61), 4000 pairs.
    chosen, rejected = noisy_raters(0, 4000, np.linspace(0.2, 1.2, 8))
    report = diagnose_premise(KEY, chosen, rejected, 5, num_resamples=200)
    assert report.premise_holds is True
    assert report.correlation.pearson.high < 0 and report.correlation.spearman.high < 0
    assert report.correlation.pearson_permutation.exact
    assert report.correlation.pearson_permutation.pvalue <= 0.05
    assert "accuracy falls as entropy rises" in report.reasons[0]
    assert not any("rare flags" in r for r in report.reasons)


def test_builtin_weights_equal_the_weighting_extension_point():
    """diagnose's built-ins (from summed statistics) equal builtin_weightings run on the
    WeightingData of the same pairs (pooled ratings, fair-coin unlabelled pairs)."""
    chosen, rejected, mask, groups = small_pairs(seed=4)
    report = diagnose_premise(KEY, chosen, rejected, L, mask=mask, num_resamples=5,
                              temperature=1.5)
    a, b, pair_mask = unlabelled_pairs(KEY, chosen, rejected, mask)
    data = WeightingData(np.concatenate([chosen, rejected]), np.concatenate([mask, mask]), L,
                         a, b, pair_mask)
    expected = apply_weightings(builtin_weightings(1.5), data)
    assert list(report.weights) == list(expected)
    for name, weights in expected.items():
        np.testing.assert_allclose(report.weights[name], weights, rtol=1e-6, err_msg=name)


def write_pairs(tmp_path, fmt, chosen, rejected, mask, groups):
    columns = {"prompt": groups}
    for k in range(K):
        columns[f"chosen_r{k}"] = np.where(mask[:, k], chosen[:, k], -1)
        columns[f"rejected_r{k}"] = rejected[:, k]
    path = tmp_path / f"pairs.{fmt}"
    if fmt == "csv":
        header = list(columns)
        rows = [",".join(str(columns[c][i]) for c in header) for i in range(N)]
        path.write_text("\n".join([",".join(header), *rows]) + "\n")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table(columns), path)
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_streamed_file_equals_in_memory(tmp_path, fmt):
    chosen, rejected, mask, groups = small_pairs(seed=2)
    path = write_pairs(tmp_path, fmt, chosen, rejected, mask, groups)
    streamed = diagnose_file(path, L, key=KEY, group_column="prompt", chunk_rows=67,
                             mask_value=-1, num_resamples=30)
    memory = diagnose_premise(KEY, chosen, rejected, L, mask=mask, groups=groups,
                              rule_names=[f"r{k}" for k in range(K)], num_resamples=30)
    # every built-in weighting, in bounded memory on the streamed path
    assert list(streamed.weights) == list(memory.weights) == list(builtin_weightings())
    assert streamed.weights == memory.weights
    for a, b in zip(streamed.rules, memory.rules, strict=True):
        assert a._replace(entropy=0.0) == b._replace(entropy=0.0)
        assert a.entropy == pytest.approx(b.entropy, rel=1e-6)
    np.testing.assert_allclose(streamed.correlation.pearson_replicates,
                               memory.correlation.pearson_replicates, rtol=1e-5)
    assert streamed.protocol["num_groups"] == memory.protocol["num_groups"]
    assert streamed.reasons == memory.reasons
    # per-weighting accuracies and intervals: the second pass gives the in-memory numbers
    for a, b in zip(streamed.methods, memory.methods, strict=True):
        unset = dict(low=0.0, high=0.0, minus_uniform_low=0.0, minus_uniform_high=0.0)
        assert a._replace(**unset) == b._replace(**unset)
        np.testing.assert_allclose([a.low, a.high, a.minus_uniform_low, a.minus_uniform_high],
                                   [b.low, b.high, b.minus_uniform_low, b.minus_uniform_high],
                                   rtol=1e-6, atol=1e-9)


def first_side_higher(data):
    """An extra weighting that needs whole arrays: 1 + the share of the rated pairs whose
    first side (in the fair-coin order) is rated higher."""
    rated = np.asarray(data.pair_mask)
    higher = (np.asarray(data.pair_a) > np.asarray(data.pair_b)) & rated
    return 1.0 + higher.sum(0) / rated.sum(0)


def test_extra_weightings_streamed_equal_in_memory_and_clashes_are_errors(tmp_path):
    chosen, rejected, mask, groups = small_pairs(seed=2)
    path = write_pairs(tmp_path, "csv", chosen, rejected, mask, groups)
    extra = {"gap": first_side_higher}
    streamed = diagnose_file(path, L, key=KEY, chunk_rows=67, mask_value=-1,
                             num_resamples=5, weightings=extra)
    memory = diagnose_premise(KEY, chosen, rejected, L, mask=mask, num_resamples=5,
                              weightings=extra)
    assert list(streamed.weights) == [*builtin_weightings(), "gap"]
    assert streamed.weights == memory.weights
    assert "gap" in streamed.protocol["weightings"]
    assert "held in memory" in streamed.protocol["weightings"]
    with pytest.raises(ValueError, match=r"\['uniform'\] clash with the built-in"):
        diagnose_file(path, L, key=KEY, mask_value=-1, num_resamples=5,
                      weightings={"uniform": first_side_higher})


def quantile_se(replicates, q):
    """Monte-Carlo standard error of the empirical q-quantile of B draws:
    sqrt(q (1 - q) / B) / f(Q(q)), the density f from the spacing of quantiles +-0.02."""
    b = replicates.size
    lo, hi = np.quantile(replicates, [max(q - 0.02, 0.0), min(q + 0.02, 1.0)])
    density = (min(q + 0.02, 1.0) - max(q - 0.02, 0.0)) / (hi - lo)
    return math.sqrt(q * (1 - q) / b) / density


def multinomial_group_bootstrap(chosen, rejected, groups, b, seed):
    """Plain NumPy: draw G groups with replacement B times; Pearson r(entropy, accuracy)."""
    labels, inverse = np.unique(groups, return_inverse=True)
    g = labels.size
    d = chosen.astype(np.int64) - rejected
    hist = np.zeros((g, K, L))
    for side in (chosen, rejected):
        for k in range(K):
            np.add.at(hist, (inverse, k, side[:, k]), 1)
    credit = np.zeros((g, K))
    np.add.at(credit, inverse, (d > 0) + 0.5 * (d == 0))
    size = np.bincount(inverse, minlength=g)[:, None].astype(float)
    counts = np.random.default_rng(seed).multinomial(g, np.full(g, 1 / g), size=b)
    h = np.einsum("bg,gkl->bkl", counts, hist)
    p = h / h.sum(-1, keepdims=True)
    entropy = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), -1)
    accuracy = (counts @ credit) / (counts @ size)
    ec = entropy - entropy.mean(1, keepdims=True)
    ac = accuracy - accuracy.mean(1, keepdims=True)
    return np.sum(ec * ac, 1) / np.sqrt(np.sum(ec**2, 1) * np.sum(ac**2, 1))


def informative_pairs(seed, g=300):
    """g groups of 1-6 pairs rated by K rules whose spread and accuracy differ."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(g), rng.integers(1, 7, g)).astype(str)
    n = groups.size
    quality = np.repeat(rng.normal(size=g), np.bincount(np.unique(groups, return_inverse=True)[1]))
    noise = np.linspace(0.5, 2.0, K)

    def rate(shift):
        x = (2 + shift * np.linspace(1.0, 0.1, K) + quality[:, None] * 0.3
             + noise * rng.normal(size=(n, K)))
        return np.clip(np.round(x), 0, L - 1).astype(np.int32)
    return rate(0.5), rate(-0.5), groups


def test_poisson_group_bootstrap_matches_the_multinomial_one():
    chosen, rejected, groups = informative_pairs(5)
    b = 2000
    report = diagnose_premise(KEY, chosen, rejected, L, groups=groups, num_resamples=b)
    poisson = report.correlation.pearson_replicates
    assert report.correlation.num_valid_resamples == b
    multinomial = multinomial_group_bootstrap(chosen, rejected, groups, b, seed=9)
    for q in (0.025, 0.975):
        se = math.hypot(quantile_se(poisson, q), quantile_se(multinomial, q))
        # 3.9 = two-sided 1e-4 normal quantile: a real difference, not Monte-Carlo noise
        assert abs(np.quantile(poisson, q) - np.quantile(multinomial, q)) < 3.9 * se


def interval_width_and_se(replicates):
    low, high = np.quantile(replicates, [0.025, 0.975])
    return high - low, math.hypot(quantile_se(replicates, 0.025), quantile_se(replicates, 0.975))


def test_group_bootstrap_resamples_whole_groups():
    chosen, rejected, groups = informative_pairs(6, g=200)
    twice = [np.repeat(x, 2, axis=0) for x in (chosen, rejected, groups)]
    b = 1000
    one = diagnose_premise(KEY, chosen, rejected, L, groups=groups, num_resamples=b)
    two = diagnose_premise(KEY, *twice[:2], L, groups=twice[2], num_resamples=b)
    # Each group's weight depends only on the key and its id, and every statistic is a
    # ratio of sums over pairs: doubling every pair within its group doubles numerator and
    # denominator, so each resample's correlation is unchanged.
    np.testing.assert_allclose(two.correlation.pearson_replicates,
                               one.correlation.pearson_replicates, rtol=1e-4, atol=1e-5)
    # Treated as single pairs, the duplicates look like twice the data: the bootstrap
    # variance of a smooth function of means is O(1/n), so the width shrinks by 1/sqrt(2).
    pairs_one = diagnose_premise(KEY, chosen, rejected, L, num_resamples=b)
    pairs_two = diagnose_premise(KEY, *twice[:2], L, num_resamples=b)
    (w1, s1), (w2, s2) = (interval_width_and_se(r.correlation.pearson_replicates)
                          for r in (pairs_one, pairs_two))
    ratio = w2 / w1
    ratio_se = ratio * math.hypot(s1 / w1, s2 / w2)
    assert abs(ratio - 1 / math.sqrt(2)) < 3.9 * ratio_se


def test_too_few_rules_gives_no_verdict():
    chosen, rejected, mask, _ = small_pairs()
    report = diagnose_premise(KEY, chosen[:, :2], rejected[:, :2], L, num_resamples=5)
    assert report.premise_holds is False and report.correlation is None
    assert "at least 3" in report.reasons[0]


def test_bad_input_names_the_argument():
    chosen, rejected, mask, _ = small_pairs()
    with pytest.raises(ValueError, match=r"chosen\[.*outside 0..2"):
        diagnose_premise(KEY, chosen, rejected, 3, num_resamples=5)
    with pytest.raises(ValueError, match="groups must have shape"):
        diagnose_premise(KEY, chosen, rejected, L, groups=np.zeros(3), num_resamples=5)


def test_cli_on_the_shipped_oasst1_pairs(capsys):
    path = oasst1_path("pairs_levels")
    code = cli.main(["diagnose", str(path), "--levels", "38", "--group-column", "group_id",
                     "--resamples", "20", "--json"])
    out, _ = capsys.readouterr()
    assert code == 0
    doc = json.loads(out)
    assert doc["premise_holds"] is False and doc["protocol"]["num_pairs"] == 1026
    assert len(doc["rules"]) == 13
    code = cli.main(["diagnose", str(path), "--levels", "5"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "levels" in err


# -- per-weighting accuracies, groups, compilation, CLI ---------------------------------------


def numpy_method_accuracy(chosen, rejected, mask, weights, integer_ties=False):
    """Accuracy (ties 1/2) and tie rate of weights over all pairs, a missing rating adding
    nothing. Uniform weights: the tie is decided on the integer sum of the differences."""
    d = np.where(mask, chosen.astype(np.int64) - rejected, 0)
    if integer_ties:
        m = d.sum(1).astype(np.float64)
    else:
        m = d @ np.asarray(weights, np.float64)
        m[np.abs(m) < 1e-9] = 0.0
    return np.mean((m > 0) + 0.5 * (m == 0)), np.mean(m == 0)


def test_method_accuracies_match_numpy_and_share_the_group_resamples():
    chosen, rejected, mask, groups = small_pairs(seed=5)
    report = diagnose_premise(KEY, chosen, rejected, L, mask=mask, groups=groups,
                              num_resamples=200)
    names = [m.name for m in report.methods]
    assert names == list(report.weights) == list(builtin_weightings())
    by_name = {m.name: m for m in report.methods}
    for name, weights in report.weights.items():
        accuracy, tie_rate = numpy_method_accuracy(chosen, rejected, mask, weights,
                                                   integer_ties=name == "uniform")
        m = by_name[name]
        assert m.accuracy == pytest.approx(accuracy, abs=1e-12), name
        assert m.tie_rate == pytest.approx(tie_rate, abs=1e-12), name
        assert m.minus_uniform == pytest.approx(accuracy - by_name["uniform"].accuracy,
                                                abs=1e-12)
        assert m.low <= m.accuracy <= m.high and m.num_pairs == N
    assert by_name["uniform"].minus_uniform_low == by_name["uniform"].minus_uniform_high == 0
    doc = report.to_dict()
    json.dumps(doc, allow_nan=False)
    assert doc["methods"][0]["accuracy"]["estimate"] == by_name["encore"].accuracy


def test_one_group_gives_no_interval_and_missing_group_ids_are_errors(tmp_path):
    chosen, rejected, mask, groups = small_pairs()
    one = diagnose_premise(KEY, chosen, rejected, L, mask=mask, groups=np.full(N, "g"),
                           num_resamples=20)
    assert one.protocol["num_groups"] == 1 and one.premise_holds is False
    assert math.isnan(one.correlation.pearson.low) and math.isnan(one.methods[0].low)
    assert all(r.decisive_low is None for r in one.rules)
    assert "no interval and no direction" in one.reasons[0]
    doc = one.to_dict()
    json.dumps(doc, allow_nan=False)
    assert doc["correlation"]["pearson"]["low"] is None
    holes = groups.astype(object)
    holes[[3, 17]] = [None, ""]
    with pytest.raises(ValueError, match=r"groups: 2 row\(s\) have no group id \(rows \[3, 17\]"):
        diagnose_premise(KEY, chosen, rejected, L, mask=mask, groups=holes, num_resamples=5)
    blank = groups.copy()
    blank[100] = ""
    path = write_pairs(tmp_path, "csv", chosen, rejected, mask, blank)
    with pytest.raises(ValueError, match=r"rows \[100\]"):
        diagnose_file(path, L, key=KEY, group_column="prompt", chunk_rows=67, mask_value=-1,
                      num_resamples=5)


def test_decisive_view_uses_rules_with_enough_decided_pairs():
    from encore_jax.workflows.premise_verdict import MIN_DECIDED_PAIRS

    chosen, rejected, mask, _ = small_pairs(seed=6)
    chosen[: N - 10, 3] = rejected[: N - 10, 3]      # rule 3 decides at most 10 pairs
    report = diagnose_premise(KEY, chosen, rejected, L, mask=mask, num_resamples=20)
    d = np.where(mask, chosen.astype(np.int64) - rejected, 0)
    decided = ((d != 0) & mask).sum(0)
    assert [r.num_decided for r in report.rules] == decided.tolist()
    assert report.decisive_correlation.rules == tuple(
        f"rule_{k}" for k in range(K) if decided[k] >= MIN_DECIDED_PAIRS)
    assert any("rule_3 decide(s) fewer than" in r for r in report.reasons)


def test_a_second_call_with_the_same_shapes_compiles_nothing():
    chosen, rejected, mask, groups = small_pairs(seed=7)
    compiles = []

    def listener(event, duration, **kwargs):
        if "backend_compile" in event:
            compiles.append(event)

    def run(seed):
        c, r, m, g = small_pairs(seed=seed)
        return diagnose_premise(KEY, c, r, L, mask=m, groups=g, num_resamples=20,
                                weightings={"gap": first_side_higher})

    run(8)
    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        run(9)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert compiles == []


def test_cli_weightings_base_and_methods_table(tmp_path, capsys, monkeypatch):
    chosen, rejected, mask, groups = small_pairs(seed=2)
    path = write_pairs(tmp_path, "csv", chosen, rejected, mask, groups)
    args = ["diagnose", str(path), "--levels", str(L), "--mask-value", "-1",
            "--resamples", "20", "--group-column", "prompt"]
    # A built-in asked for by name is a selection, not a clash.
    code = cli.main([*args, "--weighting", "research_decisive_encore", "--json"])
    out, _ = capsys.readouterr()
    assert code == 0
    doc = json.loads(out)
    assert [m["name"] for m in doc["methods"]] == list(builtin_weightings())
    # A user weighting that raises: one line naming it and its error.
    (tmp_path / "broken_weighting.py").write_text(
        "def weights(data):\n    raise ZeroDivisionError('no rules left')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code = cli.main([*args, "--weighting", "broken_weighting:weights"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1
    assert "weighting 'broken_weighting:weights' raised ZeroDivisionError: no rules left" in err
    # --base must be > 1: argparse refuses it (usage, then the one error line).
    for base in ("0.5", "1", "-2", "x"):
        with pytest.raises(SystemExit) as exit_info:
            cli.main([*args, "--base", base])
        _, err = capsys.readouterr()
        assert exit_info.value.code == 2
        assert "argument --base: base must be finite and > 1" in err.strip().splitlines()[-1]
    code = cli.main([*args, "--base", "e"])
    out, _ = capsys.readouterr()
    assert code == 0 and "weightings on all 240 pairs" in out and "minus uniform" in out


@pytest.mark.parametrize("base", [0.5, 1, -2.0, math.inf, "e"])
def test_base_below_or_at_one_is_a_value_error(base):
    chosen, rejected, mask, _ = small_pairs()
    with pytest.raises(ValueError, match="base must be finite and > 1"):
        diagnose_premise(KEY, chosen, rejected, L, mask=mask, base=base, num_resamples=5)
