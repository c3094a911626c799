"""Composite rewards and margins of preference pairs, streamed from a file to a file.

For weights ``w`` ``[K]`` and pair ``i`` with chosen scores ``c_i`` and rejected scores
``r_i`` (``[K]`` each):

    chosen composite    phi(c_i) = sum_k w_k c_ik
    rejected composite  phi(r_i) = sum_k w_k r_ik
    margin              m_i = sum_k w_k (c_ik - r_ik)     (:func:`encore_jax.pair_margins`)

The margin comes from :func:`encore_jax.pair_margins` on the scores, not from the difference
of the two rounded composites, so an exact tie is exactly ``0.0`` (see
:mod:`encore_jax.compose`).

Missing values follow the one policy (:mod:`encore_jax.io.missing`):

* ``"mask"``: a missing score contributes nothing: rule ``k`` missing for the chosen
  response drops ``w_k c_ik`` from the chosen composite, and a rule missing on *either*
  side drops ``w_k (c_ik - r_ik)`` from the margin (its difference counts as 0, as in
  ``fit-bt``). So where one side alone misses a rule the margin is not the difference of
  the composites; the ``missing_rules`` column counts the missing cells of each pair.
* ``"drop"``: pairs with any missing score are left out; ``"error"``: the first is an error.

References:
  ENCORE composition ``phi = sum_k w_k psi_k``: arXiv 2503.20995.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from encore_jax.io import DEFAULT_CHUNK_ROWS, MissingCounts

__all__ = ["PairComposeSummary", "PairComposites", "compose_pairs_to_file",
           "pair_composites"]

MASK_NOTE = ("mask: a missing rule score contributes nothing to its side's composite, and a "
             "rule missing on either side contributes nothing to the margin; missing_rules "
             "counts the missing cells of each pair")
MISSING_NOTES = {"mask": MASK_NOTE, "drop": "pairs with a missing rule score were dropped",
                 "error": "a missing rule score is an error"}


class PairComposites(NamedTuple):
    """Per pair: chosen and rejected composites, the margin (``0.0`` exactly on ties) and
    the number of missing rule cells, each ``[n]``."""

    chosen: np.ndarray
    rejected: np.ndarray
    margin: np.ndarray
    missing_rules: np.ndarray


class PairComposeSummary(NamedTuple):
    """What :func:`compose_pairs_to_file` wrote.

    Attributes:
      path: the output file.
      rule_names: the ``K`` rules, in weight order.
      pairs: pairs written.
      ties: pairs with margin exactly ``0``.
      chosen_preferred: pairs with margin ``> 0``.
      mean_margin: the mean margin (``None`` for no pairs).
      missing: what the missing-value policy did.
    """

    path: str
    rule_names: tuple[str, ...]
    pairs: int
    ties: int
    chosen_preferred: int
    mean_margin: float | None
    missing: MissingCounts

    def to_dict(self) -> dict[str, Any]:
        out = self._asdict()
        out["rule_names"] = list(self.rule_names)
        out["missing"] = self.missing.to_dict()
        return out


def _float_dtype() -> np.dtype:
    import jax

    return np.dtype(jax.dtypes.canonicalize_dtype(np.float64))


def _padded(values: np.ndarray, rows: int) -> np.ndarray:
    if values.shape[0] == rows:
        return values
    return np.concatenate([values, np.zeros((rows - values.shape[0],) + values.shape[1:],
                                            values.dtype)])


def pair_composites(chosen: np.ndarray, rejected: np.ndarray, chosen_mask: np.ndarray,
                    rejected_mask: np.ndarray, weights: Any, *,
                    rows: int | None = None) -> PairComposites:
    """Composites and margins of ``n`` pairs under the ``"mask"`` rule of the module
    docstring (a fully observed pair is the plain ``sum_k w_k c_ik`` etc.).

    Args:
      chosen, rejected: scores ``[n, K]`` (masked entries may hold anything finite).
      chosen_mask, rejected_mask: boolean ``[n, K]``, ``True`` = observed.
      weights: ``w`` ``[K]``.
      rows: pad to this many rows for the kernels (one compiled shape over chunks).
    """
    from encore_jax.compose import compose, pair_margins

    dtype = _float_dtype()
    n = chosen.shape[0]
    rows = rows or n
    both = chosen_mask & rejected_mask
    c = np.where(chosen_mask, chosen, 0).astype(dtype)
    r = np.where(rejected_mask, rejected, 0).astype(dtype)
    w = np.asarray(weights, dtype)
    phi_c = np.asarray(compose(_padded(c, rows), w))[:n]
    phi_r = np.asarray(compose(_padded(r, rows), w))[:n]
    margin = np.asarray(pair_margins(_padded(np.where(both, c, 0), rows),
                                     _padded(np.where(both, r, 0), rows), w))[:n]
    missing = (~chosen_mask).sum(axis=1) + (~rejected_mask).sum(axis=1)
    return PairComposites(phi_c, phi_r, margin, missing.astype(np.int64))


def iter_pair_composites(chunks: Iterable[Any], weights: Any, chunk_rows: int | None = None
                         ) -> Iterator[tuple[Any, PairComposites]]:
    """``(pair table, composites)`` per chunk of :class:`encore_jax.io.PairTable`s; every
    kernel call sees ``chunk_rows`` rows (default the first chunk's)."""
    for table in chunks:
        n = table.chosen.shape[0]
        chunk_rows = chunk_rows or max(n, 1)
        yield table, pair_composites(table.chosen, table.rejected, table.chosen_mask,
                                     table.rejected_mask, weights, rows=max(chunk_rows, n))


def compose_pairs_to_file(
    source: Any,
    weights: Any,
    rule_names: Sequence[str],
    out: str | Path,
    *,
    chunk_rows: int | None = None,
    missing: str = "mask",
    column: str = "composite",
    chosen_prefix: str = "chosen_",
    rejected_prefix: str = "rejected_",
    out_format: str | None = None,
    metadata: dict[str, Any] | None = None,
    force: bool = False,
    progress: bool | None = None,
    **reader_options: Any,
) -> PairComposeSummary:
    """Streams a pairs file into a table of composites and margins, written atomically.

    Output columns, in input order: the id, subset and text columns of the input (kept as
    they are), ``<chosen_prefix><column>`` and ``<rejected_prefix><column>`` (the
    composites), ``margin`` and ``missing_rules`` (see the module docstring). Only one chunk
    is in memory at a time; nothing is written unless every pair succeeds.

    Args:
      source: a pairs file (or in-memory table) with ``<prefix><x>`` columns.
      weights: ``w`` ``[K]``; ``rule_names``: the ``K`` rules they weight (a name ``x[i]``
        may be element ``i`` of a list column).
      out: the output table (CSV, JSONL, parquet or NPZ); ``out_format`` overrides its
        suffix; ``force`` allows replacing an existing file.
      chunk_rows: pairs per chunk (default :data:`encore_jax.io.DEFAULT_CHUNK_ROWS`).
      missing: ``"mask"`` (default), ``"drop"`` or ``"error"`` (module docstring).
      column: base name of the composite columns.
      metadata: JSON-able settings stored with the output (parquet schema, NPZ entry, or a
        ``.meta.json`` sidecar).
      progress: a progress bar on stderr; ``None`` = only on a terminal.
      **reader_options: column options of :func:`encore_jax.io.pair_stream.iter_pair_tables`.

    References:
      ENCORE: arXiv 2503.20995.
    """
    from encore_jax.io import (
        TableWriter,
        atomic_write_all,
        count_rows,
        detect_format,
        embeds_metadata,
        sidecar_path,
        write_json,
    )
    from encore_jax.io.pair_stream import iter_pair_tables
    from encore_jax.io.progress import progress as progress_bar

    w = np.asarray(weights, np.float64)
    if w.shape != (len(rule_names),):
        raise ValueError(f"weights has shape {w.shape} for {len(rule_names)} rule names")
    chunk_rows = chunk_rows or DEFAULT_CHUNK_ROWS
    out_format = detect_format(out, out_format)
    names = {"chosen": chosen_prefix + column, "rejected": rejected_prefix + column}
    chunks = iter_pair_tables(source, "scores", chunk_rows=chunk_rows, rules=list(rule_names),
                              chosen_prefix=chosen_prefix, rejected_prefix=rejected_prefix,
                              missing=missing, **reader_options)
    total = (count_rows(source, file_format=reader_options.get("file_format"))
             if isinstance(source, str | Path) else None)
    embedded = embeds_metadata(out_format)
    seen = {"pairs": 0, "ties": 0, "wins": 0, "sum": 0.0, "missing": MissingCounts(missing)}

    def write(tmp: Path) -> None:
        tracked = progress_bar(chunks, total=total, description="composing pairs",
                               enabled=progress, advance=lambda t: t.num_pairs)
        with TableWriter(tmp, metadata=metadata if embedded else None,
                         file_format=out_format) as writer:
            for table, result in iter_pair_composites(tracked, w, chunk_rows):
                kept = {}
                if table.ids is not None:
                    kept[reader_options["id_column"]] = table.ids
                if table.subset is not None:
                    kept[reader_options["subset_column"]] = table.subset
                kept.update(table.text)
                clash = sorted(set(kept) & {*names.values(), "margin", "missing_rules"})
                if clash:
                    raise ValueError(f"input column {clash[0]!r} clashes with an output "
                                     "column; rename it, or choose --column")
                writer.write({**kept, names["chosen"]: result.chosen.astype(np.float64),
                              names["rejected"]: result.rejected.astype(np.float64),
                              "margin": result.margin.astype(np.float64),
                              "missing_rules": result.missing_rules})
                seen["pairs"] += table.num_pairs
                seen["ties"] += int((result.margin == 0).sum())
                seen["wins"] += int((result.margin > 0).sum())
                seen["sum"] += float(result.margin.astype(np.float64).sum())
                seen["missing"] += table.missing
            if writer.names is None:
                raise ValueError(f"{source}: no pairs; nothing was written")

    items = [(Path(out), write)]
    if metadata is not None and not embedded:
        items.append((sidecar_path(out), lambda tmp: write_json(tmp, metadata)))
    atomic_write_all(items, force=force)
    pairs = seen["pairs"]
    return PairComposeSummary(str(out), tuple(rule_names), pairs, seen["ties"], seen["wins"],
                              seen["sum"] / pairs if pairs else None, seen["missing"])
