"""compare_methods, its figures and `encore-jax compare`, against NumPy recomputations.

Every comparison here uses the same shapes (200 pairs, 10 rules, 5 subsets, 200 resamples)
so that JAX compiles the kernels once for the whole file.
"""

import json

import jax
import numpy as np
import pytest

import encore_jax as ej
import encore_jax.bradley_terry
from encore_jax import cli
from encore_jax.metrics import REWARDBENCH_SAFETY_SUBSETS
from encore_jax.metrics.rewardbench import rewardbench_safety
from encore_jax.workflows.protocol import holdout_split

LEVELS = 5
K = 10
OPTIONS = dict(num_resamples=200, num_random=5, bt_options={"max_steps": 100})


@pytest.fixture(scope="module")
def pairs():
    """200 simulated pairs, 10 rules of decreasing informativeness, 40 per safety subset."""
    # 1000 pairs x 10 rules simulated (the demo's shape: one compilation for both), the
    # first 200 pairs kept; informativeness decreasing, spread increasing over the rules.
    ensemble = ej.simulate_rule_ensemble(
        jax.random.key(5), 1000, informativeness=np.linspace(3.0, 0.0, K, dtype=np.float32),
        spread=np.array([0.6, 0.8, 1.0, 1.3, 1.6, 2, 3, 5, np.inf, np.inf], np.float32))
    chosen, rejected = np.asarray(ensemble.chosen)[:200], np.asarray(ensemble.rejected)[:200]
    rng = np.random.default_rng(0)
    chosen_mask = rng.random(chosen.shape) < 0.95
    return ej.Pairs(chosen, rejected, chosen_mask, np.ones(chosen.shape, bool),
                    np.repeat(np.array(REWARDBENCH_SAFETY_SUBSETS), 40))


def accuracy(diffs, weights, tie="half"):
    m = diffs @ np.asarray(weights, np.float64)
    return np.mean(np.where(m > 0, 1.0, np.where(m == 0, 0.5 if tie == "half" else 0.0, 0.0)))


def intervals(node):
    """Every {estimate, low, high} in a report."""
    if isinstance(node, dict):
        if "estimate" in node:
            yield node
        for value in node.values():
            yield from intervals(value)
    elif isinstance(node, list):
        for value in node:
            yield from intervals(value)


def test_holdout_split_is_a_stratified_partition():
    strata = np.array(["a"] * 7 + ["b"] * 10 + ["c"])
    train, held = holdout_split(jax.random.key(0), 18, test_fraction=0.3, strata=strata)
    assert np.intersect1d(train, held).size == 0
    np.testing.assert_array_equal(np.union1d(train, held), np.arange(18))
    # round half up, at least one per stratum: 0.3 * 7 = 2.1 -> 2, 0.3 * 10 -> 3, 0.3 -> 1.
    assert [np.sum(strata[held] == s) for s in "abc"] == [2, 3, 1]
    again = holdout_split(jax.random.key(0), 18, test_fraction=0.3, strata=strata)
    np.testing.assert_array_equal(again[1], held)
    with pytest.raises(ValueError, match="no train pair"):
        holdout_split(jax.random.key(0), 1, test_fraction=0.5)


