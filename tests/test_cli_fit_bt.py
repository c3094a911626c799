"""``encore-jax fit-bt``: converges by default (the library fit, reported with its step count,
convergence flag and gradient norm), warns on stderr when it stops on the step limit, and
offers the library's optimizers."""

import json

import numpy as np
import pytest

from encore_jax import bradley_terry, cli
from encore_jax.cli import fit_bt

NUM_PAIRS, RULES = 400, ("a", "b", "c")


@pytest.fixture(scope="module")
def pairs_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    rejected = rng.integers(0, 5, size=(NUM_PAIRS, len(RULES)))
    chosen = rng.integers(0, 5, size=(NUM_PAIRS, len(RULES)))
    swap = rng.random(NUM_PAIRS) < 1 / (1 + np.exp(-(chosen - rejected) @ [0.8, 0.0, -0.3]))
    chosen, rejected = np.where(swap[:, None], chosen, rejected), np.where(
        swap[:, None], rejected, chosen)
    path = tmp_path_factory.mktemp("fit_bt") / "pairs.csv"
    header = [f"chosen_{r}" for r in RULES] + [f"rejected_{r}" for r in RULES]
    body = np.concatenate([chosen, rejected], axis=1)
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(map(str, row)) for row in body)
                    + "\n")
    return path, (chosen - rejected).astype(np.float32)


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_default_run_converges_to_the_library_fit(pairs_csv, capsys):
    path, diffs = pairs_csv
    code, out, err = run(capsys, "fit-bt", path, "--json")
    assert code == 0 and "warning" not in err
    report = json.loads(out)
    fit = bradley_terry.fit_bt_weights(diffs, record_every=500)  # every rating observed
    assert report["converged"] is True and bool(fit.converged)
    assert report["optimizer"] == "lbfgs" and report["tol"] == bradley_terry.DEFAULT_TOL
    assert report["max_steps"] == bradley_terry.DEFAULT_MAX_STEPS
    assert report["steps_taken"] == int(fit.steps_taken)
    assert report["final_gradient_norm"] == pytest.approx(float(fit.grad_norm), rel=1e-6)
    np.testing.assert_allclose([r["weight"] for r in report["rules"]], fit.weights, rtol=1e-6)
    code, out, err = run(capsys, "fit-bt", path)
    assert code == 0 and "converged after" in out and "warning" not in err


def test_step_limit_prints_a_warning_and_reports_unconverged(pairs_csv, capsys):
    path, diffs = pairs_csv
    code, out, err = run(capsys, "fit-bt", path, "--optimizer", "sgd", "--learning-rate", 0.01,
                         "--max-steps", 3, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["converged"] is False and report["steps_taken"] == 3
    assert report["final_gradient_norm"] > report["tol"]
    assert err.count("\n") == 1 and err.startswith("warning: fit-bt stopped on the step limit")
    fit = bradley_terry.fit_bt_weights(diffs, optimizer="sgd", learning_rate=0.01, max_steps=3,
                                       record_every=3, mask=np.ones(NUM_PAIRS, bool))
    np.testing.assert_allclose([r["weight"] for r in report["rules"]], fit.weights, rtol=1e-6)
    code, out, err = run(capsys, "fit-bt", path, "--optimizer", "sgd", "--max-steps", 3)
    assert code == 0 and "NOT converged" in out and err.startswith("warning:")


def test_newton_reaches_the_lbfgs_weights(pairs_csv, capsys):
    path, diffs = pairs_csv
    reports = [json.loads(run(capsys, "fit-bt", path, "--optimizer", name, "--json")[1])
               for name in ("newton", "lbfgs")]
    assert all(r["converged"] for r in reports)
    # Both stop at max |g| <= 1e-5; |w - w'| <= 2 sqrt(K) tol / lambda_min(H), H >= 0.1 here.
    bound = 2 * np.sqrt(len(RULES)) * 1e-5 / np.linalg.eigvalsh(
        bradley_terry_hessian(diffs, [r["weight"] for r in reports[1]["rules"]]))[0]
    weights = [np.array([r["weight"] for r in rep["rules"]]) for rep in reports]
    assert np.linalg.norm(weights[0] - weights[1]) <= bound


def bradley_terry_hessian(diffs, weights):
    d = diffs.astype(np.float64)
    s = 1 / (1 + np.exp(-(d @ np.asarray(weights, np.float64))))
    return (d * (s * (1 - s))[:, None]).T @ d / len(d)


def test_cli_choices_mirror_the_library():
    assert fit_bt.OPTIMIZERS == bradley_terry.OPTIMIZERS


def test_learning_rate_needs_a_first_order_optimizer(pairs_csv, capsys):
    code, _, err = run(capsys, "fit-bt", pairs_csv[0], "--learning-rate", 0.1)
    assert code != 0 and "--learning-rate" in err


def test_default_run_reports_the_pairs_not_separable(pairs_csv, capsys):
    report = json.loads(run(capsys, "fit-bt", pairs_csv[0], "--json")[1])
    assert report["separable"] is False and report["separability_check"] == "auto"


def write_pairs(path, chosen, rejected):
    header = [f"chosen_{r}" for r in RULES] + [f"rejected_{r}" for r in RULES]
    body = np.concatenate([chosen, rejected], axis=1)
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(map(str, row)) for row in body)
                    + "\n")


def test_separable_pairs_warn_and_suggest_l2(tmp_path, capsys):
    # Rule "a" never rates the rejected response higher, and higher on some pairs: the
    # direction (1, 0, 0) separates the pairs (quasi-completely), no finite optimum exists.
    rng = np.random.default_rng(1)
    rejected = rng.integers(0, 5, size=(60, 3))
    chosen = rng.integers(0, 5, size=(60, 3))
    chosen[:, 0] = np.maximum(chosen[:, 0], rejected[:, 0])
    path = tmp_path / "separable.csv"
    write_pairs(path, chosen, rejected)
    code, out, err = run(capsys, "fit-bt", path, "--json")
    report = json.loads(out)
    assert code == 0 and report["separable"] is True and report["converged"] is False
    assert err.startswith("warning: the pairs are separable") and "--l2" in err
    code, out, err = run(capsys, "fit-bt", path)
    text = " ".join(out.split())  # the table title wraps with the terminal width
    assert "separable pairs: no finite optimum" in text and "pairs separable" in text
    code, out, err = run(capsys, "fit-bt", path, "--l2", 0.01, "--json")
    report = json.loads(out)
    assert report["separable"] is True and report["converged"] is True
    assert "penalised" in err

