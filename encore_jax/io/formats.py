"""Input formats, opened as streams of Apache Arrow record batches.

A *source* is a file (``.csv``, ``.jsonl``/``.ndjson``, ``.parquet``/``.pq``, ``.npz``), a
directory of parquet files (read as one ``pyarrow.dataset``), or an in-memory table: a
``pyarrow.Table`` / ``RecordBatch``, a pandas ``DataFrame``, or anything that holds an Arrow
table (a Hugging Face ``datasets.Dataset`` through ``.data.table``, a polars frame through
``.to_arrow()``, any object with ``__arrow_c_stream__``); none of those libraries is imported
here. pyarrow is imported when a source is opened, never at ``import encore_jax``.

Missing values: an empty CSV cell (or one of only spaces), a JSON ``null`` or absent key, an
Arrow null; ``NaN`` is a value (the readers refuse it). Rows are named as a text editor counts
them in CSV (``row 1`` is the header) and JSONL (``line N``), and from 0 in parquet, NPZ and
in-memory tables (the index into the arrays).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from encore_jax.io.sources import _HEAD_ROWS, DEFAULT_CHUNK_ROWS, Source, TableSource, _pa, short
from encore_jax.io.tables import DataError

__all__ = ["DEFAULT_CHUNK_ROWS", "FORMATS", "Source", "detect_format", "open_source"]

FORMATS = ("csv", "jsonl", "parquet", "npz")
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet",
             ".pq": "parquet", ".npz": "npz"}
#: Bytes per block of a streamed CSV / JSONL read (grows for a longer row, see below). Arrow's
#: streaming readers read blocks ahead in the background: measured on a 140 MB CSV, the
#: resident memory of a streamed read grows by about 60 MB with 1 MiB blocks (whatever the
#: file's size: also 60 MB for 70 MB) and by 160 MB with 4 MiB blocks.
_BLOCK_BYTES = 1 << 20
_HEAD_BLOCK_BYTES = 1 << 16  # the first block, read to infer the columns' types
_WHOLE_BLOCK_BYTES = 1 << 20  # blocks of a whole (multi-threaded) read
#: The largest block a CSV / JSONL read grows to: a row (a JSON line, or a CSV record with its
#: quoted newlines) must fit in one block, so this bounds the longest row (1 GiB).
MAX_BLOCK_BYTES = 1 << 30


def _straddles(err: BaseException) -> bool:
    """Arrow's error for a row longer than the read's block size."""
    return "straddling" in str(err) or "straddles" in str(err)


def _grown(block: int, err: BaseException, path: Path) -> int:
    """The next block size after ``err`` (a row longer than ``block``), or the error."""
    if block >= MAX_BLOCK_BYTES:
        raise DataError(f"{path}: a row longer than {MAX_BLOCK_BYTES >> 20} MiB (the longest "
                        f"row a read takes, encore_jax.io.formats.MAX_BLOCK_BYTES): "
                        f"{short(err)}") from None
    return min(block * 4, MAX_BLOCK_BYTES)


def detect_format(path: str | Path, file_format: str | None = None) -> str:
    """The format of ``path``: ``file_format`` if given, else from the suffix (a directory is
    a parquet dataset).

    Raises:
      DataError: an unknown suffix (and no ``file_format``).
      ValueError: ``file_format`` not one of :data:`FORMATS`.
    """
    if file_format is not None:
        if file_format not in FORMATS:
            raise ValueError(f"file_format must be one of {FORMATS}, got {file_format!r}")
        return file_format
    if Path(path).is_dir():
        return "parquet"
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(
            f"{path}: unsupported format {suffix!r} (expected one of "
            f"{', '.join(sorted(_SUFFIXES))}, or pass the format with --format)"
        )
    return _SUFFIXES[suffix]


class CsvSource(Source):
    """A CSV file: a header row of column names, read by ``pyarrow.csv``; only empty (or
    all-space) cells are missing values (``NA``, ``nan`` and the like are not).

    Quoted cells may hold newlines and be of any length: a file holding a ``"`` is parsed with
    ``newlines_in_values``, and a read whose block is shorter than a row is read again with a
    block 4 times larger (rows already yielded are skipped), up to :data:`MAX_BLOCK_BYTES`;
    memory stays ``O(block)``, about the longest row, not the file."""

    row_base = 2

    def __init__(self, path: Path) -> None:
        import pyarrow.csv as pacsv

        self.path = path
        self._parse = pacsv.ParseOptions(newlines_in_values=_check_quotes(path))
        self._block = _BLOCK_BYTES
        self._whole_block = _WHOLE_BLOCK_BYTES
        block = _HEAD_BLOCK_BYTES
        while True:
            try:
                reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=block),
                                        parse_options=self._parse)
                first = reader.read_next_batch()
                self._head = _pa().Table.from_batches([first])
                break
            except _pa().ArrowInvalid as err:
                if not _straddles(err):
                    raise _csv_error(path, err) from None
                block = _grown(block, err, path)
                self._block = self._whole_block = max(self._block, block)
            except StopIteration:
                self._head = None
                break
            except UnicodeDecodeError:
                raise DataError(f"{path}: {_first_bad_utf8_row(path)}") from None
            except OSError as err:
                raise _csv_error(path, err) from None
        try:  # decodes the column names
            _ = self._head.schema.names if self._head is not None else reader.schema.names
        except UnicodeDecodeError:
            raise DataError(f"{path}: {_first_bad_utf8_row(path)}") from None
        if self._head is None:
            try:
                schema = reader.schema
            except Exception:  # noqa: BLE001 - an empty file has no schema
                schema = None
            if schema is None or not schema.names:
                raise DataError(f"{path}: empty file (expected a header row of column names)")
            self._head = schema.empty_table()
        renamed = [n.strip() for n in self._head.schema.names]
        self.raw_names = tuple(self._head.schema.names)
        if any(_pa().types.is_binary(f.type) for f in self._head.schema):
            raise DataError(f"{path}: {_first_bad_utf8_row(path)}")
        self._head = self._head.rename_columns(renamed)
        super().__init__(str(path), self._head.schema)

    def head(self) -> Any:
        return self._head

    def _options(self, columns, numeric, text, stage):
        """Stage 0: integer columns (as inferred) as int64, boolean columns (``true`` /
        ``false``, read as 1 / 0) as booleans, others float64; stage 1: every number column
        float64 (booleans stay so); stage 2: number columns as text, for the converter to name
        the bad cell (or take an all-space cell as missing)."""
        import pyarrow.csv as pacsv

        pa = _pa()
        raw = dict(zip(self.names, self.raw_names, strict=True))
        types = {}
        for c in numeric:
            inferred = self.schema.field(c).type
            types[raw[c]] = (pa.string() if stage == 2 else pa.bool_()
                             if pa.types.is_boolean(inferred) else pa.int64()
                             if stage == 0 and pa.types.is_integer(inferred) else pa.float64())
        types.update({raw[c]: pa.string() for c in text})
        return pacsv.ConvertOptions(include_columns=[raw[c] for c in columns],
                                    column_types=types, null_values=[""],
                                    strings_can_be_null=False, quoted_strings_can_be_null=False)

    def batches(self, columns, *, numeric=(), text=(), batch_rows=DEFAULT_CHUNK_ROWS,
                whole=False):
        # Integer columns are read as int64 only when the whole file is read at once: a
        # stream cannot take back blocks already yielded when a later one holds 2.5.
        # A row longer than the block is read again with a larger block (same skipping).
        done = 0  # rows yielded; a retry (a later stage, a larger block) skips them
        stages = [0, 1, 2] if whole else [1, 2]
        while stages:
            skip = done
            try:
                for batch in self._read(columns, numeric, text, whole, stages[0]):
                    if skip >= batch.num_rows:
                        skip -= batch.num_rows
                        continue
                    batch, skip = batch.slice(skip), 0
                    done += batch.num_rows
                    yield batch
                return
            except _pa().ArrowInvalid as err:
                if _straddles(err):
                    if whole:
                        self._whole_block = _grown(self._whole_block, err, self.path)
                    else:
                        self._block = _grown(self._block, err, self.path)
                    continue
                if "conversion error" not in str(err) or stages[0] == 2:
                    raise _csv_error(self.path, err) from None
                stages.pop(0)

    def _read(self, columns, numeric, text, whole, stage):
        import pyarrow.csv as pacsv

        convert = self._options(columns, numeric, text, stage)
        names = {raw: name for name, raw in zip(self.names, self.raw_names, strict=True)}
        if whole:
            table = pacsv.read_csv(self.path, convert_options=convert, parse_options=self._parse,
                                   read_options=pacsv.ReadOptions(block_size=self._whole_block))
            yield table.rename_columns([names[n] for n in table.schema.names])
            return
        for batch in pacsv.open_csv(self.path, convert_options=convert,
                                    parse_options=self._parse,
                                    read_options=pacsv.ReadOptions(block_size=self._block)):
            yield batch.rename_columns([names[n] for n in batch.schema.names])


def _check_quotes(path: Path) -> bool:
    """Whether the file holds a ``"`` (its quoted cells may then hold newlines). An odd
    number of ``"`` means a quote never closed (a truncated file), which Arrow's parser would
    accept as a value running to the end of the file: an error. Read in 16 MiB pieces (a
    memory map would count the whole file in the resident memory)."""
    quotes = lines = 0
    last_quote_line = 0
    with path.open("rb") as handle:
        while piece := handle.read(1 << 24):
            found = piece.count(b'"')
            if found:
                quotes += found
                last_quote_line = lines + piece.count(b"\n", 0, piece.rfind(b'"'))
            lines += piece.count(b"\n")
    if quotes % 2 == 0:
        return quotes > 0
    raise DataError(f"{path}: row {last_quote_line + 1}: a quote is never closed (is the file "
                    "truncated?)")


def _first_bad_utf8_row(path: Path) -> str:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                return f"row {number}: not UTF-8 text ({err.reason}); save the file as UTF-8"
    return "not UTF-8 text; save the file as UTF-8"


def _csv_error(path: Path, err: BaseException) -> DataError:
    text = short(err)
    if "UTF8" in text or isinstance(err, UnicodeDecodeError):
        return DataError(f"{path}: not UTF-8 text ({text}); save the file as UTF-8")
    if "Empty CSV file" in text:
        return DataError(f"{path}: empty file (expected a header row of column names)")
    if "Expected" in text and "columns" in text:
        import csv

        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.reader(handle)
            width = len(next(reader, []))
            for row in reader:
                if row and len(row) != width:
                    return DataError(f"{path}: row {reader.line_num} has {len(row)} cells, "
                                     f"header has {width}")
    return DataError(f"{path}: not a readable CSV file ({text})")


class JsonlSource(Source):
    """A JSON lines file (one object per line), read by ``pyarrow.json``; a ``null`` or an
    absent key is a missing value. Lines may be of any length: a read whose block is shorter
    than a line is read again with a block 4 times larger (as :class:`CsvSource`)."""

    row_word = "line"
    row_base = 1

    def __init__(self, path: Path) -> None:
        import pyarrow.json as pajson

        self.path = path
        self._block = _BLOCK_BYTES
        self._whole_block = _WHOLE_BLOCK_BYTES
        if path.stat().st_size == 0 or _starts_blank(path):
            raise DataError(f"{path}: empty file (expected one JSON object per line)")
        block = _HEAD_BLOCK_BYTES
        while True:
            try:
                reader = pajson.open_json(path,
                                          read_options=pajson.ReadOptions(block_size=block))
                self._head = _pa().Table.from_batches([reader.read_next_batch()])
                _ = self._head.schema.names  # decodes the keys
                break
            except _pa().ArrowInvalid as err:
                if not _straddles(err):
                    raise self._error(err, ()) from None
                block = _grown(block, err, path)
                self._block = self._whole_block = max(self._block, block)
            except (StopIteration, UnicodeDecodeError) as err:
                raise self._error(err, ()) from None
        super().__init__(str(path), self._head.schema)

    def head(self) -> Any:
        return self._head

    def _schema(self, columns, numeric, text):
        pa = _pa()
        fields = []
        for name in dict.fromkeys([*self.names, *columns]):
            kind = self.schema.field(name).type if name in self.schema.names else pa.float64()
            if name in text:
                kind = pa.string()
            elif name in numeric:
                kind = _float_type(kind)
            fields.append(pa.field(name, kind))
        return pa.schema(fields)

    def batches(self, columns, *, numeric=(), text=(), batch_rows=DEFAULT_CHUNK_ROWS,
                whole=False):
        parse_schema = self._schema(columns, numeric, text)
        done = 0  # rows yielded; a retry with a larger block skips them
        while True:
            skip = done
            try:
                for batch in self._read(parse_schema, whole):
                    if skip >= batch.num_rows:
                        skip -= batch.num_rows
                        continue
                    batch, skip = batch.slice(skip), 0
                    done += batch.num_rows
                    yield batch.select(list(columns))
                return
            except _pa().ArrowInvalid as err:
                if not _straddles(err):
                    raise self._error(err, numeric, columns) from None
                if whole:
                    self._whole_block = _grown(self._whole_block, err, self.path)
                else:
                    self._block = _grown(self._block, err, self.path)

    def _read(self, parse_schema, whole):
        import pyarrow.json as pajson

        parse = pajson.ParseOptions(explicit_schema=parse_schema,
                                    unexpected_field_behavior="error")
        if whole:
            yield pajson.read_json(
                self.path, parse_options=parse,
                read_options=pajson.ReadOptions(block_size=self._whole_block))
            return
        yield from pajson.open_json(self.path, parse_options=parse,
                                    read_options=pajson.ReadOptions(block_size=self._block))

    def _error(self, err: BaseException, numeric: Sequence[str],
               columns: Sequence[str] | None = None) -> DataError:
        """The first bad line, found by scanning the file (only after pyarrow refused it)."""
        known = None if columns is None else {*self.names, *columns}
        where = _first_bad_json_line(self.path, numeric, known)
        if where is not None:
            return DataError(f"{self.path}: {where}")
        text = short(err)
        if "UTF8" in text or "UTF-8" in text:
            return DataError(f"{self.path}: not UTF-8 text ({text}); save the file as UTF-8")
        return DataError(f"{self.path}: not readable JSON lines ({text})")


def _starts_blank(path: Path) -> bool:
    """Whether the first 64 KiB of the file are only white space (read, not the file)."""
    with path.open("rb") as handle:
        return not handle.read(65536).strip()


def _float_type(kind: Any) -> Any:
    """float64 for a number column, list<float64> for a list, floats inside a struct."""
    pa = _pa()
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return pa.list_(_float_type(kind.value_type))
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(f.name, _float_type(f.type)) for f in kind])
    if pa.types.is_boolean(kind):
        return kind
    return pa.float64()


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "text", list: "list", dict: "object"}.get(type(value), "null")


def _first_bad_json_line(path: Path, numeric: Sequence[str], known: set[str] | None
                         ) -> str | None:
    """The first line that is not a JSON object, repeats a key, has a key outside ``known``,
    holds a non-number under a ``numeric`` key, or changes a key's kind of value."""
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        for key in keys:
            if keys.count(key) > 1:
                raise ValueError(f"duplicate key {key!r}")
        return dict(pairs)

    kinds = {name: "number" for name in numeric}
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as err:
                    return f"line {number}: not UTF-8 text ({err.reason}); save it as UTF-8"
                if not line.strip():
                    continue
                try:
                    record = json.loads(line, object_pairs_hook=no_duplicates)
                except ValueError as err:
                    return f"line {number}: not valid JSON ({short(err)})"
                if not isinstance(record, dict):
                    return f"line {number}: expected a JSON object, got {type(record).__name__}"
                extra = [key for key in record if known is not None and key not in known]
                if extra:
                    return (f"line {number}, column {extra[0]!r}: not a key of the first "
                            "records; name the rule columns with --rule-columns (rule_columns) "
                            "to read records with differing keys")
                for name, value in record.items():
                    kind = _json_kind(value)
                    if kind == "null":
                        continue
                    expected = kinds.setdefault(name, kind)
                    if kind != expected and expected == "number":
                        return (f"line {number}, column {name!r}: {value!r} is not a number; "
                                f"if {name!r} is text, add --text-columns {name} "
                                f"(or --exclude {name})")
                    if kind != expected:
                        return (f"line {number}, column {name!r}: a {kind} where earlier "
                                f"lines hold a {expected}")
    except OSError as err:
        return f"cannot read ({short(err)})"
    return None