def test_compare_methods_matches_numpy_on_the_held_out_split(pairs, monkeypatch):
    seen = []
    real_fit = encore_jax.bradley_terry.fit_bt_weights

    def recording_fit(diffs, **kwargs):
        seen.append(np.asarray(diffs))
        return real_fit(diffs, **kwargs)

    monkeypatch.setattr(encore_jax.bradley_terry, "fit_bt_weights", recording_fit)
    key = jax.random.key(0)
    report = ej.compare_methods(key, pairs, LEVELS, **OPTIONS)

    # The split is documented: holdout_split(fold_in(key, 0)), stratified by subset.
    train, held = holdout_split(jax.random.fold_in(key, 0), 200, strata=pairs.subset)
    observed = pairs.chosen_mask & pairs.rejected_mask
    diffs = np.where(observed, pairs.chosen - pairs.rejected, 0).astype(np.float64)
    assert (report.num_train_pairs, report.num_eval_pairs) == (len(train), len(held))
    # BT saw exactly the train pairs' differences, and is scored on the eval pairs only.
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], diffs[train])
    rows = {row["name"]: row for row in report.methods}
    bt = rows["bradley_terry"]
    assert bt["accuracy"]["estimate"] == pytest.approx(accuracy(diffs[held], bt["weights"]))

    # Entropies from the train pairs' ratings (chosen and rejected pooled, where the rule
    # rated both, as in diagnose), never eval's.
    pooled = np.concatenate([pairs.chosen[train], pairs.rejected[train]])
    pooled_mask = np.concatenate([observed[train], observed[train]])
    entropies = np.asarray(ej.rating_entropy(pooled, LEVELS, mask=pooled_mask))
    np.testing.assert_allclose(report.entropies, entropies, rtol=1e-6)
    encore = np.exp(-entropies / 2) / np.exp(-entropies / 2).sum()
    np.testing.assert_allclose(rows["encore"]["weights"], encore, rtol=1e-5)
    lowest = np.zeros(K)
    lowest[np.argsort(entropies, kind="stable")[:3]] = 1 / 3
    np.testing.assert_allclose(rows["lowest_entropy"]["weights"], lowest, rtol=1e-6)

    single = [accuracy(diffs[held], np.eye(K)[k]) for k in range(K)]
    best_on_train = int(np.argmax([accuracy(diffs[train], np.eye(K)[k]) for k in range(K)]))
    expected = {
        "encore": accuracy(diffs[held], encore),
        "uniform": accuracy(diffs[held], np.full(K, 1 / K)),
        "single_mean": np.mean(single),
        "single_best": single[best_on_train],
        "lowest_entropy": accuracy(diffs[held], lowest),
    }
    for name, value in expected.items():
        assert rows[name]["accuracy"]["estimate"] == pytest.approx(value, rel=1e-5), name
    assert report.single_best_rule["rule"] == f"rule_{best_on_train}"
    for subset in REWARDBENCH_SAFETY_SUBSETS:
        rows_in = held[pairs.subset[held] == subset]
        assert rows["uniform"]["subsets"][subset]["estimate"] == pytest.approx(
            accuracy(diffs[rows_in], np.full(K, 1 / K)), rel=1e-5)
        assert rows["uniform"]["subsets"][subset]["num_pairs"] == len(rows_in) == 20

    # The Safety aggregate is the count-weighted mean of the subset accuracies (v1 counts).
    safety = rewardbench_safety(
        {s: rows["encore"]["subsets"][s]["estimate"] for s in REWARDBENCH_SAFETY_SUBSETS})
    assert rows["encore"]["safety"]["estimate"] == pytest.approx(float(safety.score), rel=1e-5)
    assert report.rewardbench_safety["counts_version"] == "v1"

    # Every number in the table carries an interval that contains it.
    for row in report.methods + report.temperature_sweep:
        assert row["accuracy"] is not None and row["safety"] is not None
        assert all(row["subsets"][s] is not None for s in REWARDBENCH_SAFETY_SUBSETS)
        if row["name"] != "encore":
            assert row["encore_minus"]["estimate"] == pytest.approx(
                rows["encore"]["accuracy"]["estimate"] - row["accuracy"]["estimate"], abs=1e-6)
    found = list(intervals(report.to_dict()))
    assert len(found) > 50
    for interval in found:
        assert interval["low"] <= interval["estimate"] + 1e-6
        assert interval["estimate"] <= interval["high"] + 1e-6
    for rule in report.rules:
        assert rule["accuracy_low"] <= rule["accuracy"] <= rule["accuracy_high"]
    spread = report.random_spread
    assert spread["min"] <= rows["random"]["accuracy"]["estimate"] <= spread["max"]
    json.dumps(report)  # JSON-able as is


