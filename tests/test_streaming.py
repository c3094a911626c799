"""Streaming counts, entropies and composite scores equal the in-memory computation."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import encore_jax as ej
from encore_jax import entropy
from encore_jax.compose import compose
from encore_jax.io import RatingTable, ScoreTable
from encore_jax.workflows import streaming

NUM_LEVELS = 7
SPLITS = (1, 300, 64, 500, 135)  # ragged on purpose: 1000 rows, chunk_rows 128


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(7)
    ratings = rng.integers(0, NUM_LEVELS, size=(sum(SPLITS), 5)).astype(np.int32)
    mask = rng.random(ratings.shape) < 0.8
    mask[0] = True
    return ratings, mask


def split(array, sizes=SPLITS):
    return np.split(array, np.cumsum(sizes)[:-1])


@pytest.mark.parametrize("form", ["table", "tuple", "array"])
def test_histogram_of_chunks_equals_in_memory(table, form):
    ratings, mask = table
    if form == "array":
        mask = np.ones_like(mask)
    names = tuple(f"r{k}" for k in range(ratings.shape[1]))
    pieces = list(zip(split(ratings), split(mask), strict=True))
    chunks = {
        "table": [RatingTable(names, r, m, "mem") for r, m in pieces],
        "tuple": pieces,
        "array": [r for r, _ in pieces],
    }[form]
    got = streaming.streaming_rating_histogram(chunks, NUM_LEVELS, chunk_rows=128)
    expected = ej.rating_histogram(ratings, NUM_LEVELS, mask=mask)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)


def test_entropy_of_chunks_equals_in_memory_exactly(table):
    ratings, mask = table
    for estimator in ("plugin", "miller_madow"):
        got = streaming.streaming_rating_entropy(
            zip(split(ratings), split(mask), strict=True), NUM_LEVELS, chunk_rows=128,
            estimator=estimator, base=2,
        )
        expected = ej.rating_entropy(ratings, NUM_LEVELS, mask=mask, estimator=estimator, base=2)
        np.testing.assert_array_equal(got, expected)


def test_ragged_chunks_compile_once(table):
    ratings, mask = table
    # A chunk shape never seen elsewhere in the suite, so the cache count is this test's own.
    ratings, mask = ratings[:, :3].astype(np.int16), mask[:, :3]
    before = entropy._histogram._cache_size()
    streaming.streaming_rating_histogram(
        zip(split(ratings), split(mask), strict=True), NUM_LEVELS, chunk_rows=96
    )
    assert entropy._histogram._cache_size() == before + 1


def test_default_chunk_rows_is_the_first_chunk(table):
    ratings, mask = table
    got = streaming.streaming_rating_histogram(
        zip(split(ratings, (250, 250, 250, 250)), split(mask, (250, 250, 250, 250)),
            strict=True), NUM_LEVELS,
    )
    np.testing.assert_array_equal(got, ej.rating_histogram(ratings, NUM_LEVELS, mask=mask))


def write_parquet(path, ratings, mask, row_group_size):
    columns = {
        f"rule_{k}": pa.array(ratings[:, k], mask=~mask[:, k]) for k in range(ratings.shape[1])
    }
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)


def test_parquet_file_streams_to_the_in_memory_result(table, tmp_path):
    ratings, mask = table
    path = tmp_path / "ratings.parquet"
    write_parquet(path, ratings, mask, row_group_size=300)
    got = streaming.streaming_rating_histogram(path, NUM_LEVELS, chunk_rows=128)
    np.testing.assert_array_equal(got, ej.rating_histogram(ratings, NUM_LEVELS, mask=mask))
    entropies = streaming.streaming_rating_entropy(str(path), NUM_LEVELS, chunk_rows=128)
    np.testing.assert_array_equal(entropies, ej.rating_entropy(ratings, NUM_LEVELS, mask=mask))


def test_out_of_range_level_is_an_error_naming_its_global_row(table):
    ratings, mask = table
    ratings = ratings.copy()
    mask = mask.copy()
    ratings[777, 2], mask[777, 2] = NUM_LEVELS, True
    with pytest.raises(ValueError, match=r"level 7 at row 777, rule 2.*never clipped"):
        streaming.streaming_rating_histogram(
            zip(split(ratings), split(mask), strict=True), NUM_LEVELS, chunk_rows=128
        )
    # A masked-out bad level is not an observation and is fine.
    mask[777, 2] = False
    streaming.streaming_rating_histogram(
        zip(split(ratings), split(mask), strict=True), NUM_LEVELS, chunk_rows=128
    )


@pytest.mark.parametrize(
    ("chunks", "error", "match"),
    [
        ([], ValueError, "chunks is empty"),
        ([np.zeros((4, 2), np.int32), np.zeros((4, 3), np.int32)], ValueError, "3 columns"),
        ([np.zeros((4, 2), np.float32)], TypeError, "integer levels"),
        ([(np.zeros((4, 2), np.int32), np.ones((4, 3), bool))], ValueError, "mask must be"),
        ([np.zeros(4, np.int32)], ValueError, r"shape \[n, K\]"),
    ],
)
def test_bad_chunks_are_rejected(chunks, error, match):
    with pytest.raises(error, match=match):
        streaming.streaming_rating_histogram(chunks, NUM_LEVELS)


def test_reader_options_need_a_path():
    with pytest.raises(ValueError, match="file path only"):
        streaming.streaming_rating_histogram([np.zeros((2, 2), np.int32)], 3, mask_value=-1)


@pytest.fixture(scope="module")
def scores():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(1000, 4))
    weights = np.array([0.4, 0.3, 0.2, 0.1], np.float32)
    return values, weights


def read_column(path, name):
    return pq.read_table(path).column(name).to_numpy(zero_copy_only=False)


def test_compose_to_file_equals_in_memory_compose(scores, tmp_path):
    values, weights = scores
    ids = np.array([f"id{i}" for i in range(values.shape[0])])
    chunks = [
        ScoreTable(("a", "b", "c", "d"), v, np.ones(v.shape, bool), "mem", i)
        for v, i in zip(split(values), split(ids), strict=True)
    ]
    out = tmp_path / "composite.parquet"
    summary = streaming.compose_to_file(chunks, weights, out, chunk_rows=128)
    assert summary == {"path": str(out), "rows": 1000, "null_rows": 0}
    np.testing.assert_array_equal(read_column(out, "composite"), compose(values, weights))
    np.testing.assert_array_equal(read_column(out, "response_id"), ids)


def test_compose_to_file_from_a_file_path(scores, tmp_path):
    values, weights = scores
    source = tmp_path / "scores.parquet"
    table = {f"rule_{k}": values[:, k] for k in range(values.shape[1])}
    table["rid"] = [f"r{i}" for i in range(values.shape[0])]
    pq.write_table(pa.table(table), source, row_group_size=333)
    out = tmp_path / "composite.csv"
    streaming.compose_to_file(source, weights, out, chunk_rows=256, id_column="rid",
                              rule_columns=[f"rule_{k}" for k in range(4)])
    lines = out.read_text().splitlines()
    assert lines[0] == "rid,composite" and len(lines) == 1001
    written = np.array([float(line.split(",")[1]) for line in lines[1:]], np.float32)
    np.testing.assert_array_equal(written, compose(values, weights))


def test_missing_scores_raise_or_give_null_composites(scores, tmp_path):
    values, weights = scores
    mask = np.ones(values.shape, bool)
    mask[5, 1] = False
    values = values.copy()
    values[5, 1] = np.nan  # an unobserved cell may hold anything
    with pytest.raises(ValueError, match="row 5 has no score for rule 1"):
        streaming.compose_to_file([(values, mask)], weights, tmp_path / "x.parquet")
    pieces = list(streaming.iter_composite_scores([(values, mask)], weights, missing="null"))
    got = pieces[0]
    assert got.mask.sum() == 1 and got.mask[5]
    keep = np.arange(values.shape[0]) != 5
    np.testing.assert_array_equal(got[keep], compose(values[keep], weights))
    summary = streaming.compose_to_file([(values, mask)], weights, tmp_path / "y.parquet",
                                        missing="null")
    assert summary["null_rows"] == 1
    assert np.isnan(read_column(tmp_path / "y.parquet", "composite")[5])  # a parquet null


def test_non_finite_observed_score_is_an_error(scores):
    values, weights = scores
    values = values.copy()
    values[9, 3] = np.inf
    with pytest.raises(ValueError, match="inf at row 9, rule 3"):
        list(streaming.iter_composite_scores([values], weights))


def test_progress_bar_can_be_forced(table, capsys):
    ratings, mask = table
    got = streaming.streaming_rating_histogram(
        zip(split(ratings), split(mask), strict=True), NUM_LEVELS, chunk_rows=128,
        progress=True,
    )
    np.testing.assert_array_equal(got, ej.rating_histogram(ratings, NUM_LEVELS, mask=mask))
    assert capsys.readouterr().out == ""  # the bar draws on stderr only
