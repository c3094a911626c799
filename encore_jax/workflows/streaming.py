"""Counts, entropies and composite scores over data larger than memory, chunk by chunk.

Level counts are additive: for row chunks ``X_1, ..., X_m`` of a ratings table,
``counts(X) = sum_j counts(X_j)``, so entropies of a file of any size come from one pass
over its chunks. Every chunk is copied into one static shape ``[chunk_rows, K]`` (a ragged
piece is padded with masked rows), so the histogram kernel compiles once; per-chunk ``int32``
counts are summed on the host in ``int64``. Results equal the in-memory computation exactly.

A *chunk* is a :class:`encore_jax.io.RatingTable` (or ``ScoreTable`` for scores), a pair
``(values [n, K], mask [n, K] or None)``, or a bare array ``[n, K]``; the functions also
take a file path, streamed with :func:`encore_jax.io.iter_rating_chunks` /
:func:`encore_jax.io.iter_score_chunks` (parquet, NPZ, CSV, JSONL; never read whole).
Peak memory is ``O(chunk_rows * K)``, whatever the number of rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from encore_jax import _checks
from encore_jax.compose import _validated_weights, _weighted_sum
from encore_jax.entropy import _histogram, entropy_from_counts

__all__ = [
    "compose_to_file",
    "iter_composite_scores",
    "streaming_rating_entropy",
    "streaming_rating_histogram",
]

MISSING_POLICIES = ("error", "null")


def _default_chunk_rows() -> int:
    from encore_jax.io import DEFAULT_CHUNK_ROWS

    return DEFAULT_CHUNK_ROWS


def _check_chunk_rows(chunk_rows: Any) -> int | None:
    return None if chunk_rows is None else _checks.check_positive_int("chunk_rows", chunk_rows)


def _as_chunk(chunk: Any, index: int, field: str) -> tuple[np.ndarray, np.ndarray | None, Any]:
    """``(values [n, K], mask [n, K] or None, ids or None)`` of one chunk, on the host."""
    if hasattr(chunk, field) and hasattr(chunk, "mask"):
        values, mask, ids = getattr(chunk, field), chunk.mask, getattr(chunk, "ids", None)
    elif isinstance(chunk, tuple):
        if len(chunk) != 2:
            raise ValueError(f"chunk {index}: a tuple chunk must be (values, mask), got "
                             f"{len(chunk)} items")
        (values, mask), ids = chunk, None
    else:
        values, mask, ids = chunk, None, None
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"chunk {index}: values must have shape [n, K], got {values.shape}")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_ or mask.shape != values.shape:
            raise ValueError(f"chunk {index}: mask must be boolean with shape {values.shape}, "
                             f"got {mask.dtype} {mask.shape}")
    return values, mask, ids


def _rebuffered(
    chunks: Iterable[Any], chunk_rows: int | None, field: str
) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """Yields ``(values [C, K], mask [C, K], first row)`` blocks of exactly ``C`` rows
    (``C = chunk_rows``, default the first chunk's size): whole chunks pass through, others
    are gathered into fresh buffers and the last one is padded with masked rows."""
    buffer: tuple[np.ndarray, np.ndarray] | None = None
    buffer_row = fill = 0
    row = 0  # global index of the next incoming row
    width = None
    for index, chunk in enumerate(chunks):
        values, mask, _ = _as_chunk(chunk, index, field)
        n, k = values.shape
        if width is None:
            width = k
            chunk_rows = chunk_rows or max(n, 1)
        elif k != width:
            raise ValueError(f"chunk {index} has {k} columns, the first chunk has {width}")
        if mask is None:
            mask = np.ones(values.shape, bool)
        start = 0
        while start < n:
            if fill == 0 and n - start >= chunk_rows:
                end = start + chunk_rows
                yield values[start:end], mask[start:end], row + start
                start = end
                continue
            if buffer is None:
                # A fresh buffer each time: JAX may alias a host array it was given (zero-copy
                # on CPU), so a buffer handed to a pending kernel must never be overwritten.
                buffer = (np.zeros((chunk_rows, k), values.dtype),
                          np.zeros((chunk_rows, k), bool))
                buffer_row = row + start
            take = min(chunk_rows - fill, n - start)
            buffer[0][fill:fill + take] = values[start:start + take]
            buffer[1][fill:fill + take] = mask[start:start + take]
            fill += take
            start += take
            if fill == chunk_rows:
                yield buffer[0], buffer[1], buffer_row
                buffer, fill = None, 0
        row += n
    if buffer is not None:  # the ragged tail: zero rows, masked out
        yield buffer[0], buffer[1], buffer_row


def _check_levels(values: np.ndarray, mask: np.ndarray, num_levels: int, first_row: int) -> None:
    """Raises naming the first observed level outside ``0..L-1`` (global row, rule)."""
    if not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"ratings must hold integer levels, got dtype {values.dtype}; use "
                        "discretize() or iter_rating_chunks(..., bin_range=) for scores")
    if values.size == 0 or (values.min() >= 0 and values.max() < num_levels):
        return  # every entry, observed or not, is a level
    bad = mask & ((values < 0) | (values >= num_levels))
    if not bad.any():
        return  # the out-of-range entries are all masked out
    i, k = (int(j) for j in np.argwhere(bad)[0])
    raise ValueError(f"ratings has level {values[i, k]} at row {first_row + i}, rule {k}, "
                     f"outside 0..{num_levels - 1} (num_levels={num_levels}); levels are "
                     "never clipped")


def _progress(items: Iterable[Any], enabled: bool | None, total: int | None, what: str):
    from encore_jax.io.progress import progress

    return progress(items, total=total, description=what, enabled=enabled,
                    advance=lambda block: block[0].shape[0])


def _rating_source(
    source: Any, num_levels: int, chunk_rows: int | None, reader_options: dict[str, Any]
) -> tuple[Iterable[Any], int | None]:
    if isinstance(source, str | Path):
        from encore_jax.io import count_rows, iter_rating_chunks

        chunks = iter_rating_chunks(source, chunk_rows=chunk_rows or _default_chunk_rows(),
                                    num_levels=num_levels, **reader_options)
        return chunks, count_rows(source, file_format=reader_options.get("file_format"))
    if reader_options:
        raise ValueError(f"reader options {sorted(reader_options)} apply to a file path only")
    return source, None


def streaming_rating_histogram(
    chunks: Iterable[Any] | str | Path,
    num_levels: int,
    *,
    chunk_rows: int | None = None,
    progress: bool | None = None,
    **reader_options: Any,
) -> Int[np.ndarray, "K L"]:
    """Level counts ``[K, L]`` of ratings arriving in row chunks, summed in ``int64``.

    ``counts[k, l] = sum_j #{i in chunk j : ratings[i, k] == l and mask[i, k]}``, equal to
    :func:`encore_jax.rating_histogram` of all rows stacked (without its ``int32`` limit).

    Args:
      chunks: an iterable of chunks (``RatingTable``, ``(ratings, mask)``, or ``ratings``;
        integer levels ``[n, K]``, any ``n``), or a ratings file path.
      num_levels: ``L`` (>= 2).
      chunk_rows: rows per kernel call (the one compiled shape); default the first chunk's
        size, or :data:`encore_jax.io.DEFAULT_CHUNK_ROWS` for a path.
      progress: show a progress bar on stderr; ``None`` = only when stderr is a terminal.
      **reader_options: for a path, passed to :func:`encore_jax.io.iter_rating_chunks`
        (``mask_value``, ``rule_columns``, ``id_column``, ``bin_range``, ``file_format``).

    Returns:
      ``np.int64`` counts ``[K, L]``.

    Raises:
      ValueError / TypeError: no chunks, chunks of different widths, a bad mask, non-integer
        ratings, or an observed level outside ``0..L-1`` (named by global row and rule).
    """
    num_levels = _checks.check_num_levels(num_levels)
    chunk_rows = _check_chunk_rows(chunk_rows)
    chunks, total = _rating_source(chunks, num_levels, chunk_rows, reader_options)
    counts: np.ndarray | None = None
    pending: jax.Array | None = None
    blocks = _progress(_rebuffered(chunks, chunk_rows, "ratings"), progress, total,
                       "counting ratings")
    for values, mask, first_row in blocks:
        _check_levels(values, mask, num_levels, first_row)
        result = _histogram(values, mask, num_levels)  # dispatched asynchronously
        if pending is not None:  # the previous block's counts, while this one computes
            counts = _add(counts, pending)
        pending = result
    if pending is None:
        raise ValueError("chunks is empty; there are no ratings to count")
    return _add(counts, pending)


def _add(total: np.ndarray | None, counts: jax.Array) -> np.ndarray:
    host = np.asarray(counts, dtype=np.int64)
    return host if total is None else total + host


def streaming_rating_entropy(
    chunks: Iterable[Any] | str | Path,
    num_levels: int,
    *,
    base: float | None = None,
    estimator: str = "plugin",
    chunk_rows: int | None = None,
    progress: bool | None = None,
    **reader_options: Any,
) -> Float[Array, " K"]:
    """Entropy ``H_k`` of each rule's ratings, streamed chunk by chunk.

    ``H_k = -sum_l p_kl log p_kl`` with ``p_kl = counts[k, l] / sum_l counts[k, l]`` from
    :func:`streaming_rating_histogram`; equal to :func:`encore_jax.rating_entropy` of all rows.

    Args:
      chunks, num_levels, chunk_rows, progress, reader_options: as
        :func:`streaming_rating_histogram`.
      base: logarithm base, ``None`` = natural log.
      estimator: ``"plugin"`` or ``"miller_madow"``.

    Returns:
      ``[K]`` entropies (float32 unless x64 is enabled).

    Raises:
      ValueError: as :func:`streaming_rating_histogram`, and a rule with no observed rating.
    """
    _checks.check_base(base)
    _checks.check_choice("estimator", estimator, _checks.ESTIMATORS)
    counts = streaming_rating_histogram(
        chunks, num_levels, chunk_rows=chunk_rows, progress=progress, **reader_options
    )
    # int32 counts give the very computation rating_entropy runs; beyond int32 (more than
    # 2^31 - 1 ratings of one rule) float32 counts keep the relative precision of the result.
    fits = counts.max(initial=0) <= np.iinfo(np.int32).max
    return entropy_from_counts(
        counts.astype(np.int32 if fits else np.float32), base=base, estimator=estimator
    )


def _score_source(
    source: Any, chunk_rows: int | None, reader_options: dict[str, Any]
) -> tuple[Iterable[Any], int | None]:
    if isinstance(source, str | Path):
        from encore_jax.io import count_rows, iter_score_chunks

        chunks = iter_score_chunks(source, chunk_rows=chunk_rows or _default_chunk_rows(),
                                   **reader_options)
        return chunks, count_rows(source, file_format=reader_options.get("file_format"))
    if reader_options:
        raise ValueError(f"reader options {sorted(reader_options)} apply to a file path only")
    return source, None


def _composite_pieces(
    chunks: Iterable[Any], weights: jax.Array, chunk_rows: int | None, missing: str
) -> Iterator[tuple[Any, np.ndarray, np.ndarray, np.ndarray]]:
    """Per input chunk: ``(ids, scores, complete rows, composite)``; each kernel call sees
    ``[chunk_rows, K]`` (pieces of a larger chunk, the last one zero-padded)."""
    row = 0
    for index, chunk in enumerate(chunks):
        field = "scores" if hasattr(chunk, "scores") else "ratings"
        values, mask, ids = _as_chunk(chunk, index, field)
        n, k = values.shape
        if k != weights.shape[0]:
            raise ValueError(f"chunk {index} has {k} rule columns but weights has "
                             f"{weights.shape[0]}")
        if not (np.issubdtype(values.dtype, np.floating)
                or np.issubdtype(values.dtype, np.integer)):
            raise TypeError(f"chunk {index}: scores must be real numbers, got {values.dtype}")
        observed = np.ones(values.shape, bool) if mask is None else mask
        complete = observed.all(axis=1)
        if np.issubdtype(values.dtype, np.floating):
            bad = observed & ~np.isfinite(values)
            if bad.any():
                i, k_bad = (int(j) for j in np.argwhere(bad)[0])
                raise ValueError(f"scores has {values[i, k_bad]} at row {row + i}, rule "
                                 f"{k_bad}; scores must be finite")
        if missing == "error" and not complete.all():
            i = int(np.argmin(complete))
            k_bad = int(np.argmin(observed[i]))
            raise ValueError(f"row {row + i} has no score for rule {k_bad}; the composite "
                             "needs every rule (pass missing='null' to write a null composite)")
        if not complete.all():  # masked cells may hold anything; their composite is null
            values = np.where(observed, values, 0)
        values = _device_values(values, row)
        size = chunk_rows or max(n, 1)
        composite = np.empty(n, np.float32)
        for start in range(0, n, size):
            piece = values[start:start + size]
            if piece.shape[0] < size:
                piece = np.concatenate([piece, np.zeros((size - piece.shape[0], k),
                                                        piece.dtype)])
            result = np.asarray(_weighted_sum(piece, weights))
            composite[start:start + size] = result[:min(size, n - start)]
        chunk_rows = size
        yield ids, values, complete, composite
        row += n


def _device_values(values: np.ndarray, first_row: int) -> np.ndarray:
    """``values`` in a form JAX converts without wrapping or overflow: integers beyond its
    default integer range (int64 without 64-bit mode) as float64 (rounded, not wrapped);
    a finite float beyond its float range is an error naming the row and rule."""
    if values.dtype.kind in "iu" and _checks.first_unrepresentable(values) is not None:
        values = values.astype(np.float64)
    bad = _checks.first_unrepresentable(values)
    if bad is not None:
        (i, k), target = bad
        raise ValueError(f"scores has {values[i, k]} at row {first_row + i}, rule {k}, beyond "
                         f"the {target} range (enable jax_enable_x64 for such scores)")
    return values


def iter_composite_scores(
    chunks: Iterable[Any] | str | Path,
    weights: Float[ArrayLike, " K"],
    *,
    chunk_rows: int | None = None,
    missing: str = "error",
    **reader_options: Any,
) -> Iterator[np.ma.MaskedArray]:
    """Composite rewards ``phi_i = sum_k w_k psi_ik`` of each chunk, chunk by chunk.

    Args:
      chunks: an iterable of score chunks (``ScoreTable``, ``RatingTable``, ``(scores, mask)``
        or ``scores [n, K]``) or a wide score file path (:func:`encore_jax.io.iter_score_chunks`).
      weights: ``w`` ``[K]``, in the chunks' column order.
      chunk_rows: rows per kernel call; default the first chunk's size (or
        :data:`encore_jax.io.DEFAULT_CHUNK_ROWS` for a path).
      missing: what a row with an unobserved rule score gets: ``"error"`` (raise, the
        default) or ``"null"`` (a masked composite). Never a silently re-weighted sum.
      **reader_options: for a path, passed to :func:`encore_jax.io.iter_score_chunks`.

    Yields:
      ``float32`` masked arrays ``[n]``, one per input chunk (mask = no composite).
    """
    weights = _validated_weights(weights)
    _checks.check_choice("missing", missing, MISSING_POLICIES)
    chunk_rows = _check_chunk_rows(chunk_rows)
    chunks, _ = _score_source(chunks, chunk_rows, reader_options)
    for _, _, complete, composite in _composite_pieces(chunks, weights, chunk_rows, missing):
        yield np.ma.masked_array(composite, mask=~complete)


def compose_to_file(
    source: Iterable[Any] | str | Path,
    weights: Float[ArrayLike, " K"],
    out: str | Path,
    *,
    chunk_rows: int | None = None,
    missing: str = "error",
    score_column: str = "composite",
    id_column: str | None = None,
    out_format: str | None = None,
    metadata: dict[str, Any] | None = None,
    progress: bool | None = None,
    **reader_options: Any,
) -> dict[str, Any]:
    """Writes the composite reward of every row of a large score table, chunk by chunk.

    ``phi_i = sum_k w_k psi_ik`` (as :func:`encore_jax.compose`) for each row ``i``; the output
    table has the id column (when the input has ids) and ``score_column``, in input order.
    Only one chunk is in memory at a time. The table (and the metadata sidecar of a CSV /
    JSONL output) is written to a temporary file next to ``out`` and moved into place only
    when every row succeeded: an error or interruption midway leaves ``out`` as it was (an
    existing ``out`` is replaced on success; the ``compose`` command refuses that without
    ``--force``).

    Args:
      source: a wide score / ratings file path, or an iterable of chunks as
        :func:`iter_composite_scores` takes.
      weights: ``w`` ``[K]`` in the order of the rule columns (``rule_columns=`` selects and
        orders them for a path).
      out: the output file; its format from the suffix (or ``out_format``).
      chunk_rows, missing: as :func:`iter_composite_scores`.
      score_column: the name of the composite column.
      id_column: for a path, the input column of response ids (copied to the output); the
        output id column keeps its name (``"response_id"`` for in-memory chunks with ids).
      out_format: one of :data:`encore_jax.io.FORMATS`; default from the suffix of ``out``.
      metadata: JSON-able settings stored with the output (see :func:`encore_jax.io.write_table`).
      progress: show a progress bar on stderr; ``None`` = only on a terminal.
      **reader_options: for a path, passed to :func:`encore_jax.io.iter_score_chunks`.

    Returns:
      ``{"path", "rows", "null_rows"}``: the output path, rows written, rows with a null
      composite (``missing="null"`` only).
    """
    from encore_jax.io import (
        TableWriter,
        atomic_write_all,
        detect_format,
        embeds_metadata,
        sidecar_path,
        write_json,
    )

    weights = _validated_weights(weights)
    _checks.check_choice("missing", missing, MISSING_POLICIES)
    chunk_rows = _check_chunk_rows(chunk_rows)
    if id_column is not None:
        reader_options["id_column"] = id_column
    chunks, total = _score_source(source, chunk_rows, reader_options)
    pieces = _composite_pieces(chunks, weights, chunk_rows, missing)
    from encore_jax.io.progress import progress as progress_bar

    out_format = detect_format(out, out_format)
    target = Path(out)
    if not target.parent.is_dir():
        raise FileNotFoundError(f"{target.parent}: no such directory for the output {target.name}")
    if target.is_dir():
        raise IsADirectoryError(f"{target}: is a directory")
    embedded = embeds_metadata(out_format)
    counted = {"rows": 0, "nulls": 0}

    def write(tmp: Path) -> None:
        with TableWriter(tmp, metadata=metadata if embedded else None,
                         file_format=out_format) as writer:
            for ids, _, complete, composite in progress_bar(
                pieces, total=total, description="composing", enabled=progress,
                advance=lambda piece: piece[3].shape[0],
            ):
                columns: dict[str, Any] = {}
                if ids is not None:
                    columns[id_column or "response_id"] = np.asarray(ids, dtype=str)
                columns[score_column] = np.ma.masked_array(composite, mask=~complete)
                writer.write(columns)
                counted["rows"] += composite.shape[0]
                counted["nulls"] += int((~complete).sum())
            if writer.names is None:
                raise ValueError(f"{target}: the source has no chunks; nothing was written")

    items = [(target, write)]
    if metadata is not None and not embedded:  # the sidecar, staged with the table
        items.append((sidecar_path(target), lambda tmp: write_json(tmp, metadata)))
    atomic_write_all(items, force=True)
    return {"path": str(out), "rows": counted["rows"], "null_rows": counted["nulls"]}

