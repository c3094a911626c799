"""Readers and writers of encore_jax.io, on files written independently of them (plain
text, ``json.dumps``, pyarrow and ``np.savez`` directly): every format, the wide and long
layouts, pairs, masks, chunking, metadata and malformed input."""

import json
import zipfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import encore_jax as ej
from encore_jax import io as data

RULES = ("harmless", "honest", "helpful")
IDS = tuple(f"r{i}" for i in range(7))
RATINGS = np.array(
    [[0, 4, 2], [3, 1, 1], [4, 4, 0], [2, 0, 3], [1, 2, 4], [0, 3, 2], [4, 1, 1]], dtype=np.int32
)
MASK = np.ones(RATINGS.shape, dtype=bool)
MASK[1, 0] = False
MASK[4, 2] = False
FORMATS = ("csv", "jsonl", "parquet", "npz")


def cell(i, k):
    return str(RATINGS[i, k]) if MASK[i, k] else ""


def write_wide(path, fmt, *, with_ids=True):
    """The known table in ``fmt``, written without encore_jax."""
    if fmt == "csv":
        header = (["id"] if with_ids else []) + list(RULES)
        lines = [",".join(header)]
        for i in range(len(IDS)):
            lines.append(",".join(([IDS[i]] if with_ids else []) + [cell(i, k) for k in range(3)]))
        path.write_text("\n".join(lines) + "\n")
    elif fmt == "jsonl":
        records = []
        for i in range(len(IDS)):
            record = {"id": IDS[i]} if with_ids else {}
            for k, rule in enumerate(RULES):
                # a missing rating as null in row 1 and as an absent key in row 4
                if MASK[i, k] or i == 1:
                    record[rule] = int(RATINGS[i, k]) if MASK[i, k] else None
            records.append(json.dumps(record))
        path.write_text("\n".join(records) + "\n")
    elif fmt == "parquet":
        columns = {"id": pa.array(IDS)} if with_ids else {}
        for k, rule in enumerate(RULES):
            columns[rule] = pa.array(RATINGS[:, k].astype(np.int64), mask=~MASK[:, k])
        pq.write_table(pa.table(columns), path)
    else:
        arrays = {"ratings": np.where(MASK, RATINGS, -7), "mask": MASK,
                  "rule_names": np.array(RULES)}
        if with_ids:
            arrays["id"] = np.array(IDS)
        np.savez(path, **arrays)
    return path


def write_long(path, fmt):
    rows = [(IDS[i], RULES[k], int(RATINGS[i, k]))
            for i in range(len(IDS)) for k in range(3) if MASK[i, k]]
    if fmt == "csv":
        path.write_text("response_id,rule,rating\n"
                        + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps({"response_id": a, "rule": b, "rating": c}) + "\n"
                                for a, b, c in rows))
    else:
        ids, rules, ratings = zip(*rows, strict=True)
        pq.write_table(pa.table({"response_id": list(ids), "rule": list(rules),
                                 "rating": list(ratings)}), path)
    return path


def assert_known(table):
    assert table.rule_names == RULES
    np.testing.assert_array_equal(table.mask, MASK)
    np.testing.assert_array_equal(np.where(MASK, table.ratings, 0), np.where(MASK, RATINGS, 0))
    np.testing.assert_array_equal(table.ratings[~MASK], 0)
    assert table.ratings.dtype == np.int32


@pytest.mark.parametrize("fmt", FORMATS)
def test_wide_files_read_the_known_table(tmp_path, fmt):
    path = write_wide(tmp_path / f"r.{fmt}", fmt)
    table = data.read_ratings(path, id_column="id")
    assert_known(table)
    assert list(table.ids) == list(IDS)


@pytest.mark.parametrize("fmt", FORMATS)
def test_chunks_partition_the_file(tmp_path, fmt):
    path = write_wide(tmp_path / f"r.{fmt}", fmt)
    chunks = list(data.iter_rating_chunks(path, chunk_rows=3, id_column="id"))
    assert [c.ratings.shape for c in chunks] == [(3, 3), (3, 3), (1, 3)]
    assert_known(data.RatingTable(
        RULES, np.concatenate([c.ratings for c in chunks]),
        np.concatenate([c.mask for c in chunks]), str(path)))
    assert [i for c in chunks for i in c.ids] == list(IDS)
    # counts are additive: the chunk histograms sum to the file's histogram
    total = sum(np.asarray(ej.rating_histogram(c.ratings, 5, mask=c.mask)) for c in chunks)
    np.testing.assert_array_equal(total, ej.rating_histogram(RATINGS, 5, mask=MASK))


