"""What a weighting receives carries no trace of which side was chosen
(encore_jax.workflows.methods.label_free_data), so adversarial weightings that read row
order, pair order or masks score at chance, through compare and diagnose.

The chance bound is exact: when the chosen side of each pair is a fair coin independent of
the ratings, and a weighting's weights depend only on label-free data, each decided pair is
credited 1 with probability 1/2 independently, so ``#wins ~ Binomial(D, 1/2)`` over the
``D`` decided pairs. Every assertion uses the two-sided 1e-4 binomial interval of that count
(scipy.stats.binom), nothing tuned. Each test also shows its adversary wins far outside that
interval on the chosen-first data the library used to hand out, so the test has power.
"""

import jax
import numpy as np
import pytest
import scipy.stats as st

from encore_jax.weightings import WeightingData
from encore_jax.workflows.compare import compare_methods
from encore_jax.workflows.diagnose import diagnose_premise
from encore_jax.workflows.methods import label_free_data
from encore_jax.workflows.protocol import Pairs

L = 5
LEVEL = 1e-4  # two-sided false-alarm rate of every chance bound


def chance_interval(trials):
    """Two-sided 1 - LEVEL interval of Binomial(trials, 1/2) successes."""
    low, high = st.binom.interval(1 - LEVEL, trials, 0.5)
    return low, high


def assert_chance(successes, trials):
    low, high = chance_interval(trials)
    assert low <= successes <= high, (successes, trials, (low, high))


def coin_pairs(seed, n, k):
    """Pairs whose chosen side is a fair coin: chosen and rejected i.i.d. uniform levels."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, L, (n, k)).astype(np.int32),
            rng.integers(0, L, (n, k)).astype(np.int32))


# -- the data itself ---------------------------------------------------------------------------


def marked_pairs(n=600, seed=0):
    """Rule 0 marks the chosen response (1) and the rejected one (0), so a test can tell the
    sides apart; rule 1 is missing on the chosen side of 40% of the pairs (a per-side mask
    that differs between the sides); rule 2 is noise."""
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, L, (n, 3)).astype(np.int32)
    rejected = rng.integers(0, L, (n, 3)).astype(np.int32)
    chosen[:, 0], rejected[:, 0] = 1, 0
    chosen_mask = np.ones((n, 3), bool)
    chosen_mask[:, 1] = rng.random(n) > 0.4
    rejected_mask = np.ones((n, 3), bool)
    return chosen, rejected, chosen_mask, rejected_mask


def chosen_first(chosen, rejected, chosen_mask, rejected_mask):
    """The data the library used to give weightings: every chosen row, then every rejected
    row, and the pairs in input order."""
    rated = chosen_mask & rejected_mask
    return WeightingData(np.concatenate([chosen, rejected]),
                         np.concatenate([chosen_mask, rejected_mask]), L, chosen, rejected,
                         rated)


def row_order_guesses(data):
    """Adversary: 'the first N pooled rows are the chosen responses'. Successes: first-half
    rows that are chosen (rule 0 marks them)."""
    n = np.asarray(data.pair_a).shape[0]
    return int(np.sum(np.asarray(data.ratings)[:n, 0] == 1)), n


def pair_side_guesses(data):
    """Adversary: 'side a is chosen', and 'side a is chosen in the first half of the pairs,
    side b in the second' (pair order)."""
    a = np.asarray(data.pair_a)[:, 0]
    n = a.size
    half = np.arange(n) < n // 2
    return int(np.sum(a == 1)), int(np.sum(np.where(half, a == 1, a == 0))), n


def mask_guesses(data):
    """Adversary: 'a pooled row whose rule 1 is missing is in the chosen half' (rule 1 is
    missing only on chosen sides): successes = such rows in the first N rows."""
    n = np.asarray(data.pair_a).shape[0]
    missing = ~np.asarray(data.mask)[:, 1]
    return int(missing[:n].sum()), int(missing.sum())


def test_label_free_data_hides_row_order_pair_order_and_masks():
    chosen, rejected, cm, rm = marked_pairs()
    rated = cm & rm
    data = label_free_data(jax.random.key(7), chosen, rejected, rated, L, side_masks=(cm, rm))
    # The same pairs and ratings, each once: every pooled row is a pair side.
    n = chosen.shape[0]
    np.testing.assert_array_equal(np.asarray(data.ratings), np.concatenate(
        [np.asarray(data.pair_a), np.asarray(data.pair_b)]))
    assert sorted(map(tuple, np.asarray(data.ratings))) == sorted(
        map(tuple, np.concatenate([chosen, rejected])))
    assert np.asarray(data.mask).sum() == cm.sum() + rm.sum()
    assert np.asarray(data.pair_mask).sum() == rated.sum()
    successes, trials = row_order_guesses(data)
    assert_chance(successes, trials)
    side_a, positional, trials = pair_side_guesses(data)
    assert_chance(side_a, trials)
    assert_chance(positional, trials)
    successes, trials = mask_guesses(data)
    assert_chance(successes, trials)
    # Power: on the chosen-first data each adversary is right every time.
    old = chosen_first(chosen, rejected, cm, rm)
    assert row_order_guesses(old) == (n, n)
    assert pair_side_guesses(old)[0] == n
    assert mask_guesses(old)[0] == mask_guesses(old)[1] > chance_interval(mask_guesses(old)[1])[1]