def test_bt_is_never_scored_on_its_training_pairs(pairs):
    # Adversarial split: only rule 0 separates the responses; on the train pairs it always
    # favours the chosen one, on the eval pairs the rejected one. Scored on its own training
    # pairs BT would be perfect; on the held-out pairs its positive weight loses every pair.
    chosen, rejected = pairs.chosen.copy(), pairs.rejected.copy()
    chosen[:, 1:] = rejected[:, 1:]
    train, held = np.arange(0, 200, 2), np.arange(1, 200, 2)
    chosen[train, 0], rejected[train, 0] = 4, 0
    chosen[held, 0], rejected[held, 0] = 0, 4
    data = pairs._replace(chosen=chosen, rejected=rejected, chosen_mask=None)
    report = ej.compare_methods(jax.random.key(1), data, LEVELS, split=(train, held), **OPTIONS)
    bt = next(row for row in report.methods if row["name"] == "bradley_terry")
    assert bt["weights"][0] > 0
    diffs = (chosen - rejected).astype(np.float64)
    assert bt["accuracy"]["estimate"] == pytest.approx(accuracy(diffs[held], bt["weights"]))
    assert accuracy(diffs[train], bt["weights"]) == 1.0
    assert bt["accuracy"]["estimate"] == 0.0 and bt["accuracy"]["high"] == 0.0
    with pytest.raises(ValueError, match="overlap"):
        ej.compare_methods(jax.random.key(1), data, LEVELS, split=(train, train[:5]), **OPTIONS)


def test_figures_render_to_png(pairs, tmp_path):
    from encore_jax.figures import FIGURE_NAMES, comparison_figures, save_png

    report = ej.compare_methods(jax.random.key(2), pairs, LEVELS, **OPTIONS)
    figures = comparison_figures(report.to_dict())
    assert tuple(figures) == FIGURE_NAMES
    for name, figure in figures.items():
        save_png(figure, tmp_path / name)
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def write_pairs_csv(path, pairs):
    names = [f"r{k}" for k in range(K)]
    header = [f"chosen_{n}" for n in names] + [f"rejected_{n}" for n in names] + ["subset"]
    lines = [",".join(header)]
    for i in range(len(pairs.chosen)):
        cells = [str(v) if m else "" for v, m in zip(pairs.chosen[i], pairs.chosen_mask[i],
                                                     strict=True)]
        cells += [str(v) for v in pairs.rejected[i]] + [str(pairs.subset[i])]
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")


def test_cli_compare_end_to_end(pairs, tmp_path, capsys):
    path = tmp_path / "pairs.csv"
    write_pairs_csv(path, pairs)
    figures, out = tmp_path / "figs", tmp_path / "report.json"
    argv = ["compare", str(path), "--levels", "5", "--subset-column", "subset",
            "--resamples", "200", "--num-random", "5", "--bt-steps", "100",
            "--figures", str(figures), "--out", str(out)]
    assert cli.main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text())["methods"] == report["methods"]
    library = ej.compare_methods(jax.random.key(0), pairs, LEVELS, **OPTIONS)
    assert report["rule_names"] == [f"r{k}" for k in range(K)]
    for got, want in zip(report["methods"], library.methods, strict=True):
        assert got["name"] == want["name"]
        assert got["accuracy"] == pytest.approx(want["accuracy"], rel=1e-6)
        assert got["safety"] == pytest.approx(want["safety"], rel=1e-6)
    written = sorted(p.name for p in figures.iterdir())
    assert written == sorted(["entropy_vs_accuracy.png", "weights_vs_entropy.png",
                              "method_accuracy.png"])
    before = {p.name: p.read_bytes() for p in figures.iterdir()}

    # Existing figures are never overwritten without --force, and nothing is computed.
    assert cli.main(argv) == 2
    assert "--force" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in figures.iterdir()} == before
    assert cli.main([*argv, "--force"]) == 0
    out_text = capsys.readouterr().out
    assert "ENCORE (tau=2)" in out_text and "figures:" in out_text


