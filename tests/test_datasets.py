"""OASST1: the message-tree loader, the shipped files and the reference numbers.

Reference numbers: the plain NumPy analysis that accompanied the data (issue 12): entropies
pooled over all 1,243 assistant replies (each over the replies carrying the label), accuracies
over all 1,026 pairs where both replies carry the label (ties count 1/2), composites over the
997 complete pairs. Oracles here are plain Python / NumPy on the raw JSON and on the shipped
CSV, independent of the loader.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from encore_jax.datasets import (
    NEGATED_LABELS,
    OASST1_FILES,
    OASST1_NUM_LEVELS,
    STANDARD_LABELS,
    build_oasst1_files,
    dense_levels,
    load_oasst1,
    oasst1_path,
    oasst_preference_pairs,
    oasst_reply_ratings,
    read_oasst_messages,
)
from encore_jax.entropy import rating_entropy
from encore_jax.io import read_rating_pairs, read_ratings, read_score_pairs
from encore_jax.metrics.accuracy import pairwise_accuracy
from encore_jax.weights import entropy_weights

_ROOT = Path(__file__).resolve().parents[1]
_RAW = Path("data") / "oasst1" / "oasst1_en_validation.jsonl.gz"
# The raw source: $ENCORE_JAX_OASST1_SOURCE, else shared/ next to or inside the checkout.
SOURCE = next(
    (p for p in (Path(os.environ.get("ENCORE_JAX_OASST1_SOURCE", "")), _ROOT.parent / "shared"
                 / _RAW, _ROOT / "shared" / _RAW) if p.name and p.is_file()),
    _ROOT / "shared" / _RAW)

REFERENCE = {  # label: (entropy in nats, accuracy with ties 1/2)
    "quality": (2.6182, 0.6334),
    "helpfulness": (2.7157, 0.6053),
    "fails_task": (0.8718, 0.5653),
    "pii": (0.0066, 0.4995),
}
REFERENCE_TIE_RATE = {"quality": 0.11, "helpfulness": 0.10, "fails_task": 0.68, "pii": 1.00}


@pytest.fixture(scope="module")
def data():
    return load_oasst1()


def _credit(margins: np.ndarray) -> np.ndarray:
    return np.where(margins > 0, 1.0, np.where(margins == 0, 0.5, 0.0))


def _plugin_entropy(values: np.ndarray) -> float:
    _, counts = np.unique(values, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


# ---------------------------------------------------------------- shipped files


def test_counts(data):
    assert data.values.shape == (1243, 13)
    assert data.rule_names == STANDARD_LABELS
    assert data.chosen.shape == (1026,)
    assert np.unique(data.pair_group_ids).size == 418
    assert int(data.complete_pairs.sum()) == 997
    assert data.num_levels == OASST1_NUM_LEVELS == 38
    assert int((~data.mask.any(axis=1)).sum()) == 2  # two replies carry no label at all
    assert (data.group_ids[data.chosen] == data.pair_group_ids).all()
    assert (data.group_ids[data.rejected] == data.pair_group_ids).all()


def test_orientation_and_levels(data):
    negated = np.array([n in NEGATED_LABELS for n in data.rule_names])
    assert (data.negated == negated).all()
    observed = np.where(data.mask, data.values, 0.0)
    assert (observed[:, negated] <= 0).all() and (observed[:, negated] >= -1).all()
    assert (observed[:, ~negated] >= 0).all() and (observed[:, ~negated] <= 1).all()
    assert np.isnan(data.values[~data.mask]).all()
    for k, table in enumerate(data.level_values):
        assert (np.diff(table) > 0).all()
        obs = data.mask[:, k]
        np.testing.assert_array_equal(table[data.levels[obs, k]], data.values[obs, k])
    assert (data.levels[~data.mask] == 0).all()


def test_files_read_by_the_pairs_and_ratings_readers(data):
    scores = read_score_pairs(oasst1_path("pairs"), id_column="group_id")
    levels = read_rating_pairs(oasst1_path("pairs_levels"), id_column="group_id",
                               num_levels=OASST1_NUM_LEVELS)
    for table in (scores, levels):
        assert table.rule_names == STANDARD_LABELS
        np.testing.assert_array_equal(table.ids, data.pair_group_ids)
        np.testing.assert_array_equal(table.chosen_mask, data.mask[data.chosen])
        np.testing.assert_array_equal(table.rejected_mask, data.mask[data.rejected])
    np.testing.assert_array_equal(scores.chosen, np.nan_to_num(data.chosen_values))
    np.testing.assert_array_equal(scores.rejected, np.nan_to_num(data.rejected_values))
    np.testing.assert_array_equal(levels.chosen, data.chosen_levels)
    np.testing.assert_array_equal(levels.rejected, data.rejected_levels)
    ratings = read_ratings(oasst1_path("ratings_levels"), id_column="response_id",
                           num_levels=OASST1_NUM_LEVELS)
    np.testing.assert_array_equal(ratings.ratings, data.levels)
    np.testing.assert_array_equal(ratings.mask, data.mask)
    np.testing.assert_array_equal(ratings.ids, data.message_ids)


def test_attribution_files():
    for kind in OASST1_FILES:
        assert oasst1_path(kind).is_file()
    notice = oasst1_path("notice").read_text(encoding="utf-8")
    assert "arXiv:2304.07327" in notice and "Apache License" in notice
    assert "f164a7d3ace246eec0ac04a4aa5dec26f2342d7c" in notice
    assert "Apache License" in oasst1_path("license").read_text(encoding="utf-8")
    total = sum(oasst1_path(kind).stat().st_size for kind in OASST1_FILES)
    assert total < 700_000
    with pytest.raises(ValueError, match="kind must be one of"):
        oasst1_path("pair")


# ---------------------------------------------------------------- reference numbers


def test_reference_entropies_from_library_and_numpy(data):
    h_lib = np.asarray(rating_entropy(data.levels, data.num_levels, mask=data.mask))
    h_np = np.array([_plugin_entropy(data.values[data.mask[:, k], k]) for k in range(13)])
    np.testing.assert_allclose(h_lib, h_np, rtol=1e-5, atol=1e-6)
    for label, (entropy, _) in REFERENCE.items():
        k = data.rule_names.index(label)
        assert round(h_np[k], 4) == entropy


def test_reference_accuracies_tie_rates_and_correlation(data):
    both = data.pair_mask
    accuracy, ties = np.zeros(13), np.zeros(13)
    for k in range(13):
        raw = (data.chosen_values - data.rejected_values)[both[:, k], k]
        accuracy[k] = _credit(raw).mean()
        ties[k] = (raw == 0).mean()
        lev = (data.chosen_levels - data.rejected_levels)[:, k].astype(np.float32)
        lib = pairwise_accuracy(lev, tie="half", mask=both[:, k])
        assert float(lib) == pytest.approx(accuracy[k], abs=1e-6)  # the level map keeps wins
        assert ((lev == 0)[both[:, k]]).mean() == ties[k]
    for label, (_, acc) in REFERENCE.items():
        k = data.rule_names.index(label)
        assert round(accuracy[k], 4) == acc
        assert round(ties[k], 2) == REFERENCE_TIE_RATE[label]
    h = np.array([_plugin_entropy(data.values[data.mask[:, k], k]) for k in range(13)])
    assert round(float(np.corrcoef(h, accuracy)[0, 1]), 3) == 0.675


def test_reference_composites_on_complete_pairs(data):
    complete = data.complete_pairs
    c, r = data.chosen_values[complete], data.rejected_values[complete]
    h = np.asarray(rating_entropy(data.levels, data.num_levels, mask=data.mask))
    w = np.asarray(entropy_weights(h, 2.0), dtype=np.float64)
    assert round(float(_credit((c - r) @ w).mean()), 4) == 0.5993
    # Uniform sum: exact rational arithmetic (values are means of annotators' ratings) gives
    # 609 / 997 = 0.6108 with 34 exact ties. The reference's 0.6103 is a float artifact:
    # summing each reply's 13 values in float64 in alphabetical label order turns some of
    # those ties into wins or losses.
    exact = np.array([
        np.sign(sum(Fraction(a).limit_denominator(1000) - Fraction(b).limit_denominator(1000)
                    for a, b in zip(ci, ri, strict=True)))
        for ci, ri in zip(c, r, strict=True)], dtype=np.float64)
    assert int((exact == 0).sum()) == 34
    assert round(float(_credit(exact).mean()), 4) == 0.6108
    alphabetical = np.argsort(data.rule_names)
    float_sum = c[:, alphabetical].sum(1) - r[:, alphabetical].sum(1)
    assert round(float(_credit(float_sum).mean()), 4) == 0.6103


# ---------------------------------------------------------------- the raw source


@pytest.mark.skipif(not SOURCE.exists(), reason="raw OASST1 source file not available")
def test_regenerate_shipped_files(tmp_path):
    for path in build_oasst1_files(SOURCE, tmp_path):
        assert path.read_bytes() == oasst1_path(path.stem).read_bytes(), path.name


@pytest.mark.skipif(not SOURCE.exists(), reason="raw OASST1 source file not available")
def test_loader_against_plain_json(data):
    with gzip.open(SOURCE, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    assert len(rows) == 2022 and len({m["message_tree_id"] for m in rows}) == 191
    replies = [m for m in rows if m["role"] == "assistant"]
    assert [m["message_id"] for m in replies] == list(data.message_ids)
    for m, values in zip(replies, data.values, strict=True):
        raw = dict(zip(m["labels"]["name"], m["labels"]["value"], strict=True)) if m[
            "labels"] else {}
        for k, name in enumerate(STANDARD_LABELS):
            if name not in raw:
                assert np.isnan(values[k])
            else:
                assert values[k] == (-raw[name] if name in NEGATED_LABELS else raw[name])
    siblings: dict[str, list[dict]] = {}
    for m in replies:
        if m["rank"] is not None:
            siblings.setdefault(m["parent_id"], []).append(m)
    assert len(siblings) == 419
    expected = [
        (a["message_id"], b["message_id"]) if a["rank"] < b["rank"] else
        (b["message_id"], a["message_id"])
        for group in siblings.values() for a, b in itertools.combinations(group, 2)]
    assert list(zip(data.chosen_ids, data.rejected_ids, strict=True)) == expected
    ratings = oasst_reply_ratings(read_oasst_messages(SOURCE))
    assert ratings.other_labels == {}
    missing = ratings.missing_counts()
    assert missing["quality"] == 6 and missing["helpfulness"] == 13
    prompts = oasst_reply_ratings(rows, role="prompter",
                                  labels=STANDARD_LABELS + ("moral_judgement",))
    assert int(prompts.mask[:, -1].sum()) == 2
    assert prompts.other_labels == {"political_content": 2}


# ---------------------------------------------------------------- the format, small cases


def _message(mid, parent, rank, labels, role="assistant"):
    names = list(labels)
    return {"message_id": mid, "parent_id": parent, "message_tree_id": "t", "role": role,
            "rank": rank, "labels": {"name": names, "value": [labels[n] for n in names],
                                     "count": [1] * len(names)}}


def test_small_tree_pairs_and_missing(tmp_path):
    messages = [
        _message("p", None, None, {}, role="prompter"),
        _message("a", "p", 2, {"quality": 0.5, "spam": 0.25}),
        _message("b", "p", 0, {"quality": 0.75}),
        _message("c", "p", None, {"quality": 1.0, "spam": 0.0}),
        _message("d", "p", 1, {"quality": 0.5, "spam": 0.0, "humor": 0.5}),
    ]
    path = tmp_path / "m.jsonl"
    path.write_text("\n".join(json.dumps(m) for m in messages) + "\n\n", encoding="utf-8")
    gz = tmp_path / "m.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert read_oasst_messages(path) == read_oasst_messages(gz) == messages
    ratings = oasst_reply_ratings(messages, labels=("quality", "spam"), negated=("spam",))
    assert list(ratings.message_ids) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(ratings.mask, [[1, 1], [1, 0], [1, 1], [1, 1]])
    assert ratings.values[0, 1] == -0.25 and np.signbit(ratings.values[2, 1]) == np.False_
    assert ratings.other_labels == {"humor": 1}
    assert ratings.missing_counts() == {"quality": 0, "spam": 1}
    pairs = oasst_preference_pairs(ratings)
    ids = ratings.message_ids
    assert list(zip(ids[pairs.chosen], ids[pairs.rejected], strict=True)) == [
        ("b", "a"), ("d", "a"), ("b", "d")]
    assert list(pairs.group_ids) == ["p"] * 3
    levels, table = dense_levels(ratings.values, ratings.mask)
    np.testing.assert_array_equal(levels, [[0, 0], [1, 0], [2, 1], [0, 1]])
    np.testing.assert_array_equal(table[1], [-0.25, 0.0])


def test_bad_input_is_named(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n[1]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: expected a JSON object"):
        read_oasst_messages(bad)
    same_rank = [_message("a", "p", 0, {}), _message("b", "p", 0, {})]
    with pytest.raises(ValueError, match="share rank 0"):
        oasst_preference_pairs(oasst_reply_ratings(same_rank))
    with pytest.raises(ValueError, match="expected \\[0, 1\\]"):
        oasst_reply_ratings([_message("a", "p", 0, {"quality": 1.5})])
    with pytest.raises(ValueError, match="check the spelling"):
        oasst_reply_ratings([], negated=("toxic",))
    with pytest.raises(ValueError, match="appears more than once"):
        oasst_reply_ratings([_message("a", "p", 0, {}), _message("a", "p", 1, {})])
    with pytest.raises(ValueError, match="no field 'role'"):
        oasst_reply_ratings([{"message_id": "x"}])
    with pytest.raises(ValueError, match="sha256"):
        build_oasst1_files(bad, tmp_path / "out")


def test_shipped_csv_header_layout():
    with oasst1_path("pairs").open(newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header[:3] == ["group_id", "message_id_chosen", "message_id_rejected"]
    assert header[3:] == [f"chosen_{n}" for n in STANDARD_LABELS] + [
        f"rejected_{n}" for n in STANDARD_LABELS]
