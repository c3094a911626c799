"""Writers: tables (CSV, JSONL, parquet, NPZ) through Arrow, metadata, weights JSON.

Outputs carry the settings that change their numbers (levels, binning range, temperature,
estimator, missing-value policy, ...) as metadata: in the parquet schema metadata (key
``encore_jax``), in an NPZ ``__metadata__`` entry, or in a JSON sidecar ``<file>.meta.json``
next to CSV and JSONL files.

JSON has no NaN or infinity: in metadata and JSON documents (weights files, sidecars) a
non-finite number is written as the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``
(``float()`` reads each back), e.g. ``mask_value = NaN`` (``--mask-value nan``). Data rows
never hold one (the readers refuse NaN).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from encore_jax.io.formats import detect_format, open_source, short
from encore_jax.io.tables import DataError, RatingTable, ScoreTable, WeightsFile, check_unique

__all__ = [
    "MAX_JSON_DEPTH",
    "METADATA_KEY",
    "WEIGHTS_FORMAT",
    "TableWriter",
    "check_json_depth",
    "embeds_metadata",
    "json_safe",
    "output_metadata",
    "read_metadata",
    "read_weights_json",
    "sidecar_path",
    "trl_reward_config",
    "weights_document",
    "write_json",
    "write_ratings",
    "write_table",
    "write_weights_json",
]

METADATA_KEY = "encore_jax"
WEIGHTS_FORMAT = "encore-jax.weights/1"


def embeds_metadata(file_format: str) -> bool:
    """True when the format stores metadata inside the file (parquet, NPZ); CSV and JSONL
    get a JSON sidecar, :func:`sidecar_path`."""
    return detect_format("x", file_format) in ("parquet", "npz")


def sidecar_path(path: str | Path) -> Path:
    """The JSON metadata sidecar of a CSV or JSONL output: ``<file>.meta.json``."""
    path = Path(path)
    return path.with_name(path.name + ".meta.json")


def output_metadata(**settings: Any) -> dict[str, Any]:
    """The metadata dict written with an output: ``settings`` plus the package version
    (values must be JSON-serialisable; tuples become lists)."""
    from encore_jax._version import __version__

    metadata = json_safe({"encore_jax_version": __version__, **settings})
    json.dumps(metadata, allow_nan=False)  # fail early on what JSON cannot hold
    return metadata


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (in dicts, lists and tuples, at any depth)
    replaced by ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` (JSON has no such numbers);
    tuples become lists."""
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return "NaN"
        if np.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, Mapping):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def write_json(path: str | Path, document: Mapping[str, Any]) -> None:
    """Writes a JSON document (indented, trailing newline); a non-finite number is written as
    a string (see :func:`json_safe`)."""
    text = json.dumps(json_safe(document), indent=2, allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


def _arrow_column(name: str, column: Any) -> Any:
    import pyarrow as pa

    if isinstance(column, pa.Array | pa.ChunkedArray):
        return column
    if isinstance(column, list) and column and isinstance(column[0], list | tuple | type(None)):
        return pa.array(column)  # a list-valued column
    array = np.ma.asarray(column)
    if array.ndim != 1:
        raise ValueError(f"column {name!r} must be 1-D, got shape {array.shape}")
    if array.dtype.kind == "O" and all(isinstance(v, str) for v in np.ma.getdata(array)):
        return pa.array(np.ma.getdata(array), type=pa.string())  # text as the readers keep it
    if array.dtype.kind not in "biufU":
        raise TypeError(f"column {name!r} has dtype {array.dtype}; use bool, numbers or str")
    ok = ~np.ma.getmaskarray(array)
    plain = np.ma.getdata(array)
    if plain.dtype.kind == "f" and not np.isfinite(plain[ok]).all():
        raise ValueError(f"column {name!r} holds NaN or inf; mask missing values instead")
    return pa.array(plain, mask=None if ok.all() else ~ok)


def _arrow_table(columns: Mapping[str, Any]) -> Any:
    import pyarrow as pa

    if not columns:
        raise ValueError("columns is empty; nothing to write")
    arrays = {}
    length = None
    for name, column in columns.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"column names must be non-empty strings, got {name!r}")
        arrays[name] = _arrow_column(name, column)
        if length is None:
            length = len(arrays[name])
        elif len(arrays[name]) != length:
            raise ValueError(f"column {name!r} has {len(arrays[name])} rows, expected {length}")
    return pa.table(arrays)