def test_calibration_ratings_set_the_entropies(pairs):
    calibration = np.asarray(ej.simulate_rule_ensemble(
        jax.random.key(9), 1000, informativeness=np.zeros(K, np.float32),
        spread=np.linspace(0.5, 3.0, K, dtype=np.float32)).chosen)
    report = ej.compare_methods(jax.random.key(0), pairs, LEVELS, calibration=calibration,
                                **OPTIONS)
    entropies = np.asarray(ej.rating_entropy(calibration, LEVELS))
    np.testing.assert_allclose(report.entropies, entropies, rtol=1e-6)
    assert report.protocol["entropy_source"].startswith("calibration set (1000")
    assert [r["entropy"] for r in report.rules] == pytest.approx(list(entropies), rel=1e-6)


def numpy_entropy(ratings, mask, levels=LEVELS):
    """Plug-in entropy (nats) of each column's observed levels, by counting."""
    out = []
    for k in range(ratings.shape[1]):
        counts = np.bincount(ratings[mask[:, k], k], minlength=levels).astype(np.float64)
        q = counts[counts > 0] / counts.sum()
        out.append(-(q * np.log(q)).sum())
    return np.array(out)


def inverse_entropy(data):
    """A user weighting: w_k = 1 / (1 + H_k) from the calibration ratings."""
    return 1.0 / (1.0 + ej.rating_entropy(data.ratings, data.num_levels, mask=data.mask))


def test_exact_ties_uniform_accuracy_is_the_integer_count():
    # Integer ratings, uniform weights 1/K: a margin is zero exactly when the integer sum of
    # the differences is; float rounding of 0.1 * d must not turn such ties into wins.
    rng = np.random.default_rng(3)
    chosen = rng.integers(0, LEVELS, (200, K)).astype(np.int32)
    rejected = rng.integers(0, LEVELS, (200, K)).astype(np.int32)
    sums = (chosen.astype(np.int64) - rejected).sum(axis=1)
    split = (np.arange(100), np.arange(100, 200))
    held = sums[split[1]]
    assert (held == 0).sum() >= 5  # the regression needs exact ties
    for tie, tie_credit in (("loss", 0.0), ("half", 0.5)):
        report = ej.compare_methods(jax.random.key(0), ej.Pairs(chosen, rejected), LEVELS,
                                    split=split, tie=tie, **OPTIONS)
        uniform = next(r for r in report.methods if r["name"] == "uniform")
        expected = np.mean((held > 0) + tie_credit * (held == 0))
        assert uniform["accuracy"]["estimate"] == pytest.approx(expected, abs=1e-7), tie
        assert uniform["tie_rate"] == pytest.approx(np.mean(held == 0), abs=1e-7)


def test_chunked_and_blocked_results_equal_the_one_pass_results(pairs, monkeypatch):
    from encore_jax.workflows import methods, row_bootstrap

    whole = ej.compare_methods(jax.random.key(0), pairs, LEVELS, tie="half", **OPTIONS)
    # 100 eval pairs in chunks of 64 (a padded tail); 4 rows per bootstrap block.
    monkeypatch.setattr(methods, "CHUNK_PAIRS", 64)
    monkeypatch.setattr(row_bootstrap, "ELEMENTS_PER_STEP", 400)
    chunked = ej.compare_methods(jax.random.key(0), pairs, LEVELS, tie="half", **OPTIONS)
    found = list(zip(intervals(whole.to_dict()), intervals(chunked.to_dict()), strict=True))
    assert len(found) > 50
    for a, b in found:
        assert b == pytest.approx(a, abs=1e-6)
    assert [r["tie_rate"] for r in chunked.methods] == pytest.approx(
        [r["tie_rate"] for r in whole.methods], abs=1e-7)


