"""Reliability: what every public function and every ``encore-jax`` command does with bad
input, then fuzzing, numerical edge cases, float32 against float64, determinism, streaming
chunk sizes and interrupted command-line runs.

How to read the table
---------------------
``TABLE`` is the reliability table: one ``Row(where, bad, call, expect)`` per bad input tried.

* ``where``: the public function (a name in ``encore_jax.__all__``) or the command
  (``encore-jax <command>``);
* ``bad``: the bad input, in words; the test id is ``"<where>: <bad>"``;
* ``call``: a function of a fresh temporary directory; it writes any input file there and
  calls the function, or, for a command, returns its arguments;
* ``expect``, one of

  - ``Raises(error, match)``: the call raises ``error`` (``DataError`` is a ``ValueError``)
    with a message matching the regular expression ``match``; every such message must name
    an argument of the function, the file or a position (row, line, column, chunk, index,
    rule), and the call must leave no output file behind (outputs are named ``o.*``);
  - ``Gives(result, check)``: a documented result, in words, that ``check(value)`` asserts;
  - ``Exits(match)``: the command exits with status 2 and its last stderr line reads
    ``encore-jax <command>: error: ...`` matching ``match`` (one line in all unless argparse
    rejected an option, which prints its usage first), and no file is left behind;
  - ``Prints(result, check)``: the command succeeds; ``check`` asserts on its ``--json``.

Each row is one case of ``test_reliability_table``: ``pytest tests/test_reliability.py -v``
prints the table as test ids, ``-k rating_entropy`` runs one function's rows. The bad inputs
are issue 9's categories: NaN / inf, out-of-range and negative levels, float levels where
integers are required, wrong rank, mismatched K, zero rows, one rule, all entries masked, a
rule with a single observed level, temperature 0 / negative / inf / NaN, ``k`` > K or 0,
empty and truncated files, wrong column names, duplicate rule names and non-UTF-8 bytes,
plus values JAX's 32-bit default dtypes cannot hold. ``test_every_public_function_and_command_
has_rows`` keeps the table complete. Rows marked "regression" are bugs this table found.

"Under jit" rows: inside an outer ``jax.jit`` value checks cannot raise (see
``encore_jax/_checks.py``); the documented result there is NaN or an invalid marker, never a
silently clipped or dropped value.

After the table: hypothesis fuzzing of the array functions (``test_fuzz_*``), numerical edge
cases (counts of 1e12, temperatures down to 1e-30, 1e4 rules), float32 against float64 under
``jax.enable_x64`` with derived bounds, determinism (same key, same result; the sharded
version is a check in ``tests/sharded_checks.py``), streaming chunk-size independence, and
``encore-jax compose`` interrupted by signals. Tolerances are derived in the comments, with
``u = 2^-24`` the float32 unit roundoff.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.special
import scipy.stats
from hypothesis import event, given
from hypothesis import strategies as st

import encore_jax as ej
from encore_jax import cli
from encore_jax.compose import compose, margins_from_differences
from encore_jax.io import (
    DataError,
    iter_rating_chunks,
    sidecar_path,
    trl_reward_config,
    write_table,
)
from encore_jax.mesh import shard_rows
from encore_jax.metrics.accuracy import pair_credit
from encore_jax.metrics.correlation import entropy_accuracy_correlation
from encore_jax.metrics.rewardbench import rewardbench_safety
from encore_jax.metrics.summary import rule_summary
from encore_jax.selection import all_rules
from encore_jax.simulate import RuleEnsemble
from encore_jax.weightings import (
    WeightingData,
    apply_weightings,
    builtin_weightings,
    resolve_weighting,
    unlabelled_pairs,
)
from encore_jax.weights import (
    lowest_entropy_weights,
    random_weights,
    single_rule_weights,
    uniform_weights,
)
from encore_jax.workflows.protocol import holdout_split
from encore_jax.workflows.streaming import (
    compose_to_file,
    iter_composite_scores,
    streaming_rating_histogram,
)

# ------------------------------------------------------------------------------------------
# Row kinds
# ------------------------------------------------------------------------------------------


class Raises(NamedTuple):
    error: type[BaseException]
    match: str


class Gives(NamedTuple):
    result: str
    check: Callable[[Any], Any]


class Exits(NamedTuple):
    match: str
    one_line: bool = True  # False: a theory check's own argparse prints its usage first


class Prints(NamedTuple):
    result: str
    check: Callable[[dict[str, Any]], Any]


class Row(NamedTuple):
    where: str
    bad: str
    call: Callable[[Path], Any]
    expect: Raises | Gives | Exits | Prints

    @property
    def id(self) -> str:
        return f"{self.where}: {self.bad}"


# ------------------------------------------------------------------------------------------
# Shared inputs (small, one shape each, so that kernels compile once for many rows)
# ------------------------------------------------------------------------------------------

L = 3
R = np.array([[0, 1], [1, 2], [2, 0], [0, 0]], np.int32)  # ratings [N=4, K=2] in 0..2
S = np.array([[0.5, 1.0], [0.0, 0.25], [1.0, 0.5], [0.75, 0.0]], np.float32)  # scores [4, 2]
W = np.array([0.25, 0.75], np.float32)  # weights [K=2]
H = np.array([0.5, 1.0], np.float32)  # entropies [K=2]
D = S - S[::-1]  # rating differences [4, 2]
M = np.ones(R.shape, bool)
KEY = jax.random.key(0)
SUBSETS = ("refusals-dangerous", "refusals-offensive", "xstest-should-refuse",
           "xstest-should-respond", "donotanswer")
ACCURACIES = dict.fromkeys(SUBSETS, 0.5)


def put(array: np.ndarray, index: tuple[int, ...], value: Any, dtype: Any = None) -> np.ndarray:
    """A copy of ``array`` (as ``dtype``) with one entry replaced."""
    out = np.array(array, dtype=dtype)
    out[index] = value
    return out


def pairs(chosen: np.ndarray = R, rejected: np.ndarray = R[::-1], **fields: Any) -> ej.Pairs:
    return ej.Pairs(chosen, rejected, **fields)


def file(tmp: Path, name: str, content: str | bytes) -> Path:
    path = tmp / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def parquet(tmp: Path, name: str, columns: dict[str, Any], *, truncate: int | None = None,
            names: list[str] | None = None) -> Path:
    path = tmp / name
    table = pa.table(columns)
    if names is not None:  # pyarrow allows repeated column names; rename to make them
        table = table.rename_columns(names)
    pq.write_table(table, path)
    if truncate is not None:
        path.write_bytes(path.read_bytes()[:truncate])
    return path


def npz(tmp: Path, name: str, *, truncate: int | None = None, **arrays: Any) -> Path:
    path = tmp / name
    np.savez(path, **arrays)
    if truncate is not None:
        path.write_bytes(path.read_bytes()[:truncate])
    return path


LONG_REPEATED = "response_id,rule,rating\nx,a,1\nx,a,2\n"  # response x, rule a rated twice
RATINGS_CSV = "a,b\n0,1\n1,2\n2,0\n0,0\n"
SCORES_CSV = "a,b\n0.5,1.0\n0.0,0.25\n1.0,0.5\n0.75,0.0\n"
SCORE_ROWS = SCORES_CSV.split("\n", 1)[1]
PAIRS_CSV = "chosen_a,chosen_b,rejected_a,rejected_b\n" + "".join(
    f"{i % 3},{(2 * i) % 3},{(i + 1) % 3},{i % 2}\n" for i in range(8))
GROUPED_CSV = "g," + PAIRS_CSV.split("\n", 1)[0] + "\n" + "".join(  # 4 groups of 2 pairs
    f"g{i // 2},{line}\n" for i, line in enumerate(PAIRS_CSV.splitlines()[1:]))
LABEL_CSV = "a_x,a_y,b_x,b_y\n" + "".join(f"{i % 3},{(2 * i) % 3},{(i + 1) % 3},{i % 2}\n"
                                          for i in range(8))


def ratings_file(tmp: Path, text: str = RATINGS_CSV, name: str = "r.csv") -> Path:
    return file(tmp, name, text)


def weights_json(tmp: Path, text: str, name: str = "w.json") -> Path:
    return file(tmp, name, text)


def under_jit(fn: Callable[..., Any], *args: Any) -> Any:
    return jax.jit(fn)(*args)


def equal(expected: Any) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        np.testing.assert_array_equal(np.asarray(value), np.asarray(expected))
    return check


def close(expected: Any, rtol: float = 1e-6, atol: float = 0.0) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        np.testing.assert_allclose(np.asarray(value), np.asarray(expected), rtol=rtol,
                                   atol=atol)
    return check


def positive_zero(value: Any) -> None:
    """Every entry is +0.0: a one-level rule's entropy, never -0.0 (printed in JSON)."""
    host = np.asarray(value)
    assert np.all(host == 0) and not np.any(np.signbit(host)), host


def nan_at(rule: int) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        host = np.asarray(value)
        assert np.isnan(host[rule]) and np.isfinite(np.delete(host, rule)).all(), host
    return check


def shaped(shape: tuple[int, ...], dtype: Any) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        assert value.shape == shape and value.dtype == dtype, (value.shape, value.dtype)
    return check


def holds(predicate: Callable[[Any], bool]) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        assert predicate(value), value
    return check


def plugin_entropy(counts: np.ndarray) -> np.ndarray:
    return scipy.stats.entropy(np.asarray(counts, np.float64), axis=-1)


# ------------------------------------------------------------------------------------------
# The table: library functions
# ------------------------------------------------------------------------------------------

ENTROPY_ROWS = [
    Row("rating_histogram", "level L (3 with num_levels=3)",
        lambda t: ej.rating_histogram(put(R, (2, 1), 3), L),
        Raises(ValueError, "level 3 at index")),
    Row("rating_histogram", "negative level",
        lambda t: ej.rating_histogram(put(R, (1, 0), -1), L),
        Raises(ValueError, r"level -1 at index \(1, 0\).*never clipped")),
    Row("rating_histogram", "float levels",
        lambda t: ej.rating_histogram(R.astype(np.float32), L), Raises(TypeError, "integer")),
    Row("rating_histogram", "NaN among float levels",
        lambda t: ej.rating_histogram(put(R, (0, 0), np.nan, np.float32), L),
        Raises(TypeError, "integer rating levels")),
    Row("rating_histogram", "boolean ratings",
        lambda t: ej.rating_histogram(R > 0, L), Raises(TypeError, "integer")),
    Row("rating_histogram", "wrong rank: 1-D", lambda t: ej.rating_histogram(R[:, 0], L),
        Raises(ValueError, r"\[N, K\]")),
    Row("rating_histogram", "wrong rank: 3-D", lambda t: ej.rating_histogram(R[None], L),
        Raises(ValueError, r"\[N, K\] \(2 dims\), got shape \(1, 4, 2\)")),
    Row("rating_histogram", "no rules [N, 0]",
        lambda t: ej.rating_histogram(np.zeros((3, 0), np.int32), L),
        Raises(ValueError, "no rules")),
    Row("rating_histogram", "num_levels 1",
        lambda t: ej.rating_histogram(R, 1), Raises(ValueError, "num_levels must be >= 2")),
    Row("rating_histogram", "num_levels a float",
        lambda t: ej.rating_histogram(R, 3.0), Raises(TypeError, "num_levels must be an int")),
    Row("rating_histogram", "mask of another shape",
        lambda t: ej.rating_histogram(R, L, mask=np.ones((4, 1), bool)),
        Raises(ValueError, "mask has shape")),
    Row("rating_histogram", "non-boolean mask",
        lambda t: ej.rating_histogram(R, L, mask=np.ones(R.shape)), Raises(TypeError, "boolean")),
    Row("rating_histogram", "int64 level 2**32 + 1 (regression: wrapped to 1, counted)",
        lambda t: ej.rating_histogram(put(R, (0, 0), 2**32 + 1, np.int64), L),
        Raises(ValueError, r"4294967297 at index \(0, 0\), outside the range of int32")),
    Row("rating_histogram", "zero rows",
        lambda t: ej.rating_histogram(np.zeros((0, 2), np.int32), L),
        Gives("zero counts [K, L]", equal(np.zeros((2, L))))),
    Row("rating_histogram", "one rule",
        lambda t: ej.rating_histogram(R[:, :1], L), Gives("counts [1, L]", equal([[2, 1, 1]]))),
    Row("rating_histogram", "all entries masked",
        lambda t: ej.rating_histogram(R, L, mask=np.zeros(R.shape, bool)),
        Gives("zero counts", equal(np.zeros((2, L))))),
    Row("rating_histogram", "out-of-range level under a False mask entry",
        lambda t: ej.rating_histogram(put(R, (0, 0), 99), L, mask=put(M, (0, 0), False)),
        Gives("masked entries may hold any value: not counted", equal([[1, 1, 1], [2, 1, 1]]))),
    Row("rating_histogram", "level L under jit",
        lambda t: under_jit(lambda r: ej.rating_histogram(r, L), put(R, (2, 1), 3)),
        Gives("matches no bin (never clipped into L - 1)", equal([[2, 1, 1], [1, 1, 1]]))),
    Row("discretize", "NaN score", lambda t: ej.discretize(np.array([0.5, np.nan]), 3),
        Raises(ValueError, r"nan at index \(1,\); values must be finite")),
    Row("discretize", "inf score", lambda t: ej.discretize(np.array([np.inf]), 3),
        Raises(ValueError, "finite")),
    Row("discretize", "score above high", lambda t: ej.discretize(np.array([0.5, 1.01]), 3),
        Raises(ValueError, r"at index \(1,\), outside \[low, high\] = \[0.0, 1.0\]")),
    Row("discretize", "negative score with low=0", lambda t: ej.discretize(np.array([-0.1]), 3),
        Raises(ValueError, "never clipped")),
    Row("discretize", "low > high", lambda t: ej.discretize(np.array([0.5]), 3, low=1.0, high=0.0),
        Raises(ValueError, "low < high")),
    Row("discretize", "NaN low", lambda t: ej.discretize(np.array([0.5]), 3, low=math.nan),
        Raises(ValueError, "finite low < high")),
    Row("discretize", "range below float32 resolution",
        lambda t: ej.discretize(np.array([1.0], np.float32), 3, low=1.0, high=1.0 + 1e-12),
        Raises(ValueError, "equal in the scores' dtype float32")),
    Row("discretize", "boolean scores", lambda t: ej.discretize(np.array([True]), 3),
        Raises(TypeError, "real-valued")),
    Row("discretize", "num_levels 1", lambda t: ej.discretize(np.array([0.5]), 1),
        Raises(ValueError, "num_levels")),
    Row("discretize", "float64 score beyond float32 (regression: inf, a warning)",
        lambda t: ej.discretize(np.array([1e39]), 3, high=1e40),
        Raises(ValueError, "1e\\+39 at index \\(0,\\), outside the range of float32")),
    Row("discretize", "zero scores", lambda t: ej.discretize(np.zeros(0, np.float32), 3),
        Gives("an empty int32 array", shaped((0,), jnp.int32))),
    Row("discretize", "top score of a range float32 rounds (regression: gave level L)",
        lambda t: ej.discretize(np.array([3.132256], np.float32), 2, low=2.739233746429086,
                                high=3.1322559465620907),
        Gives("the last level L - 1", equal([1]))),
    Row("discretize", "NaN and out-of-range scores under jit",
        lambda t: under_jit(lambda s: ej.discretize(s, 4), jnp.array([-0.5, 0.5, 1.5, jnp.nan])),
        Gives("invalid levels -1 (below, NaN) and L (above)", equal([-1, 2, 4, -1]))),
    Row("entropy_from_counts", "negative count",
        lambda t: ej.entropy_from_counts(np.array([[1.0, -1.0]])),
        Raises(ValueError, "non-negative")),
    Row("entropy_from_counts", "NaN count",
        lambda t: ej.entropy_from_counts(np.array([[1.0, np.nan]])), Raises(ValueError, "finite")),
    Row("entropy_from_counts", "inf count",
        lambda t: ej.entropy_from_counts(np.array([[np.inf, 1.0]])),
        Raises(ValueError, r"inf at index \(0, 0\)")),
    Row("entropy_from_counts", "a row with zero total (all masked / zero rows)",
        lambda t: ej.entropy_from_counts(np.array([[2, 1], [0, 0]])),
        Raises(ValueError, r"rule\(s\) at index \[\(1,\)\] have no observed")),
    Row("entropy_from_counts", "wrong rank: a scalar",
        lambda t: ej.entropy_from_counts(np.float32(3)), Raises(ValueError, "L >= 1")),
    Row("entropy_from_counts", "boolean counts",
        lambda t: ej.entropy_from_counts(np.array([[True, False]])),
        Raises(TypeError, "real-valued")),
    Row("entropy_from_counts", "estimator 'mle'",
        lambda t: ej.entropy_from_counts(np.array([[1, 2]]), estimator="mle"),
        Raises(ValueError, "estimator must be one of")),
    Row("entropy_from_counts", "base 1",
        lambda t: ej.entropy_from_counts(np.array([[1, 2]]), base=1), Raises(ValueError, "base")),
    Row("entropy_from_counts", "int64 counts beyond int32 (regression: wrapped negative)",
        lambda t: ej.entropy_from_counts(np.array([[3_000_000_000, 1_000_000_000]], np.int64)),
        Gives("the entropy of the counts, as floats", close(plugin_entropy([[3, 1]]), 1e-6))),
    Row("entropy_from_counts", "a single observed level (regression: -0.0)",
        lambda t: ej.entropy_from_counts(np.array([[0, 5, 0]])), Gives("+0.0", positive_zero)),
    Row("entropy_from_counts", "zero total under jit",
        lambda t: under_jit(ej.entropy_from_counts, jnp.array([[2.0, 1.0], [0.0, 0.0]])),
        Gives("NaN for that row", nan_at(1))),
    Row("rating_entropy", "level L", lambda t: ej.rating_entropy(put(R, (3, 1), 3), L),
        Raises(ValueError, r"level 3 at index \(3, 1\)")),
    Row("rating_entropy", "negative level", lambda t: ej.rating_entropy(put(R, (3, 1), -2), L),
        Raises(ValueError, "level -2")),
    Row("rating_entropy", "float levels", lambda t: ej.rating_entropy(S, L),
        Raises(TypeError, "use discretize")),
    Row("rating_entropy", "wrong rank: 1-D", lambda t: ej.rating_entropy(R[0], L),
        Raises(ValueError, r"\[N, K\]")),
    Row("rating_entropy", "zero rows", lambda t: ej.rating_entropy(np.zeros((0, 2), np.int32), L),
        Raises(ValueError, "zero rows")),
    Row("rating_entropy", "a rule with every entry masked",
        lambda t: ej.rating_entropy(R, L, mask=np.array([[1, 0]] * 4, bool)),
        Raises(ValueError, r"index \[\(1,\)\] have no observed ratings")),
    Row("rating_entropy", "all entries masked",
        lambda t: ej.rating_entropy(R, L, mask=np.zeros(R.shape, bool)),
        Raises(ValueError, "no observed ratings")),
    Row("rating_entropy", "estimator 'mle'", lambda t: ej.rating_entropy(R, L, estimator="mle"),
        Raises(ValueError, "estimator")),
    Row("rating_entropy", "base 1",
        lambda t: ej.rating_entropy(R, L, base=1),
        Raises(ValueError, "base")),
    Row("rating_entropy", "base inf", lambda t: ej.rating_entropy(R, L, base=math.inf),
        Raises(ValueError, "base must be finite")),
    Row("rating_entropy", "one rule", lambda t: ej.rating_entropy(R[:, :1], L),
        Gives("[1] entropies", close(plugin_entropy([[2, 1, 1]])))),
    Row("rating_entropy", "a rule with a single observed level",
        lambda t: ej.rating_entropy(np.array([[2, 0], [2, 1], [2, 2], [2, 0]], np.int32), L),
        Gives("entropy +0.0 for that rule", lambda h: positive_zero(h[0]))),
    Row("rating_entropy", "level L under jit",
        lambda t: under_jit(lambda r: ej.rating_entropy(r, L), put(R, (2, 1), 3)),
        Gives("NaN for that rule (the rating is never dropped)", nan_at(1))),
    Row("rating_entropy", "a rule with every entry masked, under jit",
        lambda t: under_jit(lambda r, m: ej.rating_entropy(r, L, mask=m), R,
                            np.array([[1, 0]] * 4, bool)),
        Gives("NaN for that rule", nan_at(1))),
]