class TableWriter:
    """Writes a table in chunks of rows (a context manager): CSV, JSONL and parquet are
    streamed to disk chunk by chunk; NPZ collects the chunks and writes on close.

    ``write(columns)`` takes what :func:`write_table` takes; every chunk must have the same
    column names. ``metadata`` goes into the parquet schema, the NPZ ``__metadata__`` entry
    or the CSV / JSONL sidecar (written on close).
    """

    def __init__(self, path: str | Path, *, metadata: Mapping[str, Any] | None = None,
                 file_format: str | None = None) -> None:
        self.path = Path(path)
        self.format = detect_format(path, file_format)
        self.meta_text = (None if metadata is None
                          else json.dumps(json_safe(dict(metadata)), allow_nan=False))
        self.names: list[str] | None = None
        self.schema: Any = None
        self.rows = 0
        self._writer: Any = None
        self._handle: Any = None
        self._tables: list[Any] = []

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is None:
            self.close()
        else:
            self._release()

    def _release(self) -> None:
        for attr in ("_writer", "_handle"):  # the Arrow writer first: it writes into the handle
            if getattr(self, attr) is not None:
                getattr(self, attr).close()
                setattr(self, attr, None)

    def write(self, columns: Mapping[str, Any]) -> None:
        table = _arrow_table(columns)
        if self.names is None:
            self.names = list(table.column_names)
            self.schema = table.schema
            self._start()
        elif table.column_names != self.names:
            raise ValueError(f"columns {table.column_names} differ from the first chunk's "
                             f"{self.names}")
        self.rows += table.num_rows
        if self.format == "npz":
            self._tables.append(table)
            return
        table = _cast_like(table, self.schema)
        if self.format == "jsonl":
            for record in table.to_pylist():
                self._handle.write(json.dumps(record, allow_nan=False) + "\n")
        elif self.format == "csv":
            _write_csv_chunk(self._handle, table)
        else:
            self._writer.write_table(table)

    def _start(self) -> None:
        if self.format == "parquet":
            import pyarrow.parquet as pq

            schema = self.schema
            if self.meta_text is not None:
                schema = schema.with_metadata({METADATA_KEY: self.meta_text})
            self._writer = pq.ParquetWriter(self.path, schema)
        elif self.format == "csv":

            self._handle = self.path.open("w", newline="", encoding="utf-8")
            _csv_rows(self._handle, [self.names])
        elif self.format == "jsonl":
            self._handle = self.path.open("w", encoding="utf-8")

    def close(self) -> None:
        """Finishes the file (and writes the sidecar / NPZ); an empty table is an error."""
        if self.names is None:
            raise ValueError(f"{self.path}: no columns were written")
        self._release()
        if self.format == "npz":
            import pyarrow as pa

            whole = pa.concat_tables([_cast_like(t, self.schema) for t in self._tables])
            out: dict[str, np.ndarray] = {}
            for name in self.names:
                column = whole.column(name).combine_chunks()
                valid = ~column.is_null().to_numpy(zero_copy_only=False)
                filled = column.fill_null(pa.scalar(_zero(column.type), column.type))
                values = filled.to_numpy(zero_copy_only=False)
                out[name] = values.astype(str) if values.dtype == object else values
                if not valid.all():
                    out[f"{name}_mask"] = valid
            if self.meta_text is not None:
                out["__metadata__"] = np.array(self.meta_text)
            with self.path.open("wb") as handle:
                np.savez(handle, **out)
            self._tables = []
        elif self.format in ("csv", "jsonl") and self.meta_text is not None:
            write_json(sidecar_path(self.path), json.loads(self.meta_text))


def _csv_rows(handle: Any, rows: Any) -> None:
    import csv

    csv.writer(handle, lineterminator="\n").writerows(rows)


def _write_csv_chunk(handle: Any, table: Any) -> None:
    """Rows of ``table`` as CSV: by Arrow, quoting nothing (Arrow would quote every string);
    a chunk with a value that needs quotes goes through the csv module instead."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv

    buffer = io.BytesIO()
    try:
        if table.num_columns == 1 and table.column(0).null_count:
            # a blank line would be skipped by CSV readers: the csv module writes ""
            raise pa.ArrowInvalid("a missing value alone on its row")
        pacsv.write_csv(table, buffer, write_options=pacsv.WriteOptions(
            include_header=False, quoting_style="none"))
    except pa.ArrowInvalid:
        def cell(value: Any) -> Any:
            if isinstance(value, bool):
                return "true" if value else "false"
            return "" if value is None else value

        _csv_rows(handle, ([cell(v) for v in row.values()] for row in table.to_pylist()))
        return
    handle.write(buffer.getvalue().decode("utf-8"))


def _zero(arrow_type: Any) -> Any:
    import pyarrow as pa

    if pa.types.is_string(arrow_type):
        return ""
    if pa.types.is_boolean(arrow_type):
        return False
    return 0


def _cast_like(table: Any, schema: Any) -> Any:
    """``table`` in the first chunk's types (an all-null chunk or narrower ints)."""
    if table.schema.equals(schema):
        return table
    try:
        return table.cast(schema)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types
        raise ValueError(f"a chunk's column types {table.schema.types} do not match the "
                         f"first chunk's {schema.types} ({short(err)})") from None


