"""The shared input options of the commands: a pairs file for weights, list columns beside
text columns, pooled long files, the --missing policy and its counts in every report."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import encore_jax as ej
from encore_jax import cli

RNG = np.random.default_rng(5)
N, K, L = 30, 3, 5
CHOSEN = RNG.integers(0, L, size=(N, K))
REJECTED = RNG.integers(0, L, size=(N, K))


def run_json(capsys, *argv):
    code = cli.main([str(a) for a in argv] + ["--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_weights_of_a_pairs_file_pool_both_responses(tmp_path, capsys):
    path = tmp_path / "pairs.parquet"
    columns = {"prompt": [f"p{i}" for i in range(N)]}
    for k in range(K):
        columns[f"chosen_r{k}"] = CHOSEN[:, k]
        columns[f"rejected_r{k}"] = REJECTED[:, k]
    pq.write_table(pa.table(columns), path)
    report = run_json(capsys, "weights", path, "--layout", "pairs", "--levels", L)
    both = np.concatenate([CHOSEN, REJECTED]).astype(np.int32)
    entropies, weights = ej.encore_weights(both, L)
    np.testing.assert_allclose([r["weight"] for r in report["rules"]], weights, rtol=1e-6)
    np.testing.assert_allclose([r["entropy"] for r in report["rules"]], entropies, rtol=1e-6)
    assert report["num_responses"] == 2 * N and [r["rule"] for r in report["rules"]] == [
        "r0", "r1", "r2"]
    entropy = run_json(capsys, "entropy", path, "--layout", "pairs", "--levels", L)
    assert [r["entropy"] for r in entropy["rules"]] == [r["entropy"] for r in report["rules"]]


def test_a_list_column_beside_text_columns(tmp_path, capsys):
    path = tmp_path / "hf.parquet"
    pq.write_table(pa.table({"prompt": ["a, b"] * N, "response": ["x"] * N,
                             "scores": pa.array(CHOSEN.tolist(), pa.list_(pa.int64()))}), path)
    report = run_json(capsys, "entropy", path, "--levels", L)
    assert [r["rule"] for r in report["rules"]] == ["scores[0]", "scores[1]", "scores[2]"]
    np.testing.assert_allclose([r["entropy"] for r in report["rules"]],
                               ej.rating_entropy(CHOSEN.astype(np.int32), L), rtol=1e-6)
    named = run_json(capsys, "entropy", path, "--levels", L, "--list-names",
                     'scores="harm, hate",honest,helpful')
    assert [r["rule"] for r in named["rules"]] == ["harm, hate", "honest", "helpful"]


def test_long_file_pooled_by_majority(tmp_path, capsys):
    path = tmp_path / "long.csv"
    path.write_text("response_id,rule,rating\nx,a,1\nx,a,1\nx,a,3\nx,b,0\ny,a,2\ny,b,4\ny,b,4\n")
    report = run_json(capsys, "entropy", path, "--layout", "long", "--pool", "majority",
                      "--levels", L)
    counts = {r["rule"]: r["counts"] for r in report["rules"]}
    assert counts == {"a": [0, 1, 1, 0, 0], "b": [1, 0, 0, 0, 1]}
    assert report["pool"] == "majority"


def test_missing_policy_is_reported_by_every_command(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text("a,b\n0,1\n1,\n2,2\n,0\n")
    masked = run_json(capsys, "weights", path, "--levels", 3)
    assert masked["missing_counts"] == {"policy": "mask", "cells": 2, "rows_dropped": 0}
    assert masked["num_responses"] == 4
    dropped = run_json(capsys, "weights", path, "--levels", 3, "--missing", "drop")
    assert dropped["missing_counts"] == {"policy": "drop", "cells": 2, "rows_dropped": 2}
    assert dropped["num_responses"] == 2 and dropped["metadata"]["missing"] == "drop"
    composed = run_json(capsys, "compose", path, "--levels", 3, "--missing", "drop", "--out",
                        tmp_path / "o.csv")
    assert composed["rows"] == 2 and composed["missing_counts"]["rows_dropped"] == 2
    code = cli.main(["entropy", str(path), "--levels", "3", "--missing", "error"])
    assert code == 2
    assert "row 3, column 'b': missing value" in capsys.readouterr().err


def test_label_keeps_text_columns_and_defaults_to_chosen_prefixes(tmp_path, capsys):
    path = tmp_path / "pairs.parquet"
    columns = {"prompt": [f"p{i}" for i in range(N)]}
    for k in range(K):
        columns[f"chosen_r{k}"] = CHOSEN[:, k]
        columns[f"rejected_r{k}"] = REJECTED[:, k]
    pq.write_table(pa.table(columns), path)
    out = tmp_path / "labels.parquet"
    report = run_json(capsys, "label", path, "--k", 1, "--out", out)
    rows = pq.read_table(out).to_pylist()
    assert [r["prompt"] for r in rows] == columns["prompt"]
    assert all(isinstance(r["selected_rules"], list) and len(r["selected_rules"]) == 1
               for r in rows)
    assert report["chosen_prefix"] == "chosen_" and report["labelled"] == N


def test_a_pairs_file_read_as_wide_gets_a_note(tmp_path, capsys):
    path = tmp_path / "p.csv"
    path.write_text("chosen_a,rejected_a\n1,0\n2,1\n")
    assert cli.main(["weights", str(path), "--levels", "3"]) == 0
    assert "add --layout pairs" in capsys.readouterr().err