def test_research_extensions_and_user_weightings_are_rows(pairs, tmp_path, monkeypatch):
    seen = []

    def recorded(data):
        seen.append(data)
        return inverse_entropy(data)

    key = jax.random.key(0)
    report = ej.compare_methods(key, pairs, LEVELS, weightings={"inverse": recorded},
                                **OPTIONS)
    train, held = holdout_split(jax.random.fold_in(key, 0), 200, strata=pairs.subset)
    observed = pairs.chosen_mask & pairs.rejected_mask
    diffs = np.where(observed, pairs.chosen - pairs.rejected, 0).astype(np.float64)
    rows = {row["name"]: row for row in report.methods}
    assert [rows[n]["kind"] for n in ("encore", "uniform", "research_decisive_encore",
                                      "research_decisive_entropy", "inverse")] == [
        "encore", "baseline", "research extension", "research extension", "user"]
    assert "research extension" in rows["research_decisive_entropy"]["label"]

    # The weighting saw the train pairs with fair-coin sides in a random order (permutation
    # from fold_in(fold_in(key, 5), 1)) and their ratings pooled as [pair_a; pair_b], never
    # which side was chosen; its weights are 1 / (1 + H) of those ratings.
    (data,) = seen
    pooled = np.concatenate([pairs.chosen[train], pairs.rejected[train]])
    pooled_mask = np.concatenate([observed[train], observed[train]])
    order = np.asarray(jax.random.permutation(
        jax.random.fold_in(jax.random.fold_in(key, 5), 1), len(train)))
    rated = observed[train][order]
    np.testing.assert_array_equal(np.asarray(data.pair_mask), rated)
    a, b, c, r = (np.where(rated, x, 0) for x in (
        np.asarray(data.pair_a), np.asarray(data.pair_b), pairs.chosen[train][order],
        pairs.rejected[train][order]))
    heads = np.all(a == c, axis=1) & np.all(b == r, axis=1)
    tails = np.all(a == r, axis=1) & np.all(b == c, axis=1)
    assert np.all(heads | tails) and 0 < heads.sum() < len(train)
    n_train = len(train)
    np.testing.assert_array_equal(np.asarray(data.ratings)[:n_train], np.asarray(data.pair_a))
    np.testing.assert_array_equal(np.asarray(data.ratings)[n_train:], np.asarray(data.pair_b))
    expected_w = 1.0 / (1.0 + numpy_entropy(pooled, pooled_mask))
    np.testing.assert_allclose(rows["inverse"]["weights"], expected_w, rtol=1e-5)

    # Accuracy (NumPy oracle on the held-out pairs) and paired differences of added rows.
    for name in ("inverse", "research_decisive_encore", "research_decisive_entropy"):
        row = rows[name]
        assert row["accuracy"]["estimate"] == pytest.approx(
            accuracy(diffs[held], row["weights"]), abs=1e-6), name
        for baseline, key_name in (("encore", "encore_minus"), ("uniform", "uniform_minus")):
            assert row[key_name]["estimate"] == pytest.approx(
                rows[baseline]["accuracy"]["estimate"] - row["accuracy"]["estimate"],
                abs=1e-6)
            assert row[key_name]["low"] <= row[key_name]["estimate"] <= row[key_name]["high"]
    assert rows["uniform"]["uniform_minus"] is None and rows["encore"]["encore_minus"] is None
    assert "conditional on the weights fitted on the train split" in \
        report.protocol["interval"]

    # The same weighting by import spec, from the library and from the command line.
    (tmp_path / "my_weightings.py").write_text(
        "import encore_jax as ej\n\n\ndef inverse_entropy(data):\n"
        "    return 1.0 / (1.0 + ej.rating_entropy(data.ratings, data.num_levels, "
        "mask=data.mask))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    by_spec = ej.compare_methods(key, pairs, LEVELS,
                                 weightings={"inverse": "my_weightings:inverse_entropy"},
                                 **OPTIONS)
    spec_row = next(r for r in by_spec.methods if r["name"] == "inverse")
    assert spec_row["accuracy"] == rows["inverse"]["accuracy"]
    path = tmp_path / "pairs.csv"
    write_pairs_csv(path, pairs)
    out = tmp_path / "report.json"
    assert cli.main(["compare", str(path), "--levels", "5", "--subset-column", "subset",
                     "--resamples", "200", "--num-random", "5", "--bt-steps", "100",
                     "--weighting", "my_weightings:inverse_entropy", "--out", str(out),
                     "--json"]) == 0
    cli_rows = {r["name"]: r for r in json.loads(out.read_text())["methods"]}
    assert cli_rows["my_weightings:inverse_entropy"]["kind"] == "user"
    assert cli_rows["my_weightings:inverse_entropy"]["accuracy"]["estimate"] == pytest.approx(
        rows["inverse"]["accuracy"]["estimate"], abs=1e-6)


