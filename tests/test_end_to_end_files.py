"""Issue 13's "done when", with the CLI alone: a Hugging Face-style parquet (text columns
prompt / chosen / rejected, list columns chosen_scores / rejected_scores of 20 rule scores in
[0, 1], a few nulls) -> ENCORE weights of the pooled pairs -> pair composites and margins ->
RuleAdapter labels -> a prompt / chosen / rejected export for TRL, one missing-value policy
(mask) throughout. Every number is checked against NumPy."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from encore_jax import cli

N, K, L = 48, 20, 5
# Dyadic scores, one inside each of the 5 equal-width bins of [0, 1] (exact in float32).
GRID = np.array([0.125, 0.25, 0.5, 0.625, 0.875])
NULLS = {(3, "chosen", 5), (10, "rejected", 0), (21, "chosen", 19)}


def hf_parquet(path):
    rng = np.random.default_rng(13)
    level_c = rng.integers(0, L, (N, K))
    level_r = rng.integers(0, L, (N, K))
    level_r[:4] = level_c[:4]  # four pairs the rules cannot tell apart (exact ties)
    chosen, rejected = GRID[level_c], GRID[level_r]
    cmask, rmask = np.ones((N, K), bool), np.ones((N, K), bool)
    for i, side, k in NULLS:
        (cmask if side == "chosen" else rmask)[i, k] = False

    def lists(values, mask):
        return pa.array([[float(v) if m else None for v, m in zip(row, mrow, strict=True)]
                         for row, mrow in zip(values, mask, strict=True)],
                        pa.list_(pa.float64()))

    pq.write_table(pa.table({
        "prompt": [f"How do I do task {i}?" for i in range(N)],
        "chosen": [f"Safe answer {i}." for i in range(N)],
        "rejected": [f"Risky answer {i}." for i in range(N)],
        "chosen_scores": lists(chosen, cmask), "rejected_scores": lists(rejected, rmask),
    }), path)
    return level_c, level_r, chosen, rejected, cmask, rmask


def cli_json(capsys, *argv):
    code = cli.main([str(a) for a in argv] + ["--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_hf_parquet_to_reward_training_export(tmp_path, capsys):
    level_c, level_r, chosen, rejected, cmask, rmask = hf_parquet(tmp_path / "hf.parquet")
    rules = [f"scores[{k}]" for k in range(K)]

    # 1. ENCORE weights of the chosen and rejected scores pooled (binned into 5 levels)
    w_json, trl_json = tmp_path / "weights.json", tmp_path / "trl.json"
    report = cli_json(capsys, "weights", tmp_path / "hf.parquet", "--layout", "pairs",
                      "--bin-range", 0, 1, "--levels", L, "--out", w_json, "--trl", trl_json)
    levels = np.concatenate([level_c, level_r])
    observed = np.concatenate([cmask, rmask])
    counts = np.stack([np.bincount(levels[observed[:, k], k], minlength=L) for k in range(K)])
    p = counts / counts.sum(axis=1, keepdims=True)
    entropy = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), axis=1)
    encore = np.exp(-entropy / 2) / np.exp(-entropy / 2).sum()
    assert [r["rule"] for r in report["rules"]] == rules
    np.testing.assert_allclose([r["entropy"] for r in report["rules"]], entropy, rtol=1e-5)
    np.testing.assert_allclose([r["weight"] for r in report["rules"]], encore, rtol=1e-5)
    assert report["missing_counts"] == {"policy": "mask", "cells": 3, "rows_dropped": 0}
    trl = json.loads(trl_json.read_text())
    assert trl["rule_names"] == rules and "reward_funcs" not in trl
    weights = np.array(json.loads(w_json.read_text())["weights"])

    # 2. chosen / rejected composites and the margin of every pair
    margins_out = tmp_path / "margins.parquet"
    report = cli_json(capsys, "compose", tmp_path / "hf.parquet", "--layout", "pairs",
                      "--weights", w_json, "--out", margins_out, "--chunk-rows", 16)
    table = pq.read_table(margins_out)
    assert table.column_names == ["prompt", "chosen", "rejected", "chosen_composite",
                                  "rejected_composite", "margin", "missing_rules"]
    both = cmask & rmask
    w32 = weights.astype(np.float32).astype(np.float64)  # the kernels' float32 weights
    np.testing.assert_allclose(table["chosen_composite"].to_numpy(),
                               np.where(cmask, chosen, 0) @ w32, rtol=1e-6)
    np.testing.assert_allclose(table["rejected_composite"].to_numpy(),
                               np.where(rmask, rejected, 0) @ w32, rtol=1e-6)
    margin = np.where(both, chosen - rejected, 0) @ w32
    written = table["margin"].to_numpy()
    assert (written[:4] == 0).all() and report["ties"] == 4
    np.testing.assert_array_equal(np.sign(written), np.sign(margin))
    np.testing.assert_allclose(written, margin, rtol=1e-5, atol=1e-7)
    assert report["missing_counts"] == {"policy": "mask", "cells": 3, "rows_dropped": 0}

    # 3. RuleAdapter labels (top-5 discrepancy, ENCORE-weighted) and the TRL export
    labels_out, export = tmp_path / "labels.parquet", tmp_path / "train.jsonl"
    report = cli_json(capsys, "label", tmp_path / "hf.parquet", "--weights", w_json,
                      "--k", 5, "--out", labels_out, "--export-preference", export,
                      "--ties", "drop")
    labelled = both.all(axis=1)
    diff = chosen - rejected
    order = [sorted(range(K), key=lambda j: (-abs(row[j]), j))[:5] for row in diff]
    label_margin = np.array([row[o] @ w32[o] for row, o in zip(diff, order, strict=True)])
    labels = pq.read_table(labels_out)
    assert labels.column_names == ["prompt", "chosen", "rejected", "a_preferred", "margin",
                                   "selected_rules"]
    assert labels["selected_rules"].to_pylist()[5] == [rules[j] for j in sorted(order[5])]
    assert labels["margin"].to_pylist()[3] is None  # a missing score: no label (mask)
    got = labels["margin"].to_numpy(zero_copy_only=False)[labelled].astype(float)
    np.testing.assert_array_equal(np.sign(got), np.sign(label_margin[labelled]))
    ties = labelled & (label_margin == 0)
    kept = labelled & ~ties
    rows = [json.loads(line) for line in export.read_text().splitlines()]
    swap = label_margin < 0
    assert rows == [{"prompt": f"How do I do task {i}?",
                     "chosen": f"{'Risky' if swap[i] else 'Safe'} answer {i}.",
                     "rejected": f"{'Safe' if swap[i] else 'Risky'} answer {i}."}
                    for i in np.flatnonzero(kept)]
    assert report["preference_export"] == {
        "out": str(export), "rows": int(kept.sum()), "swapped": int((swap & kept).sum()),
        "ties": int(ties.sum()), "ties_policy": "drop", "unlabelled_left_out": 3}
    assert report["missing_counts"] == {"policy": "mask", "cells": 3, "rows_dropped": 0}
