"""Streaming a one-row-per-pair table as :class:`~encore_jax.io.PairTable` chunks.

The columns are those of :func:`encore_jax.io.pairs.read_pairs` (``<chosen_prefix><x>`` and
``<rejected_prefix><x>``, each ``x`` a number, list or struct column), read record batch by
record batch and regrouped into chunks of ``chunk_rows`` pairs, so peak memory is
``O(chunk_rows * K)`` whatever the number of pairs. ``rules`` picks rules by name (e.g. the
rules of a weights file), including single elements ``x[i]`` of a list column.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from encore_jax.io.formats import DEFAULT_CHUNK_ROWS, CsvSource, JsonlSource, open_source
from encore_jax.io.layouts import pair_columns
from encore_jax.io.missing import DEFAULT_MISSING, check_missing_policy
from encore_jax.io.tables import DataError, PairTable

__all__ = ["iter_pair_tables", "rule_bases"]

_LIST_ELEMENT = re.compile(r"^(?P<column>.+)\[(?P<index>\d+)\]$")
_SMALL_TEXT_BYTES = 1 << 26  # as the wide reader: small CSV / JSONL files parsed at once


def rule_bases(source: Any, rules: Sequence[str], chosen_prefix: str,
               rejected_prefix: str = "rejected_", *,
               list_names: Mapping[str, Sequence[str]] | None = None,
               exclude: Sequence[str] | None = None) -> list[str]:
    """The column bases ``x`` (``<chosen_prefix><x>``) that hold the named rules, in the
    rules' order of first appearance.

    A name is found, in this order, as a rule of the pair columns (a number column ``x``, a
    field of a struct column, an element of a list column named by ``list_names`` or the
    file's metadata), as a column base ``x``, or as ``x[i]``, element ``i`` of the list
    column ``<chosen_prefix>x``.
    """
    owners: dict[str, str] = {}
    try:
        chosen, _ = pair_columns(source, chosen_prefix=chosen_prefix,
                                 rejected_prefix=rejected_prefix, list_names=list_names,
                                 exclude=exclude, keep_text=False)
        for rc in chosen.rules:
            for name in rc.names:
                owners.setdefault(name, rc.column[len(chosen_prefix):])
    except DataError:  # the pairs reader gives the header's error, for the columns it reads
        pass
    bases: list[str] = []
    for name in rules:
        match = _LIST_ELEMENT.match(name)
        if name in owners:
            base = owners[name]
        elif chosen_prefix + name in source.names:
            base = name
        elif match and chosen_prefix + match["column"] in source.names:
            base = match["column"]
        else:
            shown = ", ".join(repr(c) for c in source.names[:12])
            known = ", ".join(repr(n) for n in list(owners)[:12])
            raise DataError(f"{source.name}: no column {chosen_prefix + name!r} for rule "
                            f"{name!r} (rules: {known or 'none'}; columns: {shown}); check "
                            "--chosen-prefix / --rejected-prefix, the weights file's rules, "
                            "or name list elements with --list-names")
        if base not in bases:
            bases.append(base)
    return bases


def iter_pair_tables(
    data: Any,
    kind: str = "scores",
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    rules: Sequence[str] | None = None,
    chosen_prefix: str = "chosen_",
    rejected_prefix: str = "rejected_",
    id_column: str | None = None,
    subset_column: str | None = None,
    text_columns: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    list_names: Mapping[str, Sequence[str]] | None = None,
    mask_value: float | None = None,
    num_levels: int | None = None,
    bin_range: tuple[float, float] | None = None,
    level_offset: int = 0,
    missing: str = DEFAULT_MISSING,
    file_format: str | None = None,
) -> Iterator[PairTable]:
    """Streams a one-row-per-pair table as :class:`PairTable` chunks of ``chunk_rows`` pairs.

    Args:
      data: a path or an in-memory table, as :func:`encore_jax.io.pairs.read_pairs`.
      kind: ``"scores"`` (``float64``) or ``"ratings"`` (``int32`` levels).
      chunk_rows: pairs per chunk (the last may be smaller).
      rules: rule names to return, in this order (a name ``x[i]`` may be element ``i`` of the
        list column ``<prefix>x``); default every rule of the pair columns. Only the columns
        holding them are read (and see the missing-value policy for them).
      chosen_prefix, rejected_prefix, id_column, subset_column, text_columns, exclude,
        list_names, mask_value, num_levels, bin_range, level_offset, missing, file_format:
        as :func:`encore_jax.io.pairs.read_pairs`. Each chunk's ``missing`` counts its own
        cells and dropped pairs (over every rule of the columns read).

    Raises:
      DataError: as :func:`encore_jax.io.pairs.read_pairs`, a rule not in the file, or a
        header without pairs.
    """
    from encore_jax.io.chunks import _Convert, _iter_blocks, _rebatched, check_options

    bin_range = check_options(chunk_rows, num_levels, bin_range)
    check_missing_policy(missing)
    if kind not in ("ratings", "scores"):
        raise ValueError(f"kind must be 'ratings' or 'scores', got {kind!r}")
    source = open_source(data, file_format)
    bases = None if rules is None else rule_bases(source, rules, chosen_prefix, rejected_prefix,
                                                  list_names=list_names, exclude=exclude)
    blocks = pair_columns(source, chosen_prefix=chosen_prefix, rejected_prefix=rejected_prefix,
                          rule_columns=bases, id_column=id_column, subset_column=subset_column,
                          text_columns=text_columns, exclude=exclude, list_names=list_names)
    first = blocks[0]
    names = first.rule_names
    if rules is not None:
        unknown = [r for r in rules if r not in names]
        if unknown:
            raise DataError(f"{source.name}: no rule {unknown[0]!r} among the rules of "
                            f"{chosen_prefix}/{rejected_prefix} columns {list(names)}")
    pick = None if rules is None else np.array([names.index(r) for r in rules])
    convert = _Convert(kind, mask_value, num_levels, bin_range, level_offset)
    small = (isinstance(getattr(source, "path", None), Path) and source.path.is_file()
             and source.path.stat().st_size <= _SMALL_TEXT_BYTES
             and isinstance(source, CsvSource | JsonlSource))
    pieces = _iter_blocks(source, blocks, convert, missing, int(chunk_rows), small)
    yielded = False
    for (values, masks, kept), counts in _rebatched(pieces, int(chunk_rows)):
        if pick is not None:
            values, masks = [v[:, pick] for v in values], [m[:, pick] for m in masks]
        yield PairTable(
            tuple(rules) if rules is not None else names, values[0], values[1], masks[0],
            masks[1], kept.get(subset_column) if subset_column else None, source.name,
            kept.get(id_column) if id_column else None,
            {n: kept[n] for n in first.text_columns}, counts)
        yielded = True
    if not yielded:
        raise DataError(f"{source.name}: header only, no pairs")