WEIGHT_ROWS = [
    *[Row("entropy_weights", f"temperature {tau}",
          lambda t, tau=tau: ej.entropy_weights(H, tau),
          Raises(ValueError, "temperature must be finite and > 0"))
      for tau in (0.0, -1.0, math.inf, math.nan)],
    Row("entropy_weights", "temperature an array",
        lambda t: ej.entropy_weights(H, np.array([1.0, 2.0])), Raises(TypeError, "real scalar")),
    Row("entropy_weights", "temperature a bool", lambda t: ej.entropy_weights(H, True),
        Raises(TypeError, "temperature must be a real scalar")),
    Row("entropy_weights", "NaN entropy", lambda t: ej.entropy_weights(put(H, (1,), np.nan), 2.0),
        Raises(ValueError, r"nan at index \(1,\)")),
    Row("entropy_weights", "inf entropy", lambda t: ej.entropy_weights(put(H, (0,), np.inf), 2.0),
        Raises(ValueError, "finite")),
    Row("entropy_weights", "integer entropies", lambda t: ej.entropy_weights(np.array([1, 2]), 2.0),
        Raises(TypeError, "float")),
    Row("entropy_weights", "no rules", lambda t: ej.entropy_weights(np.zeros(0, np.float32), 2.0),
        Raises(ValueError, "K >= 1")),
    Row("entropy_weights", "wrong rank: a scalar", lambda t: ej.entropy_weights(np.float32(1), 2.0),
        Raises(ValueError, r"\[\.\.\., K\]")),
    Row("entropy_weights", "one rule", lambda t: ej.entropy_weights(H[:1], 2.0),
        Gives("weight 1", equal([1.0]))),
    Row("entropy_weights", "temperature 1e-300, below float32 (regression: NaN)",
        lambda t: ej.entropy_weights(H, 1e-300),
        Gives("all mass on the lowest entropy", equal([1, 0]))),
    Row("entropy_weights", "temperature 1e-6 with tied lowest entropies",
        lambda t: ej.entropy_weights(np.array([0.3, 0.3, 1.0], np.float32), 1e-6),
        Gives("mass split evenly among the ties", equal([0.5, 0.5, 0.0]))),
    Row("entropy_weights", "entropies near the float32 maximum (regression: NaN)",
        lambda t: ej.entropy_weights(np.array([1e38, 3e38], np.float32), 1e-3),
        Gives("the tau -> 0 limit", equal([1, 0]))),
    Row("entropy_weights", "temperature 1e300",
        lambda t: ej.entropy_weights(H, 1e300), Gives("uniform (tau -> inf)", equal([0.5, 0.5]))),
    Row("entropy_weights", "integer-typed temperature (regression: strict promotion error)",
        lambda t: ej.entropy_weights(H, np.int64(2)),
        Gives("as the float temperature", close(scipy.special.softmax(-H.astype(float) / 2)))),
    *[Row("encore_weights", f"temperature {tau}",
          lambda t, tau=tau: ej.encore_weights(R, L, temperature=tau),
          Raises(ValueError, "temperature")) for tau in (0.0, -2.0, math.inf, math.nan)],
    Row("encore_weights", "level L", lambda t: ej.encore_weights(put(R, (0, 1), 3), L),
        Raises(ValueError, "level 3")),
    Row("encore_weights", "float levels", lambda t: ej.encore_weights(S, L),
        Raises(TypeError, "integer")),
    Row("encore_weights", "zero rows", lambda t: ej.encore_weights(np.zeros((0, 2), np.int32), L),
        Raises(ValueError, "zero rows")),
    Row("encore_weights", "all entries masked",
        lambda t: ej.encore_weights(R, L, mask=np.zeros(R.shape, bool)),
        Raises(ValueError, "no observed ratings")),
    Row("encore_weights", "one rule", lambda t: ej.encore_weights(R[:, :1], L)[1],
        Gives("weight 1", equal([1.0]))),
    Row("encore_weights", "a rule with a single observed level",
        lambda t: ej.encore_weights(np.array([[1, 0], [1, 1], [1, 2]], np.int32), L)[1],
        Gives("the largest weight, softmax([0, log 3] / -2)",
              close(scipy.special.softmax(-np.array([0.0, np.log(3)]) / 2)))),
    Row("uniform_weights", "zero rules", lambda t: uniform_weights(0),
        Raises(ValueError, "num_rules must be >= 1")),
    Row("uniform_weights", "a float number of rules", lambda t: uniform_weights(2.0),
        Raises(TypeError, "num_rules must be an int")),
    Row("uniform_weights", "one rule",
        lambda t: uniform_weights(1),
        Gives("[1.0]", equal([1.0]))),
    Row("random_weights", "zero rules", lambda t: random_weights(KEY, 0),
        Raises(ValueError, "num_rules")),
    Row("random_weights", "concentration 0",
        lambda t: random_weights(KEY, 3, concentration=0.0),
        Raises(ValueError, "concentration")),
    Row("random_weights", "concentration NaN",
        lambda t: random_weights(KEY, 3, concentration=math.nan),
        Raises(ValueError, "concentration")),
    Row("random_weights", "an int instead of a key", lambda t: random_weights(0, 3),
        Raises(TypeError, "PRNG key")),
    Row("random_weights", "one rule",
        lambda t: random_weights(KEY, 1),
        Gives("[1.0]", equal([1.0]))),
    Row("single_rule_weights", "index K", lambda t: single_rule_weights(3, 3),
        Raises(ValueError, r"index must be in 0\.\.2, got 3")),
    Row("single_rule_weights", "negative index", lambda t: single_rule_weights(3, -1),
        Raises(ValueError, "index")),
    Row("single_rule_weights", "a float index", lambda t: single_rule_weights(3, 1.0),
        Raises(TypeError, "index must be an int")),
    Row("single_rule_weights", "zero rules", lambda t: single_rule_weights(0, 0),
        Raises(ValueError, "num_rules")),
    Row("lowest_entropy_weights", "k > K", lambda t: lowest_entropy_weights(H, 3),
        Raises(ValueError, "k must be <= K = 2, got 3")),
    Row("lowest_entropy_weights", "k = 0", lambda t: lowest_entropy_weights(H, 0),
        Raises(ValueError, "k must be >= 1")),
    Row("lowest_entropy_weights", "a float k", lambda t: lowest_entropy_weights(H, 1.0),
        Raises(TypeError, "k must be an int")),
    Row("lowest_entropy_weights", "NaN entropy",
        lambda t: lowest_entropy_weights(put(H, (0,), np.nan), 1), Raises(ValueError, "finite")),
    Row("lowest_entropy_weights", "wrong rank: [2, K]",
        lambda t: lowest_entropy_weights(np.stack([H, H]), 1), Raises(ValueError, r"\[K\]")),
    Row("lowest_entropy_weights", "k = K", lambda t: lowest_entropy_weights(H, 2),
        Gives("uniform weights", equal([0.5, 0.5]))),
]

COMPOSE_ROWS = [
    Row("compose", "K of scores != K of weights",
        lambda t: compose(np.ones((4, 3), np.float32), W),
        Raises(ValueError, "last axis must be K = 2")),
    Row("compose", "integer weights",
        lambda t: compose(S, np.ones(2, int)),
        Raises(TypeError, "float")),
    Row("compose", "NaN score", lambda t: compose(put(S, (1, 1), np.nan), W),
        Raises(ValueError, r"scores contains nan at index \(1, 1\)")),
    Row("compose", "inf weight", lambda t: compose(S, put(W, (0,), np.inf)),
        Raises(ValueError, "weights contains inf")),
    Row("compose", "wrong rank: weights [1, K]", lambda t: compose(S, W[None]),
        Raises(ValueError, r"weights must have shape \[K\]")),
    Row("compose", "wrong rank: a scalar score", lambda t: compose(np.float32(1), W),
        Raises(ValueError, "last axis")),
    Row("compose", "boolean scores",
        lambda t: compose(S > 0.3, W),
        Raises(TypeError, "real-valued")),
    Row("compose", "int64 score beyond int32 (regression: wrapped)",
        lambda t: compose(put(R, (0, 0), 2**40, np.int64), W),
        Raises(ValueError, "outside the range of int32")),
    Row("compose", "zero rows", lambda t: compose(np.zeros((0, 2), np.float32), W),
        Gives("an empty [0] array", shaped((0,), jnp.float32))),
    Row("compose", "one rule", lambda t: compose(S[:, :1], W[:1]),
        Gives("w_0 * scores[:, 0]", close(S[:, 0] * W[0]))),
    Row("pair_margins", "chosen and rejected with different N",
        lambda t: ej.pair_margins(np.ones((4, 2)), np.ones((5, 2)), W),
        Raises(ValueError, "shape")),
    Row("pair_margins", "K of ratings != K of weights",
        lambda t: ej.pair_margins(R, R, np.ones(3, np.float32)), Raises(ValueError, "K = 3")),
    Row("pair_margins", "inf in rejected", lambda t: ej.pair_margins(S, put(S, (0, 0), -np.inf), W),
        Raises(ValueError, "rejected contains -inf")),
    Row("pair_margins", "wrong rank: 1-D pairs (regression: gave a scalar)",
        lambda t: ej.pair_margins(S[0], S[1], W),
        Raises(ValueError, r"chosen must have shape \[N, K\]")),
    Row("pair_margins", "zero rows",
        lambda t: ej.pair_margins(np.zeros((0, 2), np.int32), np.zeros((0, 2), np.int32), W),
        Gives("an empty [0] array", shaped((0,), jnp.float32))),
    Row("pair_margins", "uint8 ratings with rejected > chosen",
        lambda t: ej.pair_margins(np.zeros((1, 2), np.uint8), np.full((1, 2), 4, np.uint8), W),
        Gives("a negative margin, no unsigned wrap-around", close([-4.0]))),
]

BT_ROWS = [
    *[Row(name, "K of weights != K of diffs", lambda t, fn=fn: fn(np.ones(3, np.float32), D),
          Raises(ValueError, r"weights must have shape \[K\] = \(2,\) to match diffs"))
      for name, fn in (("bt_loss", ej.bt_loss), ("bt_gradient", ej.bt_gradient))],
    Row("bt_loss", "zero rows", lambda t: ej.bt_loss(W, np.zeros((0, 2), np.float32)),
        Raises(ValueError, "at least one pair")),
    Row("bt_loss", "NaN diff", lambda t: ej.bt_loss(W, put(D, (3, 0), np.nan)),
        Raises(ValueError, r"diffs contains nan at index \(3, 0\)")),
    Row("bt_loss", "wrong rank: 1-D diffs",
        lambda t: ej.bt_loss(W, D[0]),
        Raises(ValueError, r"\[N, K\]")),
    Row("bt_loss", "mask selects no pair", lambda t: ej.bt_loss(W, D, mask=np.zeros(4, bool)),
        Raises(ValueError, "selects no pair")),
    Row("bt_loss", "integer weights",
        lambda t: ej.bt_loss(np.ones(2, int), D),
        Raises(TypeError, "float")),
    Row("bt_loss", "one rule, all differences 0",
        lambda t: ej.bt_loss(W[:1], np.zeros((4, 1), np.float32)),
        Gives("log 2", close(np.log(2)))),
    Row("bt_gradient", "inf weight", lambda t: ej.bt_gradient(put(W, (1,), np.inf), D),
        Raises(ValueError, "weights contains inf")),
    Row("bt_gradient", "mask of another shape",
        lambda t: ej.bt_gradient(W, D, mask=np.ones(3, bool)),
        Raises(ValueError, "mask has shape")),
    Row("bt_gradient", "one rule at w = 0",
        lambda t: ej.bt_gradient(np.zeros(1, np.float32), D[:, :1]),
        Gives("-mean(d) / 2", close([-D[:, 0].mean() / 2], atol=1e-7))),
    Row("fit_bt_weights", "max_steps 0", lambda t: ej.fit_bt_weights(D, max_steps=0),
        Raises(ValueError, "max_steps must be >= 1")),
    Row("fit_bt_weights", "record_every 0", lambda t: ej.fit_bt_weights(D, record_every=0),
        Raises(ValueError, "record_every")),
    Row("fit_bt_weights", "l2 NaN", lambda t: ej.fit_bt_weights(D, l2=math.nan),
        Raises(ValueError, "l2 must be finite and >= 0")),
    Row("fit_bt_weights", "l2 negative",
        lambda t: ej.fit_bt_weights(D, l2=-1.0),
        Raises(ValueError, "l2")),
    Row("fit_bt_weights", "tol inf",
        lambda t: ej.fit_bt_weights(D, tol=math.inf),
        Raises(ValueError, "tol")),
    Row("fit_bt_weights", "init with K + 1 weights",
        lambda t: ej.fit_bt_weights(D, init=np.ones(3, np.float32)),
        Raises(ValueError, "init must have shape")),
    Row("fit_bt_weights", "simplex init with a zero weight",
        lambda t: ej.fit_bt_weights(D, parameterization="simplex",
                                    init=np.array([1.0, 0.0], np.float32)),
        Raises(ValueError, "strictly positive")),
    Row("fit_bt_weights", "unknown parameterization",
        lambda t: ej.fit_bt_weights(D, parameterization="box"),
        Raises(ValueError, "parameterization")),
    Row("fit_bt_weights", "optimizer of another type",
        lambda t: ej.fit_bt_weights(D, optimizer=0.1),
        Raises(TypeError, "optax.GradientTransformation")),
    Row("fit_bt_weights", "unknown optimizer name",
        lambda t: ej.fit_bt_weights(D, optimizer="adamw"),
        Raises(ValueError, "optimizer")),
    Row("fit_bt_weights", "zero rows", lambda t: ej.fit_bt_weights(np.zeros((0, 2), np.float32)),
        Raises(ValueError, "at least one pair")),
    Row("fit_bt_weights", "NaN diff", lambda t: ej.fit_bt_weights(put(D, (0, 0), np.nan)),
        Raises(ValueError, "finite")),
    Row("fit_bt_weights", "mask selects no pair",
        lambda t: ej.fit_bt_weights(D, mask=np.zeros(4, bool)),
        Raises(ValueError, "selects no pair")),
    Row("fit_bt_weights", "one rule whose differences are all 0",
        lambda t: ej.fit_bt_weights(np.zeros((4, 1), np.float32), max_steps=3, record_every=3),
        Gives("weight 0 (zero gradient), loss log 2",
              lambda fit: (equal([0.0])(fit.weights), close(np.log(2))(fit.loss_history[-1])))),
]

SELECTION_ROWS = [
    Row("select_rules", "k > K", lambda t: ej.select_rules(S, S, 3),
        Raises(ValueError, "k must be <= K = 2")),
    Row("select_rules", "k = 0",
        lambda t: ej.select_rules(S, S, 0),
        Raises(ValueError, "k must be >= 1")),
    Row("select_rules", "a float k",
        lambda t: ej.select_rules(S, S, 1.0),
        Raises(TypeError, "k must be an int")),
    Row("select_rules", "A and B with different K",
        lambda t: ej.select_rules(S, np.ones((4, 3)), 1),
        Raises(ValueError, "scores_b has shape")),
    Row("select_rules", "wrong rank: 1-D", lambda t: ej.select_rules(S[0], S[0], 1),
        Raises(ValueError, r"\[N, K\]")),
    Row("select_rules", "NaN score", lambda t: ej.select_rules(put(S, (0, 0), np.nan), S, 1),
        Raises(ValueError, "scores_a contains nan")),
    Row("select_rules", "inf score", lambda t: ej.select_rules(S, put(S, (0, 0), np.inf), 1),
        Raises(ValueError, "scores_b contains inf")),
    Row("select_rules", "alpha negative", lambda t: ej.select_rules(S, S, 1, alpha=-1.0),
        Raises(ValueError, "alpha must be finite and >= 0")),
    Row("select_rules", "alpha NaN", lambda t: ej.select_rules(S, S, 1, alpha=math.nan),
        Raises(ValueError, "alpha")),
    Row("select_rules", "alpha 0 without relevance", lambda t: ej.select_rules(S, S, 1, alpha=0.0),
        Raises(ValueError, "alpha=0 with relevance=None")),
    Row("select_rules", "relevance of another K",
        lambda t: ej.select_rules(S, S, 1, relevance=np.ones(3)),
        Raises(ValueError, "relevance must have shape")),
    Row("select_rules", "NaN relevance",
        lambda t: ej.select_rules(S, S, 1, relevance=np.array([np.nan, 0.0], np.float32)),
        Raises(ValueError, "relevance contains nan")),
    Row("select_rules", "zero rows",
        lambda t: ej.select_rules(np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32), 1),
        Gives("an empty [0, K] mask", shaped((0, 2), jnp.bool_))),
    Row("select_rules", "one rule", lambda t: ej.select_rules(S[:, :1], S[::-1, :1], 1),
        Gives("the rule, for every pair", equal(np.ones((4, 1), bool)))),
    Row("label_pairs", "non-boolean selection", lambda t: ej.label_pairs(S, S, np.ones(S.shape)),
        Raises(TypeError, "selected must be boolean")),
    Row("label_pairs", "selection of another shape",
        lambda t: ej.label_pairs(S, S, np.ones((4, 3), bool)),
        Raises(ValueError, "selected has shape")),
    Row("label_pairs", "weights of another K",
        lambda t: ej.label_pairs(S, S, M, weights=np.ones(3, np.float32)),
        Raises(ValueError, "K = 2 rules")),
    Row("label_pairs", "NaN weight",
        lambda t: ej.label_pairs(S, S, M, weights=put(W, (0,), np.nan)),
        Raises(ValueError, "weights contains nan")),
    Row("label_pairs", "unknown tie policy", lambda t: ej.label_pairs(S, S, M, tie_winner="c"),
        Raises(ValueError, "tie_winner must be one of")),
    Row("label_pairs", "tie_winner='random' without a key",
        lambda t: ej.label_pairs(S, S, M, tie_winner="random"),
        Raises(ValueError, "key is required")),
    Row("label_pairs", "zero rows",
        lambda t: ej.label_pairs(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2), bool)),
        Gives("an empty [0] label array", shaped((0,), jnp.bool_))),
    Row("label_pairs", "no rule selected",
        lambda t: ej.label_pairs(S, S[::-1], np.zeros(S.shape, bool)),
        Gives("a tie for every pair: B (False)", equal(np.zeros(4, bool)))),
    Row("random_rule_selection", "k > K", lambda t: ej.random_rule_selection(KEY, 4, 2, 3),
        Raises(ValueError, "k must be <= K = 2")),
    Row("random_rule_selection", "k = 0", lambda t: ej.random_rule_selection(KEY, 4, 2, 0),
        Raises(ValueError, "k must be >= 1")),
    Row("random_rule_selection", "zero pairs", lambda t: ej.random_rule_selection(KEY, 0, 2, 1),
        Raises(ValueError, "num_pairs must be >= 1")),
    Row("random_rule_selection", "k = K", lambda t: ej.random_rule_selection(KEY, 4, 2, 2),
        Gives("every rule", equal(np.ones((4, 2), bool)))),
    Row("all_rules", "zero pairs", lambda t: all_rules(0, 2), Raises(ValueError, "num_pairs")),
    Row("all_rules", "a float number of rules", lambda t: all_rules(4, 2.0),
        Raises(TypeError, "num_rules must be an int")),
    Row("all_rules", "one rule",
        lambda t: all_rules(4, 1),
        Gives("[N, 1] of True", equal(np.ones((4, 1), bool)))),
]

ONE = np.ones(2, np.float32)


def simulate(informativeness: Any = ONE, spread: Any = ONE, num_pairs: int = 4,
             **options: Any) -> RuleEnsemble:
    return ej.simulate_rule_ensemble(KEY, num_pairs, informativeness=informativeness,
                                     spread=spread, **options)


SIMULATE_ROWS = [
    Row("simulate_rule_ensemble", "spread 0",
        lambda t: simulate(spread=np.array([1, 0], np.float32)),
        Raises(ValueError, "spread has 0.0 at index 1")),
    Row("simulate_rule_ensemble", "spread NaN",
        lambda t: simulate(spread=put(ONE, (0,), np.nan)),
        Raises(ValueError, "spread has nan at index 0")),
    Row("simulate_rule_ensemble", "negative informativeness",
        lambda t: simulate(put(ONE, (1,), -1)),
        Raises(ValueError, "informativeness has -1.0 at index 1")),
    Row("simulate_rule_ensemble", "inf informativeness",
        lambda t: simulate(put(ONE, (0,), np.inf)),
        Raises(ValueError, "informativeness contains inf")),
    Row("simulate_rule_ensemble", "K of informativeness != K of spread",
        lambda t: simulate(spread=np.ones(3, np.float32)),
        Raises(ValueError, "spread has shape")),
    Row("simulate_rule_ensemble", "no rules",
        lambda t: simulate(ONE[:0], ONE[:0]),
        Raises(ValueError, "no rules")),
    Row("simulate_rule_ensemble", "zero pairs",
        lambda t: simulate(num_pairs=0),
        Raises(ValueError, "num_pairs must be >= 1")),
    Row("simulate_rule_ensemble", "num_levels 1",
        lambda t: simulate(num_levels=1),
        Raises(ValueError, "num_levels")),
    Row("simulate_rule_ensemble", "wrong rank: [1, K] parameters",
        lambda t: simulate(ONE[None], ONE[None]),
        Raises(ValueError, r"\[K\]")),
]

