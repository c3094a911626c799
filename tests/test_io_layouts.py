"""The layouts of encore_jax.io on files and tables written here with pyarrow, pandas and
NumPy: list and struct columns, id and text columns, long format with several annotators
pooled (checked against NumPy), the missing-value policy, in-memory tables, parquet
directories, and error messages that name the fix."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import encore_jax as ej
from encore_jax import io
from encore_jax.io import iter_rating_chunks
from encore_jax.workflows.streaming import streaming_rating_histogram

RNG = np.random.default_rng(3)
N, K, L = 9, 4, 5
RATINGS = RNG.integers(0, L, size=(N, K)).astype(np.int64)
PROMPTS = [f"prompt {i}, with a comma" for i in range(N)]


def test_a_list_column_with_text_columns_reads_as_k_rules(tmp_path):
    path = tmp_path / "hf.parquet"
    pq.write_table(pa.table({"prompt": PROMPTS, "response": [f"r{i}" for i in range(N)],
                             "scores": pa.array(RATINGS.tolist(), pa.list_(pa.int64()))}), path)
    table = ej.read_ratings(path, num_levels=L)
    assert table.rule_names == tuple(f"scores[{k}]" for k in range(K))
    np.testing.assert_array_equal(table.ratings, RATINGS)
    assert list(table.text) == ["prompt", "response"] and list(table.text["prompt"]) == PROMPTS
    named = ej.read_ratings(path, list_names={"scores": ["a", "b, c", "d", "e"]})
    assert named.rule_names == ("a", "b, c", "d", "e")


def test_list_column_names_from_the_file_metadata_and_null_elements(tmp_path):
    path = tmp_path / "m.parquet"
    rows = RATINGS.tolist()
    rows[2][1] = None  # a missing element
    rows[5] = None  # a missing list: every rule of the row missing
    schema = pa.schema([("scores", pa.list_(pa.int64()))]).with_metadata(
        {"encore_jax": json.dumps({"rule_names": {"scores": ["w", "x", "y", "z"]}})})
    pq.write_table(pa.table({"scores": pa.array(rows, pa.list_(pa.int64()))}, schema=schema),
                   path)
    table = ej.read_ratings(path)
    assert table.rule_names == ("w", "x", "y", "z")
    expected = np.ones((N, K), bool)
    expected[2, 1] = False
    expected[5] = False
    np.testing.assert_array_equal(table.mask, expected)
    np.testing.assert_array_equal(table.ratings[expected], RATINGS[expected])
    assert table.missing == io.MissingCounts("mask", 5, 0)


def test_a_ragged_list_names_its_row(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"s": [1, 2]}\n{"s": [1, 2, 3]}\n')
    with pytest.raises(io.DataError, match=r"line 2, column 's': a list of 3 values; every row "
                       r"needs 2"):
        ej.read_ratings(path)


def test_a_struct_column_gives_one_rule_per_field(tmp_path):
    path = tmp_path / "s.jsonl"
    flags = RNG.random((N, 3)) < 0.5
    records = [{"id": f"x{i}", "categories": {"violence": bool(f[0]), "self_harm": bool(f[1]),
                                              "privacy": bool(f[2])}} for i, f in enumerate(flags)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    table = ej.read_ratings(path, id_column="id", num_levels=2)
    assert table.rule_names == ("violence", "self_harm", "privacy")
    np.testing.assert_array_equal(table.ratings, flags.astype(np.int32))
    assert list(table.ids) == [f"x{i}" for i in range(N)] and table.text == {}


def test_exclude_and_rule_names_with_commas(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('id,"harmless, honest",helpful,debug\nr0,1,2,9\nr1,0,1,9\n')
    table = ej.read_ratings(path, id_column="id", exclude=["debug"])
    assert table.rule_names == ("harmless, honest", "helpful")
    np.testing.assert_array_equal(table.ratings, [[1, 2], [0, 1]])


def long_rows(n_items, n_rules, n_annotators, rng):
    """(item, rule, rating) rows, several annotators per cell (some cells unrated)."""
    rows = []
    for i in range(n_items):
        for k in range(n_rules):
            for _ in range(rng.integers(0 if (i, k) == (1, 1) else 1, n_annotators + 1)):
                rows.append((f"i{i}", f"rule{k}", int(rng.integers(0, L))))
    return rows


def numpy_pool(rows, pool):
    cells = {}
    for item, rule, rating in rows:
        cells.setdefault((item, rule), []).append(rating)
    out = {}
    for key, values in cells.items():
        values = np.array(values, dtype=np.float64)
        if pool == "mean":
            out[key] = np.rint(values.mean())
        elif pool == "median":
            out[key] = np.rint(np.median(values))
        else:
            levels, counts = np.unique(values, return_counts=True)
            out[key] = levels[np.argmax(counts)]  # np.unique sorts: a tie goes to the smallest
    return out


@pytest.mark.parametrize("pool", ("mean", "median", "majority"))
def test_long_format_pools_several_annotators_like_numpy(tmp_path, pool):
    rows = long_rows(6, 3, 4, np.random.default_rng(11))
    path = tmp_path / "long.parquet"
    item, rule, rating = zip(*rows, strict=True)
    pq.write_table(pa.table({"response_id": item, "rule": rule, "rating": rating}), path)
    table = ej.read_ratings(path, layout="long", pool=pool, num_levels=L)
    expected = numpy_pool(rows, pool)
    for i, rid in enumerate(table.ids):
        for k, name in enumerate(table.rule_names):
            key = (str(rid), name)
            assert table.mask[i, k] == (key in expected)
            if key in expected:
                assert table.ratings[i, k] == expected[key], (key, pool)
    scores = ej.read_scores(path, layout="long", pool=pool)
    if pool == "mean":
        cells = {}
        for it, ru, ra in rows:
            cells.setdefault((it, ru), []).append(ra)
        i, k = 0, 0
        key = (str(scores.ids[i]), scores.rule_names[k])
        assert scores.scores[i, k] == pytest.approx(np.mean(cells[key]))


def test_long_format_without_pool_says_how_to_pool(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("response_id,rule,rating\nx,a,1\nx,a,2\n")
    with pytest.raises(io.DataError, match=r"row 3: repeats the rating .* add --pool "
                       r"mean\|median\|majority"):
        ej.read_ratings(path, layout="long")


def test_pool_majority_tie_goes_to_the_smallest_level():
    keys, pooled = io.long.pool_values(np.array([0, 0, 0, 0, 1]), np.array([3., 1., 3., 1., 2.]),
                                       "majority")
    np.testing.assert_array_equal(keys, [0, 1])
    np.testing.assert_array_equal(pooled, [1.0, 2.0])


# --- the missing-value policy -------------------------------------------------------------


MISSING_CSV = "id,a,b\nr0,1,2\nr1,,1\nr2,0,\nr3,2,2\n"


def test_missing_mask_keeps_rows_masked_and_counts_the_cells(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(MISSING_CSV)
    table = ej.read_ratings(path, id_column="id")
    np.testing.assert_array_equal(table.mask, [[1, 1], [0, 1], [1, 0], [1, 1]])
    assert table.missing == io.MissingCounts("mask", 2, 0)


def test_missing_drop_removes_rows_and_counts_them(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(MISSING_CSV)
    table = ej.read_ratings(path, id_column="id", missing="drop")
    assert list(table.ids) == ["r0", "r3"] and table.fully_observed
    assert table.missing == io.MissingCounts("drop", 2, 2)
    chunks = list(iter_rating_chunks(path, id_column="id", missing="drop", chunk_rows=1))
    assert [list(c.ids) for c in chunks] == [["r0"], ["r3"]]
    assert sum(c.missing.rows_dropped for c in chunks) == 2


def test_missing_error_names_the_cell_and_the_options(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(MISSING_CSV)
    with pytest.raises(io.DataError, match=r"row 3, column 'a': missing value .* --missing mask"):
        ej.read_ratings(path, id_column="id", missing="error")
    with pytest.raises(ValueError, match="missing must be one of"):
        ej.read_ratings(path, missing="zero")


def test_missing_drop_on_pairs_drops_pairs(tmp_path):
    path = tmp_path / "p.parquet"
    chosen = pa.array([1, None, 2], pa.int64())
    pq.write_table(pa.table({"prompt": ["p0", "p1", "p2"], "chosen_a": chosen,
                             "rejected_a": [0, 1, None]}), path)
    pairs = ej.read_rating_pairs(path, missing="drop")
    np.testing.assert_array_equal(pairs.chosen[:, 0], [1])
    assert list(pairs.text["prompt"]) == ["p0"] and pairs.missing.rows_dropped == 2
    masked = ej.read_rating_pairs(path)
    assert masked.num_pairs == 3 and masked.missing == io.MissingCounts("mask", 2, 0)


# --- sources ------------------------------------------------------------------------------


def test_pandas_dataframe_and_pyarrow_table_inputs():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(N)],
                          **{f"r{k}": RATINGS[:, k] for k in range(K)}})
    from_pandas = ej.read_ratings(frame, num_levels=L)
    np.testing.assert_array_equal(from_pandas.ratings, RATINGS)
    assert list(from_pandas.text["text"]) == [f"t{i}" for i in range(N)]
    from_arrow = ej.read_ratings(pa.Table.from_pandas(frame), num_levels=L)
    np.testing.assert_array_equal(from_arrow.ratings, RATINGS)

    class HFStyle:  # what datasets.Dataset exposes: .data.table, a pyarrow.Table
        def __init__(self, table):
            self.data = type("Inner", (), {"table": table})()

    hf = ej.read_ratings(HFStyle(pa.Table.from_pandas(frame)))
    np.testing.assert_array_equal(hf.ratings, RATINGS)
    with pytest.raises(TypeError, match="expected a file path or a table"):
        ej.read_ratings(object())


def test_a_parquet_directory_reads_as_one_dataset(tmp_path):
    folder = tmp_path / "shards"
    folder.mkdir()
    for part, rows in enumerate((slice(0, 4), slice(4, N))):
        pq.write_table(pa.table({f"r{k}": RATINGS[rows, k] for k in range(K)}),
                       folder / f"part-{part}.parquet")
    table = ej.read_ratings(folder, num_levels=L)
    np.testing.assert_array_equal(table.ratings, RATINGS)
    counts = streaming_rating_histogram(folder, L, chunk_rows=4)
    np.testing.assert_array_equal(counts, [np.bincount(RATINGS[:, k], minlength=L)
                                           for k in range(K)])


def test_npz_members_are_read_with_numpy(tmp_path):
    path = tmp_path / "r.npz"
    np.savez_compressed(path, ratings=RATINGS, rule_names=np.array(["a", "b", "c", "d"]),
                        ids=np.array([f"x{i}" for i in range(N)]))
    table = ej.read_ratings(path, id_column="ids")
    np.testing.assert_array_equal(table.ratings, RATINGS)
    assert table.rule_names == ("a", "b", "c", "d") and table.ids[0] == "x0"


# --- errors that suggest the fix ---------------------------------------------------------


def test_continuous_scores_suggest_bin_range(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("a,b\n0.25,1\n")
    with pytest.raises(io.DataError, match=r"row 2, column 'a': 0\.25 is not an integer level; "
                       r"for continuous scores add --bin-range LOW HIGH"):
        ej.read_ratings(path, num_levels=5)


def test_one_based_ratings_suggest_the_offset(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("a,b\n1,5\n3,2\n")
    with pytest.raises(io.DataError, match=r"row 2, column 'b': level 5 is outside 0\.\.4 .* "
                       r"subtract 1 with --level-offset 1 .* or use --levels 6"):
        ej.read_ratings(path, num_levels=5)
    table = ej.read_ratings(path, num_levels=5, level_offset=1)
    np.testing.assert_array_equal(table.ratings, [[0, 4], [2, 1]])


def test_a_text_column_named_as_a_rule_suggests_text_columns(tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [1, 2], "note": ["fine", "bad"]}), path)
    with pytest.raises(io.DataError, match=r"row 0, column 'note': 'fine' is not a number; .*"
                       r"add --text-columns note \(or --exclude note\)"):
        ej.read_ratings(path, rule_columns=["a", "note"])


def test_a_late_odd_cell_neither_repeats_nor_loses_rows(tmp_path, monkeypatch):
    from encore_jax.io import chunks as chunked_reader
    from encore_jax.io import formats

    monkeypatch.setattr(formats, "_BLOCK_BYTES", 1 << 10)  # many blocks
    monkeypatch.setattr(chunked_reader, "SMALL_TEXT_BYTES", 0)  # streamed, not parsed whole
    values = np.arange(3000) % 5
    lines = ["a,b"] + [f"{v},{v}" for v in values]
    lines[2500] = f"{values[2499]},   "  # an all-space cell: missing, found in a late block
    lines[2800] = f"{values[2799]}.5,1"  # integers first, a fraction late
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    expected = np.stack([values, values], axis=1).astype(np.float64)
    expected[2799] = [values[2799] + 0.5, 1]
    observed = np.ones(expected.shape, bool)
    observed[2499, 1] = False
    for chunks in (list(io.iter_score_chunks(path, chunk_rows=700)), [io.read_scores(path)]):
        scores = np.concatenate([c.scores for c in chunks])
        mask = np.concatenate([c.mask for c in chunks])
        np.testing.assert_array_equal(mask, observed)
        np.testing.assert_array_equal(scores[observed], expected[observed])
    with pytest.raises(io.DataError, match=r"row 2801, column 'a': 4\.5 is not an integer"):
        ej.read_ratings(path)


def test_rule_bases_find_struct_fields_and_named_list_elements(tmp_path):
    """The columns holding rules named by a weights file: struct fields by their names, list
    elements by ``list_names`` (or positionally as ``x[i]``), plain columns by their base."""
    from encore_jax.io.formats import open_source
    from encore_jax.io.pair_stream import iter_pair_tables, rule_bases

    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({
        "chosen_s": [{"harmless": 1.0, "honest": 0.0}, {"harmless": 0.5, "honest": 1.0}],
        "rejected_s": [{"harmless": 0.0, "honest": 1.0}, {"harmless": 0.5, "honest": 0.0}],
        "chosen_l": [[0.1, 0.2], [0.3, 0.4]], "rejected_l": [[0.4, 0.3], [0.2, 0.1]],
        "chosen_n": [1.0, 2.0], "rejected_n": [2.0, 1.0]}), path)
    source = open_source(path)
    names = {"l": ["x", "y"]}
    assert rule_bases(source, ["honest", "y", "n", "harmless"], "chosen_",
                      list_names=names) == ["s", "l", "n"]
    assert rule_bases(source, ["l[1]"], "chosen_") == ["l"]
    with pytest.raises(io.DataError, match=r"no column 'chosen_y' for rule 'y'"):
        rule_bases(source, ["y"], "chosen_")
    table = next(iter_pair_tables(path, rules=["y", "honest", "n"], list_names=names))
    np.testing.assert_array_equal(table.chosen, [[0.2, 0.0, 1.0], [0.4, 1.0, 2.0]])
    np.testing.assert_array_equal(table.rejected, [[0.3, 1.0, 2.0], [0.1, 0.0, 1.0]])
