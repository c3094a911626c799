"""The entropy, weights, compose, label, fit-bt and theory commands end to end, in-process
through ``encore_jax.cli.main`` on small files in every format, plus one subprocess run of
the installed ``encore-jax`` entry point.

Oracles: the known arrays the files were written from, plain NumPy (composites, top-k
selection, labels) and the library functions for the numbers the commands only forward."""

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import encore_jax as ej
from encore_jax import cli
from encore_jax import io as data
from encore_jax.cli import theory as theory_cli

RULES = ("harmless", "honest", "helpful", "concise")
N = 24
FORMATS = ("csv", "jsonl", "parquet", "npz")


@pytest.fixture(scope="module")
def known():
    """Ratings [N, K] in 0..4 with two missing entries, and ids."""
    rng = np.random.default_rng(7)
    ratings = rng.integers(0, 5, size=(N, len(RULES))).astype(np.int32)
    ratings[:, 3] = rng.choice(5, size=N, p=[0.85, 0.05, 0.05, 0.03, 0.02])  # low entropy
    mask = np.ones(ratings.shape, dtype=bool)
    mask[2, 1] = False
    mask[17, 3] = False
    ids = np.array([f"resp{i:02d}" for i in range(N)])
    return ratings, mask, ids


def write_known(path, fmt, known):
    """Writes the known table without encore_jax (text, json, pyarrow, np.savez)."""
    ratings, mask, ids = known
    if fmt == "csv":
        lines = ["id," + ",".join(RULES)]
        for i in range(N):
            cells = [str(ratings[i, k]) if mask[i, k] else "" for k in range(len(RULES))]
            lines.append(f"{ids[i]}," + ",".join(cells))
        path.write_text("\n".join(lines) + "\n")
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps({"id": str(ids[i]), **{
            rule: int(ratings[i, k]) if mask[i, k] else None for k, rule in enumerate(RULES)}})
            + "\n" for i in range(N)))
    elif fmt == "parquet":
        columns = {"id": pa.array(ids.tolist())}
        for k, rule in enumerate(RULES):
            columns[rule] = pa.array(ratings[:, k].astype(np.int64), mask=~mask[:, k])
        pq.write_table(pa.table(columns), path)
    else:
        np.savez(path, ratings=ratings, mask=mask, rule_names=np.array(RULES), id=ids)
    return path


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def only_files(directory):
    return sorted(p.name for p in Path(directory).iterdir())


# --- compare -----------------------------------------------------------------------------