def test_npz_chunks_from_compressed_and_fortran_order_archives(tmp_path):
    path = tmp_path / "c.npz"
    np.savez_compressed(path, ratings=np.asfortranarray(RATINGS.astype(np.int64)), mask=MASK,
                        rule_names=np.array(RULES))
    chunks = list(data.iter_rating_chunks(path, chunk_rows=2))
    assert [c.ratings.shape[0] for c in chunks] == [2, 2, 2, 1]
    assert_known(data.RatingTable(RULES, np.concatenate([c.ratings for c in chunks]),
                                  np.concatenate([c.mask for c in chunks]), ""))


def test_npz_without_names_or_mask_and_the_format_override(tmp_path):
    path = tmp_path / "plain.bin"
    with path.open("wb") as handle:
        np.savez(handle, ratings=RATINGS)
    table = data.read_ratings(path, file_format="npz")
    assert table.rule_names == ("rule_0", "rule_1", "rule_2") and table.fully_observed
    np.testing.assert_array_equal(table.ratings, RATINGS)
    with pytest.raises(data.DataError, match="unsupported format '.bin'"):
        data.read_ratings(path)


@pytest.mark.parametrize("fmt", ("csv", "jsonl", "parquet"))
def test_long_layout_pivots_to_the_wide_table(tmp_path, fmt):
    table = data.read_ratings(write_long(tmp_path / f"l.{fmt}", fmt), layout="long")
    assert_known(table)
    assert list(table.ids) == list(IDS)


