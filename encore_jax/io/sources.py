"""The base of every input: :class:`Source` (record batches with the names errors use) and
the in-memory :class:`TableSource`; the file formats (:mod:`encore_jax.io.formats`,
:mod:`encore_jax.io.npz`) build on it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["DEFAULT_CHUNK_ROWS", "Source", "TableSource", "short"]

DEFAULT_CHUNK_ROWS = 65536
_HEAD_ROWS = 1000


def short(err: BaseException) -> str:
    """One line of an exception's message (at most 200 characters)."""
    text = " ".join(str(err).split())
    return text[:200] or type(err).__name__


def _pa() -> Any:
    import pyarrow as pa

    return pa


class Source:
    """Record batches of one input, with the names its error messages use.

    Attributes:
      name: the path, or a description of an in-memory table.
      schema: the Arrow schema (for CSV and JSONL: as inferred from the first block).
      row_word, row_base: row ``i`` (0-based data row) is called ``f"{row_word} {i +
        row_base}"``.
      metadata: the file's ``encore_jax`` metadata (parquet schema, NPZ entry), or ``{}``.
    """

    row_word = "row"
    row_base = 0
    metadata: dict[str, Any]

    def __init__(self, name: str, schema: Any) -> None:
        self.name = name
        self.schema = schema
        self.metadata = {}
        raw = (schema.metadata or {}).get(b"encore_jax") if schema is not None else None
        if raw:
            try:
                self.metadata = dict(json.loads(raw))
            except (ValueError, TypeError):
                self.metadata = {}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.schema.names)

    def where(self, row: int, column: str | None = None) -> str:
        text = f"{self.name}: {self.row_word} {row + self.row_base}"
        return text if column is None else f"{text}, column {column!r}"

    def num_rows(self) -> int | None:
        """Rows, when the format records them without reading the data; else ``None``."""
        return None

    def head(self) -> Any:
        """The first rows (at most about a thousand) as a ``pyarrow.Table``, types inferred."""
        raise NotImplementedError

    def batches(self, columns: Sequence[str], *, numeric: Sequence[str] = (),
                text: Sequence[str] = (), batch_rows: int = DEFAULT_CHUNK_ROWS,
                whole: bool = False) -> Iterator[Any]:
        """Record batches holding ``columns``; ``numeric`` columns are parsed as numbers and
        ``text`` columns as strings where the format is untyped. ``whole=True``: the caller
        reads everything: one ``pyarrow.Table`` (a multi-threaded reader where there is
        one), in place of the batches."""
        raise NotImplementedError


class TableSource(Source):
    """An in-memory ``pyarrow.Table``."""

    def __init__(self, table: Any, name: str) -> None:
        super().__init__(name, table.schema)
        self.table = table

    def num_rows(self) -> int:
        return int(self.table.num_rows)

    def head(self) -> Any:
        return self.table.slice(0, _HEAD_ROWS)

    def batches(self, columns, *, numeric=(), text=(), batch_rows=DEFAULT_CHUNK_ROWS,
                whole=False):
        del numeric, text
        if whole:
            yield self.table.select(list(columns))
            return
        yield from self.table.select(list(columns)).to_batches(max_chunksize=batch_rows)