MARGINS = np.array([1.0, -1.0, 0.0, 2.0], np.float32)
METRIC_ROWS = [
    Row("pairwise_accuracy", "unknown tie policy",
        lambda t: ej.pairwise_accuracy(MARGINS, tie="draw"),
        Raises(ValueError, "tie must be one of")),
    Row("pairwise_accuracy", "tie='random' without a key",
        lambda t: ej.pairwise_accuracy(MARGINS, tie="random"), Raises(ValueError, "key")),
    Row("pairwise_accuracy", "zero pairs", lambda t: ej.pairwise_accuracy(np.zeros(0, np.float32)),
        Raises(ValueError, "empty")),
    Row("pairwise_accuracy", "mask excludes every pair",
        lambda t: ej.pairwise_accuracy(MARGINS, mask=np.zeros(4, bool)),
        Raises(ValueError, "excludes every pair")),
    Row("pairwise_accuracy", "inf margin",
        lambda t: ej.pairwise_accuracy(put(MARGINS, (0,), np.inf)),
        Raises(ValueError, "finite")),
    Row("pairwise_accuracy", "NaN margin",
        lambda t: ej.pairwise_accuracy(put(MARGINS, (2,), np.nan)),
        Raises(ValueError, r"margins contains nan at index \(2,\)")),
    Row("pairwise_accuracy", "wrong rank: [N, K]", lambda t: ej.pairwise_accuracy(S),
        Raises(ValueError, r"\[N\]")),
    Row("pairwise_accuracy", "mask of another shape",
        lambda t: ej.pairwise_accuracy(MARGINS, mask=np.ones(3, bool)),
        Raises(ValueError, "mask must be boolean")),
    Row("pairwise_accuracy", "every margin 0 (all ties)",
        lambda t: ej.pairwise_accuracy(np.zeros(4, np.float32)),
        Gives("0 under the default tie='loss'", equal(0.0))),
    Row("pair_credit", "wrong rank: a scalar", lambda t: pair_credit(np.float32(1)),
        Raises(ValueError, r"\[\.\.\., N\]")),
    Row("pair_credit", "NaN margin", lambda t: pair_credit(put(MARGINS, (0,), np.nan)),
        Raises(ValueError, "finite")),
    Row("pair_credit", "a key without tie='random'", lambda t: pair_credit(MARGINS, key=KEY),
        Raises(ValueError, "only then")),
    Row("pair_credit", "zero pairs", lambda t: pair_credit(np.zeros(0, np.float32)),
        Gives("an empty array", shaped((0,), jnp.float32))),
    Row("bootstrap_ci", "num_resamples 0", lambda t: ej.bootstrap_ci(KEY, MARGINS, num_resamples=0),
        Raises(ValueError, "num_resamples must be >= 1")),
    *[Row("bootstrap_ci", f"confidence {c}",
          lambda t, c=c: ej.bootstrap_ci(KEY, MARGINS, confidence=c),
          Raises(ValueError, r"confidence must be in \(0, 1\)")) for c in (0.0, 1.0, math.nan)],
    Row("bootstrap_ci", "zero items", lambda t: ej.bootstrap_ci(KEY, np.zeros(0, np.float32)),
        Raises(ValueError, "N >= 1")),
    Row("bootstrap_ci", "NaN value", lambda t: ej.bootstrap_ci(KEY, put(MARGINS, (1,), np.nan)),
        Raises(ValueError, "values contains nan")),
    Row("bootstrap_ci", "mask counts no item",
        lambda t: ej.bootstrap_ci(KEY, MARGINS, mask=np.zeros(4, bool)),
        Raises(ValueError, "counts no item")),
    Row("bootstrap_ci", "non-boolean mask",
        lambda t: ej.bootstrap_ci(KEY, MARGINS, mask=np.ones(4)),
        Raises(TypeError, "mask must be boolean")),
    Row("bootstrap_ci", "unknown statistic",
        lambda t: ej.bootstrap_ci(KEY, MARGINS, statistic="median"),
        Raises(ValueError, "statistic")),
    Row("bootstrap_ci", "one item",
        lambda t: ej.bootstrap_ci(KEY, np.ones(1, np.float32), num_resamples=8).low,
        Gives("the degenerate interval [x, x]", equal(1.0))),
    Row("bootstrap_ci", "unknown method",
        lambda t: ej.bootstrap_ci(KEY, MARGINS, method="exact"),
        Raises(ValueError, "method must be one of")),
    Row("bootstrap_ci", "negative cluster label",
        lambda t: ej.bootstrap_ci(KEY, MARGINS, clusters=np.array([0, -1, 1, 1])),
        Raises(ValueError, "non-negative")),
    Row("bootstrap_ci", "strata of the wrong length",
        lambda t: ej.bootstrap_ci(KEY, MARGINS, strata=np.zeros(3, np.int32)),
        Raises(ValueError, r"strata must have shape \[N\]")),
    Row("bootstrap_ci", "float strata",
        lambda t: ej.bootstrap_ci(KEY, MARGINS, strata=np.zeros(4)),
        Raises(TypeError, "integer labels")),
    Row("bootstrap_ci", "method='cells' with a custom statistic",
        lambda t: ej.bootstrap_ci(KEY, MARGINS, method="cells", statistic=jnp.mean),
        Raises(ValueError, "needs statistic='mean'")),
    Row("entropy_accuracy_correlation", "NaN entropy",
        lambda t: entropy_accuracy_correlation(np.array([1, np.nan, 2], np.float32),
                                                  np.arange(3.0)),
        Raises(ValueError, "entropies contains nan")),
    Row("entropy_accuracy_correlation", "two rules",
        lambda t: entropy_accuracy_correlation(H, H), Raises(ValueError, "at least 3 rules")),
    Row("entropy_accuracy_correlation", "constant entropies (every rule single-level)",
        lambda t: entropy_accuracy_correlation(np.zeros(4, np.float32), np.arange(4.0)),
        Raises(ValueError, "entropies is constant")),
    Row("entropy_accuracy_correlation", "K of entropies != K of accuracies",
        lambda t: entropy_accuracy_correlation(np.arange(4.0), np.arange(5.0)),
        Raises(ValueError, "accuracies has shape")),
    Row("entropy_accuracy_correlation", "confidence 1",
        lambda t: entropy_accuracy_correlation(np.arange(4.0), np.arange(4.0)[::-1],
                                                  confidence=1.0),
        Raises(ValueError, "confidence")),
    Row("rewardbench_safety", "a subset missing",
        lambda t: rewardbench_safety({s: 0.5 for s in SUBSETS[:4]}),
        Raises(ValueError, "lacks")),
    Row("rewardbench_safety", "NaN accuracy",
        lambda t: rewardbench_safety({**ACCURACIES, "donotanswer": math.nan}),
        Raises(ValueError, r"\['donotanswer'\] contains nan")),
    Row("rewardbench_safety", "accuracy above 1",
        lambda t: rewardbench_safety({**ACCURACIES, "donotanswer": 1.5}),
        Raises(ValueError, r"in \[0, 1\]")),
    Row("rewardbench_safety", "unknown counts version",
        lambda t: rewardbench_safety(ACCURACIES, counts="v2"),
        Raises(ValueError, "counts must be one of")),
    Row("rewardbench_safety", "a zero count",
        lambda t: rewardbench_safety(ACCURACIES, counts=dict.fromkeys(SUBSETS, 0)),
        Raises(ValueError, "positive int")),
    Row("rewardbench_safety", "accuracies as a list", lambda t: rewardbench_safety([0.5] * 5),
        Raises(TypeError, "map subset names")),
    Row("rule_summary", "float levels",
        lambda t: rule_summary(S, S, L),
        Raises(TypeError, "integer")),
    Row("rule_summary", "level L", lambda t: rule_summary(put(R, (0, 0), 3), R, L),
        Raises(ValueError, "chosen has level 3")),
    Row("rule_summary", "chosen and rejected with different K",
        lambda t: rule_summary(R, R[:, :1], L), Raises(ValueError, "rejected has shape")),
    Row("rule_summary", "zero rows",
        lambda t: rule_summary(np.zeros((0, 2), np.int32), np.zeros((0, 2), np.int32), L),
        Raises(ValueError, "at least one pair")),
    Row("rule_summary", "a rule whose entries are all masked",
        lambda t: rule_summary(R, R, L, chosen_mask=np.array([[1, 0]] * 4, bool),
                                  rule_names=["x", "y"]),
        Raises(ValueError, r"\['y'\] rated no pair")),
    Row("rule_summary", "entropies of another K",
        lambda t: rule_summary(R, R, L, entropies=np.ones(3, np.float32)),
        Raises(ValueError, "3 rules")),
    Row("rule_summary", "bt_weights of another K",
        lambda t: rule_summary(R, R, L, bt_weights=np.ones(3, np.float32)),
        Raises(ValueError, "bt_weights has 3")),
    Row("rule_summary", "NaN BT weight",
        lambda t: rule_summary(R, R, L, bt_weights=put(W, (0,), np.nan)),
        Raises(ValueError, "bt_weights contains nan")),
    Row("rule_summary", "temperature 0", lambda t: rule_summary(R, R, L, temperature=0.0),
        Raises(ValueError, "temperature")),
    Row("rule_summary", "duplicate-free but too few rule names",
        lambda t: rule_summary(R, R, L, rule_names=["x"]),
        Raises(ValueError, "1 names for 2 rules")),
    Row("rule_summary", "a rule with a single observed level",
        lambda t: rule_summary(np.array([[1, 0], [1, 2]], np.int32),
                                  np.array([[1, 1], [1, 0]], np.int32), L)[0],
        Gives("entropy +0.0, accuracy 1/2 (all ties, tie='half')",
              lambda row: (positive_zero(row.entropy), close(0.5)(row.accuracy)))),
    Row("compare_methods", "num_levels 1", lambda t: ej.compare_methods(KEY, pairs(), 1),
        Raises(ValueError, "num_levels")),
    Row("compare_methods", "temperature 0",
        lambda t: ej.compare_methods(KEY, pairs(), L, temperature=0.0),
        Raises(ValueError, "temperature")),
    Row("compare_methods", "a NaN temperature in the sweep",
        lambda t: ej.compare_methods(KEY, pairs(), L, temperatures=(1.0, math.nan)),
        Raises(ValueError, "temperature")),
    Row("compare_methods", "top_k > K", lambda t: ej.compare_methods(KEY, pairs(), L, top_k=3),
        Raises(ValueError, "top_k must be <= K = 2")),
    Row("compare_methods", "level L",
        lambda t: ej.compare_methods(KEY, pairs(put(R, (1, 1), 3)), L),
        Raises(ValueError, "level 3")),
    Row("compare_methods", "pairs without .chosen", lambda t: ej.compare_methods(KEY, (R, R), L),
        Raises(TypeError, "must have .chosen and .rejected")),
    Row("compare_methods", "train with another K",
        lambda t: ej.compare_methods(KEY, pairs(), L, train=pairs(R[:, :1], R[:, :1])),
        Raises(ValueError, "train has 1 rules")),
    Row("compare_methods", "calibration with another K",
        lambda t: ej.compare_methods(KEY, pairs(), L, calibration=R[:, :1]),
        Raises(ValueError, "calibration has 1 rules")),
    Row("compare_methods", "overlapping split",
        lambda t: ej.compare_methods(KEY, pairs(), L, split=([0, 1], [1, 2])),
        Raises(ValueError, "overlap")),
    Row("compare_methods", "both train and split",
        lambda t: ej.compare_methods(KEY, pairs(), L, train=pairs(), split=([0], [1])),
        Raises(ValueError, "either train or split")),
    Row("compare_methods", "a weighting named like a reported row",
        lambda t: ej.compare_methods(KEY, pairs(), L, weightings={"uniform": lambda d: W}),
        Raises(ValueError, "weighting name 'uniform' clashes")),
    Row("compare_methods", "a weighting that returns [K + 1] weights",
        lambda t: ej.compare_methods(KEY, pairs(), L,
                                     weightings={"mine": lambda d: np.ones(3, np.float32)}),
        Raises(ValueError, "weighting 'mine' returned shape \\(3,\\)")),
    Row("compare_methods", "a weighting that returns a negative weight",
        lambda t: ej.compare_methods(KEY, pairs(), L, weightings={"mine": lambda d: -W}),
        Raises(ValueError, "weighting 'mine' returned -0.25 for rule 0")),
    Row("compare_methods", "weightings not a mapping",
        lambda t: ej.compare_methods(KEY, pairs(), L, weightings=[lambda d: W]),
        Raises(TypeError, "weightings must be a mapping")),
    Row("holdout_split", "one pair",
        lambda t: holdout_split(KEY, 1),
        Raises(ValueError, "no train pair")),
    Row("holdout_split", "zero pairs",
        lambda t: holdout_split(KEY, 0),
        Raises(ValueError, "num_pairs")),
    *[Row("holdout_split", f"test_fraction {f}",
          lambda t, f=f: holdout_split(KEY, 4, test_fraction=f),
          Raises(ValueError, r"test_fraction must be in \(0, 1\)")) for f in (0.0, 1.0, math.nan)],
    Row("holdout_split", "strata of another length",
        lambda t: holdout_split(KEY, 4, strata=["a"] * 3),
        Raises(ValueError, "strata must have shape")),
]

STREAMING_ROWS = [
    Row("streaming_rating_histogram", "no chunks", lambda t: streaming_rating_histogram([], L),
        Raises(ValueError, "chunks is empty")),
    Row("streaming_rating_histogram", "only a zero-row chunk",
        lambda t: streaming_rating_histogram([np.zeros((0, 2), np.int32)], L),
        Raises(ValueError, "chunks is empty")),
    Row("streaming_rating_histogram", "a zero-row chunk, then rows",
        lambda t: streaming_rating_histogram([np.zeros((0, 2), np.int32), R], L),
        Gives("the counts of the rows", equal(ej.rating_histogram(R, L)))),
    Row("streaming_rating_histogram", "chunks with different K",
        lambda t: streaming_rating_histogram([R, R[:, :1]], L),
        Raises(ValueError, "chunk 1 has 1 columns, the first chunk has 2")),
    Row("streaming_rating_histogram", "float levels",
        lambda t: streaming_rating_histogram([S], L),
        Raises(TypeError, "integer levels")),
    Row("streaming_rating_histogram", "level L in the second chunk",
        lambda t: streaming_rating_histogram([R, put(R, (2, 1), 3)], L),
        Raises(ValueError, "level 3 at row 6, rule 1")),
    Row("streaming_rating_histogram", "negative level",
        lambda t: streaming_rating_histogram([R - 1], L),
        Raises(ValueError, "level -1 at row 0")),
    Row("streaming_rating_histogram", "int64 level 2**32 + 1",
        lambda t: streaming_rating_histogram([put(R, (0, 0), 2**32 + 1, np.int64)], L),
        Raises(ValueError, "level 4294967297 at row 0")),
    Row("streaming_rating_histogram", "wrong rank: a 1-D chunk",
        lambda t: streaming_rating_histogram([R[:, 0]], L),
        Raises(ValueError, r"shape \[n, K\]")),
    Row("streaming_rating_histogram", "chunk_rows 0",
        lambda t: streaming_rating_histogram([R], L, chunk_rows=0),
        Raises(ValueError, "chunk_rows")),
    Row("streaming_rating_histogram", "reader options with in-memory chunks",
        lambda t: streaming_rating_histogram([R], L, mask_value=-1),
        Raises(ValueError, "file path only")),
    Row("streaming_rating_histogram", "all entries masked",
        lambda t: streaming_rating_histogram([(R, np.zeros(R.shape, bool))], L),
        Gives("zero counts", equal(np.zeros((2, L))))),
    Row("streaming_rating_entropy", "a rule with every entry masked",
        lambda t: ej.streaming_rating_entropy([(R, np.array([[1, 0]] * 4, bool))], L),
        Raises(ValueError, r"index \[\(1,\)\] have no observed")),
    Row("streaming_rating_entropy", "estimator 'mle'",
        lambda t: ej.streaming_rating_entropy([R], L, estimator="mle"),
        Raises(ValueError, "estimator")),
    Row("streaming_rating_entropy", "a missing file",
        lambda t: ej.streaming_rating_entropy(t / "none.csv", L),
        Raises(DataError, "none.csv: no such file")),
    Row("streaming_rating_entropy", "one rule",
        lambda t: ej.streaming_rating_entropy([R[:2, :1], R[2:, :1]], L),
        Gives("as rating_entropy", equal(ej.rating_entropy(R[:, :1], L)))),
    Row("iter_composite_scores", "K of chunks != K of weights",
        lambda t: list(iter_composite_scores([S], np.ones(3, np.float32))),
        Raises(ValueError, "chunk 0 has 2 rule columns but weights has 3")),
    Row("iter_composite_scores", "NaN score in the second chunk",
        lambda t: list(iter_composite_scores([S, put(S, (1, 0), np.nan)], W)),
        Raises(ValueError, "scores has nan at row 5, rule 0")),
    Row("iter_composite_scores", "unknown missing policy",
        lambda t: list(iter_composite_scores([S], W, missing="zero")),
        Raises(ValueError, "missing")),
    Row("iter_composite_scores", "a missing score with missing='error'",
        lambda t: list(iter_composite_scores([(S, put(M, (2, 0), False))], W)),
        Raises(ValueError, "row 2 has no score for rule 0")),
    Row("iter_composite_scores", "int64 score 2**40 (regression: wrapped to 0)",
        lambda t: next(iter_composite_scores([put(R, (0, 0), 2**40, np.int64)], W))[0],
        Gives("w . scores, rounded to float32", close(2**40 * 0.25 + 0.75))),
    Row("iter_composite_scores", "float64 score beyond float32 (regression: inf, a warning)",
        lambda t: list(iter_composite_scores([S, put(S, (0, 1), 1e39, np.float64)], W)),
        Raises(ValueError, r"1e\+39 at row 4, rule 1, beyond the float32 range")),
    Row("iter_composite_scores", "no chunks", lambda t: list(iter_composite_scores([], W)),
        Gives("nothing", equal([]))),
    Row("compose_to_file", "no chunks", lambda t: compose_to_file([], W, t / "o.csv"),
        Raises(ValueError, "o.csv: the source has no chunks; nothing was written")),
    Row("compose_to_file", "NaN score in a late chunk (regression: partial file left)",
        lambda t: compose_to_file([S, S, put(S, (3, 1), np.nan)], W, t / "o.csv"),
        Raises(ValueError, "scores has nan at row 11")),
    Row("compose_to_file", "an unsupported output suffix",
        lambda t: compose_to_file([S], W, t / "o.txt"),
        Raises(DataError, "unsupported format '.txt'")),
    Row("compose_to_file", "an output directory that does not exist",
        lambda t: compose_to_file([S], W, t / "none" / "o.csv"),
        Raises(FileNotFoundError, "no such directory")),
]


