"""The learning curve (`encore_jax.workflows.curve`), its bootstrap, the `curve` command and
the curve / premise figures, against independent NumPy / SciPy oracles.

One small data set (60 pairs in 20 groups, 4 rules, 3 levels) and one `learning_curve` call
are shared by the tests, so each kernel compiles once."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from scipy.optimize import minimize

from encore_jax.cli import main
from encore_jax.figures import curve_figure, premise_figure, save_figure
from encore_jax.weightings import EXTENSION_NAMES
from encore_jax.workflows import curve as C
from encore_jax.workflows.curve_stats import (
    bootstrap_counts,
    draw_accuracies,
    interval,
    replicate_accuracies,
)

LEVELS = 3
NUM_GROUPS = 20
BUDGETS = (0, 4, "all")
PNG = b"\x89PNG\r\n\x1a\n"


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ratings where rules 0 and 1 follow a latent preference, rule 2 is noise and rule 3 a
    rare flag; each group holds 3 pairs."""
    rng = np.random.default_rng(7)
    n, k = 3 * NUM_GROUPS, 4
    chosen = rng.integers(0, LEVELS, (n, k))
    rejected = rng.integers(0, LEVELS, (n, k))
    better = rng.random((n, 2)) < 0.75
    high, low = np.maximum(chosen[:, :2], rejected[:, :2]), np.minimum(chosen[:, :2],
                                                                        rejected[:, :2])
    chosen[:, :2], rejected[:, :2] = np.where(better, high, low), np.where(better, low, high)
    chosen[:, 3] = (rng.random(n) < 0.1).astype(int)
    rejected[:, 3] = 0
    mask = np.ones((n, k), bool)
    mask[5, 2] = False
    groups = np.array([f"g{i // 3:02d}" for i in range(n)], dtype=object)
    return chosen.astype(np.int32), rejected.astype(np.int32), mask, groups


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def result(data):
    chosen, rejected, mask, groups = data
    return C.learning_curve(jax.random.key(0), chosen, rejected, LEVELS, groups, mask=mask,
                            budgets=BUDGETS, num_repeats=3, num_resamples=200)


def _accuracy(diffs: np.ndarray, weights: np.ndarray, tie_credit: float) -> float:
    margins = diffs.astype(np.float64) @ np.asarray(weights, np.float64)
    scale = np.abs(diffs) @ np.abs(np.asarray(weights, np.float64))
    tie = np.abs(margins) <= 1e-9 * np.maximum(scale, 1e-300)
    return float(np.mean(np.where(tie, tie_credit, margins > 0)))


def _diffs(data) -> np.ndarray:
    chosen, rejected, mask, _ = data
    return np.where(mask, chosen - rejected, 0)


# ------------------------------------------------------------------------------------------
# The document
# ------------------------------------------------------------------------------------------


def test_document_shape(result):
    doc = json.loads(json.dumps(result.to_dict()))
    assert set(doc) >= {"curve", "recommendation", "protocol"}
    budgets = [b["labels"] for b in doc["protocol"]["budgets"]]
    assert budgets == [0, 4, int(0.8 * NUM_GROUPS)]
    free = ["uniform", "encore", *EXTENSION_NAMES]
    for n in budgets:
        methods = [r["method"] for r in doc["curve"] if r["labels"] == n]
        assert methods == ([*free, "bt_prior"] if n == 0 else [*free, "bt", "bt_prior"])
    assert [r["labels"] for r in doc["recommendation"]] == budgets
    for row in doc["curve"] + doc["recommendation"]:
        assert row["low"] <= row["accuracy"] <= row["high"] or row["low"] is None
    assert all(isinstance(r["reason"], str) and r["method"] in r["reason"]
               for r in doc["recommendation"])