# ------------------------------------------------------------------------------------------
# Groups, the tie rule, every pair evaluated (issue 19)
# ------------------------------------------------------------------------------------------

NO_BT = dict(OPTIONS, fit_bt=False)
COMPARED = ("encore", "uniform", "random", "single_mean", "single_best", "lowest_entropy")


def quartered(pairs):
    """Every 4th pair of the fixture (50 pairs, 10 per subset)."""
    return ej.Pairs(*(None if a is None else np.asarray(a)[::4] for a in pairs))


def test_a_group_of_identical_pairs_resamples_as_one_pair(pairs):
    # Oracle: 50 pairs each repeated 4 times and grouped (a group = the 4 copies) must give
    # the split, accuracies and every interval of the 50 pairs ungrouped: the group split
    # draws the same groups as the pair split draws pairs, and a resampled group of 4
    # identical pairs weighs as one pair in every ratio of sums.
    from encore_jax.workflows.compare import compare_methods

    small = quartered(pairs)
    repeated = ej.Pairs(*(None if a is None else np.repeat(np.asarray(a), 4, axis=0)
                          for a in small))
    groups = np.repeat(np.array([f"prompt {g}" for g in range(50)], object), 4)
    key = jax.random.key(4)
    plain = compare_methods(key, small, LEVELS, **NO_BT)
    grouped = compare_methods(key, repeated, LEVELS, groups=groups, **NO_BT)
    assert grouped.num_eval_pairs == 4 * plain.num_eval_pairs
    assert grouped.protocol["groups"]["unit"] == "group"
    assert grouped.protocol["groups"]["num_eval_groups"] == plain.num_eval_pairs
    assert grouped.protocol["groups"]["num_train_groups"] == plain.num_train_pairs
    assert plain.protocol["groups"]["unit"] == "pair"
    assert "independent units" in plain.protocol["groups"]["note"]
    assert "groups (whole groups)" in grouped.protocol["interval"]
    rows = {r["name"]: r for r in plain.methods}
    for row in grouped.methods:
        if row["name"] not in COMPARED:
            continue
        found = list(zip(intervals(rows[row["name"]]), intervals(row), strict=True))
        assert len(found) >= 8
        for want, got in found:
            assert [got[k] for k in ("estimate", "low", "high")] == pytest.approx(
                [want[k] for k in ("estimate", "low", "high")], abs=2e-6), row["name"]
    for want, got in zip(plain.rules, grouped.rules, strict=True):
        assert (got["accuracy_low"], got["accuracy_high"]) == pytest.approx(
            (want["accuracy_low"], want["accuracy_high"]), abs=2e-6)