DATA_ROWS = [
    # read_ratings: one row per format for empty and truncated files
    *[Row("read_ratings", f"empty {fmt} file",
          lambda t, fmt=fmt: ej.read_ratings(file(t, f"r.{fmt}", b"")),
          Raises(DataError, match)) for fmt, match in (
              ("csv", "r.csv: empty file"), ("jsonl", "r.jsonl: empty file"),
              ("parquet", "r.parquet: empty file"), ("npz", "r.npz: not a readable NPZ archive"))],
    Row("read_ratings", "truncated parquet",
        lambda t: ej.read_ratings(parquet(t, "r.parquet", {"a": [0, 1], "b": [1, 2]}, truncate=40)),
        Raises(DataError, "r.parquet: not a readable parquet file")),
    Row("read_ratings", "truncated NPZ",
        lambda t: ej.read_ratings(npz(t, "r.npz", ratings=np.zeros((400, 2), np.int32),
                                      truncate=900)),
        Raises(DataError, "r.npz: .*(truncated|not a readable)")),
    Row("read_ratings", "truncated JSONL (last line cut)",
        lambda t: ej.read_ratings(file(t, "r.jsonl", '{"a": 0, "b": 1}\n{"a": 1, "b"')),
        Raises(DataError, "r.jsonl: line 2: not valid JSON")),
    Row("read_ratings", "truncated CSV (an unterminated quote)",
        lambda t: ej.read_ratings(file(t, "r.csv", 'a,b\n0,1\n1,"2')),
        Raises(DataError, "r.csv: row 3")),
    Row("read_ratings", "header only (zero rows)",
        lambda t: ej.read_ratings(file(t, "r.csv", "a,b\n")),
        Raises(DataError, "header only, no ratings")),
    Row("read_ratings", "a missing file", lambda t: ej.read_ratings(t / "none.csv"),
        Raises(DataError, "none.csv: no such file")),
    Row("read_ratings", "an unknown suffix",
        lambda t: ej.read_ratings(file(t, "r.txt", RATINGS_CSV)),
        Raises(DataError, "unsupported format '.txt'")),
    Row("read_ratings", "non-UTF-8 byte in row 3",
        lambda t: ej.read_ratings(file(t, "r.csv", b"a,b\n0,1\n\xff,1\n")),
        Raises(DataError, r"r.csv: row 3: not UTF-8 text \(invalid start byte\)")),
    Row("read_ratings", "non-UTF-8 byte in the header",
        lambda t: ej.read_ratings(file(t, "r.csv", b"a\xe9,b\n0,1\n")),
        Raises(DataError, "row 1: not UTF-8 text")),
    Row("read_ratings", "non-UTF-8 byte in JSONL line 2",
        lambda t: ej.read_ratings(file(t, "r.jsonl", b'{"a": 0}\n{"a\xff": 1}\n')),
        Raises(DataError, "line 2: not UTF-8 text")),
    Row("read_ratings", "rule_columns names a missing column",
        lambda t: ej.read_ratings(ratings_file(t), rule_columns=["a", "zz"]),
        Raises(DataError, "no column 'zz'")),
    Row("read_ratings", "id_column names a missing column",
        lambda t: ej.read_ratings(ratings_file(t), id_column="id"),
        Raises(DataError, "no column 'id'")),
    Row("read_ratings", "long layout without a 'rating' column",
        lambda t: ej.read_ratings(file(t, "r.csv", "response_id,rule,score\nx,a,1\n"),
                                  layout="long"),
        Raises(DataError, "no column 'rating'")),
    Row("read_ratings", "duplicate rule names in a CSV header",
        lambda t: ej.read_ratings(file(t, "r.csv", "a,b,a\n0,1,2\n")),
        Raises(DataError, r"duplicate column name 'a' \(columns 1 and 3\)")),
    Row("read_ratings", "duplicate keys in a JSONL record",
        lambda t: ej.read_ratings(file(t, "r.jsonl", '{"a": 0, "a": 1}\n')),
        Raises(DataError, "duplicate key 'a'")),
    Row("read_ratings", "duplicate parquet column names",
        lambda t: ej.read_ratings(parquet(t, "r.parquet", {"a": [0], "b": [1]}, names=["a", "a"])),
        Raises(DataError, "duplicate column name 'a'")),
    Row("read_ratings", "duplicate NPZ rule_names",
        lambda t: ej.read_ratings(npz(t, "r.npz", ratings=R, rule_names=np.array(["a", "a"]))),
        Raises(DataError, "duplicate rule name 'a'")),
    Row("read_ratings", "duplicate names in rule_columns",
        lambda t: ej.read_ratings(ratings_file(t), rule_columns=["a", "a"]),
        Raises(DataError, "duplicate rule name")),
    Row("read_ratings", "long layout: a repeated (response, rule) rating",
        lambda t: ej.read_ratings(file(t, "r.csv", LONG_REPEATED), layout="long"),
        Raises(DataError, "row 3: repeats the rating of response 'x' by rule 'a' \\(row 2\\)")),
    Row("read_ratings", "float level 1.5",
        lambda t: ej.read_ratings(file(t, "r.csv", "a,b\n0,1.5\n")),
        Raises(DataError, "row 2, column 'b': 1.5 is not an integer level")),
    Row("read_ratings", "NaN cell", lambda t: ej.read_ratings(file(t, "r.csv", "a,b\n0,nan\n")),
        Raises(DataError, "column 'b': nan is not an integer level")),
    Row("read_ratings", "NaN in JSONL",
        lambda t: ej.read_ratings(file(t, "r.jsonl", '{"a": NaN}\n')),
        Raises(DataError, "line 1, column 'a': nan is not an integer level")),
    Row("read_ratings", "NaN in parquet",
        lambda t: ej.read_ratings(parquet(t, "r.parquet", {"a": [0.0, np.nan]})),
        Raises(DataError, "row 1, column 'a': nan is not an integer level")),
    Row("read_ratings", "inf cell", lambda t: ej.read_ratings(file(t, "r.csv", "a,b\n0,-inf\n")),
        Raises(DataError, "-inf is not an integer level")),
    Row("read_ratings", "a text cell in a rule column",
        lambda t: ej.read_ratings(file(t, "r.csv", "a,b\n0,high\n"), rule_columns=["a", "b"]),
        Raises(DataError, "row 2, column 'b': 'high' is not a number; .* if 'b' is text, add "
               "--text-columns b")),
    Row("read_ratings", "a text column: kept as text, never a rule",
        lambda t: ej.read_ratings(file(t, "r.csv", "a,b\n0,high\n")),
        Gives("rules ('a',), text column 'b'",
              holds(lambda got: got.rule_names == ("a",) and list(got.text["b"]) == ["high"]))),
    Row("read_ratings", "a stray marker in a column of numbers",
        lambda t: ej.read_ratings(file(t, "r.csv", "a,b\n0,1\n1,n/a\n2,2\n")),
        Raises(DataError, "row 3, column 'b': 'n/a' is not a number; leave missing cells empty")),
    Row("read_ratings", "level L with num_levels",
        lambda t: ej.read_ratings(ratings_file(t), num_levels=2),
        Raises(DataError, "row 3, column 'b': level 2 is outside 0..1")),
    Row("read_ratings", "negative level with num_levels",
        lambda t: ej.read_ratings(file(t, "r.csv", "a,b\n0,-1\n"), num_levels=3),
        Raises(DataError, "level -1")),
    Row("read_ratings", "level beyond int32",
        lambda t: ej.read_ratings(file(t, "r.csv", "a\n3000000000\n")),
        Raises(DataError, "outside the int32 range")),
    Row("read_ratings", "a score outside bin_range",
        lambda t: ej.read_ratings(file(t, "s.csv", SCORES_CSV + "1.5,0\n"), num_levels=4,
                                  bin_range=(0, 1)),
        Raises(DataError, "row 6, column 'a': 1.5 is outside the binning range")),
    Row("read_ratings", "a rule with every cell empty",
        lambda t: ej.read_ratings(file(t, "r.csv", "a,b\n0,\n1,\n")).mask,
        Gives("that column's mask all False (missing, never filled)", equal([[1, 0], [1, 0]]))),
    Row("read_ratings", "one rule",
        lambda t: ej.read_ratings(file(t, "r.csv", "a\n0\n2\n")).ratings,
        Gives("ratings [N, 1]", equal([[0], [2]]))),
    Row("read_scores", "NaN cell", lambda t: ej.read_scores(file(t, "s.csv", "a,b\n0.5,nan\n")),
        Raises(DataError, "row 2, column 'b': nan is not a finite number")),
    Row("read_scores", "inf in JSONL",
        lambda t: ej.read_scores(file(t, "s.jsonl", '{"a": Infinity}\n')),
        Raises(DataError, "line 1, column 'a': inf is not a finite number")),
    Row("read_scores", "empty file",
        lambda t: ej.read_scores(file(t, "s.jsonl", "")),
        Raises(DataError, "empty file")),
    Row("read_scores", "non-UTF-8 byte",
        lambda t: ej.read_scores(file(t, "s.csv", b"a\n0.5\n\x80\n")),
        Raises(DataError, "not UTF-8 text")),
    Row("read_scores", "rule_columns names a missing column",
        lambda t: ej.read_scores(file(t, "s.csv", SCORES_CSV), rule_columns=["c"]),
        Raises(DataError, "no column 'c'")),
    Row("read_scores", "rule_columns as one string",
        lambda t: ej.read_scores(file(t, "s.csv", SCORES_CSV), rule_columns="a"),
        Raises(TypeError, "sequence of names")),
    Row("read_scores", "truncated parquet",
        lambda t: ej.read_scores(parquet(t, "s.parquet", {"a": [0.5, 0.25]}, truncate=30)),
        Raises(DataError, "not a readable parquet file")),
    Row("read_rating_pairs", "no chosen_/rejected_ columns (wrong prefixes)",
        lambda t: ej.read_rating_pairs(file(t, "p.csv", LABEL_CSV)), Raises(ValueError, "prefix")),
    Row("read_rating_pairs", "a chosen column without its rejected partner",
        lambda t: ej.read_rating_pairs(file(t, "p.csv", "chosen_a,chosen_b,rejected_a\n0,1,2\n")),
        Raises(DataError, "chosen_b")),
    Row("read_rating_pairs", "level L with num_levels",
        lambda t: ej.read_rating_pairs(file(t, "p.csv", PAIRS_CSV), num_levels=2),
        Raises(DataError, "is outside 0..1")),
    Row("read_rating_pairs", "NaN rating",
        lambda t: ej.read_rating_pairs(file(t, "p.csv", "chosen_a,rejected_a\nnan,1\n")),
        Raises(DataError, "nan is not an integer level")),
    Row("read_rating_pairs", "empty file",
        lambda t: ej.read_rating_pairs(file(t, "p.parquet", b"")),
        Raises(DataError, "empty file")),
    Row("read_rating_pairs", "header only",
        lambda t: ej.read_rating_pairs(file(t, "p.csv", "chosen_a,rejected_a\n")),
        Raises(DataError, "header only")),
    Row("read_rating_pairs", "non-UTF-8 byte",
        lambda t: ej.read_rating_pairs(file(t, "p.csv", b"chosen_a,rejected_a\n1,\xfe\n")),
        Raises(DataError, "not UTF-8 text")),
    Row("read_rating_pairs", "a pair index naming an unknown response",
        lambda t: ej.read_rating_pairs(file(t, "r.csv", "id,a\nx,1\ny,2\n"), id_column="id",
                                       pair_index=file(t, "i.csv", "chosen_id,rejected_id\nx,z\n")),
        Raises(DataError, "'z'")),
    Row("read_rating_pairs", "a pair index over duplicate response ids",
        lambda t: ej.read_rating_pairs(file(t, "r.csv", "id,a\nx,1\nx,2\n"), id_column="id",
                                       pair_index=file(t, "i.csv", "chosen_id,rejected_id\nx,x\n")),
        Raises(DataError, "'x' appears in more than one row")),
    Row("iter_rating_chunks", "chunk_rows 0",
        lambda t: list(iter_rating_chunks(ratings_file(t), chunk_rows=0)),
        Raises(ValueError, "chunk_rows must be >= 1")),
    Row("iter_rating_chunks", "num_levels 1",
        lambda t: list(iter_rating_chunks(ratings_file(t), num_levels=1)),
        Raises(ValueError, "num_levels must be >= 2")),
    Row("iter_rating_chunks", "bin_range without num_levels",
        lambda t: list(iter_rating_chunks(ratings_file(t), bin_range=(0, 1))),
        Raises(ValueError, "needs num_levels")),
    Row("iter_rating_chunks", "a bad level after the first chunk",
        lambda t: list(iter_rating_chunks(file(t, "r.csv", RATINGS_CSV + "0,7\n"),
                                             chunk_rows=2, num_levels=3)),
        Raises(DataError, "row 6, column 'b': level 7")),
    Row("iter_rating_chunks", "empty file",
        lambda t: list(iter_rating_chunks(file(t, "r.npz", b""))),
        Raises(DataError, "not a readable NPZ")),
    Row("iter_rating_chunks", "NPZ ratings of wrong rank",
        lambda t: list(iter_rating_chunks(npz(t, "r.npz", ratings=np.zeros(3, np.int32)))),
        Raises(DataError, r"'ratings' must be \[N, K\]")),
    Row("write_table", "a NaN value",
        lambda t: write_table(t / "o.csv", {"x": np.array([1.0, np.nan])}),
        Raises(ValueError, "holds NaN or inf")),
    Row("write_table", "columns of different lengths",
        lambda t: write_table(t / "o.csv", {"x": np.ones(3), "y": np.ones(2)}),
        Raises(ValueError, "2 rows, expected 3")),
    Row("write_table", "no columns",
        lambda t: write_table(t / "o.csv", {}),
        Raises(ValueError, "columns is empty")),
    Row("write_table", "a 2-D column",
        lambda t: write_table(t / "o.csv", {"x": np.ones((2, 2))}),
        Raises(ValueError, "must be 1-D")),
    Row("write_table", "an unknown suffix",
        lambda t: write_table(t / "o.txt", {"x": np.ones(2)}),
        Raises(DataError, "unsupported format")),
    Row("trl_reward_config", "duplicate rule names",
        lambda t: trl_reward_config(["a", "a"], [0.5, 0.5]),
        Raises(ValueError, "duplicates")),
    Row("trl_reward_config", "a NaN weight",
        lambda t: trl_reward_config(["a", "b"], [0.5, math.nan]),
        Raises(ValueError, "finite")),
    Row("trl_reward_config", "K names != K weights",
        lambda t: trl_reward_config(["a", "b"], [1.0]),
        Raises(ValueError, r"expected \(2,\)")),
]

# ------------------------------------------------------------------------------------------
# The table: commands (each call returns the arguments of `encore-jax`)
# ------------------------------------------------------------------------------------------


def bad_file_rows(command: str, extra: Callable[[Path], list[Any]], *, scores: bool = False,
                  pairs_prefixes: tuple[str, str] | None = None) -> list[Row]:
    """The file-level bad inputs of a command that reads one table: empty, truncated,
    non-UTF-8, a NaN cell, header only, a missing file."""
    where = f"encore-jax {command}"
    if pairs_prefixes is None:
        header = "a,b"
    else:
        header = ",".join(f"{p}{r}" for p in pairs_prefixes for r in ("x", "y"))
    nan_reason = "nan is not a finite number" if scores else "nan is not an integer level"
    ones = ",".join(["1"] * (header.count(",") + 1))
    bad_row = b"\xff" + ones[1:].encode() + b"\n"  # an invalid start byte in row 3
    return [
        Row(where, "empty file", lambda t: [command, file(t, "r.csv", b""), *extra(t)],
            Exits("r.csv: empty file")),
        Row(where, "truncated parquet",
            lambda t: [command, parquet(t, "r.parquet", {n: [0, 1] for n in header.split(",")},
                                        truncate=40), *extra(t)],
            Exits("r.parquet: not a readable parquet file")),
        Row(where, "non-UTF-8 byte in row 3",
            lambda t: [command, file(t, "r.csv", f"{header}\n{ones}\n".encode() + bad_row),
                       *extra(t)],
            Exits(r"r.csv: row 3: not UTF-8 text \(invalid start byte\)")),
        Row(where, "a NaN cell",
            lambda t: [command, file(t, "r.csv", f"{header}\n" + ",".join(
                ["nan"] + ["1"] * header.count(",")) + "\n"), *extra(t)],
            Exits(f"row 2, column '{header.split(',')[0]}': {nan_reason}")),
        Row(where, "header only (zero rows)",
            lambda t: [command, file(t, "r.csv", header + "\n"), *extra(t)], Exits("header only")),
        Row(where, "a missing file", lambda t: [command, t / "none.csv", *extra(t)],
            Exits("none.csv: no such file")),
    ]


def temperature_rows(command: str, extra: Callable[[Path], list[Any]]) -> list[Row]:
    return [Row(f"encore-jax {command}", f"--temperature {tau}",
                lambda t, tau=tau: [command, *extra(t), "--temperature", tau],
                Exits(f"argument --temperature: must be finite and > 0, got {tau}"))
            for tau in ("0", "-1", "inf", "nan")]


HALVES = '{"rules": ["a", "b"], "weights": [0.5, 0.5]}'


def compose_argv(t: Path, weights_text: str | bytes) -> list[Any]:
    return ["compose", ratings_file(t), "--weights", weights_json(t, weights_text),
            "--out", t / "o.csv"]


def compare_argv(t: Path, *options: Any) -> list[Any]:
    return ["compare", file(t, "p.csv", PAIRS_CSV), "--levels", 3, *options]


def label_argv(t: Path, *options: Any, text: str = LABEL_CSV) -> list[Any]:
    return ["label", file(t, "p.csv", text), "--out", t / "o.csv", "--chosen-prefix", "a_",
            "--rejected-prefix", "b_", *options]


def levels3(t: Path) -> list[Any]:
    return ["--levels", 3]


def report(key: str, expected: Any) -> Callable[[dict[str, Any]], None]:
    def check(document: dict[str, Any]) -> None:
        value = document
        for part in key.split("."):
            value = value[int(part)] if isinstance(value, list) else value[part]
        np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-7)
    return check


W_OUT = "w.json"

