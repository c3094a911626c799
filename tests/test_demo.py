"""encore-jax demo: the family's numbers against NumPy, OASST1 against the reference, the CLI's
figure folder."""

import json

import jax
import numpy as np
import pytest

from encore_jax import cli
from encore_jax.bradley_terry import fit_bt_weights
from encore_jax.cli import demo as demo_cli
from encore_jax.datasets import load_oasst1
from encore_jax.figures import DEMO_FIGURE_NAMES
from encore_jax.workflows.demo import (
    OASST1_VALUE_UNIT,
    FamilySpec,
    ensemble_pairs,
    oasst1_story,
    simulate_family,
)

# A small family: one compilation, seconds.
SMALL = FamilySpec(num_ensembles=4, min_rules=3, max_rules=6, num_train_pairs=300,
                   num_eval_pairs=200, seed=3)
TAU = 2.0


def _plugin_entropy(levels: np.ndarray, num_levels: int) -> float:
    p = np.bincount(levels, minlength=num_levels) / levels.size
    p = p[p > 0]
    return float(-np.sum(p * np.log(p)))


def _half_credit(margins: np.ndarray, atol: float = 0.0) -> float:
    return float(np.mean(np.where(margins > atol, 1.0, np.where(np.abs(margins) <= atol, 0.5,
                                                                  0.0))))


@pytest.fixture(scope="module")
def family():
    return simulate_family(SMALL, temperature=TAU)


def test_family_accuracies_match_numpy(family):
    n_train = SMALL.num_train_pairs
    assert family.num_rules.min() >= SMALL.min_rules
    assert family.num_rules.max() <= SMALL.max_rules
    for f in range(SMALL.num_ensembles):
        chosen, rejected = ensemble_pairs(SMALL, f)
        k = int(family.num_rules[f])
        assert chosen.shape == (n_train + SMALL.num_eval_pairs, k)
        pooled = np.concatenate([chosen[:n_train], rejected[:n_train]])
        h = np.array([_plugin_entropy(pooled[:, j], SMALL.num_levels) for j in range(k)])
        encore = np.exp(-(h - h.min()) / TAU)
        encore /= encore.sum()
        d = (chosen - rejected)[n_train:].astype(np.int64)
        # Uniform: the integer sum decides (exact); ENCORE: float64 with distinct weights.
        uniform_acc = _half_credit(d.sum(axis=1).astype(np.float64))
        encore_acc = _half_credit(d @ encore, atol=1e-9)
        np.testing.assert_allclose(family.weights[f, 0, :k], encore, rtol=2e-5)
        np.testing.assert_allclose(family.weights[f, 1, :k], 1.0 / k, rtol=1e-6)
        assert np.all(family.weights[f, :, k:] == 0)  # padding rules weigh nothing
        assert family.accuracy[f, 1] == pytest.approx(uniform_acc, abs=1e-6)
        assert family.accuracy[f, 0] == pytest.approx(encore_acc, abs=1e-6)
        assert (family.accuracy[f, 0] - family.accuracy[f, 1]) == pytest.approx(
            encore_acc - uniform_acc, abs=2e-6)
        # BT under vmap with padded rules = BT fitted alone on the ensemble's train diffs.
        fit = fit_bt_weights((chosen - rejected)[:n_train].astype(np.float32))
        np.testing.assert_allclose(family.weights[f, 2, :k], fit.weights, rtol=1e-3, atol=1e-4)
        bt_acc = _half_credit(d @ np.asarray(fit.weights, np.float64), atol=1e-9)
        assert family.accuracy[f, 2] == pytest.approx(bt_acc, abs=1.5 / SMALL.num_eval_pairs)


@pytest.fixture(scope="module")
def oasst1():
    return oasst1_story(jax.random.key(0), num_resamples=50)


def test_oasst1_matches_the_exact_reference(oasst1):
    methods = {m.name: m for m in oasst1.methods}
    assert oasst1.num_pairs == 997
    # The reference on the 997 complete pairs: uniform 609 / 997 (34 exact ties), ENCORE.
    assert round(methods["uniform"].all_pairs.estimate, 4) == 0.6108
    assert round(methods["encore"].all_pairs.estimate, 4) == 0.5993
    data = load_oasst1()
    complete = data.complete_pairs
    units = np.rint(np.nan_to_num(data.values) * OASST1_VALUE_UNIT).astype(np.int64)
    d = (units[data.chosen] - units[data.rejected])[complete]  # complete: no NaN was used
    margins = d.sum(axis=1)
    assert int((margins == 0).sum()) == 34
    assert methods["uniform"].all_pairs.estimate == pytest.approx(_half_credit(
        margins.astype(np.float64)))
    assert methods["bradley_terry"].all_pairs is None  # never scored on its training pairs
    assert oasst1.num_train_pairs + oasst1.num_eval_pairs == 997
    assert oasst1.num_train_groups + oasst1.num_eval_groups == oasst1.num_groups
    for m in oasst1.methods:
        w = np.asarray(m.weights)
        held_out = m.eval.estimate
        assert m.eval.low <= held_out <= m.eval.high
        assert m.eval_minus_uniform.estimate == pytest.approx(
            held_out - methods["uniform"].eval.estimate)
        assert w.shape == (13,)


def test_oasst1_premise_fails_with_reasons(oasst1):
    assert oasst1.premise.premise_holds is False
    assert oasst1.premise.correlation.pearson.low > 0
    assert any("rare flags" in r for r in oasst1.premise.reasons)


def test_figures_go_to_the_out_dir_and_an_existing_dir_is_refused(tmp_path, capsys):
    out = tmp_path / "figs"
    # SMALL's family and the fixtures' resamples: the same kernels, compiled once.
    argv = ["demo", "--out-dir", str(out), "--ensembles", SMALL.num_ensembles,
            "--min-rules", SMALL.min_rules, "--max-rules", SMALL.max_rules,
            "--train-pairs", SMALL.num_train_pairs, "--eval-pairs", SMALL.num_eval_pairs,
            "--seed", SMALL.seed, "--resamples", "50", "--json"]
    argv = [str(a) for a in argv]
    assert cli.main(argv) == 0
    document = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir()) == sorted(DEMO_FIGURE_NAMES)
    assert document["figures"] == [str(out / name) for name in DEMO_FIGURE_NAMES]
    assert len(document["simulated"]["ensembles"]) == SMALL.num_ensembles
    family = document["simulated"]["family"]
    assert {k: family[k] for k in SMALL._fields} == SMALL._asdict()
    assert document["oasst1"]["premise_check"]["premise_holds"] is False
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert cli.main(argv) == 2  # refused before any work
    err = capsys.readouterr().err.strip()
    assert "exists; pass --force" in err and "--out-dir" in err and len(err.splitlines()) == 1
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_missing_matplotlib_skips_figures_with_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    args = demo_cli.argparse.Namespace(no_figures=False, out_dir=str(tmp_path / "new"),
                                       force=False)
    assert demo_cli._figure_dir(args) is None
    out = capsys.readouterr().out
    assert out.startswith("note: matplotlib is not installed") and len(out.splitlines()) == 1
    assert not (tmp_path / "new").exists()


def test_max_rules_below_min_rules_is_refused(capsys):
    assert cli.main(["demo", "--no-figures", "--min-rules", "6", "--max-rules", "3"]) == 2
    assert "--max-rules 3 is below --min-rules 6" in capsys.readouterr().err