class ParquetSource(Source):
    """A parquet file, or a directory of parquet files read as one ``pyarrow.dataset``."""

    def __init__(self, path: Path) -> None:
        pa = _pa()
        self.path = path
        if path.is_file() and path.stat().st_size == 0:
            raise DataError(f"{path}: empty file (expected a parquet file)")
        try:
            if path.is_dir():
                import pyarrow.dataset as pads

                self.dataset = pads.dataset(path, format="parquet")
                schema = self.dataset.schema
                if not self.dataset.files:
                    raise DataError(f"{path}: a directory without parquet files")
            else:
                import pyarrow.parquet as pq

                self.file = pq.ParquetFile(path)
                schema = self.file.schema_arrow
        except (pa.ArrowException, OSError, ValueError) as err:
            raise DataError(f"{path}: not a readable parquet file ({short(err)})") from None
        if path.is_dir():
            _same_columns(path, self.dataset.files)
        super().__init__(str(path), schema)

    def num_rows(self) -> int:
        if self.path.is_dir():
            return int(self.dataset.count_rows())
        return int(self.file.metadata.num_rows)

    def head(self) -> Any:
        return _pa().Table.from_batches(
            list(self._iter(list(self.names), _HEAD_ROWS, limit=_HEAD_ROWS)), schema=self.schema)

    def _iter(self, columns, batch_rows, limit=None):
        pa = _pa()
        start = 0
        if self.path.is_dir():
            batches = self.dataset.to_batches(columns=list(columns), batch_size=batch_rows)
        else:
            batches = self.file.iter_batches(batch_size=batch_rows, columns=list(columns))
        while limit is None or start < limit:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError, ValueError) as err:
                raise DataError(f"{self.path}: not a readable parquet file near row {start} "
                                f"({short(err)})") from None
            start += batch.num_rows
            yield batch

    def batches(self, columns, *, numeric=(), text=(), batch_rows=DEFAULT_CHUNK_ROWS,
                whole=False):
        del numeric, text
        if not whole:
            yield from self._iter(columns, batch_rows)
            return
        pa = _pa()
        try:
            if self.path.is_dir():
                yield self.dataset.to_table(columns=list(columns))
            else:
                yield self.file.read(columns=list(columns))
        except (pa.ArrowException, OSError, ValueError) as err:
            raise DataError(f"{self.path}: not a readable parquet file ({short(err)})") from None