def test_a_group_split_keeps_every_group_on_one_side(pairs):
    from encore_jax.workflows.compare import compare_methods
    from encore_jax.workflows.protocol import checked_groups, group_holdout_split

    groups = np.arange(200) // 4 * 7 % 61  # 50 groups of 4 pairs, nested in the subsets
    codes, missing = checked_groups(groups, 200)
    assert missing == 0 and codes.max() == 49 and codes[0] == 0 and codes[4] == 1
    key = jax.random.key(0)
    train, held = group_holdout_split(jax.random.fold_in(key, 0), codes, strata=pairs.subset)
    assert np.intersect1d(groups[train], groups[held]).size == 0
    np.testing.assert_array_equal(np.union1d(train, held), np.arange(200))
    # Half of each subset's 10 groups held out.
    assert [len(np.unique(groups[held][pairs.subset[held] == s]))
            for s in REWARDBENCH_SAFETY_SUBSETS] == [5] * 5
    report = compare_methods(key, pairs, LEVELS, groups=groups, **OPTIONS)
    assert (report.num_train_pairs, report.num_eval_pairs) == (len(train), len(held))
    observed = pairs.chosen_mask & pairs.rejected_mask
    diffs = np.where(observed, pairs.chosen - pairs.rejected, 0).astype(np.float64)
    bt = next(r for r in report.methods if r["name"] == "bradley_terry")
    assert bt["accuracy"]["estimate"] == pytest.approx(accuracy(diffs[held], bt["weights"]))
    assert report.rewardbench_safety is not None and "interval" not in report.rewardbench_safety
    fit = report.bradley_terry
    assert fit["steps_taken"] >= 1 and isinstance(fit["converged"], bool)
    assert fit["grad_norm"] >= 0 and "separable" in fit
    # An explicit split that cuts a group is refused.
    with pytest.raises(ValueError, match="both sides"):
        compare_methods(key, pairs, LEVELS, groups=groups, split=(np.arange(1, 200), [0]),
                        **OPTIONS)


def test_missing_group_ids_are_an_error_or_each_its_own_group(pairs):
    from encore_jax.workflows.compare import compare_methods

    small = quartered(pairs)
    groups = np.array([f"g{i // 2}" for i in range(50)], object)
    groups[[3, 17]] = None
    groups[20] = ""
    with pytest.raises(ValueError, match=r"3 missing group id\(s\) \(rows 3, 17, 20.*"
                                         r"missing_groups='own'"):
        compare_methods(jax.random.key(4), small, LEVELS, groups=groups, **NO_BT)
    # Every id missing and "own": each pair is its own group, so the pair bootstrap's numbers.
    plain = compare_methods(jax.random.key(4), small, LEVELS, **NO_BT)
    own = compare_methods(jax.random.key(4), small, LEVELS, groups=[None] * 50,
                          missing_groups="own", **NO_BT)
    assert own.protocol["groups"]["missing_group_ids"] == 50
    assert "each its own group" in own.protocol["groups"]["note"]
    for want, got in zip(plain.methods, own.methods, strict=True):
        if want["name"] in COMPARED:
            assert got["accuracy"] == pytest.approx(want["accuracy"], abs=2e-6)
            assert got["uniform_minus"] == pytest.approx(want["uniform_minus"], abs=2e-6)


