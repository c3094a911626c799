"""Wide and long tables as blocks of rule columns: streamed chunks, whole reads, options.

The layer under :mod:`encore_jax.io.pairs` and the public in-memory readers
(:mod:`encore_jax.io.readers`): :func:`iter_rating_chunks` / :func:`iter_score_chunks` stream
a wide table; ``_read`` reads a wide or long table whole.

Every reader takes the same column options (see :mod:`encore_jax.io.layouts`) and the one
missing-value policy ``missing`` (see :mod:`encore_jax.io.missing`), and reports what that
policy did in the ``missing`` field of its result.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from encore_jax.io.formats import (
    DEFAULT_CHUNK_ROWS,
    CsvSource,
    JsonlSource,
    Source,
    open_source,
)
from encore_jax.io.layouts import (
    Columns,
    batch_text,
    batch_values,
    observed,
    to_levels,
    to_scores,
    wide_columns,
)
from encore_jax.io.long import pivot_long
from encore_jax.io.missing import DEFAULT_MISSING, apply_missing, check_missing_policy
from encore_jax.io.tables import (
    DataError,
    MissingCounts,
    RatingTable,
    ScoreTable,
)

__all__ = ["LAYOUTS", "count_rows", "iter_rating_chunks", "iter_score_chunks"]

LAYOUTS = ("wide", "long", "pairs")
SMALL_TEXT_BYTES = 1 << 26  # CSV / JSONL files up to 64 MiB are parsed whole when streamed


def check_options(chunk_rows: Any, num_levels: Any, bin_range: Any
                  ) -> tuple[float, float] | None:
    """Validates the shared numeric options; returns ``bin_range`` as floats."""
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int | np.integer):
        raise TypeError(f"chunk_rows must be an int, got {chunk_rows!r}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    if num_levels is not None:
        if isinstance(num_levels, bool) or not isinstance(num_levels, int | np.integer):
            raise TypeError(f"num_levels must be an int, got {num_levels!r}")
        if num_levels < 2:
            raise ValueError(f"num_levels must be >= 2, got {num_levels}")
    if bin_range is None:
        return None
    low, high = (float(v) for v in bin_range)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"bin_range must be finite (low, high) with low < high, got {bin_range}")
    if num_levels is None:
        raise ValueError("bin_range needs num_levels (the number of bins)")
    return low, high


class _Convert:
    """Values of one block -> validated levels or scores, with the policy's counts."""

    def __init__(self, kind: str, mask_value: float | None, num_levels: int | None,
                 bin_range: tuple[float, float] | None, level_offset: int) -> None:
        self.kind, self.mask_value = kind, mask_value
        self.num_levels, self.bin_range, self.level_offset = num_levels, bin_range, level_offset

    def __call__(self, values, present, names, where):
        mask = observed(values, present, self.mask_value)
        if self.kind == "ratings":
            out = to_levels(values, mask, names, where, num_levels=self.num_levels,
                            bin_range=self.bin_range, level_offset=self.level_offset)
        else:
            out = to_scores(values, mask, names, where)
        return out, mask


def _kept(source: Source, batch: Any, columns: Columns, start: int) -> dict[str, np.ndarray]:
    out = {}
    if columns.id_column is not None:
        out[columns.id_column] = batch_text(source, batch, columns.id_column, start)
    if columns.subset_column is not None:
        out[columns.subset_column] = batch_text(source, batch, columns.subset_column, start)
    for name in columns.text_columns:
        out[name] = batch_text(source, batch, name, start, allow_null=True)
    return out


def _iter_blocks(source: Source, blocks: Sequence[Columns], convert: _Convert, missing: str,
                 batch_rows: int, whole: bool) -> Iterator[tuple[list, list, dict, MissingCounts]]:
    """Per record batch: (values per block, masks per block, kept columns, missing counts)."""
    first = blocks[0]
    columns = list(dict.fromkeys([rc.column for b in blocks for rc in b.rules] + list(first.kept)))
    numeric = [rc.column for b in blocks for rc in b.rules if rc.kind == "number"]
    start = 0
    for batch in source.batches(columns, numeric=numeric, text=list(first.kept),
                                batch_rows=batch_rows, whole=whole):
        values, masks = [], []
        for block in blocks:
            raw, present = batch_values(source, batch, block.rules, start)
            labels = [rc.column if rc.kind == "number" else f"{rc.column}: {n}"
                      for rc in block.rules for n in rc.names]
            offset = start
            out, mask = convert(raw, present, labels,
                                lambda i, name, o=offset: source.where(o + i, name))
            values.append(out)
            masks.append(mask)
        kept = _kept(source, batch, first, start)

        def where(b, i, k, o=start):
            return source.where(o + i, [rc.column for rc in blocks[b].rules
                                        for _ in rc.names][k])

        keep, counts = apply_missing(masks, missing, where=where)
        if keep is not None:
            values = [v[keep] for v in values]
            masks = [m[keep] for m in masks]
            kept = {n: t[keep] for n, t in kept.items()}
        start += batch.num_rows
        yield values, masks, kept, counts


