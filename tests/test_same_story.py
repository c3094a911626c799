"""Every command tells the same story: `compare` and `diagnose` score a weighting alike.

`diagnose` reports each label-free weighting's accuracy over all pairs; `compare` with
`--test-fraction 1 --no-bt` evaluates every method on all pairs. With the same pairs, the
same entropy source and the default tie rule (a tie counts 1/2), every weighting both report
must get the same accuracy and tie rate: a different tie rule, missing-rating rule or entropy
pooling between the two commands would show up here as a different number.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from encore_jax import cli
from encore_jax.datasets import oasst1_path

RESAMPLES = "50"  # the point estimates compared here do not depend on the resamples


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    code = cli.main([*argv, "--json", "--resamples", RESAMPLES])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def shared_accuracies(capsys: pytest.CaptureFixture[str], path: str, levels: int,
                      group_column: str) -> tuple[dict, dict]:
    """``name -> (accuracy, tie rate)`` from compare (every pair evaluated) and diagnose."""
    compared = run_json(capsys, "compare", path, "--levels", str(levels), "--group-column",
                        group_column, "--test-fraction", "1", "--no-bt")
    diagnosed = run_json(capsys, "diagnose", path, "--levels", str(levels), "--group-column",
                         group_column)
    assert compared["protocol"]["tie"] == "half"
    from_compare = {row["name"]: (row["accuracy"]["estimate"], row["tie_rate"])
                    for row in compared["methods"]}
    from_diagnose = {row["name"]: (row["accuracy"]["estimate"], row["tie_rate"])
                     for row in diagnosed["methods"]}
    return from_compare, from_diagnose


def assert_same_story(from_compare: dict, from_diagnose: dict) -> None:
    shared = sorted(set(from_compare) & set(from_diagnose))
    # uniform, encore, the research weightings (decisive and agreement) at least.
    assert {"uniform", "encore", "research_decisive_encore",
            "research_agreement_dawid_skene"} <= set(shared), shared
    for name in shared:
        # Accuracies are counts over the same pairs: equal up to float32 weight rounding.
        assert from_compare[name][0] == pytest.approx(from_diagnose[name][0], abs=1e-6), name
        assert from_compare[name][1] == pytest.approx(from_diagnose[name][1], abs=1e-6), name


def test_compare_and_diagnose_agree_on_the_shipped_oasst1_pairs(capsys):
    assert_same_story(*shared_accuracies(capsys, str(oasst1_path("pairs_levels")), 38,
                                         "group_id"))


def test_compare_and_diagnose_agree_on_a_simulated_file_with_missing_ratings(tmp_path, capsys):
    rng = np.random.default_rng(19)
    n, k, levels = 240, 5, 4
    quality = rng.normal(size=(n, 2))
    noise = np.array([0.3, 0.8, 1.5, 3.0, 9.0])
    columns = {"prompt": rng.integers(0, 60, n)}
    for side, q in (("chosen", np.maximum(quality[:, 0], quality[:, 1])),
                    ("rejected", np.minimum(quality[:, 0], quality[:, 1]))):
        for j in range(k):
            score = q + noise[j] * rng.normal(size=n)
            level = np.clip(np.round(score + 1.5), 0, levels - 1).astype(int)
            columns[f"{side}_r{j}"] = [
                "" if rng.random() < 0.05 else str(v) for v in level]
    path = tmp_path / "pairs.csv"
    names = list(columns)
    lines = [",".join(names)] + [",".join(str(columns[c][i]) for c in names) for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    assert_same_story(*shared_accuracies(capsys, str(path), levels, "prompt"))