def _same_columns(path: Path, files: Sequence[str]) -> None:
    """Every parquet file of a directory must hold the same column names (a dataset would
    read the first file's columns and fill or drop the others silently)."""
    import pyarrow.parquet as pq

    first = pq.read_schema(files[0]).names
    for name in files[1:]:
        try:
            names = pq.read_schema(name).names
        except (_pa().ArrowException, OSError) as err:
            raise DataError(f"{name}: not a readable parquet file ({short(err)})") from None
        if set(names) != set(first):
            only_first = [c for c in first if c not in names]
            only_this = [c for c in names if c not in first]
            raise DataError(f"{path}: the parquet files {Path(files[0]).name} and "
                            f"{Path(name).name} hold different columns (only in the first: "
                            f"{only_first}; only in the other: {only_this}); write them with "
                            "one set of columns, or read them one file at a time")


def _in_memory_table(data: Any) -> tuple[Any, str] | None:
    """``(pyarrow.Table, description)`` of an in-memory table, or ``None``."""
    pa = _pa()
    if isinstance(data, pa.Table):
        return data, "<pyarrow.Table>"
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data]), "<pyarrow.RecordBatch>"
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(data, preserve_index=False), "<pandas.DataFrame>"
    inner = getattr(getattr(data, "data", None), "table", None)  # datasets.Dataset
    if isinstance(inner, pa.Table):
        return inner, f"<{type(data).__name__}>"
    if hasattr(data, "to_arrow"):
        table = data.to_arrow()
        if isinstance(table, pa.Table):
            return table, f"<{type(data).__name__}>"
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data), f"<{type(data).__name__}>"
    return None


def _npz_source(path: Path) -> Source:
    from encore_jax.io.npz import NpzSource

    return NpzSource(path)


_FILE_SOURCES = {"csv": CsvSource, "jsonl": JsonlSource, "parquet": ParquetSource,
                 "npz": _npz_source}


def open_source(data: Any, file_format: str | None = None) -> Source:
    """A :class:`Source` of a path (file or parquet directory) or of an in-memory table.

    Raises:
      DataError: a missing, empty or unreadable file, or an unknown format.
      TypeError: ``data`` is neither a path nor a table.
    """
    if isinstance(data, Source):
        return data
    if isinstance(data, str | Path):
        path = Path(data)
        fmt = detect_format(path, file_format)
        if not path.exists():
            raise DataError(f"{path}: no such file")
        if path.is_dir() and fmt != "parquet":
            raise DataError(f"{path}: a directory is read as a parquet dataset only")
        return _FILE_SOURCES[fmt](path)
    table = _in_memory_table(data)
    if table is None:
        raise TypeError(
            f"expected a file path or a table (pyarrow.Table, pandas.DataFrame, "
            f"datasets.Dataset, ...), got {type(data).__name__}"
        )
    return TableSource(*table)