def test_long_layout_column_options_and_rule_selection(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("who,criterion,score\nx,b,1\nx,a,2\ny,a,0\ny,c,3\n")
    table = data.read_ratings(path, layout="long", id_column="who", rule_column="criterion",
                              rating_column="score", rule_columns=["c", "a"])
    assert table.rule_names == ("c", "a") and list(table.ids) == ["x", "y"]
    np.testing.assert_array_equal(table.mask, [[False, True], [True, True]])
    np.testing.assert_array_equal(table.ratings, [[0, 2], [3, 0]])


def test_long_layout_refuses_a_repeated_rating(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("response_id,rule,rating\nx,a,1\ny,a,2\nx,a,3\n")
    with pytest.raises(data.DataError, match=r"l\.csv: row 4: repeats .*'x'.*'a' \(row 2\)"):
        data.read_ratings(path, layout="long")


def test_mask_value_masks_a_sentinel(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("a,b\n1,-1\n-1,2\n")
    table = data.read_ratings(path, mask_value=-1)
    np.testing.assert_array_equal(table.mask, [[True, False], [False, True]])
    np.testing.assert_array_equal(table.ratings, [[1, 0], [0, 2]])


def test_csv_blank_cells_are_missing_and_whitespace_is_ignored(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("a, b\n 1 ,  \n2,3\n")
    table = data.read_ratings(path)
    assert table.rule_names == ("a", "b")
    np.testing.assert_array_equal(table.mask, [[True, False], [True, True]])
    np.testing.assert_array_equal(table.ratings, [[1, 0], [2, 3]])


def test_binning_matches_discretize_and_never_clips(tmp_path):
    scores = np.array([[0.0, 0.19], [0.2, 0.5], [0.99, 1.0]])
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"a": scores[:, 0], "b": scores[:, 1]}), path)
    table = data.read_ratings(path, num_levels=5, bin_range=(0.0, 1.0))
    np.testing.assert_array_equal(table.ratings, ej.discretize(scores, 5))
    pq.write_table(pa.table({"a": [0.5, 1.5], "b": [0.1, 0.2]}), path)
    with pytest.raises(data.DataError, match=r"row 1, column 'a': 1\.5 is outside the binning"):
        data.read_ratings(path, num_levels=5, bin_range=(0.0, 1.0))


def test_scores_keep_real_values(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"a": 0.25, "b": -3}\n{"a": null, "b": 1e3}\n')
    table = data.read_scores(path)
    np.testing.assert_array_equal(table.scores, [[0.25, -3.0], [0.0, 1000.0]])
    np.testing.assert_array_equal(table.mask, [[True, True], [False, True]])
    with pytest.raises(data.DataError, match="line 1, column 'a': 0.25 is not an integer"):
        data.read_ratings(path)


# --- pairs -------------------------------------------------------------------------------

CHOSEN = RATINGS[:4]
REJECTED = RATINGS[3:]
PAIR_MASK = MASK[:4] & True


def write_pairs(path, fmt):
    subsets = ["s1", "s1", "s2", "s2"]
    if fmt == "npz":
        np.savez(path, chosen=CHOSEN, rejected=REJECTED, chosen_mask=MASK[:4],
                 rejected_mask=MASK[3:], rule_names=np.array(RULES),
                 subset=np.array(subsets))
        return path
    columns = {"subset": subsets}
    for k, rule in enumerate(RULES):
        columns[f"rejected_{rule}"] = [int(v) if m else None
                                       for v, m in zip(REJECTED[:, k], MASK[3:, k], strict=True)]
        columns[f"chosen_{rule}"] = [int(v) if m else None
                                     for v, m in zip(CHOSEN[:, k], MASK[:4, k], strict=True)]
    columns["prompt"] = ["p"] * 4  # neither prefix: not a rating column
    if fmt == "parquet":
        pq.write_table(pa.table(columns), path)
    elif fmt == "jsonl":
        names = list(columns)
        path.write_text("".join(json.dumps({n: columns[n][i] for n in names}) + "\n"
                                for i in range(4)))
    else:
        names = list(columns)
        path.write_text(",".join(names) + "\n" + "".join(
            ",".join("" if columns[n][i] is None else str(columns[n][i]) for n in names) + "\n"
            for i in range(4)))
    return path


def assert_known_pairs(pairs):
    assert pairs.rule_names == RULES and pairs.num_pairs == 4
    np.testing.assert_array_equal(pairs.chosen_mask, MASK[:4])
    np.testing.assert_array_equal(pairs.rejected_mask, MASK[3:])
    np.testing.assert_array_equal(pairs.chosen, np.where(MASK[:4], CHOSEN, 0))
    np.testing.assert_array_equal(pairs.rejected, np.where(MASK[3:], REJECTED, 0))
    np.testing.assert_array_equal(pairs.observed, MASK[:4] & MASK[3:])


@pytest.mark.parametrize("fmt", FORMATS)
def test_pairs_as_prefixed_blocks(tmp_path, fmt):
    pairs = data.read_rating_pairs(write_pairs(tmp_path / f"p.{fmt}", fmt),
                                   subset_column="subset")
    assert_known_pairs(pairs)
    assert list(pairs.subset) == ["s1", "s1", "s2", "s2"]


@pytest.mark.parametrize(("fmt", "layout"), [("csv", "wide"), ("parquet", "long")])
def test_pairs_from_a_pair_index(tmp_path, fmt, layout):
    ratings = (write_wide(tmp_path / f"r.{fmt}", fmt) if layout == "wide"
               else write_long(tmp_path / f"r.{fmt}", fmt))
    index = tmp_path / "pairs.jsonl"
    index.write_text("".join(json.dumps({"chosen_id": IDS[i], "rejected_id": IDS[i + 3]}) + "\n"
                             for i in range(4)))
    id_column = "id" if layout == "wide" else None
    pairs = data.read_rating_pairs(ratings, pair_index=index, layout=layout,
                                   id_column=id_column)
    assert_known_pairs(pairs)
    index.write_text('{"chosen_id": "r0", "rejected_id": "r1"}\n'
                     '{"chosen_id": "r2", "rejected_id": "nobody"}\n')
    with pytest.raises(data.DataError, match=r"pairs\.jsonl: line 2, column 'rejected_id': "
                       "response id 'nobody' is not in"):
        data.read_rating_pairs(ratings, pair_index=index, layout=layout, id_column=id_column)


def test_pair_columns_need_partners(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("chosen_a,chosen_b,rejected_a\n1,2,3\n")
    with pytest.raises(data.DataError, match="'chosen_b' has no partner column 'rejected_b'"):
        data.read_rating_pairs(path)
    path.write_text("a_x,b_x\n1,2\n")
    pairs = data.read_score_pairs(path, chosen_prefix="a_", rejected_prefix="b_")
    assert pairs.rule_names == ("x",) and pairs.chosen.dtype == np.float64


# --- malformed input ---------------------------------------------------------------------


def test_truncated_parquet(tmp_path):
    path = write_wide(tmp_path / "r.parquet", "parquet")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(data.DataError, match=r"r\.parquet: not a readable parquet file"):
        data.read_ratings(path)


def test_truncated_npz(tmp_path):
    path = write_wide(tmp_path / "r.npz", "npz")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(data.DataError, match=r"r\.npz: not a readable NPZ archive"):
        data.read_ratings(path)


@pytest.mark.parametrize(("suffix", "where"), [("csv", "row 3"), ("jsonl", "line 2")])
def test_bad_utf8(tmp_path, suffix, where):
    path = tmp_path / f"r.{suffix}"
    good = "a,b\n1,2\n" if suffix == "csv" else '{"a": 1}\n'
    path.write_bytes(good.encode() + b"\xff\xfe,1\n")
    with pytest.raises(data.DataError, match=f"{where}: not UTF-8 text"):
        data.read_ratings(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_files(tmp_path, fmt):
    path = tmp_path / f"e.{fmt}"
    if fmt == "npz":
        with zipfile.ZipFile(path, "w"):
            pass
        match = "no 'ratings' array"
    else:
        path.write_bytes(b"")
        match = "empty file"
    with pytest.raises(data.DataError, match=match):
        data.read_ratings(path)


@pytest.mark.parametrize("fmt", ("csv", "parquet"))
def test_header_only(tmp_path, fmt):
    path = tmp_path / f"h.{fmt}"
    if fmt == "csv":
        path.write_text("a,b\n")
    else:
        pq.write_table(pa.table({"a": pa.array([], pa.int64())}), path)
    with pytest.raises(data.DataError, match="header only, no ratings"):
        data.read_ratings(path)


def test_duplicate_rule_names_in_each_format(tmp_path):
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("a,b,a\n1,2,3\n")
    with pytest.raises(data.DataError, match=r"duplicate column name 'a' \(columns 1 and 3\)"):
        data.read_ratings(csv_path)
    jsonl_path = tmp_path / "d.jsonl"
    jsonl_path.write_text('{"a": 1, "a": 2}\n')
    with pytest.raises(data.DataError, match="line 1: not valid JSON .*duplicate key 'a'"):
        data.read_ratings(jsonl_path)
    npz_path = tmp_path / "d.npz"
    np.savez(npz_path, ratings=RATINGS, rule_names=np.array(["a", "b", "a"]))
    with pytest.raises(data.DataError, match="duplicate rule name 'a'"):
        data.read_ratings(npz_path)
    parquet_path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"]),
                   parquet_path)
    with pytest.raises(data.DataError, match="duplicate column name 'a'"):
        data.read_ratings(parquet_path)


@pytest.mark.parametrize(
    ("name", "content", "kwargs", "match"),
    [
        ("r.csv", "a,b\n1,2\n", {"rule_columns": ["a", "c"]},
         r"no column 'c' \(columns: 'a', 'b'\)"),
        ("r.jsonl", '{"a": 1}\n', {"rule_columns": ["a", "c"]}, r"no column 'c' \(columns: 'a'\)"),
        ("r.csv", "a,b\n1,2\n3,nan\n", {}, "row 3, column 'b': nan is not an integer level"),
        ("r.csv", "a,b\n1,2\n3,7\n", {"num_levels": 5},
         r"row 3, column 'b': level 7 is outside 0\.\.4"),
        ("r.csv", "a,b\n1,2\n3,n/a\n", {},
         r"row 3, column 'b': 'n/a' is not a number; leave missing cells empty"),
        ("r.jsonl", '{"a": 1}\n[1, 2]\n', {}, "line 2: expected a JSON object, got list"),
        ("r.jsonl", '{"a": 1}\n{"a": "high"}\n', {}, "line 2, column 'a': 'high' is not a number"),
        ("r.jsonl", '{"a": 1}\n{"a": "x"}\n', {}, "line 2, column 'a': 'x' is not a number; "
         "if 'a' is text, add --text-columns a"),
        ("r.jsonl", '{"a": 1}\n{"a": true}\n', {}, "line 2, column 'a': True is not a number"),
        ("r.jsonl", '{"a": 1}\n{"a": 2\n', {}, "line 2: not valid JSON"),
    ],
)
def test_malformed_text_files_name_file_row_and_column(tmp_path, name, content, kwargs, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(data.DataError, match=f"{name}: {match}"):
        data.read_ratings(path, **kwargs)


def test_malformed_parquet_and_npz_values(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), path)
    table = data.read_ratings(path)  # a text column is kept beside the ratings, never a rule
    assert table.rule_names == ("a",) and list(table.text["b"]) == ["x", "y"]
    with pytest.raises(data.DataError, match="row 0, column 'b': 'x' is not a number; .*"
                       "add --text-columns b"):
        data.read_ratings(path, rule_columns=["a", "b"])
    pq.write_table(pa.table({"a": [1.0, float("nan")]}), path)
    with pytest.raises(data.DataError, match="row 1, column 'a': nan is not an integer"):
        data.read_ratings(path)
    npz = tmp_path / "t.npz"
    np.savez(npz, ratings=np.array([[1.0, 2.5]]))
    with pytest.raises(data.DataError, match=r"row 0, column 'rule_1': 2\.5 is not an integer"):
        data.read_ratings(npz)
    np.savez(npz, ratings=np.array([1, 2]))
    with pytest.raises(data.DataError, match=r"'ratings' must be \[N, K\]"):
        data.read_ratings(npz)


def test_jsonl_with_differing_keys_reads_with_explicit_rule_columns(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"a": 1}\n{"a": 2, "b": 3, "text": "hi"}\n')
    table = data.read_ratings(path, rule_columns=["a", "b"])
    np.testing.assert_array_equal(table.mask, [[True, False], [True, True]])
    table = data.read_ratings(path)  # keys of the first block: an absent key is missing
    assert table.rule_names == ("a", "b") and list(table.text["text"]) == ["", "hi"]
    np.testing.assert_array_equal(table.ratings, [[1, 0], [2, 3]])


# --- writers and metadata ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_write_table_round_trips_values_missing_entries_and_metadata(tmp_path, fmt):
    path = tmp_path / f"o.{fmt}"
    score = np.ma.masked_array([0.1, -2.5, 3.0], mask=[False, True, False])
    meta = data.output_metadata(command="test", temperature=2.0, bin_range=[0.0, 1.0])
    data.write_table(path, {"id": np.array(["a", "b", "c"]), "score": score}, metadata=meta)
    assert data.read_metadata(path) == meta
    assert meta["encore_jax_version"] == ej.__version__
    back = data.read_scores(path, rule_columns=["score"], id_column="id")
    assert list(back.ids) == ["a", "b", "c"]
    np.testing.assert_array_equal(back.mask[:, 0], [True, False, True])
    np.testing.assert_array_equal(back.scores[:, 0], [0.1, 0.0, 3.0])
    assert (data.sidecar_path(path).exists()) == (fmt in ("csv", "jsonl"))


def test_write_table_refuses_nan_and_ragged_columns(tmp_path):
    with pytest.raises(ValueError, match="NaN or inf"):
        data.write_table(tmp_path / "x.csv", {"a": np.array([1.0, np.nan])})
    with pytest.raises(ValueError, match="has 1 rows, expected 2"):
        data.write_table(tmp_path / "x.csv", {"a": np.zeros(2), "b": np.zeros(1)})


def test_table_writer_streams_chunks(tmp_path):
    path = tmp_path / "o.parquet"
    with data.TableWriter(path, metadata={"k": 1}) as writer:
        writer.write({"x": np.arange(3.0)})
        writer.write({"x": np.ma.masked_array([5.0], mask=[True])})
    table = pq.read_table(path)
    assert table.column("x").to_pylist() == [0.0, 1.0, 2.0, None]
    assert data.read_metadata(path) == {"k": 1}


@pytest.mark.parametrize(("fmt", "layout"), [("csv", "wide"), ("jsonl", "long"),
                                             ("parquet", "long"), ("npz", "wide")])
def test_write_ratings_round_trips(tmp_path, fmt, layout):
    table = data.RatingTable(RULES, np.where(MASK, RATINGS, 0), MASK, "mem", np.array(IDS))
    path = tmp_path / f"rt.{fmt}"
    data.write_ratings(path, table, layout=layout, metadata={"num_levels": 5})
    back = data.read_ratings(path, layout=layout, id_column="response_id")
    assert_known(back)
    assert list(back.ids) == list(IDS)
    assert data.read_metadata(path) == {"num_levels": 5}


def test_weights_json_and_trl_config(tmp_path):
    path = tmp_path / "w.json"
    data.write_weights_json(path, RULES, [0.5, 0.3, 0.2], method="encore",
                            metadata={"temperature": 2.0}, per_rule={"entropies": [0.1, 1, 2]})
    loaded = data.read_weights_json(path)
    assert loaded.rule_names == RULES and loaded.method == "encore"
    np.testing.assert_array_equal(loaded.weights, [0.5, 0.3, 0.2])
    assert loaded.metadata == {"temperature": 2.0}
    assert json.loads(path.read_text())["entropies"] == [0.1, 1, 2]
    config = data.trl_reward_config(RULES, np.array([0.5, 0.3, 0.2], np.float32))
    assert config == {"rule_names": list(RULES),
                      "reward_weights": [float(np.float32(w)) for w in (0.5, 0.3, 0.2)],
                      "note": data.writers.TRL_NOTE}
    assert "reward_funcs" not in config  # TRL would read rule names there as Hub model ids
    path.write_text('{"rules": ["a", "a"], "weights": [1, 2]}')
    with pytest.raises(data.DataError, match="duplicate rule name 'a'"):
        data.read_weights_json(path)
    path.write_text('{"rules": ["a"], "weights": [1, 2]}')
    with pytest.raises(data.DataError, match="1 rules but 2 weights"):
        data.read_weights_json(path)