def test_label_free_data_keeps_calibration_and_is_reproducible():
    chosen, rejected, cm, rm = marked_pairs(n=50)
    calibration = np.arange(60 * 3).reshape(60, 3) % L
    one = label_free_data(jax.random.key(1), chosen, rejected, cm & rm, L,
                          calibration=calibration)
    two = label_free_data(jax.random.key(1), chosen, rejected, cm & rm, L,
                          calibration=calibration)
    np.testing.assert_array_equal(np.asarray(one.ratings), calibration)
    assert one.mask is None
    for a, b in zip(one[3:], two[3:], strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# -- end to end: a label-reading weighting scores at chance -----------------------------------

N_E2E, K_E2E = 400, 100


def overfit(data):
    """Adversary: w_k = max(0, mean of rule k over the first N pooled rows minus over the
    last N) + 1e-3. On chosen-first data this is each rule's mean margin on the very pairs
    it is scored on: it overfits the labels (100 noise rules, 400 pairs)."""
    ratings = np.asarray(data.ratings, np.float64)
    n = ratings.shape[0] // 2
    return np.maximum(ratings[:n].mean(0) - ratings[n:].mean(0), 0.0) + 1e-3


def numpy_accuracy_and_decided(chosen, rejected, weights):
    margins = (chosen.astype(np.float64) - rejected) @ np.asarray(weights, np.float64)
    decided = np.abs(margins) > 1e-9
    wins = np.sum(margins > 1e-9)
    return (wins + 0.5 * (~decided).sum()) / margins.size, int(wins), int(decided.sum())


@pytest.fixture(scope="module")
def e2e_pairs():
    chosen, rejected = coin_pairs(11, N_E2E, K_E2E)
    # Power: given the chosen-first data, the adversary's in-sample wins leave the bound.
    old = chosen_first(chosen, rejected, np.ones_like(chosen, bool), np.ones_like(chosen, bool))
    _, wins, decided = numpy_accuracy_and_decided(chosen, rejected, overfit(old))
    assert wins > chance_interval(decided)[1]
    return chosen, rejected


def test_label_reading_weighting_scores_at_chance_in_diagnose(e2e_pairs):
    chosen, rejected = e2e_pairs
    key = jax.random.key(5)
    report = diagnose_premise(key, chosen, rejected, L, weightings={"overfit": overfit},
                              num_resamples=10)
    row = next(m for m in report.methods if m.name == "overfit")
    accuracy, wins, decided = numpy_accuracy_and_decided(chosen, rejected,
                                                         report.weights["overfit"])
    assert row.accuracy == pytest.approx(accuracy, abs=1e-12)
    assert_chance(wins, decided)


def test_label_reading_weighting_scores_at_chance_in_compare(e2e_pairs):
    chosen, rejected = e2e_pairs
    pairs = Pairs(chosen, rejected)
    # train = the evaluated pairs: the weighting is scored on the very pairs it saw.
    report = compare_methods(jax.random.key(5), pairs, L, train=pairs, tie="half",
                             weightings={"overfit": overfit}, fit_bt=False, num_random=2,
                             num_resamples=10)
    row = next(r for r in report.methods if r["name"] == "overfit")
    accuracy, wins, decided = numpy_accuracy_and_decided(chosen, rejected, row["weights"])
    assert row["accuracy"]["estimate"] == pytest.approx(accuracy, abs=1e-6)
    assert_chance(wins, decided)


# -- the weighting extension point as compare and diagnose use it ------------------------------


def test_builtin_names_select_and_weighting_errors_name_the_weighting():
    from encore_jax.weightings import builtin_weightings, resolve_weighting
    from encore_jax.workflows.diagnose_weightings import resolve_extra
    from encore_jax.workflows.methods import (
        WeightingError,
        applied_weightings,
        checked_weightings,
    )

    # `--weighting research_decisive_encore` (the CLI resolves the spec) is a selection of
    # the row compare and diagnose always report, not a clash; another function under a
    # built-in's name still is.
    for name in builtin_weightings(1.5):
        for spec in (name, resolve_weighting(name, temperature=1.5)):
            assert checked_weightings({name: spec}, 1.5) == {}
            assert resolve_extra({name: spec}, 1.5) == {}
    with pytest.raises(ValueError, match="clashes"):
        checked_weightings({"uniform": overfit}, 1.5)
    with pytest.raises(ValueError, match="clash"):
        resolve_extra({"uniform": overfit}, 1.5)

    def broken(data):
        raise RuntimeError("rule x\nnot found")

    chosen, rejected, cm, rm = marked_pairs(n=20)
    data = label_free_data(jax.random.key(0), chosen, rejected, cm & rm, L)
    with pytest.raises(WeightingError) as info:
        applied_weightings({"mine": broken}, data)
    assert str(info.value) == "weighting 'mine' raised RuntimeError: rule x not found"
    assert isinstance(info.value.__cause__, RuntimeError) and isinstance(info.value, ValueError)