COMMAND_ROWS = [
    # entropy
    *bad_file_rows("entropy", levels3),
    Row("encore-jax entropy", "level L",
        lambda t: ["entropy", ratings_file(t), "--levels", 2],
        Exits(r"row 3, column 'b': level 2 is outside 0..1 \(num_levels=2\); levels are never "
              "clipped")),
    Row("encore-jax entropy", "negative level",
        lambda t: ["entropy", file(t, "r.csv", "a,b\n0,-1\n"), "--levels", 3],
        Exits("level -1 is outside")),
    Row("encore-jax entropy", "float level 1.5",
        lambda t: ["entropy", file(t, "r.csv", "a,b\n0,1.5\n"), "--levels", 3],
        Exits("1.5 is not an integer level")),
    Row("encore-jax entropy", "inf cell",
        lambda t: ["entropy", file(t, "r.csv", "a,b\n0,inf\n"), "--levels", 3],
        Exits("inf is not an integer level")),
    Row("encore-jax entropy", "--rule-columns names a missing column",
        lambda t: ["entropy", ratings_file(t), "--levels", 3, "--rule-columns", "a,zz"],
        Exits("no column 'zz'")),
    Row("encore-jax entropy", "duplicate rule names",
        lambda t: ["entropy", file(t, "r.csv", "a,b,a\n0,1,2\n"), "--levels", 3],
        Exits("duplicate column name 'a' \\(columns 1 and 3\\)")),
    Row("encore-jax entropy", "a rule with every entry missing",
        lambda t: ["entropy", file(t, "r.csv", "a,b\n0,\n1,\n"), "--levels", 3],
        Exits("rule column 'b' has no observed rating")),
    Row("encore-jax entropy", "--levels 1", lambda t: ["entropy", ratings_file(t), "--levels", 1],
        Exits("argument --levels: must be >= 2")),
    Row("encore-jax entropy", "--levels 2.5",
        lambda t: ["entropy", ratings_file(t), "--levels", "2.5"],
        Exits("argument --levels: must be an integer")),
    Row("encore-jax entropy", "a score outside --bin-range",
        lambda t: ["entropy", file(t, "s.csv", SCORES_CSV + "0.5,-0.1\n"), "--levels", 4,
                   "--bin-range", 0, 1],
        Exits("-0.1 is outside the binning range")),
    Row("encore-jax entropy", "--chunk-rows 0",
        lambda t: ["entropy", ratings_file(t), "--levels", 3, "--chunk-rows", 0],
        Exits("argument --chunk-rows: must be >= 1")),
    Row("encore-jax entropy", "--base 1",
        lambda t: ["entropy", ratings_file(t), "--levels", 3, "--base", 1],
        Exits("base must be finite and > 1")),
    Row("encore-jax entropy", "a rule with a single observed level",
        lambda t: ["entropy", file(t, "r.csv", "a,b\n2,0\n2,1\n"), "--levels", 3, "--json"],
        Prints("entropy 0.0 for that rule", report("rules.0.entropy", 0.0))),
    # weights
    *bad_file_rows("weights", levels3),
    *temperature_rows("weights", lambda t: [ratings_file(t), "--levels", 3]),
    Row("encore-jax weights", "level L", lambda t: ["weights", ratings_file(t), "--levels", 2],
        Exits("level 2 is outside 0..1")),
    Row("encore-jax weights", "duplicate names in --rule-columns",
        lambda t: ["weights", ratings_file(t), "--levels", 3, "--rule-columns", "a,a"],
        Exits("duplicate rule name 'a'")),
    Row("encore-jax weights", "duplicate keys in JSONL",
        lambda t: ["weights", file(t, "r.jsonl", '{"a": 1, "a": 2}\n'), "--levels", 3],
        Exits("duplicate key 'a'")),
    Row("encore-jax weights", "long layout: a repeated rating",
        lambda t: ["weights", file(t, "r.csv", LONG_REPEATED), "--levels", 3, "--layout", "long"],
        Exits("repeats the rating")),
    Row("encore-jax weights", "--out exists (no --force)",
        lambda t: ["weights", ratings_file(t), "--levels", 3, "--out", file(t, W_OUT, "keep")],
        Exits("w.json exists; pass --force")),
    Row("encore-jax weights", "--out and --trl the same file",
        lambda t: ["weights", ratings_file(t), "--levels", 3, "--out", t / "o.json",
                   "--trl", t / "o.json"],
        Exits("name the same file")),
    Row("encore-jax weights", "one rule",
        lambda t: ["weights", file(t, "r.csv", "a\n0\n1\n"), "--levels", 3, "--json"],
        Prints("weight 1.0", report("rules.0.weight", 1.0))),
    # compose
    *bad_file_rows("compose", lambda t: ["--weights", weights_json(t, HALVES),
                                         "--out", t / "o.csv"], scores=True),
    *temperature_rows("compose", lambda t: [ratings_file(t), "--levels", 3, "--out", t / "o.csv"]),
    Row("encore-jax compose", "weights JSON names a rule FILE lacks (mismatched K)",
        lambda t: compose_argv(t, '{"rules": ["a", "b", "c"], "weights": [0.2, 0.3, 0.5]}'),
        Exits("no column 'c'")),
    Row("encore-jax compose", "weights JSON with a NaN weight",
        lambda t: compose_argv(t, '{"rules": ["a", "b"], "weights": [NaN, 1]}'),
        Exits("w.json: 'weights' must be finite")),
    Row("encore-jax compose", "weights JSON with duplicate rules",
        lambda t: compose_argv(t, '{"rules": ["a", "a"], "weights": [1, 1]}'),
        Exits("duplicate rule name 'a'")),
    Row("encore-jax compose", "weights JSON with fewer weights than rules",
        lambda t: compose_argv(t, '{"rules": ["a", "b"], "weights": [1]}'),
        Exits("2 rules but 1 weights")),
    Row("encore-jax compose", "non-UTF-8 weights JSON",
        lambda t: compose_argv(t, b'{"rules": ["a\xff"]}'),
        Exits("w.json: not UTF-8 text")),
    Row("encore-jax compose", "truncated weights JSON",
        lambda t: compose_argv(t, '{"rules": ["a", "b"], "weig'),
        Exits("w.json: not valid JSON")),
    Row("encore-jax compose", "empty weights JSON",
        lambda t: compose_argv(t, ""),
        Exits("w.json: not valid JSON")),
    Row("encore-jax compose", "a bad value after the first chunk (nothing written)",
        lambda t: ["compose", file(t, "r.csv", SCORES_CSV + SCORE_ROWS * 2 + "x,1\n"),
                   "--levels", 3, "--bin-range", 0, 1, "--out", t / "o.parquet",
                   "--chunk-rows", 2],
        Exits("row 14, column 'a': 'x' is not a number")),
    Row("encore-jax compose", "--out is FILE itself",
        lambda t: ["compose", ratings_file(t), "--levels", 3, "--out", t / "r.csv"],
        Exits("--out .* is the input FILE .*an output never replaces an input")),
    Row("encore-jax compose", "neither --weights nor --levels",
        lambda t: ["compose", ratings_file(t), "--out", t / "o.csv"],
        Exits("needs --weights FILE, or --levels")),
    Row("encore-jax compose", "--out in a missing directory",
        lambda t: ["compose", ratings_file(t), "--levels", 3, "--out", t / "none" / "o.csv"],
        Exits("no such directory")),
    Row("encore-jax compose", "an unknown --out suffix",
        lambda t: ["compose", ratings_file(t), "--levels", 3, "--out", t / "o.txt"],
        Exits("unsupported format '.txt'")),
    Row("encore-jax compose", "--out exists (no --force)",
        lambda t: ["compose", ratings_file(t), "--levels", 3, "--out", file(t, "o.csv", "keep")],
        Exits("o.csv exists; pass --force")),
    Row("encore-jax compose", "--chunk-rows 0",
        lambda t: ["compose", ratings_file(t), "--levels", 3, "--out", t / "o.csv",
                   "--chunk-rows", 0],
        Exits("must be >= 1")),
    Row("encore-jax compose", "a missing rating",
        lambda t: ["compose", file(t, "r.csv", "a,b\n0,1\n1,\n"), "--levels", 3,
                   "--out", t / "out.csv", "--json"],
        Prints("a missing composite for that row (counted, never filled)", report("missing", 1))),
    Row("encore-jax compose", "--layout pairs, a missing score with --missing error",
        lambda t: ["compose", file(t, "p.csv", "chosen_a,rejected_a\n1,0\n,1\n"),
                   "--layout", "pairs", "--weights", weights_json(t, '{"rules": ["a"], '
                   '"weights": [1]}'), "--out", t / "o.csv", "--missing", "error"],
        Exits("missing value")),
    Row("encore-jax compose", "--layout pairs, weights name a rule FILE lacks",
        lambda t: ["compose", file(t, "p.csv", PAIRS_CSV), "--layout", "pairs", "--weights",
                   weights_json(t, '{"rules": ["a", "z"], "weights": [0.5, 0.5]}'),
                   "--out", t / "o.csv"],
        Exits("no column 'chosen_z' for rule 'z'")),
    # label
    *bad_file_rows("label", lambda t: ["--k", 1, "--out", t / "o.csv", "--chosen-prefix", "a_",
                                       "--rejected-prefix", "b_"], scores=True,
                   pairs_prefixes=("a_", "b_")),
    Row("encore-jax label", "--k 0",
        lambda t: label_argv(t, "--k", 0),
        Exits("argument --k: must be >= 1, got 0")),
    Row("encore-jax label", "--k > K",
        lambda t: label_argv(t, "--k", 3),
        Exits("--k 3 exceeds the number of rules K = 2")),
    Row("encore-jax label", "no a_/b_ columns (wrong prefixes)",
        lambda t: ["label", file(t, "p.csv", PAIRS_CSV), "--out", t / "o.csv",
                   "--chosen-prefix", "a_", "--rejected-prefix", "b_"],
        Exits("no rating columns with prefixes 'a_' / 'b_'")),
    Row("encore-jax label", "--alpha -1",
        lambda t: label_argv(t, "--alpha", -1),
        Exits("alpha must be finite and >= 0")),
    Row("encore-jax label", "--alpha nan",
        lambda t: label_argv(t, "--alpha", "nan"),
        Exits("argument --alpha: must be finite")),
    Row("encore-jax label", "--k with --selection all",
        lambda t: label_argv(t, "--k", 1, "--selection", "all"),
        Exits("--k has no effect")),
    Row("encore-jax label", "every pair has a missing rating",
        lambda t: ["label", file(t, "p.csv", "a_x,a_y,b_x,b_y\n1,,0,1\n"), "--out", t / "o.csv",
                   "--chosen-prefix", "a_", "--rejected-prefix", "b_"],
        Exits("no pair has every rating observed")),
    Row("encore-jax label", "--export-preference with tied pairs and no --ties",
        lambda t: ["label", file(t, "p.csv", "prompt,chosen,rejected,chosen_x,rejected_x\n"
                                 "q,A,B,1,1\n"), "--out", t / "o.csv",
                   "--export-preference", t / "e.jsonl"],
        Exits("1 labelled pairs tie")),
    Row("encore-jax label", "--export-preference without the prompt column",
        lambda t: ["label", file(t, "p.csv", "chosen,rejected,chosen_x,rejected_x\nA,B,1,0\n"),
                   "--out", t / "o.csv", "--export-preference", t / "e.jsonl"],
        Exits("needs the text column 'prompt'")),
    Row("encore-jax label", "duplicate rule columns",
        lambda t: ["label", file(t, "p.csv", "a_x,b_x,a_x\n1,2,3\n"), "--out", t / "o.csv",
                   "--chosen-prefix", "a_", "--rejected-prefix", "b_"],
        Exits("duplicate")),
    Row("encore-jax label", "--weights for rules FILE lacks",
        lambda t: label_argv(t, "--weights",
                             weights_json(t, '{"rules": ["x", "z"], "weights": [0.5, 0.5]}')),
        Exits("no column 'a_z'")),
    Row("encore-jax label", "one rule",
        lambda t: ["label", file(t, "p.csv", "a_x,b_x\n2,1\n0,1\n"), "--out", t / "out.csv",
                   "--json", "--chosen-prefix", "a_", "--rejected-prefix", "b_"],
        Prints("k = 1: the only rule labels every pair", report("a_preferred_fraction", 0.5))),
    # fit-bt
    *bad_file_rows("fit-bt", lambda t: ["--steps", 2], scores=True,
                   pairs_prefixes=("chosen_", "rejected_")),
    *temperature_rows("fit-bt", lambda t: [file(t, "p.csv", PAIRS_CSV), "--levels", 3]),
    Row("encore-jax fit-bt", "--steps 0",
        lambda t: ["fit-bt", file(t, "p.csv", PAIRS_CSV), "--steps", 0],
        Exits("--steps: must be >= 1")),
    Row("encore-jax fit-bt", "--l2 -1",
        lambda t: ["fit-bt", file(t, "p.csv", PAIRS_CSV), "--l2", -1],
        Exits("l2 must be finite and >= 0, got -1.0")),
    Row("encore-jax fit-bt", "wrong prefixes", lambda t: ["fit-bt", file(t, "p.csv", LABEL_CSV)],
        Exits("no rating columns with prefixes 'chosen_' / 'rejected_'")),
    Row("encore-jax fit-bt", "level L with --levels",
        lambda t: ["fit-bt", file(t, "p.csv", PAIRS_CSV), "--levels", 2], Exits("is outside 0..1")),
    Row("encore-jax fit-bt", "float level with --levels",
        lambda t: ["fit-bt", file(t, "p.csv", "chosen_a,rejected_a\n0.5,1\n"), "--levels", 3],
        Exits("0.5 is not an integer level")),
    Row("encore-jax fit-bt", "every pair has a missing rating",
        lambda t: ["fit-bt", file(t, "p.csv", "chosen_a,rejected_a\n1,\n,0\n")],
        Exits("nothing to fit")),
    Row("encore-jax fit-bt", "a missing rating with --missing error",
        lambda t: ["fit-bt", file(t, "p.csv", "chosen_a,rejected_a\n1,0\n,0\n"),
                   "--missing", "error"],
        Exits("missing value")),
    Row("encore-jax fit-bt", "--bin-range without --levels",
        lambda t: ["fit-bt", file(t, "p.csv", PAIRS_CSV), "--bin-range", 0, 1],
        Exits("--bin-range needs --levels")),
    # compare
    *bad_file_rows("compare", levels3, pairs_prefixes=("chosen_", "rejected_")),
    *temperature_rows("compare", lambda t: [file(t, "p.csv", PAIRS_CSV), "--levels", 3]),
    Row("encore-jax compare", "--levels 1",
        lambda t: ["compare", file(t, "p.csv", PAIRS_CSV), "--levels", 1],
        Exits("must be >= 2")),
    Row("encore-jax compare", "level L",
        lambda t: ["compare", file(t, "p.csv", PAIRS_CSV), "--levels", 2],
        Exits("is outside 0..1")),
    Row("encore-jax compare", "--top-k > K",
        lambda t: compare_argv(t, "--top-k", 3),
        Exits("top_k must be <= K = 2")),
    Row("encore-jax compare", "a NaN temperature in --temperatures",
        lambda t: compare_argv(t, "--temperatures", "1,nan"),
        Exits("temperatures must be finite and > 0, got nan")),
    Row("encore-jax compare", "--confidence 1",
        lambda t: compare_argv(t, "--confidence", 1),
        Exits(r"must be in \(0, 1\)")),
    Row("encore-jax compare", "--resamples 0",
        lambda t: compare_argv(t, "--resamples", 0),
        Exits("must be >= 1")),
    Row("encore-jax compare", "--bt-l2 nan",
        lambda t: compare_argv(t, "--bt-l2", "nan"),
        Exits("l2 must be finite and >= 0, got nan")),
    Row("encore-jax compare", "wrong prefixes",
        lambda t: ["compare", file(t, "p.csv", LABEL_CSV), "--levels", 3],
        Exits("no rating columns with prefixes")),
    Row("encore-jax compare", "--train with other rules (mismatched K)",
        lambda t: compare_argv(t, "--train",
            file(t, "q.csv", "chosen_a,rejected_a\n0,1\n1,0\n")),
        Exits("has rules \\['a'\\]")),
    Row("encore-jax compare", "--calibration without the pairs' rule columns",
        lambda t: compare_argv(t, "--calibration",
                   file(t, "c.csv", "a,z\n0,1\n")), Exits("no column 'b'")),
    Row("encore-jax compare", "--weighting of a module that does not import",
        lambda t: compare_argv(t, "--weighting", "no_such_module_xyz:weights"),
        Exits("module 'no_such_module_xyz' does not import")),
    Row("encore-jax compare", "--weighting with a built-in name (always reported)",
        lambda t: compare_argv(t, "--weighting", "research_decisive_encore", "--resamples", 8,
                               "--num-random", 2, "--no-bt", "--json"),
        Prints("a selection of the row compare always reports, listed once",
               lambda r: np.testing.assert_equal(
                   [m["name"] for m in r["methods"]].count("research_decisive_encore"), 1))),
    Row("encore-jax compare", "--out exists (no --force)",
        lambda t: compare_argv(t, "--out", file(t, "o.json", "keep")),
        Exits("o.json exists; pass --force")),
    Row("encore-jax compare", "one rule",
        lambda t: ["compare", file(t, "p.csv", "chosen_a,rejected_a\n" + "2,1\n1,0\n0,1\n" * 3),
                   "--levels", 3, "--resamples", 8, "--num-random", 2, "--no-bt",
                   "--temperatures", 2, "--json"],
        Prints("every method is the one rule; no correlation over one rule",
               lambda r: (report("methods.0.weights", [1.0])(r),
                          np.testing.assert_equal(r["correlation"]["available"], False)))),
    Row("encore-jax compare", "--figures is a file",
        lambda t: compare_argv(t, "--figures", file(t, "figs", "x")),
        Exits("exists and is not a directory")),
    # diagnose
    *bad_file_rows("diagnose", levels3, pairs_prefixes=("chosen_", "rejected_")),
    *temperature_rows("diagnose", lambda t: [file(t, "p.csv", PAIRS_CSV), "--levels", 3]),
    Row("encore-jax diagnose", "--levels 1",
        lambda t: ["diagnose", file(t, "p.csv", PAIRS_CSV), "--levels", 1],
        Exits("must be >= 2")),
    Row("encore-jax diagnose", "level L",
        lambda t: ["diagnose", file(t, "p.csv", PAIRS_CSV), "--levels", 2],
        Exits("row 3, column 'chosen_b': level 2 is outside 0..1")),
    Row("encore-jax diagnose", "--group-column not in the file",
        lambda t: ["diagnose", file(t, "p.csv", PAIRS_CSV), "--levels", 3,
                   "--group-column", "nope"],
        Exits("p.csv: no column 'nope'")),
    Row("encore-jax diagnose", "--confidence 1",
        lambda t: ["diagnose", file(t, "p.csv", PAIRS_CSV), "--levels", 3, "--confidence", 1],
        Exits(r"must be in \(0, 1\)")),
    Row("encore-jax diagnose", "--resamples 0",
        lambda t: ["diagnose", file(t, "p.csv", PAIRS_CSV), "--levels", 3, "--resamples", 0],
        Exits("must be >= 1")),
    Row("encore-jax diagnose", "--rare-tie-rate 1",
        lambda t: ["diagnose", file(t, "p.csv", PAIRS_CSV), "--levels", 3,
                   "--rare-tie-rate", 1],
        Exits(r"must be in \[0, 1\)")),
    Row("encore-jax diagnose", "--calibration-group-column without --calibration",
        lambda t: ["diagnose", file(t, "p.csv", PAIRS_CSV), "--levels", 3,
                   "--calibration-group-column", "g"],
        Exits("--calibration-group-column needs --calibration")),
    Row("encore-jax diagnose", "wrong prefixes",
        lambda t: ["diagnose", file(t, "p.csv", LABEL_CSV), "--levels", 3],
        Exits("no rating columns with prefixes")),
    Row("encore-jax diagnose", "one rule",
        lambda t: ["diagnose", file(t, "p.csv", "chosen_a,rejected_a\n" + "2,1\n1,0\n0,1\n" * 3),
                   "--levels", 3, "--resamples", 8, "--json"],
        Prints("no correlation over one rule, so no verdict, and the reason says so",
               lambda r: (np.testing.assert_equal(
                              (r["premise_holds"], r["correlation"], r["rules"][0]["rule"]),
                              (False, None, "a")),
                          report("rules.0.accuracy", 2 / 3)(r),
                          np.testing.assert_equal(
                              any("no verdict" in reason for reason in r["reasons"]), True)))),
    # theory
    Row("encore-jax theory", "an unknown check",
        lambda t: ["theory", "nope"],
        Exits("unknown check 'nope'")),
    Row("encore-jax theory", "--check-args with an option the check does not know",
        lambda t: ["theory", "bt-gradients", "--check-args=--bogus"],
        Exits("check 'bt-gradients' exited with 2", one_line=False)),
    # demo: every bad option is refused before the simulation runs
    *temperature_rows("demo", lambda t: []),
    Row("encore-jax demo", "--ensembles 0",
        lambda t: ["demo", "--ensembles", 0],
        Exits("argument --ensembles: must be >= 1")),
    Row("encore-jax demo", "--seed -1",
        lambda t: ["demo", "--seed", -1],
        Exits("argument --seed: must be >= 0")),
    Row("encore-jax demo", "--resamples 0",
        lambda t: ["demo", "--resamples", 0],
        Exits("must be >= 1")),
    Row("encore-jax demo", "--confidence 0",
        lambda t: ["demo", "--confidence", 0],
        Exits(r"must be in \(0, 1\)")),
    Row("encore-jax demo", "--out-dir exists (refused before any work, without --force)",
        lambda t: ["demo", "--out-dir", t],
        Exits("exists; pass --force to overwrite its figures or --out-dir DIR")),
    Row("encore-jax demo", "--out-dir is a file",
        lambda t: ["demo", "--out-dir", file(t, "figs", "x"), "--force"],
        Exits("exists and is not a directory")),
]

# The premise check, the weighting extension point, exact-tie margins and the shipped data.
EXTENSION_ROWS = [
    Row("margins_from_differences", "K of diffs != K of weights",
        lambda t: margins_from_differences(D, np.ones(3, np.float32)),
        Raises(ValueError, "K = 3")),
    Row("margins_from_differences", "NaN in diffs",
        lambda t: margins_from_differences(put(D, (0, 0), np.nan), W),
        Raises(ValueError, r"diffs contains nan at index \(0, 0\)")),
    Row("resolve_weighting", "unknown built-in name",
        lambda t: resolve_weighting("nope"),
        Raises(ValueError, "unknown weighting spec 'nope': use a built-in name")),
    Row("resolve_weighting", "import path to a missing attribute",
        lambda t: resolve_weighting("os:nope_fn"),
        Raises(ValueError, "module 'os' has no attribute 'nope_fn'")),
    Row("builtin_weightings", "temperature 0",
        lambda t: builtin_weightings(0.0),
        Raises(ValueError, "temperature must be finite and > 0")),
    Row("apply_weightings", "a weighting returns the wrong number of weights",
        lambda t: apply_weightings({"bad": lambda d: np.ones(3)}, WeightingData(R, None, L)),
        Raises(ValueError, r"weighting 'bad' returned shape \(3,\)")),
    Row("apply_weightings", "a weighting returns a negative weight",
        lambda t: apply_weightings({"neg": lambda d: -np.ones(2)},
                                      WeightingData(R, None, L)),
        Raises(ValueError, "orient the rule so that higher = better")),
    Row("unlabelled_pairs", "chosen and rejected with different N",
        lambda t: unlabelled_pairs(KEY, R, R[:3]),
        Raises(ValueError, r"rejected has shape \(3, 2\)")),
    Row("diagnose_premise", "level L",
        lambda t: ej.diagnose_premise(KEY, R, R[::-1], 2, num_resamples=10),
        Raises(ValueError, r"chosen\[1, 1\] = 2 is outside 0..1")),
    Row("diagnose_premise", "temperature 0",
        lambda t: ej.diagnose_premise(KEY, R, R[::-1], L, temperature=0.0, num_resamples=10),
        Raises(ValueError, "temperature must be finite and > 0")),
    Row("diagnose_file", "missing file",
        lambda t: ej.diagnose_file(t / "none.csv", L),
        Raises(DataError, "no such file")),
    Row("load_oasst1", "nothing to get wrong: the shipped pairs load complete",
        lambda t: int(ej.load_oasst1().complete_pairs.sum()),
        Gives("997 complete pairs", equal(997))),
    Row("encore-jax curve", "a pair without a group id",
        lambda t: ["curve", file(t, "p.csv", GROUPED_CSV.replace("\ng0,", "\n,", 2)
                                 .replace("\n,", "\ng0,", 1)),
                   "--levels", 3, "--group-column", "g"],
        Exits(r"1 pair\(s\) have no group id \(0-based pairs 1\)")),
    Row("encore-jax curve", "a budget above the groups available",
        lambda t: ["curve", file(t, "p.csv", GROUPED_CSV), "--levels", 3, "--group-column", "g",
                   "--labels", "0,16"],
        Exits("budget 16 = 16 labelled groups is more than the 2 available")),
    Row("encore-jax datasets", "--path of an unknown file",
        lambda t: ["datasets", "--path", "nope"],
        Exits("invalid choice: 'nope'")),
]