def write_table(path: str | Path, columns: Mapping[str, Any], *,
                metadata: Mapping[str, Any] | None = None,
                file_format: str | None = None) -> None:
    """Writes named columns as a CSV, JSONL, parquet or NPZ table.

    Args:
      path: the output file (overwritten; see :func:`encore_jax.io.atomic.atomic_write`).
      columns: name -> 1-D array of bools, numbers or strings (a ``numpy.ma`` masked array
        marks missing values: empty CSV cell, JSON ``null``, parquet null, NPZ
        ``<name>_mask``), or a ``pyarrow.Array`` (e.g. a list column; parquet / JSONL).
        NaN and inf are refused.
      metadata: JSON-able settings (see :func:`output_metadata`).
      file_format: one of ``csv, jsonl, parquet, npz``; default from the suffix of ``path``.
    """
    with TableWriter(path, metadata=metadata, file_format=file_format) as writer:
        writer.write(columns)


def write_ratings(path: str | Path, table: RatingTable | ScoreTable, *, layout: str = "wide",
                  metadata: Mapping[str, Any] | None = None, id_column: str = "response_id",
                  file_format: str | None = None) -> None:
    """Writes a :class:`RatingTable` or :class:`ScoreTable` so that the readers read it back.

    Wide: an id column (when ``table.ids`` is set) and one column per rule, missing ratings
    as missing values. Long: one ``(id_column, rule, rating)`` row per observed rating;
    responses without ids are numbered ``0..N-1``.
    """
    values = table.ratings if isinstance(table, RatingTable) else table.scores
    if layout not in ("wide", "long"):
        raise ValueError(f"layout must be 'wide' or 'long', got {layout!r}")
    fmt = detect_format(path, file_format)
    if fmt == "npz" and layout != "wide":
        raise ValueError("an NPZ holds the wide layout only")
    if layout == "wide":
        columns: dict[str, Any] = {}
        if table.ids is not None:
            columns[id_column] = np.asarray(table.ids, dtype=str)
        for k, name in enumerate(table.rule_names):
            columns[name] = np.ma.masked_array(values[:, k], mask=~table.mask[:, k])
    else:
        ids = table.ids if table.ids is not None else np.arange(values.shape[0]).astype(str)
        rows, cols = np.nonzero(table.mask)
        columns = {id_column: np.asarray(ids, dtype=str)[rows],
                   "rule": np.array(table.rule_names, dtype=str)[cols],
                   "rating": values[rows, cols]}
    write_table(path, columns, metadata=metadata, file_format=fmt)


def read_metadata(path: str | Path, *, file_format: str | None = None) -> dict[str, Any] | None:
    """The metadata written with an output (see :func:`write_table`), or ``None``."""
    path = Path(path)
    fmt = detect_format(path, file_format)
    if fmt in ("parquet", "npz"):
        source = open_source(path, fmt)
        return source.metadata or None
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return None
    return json.loads(sidecar.read_text(encoding="utf-8"))


TRL_NOTE = (
    "TRL's GRPOTrainer(reward_funcs=...) takes Hub model ids or callables, never rule names: "
    "build one callable per entry of rule_names (same order), e.g. "
    "encore_jax.integrations.trl.rule_reward_funcs(weights_json, rule_scorers), and pass "
    "GRPOConfig(reward_weights=reward_weights); or pass the single callable "
    "encore_jax.integrations.trl.composite_reward_func(weights_json, rule_scorers) with no "
    "reward_weights."
)


def trl_reward_config(rule_names: Sequence[str], weights: Any) -> dict[str, Any]:
    """A reward composition for TRL: ``{"rule_names": [...], "reward_weights": [...],
    "note": ...}``.

    TRL's ``GRPOTrainer(reward_funcs=[f_1, ..., f_K], args=GRPOConfig(reward_weights=[w_1,
    ..., w_K]))`` computes ``sum_k w_k f_k``, the ENCORE composition ``phi = sum_k w_k psi_k``
    when ``f_k`` scores rule ``k``. TRL reads a string in ``reward_funcs`` as a Hub model id,
    so the rule names are under ``rule_names`` (never ``reward_funcs``): map each to a
    callable (see :func:`encore_jax.integrations.trl.rule_reward_funcs`). TRL is not a
    dependency.
    """
    names = [str(n) for n in rule_names]
    values = np.asarray(weights, dtype=np.float64)
    if values.shape != (len(names),):
        raise ValueError(f"weights has shape {values.shape}; expected ({len(names)},)")
    if not np.isfinite(values).all():
        raise ValueError("weights must be finite")
    if len(set(names)) != len(names):
        raise ValueError(f"rule_names has duplicates: {names}")
    return {"rule_names": names, "reward_weights": [float(w) for w in values],
            "note": TRL_NOTE}