def _rebatched(pieces: Iterator[tuple[list, list, dict, MissingCounts]], rows: int):
    """The pieces regrouped into chunks of exactly ``rows`` rows (the last may be smaller)."""
    buffer: list = []
    held = 0
    counts = MissingCounts()
    for values, masks, kept, piece_counts in pieces:
        counts = MissingCounts(piece_counts.policy, counts.cells + piece_counts.cells,
                               counts.rows_dropped + piece_counts.rows_dropped)
        buffer.append((values, masks, kept))
        held += values[0].shape[0]
        while held >= rows:
            joined = _join(buffer)
            yield _take(joined, 0, rows), counts
            counts = MissingCounts(counts.policy)
            rest = _take(joined, rows, held)
            buffer, held = [rest], held - rows
    if held or (buffer and counts.rows_dropped):
        yield _join(buffer), counts


def _join(parts):
    if len(parts) == 1:
        return parts[0]
    blocks = len(parts[0][0])
    values = [np.concatenate([p[0][b] for p in parts]) for b in range(blocks)]
    masks = [np.concatenate([p[1][b] for p in parts]) for b in range(blocks)]
    kept = {n: np.concatenate([p[2][n] for p in parts]) for n in parts[0][2]}
    return values, masks, kept


def _take(part, a, b):
    values, masks, kept = part
    return ([v[a:b] for v in values], [m[a:b] for m in masks],
            {n: t[a:b] for n, t in kept.items()})


def _table(kind, names, values, mask, source, columns: Columns, kept, counts):
    ids = kept.get(columns.id_column) if columns.id_column else None
    text = {n: kept[n] for n in columns.text_columns}
    cls = RatingTable if kind == "ratings" else ScoreTable
    return cls(names, values, mask, source.name, ids, text, counts)


def _iter_wide(data, kind, *, chunk_rows, mask_value, num_levels, bin_range, level_offset,
               missing, file_format, whole, **column_options) -> Iterator[Any]:
    bin_range = check_options(chunk_rows, num_levels, bin_range)
    check_missing_policy(missing)
    source = open_source(data, file_format)
    columns = wide_columns(source, **column_options)
    convert = _Convert(kind, mask_value, num_levels, bin_range, level_offset)
    yielded = False
    # A small text file is parsed at once by the multi-threaded reader, then cut in chunks.
    small = (isinstance(getattr(source, "path", None), Path) and source.path.is_file()
             and source.path.stat().st_size <= SMALL_TEXT_BYTES
             and isinstance(source, CsvSource | JsonlSource))
    pieces = _iter_blocks(source, [columns], convert, missing, int(chunk_rows), whole or small)
    if whole:  # one concatenation of the record batches, no rebatching
        parts = [p for p in pieces if p[0][0].shape[0] or p[3].rows_dropped]
        if parts:
            counts = MissingCounts(missing, sum(p[3].cells for p in parts),
                                   sum(p[3].rows_dropped for p in parts))
            values, masks, kept = _join([p[:3] for p in parts])
            yield _table(kind, columns.rule_names, values[0], masks[0], source, columns, kept,
                         counts)
            return
        raise DataError(f"{source.name}: header only, no ratings")
    for (values, masks, kept), counts in _rebatched(pieces, int(chunk_rows)):
        yield _table(kind, columns.rule_names, values[0], masks[0], source, columns, kept, counts)
        yielded = True
    if not yielded:
        raise DataError(f"{source.name}: header only, no ratings")


_COLUMN_DOC = """
      rule_columns: the rule columns, in order (a list or struct column gives several
        rules); default every number, list and struct column not named below.
      id_column: a column of ids, kept as ``ids`` (strings).
      text_columns: text columns kept in ``text`` (e.g. prompt, response); with no column
        options every text column is kept so, never taken for a rule.
      exclude: columns to leave out.
      list_names: names of the rules of a list-valued column, ``{column: [names]}``
        (default: the file's metadata, else ``<column>[i]``).
      mask_value: a value meaning "missing" (e.g. ``-1``), like an empty cell.
      missing: the missing-value policy: ``"mask"`` (default), ``"drop"`` or ``"error"``.
      file_format: one of ``csv, jsonl, parquet, npz``; default from the suffix."""


def iter_rating_chunks(
    data: Any,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
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
    file_format: str | None = None,
) -> Iterator[RatingTable]:
    """Streams a one-row-per-response table as :class:`RatingTable` chunks of ``chunk_rows``
    rows (the last may be smaller); counts of the chunks sum to those of the file.

    CSV and JSONL are read block by block, parquet (files and directories) by record batches;
    an NPZ member is loaded whole. Each chunk's ``missing`` counts its own cells and rows.

    Args:
      data: a path (``.csv``, ``.jsonl``, ``.parquet``, ``.npz``, a parquet directory) or an
        in-memory table (``pyarrow.Table``, pandas ``DataFrame``, ``datasets.Dataset``).
      chunk_rows: rows per chunk (>= 1).
      num_levels: ``L``; an observed level outside ``0..L-1`` is an error (never clipped).
      bin_range: ``(low, high)``: the values are continuous scores, binned into ``num_levels``
        equal-width levels as :func:`encore_jax.discretize` does.
      level_offset: subtracted from every rating (``1`` reads a 1..L scale as 0..L-1).
      {columns}

    Raises:
      DataError: a missing, empty or malformed input, or a bad value (named by row and
        column, with the option that fixes it).
    """
    yield from _iter_wide(
        data, "ratings", chunk_rows=chunk_rows, mask_value=mask_value, num_levels=num_levels,
        bin_range=bin_range, level_offset=level_offset, missing=missing,
        file_format=file_format, whole=False, rule_columns=rule_columns, id_column=id_column,
        text_columns=text_columns, exclude=exclude, list_names=list_names)