def test_label_free_at_zero_labels_match_numpy(result, data):
    """At n = 0 every group is held out in every draw, so a label-free method's value is its
    accuracy on all pairs: uniform by exact integer signs, ENCORE from NumPy entropies."""
    chosen, rejected, mask, _ = data
    diffs = _diffs(data)
    rows = {r["method"]: r for r in result.curve if r["labels"] == 0}
    k = diffs.shape[1]
    assert rows["uniform"]["accuracy"] == pytest.approx(
        _accuracy(diffs, np.full(k, 1.0 / k), 0.5), abs=1e-9)
    pooled = [np.concatenate([chosen[mask[:, j], j], rejected[mask[:, j], j]]) for j in range(k)]
    counts = np.stack([np.bincount(p, minlength=LEVELS) for p in pooled]).astype(np.float64)
    prob = counts / counts.sum(axis=1, keepdims=True)
    entropy = -np.sum(np.where(prob > 0, prob * np.log(np.where(prob > 0, prob, 1)), 0), axis=1)
    encore = np.exp(-entropy / 2.0) / np.exp(-entropy / 2.0).sum()
    np.testing.assert_allclose(result.label_free_weights["encore"], encore, rtol=1e-5)
    assert rows["encore"]["accuracy"] == pytest.approx(_accuracy(diffs, encore, 0.5), abs=1e-9)
    # bt_prior without labels is its centre (uniform by default).
    assert rows["bt_prior"]["accuracy"] == rows["uniform"]["accuracy"]


def test_tie_loss_counts_ties_as_zero(data):
    chosen, rejected, mask, groups = data
    out = C.learning_curve(jax.random.key(0), chosen, rejected, LEVELS, groups, mask=mask,
                           budgets=(0,), num_repeats=2, num_resamples=50, tie="loss")
    k = chosen.shape[1]
    uniform = next(r for r in out.curve if r["method"] == "uniform")
    assert uniform["accuracy"] == pytest.approx(
        _accuracy(_diffs(data), np.full(k, 1.0 / k), 0.0), abs=1e-9)


# ------------------------------------------------------------------------------------------
# Draws, fits and the recommendation
# ------------------------------------------------------------------------------------------


def test_draws_partition_groups():
    draws = C._draws(jax.random.key(3), NUM_GROUPS, 6, 4, 3)
    total = draws.labelled.astype(int) + draws.choice + draws.report
    assert np.all(total == 1)
    assert np.all(draws.labelled.sum(1) == 6) and np.all(draws.choice.sum(1) == 7)
    assert np.all((draws.fold >= 0) == draws.labelled)
    assert np.all(np.bincount(draws.fold[0][draws.fold[0] >= 0]) == 2)