def weights_document(rule_names: Sequence[str], weights: Any, *, method: str,
                     metadata: Mapping[str, Any] | None = None,
                     per_rule: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON document of a weights file (see :func:`write_weights_json`)."""
    config = trl_reward_config(rule_names, weights)
    document: dict[str, Any] = {"format": WEIGHTS_FORMAT, "method": method,
                                "rules": config["rule_names"],
                                "weights": config["reward_weights"]}
    for key, values in (per_rule or {}).items():
        values = [v if isinstance(v, int | str) else float(v) for v in np.asarray(values).tolist()]
        if len(values) != len(document["rules"]):
            raise ValueError(f"per_rule[{key!r}] has {len(values)} values for "
                             f"{len(document['rules'])} rules")
        document[key] = values
    document["metadata"] = dict(metadata or {})
    return document


def write_weights_json(path: str | Path, rule_names: Sequence[str], weights: Any, *,
                       method: str, metadata: Mapping[str, Any] | None = None,
                       per_rule: Mapping[str, Any] | None = None) -> None:
    """Writes weights as JSON: ``format, method, rules, weights`` (+ ``per_rule`` lists such
    as ``entropies``) and ``metadata`` (the settings that produced them)."""
    write_json(path, weights_document(rule_names, weights, method=method, metadata=metadata,
                                      per_rule=per_rule))


def read_weights_json(path: str | Path) -> WeightsFile:
    """Reads a weights JSON written by :func:`write_weights_json` (or by hand: ``rules`` and
    ``weights`` lists are required).

    Raises:
      DataError: not JSON, missing keys, lengths that differ, duplicate rule names or
        non-finite weights.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
        check_json_depth(text, str(path))
        document = json.loads(text)
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason})") from None
    except ValueError as err:
        raise DataError(f"{path}: not valid JSON ({short(err)})") from None
    if not isinstance(document, dict) or "rules" not in document or "weights" not in document:
        raise DataError(f"{path}: expected a JSON object with 'rules' and 'weights' lists")
    rules, weights = document["rules"], document["weights"]
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise DataError(f"{path}: 'rules' must be a list of strings")
    if not isinstance(weights, list) or not all(
            isinstance(w, int | float) and not isinstance(w, bool) for w in weights):
        raise DataError(f"{path}: 'weights' must be a list of numbers")
    if len(rules) != len(weights) or not rules:
        raise DataError(f"{path}: {len(rules)} rules but {len(weights)} weights")
    check_unique(str(path), rules, "rule name")
    values = np.asarray(weights, dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataError(f"{path}: 'weights' must be finite")
    metadata = document.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise DataError(f"{path}: 'metadata' must be a JSON object")
    return WeightsFile(tuple(rules), values, str(document.get("method", "unknown")),
                       dict(metadata), str(path), _list_names(path, metadata))


def _list_names(path: Path, metadata: Mapping[str, Any]) -> dict[str, tuple[str, ...]] | None:
    """The metadata's ``list_names`` ``{column: [rule names]}``, checked, or ``None``."""
    names = metadata.get("list_names")
    if names is None:
        return None
    if not isinstance(names, dict) or not all(
            isinstance(v, list) and all(isinstance(n, str) for n in v) for v in names.values()):
        raise DataError(f"{path}: metadata 'list_names' must map each list column to a list of "
                        "rule names")
    return {str(column): tuple(v) for column, v in names.items()}


#: The deepest nesting of ``[`` / ``{`` a weights JSON may hold (a weights file needs 3).
MAX_JSON_DEPTH = 64


def check_json_depth(text: str, name: str, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuses JSON text nested deeper than ``limit`` before it is parsed (Python's parser
    would fail with a ``RecursionError`` far below what a file can hold).

    Raises:
      DataError: naming ``name``, the depth reached and the limit.
    """
    import re
    from itertools import accumulate

    brackets = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    steps = [1 if c in "[{" else -1 for c in brackets if c in "[]{}"]
    depth = max(accumulate(steps), default=0)
    if depth > limit:
        raise DataError(f"{name}: JSON nested {depth} levels deep; a weights file holds at "
                        f"most {limit} (encore_jax.io.writers.MAX_JSON_DEPTH)")
