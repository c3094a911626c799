"""The premise check's verdict says how sure it is: the permutation test across rules against
scipy / itertools, and each reason rule (no interval with one unit, Pearson and Spearman
disagreeing, few rules, few decided pairs, reversal candidates) on numbers whose answer is
known from scipy or NumPy."""

import itertools
import math

import numpy as np
import pytest
import scipy.stats as st

from encore_jax.metrics import correlation as corr_mod
from encore_jax.metrics.correlation import rule_permutation_test
from encore_jax.workflows.diagnose import RuleDiagnosis
from encore_jax.workflows.premise_correlation import CorrelationEstimate, PremiseCorrelation
from encore_jax.workflows.premise_verdict import (
    FEW_RULES,
    MIN_DECIDED_PAIRS,
    verdict_and_reasons,
)


def scipy_exact(x, y, statistic, alternative):
    def stat(yy):
        if statistic == "spearman":
            return st.spearmanr(x, yy).statistic
        return st.pearsonr(x, yy).statistic
    return st.permutation_test((y,), stat, permutation_type="pairings", n_resamples=np.inf,
                               alternative=alternative).pvalue


@pytest.mark.parametrize("statistic", ["pearson", "spearman"])
@pytest.mark.parametrize("alternative", ["less", "greater"])
def test_exact_permutation_pvalue_matches_scipy(statistic, alternative):
    rng = np.random.default_rng(1)
    x = rng.normal(size=5)
    y = np.round(-0.7 * x + rng.normal(size=5), 1)   # rounding makes rank ties
    got = rule_permutation_test(x, y, statistic=statistic, alternative=alternative)
    assert got.exact and got.num_permutations == 120
    assert got.pvalue == pytest.approx(scipy_exact(x, y, statistic, alternative), abs=1e-12)


def test_two_sided_permutation_pvalue_matches_itertools():
    rng = np.random.default_rng(2)
    for k in (3, 4, 6):
        x, y = rng.normal(size=k), rng.normal(size=k)
        observed = st.pearsonr(x, y).statistic
        null = [st.pearsonr(x, y[list(p)]).statistic for p in itertools.permutations(range(k))]
        expected = np.mean(np.abs(null) >= abs(observed) - 1e-12)
        got = rule_permutation_test(x, y)
        assert got.pvalue == pytest.approx(expected, abs=1e-12)
        assert got.observed == pytest.approx(observed, abs=1e-12)
    # 4 perfectly ordered rules: only 2 of the 24 orders are as extreme.
    assert rule_permutation_test([1, 2, 3, 4], [4, 3, 2, 1]).pvalue == pytest.approx(2 / 24)


