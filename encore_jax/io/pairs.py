"""Preference pairs: two rating blocks per pair.

Two ways to lay pairs out:

* one row per pair, columns ``<chosen_prefix><x>`` and ``<rejected_prefix><x>`` (each ``x`` a
  number, list or struct column, see :mod:`encore_jax.io.layouts`); an NPZ holds ``chosen``
  and ``rejected`` ``[N, K]`` arrays (the prefixes without ``_``), optional ``chosen_mask``,
  ``rejected_mask`` and ``rule_names``;
* ``pair_index``: a per-response ratings table (wide with an id column, or long) and a table
  of ``chosen_id, rejected_id`` rows naming the two responses of each pair.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from encore_jax.io.formats import DEFAULT_CHUNK_ROWS, open_source
from encore_jax.io.layouts import batch_text, pair_columns, require_columns
from encore_jax.io.missing import DEFAULT_MISSING, apply_missing, check_missing_policy
from encore_jax.io.tables import DataError, MissingCounts, PairTable

__all__ = ["read_pairs"]


def _prefixed(data, kind, *, chosen_prefix, rejected_prefix, subset_column, id_column,
              text_columns, exclude, list_names, rule_columns, mask_value, num_levels,
              bin_range, level_offset, missing, file_format, keep_text) -> PairTable:
    from encore_jax.io.chunks import _Convert, _iter_blocks

    source = open_source(data, file_format)
    blocks = pair_columns(source, chosen_prefix=chosen_prefix, rejected_prefix=rejected_prefix,
                          rule_columns=rule_columns, id_column=id_column,
                          subset_column=subset_column, text_columns=text_columns,
                          exclude=exclude, list_names=list_names, keep_text=keep_text)
    convert = _Convert(kind, mask_value, num_levels, bin_range, level_offset)
    parts = list(_iter_blocks(source, blocks, convert, missing, DEFAULT_CHUNK_ROWS, True))
    if not parts or sum(p[0][0].shape[0] for p in parts) + sum(
            p[3].rows_dropped for p in parts) == 0:
        raise DataError(f"{source.name}: header only, no pairs")
    cat = np.concatenate
    chosen, rejected = cat([p[0][0] for p in parts]), cat([p[0][1] for p in parts])
    cmask, rmask = cat([p[1][0] for p in parts]), cat([p[1][1] for p in parts])
    kept = {n: cat([p[2][n] for p in parts]) for n in parts[0][2]}
    counts = MissingCounts(missing, sum(p[3].cells for p in parts),
                           sum(p[3].rows_dropped for p in parts))
    first = blocks[0]
    return PairTable(first.rule_names, chosen, rejected, cmask, rmask,
                     kept.get(subset_column) if subset_column else None, source.name,
                     kept.get(id_column) if id_column else None,
                     {n: kept[n] for n in first.text_columns}, counts)


def _indexed(data, kind, *, pair_index, chosen_id_column, rejected_id_column, subset_column,
             id_column, layout, rule_column, rating_column, pool, missing, **options
             ) -> PairTable:
    from encore_jax.io.chunks import _read

    id_column = "response_id" if id_column is None else id_column
    table = _read(data, kind, layout=layout, rule_column=rule_column,
                  rating_column=rating_column, pool=pool, chosen_prefix="chosen_",
                  rejected_prefix="rejected_", id_column=id_column, missing="mask", **options)
    unique, first, counts = np.unique(table.ids, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = unique[np.argmax(counts > 1)]
        raise DataError(f"{table.source}: response id {str(dup)!r} appears in more than one row")
    index = open_source(pair_index)
    names = [chosen_id_column, rejected_id_column] + ([subset_column] if subset_column else [])
    require_columns(index, names)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    start = 0
    for batch in index.batches(names, text=names, whole=True):
        for name in names:
            parts[name].append(batch_text(index, batch, name, start))
        start += batch.num_rows
    if start == 0:
        raise DataError(f"{index.name}: header only, no pairs")
    joined = {name: np.concatenate(value) for name, value in parts.items()}
    positions = []
    for name in (chosen_id_column, rejected_id_column):
        ids = joined[name]
        pos = np.searchsorted(unique, ids)
        found = (pos < unique.size) & (unique[np.minimum(pos, unique.size - 1)] == ids)
        if not found.all():
            i = int(np.argmax(~found))
            raise DataError(f"{index.where(i, name)}: response id {str(ids[i])!r} is not in "
                            f"{table.source}")
        positions.append(first[pos])
    values = table.ratings if kind == "ratings" else table.scores
    c, r = positions
    cmask, rmask = table.mask[c], table.mask[r]
    keep, missing_counts = apply_missing(
        [cmask, rmask], missing,
        where=lambda b, i, k: f"{index.where(i)}: the {('chosen', 'rejected')[b]} response "
        f"{str(joined[names[b]][i])!r}, rule {table.rule_names[k]!r}")
    subset = joined.get(subset_column) if subset_column else None
    if keep is not None:
        c, r, cmask, rmask = c[keep], r[keep], cmask[keep], rmask[keep]
        subset = None if subset is None else subset[keep]
    return PairTable(table.rule_names, values[c], values[r], cmask, rmask, subset,
                     f"{table.source} + {pair_index}", None, {}, missing_counts)


def read_pairs(
    data: Any,
    kind: str = "ratings",
    *,
    chosen_prefix: str = "chosen_",
    rejected_prefix: str = "rejected_",
    subset_column: str | None = None,
    mask_value: float | None = None,
    rule_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    text_columns: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    list_names: Mapping[str, Sequence[str]] | None = None,
    num_levels: int | None = None,
    bin_range: tuple[float, float] | None = None,
    level_offset: int = 0,
    missing: str = DEFAULT_MISSING,
    pair_index: str | Path | Any | None = None,
    chosen_id_column: str = "chosen_id",
    rejected_id_column: str = "rejected_id",
    layout: str = "wide",
    rule_column: str = "rule",
    rating_column: str = "rating",
    pool: str | None = None,
    file_format: str | None = None,
    keep_text: bool = True,
) -> PairTable:
    """Reads preference pairs as two rating blocks (see the module docstring).

    Args:
      data: the pairs file or table, or the per-response ratings with ``pair_index``.
      kind: ``"ratings"`` (``int32`` levels) or ``"scores"`` (``float64``).
      chosen_prefix, rejected_prefix: column prefixes of the two blocks; for unlabelled
        pairs e.g. ``"a_"`` / ``"b_"`` (the first block lands in ``chosen``).
      subset_column: a column of subset names (e.g. RewardBench subsets), or ``None``.
      rule_columns: the rules to read (names without prefix), in order.
      id_column: per-pair id column (prefix layout) or response id column (``pair_index``;
        default ``"response_id"``).
      text_columns, exclude, list_names, mask_value: as :func:`encore_jax.read_ratings`.
      num_levels, bin_range, level_offset: as :func:`encore_jax.read_ratings`.
      missing: ``"mask"`` (default), ``"drop"`` (drop a pair with any missing rating) or
        ``"error"``; ``PairTable.missing`` reports the cells and pairs touched.
      pair_index: the pair-index file or table, or ``None``.
      chosen_id_column, rejected_id_column: the pair-index table's id columns.
      layout, rule_column, rating_column, pool: layout of ``data`` with ``pair_index``.
      file_format: format of ``data``; default from the suffix.
      keep_text: keep the text columns found beside the ratings (``PairTable.text``);
        ``False`` reads only the named ``text_columns`` (bounded memory when the text is not
        needed: prompts and responses are often most of a file's bytes).

    Raises:
      DataError: as :func:`encore_jax.read_ratings`, a rule column without its partner, or a
        pair-index id that is not in the ratings.
    """
    from encore_jax.io.chunks import check_options

    bin_range = check_options(1, num_levels, bin_range)
    check_missing_policy(missing)
    if kind not in ("ratings", "scores"):
        raise ValueError(f"kind must be 'ratings' or 'scores', got {kind!r}")
    if pair_index is not None:
        return _indexed(data, kind, pair_index=pair_index, chosen_id_column=chosen_id_column,
                        rejected_id_column=rejected_id_column, subset_column=subset_column,
                        id_column=id_column, layout=layout, rule_column=rule_column,
                        rating_column=rating_column, pool=pool, missing=missing,
                        mask_value=mask_value, rule_columns=rule_columns,
                        num_levels=num_levels, bin_range=bin_range, level_offset=level_offset,
                        file_format=file_format, text_columns=text_columns, exclude=exclude,
                        list_names=list_names)
    if layout not in ("wide", "pairs"):
        raise ValueError("layout='long' needs a pair_index file naming the pairs")
    if pool is not None:
        raise ValueError("pool applies to a long ratings file read with pair_index")
    return _prefixed(data, kind, chosen_prefix=chosen_prefix, rejected_prefix=rejected_prefix,
                     subset_column=subset_column, id_column=id_column,
                     text_columns=text_columns, exclude=exclude, list_names=list_names,
                     rule_columns=rule_columns, mask_value=mask_value, num_levels=num_levels,
                     bin_range=bin_range, level_offset=level_offset, missing=missing,
                     file_format=file_format, keep_text=keep_text)
