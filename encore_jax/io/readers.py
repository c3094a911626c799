"""The public in-memory readers: ratings, scores and pairs from a file, a directory or a table.

Every reader takes the same column options (see :mod:`encore_jax.io.layouts`) and the one
missing-value policy ``missing`` (see :mod:`encore_jax.io.missing`), and reports what that
policy did in the ``missing`` field of its result. Wide and long tables are read by
:mod:`encore_jax.io.chunks`, pairs by :mod:`encore_jax.io.pairs`; the ``"pairs"`` layout of
:func:`read_ratings` pools a pairs file's two responses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from encore_jax.io.chunks import _read, _with_column_doc, check_options
from encore_jax.io.missing import DEFAULT_MISSING
from encore_jax.io.pairs import read_pairs
from encore_jax.io.tables import PairTable, RatingTable, ScoreTable, pooled_pair_table

__all__ = ["read_rating_pairs", "read_ratings", "read_score_pairs", "read_scores"]


def _read_any(data: Any, kind: str, *, layout: str, pool: str | None, chosen_prefix: str,
              rejected_prefix: str, **options: Any) -> RatingTable | ScoreTable:
    """A wide or long table (:mod:`encore_jax.io.chunks`), or a pairs file's two responses
    pooled as ``2N`` rows, chosen first."""
    if layout != "pairs":
        return _read(data, kind, layout=layout, pool=pool, chosen_prefix=chosen_prefix,
                     rejected_prefix=rejected_prefix, **options)
    if pool is not None:
        raise ValueError("pool applies to the long layout (several ratings of one response "
                         "and rule); pass layout='long'")
    options.pop("rule_column")
    options.pop("rating_column")
    options["bin_range"] = check_options(1, options.get("num_levels"), options.get("bin_range"))
    pairs = read_pairs(data, kind, chosen_prefix=chosen_prefix, rejected_prefix=rejected_prefix,
                       **options)
    return pooled_pair_table(pairs)


def read_ratings(
    data: Any,
    *,
    mask_value: float | None = None,
    layout: str = "wide",
    rule_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    text_columns: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    list_names: Mapping[str, Sequence[str]] | None = None,
    rule_column: str = "rule",
    rating_column: str = "rating",
    pool: str | None = None,
    chosen_prefix: str = "chosen_",
    rejected_prefix: str = "rejected_",
    num_levels: int | None = None,
    bin_range: tuple[float, float] | None = None,
    level_offset: int = 0,
    missing: str = DEFAULT_MISSING,
    file_format: str | None = None,
) -> RatingTable:
    """Reads integer ratings (or scores binned into levels) into memory.

    Args:
      data: a path or an in-memory table (see :func:`iter_rating_chunks`).
      layout: ``"wide"`` (one row per response), ``"long"`` (one row per rating:
        ``id_column, rule_column, rating_column``) or ``"pairs"`` (a pairs file; the chosen
        and rejected ratings pooled as ``2N`` responses, chosen first).
      rule_column, rating_column: the long layout's rule-name and rating columns.
      pool: long layout: ``"mean"``, ``"median"`` or ``"majority"`` pools several
        annotators' ratings of one (response, rule); ``None``: a repeat is an error.
      chosen_prefix, rejected_prefix: the pairs layout's column prefixes.
      num_levels, bin_range, level_offset: as :func:`iter_rating_chunks`.
      {columns}

    Returns:
      A :class:`RatingTable` (``missing`` says what the missing-value policy did).

    Raises:
      DataError: a missing, empty or malformed input, a non-integer rating, a duplicate rule
        name or (long, without ``pool``) a repeated rating; the message names the file, row
        and column, and the fix.
    """
    return _read_any(data, "ratings", mask_value=mask_value, layout=layout,
                 rule_columns=rule_columns, id_column=id_column, text_columns=text_columns,
                 exclude=exclude, list_names=list_names, rule_column=rule_column,
                 rating_column=rating_column, pool=pool, chosen_prefix=chosen_prefix,
                 rejected_prefix=rejected_prefix, num_levels=num_levels, bin_range=bin_range,
                 level_offset=level_offset, missing=missing, file_format=file_format)


_with_column_doc(read_ratings)


def read_scores(
    data: Any,
    *,
    mask_value: float | None = None,
    layout: str = "wide",
    rule_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    text_columns: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    list_names: Mapping[str, Sequence[str]] | None = None,
    rule_column: str = "rule",
    rating_column: str = "rating",
    pool: str | None = None,
    chosen_prefix: str = "chosen_",
    rejected_prefix: str = "rejected_",
    missing: str = DEFAULT_MISSING,
    file_format: str | None = None,
) -> ScoreTable:
    """Reads real-valued per-rule scores into memory; options as :func:`read_ratings`."""
    return _read_any(data, "scores", mask_value=mask_value, layout=layout,
                 rule_columns=rule_columns, id_column=id_column, text_columns=text_columns,
                 exclude=exclude, list_names=list_names, rule_column=rule_column,
                 rating_column=rating_column, pool=pool, chosen_prefix=chosen_prefix,
                 rejected_prefix=rejected_prefix, num_levels=None, bin_range=None,
                 level_offset=0, missing=missing, file_format=file_format)


def read_rating_pairs(data: Any, **options: Any) -> PairTable:
    """Reads preference pairs as two ``int32`` rating blocks; see
    :func:`encore_jax.io.pairs.read_pairs` for the layouts and options."""
    return read_pairs(data, "ratings", **options)


def read_score_pairs(data: Any, **options: Any) -> PairTable:
    """As :func:`read_rating_pairs`, keeping real-valued scores (``float64`` blocks)."""
    options.pop("num_levels", None)
    options.pop("bin_range", None)
    return read_pairs(data, "scores", **options)