def iter_score_chunks(
    data: Any,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    mask_value: float | None = None,
    rule_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    text_columns: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    list_names: Mapping[str, Sequence[str]] | None = None,
    missing: str = DEFAULT_MISSING,
    file_format: str | None = None,
) -> Iterator[ScoreTable]:
    """As :func:`iter_rating_chunks`, keeping real values (``float64``)."""
    yield from _iter_wide(
        data, "scores", chunk_rows=chunk_rows, mask_value=mask_value, num_levels=None,
        bin_range=None, level_offset=0, missing=missing, file_format=file_format,
        whole=False, rule_columns=rule_columns, id_column=id_column,
        text_columns=text_columns, exclude=exclude, list_names=list_names)


def _concat(chunks: Sequence[Any]) -> Any:
    first = chunks[0]
    if len(chunks) == 1:
        return first
    field = "ratings" if isinstance(first, RatingTable) else "scores"
    counts = MissingCounts(first.missing.policy, sum(c.missing.cells for c in chunks),
                           sum(c.missing.rows_dropped for c in chunks))
    return type(first)(
        first.rule_names, np.concatenate([getattr(c, field) for c in chunks]),
        np.concatenate([c.mask for c in chunks]), first.source,
        None if first.ids is None else np.concatenate([c.ids for c in chunks]),
        {n: np.concatenate([c.text[n] for c in chunks]) for n in first.text}, counts)


def _read_long(data, kind, *, id_column, rule_column, rating_column, rule_columns, pool,
               mask_value, num_levels, bin_range, level_offset, missing, file_format):
    source = open_source(data, file_format)
    if isinstance(data, str | Path) and str(data).endswith(".npz"):
        raise DataError(f"{data}: the long layout needs a csv, jsonl or parquet file")
    names, ids, values, present, rows = pivot_long(
        source, id_column=id_column or "response_id", rule_column=rule_column,
        rating_column=rating_column, rule_columns=rule_columns, pool=pool,
        batch_rows=DEFAULT_CHUNK_ROWS)
    if kind == "ratings" and pool in ("mean", "median"):
        values = np.where(present, np.rint(values), values)

    def where(i, name):
        k = names.index(name)
        return source.where(int(rows[i, k])) + f", column {rating_column!r}"

    convert = _Convert(kind, mask_value, num_levels, bin_range, level_offset)
    out, mask = convert(values, present, list(names), where)
    keep, counts = apply_missing(
        [mask], missing, where=lambda b, i, k: f"{source.name}: response {str(ids[i])!r}, "
        f"rule {names[k]!r}")
    if keep is not None:
        out, mask, ids = out[keep], mask[keep], ids[keep]
    cls = RatingTable if kind == "ratings" else ScoreTable
    return cls(names, out, mask, source.name, ids, {}, counts)


def _read(data, kind, *, layout, rule_column, rating_column, pool, chosen_prefix,
          rejected_prefix, **options):
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    bin_range = check_options(1, options.get("num_levels"), options.get("bin_range"))
    options["bin_range"] = bin_range
    if layout == "long":
        for name in ("text_columns", "exclude", "list_names"):
            if options.pop(name, None):
                raise ValueError(f"{name} applies to the wide and pairs layouts")
        return _read_long(data, kind, rule_column=rule_column, rating_column=rating_column,
                          pool=pool, **options)
    if pool is not None:
        raise ValueError("pool applies to the long layout (several ratings of one response "
                         "and rule); pass layout='long'")
    if layout == "pairs":
        raise ValueError("the pairs layout is read by encore_jax.io.readers")
    chunks = list(_iter_wide(data, kind, chunk_rows=1 << 20, whole=True, **options))
    return _concat(chunks)


def _with_column_doc(function: Any) -> None:
    if function.__doc__:  # None under python -OO
        function.__doc__ = function.__doc__.replace("      {columns}", _COLUMN_DOC.strip("\n"))


_with_column_doc(iter_rating_chunks)


def count_rows(data: Any, *, file_format: str | None = None) -> int | None:
    """Rows of an input when its format records them (parquet, NPZ, tables), else ``None``.

    Used for progress bars; an input that cannot be opened gives ``None`` (the reader
    reports the error later).
    """
    try:
        fmt = None if not isinstance(data, str | Path) else file_format
        if isinstance(data, str | Path) and str(data).lower().endswith((".csv", ".jsonl",
                                                                         ".ndjson")):
            return None
        return open_source(data, fmt).num_rows()
    except Exception:  # noqa: BLE001 - the reader gives the proper error later
        return None