def test_every_pair_evaluated_matches_numpy_with_ties_half(pairs):
    # test_fraction=1 without BT: every label-free method on all 200 pairs; entropies from
    # all pairs' ratings (chosen and rejected pooled); a tie counts 1/2.
    from encore_jax.workflows.compare import compare_methods

    report = compare_methods(jax.random.key(0), pairs, LEVELS, test_fraction=1.0, **NO_BT)
    assert report.num_eval_pairs == report.num_train_pairs == 200
    assert report.protocol["tie"] == "half"
    # Entropies pool both sides' ratings of the pairs where the rule rated both (as diagnose).
    observed = pairs.chosen_mask & pairs.rejected_mask
    pooled = np.concatenate([pairs.chosen, pairs.rejected])
    pooled_mask = np.concatenate([observed, observed])
    entropies = numpy_entropy(pooled, pooled_mask)
    np.testing.assert_allclose(report.entropies, entropies, rtol=1e-5)
    encore = np.exp(-entropies / 2) / np.exp(-entropies / 2).sum()
    diffs = np.where(observed, pairs.chosen - pairs.rejected, 0).astype(np.float64)
    rows = {r["name"]: r for r in report.methods}
    assert rows["encore"]["accuracy"]["estimate"] == pytest.approx(accuracy(diffs, encore),
                                                                   abs=1e-6)
    assert rows["uniform"]["accuracy"]["estimate"] == pytest.approx(
        accuracy(diffs, np.full(K, 1 / K)), abs=1e-6)
    for name in ("research_decisive_encore", "research_decisive_entropy"):
        assert rows[name]["accuracy"]["estimate"] == pytest.approx(
            accuracy(diffs, rows[name]["weights"]), abs=1e-6)
    assert "in-sample" in rows["single_best"]["label"]
    with pytest.raises(ValueError, match="fit_bt=False"):
        compare_methods(jax.random.key(0), pairs, LEVELS, test_fraction=1.0, **OPTIONS)


def test_differences_are_reported_under_both_tie_rules(pairs):
    # Integer ratings on few levels: uniform ties often, ENCORE rarely. Under ties 1/2 each
    # paired difference exceeds the one under ties as losses by half the tie-rate gap.
    from encore_jax.workflows.compare import compare_methods

    small = quartered(pairs)
    report = compare_methods(jax.random.key(4), small, LEVELS, **NO_BT)
    rows = {r["name"]: r for r in report.methods}
    effect = report.tie_effect
    assert effect["tie_rates_differ"]
    train, held = holdout_split(jax.random.fold_in(jax.random.key(4), 0), 50,
                                   strata=small.subset)
    observed = small.chosen_mask & small.rejected_mask
    diffs = np.where(observed, small.chosen - small.rejected, 0).astype(np.float64)[held]
    for rule in ("half", "loss"):
        want = (accuracy(diffs, rows["encore"]["weights"], rule)
                - accuracy(diffs, rows["uniform"]["weights"], rule))
        got = effect["encore_minus_uniform"][rule]
        assert got["estimate"] == pytest.approx(want, abs=1e-6), rule
        assert got["low"] <= got["estimate"] <= got["high"]
    assert effect["encore_minus_uniform"]["half"] == rows["uniform"]["encore_minus"]
    for row in report.methods[1:]:
        both = row["encore_minus_by_tie"]
        gap = 0.5 * (rows["encore"]["tie_rate"] - row["tie_rate"])
        assert both["half"]["estimate"] - both["loss"]["estimate"] == pytest.approx(
            gap, abs=1e-6), row["name"]


def test_cli_compare_groups_and_footer(pairs, tmp_path, capsys):
    path = tmp_path / "pairs.csv"
    write_pairs_csv(path, pairs)
    lines = path.read_text().splitlines()
    ids = [""] + [str(i // 4) for i in range(200)]
    ids[6] = ""  # pair 5 has no group id
    path.write_text("\n".join(f"{line},{g}" for line, g in
                              zip(lines, ["group", *ids[1:]], strict=True)) + "\n")
    argv = ["compare", str(path), "--levels", "5", "--subset-column", "subset",
            "--resamples", "200", "--num-random", "5", "--bt-steps", "100",
            "--group-column", "group"]
    assert cli.main(argv) == 2
    assert "rows 5" in capsys.readouterr().err
    assert cli.main([*argv, "--missing-groups", "own", "--tie", "loss"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "a tied pair counts a loss (RewardBench's rule) (--tie loss)" in out
    assert "units: whole groups (group)" in out and "1 pair(s) without a group id" in out
    assert "Bradley-Terry: " in out and " steps, " in out
    assert cli.main(["compare", str(path), "--levels", "5", "--test-fraction", "1"]) == 2
    assert "--no-bt" in capsys.readouterr().err