def _scipy_fit(diffs: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    """argmin_w sum_i softplus(-w . d_i) + (s / 2) ||w - w0||^2 (SciPy, float64)."""
    d = diffs.astype(np.float64)

    def objective(w):
        m = d @ w
        value = np.sum(np.logaddexp(0, -m)) + 0.5 * strength * np.sum((w - prior) ** 2)
        grad = -(d.T @ (1 / (1 + np.exp(m)))) + strength * (w - prior)
        return value, grad

    return minimize(objective, np.zeros(d.shape[1]), jac=True, method="L-BFGS-B",
                    options={"gtol": 1e-10, "maxiter": 2000}).x


def test_bt_and_bt_prior_fits_match_scipy(data):
    chosen, rejected, mask, groups = data
    codes, num_groups = C.group_codes(groups, chosen.shape[0])
    diffs = _diffs(data).astype(np.float32)
    free = C._label_free(jax.random.key(1), chosen, rejected, mask, LEVELS, 2.0)
    free_weights = np.stack(list(free.values()))
    tie = jax.numpy.asarray(0.5, jax.numpy.float32)
    free_credit = np.asarray(C._credits(jax.numpy.asarray(diffs),
                                        jax.numpy.asarray(free_weights), tie))
    draws = C._draws(jax.random.key(2), num_groups, 8, 2, 4)
    strengths = np.asarray(C.PRIOR_STRENGTHS, np.float32)
    bt, prior_fit, picked = C._bt_prior(diffs, codes, draws, free_credit, free_weights, tie, 4,
                                        strengths, 200)
    for r in range(2):
        rows = draws.labelled[r, codes]
        # Centre: the label-free weighting most accurate on the labelled pairs (first on ties).
        acc = [_accuracy(diffs[rows], w, 0.5) for w in free_weights]
        assert picked[r, 0] == int(np.argmax(acc))
        prior = free_weights[picked[r, 0]]
        expected = _scipy_fit(diffs[rows], prior, float(strengths[picked[r, 1]]))
        np.testing.assert_allclose(prior_fit[r], expected, atol=2e-3, rtol=2e-3)
        # Plain BT: compare directions (the labelled pairs may be separable).
        if _scipy_fit(diffs[rows], np.zeros(4), 1e-6) @ np.ones(4) < 1e3:
            plain = _scipy_fit(diffs[rows], np.zeros(4), 0.0)
            cos = bt[r] @ plain / np.linalg.norm(bt[r]) / np.linalg.norm(plain)
            assert cos > 0.999


def test_recommendation_rule():
    """bt far ahead of uniform is recommended; bt ahead by noise falls back to the best
    label-free method; ties go to the simpler (earlier) method."""
    rng = np.random.default_rng(0)
    repeats, groups = 6, 40
    draws = C._draws(jax.random.key(5), groups, 10, repeats, 2)
    counts = np.full(groups, 10.0)
    boot = bootstrap_counts(jax.random.key(6), groups, repeats, 300)
    names, needs = ["uniform", "encore", "bt"], [False, False, True]

    def sums(levels):
        base = np.stack([rng.binomial(10, p, (repeats, groups)) for p in levels], axis=1)
        return base * (draws.choice | draws.report)[:, None, :]

    clear = C._recommend(10, names, needs, sums([0.5, 0.55, 0.9]), counts, draws, boot, 0.95)
    assert clear["method"] == "bt"
    # On the choice halves, bt: +-3 around uniform's 5 in alternate groups, net +6; encore:
    # net +1. bt is best there but its paired difference with uniform straddles 0.
    noisy = np.zeros((repeats, 3, groups))
    for r in range(repeats):
        noisy[r][:, draws.report[r]] = 5.0
        idx = np.flatnonzero(draws.choice[r])
        noisy[r][:, idx] = 5.0
        noisy[r, 1, idx[0]] += 1
        noisy[r, 2, idx] += np.where(np.arange(idx.size) % 2 == 0, 3.0, -3.0)
        noisy[r, 2, idx[1]] += 3.0
    out = C._recommend(10, names, needs, noisy, counts, draws, boot, 0.95)
    assert out["method"] == "encore" and "contains 0" in out["reason"], out
    tied = sums([0.6, 0.6, 0.6])
    tied[:, 1], tied[:, 2] = tied[:, 0], tied[:, 0]
    assert C._recommend(10, names, needs, tied, counts, draws, boot, 0.95)["method"] == "uniform"


# ------------------------------------------------------------------------------------------
# The bootstrap of draws and groups
# ------------------------------------------------------------------------------------------


def test_replicates_match_explicit_resampling():
    rng = np.random.default_rng(1)
    repeats, methods, groups = 4, 2, 9
    counts = rng.integers(1, 4, groups).astype(np.float64)
    held = rng.random((repeats, groups)) < 0.6
    held[:, 0] = True
    sums = rng.binomial(counts.astype(int), 0.6, (repeats, methods, groups)) * held[:, None, :]
    c = counts[None, :] * held
    u, v = bootstrap_counts(jax.random.key(2), groups, repeats, 25)
    reps = replicate_accuracies(sums.astype(np.float64), c, u, v)
    for b in range(25):
        group_list = np.repeat(np.arange(groups), u[b].astype(int))
        draw_list = np.repeat(np.arange(repeats), v[b].astype(int))
        values = []
        for r in draw_list:
            den = sum(c[r, g] for g in group_list)
            if den > 0:
                values.append([sum(sums[r, m, g] for g in group_list) / den
                               for m in range(methods)])
        np.testing.assert_allclose(reps[b], np.mean(values, axis=0), rtol=1e-12)
    np.testing.assert_allclose(draw_accuracies(sums, c)[:, 0],
                               sums[:, 0].sum(1) / c.sum(1))
    assert interval(np.array([np.nan, np.nan]), 0.95) == (None, None)


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("budgets, match", [
    ((0, 19), "more than the 18 available"),
    ((0, 1), "budget 1 leaves nothing to cross-validate"),
    ((16, "all"), "given twice"),
    ((0, -2), "not a number of groups"),
])
def test_bad_budgets(budgets, match):
    with pytest.raises(ValueError, match=match):
        C.resolved_budgets(budgets, NUM_GROUPS, C.ALL_FRACTION)


def test_missing_group_ids_are_named(data):
    chosen, rejected, mask, groups = data
    groups = groups.copy()
    groups[[3, 11]] = [None, "  "]
    with pytest.raises(ValueError, match=r"2 pair\(s\) have no group id \(0-based pairs 3, 11\)"):
        C.learning_curve(jax.random.key(0), chosen, rejected, LEVELS, groups, mask=mask)


# ------------------------------------------------------------------------------------------
# Command and figures
# ------------------------------------------------------------------------------------------


def _write_pairs(path, data) -> None:
    chosen, rejected, _, groups = data
    header = ["group"] + [f"chosen_r{j}" for j in range(4)] + [f"rejected_r{j}" for j in range(4)]
    lines = [",".join(header)] + [",".join([g, *map(str, c), *map(str, r)])
                                  for g, c, r in zip(groups, chosen, rejected, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def test_cli_json_and_figure(tmp_path, capsys, data):
    pairs = tmp_path / "pairs.csv"
    _write_pairs(pairs, data)
    figure = tmp_path / "curve.png"
    code = main(["curve", str(pairs), "--levels", "3", "--group-column", "group", "--labels",
                 "0,4,all", "--repeats", "3", "--resamples", "100", "--json", "--figure",
                 str(figure)])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert [r["labels"] for r in doc["recommendation"]] == [0, 4, 16]
    assert figure.read_bytes()[:8] == PNG
    assert main(["curve", str(pairs), "--levels", "3", "--group-column", "group",
                 "--figure", str(figure)]) == 2  # exists, no --force
    assert "pass --force" in capsys.readouterr().err
    assert main(["curve", str(pairs), "--levels", "3", "--group-column", "group", "--labels",
                 "0,30"]) == 2
    assert "more than the 18 available" in capsys.readouterr().err


def test_curve_figure_from_document(result, tmp_path):
    path = save_figure(curve_figure(result.to_dict()), tmp_path / "c.svg")
    assert path.read_text().lstrip().startswith("<?xml")


def test_premise_figure_writes_png(tmp_path):
    def rule(name, entropy, tie_rate, accuracy, decisive, coverage):
        return {"rule": name, "entropy": entropy, "tie_rate": tie_rate, "accuracy": accuracy,
                "decisive_accuracy": decisive, "coverage": coverage, "num_rated": 10,
                "encore_weight": 0.25}

    corr = {"pearson": {"estimate": 0.6, "pvalue": 0.2, "low": 0.1, "high": 0.9},
            "spearman": {"estimate": 0.5, "pvalue": 0.3, "low": 0.0, "high": 0.9},
            "num_rules": 4, "rules": ["a", "b", "c", "d"], "num_valid_resamples": 10}
    report = {"premise_holds": False, "reasons": [], "verdict_rule": "",
              "rules": [rule("a", 0.1, 0.95, 0.51, 0.7, 1.0), rule("b", 0.9, 0.3, 0.6, 0.64, 0.8),
                        rule("c", 1.0, 0.2, 0.55, 0.56, 0.5), rule("d", 0.05, 1.0, 0.5, None, 1.0)],
              "correlation": corr, "decisive_correlation": None, "weights": {},
              "protocol": {"rare_tie_rate": 0.9}}
    path = premise_figure(report, tmp_path / "premise.png")
    assert path.read_bytes()[:8] == PNG