def test_compare_skips_the_text_columns_of_a_parquet_file(tmp_path, capsys, known):
    # A file shaped like real research data: prompt / chosen / rejected text next to the
    # chosen_<rule> / rejected_<rule> ratings; the text columns need no option.
    ratings, mask, _ = known
    chosen, rejected = ratings[: N // 2], ratings[N // 2:]
    columns = {"prompt": pa.array([f"prompt {i}" for i in range(N // 2)]),
               "chosen": pa.array(["a long chosen answer"] * (N // 2)),
               "rejected": pa.array(["a rejected answer"] * (N // 2))}
    for k, rule in enumerate(RULES):
        columns[f"chosen_{rule}"] = pa.array(chosen[:, k].astype(np.int8))
        columns[f"rejected_{rule}"] = pa.array(rejected[:, k].astype(np.int8))
    path = tmp_path / "pairs.parquet"
    pq.write_table(pa.table(columns), path)
    report = run_json(capsys, "compare", path, "--levels", 5, "--resamples", 50,
                      "--num-random", 2, "--no-bt", "--temperatures", 2)
    library = ej.compare_methods(ej_key(), ej.Pairs(chosen, rejected), 5, rule_names=RULES,
                                 num_resamples=50, num_random=2, fit_bt=False,
                                 temperatures=(2.0,))
    assert report["rule_names"] == list(RULES)
    assert [r["name"] for r in report["methods"]] == [r["name"] for r in library.methods]
    for got, want in zip(report["methods"], library.methods, strict=True):
        assert got["accuracy"] == pytest.approx(want["accuracy"], abs=1e-6)
    assert "conditional on the weights fitted on the train split" in \
        report["protocol"]["interval"]


def ej_key():
    import jax

    return jax.random.key(0)


# --- entropy and weights -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_entropy_and_weights_on_every_format(tmp_path, capsys, known, fmt):
    ratings, mask, _ = known
    path = write_known(tmp_path / f"r.{fmt}", fmt, known)
    entropy = run_json(capsys, "entropy", path, "--levels", 5, "--id-column", "id",
                       "--chunk-rows", 5)
    weights = run_json(capsys, "weights", path, "--levels", 5, "--id-column", "id")
    expected_h, expected_w = ej.encore_weights(ratings, 5, mask=mask)
    assert [r["rule"] for r in entropy["rules"]] == list(RULES)
    np.testing.assert_allclose([r["entropy"] for r in entropy["rules"]], expected_h, rtol=1e-6)
    np.testing.assert_allclose([r["weight"] for r in weights["rules"]], expected_w, rtol=1e-6)
    np.testing.assert_array_equal([r["counts"] for r in entropy["rules"]],
                                  ej.rating_histogram(ratings, 5, mask=mask))
    assert entropy["num_responses"] == N and entropy["metadata"]["num_levels"] == 5


def test_entropy_of_a_long_file_and_binned_scores(tmp_path, capsys, known):
    ratings, mask, ids = known
    path = tmp_path / "long.csv"
    rows = [f"{ids[i]},{rule},{ratings[i, k]}" for i in range(N)
            for k, rule in enumerate(RULES) if mask[i, k]]
    path.write_text("response_id,rule,rating\n" + "\n".join(rows) + "\n")
    report = run_json(capsys, "entropy", path, "--levels", 5, "--layout", "long",
                      "--base", 2, "--estimator", "miller_madow")
    expected = ej.rating_entropy(ratings, 5, mask=mask, base=2, estimator="miller_madow")
    np.testing.assert_allclose([r["entropy"] for r in report["rules"]], expected, rtol=1e-6)
    scores = np.random.default_rng(3).random((N, 2))
    score_path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"a": scores[:, 0], "b": scores[:, 1]}), score_path)
    binned = run_json(capsys, "entropy", score_path, "--levels", 4, "--bin-range", 0, 1)
    np.testing.assert_allclose([r["entropy"] for r in binned["rules"]],
                               ej.rating_entropy(ej.discretize(scores, 4), 4), rtol=1e-6)
    assert binned["metadata"]["bin_range"] == [0.0, 1.0]
    out = tmp_path / "entropy.json"
    assert run(capsys, "entropy", score_path, "--levels", 4, "--bin-range", 0, 1,
               "--out", out)[0] == 0
    assert json.loads(out.read_text())["rules"] == binned["rules"]


def test_tables_are_printed_by_default(tmp_path, capsys, known):
    path = write_known(tmp_path / "r.csv", "csv", known)
    code, out, _ = run(capsys, "entropy", path, "--levels", 5, "--id-column", "id")
    assert code == 0 and "Rating entropy" in out and "harmless" in out
    code, out, _ = run(capsys, "weights", path, "--levels", 5, "--id-column", "id")
    assert code == 0 and "ENCORE weights" in out and "concise" in out


def test_weights_exports_json_with_metadata_and_the_trl_composition(tmp_path, capsys, known):
    ratings, mask, _ = known
    path = write_known(tmp_path / "r.parquet", "parquet", known)
    out, trl = tmp_path / "w.json", tmp_path / "trl.json"
    code, stdout, err = run(capsys, "weights", path, "--levels", 5, "--id-column", "id",
                            "--temperature", 0.5, "--out", out, "--trl", trl)
    assert code == 0, err
    assert f"wrote {out}, {trl}" in stdout
    loaded = data.read_weights_json(out)
    _, expected = ej.encore_weights(ratings, 5, mask=mask, temperature=0.5)
    assert loaded.rule_names == RULES and loaded.method == "encore"
    np.testing.assert_allclose(loaded.weights, expected, rtol=1e-6)
    assert loaded.metadata["temperature"] == 0.5 and loaded.metadata["num_levels"] == 5
    assert loaded.metadata["estimator"] == "plugin" and loaded.metadata["log_base"] == "e"
    config = json.loads(trl.read_text())
    assert config["rule_names"] == list(RULES) and "reward_funcs" not in config
    assert "callables" in config["note"]
    np.testing.assert_allclose(config["reward_weights"], expected, rtol=1e-6)


def test_outputs_are_never_overwritten_without_force(tmp_path, capsys, known):
    path = write_known(tmp_path / "r.csv", "csv", known)
    out, trl = tmp_path / "w.json", tmp_path / "trl.json"
    out.write_text("keep me")
    code, _, err = run(capsys, "weights", path, "--levels", 5, "--id-column", "id",
                       "--trl", trl, "--out", out)
    assert code == 2 and f"{out} exists; pass --force" in err
    assert out.read_text() == "keep me" and not trl.exists()  # all or nothing
    code, _, _ = run(capsys, "weights", path, "--levels", 5, "--id-column", "id",
                     "--out", out, "--force")
    assert code == 0 and data.read_weights_json(out).rule_names == RULES
    assert only_files(tmp_path) == ["r.csv", "w.json"]


# --- compose -----------------------------------------------------------------------------


def read_column(path, column):
    """(values, valid) of an output column, read without encore_jax."""
    fmt = path.suffix[1:]
    if fmt == "parquet":
        values = pq.read_table(path).column(column).to_pylist()
    elif fmt == "jsonl":
        values = [json.loads(line)[column] for line in path.read_text().splitlines()]
    elif fmt == "csv":
        lines = path.read_text().splitlines()
        index = lines[0].split(",").index(column)
        values = [line.split(",")[index] for line in lines[1:]]
        values = [None if v in ("", '""') else v for v in values]
    else:
        with np.load(path) as archive:
            valid = archive[f"{column}_mask"] if f"{column}_mask" in archive else None
            array = archive[column]
            values = [v if valid is None or valid[i] else None for i, v in enumerate(array)]
    return values


@pytest.mark.parametrize(("fmt_in", "fmt_out"),
                         [("csv", "parquet"), ("jsonl", "csv"), ("parquet", "jsonl"),
                          ("npz", "npz")])
def test_compose_writes_the_composite_column(tmp_path, capsys, known, fmt_in, fmt_out):
    ratings, mask, ids = known
    path = write_known(tmp_path / f"r.{fmt_in}", fmt_in, known)
    weights = np.array([0.4, 0.3, 0.2, 0.1])
    data.write_weights_json(tmp_path / "w.json", RULES[::-1], weights[::-1], method="manual")
    out = tmp_path / f"scores.{fmt_out}"
    report = run_json(capsys, "compose", path, "--weights", tmp_path / "w.json",
                      "--out", out, "--id-column", "id", "--chunk-rows", 5)
    values = read_column(out, "composite")
    complete = mask.all(axis=1)
    assert [v is None for v in values] == list(~complete)
    # oracle: float64 dot product; the command composes in float32 (rtol from its 24-bit
    # mantissa: 4 terms of size <= 4 give a relative error far below 1e-6)
    expected = ratings.astype(np.float64) @ weights
    np.testing.assert_allclose([float(v) for v in np.array(values)[complete]],
                               expected[complete], rtol=1e-6)
    assert read_column(out, "id") == list(ids)
    assert report["rows"] == N and report["missing"] == int((~complete).sum())
    metadata = data.read_metadata(out)
    assert metadata["rules"] == list(RULES[::-1]) and metadata["method"] == "manual"
    assert (fmt_out in ("csv", "jsonl")) == data.sidecar_path(out).exists()


def test_compose_with_encore_weights_from_the_file_itself(tmp_path, capsys, known):
    ratings, mask, _ = known
    path = write_known(tmp_path / "r.csv", "csv", known)
    out = tmp_path / "s.parquet"
    code, stdout, err = run(capsys, "compose", path, "--levels", 5, "--id-column", "id",
                            "--out", out)
    assert code == 0, err
    assert f"wrote {out}" in stdout
    _, weights = ej.encore_weights(ratings, 5, mask=mask)
    metadata = data.read_metadata(out)
    np.testing.assert_allclose(metadata["weights"], weights, rtol=1e-6)
    assert metadata["weights_metadata"]["temperature"] == 2.0
    values = pq.read_table(out).column("composite").to_pylist()
    complete = mask.all(axis=1)
    np.testing.assert_allclose(np.array(values)[complete].astype(float),
                               (ratings.astype(np.float64) @ np.asarray(weights))[complete],
                               rtol=1e-5)


def test_compose_leaves_nothing_behind_when_a_late_row_is_bad(tmp_path, capsys, known):
    path = write_known(tmp_path / "r.csv", "csv", known)
    path.write_text(path.read_text() + "late,1,2,x,4\n")
    out = tmp_path / "s.parquet"
    code, _, err = run(capsys, "compose", path, "--levels", 5, "--id-column", "id",
                       "--out", out, "--chunk-rows", 4)
    assert code == 2 and f"{path}: row {N + 2}, column 'helpful': 'x' is not a number" in err
    assert err.count("\n") == 1
    assert only_files(tmp_path) == ["r.csv"]
    # with --force an existing output survives a failed run untouched
    out.write_text("previous")
    data.write_weights_json(tmp_path / "w.json", RULES, [0.25] * 4, method="manual")
    code, _, _ = run(capsys, "compose", path, "--weights", tmp_path / "w.json",
                     "--id-column", "id", "--out", out, "--force", "--chunk-rows", 4)
    assert code == 2 and out.read_text() == "previous"
    assert only_files(tmp_path) == ["r.csv", "s.parquet", "w.json"]


def test_compose_usage_errors(tmp_path, capsys, known):
    path = write_known(tmp_path / "r.csv", "csv", known)
    code, _, err = run(capsys, "compose", path, "--out", tmp_path / "o.csv")
    assert code == 2 and "compose needs --weights FILE, or --levels L" in err
    data.write_weights_json(tmp_path / "w.json", ("harmless", "missing_rule"), [0.5, 0.5],
                            method="manual")
    code, _, err = run(capsys, "compose", path, "--weights", tmp_path / "w.json",
                       "--out", tmp_path / "o.csv")
    assert code == 2 and "no column 'missing_rule'" in err
    with pytest.raises(SystemExit) as stop:
        cli.main(["compose", str(path)])  # --out is required
    assert stop.value.code == 2


# --- label -------------------------------------------------------------------------------


def write_pairs(path, a, b, a_mask, b_mask, prefixes=("a_", "b_")):
    columns = {"pair": [f"p{i}" for i in range(a.shape[0])]}
    for k, rule in enumerate(RULES):
        columns[prefixes[0] + rule] = pa.array(a[:, k].astype(np.int64), mask=~a_mask[:, k])
        columns[prefixes[1] + rule] = pa.array(b[:, k].astype(np.int64), mask=~b_mask[:, k])
    if path.suffix == ".parquet":
        pq.write_table(pa.table(columns), path)
    else:
        names = list(columns)
        lines = [",".join(names)]
        for i in range(a.shape[0]):
            cells = []
            for name in names:
                value = columns[name][i]
                value = value.as_py() if hasattr(value, "as_py") else value
                cells.append("" if value is None else str(value))
            lines.append(",".join(cells))
        path.write_text("\n".join(lines) + "\n")
    return path


def numpy_labels(a, b, k):
    """Oracle: top-k |a - b| per pair (lowest rule index first among ties), then A preferred
    when the selected a - b sum is > 0 (ties to B)."""
    diff = a.astype(np.int64) - b.astype(np.int64)
    labels, chosen = [], []
    for row in diff:
        order = sorted(range(len(row)), key=lambda j: (-abs(row[j]), j))[:k]
        labels.append(bool(row[order].sum() > 0))
        chosen.append([RULES[j] for j in sorted(order)])
    return labels, chosen


@pytest.mark.parametrize("fmt", ("csv", "parquet"))
def test_label_matches_a_numpy_oracle(tmp_path, capsys, known, fmt):
    ratings, mask, _ = known
    a, b = ratings[:12], ratings[12:]
    path = write_pairs(tmp_path / f"pairs.{fmt}", a, b, mask[:12], mask[12:],
                       ("chosen_", "rejected_"))
    out = tmp_path / "labels.parquet"
    report = run_json(capsys, "label", path, "--k", 2, "--id-column", "pair", "--out", out)
    table = pq.read_table(out).to_pylist()
    complete = (mask[:12] & mask[12:]).all(axis=1)
    labels, chosen = numpy_labels(a, b, 2)
    for i, row in enumerate(table):
        assert row["pair"] == f"p{i}"
        if complete[i]:
            assert (row["a_preferred"], row["selected_rules"]) == (labels[i], chosen[i])
        else:
            assert row["a_preferred"] is None and row["selected_rules"] is None
    assert report["labelled"] == int(complete.sum()) and report["k"] == 2
    assert data.read_metadata(out)["tie"] == "b"
    assert sum(r["selected"] for r in report["rules"]) == 2 * int(complete.sum())


def test_label_all_rules_with_weights_and_chosen_prefixes(tmp_path, capsys, known):
    ratings, mask, _ = known
    full = np.ones((12, len(RULES)), dtype=bool)
    a, b = ratings[:12], ratings[12:]
    path = write_pairs(tmp_path / "pairs.csv", a, b, full, full, ("chosen_", "rejected_"))
    weights = np.array([0.1, 0.2, 0.3, 0.4])
    data.write_weights_json(tmp_path / "w.json", RULES, weights, method="manual")
    out = tmp_path / "labels.jsonl"
    report = run_json(capsys, "label", path, "--selection", "all", "--weights",
                      tmp_path / "w.json", "--out", out)
    margins = (a.astype(np.float64) - b) @ weights
    got = [json.loads(line)["a_preferred"] for line in out.read_text().splitlines()]
    # margins are exact multiples of 0.1 here; a float32 sum is exactly 0 only for a true
    # tie, and non-zero margins are at least 0.1 away from 0
    assert got == [bool(m > 1e-9) for m in margins]
    assert report["a_preferred_fraction"] == pytest.approx(np.mean(margins > 1e-9))
    assert json.loads(data.sidecar_path(out).read_text())["selection"] == "all"


def test_label_relevance_columns_and_subsets(tmp_path, capsys, known):
    ratings, _, _ = known
    a, b = ratings[:12], ratings[12:]
    lines = ["subset," + ",".join(f"a_{r},b_{r},rel_{r}" for r in RULES)]
    for i in range(12):
        # rule 'helpful' is relevant to every pair by far more than any |a - b| <= 4 adds
        cells = [f"{a[i, k]},{b[i, k]},{10.0 if r == 'helpful' else 0.0}"
                 for k, r in enumerate(RULES)]
        lines.append(f"s{i % 2}," + ",".join(cells))
    path = tmp_path / "pairs.csv"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "l.parquet"
    report = run_json(capsys, "label", path, "--k", 1, "--alpha", 0.5, "--relevance-prefix",
                      "rel_", "--subset-column", "subset", "--chosen-prefix", "a_",
                      "--rejected-prefix", "b_", "--out", out)
    rows = pq.read_table(out).to_pylist()
    assert [r["selected_rules"] for r in rows] == [["helpful"]] * 12
    assert [r["subset"] for r in rows] == [f"s{i % 2}" for i in range(12)]
    assert [r["a_preferred"] for r in rows] == [bool(a[i, 2] > b[i, 2]) for i in range(12)]
    assert report["relevance_prefix"] == "rel_"


def test_progress_yields_every_item_with_and_without_a_bar(capsys):
    from encore_jax.cli._common import progress

    assert list(progress(iter(range(5)), total=5, enabled=False)) == list(range(5))
    assert list(progress(iter(range(5)), total=10, advance=lambda i: 2, enabled=True)) == [
        0, 1, 2, 3, 4]
    assert capsys.readouterr().out == ""  # the bar goes to stderr, never into the output


def test_label_usage_errors(tmp_path, capsys, known):
    ratings, mask, _ = known
    path = write_pairs(tmp_path / "pairs.csv", ratings[:4], ratings[4:8], mask[:4], mask[4:8])
    code, _, err = run(capsys, "label", path, "--k", 9, "--a-prefix", "a_", "--b-prefix", "b_",
                       "--out", tmp_path / "l.csv")
    assert code == 2 and "--k 9 exceeds the number of rules K = 4" in err
    code, _, err = run(capsys, "label", path, "--chosen-prefix", "x_", "--rejected-prefix", "b_",
                       "--out", tmp_path / "l.csv")
    assert code == 2 and "column 'b_harmless' has no partner column 'x_harmless'" in err
    code, _, err = run(capsys, "label", path, "--out", tmp_path / "l.csv")  # chosen_ default
    assert code == 2 and "no rating columns with prefixes 'chosen_' / 'rejected_'" in err
    assert only_files(tmp_path) == ["pairs.csv"]


# --- fit-bt ------------------------------------------------------------------------------


def test_fit_bt_reports_and_exports_the_library_fit(tmp_path, capsys, known):
    from encore_jax.bradley_terry import fit_bt_weights

    ratings, mask, _ = known
    chosen, rejected = ratings[:12], ratings[12:]
    path = write_pairs(tmp_path / "pairs.parquet", chosen, rejected, mask[:12], mask[12:],
                       ("chosen_", "rejected_"))
    out = tmp_path / "bt.json"
    report = run_json(capsys, "fit-bt", path, "--steps", 40, "--levels", 5, "--out", out)
    complete = (mask[:12] & mask[12:]).all(axis=1)
    assert not complete.all()
    # --missing mask (default): a missing rule's difference is 0 in its pair's margin
    diffs = np.where(mask[:12] & mask[12:], chosen - rejected, 0).astype(np.float32)
    fit = fit_bt_weights(diffs, max_steps=40, record_every=40)
    np.testing.assert_allclose([r["weight"] for r in report["rules"]], fit.weights, rtol=1e-6)
    both = np.concatenate([chosen, rejected])
    both_mask = np.concatenate([mask[:12], mask[12:]])
    _, encore = ej.encore_weights(both, 5, mask=both_mask)
    np.testing.assert_allclose([r["encore_weight"] for r in report["rules"]], encore,
                               rtol=1e-6)
    assert report["fitted_pairs"] == 12
    assert report["missing_counts"] == {"policy": "mask", "cells": 2, "rows_dropped": 0}
    loaded = data.read_weights_json(out)
    assert loaded.method == "bradley_terry" and loaded.metadata["num_steps"] == 40
    np.testing.assert_allclose(loaded.weights, fit.weights, rtol=1e-6)
    code, stdout, _ = run(capsys, "fit-bt", path, "--steps", 40)
    assert code == 0 and "Bradley-Terry weights" in stdout
    assert "2 missing ratings, masked" in stdout
    dropped = run_json(capsys, "fit-bt", path, "--steps", 40, "--missing", "drop")
    fit = fit_bt_weights(diffs[complete], max_steps=40, record_every=40)
    np.testing.assert_allclose([r["weight"] for r in dropped["rules"]], fit.weights, rtol=1e-6)
    assert dropped["fitted_pairs"] == int(complete.sum())
    assert dropped["missing_counts"] == {"policy": "drop", "cells": 2, "rows_dropped": 2}
    code, _, err = run(capsys, "fit-bt", path, "--missing", "error")
    assert code == 2 and "missing value" in err and "--missing mask" in err


# --- theory ------------------------------------------------------------------------------


def test_theory_runs_a_check_main_and_reports_failure(capsys, monkeypatch):
    calls = []

    def main(argv=None):
        calls.append(argv)
        print("checked")
        return 0 if "--fail" not in argv else 1

    module = types.ModuleType("fake_theory_check")
    module.main = main
    monkeypatch.setitem(sys.modules, "fake_theory_check", module)
    monkeypatch.setitem(theory_cli.CHECKS, "fake", ("fake_theory_check", "a fake statement"))
    report = run_json(capsys, "theory", "fake", "--check-args=--quick --seed 1")
    assert calls == [["--out", str(Path("encore-jax-theory") / "fake"), "--quick", "--seed", "1"]]
    assert report["checks"][0]["exit_code"] == 0 and "checked" in report["checks"][0]["output"]
    run_json(capsys, "theory", "fake", "--out-dir", "somewhere", "--force")
    assert calls[-1] == ["--out", str(Path("somewhere") / "fake"), "--force"]
    code, _, err = run(capsys, "theory", "fake", "--check-args=--fail")
    assert code == 2 and "check 'fake' exited with 1" in err
    code, _, err = run(capsys, "theory", "nonsense")
    assert code == 2 and "unknown check 'nonsense'" in err
    listing = run_json(capsys, "theory", "--list")
    assert {c["check"] for c in listing["checks"]} >= {"bt-gradients", "max-discrepancy-mi"}


# --- every command: help and malformed input ---------------------------------------------

COMMANDS = ("entropy", "weights", "compose", "label", "fit-bt", "theory")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(capsys, command):
    with pytest.raises(SystemExit) as stop:
        cli.main([command, "--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"encore-jax {command}" in out


def malformed(tmp_path, kind):
    if kind == "truncated parquet":
        path = tmp_path / "bad.parquet"
        pq.write_table(pa.table({"a_x": [1, 2], "b_x": [2, 1]}), path)
        path.write_bytes(path.read_bytes()[:40])
        return path, "bad.parquet: not a readable parquet file"
    if kind == "bad utf-8":
        path = tmp_path / "bad.csv"
        path.write_bytes(b"a_x,b_x\n1,2\n\xff,1\n")
        return path, "bad.csv: row 3: not UTF-8 text (invalid start byte); save the file as UTF-8"
    if kind == "wrong columns":
        path = tmp_path / "bad.jsonl"
        path.write_text('{"a_x": 1, "b_x": 2}\n{"a_x": "high", "b_x": 2}\n')
        return path, "bad.jsonl: line 2, column 'a_x': 'high' is not a number"
    if kind == "duplicate rule names":
        path = tmp_path / "bad.csv"
        path.write_text("a_x,b_x,a_x\n1,2,3\n")
        return path, "bad.csv: duplicate"
    path = tmp_path / "bad.npz"
    path.write_bytes(b"")
    return path, "bad.npz: not a readable NPZ archive"


@pytest.mark.parametrize("kind", ("truncated parquet", "bad utf-8", "wrong columns",
                                  "duplicate rule names", "empty file"))
@pytest.mark.parametrize("command", ("entropy", "weights", "compose", "label", "fit-bt"))
def test_malformed_files_exit_2_with_one_line(tmp_path, capsys, command, kind):
    path, reason = malformed(tmp_path, kind)
    extra = {
        "entropy": ["--levels", "5"],
        "weights": ["--levels", "5", "--out", tmp_path / "w.json"],
        "compose": ["--levels", "5", "--out", tmp_path / "o.parquet"],
        "label": ["--k", "1", "--chosen-prefix", "a_", "--rejected-prefix", "b_",
                  "--out", tmp_path / "o.csv"],
        "fit-bt": ["--chosen-prefix", "a_", "--rejected-prefix", "b_", "--steps", "5"],
    }[command]
    before = only_files(tmp_path)
    code, out, err = run(capsys, command, path, *extra)
    assert code == 2
    assert err.startswith(f"encore-jax {command}: error: ") and err.count("\n") == 1
    assert reason in err
    assert only_files(tmp_path) == before  # no partial output


def test_installed_entry_point_runs(tmp_path):
    exe = Path(sys.executable).with_name("encore-jax")
    command = [str(exe)] if exe.exists() else [shutil.which("encore-jax") or "encore-jax"]
    ratings = tmp_path / "r.csv"
    ratings.write_text("a,b\n0,1\n1,1\n2,1\n")
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([*command, "weights", str(ratings), "--levels", "3", "--json"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [r["rule"] for r in report["rules"]] == ["a", "b"]
    assert report["rules"][1]["entropy"] == 0.0
    done = subprocess.run([*command, "weights", str(tmp_path / "none.csv"), "--levels", "3"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 2 and "none.csv: no such file" in done.stderr


def write_text_pairs(path, a, b):
    """Pairs with prompt / chosen / rejected text beside chosen_<rule>, rejected_<rule>."""
    columns = {"prompt": [f"q{i}" for i in range(a.shape[0])],
               "chosen": [f"A{i}" for i in range(a.shape[0])],
               "rejected": [f"B{i}" for i in range(a.shape[0])]}
    for k, rule in enumerate(RULES):
        columns["chosen_" + rule] = a[:, k].astype(np.int64)
        columns["rejected_" + rule] = b[:, k].astype(np.int64)
    pq.write_table(pa.table(columns), path)
    return path


def test_label_margin_column_and_preference_export(tmp_path, capsys, known):
    ratings, _, _ = known
    a, b = ratings[:12].copy(), ratings[12:].copy()
    b[:3] = a[:3]  # three exact ties
    path = write_text_pairs(tmp_path / "pairs.parquet", a, b)
    out, export = tmp_path / "labels.parquet", tmp_path / "train.jsonl"
    diff = a.astype(np.int64) - b
    order = [sorted(range(len(RULES)), key=lambda j: (-abs(row[j]), j))[:2] for row in diff]
    margin = np.array([row[o].sum() for row, o in zip(diff, order, strict=True)], float)
    n_ties = int((margin == 0).sum())
    assert n_ties >= 3
    code, _, err = run(capsys, "label", path, "--k", 2, "--out", out,
                       "--export-preference", export)
    assert code == 2 and f"{n_ties} labelled pairs tie" in err and "--ties drop" in err
    assert only_files(tmp_path) == ["pairs.parquet"]  # nothing written
    for ties, kept in (("drop", margin != 0), ("keep-order", np.ones(12, bool))):
        report = run_json(capsys, "label", path, "--k", 2, "--out", out, "--force",
                          "--export-preference", export, "--ties", ties)
        table = pq.read_table(out)
        np.testing.assert_array_equal(table["margin"].to_numpy(), margin)
        assert table["prompt"].to_pylist() == [f"q{i}" for i in range(12)]
        rows = [json.loads(line) for line in export.read_text().splitlines()]
        assert all(list(r) == ["prompt", "chosen", "rejected"] for r in rows)
        swap = margin < 0
        expected = [{"prompt": f"q{i}", "chosen": f"B{i}" if swap[i] else f"A{i}",
                     "rejected": f"A{i}" if swap[i] else f"B{i}"} for i in np.flatnonzero(kept)]
        assert rows == expected
        assert report["ties"] == n_ties and report["preference_export"] == {
            "out": str(export), "rows": int(kept.sum()), "swapped": int(swap.sum()),
            "ties": n_ties, "ties_policy": ties, "unlabelled_left_out": 0}
    code, _, err = run(capsys, "label", path, "--out", out, "--force", "--export-preference",
                       export, "--ties", "drop", "--prompt-column", "question")
    assert code == 2 and "needs the text column 'question'" in err
