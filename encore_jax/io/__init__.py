"""The I/O layer: Arrow readers and writers, atomic writes, progress.

Layers: core array functions (entropy, weights, compose, ...) <- ``encore_jax.io`` <-
workflows <- cli. Nothing here imports a workflow or the CLI; pyarrow is imported when data
is read or written, never at ``import encore_jax``.

Files: :mod:`~encore_jax.io.formats` (formats and in-memory tables as Arrow record batches),
:mod:`~encore_jax.io.layouts` (which columns are rules; batch -> ``[n, K]``),
:mod:`~encore_jax.io.long` (long layout, pooling annotators), :mod:`~encore_jax.io.pairs`,
:mod:`~encore_jax.io.missing` (the one missing-value policy), :mod:`~encore_jax.io.chunks`
(wide and long tables, streamed), :mod:`~encore_jax.io.readers`
(the public readers), :mod:`~encore_jax.io.writers`, :mod:`~encore_jax.io.atomic`,
:mod:`~encore_jax.io.progress`, :mod:`~encore_jax.io.tables` (result types, ``DataError``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from encore_jax.io.atomic import atomic_write, atomic_write_all
from encore_jax.io.chunks import LAYOUTS, count_rows, iter_rating_chunks, iter_score_chunks
from encore_jax.io.formats import DEFAULT_CHUNK_ROWS, FORMATS, detect_format, open_source
from encore_jax.io.long import POOLS
from encore_jax.io.missing import DEFAULT_MISSING, MISSING_POLICIES
from encore_jax.io.readers import read_rating_pairs, read_ratings, read_score_pairs, read_scores
from encore_jax.io.tables import (
    DataError,
    MissingCounts,
    PairTable,
    RatingTable,
    ScoreTable,
    WeightsFile,
    pooled_pair_table,
)
from encore_jax.io.writers import (
    METADATA_KEY,
    WEIGHTS_FORMAT,
    TableWriter,
    embeds_metadata,
    output_metadata,
    read_metadata,
    read_weights_json,
    sidecar_path,
    trl_reward_config,
    weights_document,
    write_json,
    write_ratings,
    write_table,
    write_weights_json,
)

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "DEFAULT_MISSING",
    "FORMATS",
    "LAYOUTS",
    "METADATA_KEY",
    "MISSING_POLICIES",
    "POOLS",
    "WEIGHTS_FORMAT",
    "DataError",
    "MissingCounts",
    "PairTable",
    "RatingTable",
    "ScoreTable",
    "TableWriter",
    "WeightsFile",
    "atomic_write",
    "atomic_write_all",
    "count_rows",
    "detect_format",
    "embeds_metadata",
    "example_ratings_path",
    "iter_rating_chunks",
    "iter_score_chunks",
    "open_source",
    "output_metadata",
    "pooled_pair_table",
    "read_metadata",
    "read_rating_pairs",
    "read_ratings",
    "read_score_pairs",
    "read_scores",
    "read_weights_json",
    "sidecar_path",
    "trl_reward_config",
    "weights_document",
    "write_json",
    "write_ratings",
    "write_table",
    "write_weights_json",
]


def example_ratings_path() -> Path:
    """The small demo data set that ships with the package (10 rules, 5 levels)."""
    return Path(str(resources.files("encore_jax") / "examples" / "demo_ratings.csv"))
