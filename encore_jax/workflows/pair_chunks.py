"""Streaming a one-row-per-pair file as chunks of levels, rated masks and group ids."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = ["PairChunk", "iter_pair_chunks"]


class PairChunk(NamedTuple):
    """Pairs read from a file: levels ``[n, K]``, rated mask, optional group ids ``[n]``."""

    chosen: np.ndarray
    rejected: np.ndarray
    rated: np.ndarray
    groups: np.ndarray | None


def _pair_rule_names(path: str | Path, file_format: str | None, rule_columns: Any,
                     chosen_prefix: str, rejected_prefix: str, exclude: Any = None
                     ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(rule names, column bases)``: ``<prefix><base>`` holds the rule(s); a list or struct
    column gives several rule names for one base."""
    # The pairs reader's own header check (partner columns, duplicates, unknown names).
    from encore_jax.io import open_source
    from encore_jax.io.layouts import pair_columns

    chosen, _ = pair_columns(open_source(path, file_format), chosen_prefix=chosen_prefix,
                             rejected_prefix=rejected_prefix, rule_columns=rule_columns,
                             exclude=exclude)
    return chosen.rule_names, tuple(rc.column[len(chosen_prefix):] for rc in chosen.rules)


def iter_pair_chunks(path: str | Path, num_levels: int, *, chunk_rows: int,
                     group_column: str | None = None, rule_columns: Sequence[str] | None = None,
                     mask_value: float | None = None,
                     bin_range: tuple[float, float] | None = None,
                     file_format: str | None = None, chosen_prefix: str = "chosen_",
                     rejected_prefix: str = "rejected_", exclude: Sequence[str] | None = None
                     ) -> tuple[tuple[str, ...], Iterator[PairChunk]]:
    """``(rule names, chunks)`` of a one-row-per-pair file (``<chosen_prefix><rule>`` and
    ``<rejected_prefix><rule>`` columns; ``exclude`` as in
    :func:`encore_jax.io.layouts.pair_columns`), streamed ``chunk_rows`` rows at a time with
    :func:`encore_jax.io.iter_rating_chunks`."""
    from encore_jax.io import iter_rating_chunks

    names, bases = _pair_rule_names(path, file_format, rule_columns, chosen_prefix,
                                    rejected_prefix, exclude)
    columns = [chosen_prefix + x for x in bases] + [rejected_prefix + x for x in bases]
    k = len(names)

    def chunks() -> Iterator[PairChunk]:
        for table in iter_rating_chunks(
                path, chunk_rows=chunk_rows, mask_value=mask_value, rule_columns=columns,
                id_column=group_column, num_levels=num_levels, bin_range=bin_range,
                file_format=file_format):
            yield PairChunk(table.ratings[:, :k], table.ratings[:, k:],
                            table.mask[:, :k] & table.mask[:, k:], table.ids)

    return names, chunks()