def test_monte_carlo_permutation_pvalue_is_within_its_error_of_the_exact_one(monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.normal(size=9)
    y = 0.4 * x + rng.normal(size=9)
    monte_carlo = rule_permutation_test(x, y)
    assert not monte_carlo.exact and monte_carlo.num_permutations == 10_000
    assert rule_permutation_test(x, y) == monte_carlo   # fixed seed: reproducible
    monkeypatch.setattr(corr_mod, "PERMUTATION_EXACT_MAX_RULES", 9)
    exact = rule_permutation_test(x, y)
    assert exact.exact and exact.num_permutations == math.factorial(9)
    se = math.sqrt(exact.pvalue * (1 - exact.pvalue) / 10_000)
    assert abs(monte_carlo.pvalue - exact.pvalue) < 3.9 * se + 1 / 10_001


def test_permutation_test_rejects_bad_input_by_name():
    with pytest.raises(ValueError, match="at least 3 rules"):
        rule_permutation_test([1.0, 2.0], [2.0, 1.0])
    with pytest.raises(ValueError, match="y is constant"):
        rule_permutation_test([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="statistic"):
        rule_permutation_test([1.0, 2.0, 3.0], [1.0, 3.0, 2.0], statistic="kendall")


# -- reasons ----------------------------------------------------------------------------------


def rule(name, entropy, accuracy, decided=100, decisive=None, low=None, high=None,
         tie_rate=0.1):
    return RuleDiagnosis(rule=name, entropy=entropy, tie_rate=tie_rate, accuracy=accuracy,
                         decisive_accuracy=decisive if decisive is not None else accuracy,
                         coverage=1.0, num_rated=decided, encore_weight=1.0, weights={},
                         num_decided=decided, decisive_low=low, decisive_high=high)


def correlation(entropies, accuracies, pearson_interval, spearman_interval):
    """A PremiseCorrelation with the point values, p-values and permutation tests of scipy
    / the library on these rules and the given bootstrap intervals."""
    p = st.pearsonr(entropies, accuracies)
    s = st.spearmanr(entropies, accuracies)
    names = tuple(f"r{k}" for k in range(len(entropies)))
    return PremiseCorrelation(
        CorrelationEstimate(p.statistic, p.pvalue, *pearson_interval),
        CorrelationEstimate(s.statistic, s.pvalue, *spearman_interval), names, 100,
        np.zeros(100), np.zeros(100),
        rule_permutation_test(entropies, accuracies),
        rule_permutation_test(entropies, accuracies, statistic="spearman"))


# 12 rules where Pearson is pulled positive by one outlier while the ranks fall (scipy:
# r > 0, rho < 0): the trend is unclear.
H12 = np.arange(12.0)
A12 = np.array([0.70, 0.69, 0.68, 0.67, 0.66, 0.65, 0.64, 0.63, 0.62, 0.61, 0.60, 0.99])


def test_pearson_and_spearman_disagreeing_in_sign_make_the_trend_unclear():
    assert st.pearsonr(H12, A12).statistic > 0 > st.spearmanr(H12, A12).statistic
    rules = [rule(f"r{k}", H12[k], A12[k]) for k in range(12)]
    c = correlation(H12, A12, (0.05, 0.40), (-0.9, -0.2))
    holds, reasons = verdict_and_reasons(rules, c, None, 0.95, 0.9, 50, "groups")
    assert holds is False
    assert "the trend is unclear" in reasons[0] and "disagree in sign" in reasons[0]
    assert "over these 12 rules, resampling 50 groups" in reasons[0]
    assert "rises" not in reasons[0] and "falls" not in reasons[0]


def test_one_interval_containing_zero_and_the_other_not_is_unclear():
    h = np.arange(12.0)
    a = 0.7 - 0.01 * h + np.array([0, 0.02, -0.01, 0.03, 0, -0.02, 0.01, 0, 0.02, -0.01, 0, 0])
    rules = [rule(f"r{k}", h[k], a[k]) for k in range(12)]
    c = correlation(h, a, (-0.9, -0.3), (-0.8, 0.1))
    holds, reasons = verdict_and_reasons(rules, c, None, 0.95, 0.9, 50, "groups")
    assert holds is False
    assert "one interval contains 0 and the other does not" in reasons[0]


def test_agreeing_falling_trend_over_many_rules_holds_with_its_evidence():
    h = np.arange(12.0)
    a = 0.8 - 0.02 * h
    rules = [rule(f"r{k}", h[k], a[k]) for k in range(12)]
    c = correlation(h, a, (-0.99, -0.8), (-0.99, -0.7))
    holds, reasons = verdict_and_reasons(rules, c, None, 0.95, 0.9, 50, "groups")
    assert c.pearson_permutation.pvalue <= 0.05
    assert holds is True
    assert "accuracy falls as entropy rises" in reasons[0]
    assert "[-0.99, -0.80]" in reasons[0] and "resampling 50 groups" in reasons[0]
    assert f"p = {c.pearson_permutation.pvalue:.3g}" in reasons[1]
    assert not any("fragile" in r for r in reasons)


def test_few_rules_are_fragile_and_the_reason_says_the_order_could_be_chance():
    # 4 rules in perfect order: the bootstrap intervals lie below 0 (on these rules the
    # premise holds), but across 4 rules the exact permutation p-value is 2/24 > 0.05.
    h, a = np.arange(4.0), np.array([0.8, 0.7, 0.6, 0.5])
    rules = [rule(f"r{k}", h[k], a[k]) for k in range(4)]
    c = correlation(h, a, (-1.0, -0.9), (-1.0, -0.9))
    holds, reasons = verdict_and_reasons(rules, c, None, 0.95, 0.9, 50, "groups")
    assert holds is True
    assert "could be chance (permutation p = 0.0833" in reasons[0]
    assert "exact over all 4! orders" in reasons[1]
    assert any("only 4 rules is fragile" in r for r in reasons) and 4 < FEW_RULES


def test_one_unit_gives_no_interval_and_no_direction():
    h, a = np.arange(12.0), 0.8 - 0.02 * np.arange(12.0)
    rules = [rule(f"r{k}", h[k], a[k]) for k in range(12)]
    c = correlation(h, a, (math.nan, math.nan), (math.nan, math.nan))
    holds, reasons = verdict_and_reasons(rules, c, c, 0.95, 0.9, 1, "groups")
    assert holds is False
    assert "only 1 group" in reasons[0] and "no interval and no direction" in reasons[0]
    assert not any("falls" in r or "rises" in r or "lie below" in r for r in reasons)


def test_few_decided_pairs_and_reversal_candidates():
    h = np.arange(12.0)
    rules = [rule(f"r{k}", h[k], 0.6, decisive=0.65, low=0.55, high=0.75) for k in range(12)]
    rules[3] = rule("sparse", 3.0, 0.6, decided=MIN_DECIDED_PAIRS - 1, decisive=0.1,
                    low=0.0, high=0.3)
    rules[5] = rule("backwards", 5.0, 0.45, decided=200, decisive=0.40, low=0.33, high=0.47)
    rules[7] = rule("unsure", 7.0, 0.5, decided=200, decisive=0.46, low=0.40, high=0.52)
    a = np.array([r.accuracy for r in rules])
    c = correlation(h, a, (-0.5, 0.5), (-0.5, 0.5))
    _, reasons = verdict_and_reasons(rules, c, None, 0.95, 0.9, 50, "groups")
    text = " | ".join(reasons)
    assert f"sparse decide(s) fewer than {MIN_DECIDED_PAIRS} pairs" in text
    reversal = [r for r in reasons if "candidates for reversal" in r]
    assert len(reversal) == 1
    assert "backwards 0.400 [0.330, 0.470] over 200 decided pairs" in reversal[0]
    assert "sparse" not in reversal[0] and "unsure" not in reversal[0]