TABLE = [*ENTROPY_ROWS, *WEIGHT_ROWS, *COMPOSE_ROWS, *BT_ROWS, *SELECTION_ROWS, *SIMULATE_ROWS,
         *METRIC_ROWS, *STREAMING_ROWS, *DATA_ROWS, *COMMAND_ROWS,
         *EXTENSION_ROWS]


def outputs(directory: Path) -> list[str]:
    """Files named as outputs in the rows (``o.*``, ``out.*``) and hidden staging files."""
    return sorted(p.name for p in directory.rglob("*")
                  if p.name.startswith(("o.", "out.", ".o.", ".out.", ".w.json")))


def run_command(argv: list[Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, bool]:
    """(exit code, stdout, stderr, argparse refused an option) of ``encore-jax argv``."""
    try:
        code, refused = cli.main([str(a) for a in argv]), False
    except SystemExit as stop:
        code, refused = stop.code, True
    out, err = capsys.readouterr()
    return code, out, err, refused


# Words that name a position in the data, and what a chunk iterable's values are called.
POSITION = re.compile(r"\b(row|line|column|chunk|index|rule|rules|reader options)\b")


def public_function(where: str) -> Callable[..., Any]:
    """The function a row names: a top-level export, or one imported above from its module."""
    return getattr(ej, where) if where in ej.__all__ else globals()[where]


def names_argument_or_position(message: str, where: str, tmp_path: Path) -> bool:
    """A library error names one of the function's arguments, the file, or a position."""
    names = set(inspect.signature(public_function(where)).parameters) | {"ratings", "scores"}
    return (str(tmp_path) in message or POSITION.search(message) is not None
            or any(re.search(rf"\b{re.escape(name)}\b", message) for name in names))


@pytest.mark.parametrize("row", TABLE, ids=[row.id for row in TABLE])
def test_reliability_table(row: Row, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expect = row.expect
    if isinstance(expect, Raises):
        with pytest.raises(expect.error, match=expect.match) as raised:
            row.call(tmp_path)
        assert names_argument_or_position(str(raised.value), row.where, tmp_path), raised.value
        assert outputs(tmp_path) == [], "a failed call left output behind"
    elif isinstance(expect, Gives):
        expect.check(row.call(tmp_path))
    else:
        argv = row.call(tmp_path)
        before = sorted(p.name for p in tmp_path.rglob("*"))
        code, out, err, refused = run_command(argv, capsys)
        if isinstance(expect, Prints):
            assert code == 0, err
            expect.check(json.loads(out))
            return
        lines = err.strip().splitlines()
        assert code == 2, (code, err)
        assert lines and lines[-1].startswith(f"encore-jax {argv[0]}: error: "), err
        assert refused or not expect.one_line or len(lines) == 1, err
        assert re.search(expect.match, lines[-1]), (expect.match, lines[-1])
        assert sorted(p.name for p in tmp_path.rglob("*")) == before, "output left behind"


def test_table_ids_are_unique() -> None:
    ids = [row.id for row in TABLE]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_every_public_function_and_command_has_rows() -> None:
    functions = {name for name in ej.__all__
                 if callable(getattr(ej, name)) and not isinstance(getattr(ej, name), type)}
    commands = {"encore-jax " + name.replace("_", "-") for name in cli.COMMAND_MODULES}
    covered = {row.where for row in TABLE}
    assert functions | commands <= covered, sorted((functions | commands) - covered)
    # Every other row names a public function of the module that defines it.
    for name in covered - functions - commands:
        assert name in sys.modules[public_function(name).__module__].__all__, name


# ------------------------------------------------------------------------------------------
# Fuzzing: shapes, dtypes, masks and corruptions drawn from small fixed sets
# ------------------------------------------------------------------------------------------
#
# Shapes, dtypes and levels come from small sets, so each kernel compiles a handful of times.
# A valid input must give finite results that agree with a NumPy oracle; an invalid one may
# only raise ValueError or TypeError (never a dtype-promotion error, an IndexError, a
# warning or a crash), and must raise where the table says it does.

U32 = 2.0**-24  # float32 unit roundoff
FUZZ_ROWS = (0, 1, 5)
FUZZ_RULES = (1, 3)
FUZZ_LEVELS = (2, 5)
INT_DTYPES = (np.int8, np.uint8, np.int32, np.int64)
FLOAT_DTYPES = (np.float16, np.float32, np.float64)
REAL_DTYPES = (np.uint8, np.int32, np.int64, np.float16, np.float32, np.float64)


def attempt(call: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    """``(result, None)``, or ``(None, error)`` for a documented ValueError / TypeError."""
    try:
        return call(), None
    except (ValueError, TypeError) as err:
        assert not isinstance(err, jax.dtypes.TypePromotionError), err
        return None, err


def expect(valid: bool, call: Callable[[], Any]) -> Any:
    """Runs ``call``: a valid input must not raise and gives finite floats; an invalid one
    must raise a documented error."""
    result, err = attempt(call)
    if not valid:
        assert err is not None, "invalid input accepted"
        return None
    assert err is None, f"valid input rejected: {err!r}"
    for leaf in jax.tree.leaves(result):
        host = np.asarray(leaf)
        if host.dtype.kind == "f":
            assert np.isfinite(host).all(), host
    return result


def numpy_counts(ratings: np.ndarray, num_levels: int, mask: np.ndarray | None) -> np.ndarray:
    observed = np.ones(ratings.shape, bool) if mask is None else mask
    return np.stack([np.bincount(ratings[observed[:, k], k].astype(np.int64),
                                 minlength=num_levels) for k in range(ratings.shape[1])])


def entropy_bound(counts: np.ndarray) -> np.ndarray:
    """|H_float32 - H| for plug-in entropies of counts ``[K, L]`` (exact in float32):
    ``p_l = c_l / n`` rounds by u, ``log`` adds ~2u (|log p| + 1), the product u p|log p|,
    the L-term sum (L - 1) u H, so |dH| <= u ((L + 3) H + 3) (a few-ulp ``log`` assumed)."""
    h = plugin_entropy(counts)
    return U32 * ((counts.shape[-1] + 3) * h + 3)


@st.composite
def rating_inputs(draw: st.DrawFn) -> tuple[np.ndarray, int, np.ndarray | None, str]:
    n, k = draw(st.sampled_from(FUZZ_ROWS)), draw(st.sampled_from(FUZZ_RULES))
    num_levels = draw(st.sampled_from(FUZZ_LEVELS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ratings = rng.integers(0, num_levels, (n, k))
    coverage = draw(st.sampled_from((None, 0.0, 0.5, 1.0)))
    mask = None if coverage is None else rng.random((n, k)) < coverage
    corruption = draw(st.sampled_from(("none", "level L", "negative", "float", "NaN", "rank")))
    dtype = draw(st.sampled_from(INT_DTYPES))
    if corruption in ("level L", "negative") and n:
        ratings[0, 0] = num_levels if corruption == "level L" else -1
    ratings = ratings.astype(dtype)  # uint8 holds -1 as 255: still out of range
    if corruption in ("float", "NaN"):
        ratings = ratings.astype(np.float32)
        if corruption == "NaN" and n:
            ratings[0, 0] = np.nan
    elif corruption == "rank":
        ratings = ratings.reshape(-1) if draw(st.booleans()) else ratings[None]
    return ratings, num_levels, mask, corruption


@given(rating_inputs(), st.integers(1, 3))
def test_fuzz_rating_functions(case: Any, chunk_rows: int) -> None:
    ratings, num_levels, mask, corruption = case
    shape_ok = corruption not in ("float", "NaN", "rank")
    bad_level_seen = (corruption in ("level L", "negative") and ratings.shape[0] > 0
                      and (mask is None or bool(mask[0, 0])))
    hist_valid = shape_ok and not bad_level_seen
    event(f"histogram input valid: {hist_valid}")
    counts = expect(hist_valid, lambda: ej.rating_histogram(ratings, num_levels, mask=mask))
    if hist_valid:
        clean = np.where(mask if mask is not None else True, ratings, 0)
        np.testing.assert_array_equal(counts, numpy_counts(clean, num_levels, mask))
    observed_rules = hist_valid and bool(np.all(np.asarray(counts).sum(axis=1) > 0))
    entropies = expect(observed_rules, lambda: ej.rating_entropy(ratings, num_levels, mask=mask))
    if observed_rules:
        expected = plugin_entropy(np.asarray(counts))
        assert np.all(np.abs(np.asarray(entropies, np.float64) - expected)
                      <= entropy_bound(np.asarray(counts)))
        assert not np.any(np.signbit(entropies))
    # Streaming: the rows in chunks of a drawn size give the in-memory counts (or the error).
    chunks = [(ratings[i:i + chunk_rows], None if mask is None else mask[i:i + chunk_rows])
              for i in range(0, ratings.shape[0], chunk_rows)] if ratings.ndim == 2 else [ratings]
    streamed = expect(hist_valid and ratings.shape[0] > 0,
                      lambda: streaming_rating_histogram(chunks, num_levels, chunk_rows=2))
    if streamed is not None:
        np.testing.assert_array_equal(streamed, counts)


@given(st.sampled_from(FLOAT_DTYPES), st.sampled_from(((1,), (3,), (2, 3))),
       st.sampled_from(("none", "NaN", "inf")),
       st.sampled_from((1e-300, 1e-6, 0.5, 2.0, 1e6, 0.0, -1.0, math.inf, math.nan)),
       st.integers(0, 4), st.integers(0, 2**32 - 1))
def test_fuzz_weightings(dtype: Any, shape: tuple[int, ...], corruption: str, temperature: float,
                         k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    entropies = rng.uniform(0, 3, shape).astype(dtype)
    if corruption != "none":
        entropies.flat[0] = np.nan if corruption == "NaN" else np.inf
    finite = corruption == "none"
    tau_ok = math.isfinite(temperature) and temperature > 0
    weights = expect(finite and tau_ok, lambda: ej.entropy_weights(entropies, temperature))
    if weights is not None:
        np.testing.assert_allclose(np.asarray(weights, np.float64).sum(-1), 1.0,
                                   rtol=4 * shape[-1] * float(np.finfo(weights.dtype).eps))
        assert np.all(np.asarray(weights) >= 0)
    num_rules = shape[-1]
    lowest = expect(finite and len(shape) == 1 and 1 <= k <= num_rules,
                    lambda: lowest_entropy_weights(entropies, k))
    if lowest is not None:
        np.testing.assert_allclose(np.asarray(lowest).sum(), 1.0, rtol=1e-6)
    # Counts: non-negative and finite with every row observed, else an error.
    counts = np.floor(entropies.astype(np.float64) * 3) if finite else entropies
    valid_counts = finite and bool(np.all(counts.sum(-1) > 0))
    h = expect(valid_counts, lambda: ej.entropy_from_counts(counts.astype(dtype)))
    if h is not None:
        assert np.all(np.asarray(h) >= 0) and not np.any(np.signbit(h))


@given(st.sampled_from(REAL_DTYPES), st.sampled_from(FUZZ_ROWS), st.sampled_from(FUZZ_RULES),
       st.sampled_from(("none", "NaN", "inf", "K mismatch")), st.integers(0, 4),
       st.integers(0, 2**32 - 1))
def test_fuzz_composition_selection_and_accuracy(dtype: Any, n: int, num_rules: int,
                                                 corruption: str, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 5, (n, num_rules)).astype(dtype)
    b = rng.integers(0, 5, (n, num_rules)).astype(dtype)
    if corruption in ("NaN", "inf") and n and a.dtype.kind == "f":
        a[0, 0] = np.nan if corruption == "NaN" else np.inf
    else:
        corruption = "K mismatch" if corruption == "K mismatch" else "none"
    weights = rng.dirichlet(np.ones(num_rules + (corruption == "K mismatch"))).astype(np.float32)
    valid = corruption == "none"
    event(f"scores valid: {valid}")
    composite = expect(valid, lambda: compose(a, weights))
    margins = expect(valid, lambda: ej.pair_margins(a, b, weights))
    if valid:
        # float64 oracle; each K-term float32 dot product errs by at most K u sum|w s|
        # (the float16 inputs are exact in float32, so no extra input rounding).
        for got, x in ((composite, a.astype(np.float64)),
                       (margins, a.astype(np.float64) - b.astype(np.float64))):
            bound = (num_rules + 1) * U32 * (np.abs(x) @ np.abs(weights.astype(np.float64)))
            assert np.all(np.abs(np.asarray(got, np.float64) - x @ weights) <= bound + 1e-30)
    diffs = (a.astype(np.float32) - b.astype(np.float32)) if a.dtype.kind != "f" else a - b
    bt_valid = valid and n > 0
    expect(bt_valid, lambda: ej.bt_loss(weights, diffs))
    expect(bt_valid, lambda: ej.bt_gradient(weights, diffs))
    finite_scores = corruption in ("none", "K mismatch")
    selected = expect(finite_scores and 1 <= k <= num_rules, lambda: ej.select_rules(a, b, k))
    if selected is not None:
        assert np.all(np.asarray(selected).sum(axis=1) == k)
        labels = expect(True, lambda: ej.label_pairs(a, b, selected))
        assert labels.shape == (n,)
    if valid:
        expect(n > 0, lambda: ej.pairwise_accuracy(margins, tie="half"))
        credit = expect(True, lambda: pair_credit(margins, tie="half"))
        assert set(np.unique(np.asarray(credit)).tolist()) <= {0.0, 0.5, 1.0}


@given(st.sampled_from((np.float32, np.float64, np.int32)), st.sampled_from(((0,), (5,), (2, 3))),
       st.sampled_from(("none", "NaN", "inf", "below", "above")),
       st.sampled_from((2, 5, 11)), st.floats(-1e3, 1e3), st.floats(1e-3, 1e3),
       st.integers(0, 2**32 - 1))
def test_fuzz_discretize(dtype: Any, shape: tuple[int, ...], corruption: str, num_levels: int,
                         low: float, width: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    high = low + width
    if dtype == np.int32:
        low, high = math.floor(low), math.floor(low) + max(1, math.ceil(width))
        scores = rng.integers(low, high + 1, shape).astype(dtype)
    else:
        # the range's own edges included: the float32 rounding of high is the hard case
        scores = rng.choice([low, high, (low + high) / 2, rng.uniform(low, high)], shape)
        scores = np.clip(scores.astype(dtype), low, high)  # in [low, high] after rounding too
        scores = np.where((scores >= low) & (scores <= high), scores, dtype(low)).astype(dtype)
    if corruption != "none" and scores.size:
        scores = scores.astype(np.float64 if dtype == np.float64 else np.float32)
        scores.flat[0] = {"NaN": np.nan, "inf": np.inf, "below": low - 1, "above": high + 1}[
            corruption]
    valid = corruption == "none" or scores.size == 0
    levels = expect(valid, lambda: ej.discretize(scores, num_levels, low=low, high=high))
    if levels is not None:
        host = np.asarray(levels)
        assert host.shape == scores.shape and np.all((host >= 0) & (host < num_levels))
        order = np.argsort(scores.reshape(-1), kind="stable")
        assert np.all(np.diff(host.reshape(-1)[order]) >= 0)  # monotone in the score


@given(st.sampled_from(((5,), (2, 5))), st.sampled_from((None, "shared", "per row", "empty")),
       st.sampled_from(("none", "NaN")), st.integers(0, 2**32 - 1))
def test_fuzz_bootstrap(shape: tuple[int, ...], mask_kind: str | None, corruption: str,
                        seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=shape).astype(np.float32)
    if corruption == "NaN":
        values.flat[0] = np.nan
    mask = {None: None, "shared": rng.random(shape[-1]) < 0.7,
            "per row": rng.random(shape) < 0.7, "empty": np.zeros(shape[-1], bool)}[mask_kind]
    if mask is not None and mask_kind != "empty":
        mask[..., 0] = True  # every row counts an item
    valid = corruption == "none" and mask_kind != "empty"
    ci = expect(valid, lambda: ej.bootstrap_ci(KEY, values, num_resamples=16, mask=mask))
    if ci is not None:
        counted = np.broadcast_to(True if mask is None else mask, shape)
        low = np.where(counted, values, np.inf).min(-1)
        high = np.where(counted, values, -np.inf).max(-1)
        slack = 4 * U32 * np.abs(values).max()  # a mean of values rounds within 2 ulps here
        assert np.all((ci.low >= low - slack) & (ci.low <= ci.high) & (ci.high <= high + slack))


# ------------------------------------------------------------------------------------------
# Numerical edge cases: huge counts, tiny temperatures, many rules
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int64, np.float64, np.float32])
def test_entropy_is_stable_for_counts_of_1e12(dtype: Any) -> None:
    counts = np.array([[1e12, 1e12, 0, 0], [1e12, 3e11, 1, 7], [4e12, 1, 1, 1]]).astype(dtype)
    got = np.asarray(ej.entropy_from_counts(counts), np.float64)
    # Rounding the counts to float32 moves each p_l by 2u relatively, H by <= 2u (H + 1);
    # the computation itself adds entropy_bound (derived there).
    exact = plugin_entropy(counts)
    bound = entropy_bound(counts.astype(np.float64)) + 2 * U32 * (exact + 1)
    assert np.all(np.abs(got - exact) <= bound), (got, exact, bound)


def test_weights_are_stable_for_tiny_temperatures() -> None:
    entropies = np.array([0.70, 0.20, 0.2005, 1.6], np.float32)
    for tau in (1e-6, 1e-12, 1e-30):
        # float64 oracle: exp(-(0.0005) / 1e-6) = exp(-500) ~ 7e-218, 0 in float32
        expected = scipy.special.softmax(-(entropies.astype(np.float64) - 0.2) / tau)
        np.testing.assert_allclose(ej.entropy_weights(entropies, tau), expected, atol=1e-30)
    grad = jax.grad(lambda h: ej.entropy_weights(h, 1e-6)[1])(jnp.asarray(entropies))
    assert np.all(np.isfinite(grad))


def test_entropy_and_weights_over_ten_thousand_rules() -> None:
    rng = np.random.default_rng(5)
    num_rules, num_levels = 10_000, 5
    concentration = rng.choice([0.05, 1.0, 50.0], size=num_rules)
    probs = rng.dirichlet(np.ones(num_levels), size=num_rules) ** concentration[:, None]
    probs /= probs.sum(1, keepdims=True)
    cdf = np.cumsum(probs, axis=1)
    ratings = (rng.random((64, num_rules))[:, :, None] > cdf[None, :, :-1]).sum(-1)
    ratings = ratings.astype(np.int8)
    counts = (ratings[:, :, None] == np.arange(num_levels)).sum(0)
    entropies = ej.rating_entropy(ratings, num_levels)
    assert np.all(np.abs(np.asarray(entropies, np.float64) - plugin_entropy(counts))
                  <= entropy_bound(counts))
    weights = np.asarray(ej.entropy_weights(entropies, 2.0), np.float64)
    expected = scipy.special.softmax(-np.asarray(entropies, np.float64) / 2.0)
    # Softmax in float32: logits z = -(H - min H) / tau err by 2u|z|, exp adds ~2u, the
    # K-term sum (K - 1) u: relative error <= u (4 max|z| + K + 4) (about 6e-4 at K = 1e4,
    # a worst-case bound; the float32 sum is in fact far closer).
    z = np.abs(np.asarray(entropies) - np.min(entropies)).max() / 2.0
    np.testing.assert_allclose(weights, expected, rtol=U32 * (4 * z + num_rules + 4))
    assert abs(weights.sum() - 1) <= U32 * (num_rules + 4)


# ------------------------------------------------------------------------------------------
# float32 against float64 on the same input
# ------------------------------------------------------------------------------------------


def precision_inputs() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    ratings = rng.integers(0, 5, (64, 8))
    ratings[:, 0] = np.where(rng.random(64) < 0.97, 2, ratings[:, 0])  # a low-entropy rule
    chosen = rng.integers(0, 5, (64, 8)).astype(np.float32)
    rejected = rng.integers(0, 5, (64, 8)).astype(np.float32)
    return {"ratings": ratings.astype(np.int32), "mask": rng.random((64, 8)) < 0.9,
            "chosen": chosen, "rejected": rejected, "diffs": chosen - rejected,
            "weights": rng.dirichlet(np.ones(8)).astype(np.float32),
            "values": rng.normal(size=64).astype(np.float32)}


# Bounds on |float32 - float64| beyond 1e-5 relative, derived per function (u = 2^-24; the
# float64 result is exact by comparison). Inputs are float32 values, so both runs see the
# same numbers.


def counts_of(x: dict[str, np.ndarray]) -> np.ndarray:
    return numpy_counts(x["ratings"], 5, x["mask"])


def softmax_bound(logit_range: float, num_rules: int, y: np.ndarray) -> np.ndarray:
    """Softmax in float32: logits err by 2u|z|, exp adds ~2u, the K-term sum (K - 1) u, so
    each weight is within u (4 max|z| + K + 4) relatively."""
    return U32 * (4 * logit_range + num_rules + 4) * np.abs(y)


def margin_terms(x: dict[str, np.ndarray]) -> np.ndarray:
    """sum_k |w_k d_ik| per pair: a K-term float32 dot product errs by (K + 1) u times it."""
    return np.abs(x["diffs"]).astype(np.float64) @ np.abs(x["weights"]).astype(np.float64)


def bt_loss_bound(x: dict[str, np.ndarray], y: np.ndarray) -> np.ndarray:
    # softplus is 1-Lipschitz in the margin; the mean of N terms adds (N + 1) u |L|.
    return U32 * (66 * np.abs(y) + 9 * margin_terms(x).mean())


def bt_gradient_bound(x: dict[str, np.ndarray], y: np.ndarray) -> np.ndarray:
    # sigmoid is 1/4-Lipschitz in the margin; |sigmoid| <= 1; the mean adds (N + 1) u.
    d = np.abs(x["diffs"]).astype(np.float64)
    return U32 * (66 * d.mean(0) + 9 / 4 * (d * margin_terms(x)[:, None]).mean(0))


def miller_madow_bits_bound(x: dict[str, np.ndarray], y: np.ndarray) -> np.ndarray:
    counts = counts_of(x)
    correction = ((counts > 0).sum(-1) - 1) / (2 * counts.sum(-1))
    return (entropy_bound(counts) + 3 * U32 * correction) / np.log(2) + 2 * U32 * np.abs(y)


def simulate_bound(x: dict[str, np.ndarray], y: np.ndarray) -> np.ndarray:
    # logits a_l = (beta / 2) c_l -+ c_l^2 / (2 s^2): softmax_bound moves each q_l by a
    # relative e, so H by e sum_l q_l |log q_l + 1| <= e (H + 1); then entropy_bound.
    beta, spread = x["weights"] * 8.0, x["weights"] + 0.5
    c = np.arange(5) - 2.0
    logits = (beta[:, None] / 2) * c - c**2 / (2 * spread[:, None] ** 2)
    z = np.ptp(logits, axis=1) + beta * 4
    return U32 * ((4 * z + 9) * (y + 1) + 8 * y + 3)


PRECISION_CASES = {
    # name: (function of the inputs and a float dtype, the bound as a function of (x, y64))
    "rating_entropy": (lambda x, f: ej.rating_entropy(x["ratings"], 5, mask=x["mask"]),
                       lambda x, y: entropy_bound(counts_of(x))),
    "rating_entropy of shard_rows (one-device mesh)": (
        lambda x, f: ej.rating_entropy(shard_rows(x["ratings"])[0], 5,
                                       mask=shard_rows(x["mask"], fill=False)[0]),
        lambda x, y: entropy_bound(counts_of(x))),
    "entropy_from_counts (miller_madow, bits)": (
        lambda x, f: ej.entropy_from_counts(counts_of(x).astype(f), base=2,
                                            estimator="miller_madow"),
        miller_madow_bits_bound),
    "encore_weights": (lambda x, f: ej.encore_weights(x["ratings"], 5, mask=x["mask"])[1],
                       lambda x, y: softmax_bound(np.log(5) / 2, 8, y)),
    "entropy_weights": (
        lambda x, f: ej.entropy_weights(np.abs(x["values"][:8]).astype(f), 0.5),
        lambda x, y: softmax_bound(np.ptp(np.abs(x["values"][:8])) / 0.5, 8, y)),
    "compose": (lambda x, f: compose(x["chosen"].astype(f), x["weights"].astype(f)),
                lambda x, y: 9 * U32 * (np.abs(x["chosen"]) @ np.abs(x["weights"]))),
    "pair_margins": (  # cancellation: an absolute bound
        lambda x, f: ej.pair_margins(x["chosen"].astype(f), x["rejected"].astype(f),
                                     x["weights"].astype(f)),
        lambda x, y: 10 * U32 * margin_terms(x)),
    "bt_loss": (lambda x, f: ej.bt_loss(x["weights"].astype(f), x["diffs"].astype(f)),
                bt_loss_bound),
    "bt_gradient": (lambda x, f: ej.bt_gradient(x["weights"].astype(f), x["diffs"].astype(f)),
                    bt_gradient_bound),
    "bootstrap_ci mean": (  # a mean of N resampled values: (N + 1) u mean|x|
        lambda x, f: ej.bootstrap_ci(KEY, x["values"].astype(f), num_resamples=32).replicates,
        lambda x, y: 65 * U32 * np.abs(x["values"]).mean()),
    "simulate_rule_ensemble entropy": (
        lambda x, f: ej.simulate_rule_ensemble(
            KEY, 4, informativeness=x["weights"].astype(f) * 8,
            spread=x["weights"].astype(f) + 0.5).entropy,
        simulate_bound),
}


@pytest.mark.parametrize("name", list(PRECISION_CASES))
def test_float32_within_1e5_relative_of_float64(name: str) -> None:
    """The float32 result of each function is within 1e-5 (relative) of the float64 result
    on the same input (computed under ``jax.enable_x64``), or, where a relative bound cannot
    hold (a sum that cancels, an entropy near 0), within the derived float32 rounding bound."""
    call, bound = PRECISION_CASES[name]
    inputs = precision_inputs()
    got32 = np.asarray(call(inputs, np.float32))
    assert got32.dtype == np.float32, got32.dtype
    with jax.enable_x64(True):
        got64 = np.asarray(call(inputs, np.float64))
    assert got64.dtype == np.float64, got64.dtype
    allowed = np.maximum(1e-5 * np.abs(got64), bound(inputs, got64))
    gap = np.abs(got32.astype(np.float64) - got64)
    assert np.all(gap <= allowed), (gap.max(), allowed[np.argmax(gap / allowed)])
    relative = gap / np.maximum(np.abs(got64), 1e-300)
    well_conditioned = bound(inputs, got64) <= 1e-5 * np.abs(got64)
    assert np.all(relative[well_conditioned] <= 1e-5)


# ------------------------------------------------------------------------------------------
# Determinism: same key, same result (eager, jit, x64 mode); sharded: tests/sharded_checks.py
# ------------------------------------------------------------------------------------------

KEYED_CALLS = {
    "random_weights": lambda key: random_weights(key, 5),
    "random_rule_selection": lambda key: ej.random_rule_selection(key, 16, 5, 2),
    "simulate_rule_ensemble": lambda key: ej.simulate_rule_ensemble(
        key, 16, informativeness=np.linspace(0, 2, 3).astype(np.float32),
        spread=np.ones(3, np.float32)),
    "bootstrap_ci": lambda key: ej.bootstrap_ci(key, np.linspace(0, 1, 16).astype(np.float32),
                                                num_resamples=16),
    "label_pairs tie='random'": lambda key: ej.label_pairs(S, S, M, tie_winner="random", key=key),
    "pairwise_accuracy tie='random'": lambda key: ej.pairwise_accuracy(
        np.zeros(64, np.float32), tie="random", key=key),
    "pair_credit tie='random'": lambda key: pair_credit(np.zeros(64, np.float32),
                                                           tie="random", key=key),
    "holdout_split": lambda key: holdout_split(key, 16, strata=["a", "b"] * 8),
}


def same_bits(a: Any, b: Any) -> bool:
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(leaves_a) == len(leaves_b) and all(
        np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
        for x, y in zip(leaves_a, leaves_b, strict=True))


@pytest.mark.parametrize("name", list(KEYED_CALLS))
def test_same_key_same_result_other_key_other_result(name: str) -> None:
    call = KEYED_CALLS[name]
    first = call(jax.random.key(7))
    assert same_bits(first, call(jax.random.key(7)))
    assert same_bits(first, call(jax.random.wrap_key_data(jax.random.key_data(jax.random.key(7)))))
    assert not same_bits(first, call(jax.random.key(8)))


def test_same_results_under_jit_and_in_x64_mode() -> None:
    key = jax.random.key(3)
    eager = ej.random_rule_selection(key, 16, 5, 2)
    jitted = jax.jit(lambda k: ej.random_rule_selection(k, 16, 5, 2))(key)
    entropies, accuracies = np.array([0.1, 0.9, 0.4, 1.3], np.float32), H[[0, 1, 0, 1]] / 2
    correlation = entropy_accuracy_correlation(entropies, accuracies)
    with jax.enable_x64(True):  # regressions: both raised TypePromotionError under x64
        wide = ej.random_rule_selection(key, 16, 5, 2)
        wide_correlation = entropy_accuracy_correlation(entropies, accuracies)
    assert same_bits(eager, jitted) and same_bits(eager, wide)
    # float32 results either way; under x64 the normal quantile is evaluated in float64 and
    # then rounded, a difference of a few float32 ulps (8 u relative allows 8).
    for got, expected in zip(wide_correlation[:8], correlation[:8], strict=True):
        assert np.asarray(got).dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=8 * U32, atol=8 * U32)
    # the shape and settings of the fit row in the table: one compilation for both
    fit = [ej.fit_bt_weights(D[:, :1], max_steps=3, record_every=3) for _ in range(2)]
    assert same_bits(*fit)  # no key: a fit is a pure function of its inputs


# ------------------------------------------------------------------------------------------
# Streaming: results independent of the chunking
# ------------------------------------------------------------------------------------------


W3 = np.array([0.2, 0.3, 0.5], np.float32)


@given(st.lists(st.integers(0, 9), min_size=1, max_size=6), st.sampled_from((1, 7, 64)),
       st.integers(0, 2**32 - 1))
def test_streaming_results_do_not_depend_on_chunk_sizes(pieces: list[int], chunk_rows: int,
                                                        seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 40
    ratings = rng.integers(0, 5, (n, 3)).astype(np.int32)
    mask = rng.random((n, 3)) < 0.8
    mask[0] = True
    cuts = np.unique(np.clip(np.cumsum(pieces), 0, n))
    bounds = [0, *cuts.tolist(), n]
    chunks = [(ratings[a:b], mask[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    counts = streaming_rating_histogram(chunks, 5, chunk_rows=chunk_rows)
    np.testing.assert_array_equal(counts, ej.rating_histogram(ratings, 5, mask=mask))
    np.testing.assert_array_equal(ej.streaming_rating_entropy(chunks, 5, chunk_rows=chunk_rows),
                                  ej.rating_entropy(ratings, 5, mask=mask))
    scores = ratings.astype(np.float32) / 4
    composite = np.ma.concatenate(list(iter_composite_scores(
        [(scores[a:b], mask[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)], W3,
        chunk_rows=chunk_rows, missing="null")))
    whole = next(iter_composite_scores([(scores, mask)], W3, chunk_rows=n, missing="null"))
    np.testing.assert_array_equal(np.ma.getmaskarray(composite), ~mask.all(axis=1))
    # Each row is the same K-term float32 dot product whatever the chunk shape; should the
    # kernel sum in another order, two orders differ by at most 2 K u sum_k |w_k s_k|.
    bound = 2 * 3 * U32 * (np.abs(scores) @ np.abs(W3.astype(np.float64)))
    assert np.all(np.abs(np.ma.getdata(composite) - np.ma.getdata(whole)) <= bound)



# ------------------------------------------------------------------------------------------
# The command line interrupted midway leaves no partial output
# ------------------------------------------------------------------------------------------


def test_compose_interrupted_midway_leaves_no_partial_output(tmp_path: Path) -> None:
    """`encore-jax compose` over 200k rows in chunks of 100 (2000 chunks), stopped as soon as
    its staged output file has data: SIGINT (Ctrl-C) leaves nothing at all behind; SIGKILL,
    which nothing can clean up after, leaves no --out file either, only the hidden staging
    file ``.<name>.<random>.partial<suffix>`` (never a truncated file under the --out name)."""
    rows = np.random.default_rng(0).integers(0, 5, (200_000, 2))
    source = tmp_path / "big.csv"
    source.write_text("a,b\n" + "\n".join(f"{a},{b}" for a, b in rows.tolist()) + "\n")
    weights = weights_json(tmp_path, HALVES)
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    procs = {}
    for sig in (signal.SIGINT, signal.SIGKILL):
        out = tmp_path / f"out_{sig.name}.csv"
        procs[sig] = (out, subprocess.Popen(
            [sys.executable, "-m", "encore_jax.cli", "compose", str(source), "--weights",
             str(weights), "--out", str(out), "--chunk-rows", "100"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    for sig, (out, proc) in procs.items():
        staged = f".{out.name}."
        deadline = time.monotonic() + 120
        while not any(p.name.startswith(staged) and p.stat().st_size > 0
                      for p in tmp_path.iterdir()):
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "compose never started writing"
            time.sleep(0.005)
        proc.send_signal(sig)
    for sig, (out, proc) in procs.items():
        _, err = proc.communicate(timeout=120)
        assert proc.returncode != 0, "finished before the signal: make the input larger"
        assert not out.exists() and not sidecar_path(out).exists()
        left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}."))
        if sig == signal.SIGINT:  # one line, exit 130, no traceback (issue 20)
            assert proc.returncode == 130 and err.decode().count("\n") == 1, err.decode()
            assert left == []
        else:
            assert len(left) == 1 and left[0].endswith(".partial.csv"), left


# ------------------------------------------------------------------------------------------
# Real files in (issue 20): long cells and multi-line text, marker columns, booleans, mixed
# schemas, --mask-value nan, NPZ bombs, deep JSON, named rules on pair files
# ------------------------------------------------------------------------------------------


def plugin_entropies_of(levels: np.ndarray, num_levels: int) -> np.ndarray:
    """The oracle: plug-in entropy (nats) of each column of ``levels`` ``[N, K]`` (SciPy)."""
    return np.array([scipy.stats.entropy(np.bincount(column, minlength=num_levels))
                     for column in levels.T])


def level_counts_of(levels: np.ndarray, num_levels: int) -> np.ndarray:
    """The oracle: ``[K, L]`` counts of each level in each column (NumPy)."""
    return np.stack([np.bincount(column, minlength=num_levels) for column in levels.T])


def multiline_csv(path: Path, levels: np.ndarray, *, long_row: int, long_bytes: int) -> None:
    """A CSV of three-line quoted prompts (with commas and doubled quotes) beside ``levels``;
    row ``long_row``'s prompt is about ``long_bytes`` long, all newlines."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prompt", *(f"r{k}" for k in range(levels.shape[1]))])
        for i, row in enumerate(levels.tolist()):
            text = (f"question {i}\nwith a comma, and \"quotes\"\nthird line" if i != long_row
                    else "x\n" * (long_bytes // 2))
            writer.writerow([text, *row])


@pytest.fixture(scope="module")
def long_text_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    """A 3 MB CSV of multi-line prompts with one 1 MB cell, and a JSONL with a 1 MB line."""
    tmp = tmp_path_factory.mktemp("long_text")
    levels = np.random.default_rng(20).integers(0, 5, (40_000, 3))
    multiline_csv(tmp / "long.csv", levels, long_row=7, long_bytes=1 << 20)
    with (tmp / "long.jsonl").open("w", encoding="utf-8") as handle:
        for i, row in enumerate(levels[:2000].tolist()):
            prompt = "y" * (1 << 20) if i == 3 else f"line {i}\nnext"
            handle.write(json.dumps({"prompt": prompt, "r0": row[0], "r1": row[1],
                                     "r2": row[2]}) + "\n")
    return tmp / "long.csv", tmp / "long.jsonl", levels


@pytest.mark.parametrize("streamed", [False, True])
def test_io_long_cells_and_multiline_text(long_text_files: tuple[Path, Path, np.ndarray],
                                          streamed: bool,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (issue 20): a CSV whose prompts hold quoted newlines was refused past about
    1 MB, a cell of about 200 KB failed with Arrow's "straddling object". Read whole (files up
    to 64 MiB) and streamed (forced here, with 64 KiB first blocks so that the 1 MB cell
    makes the block grow), the entropies equal SciPy's over the generated levels."""
    import encore_jax.io.chunks as chunks_module
    import encore_jax.io.formats as formats_module
    from encore_jax.io.chunks import iter_rating_chunks
    from encore_jax.workflows.file_weights import file_entropies

    csv_path, jsonl_path, levels = long_text_files
    if streamed:
        monkeypatch.setattr(chunks_module, "SMALL_TEXT_BYTES", 0)
        monkeypatch.setattr(formats_module, "_BLOCK_BYTES", 1 << 16)
    result = file_entropies(csv_path, 5, chunk_rows=8192)
    np.testing.assert_array_equal(result.counts.counts, level_counts_of(levels, 5))
    # The entropy is a float32 sum of L = 5 terms -p log p: each term is within a few u of
    # exact and the sum adds L - 1 roundings, so 16 u relative is a safe bound.
    np.testing.assert_allclose(result.entropies, plugin_entropies_of(levels, 5), rtol=16 * U32)
    assert result.counts.num_rows == levels.shape[0]
    tables = list(iter_rating_chunks(csv_path, chunk_rows=16_384, text_columns=["prompt"]))
    prompts = np.concatenate([t.text["prompt"] for t in tables])
    assert prompts[7] == "x\n" * (1 << 19) and prompts[8].count("\n") == 2
    np.testing.assert_array_equal(np.concatenate([t.ratings for t in tables]), levels)
    jsonl = file_entropies(jsonl_path, 5, chunk_rows=512, exclude=["prompt"])
    np.testing.assert_array_equal(jsonl.counts.counts, level_counts_of(levels[:2000], 5))
    np.testing.assert_allclose(jsonl.entropies, plugin_entropies_of(levels[:2000], 5),
                               rtol=16 * U32)


def test_io_row_longer_than_the_largest_block_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A row longer than MAX_BLOCK_BYTES (lowered here to 256 KiB) is an error naming the
    file and the limit, not Arrow's message."""
    import encore_jax.io.formats as formats_module
    from encore_jax.io.readers import read_ratings

    monkeypatch.setattr(formats_module, "MAX_BLOCK_BYTES", 1 << 18)
    path = file(tmp_path, "huge.csv", 'p,a\n"' + "z" * (1 << 19) + '",1\nq,2\n')
    with pytest.raises(DataError, match=r"huge\.csv: a row longer than 0 MiB.*MAX_BLOCK_BYTES"):
        read_ratings(path)


def test_io_marker_columns_are_errors_naming_column_and_marker(tmp_path: Path) -> None:
    """Regression (issue 20): a rating column whose first rows are mostly a marker such as
    ``-`` was inferred as text and dropped without a word. Now: an error naming the column and
    the marker, whether the marker leads (CSV head), comes later (CSV body) or is a JSON
    string; naming the column as text keeps it as text."""
    from encore_jax.io.readers import read_ratings

    lead = "a,b\n" + "".join(f"-,{i % 3}\n" for i in range(40)) + "1,2\n2,1\n"
    with pytest.raises(DataError, match=r"row 2, column 'a': '-' in a column of numbers"):
        read_ratings(file(tmp_path, "lead.csv", lead))
    only = "a,b\n" + "".join(f"n/a,{i % 3}\n" for i in range(5))
    with pytest.raises(DataError, match=r"row 2, column 'a': 'n/a' is not a number"):
        read_ratings(file(tmp_path, "only.csv", only))
    late = "a,b\n" + "".join(f"{i % 3},{i % 2}\n" for i in range(3000)) + "NA,1\n"
    with pytest.raises(DataError, match=r"row 3002, column 'a': 'NA' is not a number"):
        read_ratings(file(tmp_path, "late.csv", late))
    jsonl = '{"a": 1, "b": 0}\n{"a": "-", "b": 1}\n'
    with pytest.raises(DataError, match=r"line 2, column 'a': '-' is not a number"):
        read_ratings(file(tmp_path, "m.jsonl", jsonl))
    kept = read_ratings(tmp_path / "lead.csv", text_columns=["a"])
    assert kept.rule_names == ("b",) and kept.text["a"][0] == "-"


def test_io_csv_booleans_read_as_0_1_as_in_parquet_and_jsonl(tmp_path: Path) -> None:
    """Regression (issue 20): CSV ``true``/``false`` columns were refused while the same
    booleans in parquet and JSONL read as 0/1. A column mixing them with levels reads too."""
    from encore_jax.io.readers import read_ratings

    flags = [True, False, True, True]
    csv_table = read_ratings(file(tmp_path, "b.csv", "a,b\n" + "".join(
        f"{str(f).lower()},{i % 2}\n" for i, f in enumerate(flags))))
    pq.write_table(pa.table({"a": flags, "b": [i % 2 for i in range(4)]}), tmp_path / "b.parquet")
    jsonl = "".join(json.dumps({"a": f, "b": i % 2}) + "\n" for i, f in enumerate(flags))
    for other in (read_ratings(tmp_path / "b.parquet"),
                  read_ratings(file(tmp_path, "b.jsonl", jsonl))):
        np.testing.assert_array_equal(csv_table.ratings, other.ratings)
    np.testing.assert_array_equal(csv_table.ratings[:, 0], [1, 0, 1, 1])
    mixed = read_ratings(file(tmp_path, "mixed.csv", "a\nTRUE\nfalse\n2\n"))
    np.testing.assert_array_equal(mixed.ratings[:, 0], [1, 0, 2])


def test_io_parquet_directory_with_different_columns_is_an_error(tmp_path: Path) -> None:
    """Regression (issue 20): a parquet directory whose files had different columns
    silently ignored the later files' columns. Now an error naming both files and columns;
    the same columns in another order read as one table."""
    from encore_jax.io.readers import read_ratings

    (tmp_path / "d").mkdir()
    pq.write_table(pa.table({"a": [1, 2], "b": [0, 1]}), tmp_path / "d" / "p1.parquet")
    pq.write_table(pa.table({"a": [1, 2], "c": [0, 1]}), tmp_path / "d" / "p2.parquet")
    with pytest.raises(DataError, match=r"p1\.parquet and p2\.parquet hold different columns "
                       r"\(only in the first: \['b'\]; only in the other: \['c'\]\)"):
        read_ratings(tmp_path / "d")
    (tmp_path / "d" / "p2.parquet").unlink()
    pq.write_table(pa.table({"b": [2, 2], "a": [0, 0]}), tmp_path / "d" / "p2.parquet")
    table = read_ratings(tmp_path / "d")
    assert sorted(map(tuple, table.ratings.tolist())) == [(0, 2), (0, 2), (1, 0), (2, 1)]


def strict_json(path: Path) -> Any:
    """``path`` parsed as standard JSON (NaN / Infinity literals refused)."""
    def refuse(literal: str) -> Any:
        raise ValueError(f"{path}: non-standard JSON literal {literal}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def test_io_mask_value_nan_end_to_end(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Regression (issue 20): ``--mask-value nan`` was accepted by the reader, then broke the
    JSON writer. ``weights`` and ``compose`` now run; every JSON they write is standard JSON
    with the mask value as the string "NaN"; entropies and composites match NumPy with the
    NaN cells left out."""
    values = np.array([[0, 1], [2, np.nan], [1, 2], [np.nan, 0], [2, 2]])
    path = file(tmp_path, "n.csv", "a,b\n" + "".join(
        ",".join("nan" if np.isnan(v) else str(int(v)) for v in row) + "\n" for row in values))
    code, _, err, _ = run_command(["weights", path, "--levels", "3", "--mask-value", "nan",
                                   "--out", tmp_path / "w.json"], capsys)
    assert code == 0, err
    document = strict_json(tmp_path / "w.json")
    assert document["metadata"]["mask_value"] == "NaN"
    expected = [scipy.stats.entropy(np.bincount(c[~np.isnan(c)].astype(int), minlength=3))
                for c in values.T]
    np.testing.assert_allclose(document["entropies"], expected, rtol=1e-6)
    code, _, err, _ = run_command(["compose", path, "--weights", tmp_path / "w.json",
                                   "--mask-value", "nan", "--out", tmp_path / "c.csv"], capsys)
    assert code == 0, err
    assert strict_json(tmp_path / "c.csv.meta.json")["mask_value"] == "NaN"
    from pyarrow import csv as pacsv

    # Regression: a null composite alone on its row was a blank line, which readers skip.
    column = pacsv.read_csv(tmp_path / "c.csv")["composite"]
    composite = column.to_numpy(zero_copy_only=False).astype(np.float64)
    oracle = values @ np.asarray(document["weights"])
    np.testing.assert_array_equal(np.isnan(composite), np.isnan(oracle))
    np.testing.assert_allclose(composite[~np.isnan(oracle)], oracle[~np.isnan(oracle)],
                               rtol=1e-6)


def test_io_npz_bombs_and_foreign_members(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (issue 20): an NPZ of 1.9 MB that inflated past 3 GB, and one with a member
    that is not ``.npy``, ended in tracebacks. The archive's directory and ``.npy`` headers
    are checked before anything loads: declared sizes over MAX_NPZ_BYTES (lowered here to
    1 MiB; 2 GiB by default), a foreign member, and a header whose shape does not fit in its
    member are one-line errors. (The 3.2 GB case, 3.1 MB on disk, is refused the same way.)"""
    import io
    import zipfile

    import encore_jax.io.npz as npz_module
    from encore_jax.io.readers import read_ratings

    monkeypatch.setattr(npz_module, "MAX_NPZ_BYTES", 1 << 20)
    np.savez_compressed(tmp_path / "bomb.npz", ratings=np.zeros((4096, 1024), np.int8))
    assert (tmp_path / "bomb.npz").stat().st_size < 20_000
    with pytest.raises(DataError, match=r"bomb\.npz: its members declare 4194\d+ bytes "
                       r"uncompressed, over the NPZ limit of 1048576 bytes"):
        read_ratings(tmp_path / "bomb.npz")
    with zipfile.ZipFile(tmp_path / "foreign.npz", "w") as archive:
        buffer = io.BytesIO()
        np.save(buffer, np.zeros((2, 2), np.int8))
        archive.writestr("ratings.npy", buffer.getvalue())
        archive.writestr("run.py", "print('hi')")
    with pytest.raises(DataError, match=r"member 'run\.py' is not a \.npy array"):
        read_ratings(tmp_path / "foreign.npz")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**9, 10)})
    with zipfile.ZipFile(tmp_path / "liar.npz", "w") as archive:
        archive.writestr("ratings.npy", header.getvalue() + b"\0" * 64)
    with pytest.raises(DataError, match=r"member 'ratings\.npy' declares shape "
                       r"\(1000000000, 10\) \(80000000000 bytes\)"):
        read_ratings(tmp_path / "liar.npz")
    np.savez(tmp_path / "fine.npz", ratings=np.array([[0, 1], [2, 1]]))
    np.testing.assert_array_equal(read_ratings(tmp_path / "fine.npz").ratings, [[0, 1], [2, 1]])


def test_io_weights_json_depth_is_checked_before_parsing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Regression (issue 20): a deeply nested weights JSON ended in a RecursionError
    traceback. Depth is counted before parsing (brackets inside strings do not count)."""
    from encore_jax.io.writers import MAX_JSON_DEPTH, check_json_depth, read_weights_json

    deep = weights_json(tmp_path, '{"rules": ["a"], "weights": [1], "x": '
                        + "[" * 200_000 + "]" * 200_000 + "}", name="deep.json")
    with pytest.raises(DataError, match=r"deep\.json: JSON nested 200001 levels deep; a "
                       rf"weights file holds at most {MAX_JSON_DEPTH}"):
        read_weights_json(deep)
    check_json_depth('{"a": "[[[[\\"{{{{", "b": [[1]]}', "x", limit=3)
    with pytest.raises(DataError, match="nested 4 levels"):
        check_json_depth('{"a": [[[1]]]}', "x", limit=3)
    path = ratings_file(tmp_path)
    code, _, err, _ = run_command(["compose", path, "--weights", deep, "--out",
                                   tmp_path / "o.csv"], capsys)
    assert code == 2 and err.count("\n") == 1 and "nested 200001 levels" in err, err


@pytest.fixture(scope="module")
def named_pair_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Pairs in the Hugging Face layout: rule scores in a list column per side (named only
    by --list-names) and the same scores in a struct column per side (named by its fields)."""
    tmp = tmp_path_factory.mktemp("named_pairs")
    rng = np.random.default_rng(4)
    names = ["harmless", "honest", "polite", "safe"]
    chosen, rejected = rng.integers(0, 4, (64, 4)) / 3, rng.integers(0, 4, (64, 4)) / 3
    text = {"prompt": [f"q{i}" for i in range(64)], "chosen": [f"A{i}" for i in range(64)],
            "rejected": [f"B{i}" for i in range(64)]}
    pq.write_table(pa.table({**text, "chosen_scores": chosen.tolist(),
                             "rejected_scores": rejected.tolist()}), tmp / "lists.parquet")

    def struct(values: np.ndarray) -> Any:
        return pa.array([dict(zip(names, row, strict=True)) for row in values.tolist()])

    pq.write_table(pa.table({**text, "chosen_rules": struct(chosen),
                             "rejected_rules": struct(rejected)}), tmp / "structs.parquet")
    return {"dir": tmp, "names": names, "chosen": chosen, "rejected": rejected}


@pytest.mark.parametrize("layout", ["lists", "structs"])
def test_io_named_rules_on_pair_files(named_pair_files: dict[str, Any], layout: str,
                                      tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Regression (issue 20): a weights file written from a pairs file with --list-names or
    struct fields could not compose or label that file (``no column 'chosen_harmless' for
    rule 'harmless'``). Now both run without extra options; the margins equal
    ``w . (chosen - rejected)`` in NumPy and label's ``a_preferred`` is the margin's sign."""
    source = named_pair_files["dir"] / f"{layout}.parquet"
    names = named_pair_files["names"]
    extra = ["--list-names", "scores=" + ",".join(names)] if layout == "lists" else []
    code, _, err, _ = run_command(["weights", source, "--layout", "pairs", "--bin-range", 0, 1,
                                   "--levels", 4, "--out", tmp_path / "w.json", *extra], capsys)
    assert code == 0, err
    weights = json.loads((tmp_path / "w.json").read_text())
    assert weights["rules"] == names
    w = np.asarray(weights["weights"])
    code, _, err, _ = run_command(["compose", source, "--layout", "pairs", "--weights",
                                   tmp_path / "w.json", "--out", tmp_path / "m.parquet"], capsys)
    assert code == 0, err
    margins = pq.read_table(tmp_path / "m.parquet")["margin"].to_numpy()
    oracle = (named_pair_files["chosen"] - named_pair_files["rejected"]) @ w
    np.testing.assert_allclose(margins, oracle, atol=4 * 4 * 2.0**-24)
    code, _, err, _ = run_command(["label", source, "--weights", tmp_path / "w.json",
                                   "--selection", "all", "--ties", "drop",
                                   "--out", tmp_path / "l.parquet"], capsys)
    assert code == 0, err
    labels = pq.read_table(tmp_path / "l.parquet").to_pydict()
    decided = np.abs(oracle) > 1e-5
    np.testing.assert_array_equal(np.asarray(labels["a_preferred"])[decided], oracle[decided] > 0)


def test_io_exclude_means_the_same_on_pair_files(tmp_path: Path) -> None:
    """Regression (issue 20): ``diagnose --exclude`` was silently ignored on pairs files.
    ``exclude`` takes a base ``x`` or either of ``chosen_x`` / ``rejected_x`` (both sides go),
    in the pairs reader, the pair stream and the diagnose chunk reader alike."""
    from encore_jax.io.pair_stream import iter_pair_tables
    from encore_jax.io.readers import read_rating_pairs
    from encore_jax.workflows.pair_chunks import iter_pair_chunks

    path = file(tmp_path, "p.csv", "chosen_a,chosen_b,chosen_c,rejected_a,rejected_b,"
                "rejected_c\n0,1,2,1,1,0\n2,0,1,0,2,2\n")
    for exclude in (["b"], ["chosen_b"], ["rejected_b"], ["chosen_b", "rejected_b"]):
        pairs = read_rating_pairs(path, exclude=exclude)
        assert pairs.rule_names == ("a", "c"), exclude
        np.testing.assert_array_equal(pairs.chosen, [[0, 2], [2, 1]])
        assert next(iter_pair_tables(path, exclude=exclude)).rule_names == ("a", "c")
        names, chunks = iter_pair_chunks(path, 3, chunk_rows=8, exclude=exclude)
        assert names == ("a", "c")
        np.testing.assert_array_equal(next(chunks).rejected, [[1, 0], [0, 2]])
    with pytest.raises(DataError, match=r"no column 'z'"):
        read_rating_pairs(path, exclude=["z"])
# The command line's safety rails (issue 20): same-path outputs, integer overflow, the
# --resamples memory check, signals
# ------------------------------------------------------------------------------------------

BIG = 2**63  # one past the largest --seed
INT32_PAST = 2**31  # one past the largest count / int32


def linked(tmp: Path, name: str, target: Path, *, hard: bool = False) -> Path:
    """``name`` in ``tmp`` as a symbolic (or hard) link to ``target``."""
    path = tmp / name
    if hard:
        os.link(target, path)
    else:
        path.symlink_to(target.name)
    return path


def parquet_dir(tmp: Path) -> Path:
    directory = tmp / "d"
    directory.mkdir()
    pq.write_table(pa.table({"a": [0, 1, 2, 0], "b": [1, 2, 0, 0]}), directory / "part.parquet")
    return directory


SAME = "is the input .*; an output never replaces an input"
PAIRS_WITH_MARGIN_CSV = "".join(line + (",margin" if i == 0 else ",m") + "\n"
                                for i, line in enumerate(PAIRS_CSV.splitlines()))
CLI_SAFETY_ROWS = [
    Row("encore-jax weights", "--out is FILE, with --force (regression)",
        lambda t: ["weights", ratings_file(t), "--levels", "3", "--out", t / "r.csv",
                   "--force"], Exits(r"--out .*r\.csv " + SAME)),
    Row("encore-jax weights", "--trl is a symbolic link to FILE (regression)",
        lambda t: ["weights", ratings_file(t), "--levels", "3", "--trl",
                   linked(t, "o.json", t / "r.csv"), "--force"], Exits("--trl .*" + SAME)),
    Row("encore-jax entropy", "--out is a hard link to FILE",
        lambda t: ["entropy", ratings_file(t), "--levels", "3", "--out",
                   linked(t, "o.json", ratings_file(t), hard=True), "--force"],
        Exits("--out .*" + SAME)),
    Row("encore-jax fit-bt", "--out is FILE, with --force (regression)",
        lambda t: ["fit-bt", file(t, "p.csv", PAIRS_CSV), "--out", t / "p.csv", "--force"],
        Exits("--out .*" + SAME)),
    Row("encore-jax label", "--out is FILE, with --force (regression)",
        lambda t: ["label", file(t, "p.csv", PAIRS_CSV), "--out", t / "p.csv", "--force"],
        Exits("--out .*" + SAME)),
    Row("encore-jax label", "--out and --export-preference on one path (regression)",
        lambda t: ["label", file(t, "p.csv", PAIRS_CSV), "--out", t / "o.csv",
                   "--export-preference", t / "." / "o.csv"],
        Exits("--export-preference .*o.csv and --out .*o.csv name the same file")),
    Row("encore-jax label", "--export-preference is --out's metadata sidecar",
        lambda t: ["label", file(t, "p.csv", PAIRS_CSV), "--out", t / "o.csv",
                   "--export-preference", t / "o.csv.meta.json"],
        Exits("--out's metadata sidecar .* name the same file")),
    Row("encore-jax label", "an output column already in the input (regression)",
        lambda t: ["label", file(t, "p.csv", PAIRS_WITH_MARGIN_CSV), "--out", t / "o.csv"],
        Exits("already has column\\(s\\) 'margin'.*--label-prefix")),
    Row("encore-jax compose", "--out inside the input parquet directory",
        lambda t: ["compose", parquet_dir(t), "--levels", "3", "--out",
                   t / "d" / "o.parquet"], Exits("--out .*is inside the input FILE")),
    Row("encore-jax compose", "--weights is --out's metadata sidecar",
        lambda t: ["compose", ratings_file(t), "--weights", weights_json(
            t, '{"rules": ["a", "b"], "weights": [0.5, 0.5]}', "o.csv.meta.json"),
            "--out", t / "o.csv", "--force"],
        Exits("--out's metadata sidecar .* is the input --weights")),
    Row("encore-jax compare", "--out is --train",
        lambda t: ["compare", file(t, "p.csv", PAIRS_CSV), "--levels", "3", "--train",
                   file(t, "q.csv", PAIRS_CSV), "--out", t / "q.csv", "--force"],
        Exits("--out .*q.csv is the input --train")),
    Row("encore-jax weights", "--levels 2**31 (regression)",
        lambda t: ["weights", ratings_file(t), "--levels", INT32_PAST],
        Exits("argument --levels: must be <= 65536, got 2147483648")),
    Row("encore-jax entropy", "--level-offset 2**31 (regression)",
        lambda t: ["entropy", ratings_file(t), "--levels", "3", "--level-offset", INT32_PAST],
        Exits("argument --level-offset: must be <= 16777216, got 2147483648")),
    Row("encore-jax label", "--seed 2**63 (regression)",
        lambda t: ["label", file(t, "p.csv", PAIRS_CSV), "--out", t / "o.csv", "--seed", BIG],
        Exits(f"argument --seed: must be <= {BIG - 1}, got {BIG}")),
    Row("encore-jax diagnose", "--seed 2**63 (regression)",
        lambda t: ["diagnose", file(t, "p.csv", PAIRS_CSV), "--levels", "3", "--seed", BIG],
        Exits(f"argument --seed: must be <= {BIG - 1}")),
    Row("encore-jax compare", "--seed -1",
        lambda t: ["compare", file(t, "p.csv", PAIRS_CSV), "--levels", "3", "--seed", "-1"],
        Exits("argument --seed: must be >= 0, got -1")),
    Row("encore-jax compare", "--resamples 2**31",
        lambda t: ["compare", file(t, "p.csv", PAIRS_CSV), "--levels", "3", "--resamples",
                   INT32_PAST], Exits("argument --resamples: must be <= 2147483647")),
    Row("encore-jax diagnose", "--resamples past the memory (regression: MemoryError)",
        lambda t: ["diagnose", file(t, "p.csv", PAIRS_CSV), "--levels", "3", "--resamples",
                   INT32_PAST - 1],
        Exits(r"--resamples 2147483647 needs about .* GiB for the bootstrap .* use "
              r"--resamples \d+ or fewer")),
    Row("encore-jax compare", "--resamples past the memory (regression: MemoryError)",
        lambda t: ["compare", file(t, "p.csv", PAIRS_CSV), "--levels", "3", "--resamples",
                   INT32_PAST - 1], Exits(r"use --resamples \d+ or fewer")),
    Row("encore-jax demo", "--resamples past the memory",
        lambda t: ["demo", "--no-figures", "--resamples", INT32_PAST - 1],
        Exits(r"--resamples 2147483647 needs about .* use --resamples \d+ or fewer")),
]


@pytest.mark.parametrize("row", CLI_SAFETY_ROWS, ids=[row.id for row in CLI_SAFETY_ROWS])
def test_cli_safety_rows(row: Row, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Rows as in ``TABLE``; a refused command also leaves every input byte unchanged."""
    def contents() -> dict[str, bytes]:
        return {str(p): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    argv = row.call(tmp_path)
    before = contents()
    row = row._replace(call=lambda _t: argv)
    test_reliability_table(row, tmp_path, capsys)
    assert contents() == before


def test_compose_stopped_by_sigterm_exits_143_in_one_line_and_leaves_nothing(
        tmp_path: Path) -> None:
    """`kill` / `timeout` (SIGTERM) during compose's write: exit 143, one line on stderr
    (no traceback), no --out, no sidecar and no hidden staging file (regression: 54 MB left)."""
    rows = np.random.default_rng(1).integers(0, 5, (200_000, 2))
    source = tmp_path / "big.csv"
    source.write_text("a,b\n" + "\n".join(f"{a},{b}" for a, b in rows.tolist()) + "\n")
    weights = weights_json(tmp_path, HALVES)
    out = tmp_path / "out.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "encore_jax.cli", "compose", str(source), "--weights",
         str(weights), "--out", str(out), "--chunk-rows", "100"],
        env={**os.environ, "JAX_PLATFORMS": "cpu"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".out.csv.") and p.stat().st_size > 0
                  for p in tmp_path.iterdir()):
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "compose never started writing"
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    text = err.decode()
    assert proc.returncode == 143, text
    assert text.splitlines() == ["encore-jax compose: terminated (SIGTERM); no partial output "
                                 "was left"], text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv", "w.json"]
