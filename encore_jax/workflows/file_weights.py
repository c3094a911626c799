"""Per-rule level counts, entropies and ENCORE weights of a ratings file or table.

The file is streamed once in chunks (level counts are additive, see
:mod:`encore_jax.workflows.streaming`); the long and pairs layouts are read whole first (a
pairs file pools the chosen and rejected ratings: ``2N`` responses).

References:
  ENCORE entropy-penalised weights ``w = softmax(-H / tau)``: arXiv 2503.20995.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np

from encore_jax.io import DEFAULT_CHUNK_ROWS, DataError, MissingCounts

__all__ = ["LevelCounts", "RuleWeights", "count_levels", "file_entropies", "file_weights"]


class LevelCounts(NamedTuple):
    """Summed level counts of a ratings input.

    Attributes:
      rule_names: the ``K`` rule names.
      counts: ``int64 [K, L]`` observed ratings of each level.
      num_rows: responses read (after ``missing="drop"``).
      source: the input's name.
      missing: what the missing-value policy did.
    """

    rule_names: tuple[str, ...]
    counts: np.ndarray
    num_rows: int
    source: str
    missing: MissingCounts


class RuleWeights(NamedTuple):
    """Entropies (and ENCORE weights) of each rule of a ratings input.

    Attributes:
      counts: the :class:`LevelCounts` they come from.
      entropies: ``H_k`` ``[K]`` (``base``, ``estimator`` as asked).
      normalized: ``H_k / log L`` ``[K]``.
      weights: ENCORE weights ``softmax(-H / temperature)`` ``[K]``, or ``None``
        (:func:`file_entropies`).
    """

    counts: LevelCounts
    entropies: np.ndarray
    normalized: np.ndarray
    weights: np.ndarray | None

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-able dict per rule: rule, observed, entropy, normalized_entropy, counts
        (and weight)."""
        out = []
        for k, name in enumerate(self.counts.rule_names):
            row: dict[str, Any] = {
                "rule": name,
                "observed": int(self.counts.counts[k].sum()),
                "entropy": float(self.entropies[k]),
                "normalized_entropy": float(self.normalized[k]),
                "counts": [int(c) for c in self.counts.counts[k]],
            }
            if self.weights is not None:
                row["weight"] = float(self.weights[k])
            out.append(row)
        return out


def count_levels(
    data: Any,
    num_levels: int,
    *,
    layout: str = "wide",
    chunk_rows: int | None = None,
    progress: bool | None = None,
    **reader_options: Any,
) -> LevelCounts:
    """Streams ``data`` once and sums each rule's level counts.

    Args:
      data: a path or an in-memory table (see :func:`encore_jax.read_ratings`).
      num_levels: ``L``; ratings must be levels ``0..L-1``.
      layout: ``"wide"`` (streamed in chunks of ``chunk_rows``), ``"long"`` or ``"pairs"``
        (read whole).
      chunk_rows: rows per chunk (default :data:`encore_jax.io.DEFAULT_CHUNK_ROWS`).
      progress: a progress bar on stderr; ``None`` = only on a terminal.
      **reader_options: passed to :func:`encore_jax.iter_rating_chunks` /
        :func:`encore_jax.read_ratings` (columns, ``missing``, ``bin_range``, ...).

    Raises:
      DataError: a rule without any observed rating (its entropy is undefined), or what the
        reader raises.
    """
    from encore_jax.io import count_rows, iter_rating_chunks, read_ratings
    from encore_jax.io.progress import progress as progress_bar
    from encore_jax.workflows.streaming import streaming_rating_histogram

    total = None
    if layout == "wide":
        for name in ("rule_column", "rating_column", "pool", "chosen_prefix", "rejected_prefix"):
            reader_options.pop(name, None)
        chunks: Iterable[Any] = iter_rating_chunks(
            data, chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS, num_levels=num_levels,
            **reader_options)
        total = count_rows(data, file_format=reader_options.get("file_format"))
    else:
        chunks = [read_ratings(data, layout=layout, num_levels=num_levels, **reader_options)]
    seen: dict[str, Any] = {"names": (), "rows": 0, "missing": None, "source": str(data)}

    def tracked(tables: Iterable[Any]) -> Iterator[Any]:
        for table in progress_bar(tables, total=total, description="counting",
                                  enabled=progress, advance=lambda t: t.ratings.shape[0]):
            seen["names"] = seen["names"] or table.rule_names
            seen["source"] = table.source
            seen["rows"] += table.ratings.shape[0]
            seen["missing"] = table.missing if seen["missing"] is None else (
                seen["missing"] + table.missing)
            yield table

    # chunk_rows=None: the kernel takes the first chunk's shape (a small file is not padded)
    counts = streaming_rating_histogram(tracked(chunks), num_levels, chunk_rows=None)
    names = seen["names"]
    empty = [names[k] for k in np.flatnonzero(counts.sum(axis=1) == 0)]
    if empty:
        raise DataError(f"{seen['source']}: rule column {empty[0]!r} has no observed rating; "
                        f"its entropy is undefined (leave it out with --exclude {empty[0]} or "
                        "name the others with --rule-columns)")
    return LevelCounts(tuple(names), counts, int(seen["rows"]), seen["source"],
                       seen["missing"] or MissingCounts())


def _entropies(data, num_levels, base, estimator, options):
    from encore_jax.entropy import entropy_from_counts

    summed = count_levels(data, num_levels, **options)
    raw = entropy_from_counts(summed.counts, base=base, estimator=estimator)
    entropies = np.asarray(raw, dtype=np.float64)
    max_entropy = math.log(num_levels) if base is None else math.log(num_levels, base)
    return RuleWeights(summed, entropies, entropies / max_entropy, None), raw


def file_entropies(data: Any, num_levels: int, *, base: float | None = None,
                   estimator: str = "plugin", **options: Any) -> RuleWeights:
    """Per-rule entropies of ``data``; ``options`` as :func:`count_levels`."""
    return _entropies(data, num_levels, base, estimator, options)[0]


def file_weights(data: Any, num_levels: int, *, temperature: float = 2.0,
                 base: float | None = None, estimator: str = "plugin",
                 **options: Any) -> RuleWeights:
    """Per-rule entropies and ENCORE weights ``softmax(-H / temperature)`` of ``data``.

    References:
      ENCORE: arXiv 2503.20995.
    """
    from encore_jax.weights import entropy_weights

    result, raw = _entropies(data, num_levels, base, estimator, options)
    return result._replace(weights=np.asarray(entropy_weights(raw, temperature),
                                              dtype=np.float64))
