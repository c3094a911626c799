"""Pair composites and margins (workflows/pair_compose.py, ``compose --layout pairs``):
against NumPy, streamed in chunks == whole, exact ties, and the missing-value policy."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from encore_jax import cli
from encore_jax.io import DataError, read_metadata, sidecar_path, write_weights_json
from encore_jax.io.pair_stream import iter_pair_tables
from encore_jax.workflows.pair_compose import compose_pairs_to_file

N, K = 30, 4
RULES = tuple(f"scores[{k}]" for k in range(K))
W = np.array([0.125, 0.25, 0.5, 0.125])  # dyadic: every composite below is exact in float32


@pytest.fixture(scope="module")
def pairs():
    """Scores on a 0.25 grid in [0, 1] (exact in float32), a few exact ties, two nulls."""
    rng = np.random.default_rng(3)
    chosen = rng.integers(0, 5, (N, K)) / 4
    rejected = rng.integers(0, 5, (N, K)) / 4
    rejected[:4] = chosen[:4]  # exact ties
    rejected[4] = chosen[4][[1, 0, 2, 3]]
    rejected[4, :2] = chosen[4, :2]  # another exact tie
    cmask = np.ones((N, K), bool)
    rmask = np.ones((N, K), bool)
    cmask[7, 2] = False
    rmask[11, 0] = False
    return chosen, rejected, cmask, rmask


def write_hf(path, pairs):
    chosen, rejected, cmask, rmask = pairs

    def lists(values, mask):
        return pa.array([[float(v) if m else None for v, m in zip(row, mrow, strict=True)]
                         for row, mrow in zip(values, mask, strict=True)],
                        pa.list_(pa.float64()))

    pq.write_table(pa.table({
        "id": [f"q{i}" for i in range(N)], "prompt": [f"prompt {i}" for i in range(N)],
        "chosen": [f"answer A{i}" for i in range(N)],
        "rejected": [f"answer B{i}" for i in range(N)],
        "chosen_scores": lists(chosen, cmask), "rejected_scores": lists(rejected, rmask)}),
        path)
    return path


def oracle(pairs):
    """NumPy: masked cells contribute nothing; the margin counts rules seen on both sides."""
    chosen, rejected, cmask, rmask = pairs
    both = cmask & rmask
    return (np.where(cmask, chosen, 0) @ W, np.where(rmask, rejected, 0) @ W,
            np.where(both, chosen - rejected, 0) @ W)


@pytest.mark.parametrize("chunk_rows", [7, 64])
def test_streamed_pair_composites_match_numpy(tmp_path, pairs, chunk_rows):
    path = write_hf(tmp_path / "hf.parquet", pairs)
    out = tmp_path / "m.parquet"
    summary = compose_pairs_to_file(path, W, RULES, out, chunk_rows=chunk_rows,
                                    id_column="id", metadata={"note": "x"})
    table = pq.read_table(out)
    assert table.column_names == ["id", "prompt", "chosen", "rejected", "chosen_composite",
                                  "rejected_composite", "margin", "missing_rules"]
    phi_c, phi_r, margin = oracle(pairs)
    np.testing.assert_array_equal(table["chosen_composite"].to_numpy(), phi_c)
    np.testing.assert_array_equal(table["rejected_composite"].to_numpy(), phi_r)
    np.testing.assert_array_equal(table["margin"].to_numpy(), margin)
    assert table["id"].to_pylist() == [f"q{i}" for i in range(N)]
    assert table["chosen"].to_pylist()[5] == "answer A5"
    missing = np.zeros(N, int)
    missing[[7, 11]] = 1
    np.testing.assert_array_equal(table["missing_rules"].to_numpy(), missing)
    assert summary.pairs == N and summary.ties == int((margin == 0).sum()) >= 5
    assert summary.chosen_preferred == int((margin > 0).sum())
    assert summary.missing.to_dict() == {"policy": "mask", "cells": 2, "rows_dropped": 0}
    assert read_metadata(out) == {"note": "x"}


def test_exact_ties_are_exactly_zero_with_unequal_float_weights(tmp_path):
    """0.1-style weights round; equal responses still give margin 0.0, never +-1e-9."""
    rng = np.random.default_rng(0)
    chosen = rng.random((50, 6))
    rejected = chosen[:, rng.permutation(6)]  # tie only where the permutation fixes rows
    rejected[:25] = chosen[:25]
    weights = rng.dirichlet(np.ones(6))
    table = pa.table({"chosen_x": pa.array(list(chosen)), "rejected_x": pa.array(list(rejected))})
    names = tuple(f"x[{k}]" for k in range(6))
    out = tmp_path / "m.csv"
    compose_pairs_to_file(table, weights, names, out, chunk_rows=16)
    written = np.loadtxt(out, delimiter=",", skiprows=1, usecols=2)
    assert (written[:25] == 0).all()
    exact = (chosen[25:] - rejected[25:]) @ weights
    assert (np.sign(written[25:]) == np.sign(exact)).all()


def test_drop_and_error_policies(tmp_path, pairs):
    path = write_hf(tmp_path / "hf.parquet", pairs)
    out = tmp_path / "m.jsonl"
    summary = compose_pairs_to_file(path, W, RULES, out, missing="drop", chunk_rows=8)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    kept = [i for i in range(N) if i not in (7, 11)]
    assert [r["prompt"] for r in rows] == [f"prompt {i}" for i in kept]
    _, _, margin = oracle(pairs)
    np.testing.assert_array_equal([r["margin"] for r in rows], margin[kept])
    assert summary.missing.to_dict() == {"policy": "drop", "cells": 2, "rows_dropped": 2}
    with pytest.raises(DataError, match=r"row 7.*chosen_scores.*missing value.*--missing"):
        compose_pairs_to_file(path, W, RULES, tmp_path / "e.jsonl", missing="error")
    assert not (tmp_path / "e.jsonl").exists()


def test_rules_are_picked_by_name_in_weight_order(tmp_path, pairs):
    path = write_hf(tmp_path / "hf.parquet", pairs)
    chunks = list(iter_pair_tables(path, rules=["scores[2]", "scores[0]"], chunk_rows=100))
    np.testing.assert_array_equal(chunks[0].chosen_mask, pairs[2][:, [2, 0]])
    np.testing.assert_array_equal(np.where(chunks[0].chosen_mask, chunks[0].chosen, -1),
                                  np.where(pairs[2], pairs[0], -1)[:, [2, 0]])
    with pytest.raises(DataError, match=r"no column 'chosen_other' for rule 'other'"):
        next(iter_pair_tables(path, rules=["other"]))


def test_compose_cli_on_a_pairs_file(tmp_path, capsys, pairs):
    path = write_hf(tmp_path / "hf.parquet", pairs)
    weights = tmp_path / "w.json"
    write_weights_json(weights, RULES, W, method="manual")
    out = tmp_path / "m.csv"
    code = cli.main(["compose", str(path), "--layout", "pairs", "--weights", str(weights),
                     "--out", str(out), "--json"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(stdout)
    _, _, margin = oracle(pairs)
    assert report["pairs"] == N and report["ties"] == int((margin == 0).sum())
    assert report["missing_counts"] == {"policy": "mask", "cells": 2, "rows_dropped": 0}
    written = np.genfromtxt(out, delimiter=",", names=True, dtype=None, encoding="utf-8")
    np.testing.assert_array_equal(written["margin"], margin)
    meta = json.loads(sidecar_path(out).read_text())
    assert meta["layout"] == "pairs" and "contributes nothing" in meta["missing_note"]
    code = cli.main(["compose", str(path), "--layout", "pairs", "--weights", str(weights),
                     "--out", str(out)])
    assert code == 2 and "--force" in capsys.readouterr().err
