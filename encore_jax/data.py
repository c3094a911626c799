"""On-disk rating formats: readers and writers.

Formats (chosen by the file suffix, or explicitly with ``file_format=``):

* ``csv`` (``.csv``): a header row of column names; an empty cell is a missing value.
* ``jsonl`` (``.jsonl``, ``.ndjson``): one JSON object per line; ``null`` or an absent key
  is a missing value.
* ``parquet`` (``.parquet``, ``.pq``): needs the optional ``pyarrow`` (``pip install
  encore-jax[io]``), imported only when a parquet file is read or written; a null is a
  missing value.
* ``npz`` (``.npz``): arrays ``ratings [N, K]`` with optional ``mask [N, K]`` (``True`` =
  observed), ``rule_names [K]`` and ``[N]`` arrays such as ``ids``.

Layouts:

* *wide*: one row per response, one column per rule (``rule_columns`` selects them; by
  default every column except the id column).
* *long*: one row per rating, with columns ``response_id, rule, rating`` (names set by
  ``id_column``, ``rule_column``, ``rating_column``), the layout crowdsourcing tools export.
  Rules and responses keep the order of their first appearance.
* *pairs*: two rating blocks per row (``chosen_<rule>`` and ``rejected_<rule>`` columns), or a
  per-response ratings file plus a pair-index file of ``chosen_id, rejected_id`` rows.

Missing ratings become ``mask = False``, never a fill value; ``NaN`` is an error, not a
missing value. Malformed files raise :class:`DataError`, whose message names the file and,
where known, the row and column. Rows are counted as a text editor counts lines in CSV
(``row 1`` is the header) and JSONL (``line N``), and from 0 in parquet and NPZ (the index
into the arrays).

Outputs carry the settings that change their numbers (levels, binning range, temperature,
estimator, tie policy, counts version, ...) as metadata: in the parquet schema metadata
(key ``encore_jax``), in an NPZ ``__metadata__`` entry, or in a JSON sidecar
``<file>.meta.json`` next to CSV and JSONL files.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "FORMATS",
    "LAYOUTS",
    "DataError",
    "PairTable",
    "RatingTable",
    "ScoreTable",
    "TableWriter",
    "WeightsFile",
    "count_rows",
    "detect_format",
    "embeds_metadata",
    "example_ratings_path",
    "iter_rating_chunks",
    "iter_score_chunks",
    "output_metadata",
    "read_metadata",
    "read_rating_pairs",
    "read_ratings",
    "read_score_pairs",
    "read_scores",
    "read_weights_json",
    "sidecar_path",
    "trl_reward_config",
    "weights_document",
    "write_json",
    "write_ratings",
    "write_table",
    "write_weights_json",
]

FORMATS = ("csv", "jsonl", "parquet", "npz")
LAYOUTS = ("wide", "long")
DEFAULT_CHUNK_ROWS = 65536
METADATA_KEY = "encore_jax"
WEIGHTS_FORMAT = "encore-jax.weights/1"
_SUFFIXES = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npz": "npz",
}
_INT32 = np.iinfo(np.int32)


class DataError(ValueError):
    """A file that cannot be read as ratings; the message names the file and position."""


@dataclasses.dataclass(frozen=True)
class RatingTable:
    """Ratings read from a file.

    Attributes:
      rule_names: the ``K`` rule names, in column order.
      ratings: integer levels ``[N, K]`` (``int32``); masked entries hold 0.
      mask: boolean ``[N, K]``, ``True`` = observed.
      source: the file it came from.
      ids: response ids ``[N]`` (strings) when the file has an id column, else ``None``.
    """

    rule_names: tuple[str, ...]
    ratings: np.ndarray
    mask: np.ndarray
    source: str
    ids: np.ndarray | None = None

    @property
    def fully_observed(self) -> bool:
        return bool(self.mask.all())


@dataclasses.dataclass(frozen=True)
class ScoreTable:
    """Real-valued per-rule scores (e.g. reward-model head outputs) read from a file.

    Attributes:
      rule_names: the ``K`` rule names, in column order.
      scores: ``float64`` ``[N, K]``; masked entries hold 0.
      mask: boolean ``[N, K]``, ``True`` = observed.
      source: the file it came from.
      ids: response ids ``[N]`` (strings) or ``None``.
    """

    rule_names: tuple[str, ...]
    scores: np.ndarray
    mask: np.ndarray
    source: str
    ids: np.ndarray | None = None

    @property
    def fully_observed(self) -> bool:
        return bool(self.mask.all())


@dataclasses.dataclass(frozen=True)
class PairTable:
    """Ratings of preference pairs: one block for the chosen, one for the rejected response.

    Attributes:
      rule_names: the ``K`` rule names.
      chosen: ratings of the chosen (or first) responses ``[N, K]``; ``int32`` from
        :func:`read_rating_pairs`, ``float64`` from :func:`read_score_pairs`; masked entries 0.
      rejected: ratings of the rejected (or second) responses ``[N, K]``.
      chosen_mask, rejected_mask: boolean ``[N, K]``, ``True`` = observed.
      subset: per-pair subset names ``[N]`` (strings) or ``None``.
      source: the file(s) it came from.
      ids: per-pair ids ``[N]`` (strings) or ``None``.
    """

    rule_names: tuple[str, ...]
    chosen: np.ndarray
    rejected: np.ndarray
    chosen_mask: np.ndarray
    rejected_mask: np.ndarray
    subset: np.ndarray | None
    source: str
    ids: np.ndarray | None = None

    @property
    def observed(self) -> np.ndarray:
        """Boolean ``[N, K]``: both ratings of the pair observed."""
        return self.chosen_mask & self.rejected_mask

    @property
    def num_pairs(self) -> int:
        return int(self.chosen.shape[0])


@dataclasses.dataclass(frozen=True)
class WeightsFile:
    """A weights JSON file: rule names, weights ``[K]``, the method and its metadata."""

    rule_names: tuple[str, ...]
    weights: np.ndarray
    method: str
    metadata: dict[str, Any]
    source: str


def example_ratings_path() -> Path:
    """The small demo data set that ships with the package (10 rules, 5 levels)."""
    return Path(str(resources.files("encore_jax") / "examples" / "demo_ratings.csv"))


def detect_format(path: str | Path, file_format: str | None = None) -> str:
    """The format of ``path``: ``file_format`` if given, else from the suffix.

    Raises:
      DataError: an unknown suffix (and no ``file_format``).
      ValueError: ``file_format`` not one of :data:`FORMATS`.
    """
    if file_format is not None:
        if file_format not in FORMATS:
            raise ValueError(f"file_format must be one of {FORMATS}, got {file_format!r}")
        return file_format
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(
            f"{path}: unsupported format {suffix!r} (expected one of "
            f"{', '.join(sorted(_SUFFIXES))}, or pass the format explicitly)"
        )
    return _SUFFIXES[suffix]


# ------------------------------------------------------------------------------------------
# Sources: one per format, each yielding raw chunks of selected columns.
# ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Chunk:
    """Raw columns of consecutive rows: numbers as float64 plus presence, and text columns."""

    values: np.ndarray  # float64 [n, K]; meaningful where present
    present: np.ndarray  # bool [n, K]
    text: dict[str, np.ndarray]  # str [n]
    rows: np.ndarray  # int64 [n], row numbers as the format counts them


def _at(path: Path, word: str, row: int, column: str | None = None) -> str:
    where = f"{path}: {word} {row}"
    return where if column is None else f"{where}, column {column!r}"


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:200] or type(err).__name__


def _empty_chunk(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((n, k), dtype=np.float64), np.zeros((n, k), dtype=bool)


def _text_lines(path: Path, word: str) -> Iterator[str]:
    """The lines of a UTF-8 text file (a leading BOM dropped), decoded one at a time so that
    an invalid byte is reported on its own line."""
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as err:
                    raise DataError(
                        f"{path}: not UTF-8 text ({err.reason}) at {word} {number}"
                    ) from None
                yield text
    except OSError as err:
        raise DataError(f"{path}: cannot read ({_short(err)})") from None


class _CsvSource:
    row_word = "row"

    def __init__(self, path: Path) -> None:
        self.path = path
        header = next(self._records(), None)
        if header is None:
            raise DataError(f"{path}: empty file (expected a header row of column names)")
        self.header = tuple(name.strip() for name in header[1])

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        """(line number, cells) of each non-blank row, the header first."""
        reader = csv.reader(_text_lines(self.path, "row"), strict=True)
        line = 0
        try:
            for row in reader:
                line = reader.line_num
                if row:
                    yield line, row
        except csv.Error as err:
            raise DataError(f"{self.path}: row {line + 1}: {_short(err)}") from None

    def chunks(
        self, numeric: Sequence[str], text: Sequence[str], chunk_rows: int, closed: bool
    ) -> Iterator[_Chunk]:
        del closed  # a CSV row has exactly the header's columns
        index = {name: i for i, name in enumerate(self.header)}
        num_idx = [index[name] for name in numeric]
        text_idx = [index[name] for name in text]
        records = self._records()
        next(records)  # the header
        batch: list[tuple[int, list[str]]] = []
        for line, row in records:
            if len(row) != len(self.header):
                raise DataError(
                    f"{self.path}: row {line} has {len(row)} cells, header has {len(self.header)}"
                )
            batch.append((line, row))
            if len(batch) == chunk_rows:
                yield self._convert(batch, numeric, num_idx, text, text_idx)
                batch = []
        if batch:
            yield self._convert(batch, numeric, num_idx, text, text_idx)

    def _convert(self, batch, numeric, num_idx, text, text_idx) -> _Chunk:
        values, present = _empty_chunk(len(batch), len(numeric))
        for k, (name, j) in enumerate(zip(numeric, num_idx, strict=True)):
            cells = [row[j] for _, row in batch]
            try:  # fast path: float() accepts surrounding whitespace; "" is missing
                values[:, k] = [float(c) if c else 0.0 for c in cells]
                present[:, k] = [c != "" for c in cells]
                continue
            except ValueError:
                pass
            for i, ((line, _), cell) in enumerate(zip(batch, cells, strict=True)):
                cell = cell.strip()  # a blank cell is missing too
                if cell == "":
                    values[i, k], present[i, k] = 0.0, False
                    continue
                try:
                    values[i, k], present[i, k] = float(cell), True
                except ValueError:
                    raise DataError(
                        f"{_at(self.path, 'row', line, name)}: {cell!r} is not a number"
                    ) from None
        texts = {}
        for name, j in zip(text, text_idx, strict=True):
            cells = np.char.strip(np.array([row[j] for _, row in batch], dtype=str))
            empty = np.flatnonzero(cells == "")
            if empty.size:
                line = batch[int(empty[0])][0]
                raise DataError(f"{_at(self.path, 'row', line, name)}: empty cell")
            texts[name] = cells
        rows = np.array([line for line, _ in batch], dtype=np.int64)
        return _Chunk(values, present, texts, rows)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


class _JsonlSource:
    row_word = "line"

    def __init__(self, path: Path) -> None:
        self.path = path
        first = next(self._records(), None)
        if first is None:
            raise DataError(f"{path}: empty file (expected one JSON object per line)")
        self.header = tuple(first[1])

    def _records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for line, text in enumerate(_text_lines(self.path, "line"), start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text, object_pairs_hook=_no_duplicate_keys)
            except ValueError as err:
                raise DataError(
                    f"{self.path}: line {line}: not valid JSON ({_short(err)})"
                ) from None
            if not isinstance(record, dict):
                raise DataError(
                    f"{self.path}: line {line}: expected a JSON object, "
                    f"got {type(record).__name__}"
                )
            yield line, record

    def chunks(
        self, numeric: Sequence[str], text: Sequence[str], chunk_rows: int, closed: bool
    ) -> Iterator[_Chunk]:
        known = set(self.header)
        unseen = set(numeric) | set(text)
        batch: list[tuple[int, dict[str, Any]]] = []
        for line, record in self._records():
            unseen.difference_update(record)
            if closed:
                extra = [key for key in record if key not in known]
                if extra:
                    raise DataError(
                        f"{_at(self.path, 'line', line, extra[0])}: not a key of the first "
                        "record; name the rule columns explicitly (rule_columns / "
                        "--rule-columns) to read records with differing keys"
                    )
            batch.append((line, record))
            if len(batch) == chunk_rows:
                yield self._convert(batch, numeric, text)
                batch = []
        if batch:
            yield self._convert(batch, numeric, text)
        if unseen:
            name = sorted(unseen)[0]
            raise DataError(f"{self.path}: no record has the key {name!r}")

    def _convert(self, batch, numeric, text) -> _Chunk:
        values, present = _empty_chunk(len(batch), len(numeric))
        texts = {name: [] for name in text}
        for i, (line, record) in enumerate(batch):
            for k, name in enumerate(numeric):
                value = record.get(name)
                if value is None:
                    continue
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise DataError(
                        f"{_at(self.path, 'line', line, name)}: {value!r} is not a number"
                    )
                values[i, k] = float(value)
                present[i, k] = True
            for name in text:
                value = record.get(name)
                if value is None or isinstance(value, bool | dict | list):
                    raise DataError(
                        f"{_at(self.path, 'line', line, name)}: expected a string or number, "
                        f"got {value!r}"
                    )
                texts[name].append(str(value))
        rows = np.array([line for line, _ in batch], dtype=np.int64)
        return _Chunk(values, present, {n: np.array(v, dtype=str) for n, v in texts.items()}, rows)


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - the io extra is installed in the test env
        raise DataError(
            "parquet support needs pyarrow: pip install 'encore-jax[io]'"
        ) from None
    return pa, pq


class _ParquetSource:
    row_word = "row"

    def __init__(self, path: Path) -> None:
        self.path = path
        pa, pq = _pyarrow()
        if path.stat().st_size == 0:
            raise DataError(f"{path}: empty file (expected a parquet file)")
        try:
            self.file = pq.ParquetFile(path)
            schema = self.file.schema_arrow
        except (pa.ArrowException, OSError, ValueError) as err:
            raise DataError(f"{path}: not a readable parquet file ({_short(err)})") from None
        self.header = tuple(schema.names)
        self.types = {field.name: field.type for field in schema}

    def chunks(
        self, numeric: Sequence[str], text: Sequence[str], chunk_rows: int, closed: bool
    ) -> Iterator[_Chunk]:
        del closed
        pa, _ = _pyarrow()
        import pyarrow.compute as pc

        for name in numeric:
            kind = self.types[name]
            if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)
                    or pa.types.is_null(kind) or pa.types.is_decimal(kind)):
                raise DataError(
                    f"{self.path}: column {name!r} has type {kind}, expected numbers"
                )
        columns = list(dict.fromkeys([*numeric, *text]))
        batches = self.file.iter_batches(batch_size=chunk_rows, columns=columns)
        start = 0
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except (pa.ArrowException, OSError, ValueError) as err:
                raise DataError(
                    f"{self.path}: not a readable parquet file near row {start} ({_short(err)})"
                ) from None
            n = batch.num_rows
            values, present = _empty_chunk(n, len(numeric))
            for k, name in enumerate(numeric):
                column = batch.column(name)
                present[:, k] = ~column.is_null().to_numpy(zero_copy_only=False)
                floats = pc.cast(column, pa.float64(), safe=False)
                values[:, k] = np.where(present[:, k], floats.to_numpy(zero_copy_only=False), 0)
            texts = {}
            for name in text:
                column = batch.column(name)
                nulls = column.is_null().to_numpy(zero_copy_only=False)
                if nulls.any():
                    row = start + int(np.argmax(nulls))
                    raise DataError(f"{_at(self.path, 'row', row, name)}: missing value")
                try:
                    strings = pc.cast(column, pa.string())
                except pa.ArrowException:
                    raise DataError(
                        f"{self.path}: column {name!r} has type {column.type}, expected text"
                    ) from None
                texts[name] = np.array(strings.to_pylist(), dtype=str)
            yield _Chunk(values, present, texts, np.arange(start, start + n, dtype=np.int64))
            start += n


def _npy_header(handle: Any, path: Path, member: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(handle)
        else:
            shape, fortran, dtype = fmt.read_array_header_2_0(handle)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{path}: array {member!r} is not readable ({_short(err)})") from None
    if dtype.hasobject:
        raise DataError(f"{path}: array {member!r} holds Python objects; use numbers")
    return shape, fortran, dtype


class _NpzSource:
    row_word = "row"

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with zipfile.ZipFile(path) as archive:
                members = archive.namelist()
        except (zipfile.BadZipFile, OSError) as err:
            raise DataError(f"{path}: not a readable NPZ archive ({_short(err)})") from None
        self.arrays = sorted(m[:-4] for m in members if m.endswith(".npy"))
        self.matrix = "ratings" in self.arrays
        if not self.matrix:
            self._init_columns()
            return
        with zipfile.ZipFile(path) as archive, archive.open("ratings.npy") as handle:
            self.shape, _, self.dtype = _npy_header(handle, path, "ratings")
        if len(self.shape) != 2:
            raise DataError(f"{path}: 'ratings' must be [N, K], got shape {self.shape}")
        if self.dtype.kind not in "iuf":
            raise DataError(f"{path}: 'ratings' must be numeric, got dtype {self.dtype}")
        num_rules = self.shape[1]
        if "rule_names" in self.arrays:
            names = self._small("rule_names")
            if names.shape != (num_rules,):
                raise DataError(
                    f"{path}: {names.size} rule_names for {num_rules} columns of 'ratings'"
                )
            self.header = tuple(str(name) for name in names)
        else:
            self.header = tuple(f"rule_{k}" for k in range(num_rules))
        if "mask" in self.arrays:
            with zipfile.ZipFile(path) as archive, archive.open("mask.npy") as handle:
                shape, _, dtype = _npy_header(handle, path, "mask")
            if shape != self.shape or dtype != np.bool_:
                raise DataError(
                    f"{path}: 'mask' must be boolean with shape {self.shape}, "
                    f"got {dtype} {shape}"
                )

    def _init_columns(self) -> None:
        """Column mode (no ``ratings`` matrix): every 1-D array is a column, ``<name>_mask``
        its presence mask (as :func:`write_table` writes an NPZ). Read whole, not streamed."""
        names = [a for a in self.arrays if a != "__metadata__"
                 and not (a.endswith("_mask") and a[:-5] in self.arrays)]
        self.columns = {name: self._small(name) for name in names}
        lengths = {array.shape for array in self.columns.values()}
        if not names or len(lengths) != 1 or len(next(iter(lengths))) != 1:
            raise DataError(
                f"{self.path}: no 'ratings' array and no columns of one length "
                f"(found {self.arrays})"
            )
        self.num_rows = next(iter(lengths))[0]
        self.header = tuple(names)

    def _column_chunks(self, numeric, text, chunk_rows) -> Iterator[_Chunk]:
        values = []
        present = []
        for name in numeric:
            array = self.columns[name]
            if array.dtype.kind not in "iuf":
                raise DataError(
                    f"{self.path}: column {name!r} has dtype {array.dtype}, expected numbers")
            mask = (self._small(name + "_mask") if name + "_mask" in self.arrays
                    else np.ones(array.shape, dtype=bool))
            if mask.shape != array.shape or mask.dtype != np.bool_:
                raise DataError(f"{self.path}: {name + '_mask'!r} must be boolean like {name!r}")
            values.append(np.where(mask, array, 0).astype(np.float64))
            present.append(mask)
        n = self.num_rows
        all_values = np.stack(values, axis=1) if values else np.zeros((n, 0))
        all_present = np.stack(present, axis=1) if present else np.zeros((n, 0), bool)
        texts = {name: self.columns[name].astype(str) for name in text}
        for start in range(0, n, chunk_rows):
            stop = min(n, start + chunk_rows)
            yield _Chunk(all_values[start:stop], all_present[start:stop],
                         {name: t[start:stop] for name, t in texts.items()},
                         np.arange(start, stop, dtype=np.int64))

    def _small(self, name: str) -> np.ndarray:
        try:
            with np.load(self.path, allow_pickle=False) as archive:
                return archive[name]
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
            raise DataError(
                f"{self.path}: array {name!r} is not readable ({_short(err)})"
            ) from None

    def _rows(self, member: str, chunk_rows: int) -> Iterator[np.ndarray]:
        """Row blocks of a 2-D array member, read from the archive stream, never whole."""
        try:
            with zipfile.ZipFile(self.path) as archive, archive.open(member + ".npy") as handle:
                shape, fortran, dtype = _npy_header(handle, self.path, member)
                num_rows, num_cols = shape
                if fortran:  # column-major rows are not contiguous: read the array once
                    data = handle.read()
                    whole = np.frombuffer(data, dtype=dtype)
                    if whole.size != num_rows * num_cols:
                        raise DataError(f"{self.path}: array {member!r} is truncated")
                    whole = whole.reshape(shape, order="F")
                    for start in range(0, num_rows, chunk_rows):
                        yield whole[start:start + chunk_rows]
                    return
                row_bytes = num_cols * dtype.itemsize
                for start in range(0, num_rows, chunk_rows):
                    n = min(chunk_rows, num_rows - start)
                    data = handle.read(n * row_bytes)
                    if len(data) != n * row_bytes:
                        raise DataError(
                            f"{self.path}: array {member!r} is truncated at row {start}"
                        )
                    yield np.frombuffer(data, dtype=dtype).reshape(n, num_cols)
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise DataError(f"{self.path}: not a readable NPZ archive ({_short(err)})") from None

    def chunks(
        self, numeric: Sequence[str], text: Sequence[str], chunk_rows: int, closed: bool
    ) -> Iterator[_Chunk]:
        del closed
        if not self.matrix:
            yield from self._column_chunks(numeric, text, chunk_rows)
            return
        index = {name: i for i, name in enumerate(self.header)}
        cols = [index[name] for name in numeric]
        texts = {}
        for name in text:
            if name not in self.arrays:
                raise DataError(f"{self.path}: no array {name!r} (found {self.arrays})")
            array = self._small(name)
            if array.shape != (self.shape[0],):
                raise DataError(
                    f"{self.path}: array {name!r} must have shape ({self.shape[0]},), "
                    f"got {array.shape}"
                )
            texts[name] = array.astype(str)
        masks = self._rows("mask", chunk_rows) if "mask" in self.arrays else None
        start = 0
        for block in self._rows("ratings", chunk_rows):
            n = block.shape[0]
            present = np.ones((n, len(cols)), bool) if masks is None else next(masks)[:, cols]
            values = np.where(present, block[:, cols].astype(np.float64), 0.0)
            chunk_text = {name: array[start:start + n] for name, array in texts.items()}
            yield _Chunk(values, present, chunk_text, np.arange(start, start + n, dtype=np.int64))
            start += n


_SOURCES = {"csv": _CsvSource, "jsonl": _JsonlSource, "parquet": _ParquetSource, "npz": _NpzSource}


def _open(path: str | Path, file_format: str | None) -> Any:
    path = Path(path)
    fmt = detect_format(path, file_format)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return _SOURCES[fmt](path)


# ------------------------------------------------------------------------------------------
# Column selection and value conversion
# ------------------------------------------------------------------------------------------


def _check_unique(path: Path, names: Sequence[str], what: str) -> None:
    seen: dict[str, int] = {}
    for column, name in enumerate(names, start=1):
        if not name:
            raise DataError(f"{path}: column {column} has an empty {what}")
        if name in seen:
            raise DataError(
                f"{path}: duplicate {what} {name!r} (columns {seen[name]} and {column})"
            )
        seen[name] = column


def _require_columns(source: Any, names: Sequence[str | None]) -> None:
    if isinstance(source, _JsonlSource):  # keys may first appear in later records
        return
    for name in names:
        if name is not None and name not in source.header:
            shown = ", ".join(repr(c) for c in source.header[:12])
            more = ", ..." if len(source.header) > 12 else ""
            raise DataError(f"{source.path}: no column {name!r} (columns: {shown}{more})")


def _wide_rule_columns(
    source: Any, rule_columns: Sequence[str] | None, exclude: Sequence[str | None]
) -> tuple[tuple[str, ...], bool]:
    """(rule column names, closed): ``closed`` when they were inferred from the header."""
    if rule_columns is None:
        _check_unique(source.path, source.header, "rule name")
        names = tuple(c for c in source.header if c not in exclude)
        if not names:
            raise DataError(f"{source.path}: no rule columns")
        return names, True
    if isinstance(rule_columns, str):
        raise TypeError(f"rule_columns must be a sequence of names, got {rule_columns!r}")
    names = tuple(rule_columns)
    if not names:
        raise ValueError("rule_columns is empty; name at least one rule column")
    _check_unique(source.path, names, "rule name")
    _require_columns(source, names)
    _check_unique(source.path, [c for c in source.header if c in names], "rule name")
    return names, False


def _observed_mask(chunk: _Chunk, mask_value: float | None) -> np.ndarray:
    mask = chunk.present.copy()
    if mask_value is not None:
        if math.isnan(mask_value):
            mask &= ~np.isnan(chunk.values)
        else:
            mask &= chunk.values != mask_value
    return mask


def _fmt(value: float) -> str:
    return str(int(value)) if math.isfinite(value) and value == int(value) else repr(value)


def _first_bad(
    source: Any, chunk: _Chunk, names: Sequence[str], bad: np.ndarray
) -> tuple[str, float]:
    i, k = (int(j) for j in np.argwhere(bad)[0])
    where = _at(source.path, source.row_word, int(chunk.rows[i]), names[k])
    return where, float(chunk.values[i, k])


def _to_levels(
    source: Any,
    chunk: _Chunk,
    names: Sequence[str],
    mask_value: float | None,
    num_levels: int | None,
    bin_range: tuple[float, float] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``int32`` levels and mask of a chunk; errors name the file row and column."""
    mask = _observed_mask(chunk, mask_value)
    values = chunk.values
    if bin_range is not None:
        from encore_jax.entropy import discretize

        low, high = bin_range
        inside = (values >= low) & (values <= high)
        bad = mask & ~inside
        if bad.any():
            where, value = _first_bad(source, chunk, names, bad)
            raise DataError(
                f"{where}: {_fmt(value)} is outside the binning range [{low}, {high}]; "
                "scores are never clipped"
            )
        if num_levels is None:
            raise ValueError("bin_range needs num_levels (the number of bins)")
        try:
            levels = np.asarray(discretize(np.where(mask, values, low), num_levels,
                                           low=low, high=high))
        except ValueError as err:  # float32 rounding at the range edges
            raise DataError(f"{source.path}: {_short(err)}") from None
        return np.where(mask, levels, 0).astype(np.int32), mask
    whole = np.isfinite(values) & (values == np.round(values))
    bad = mask & ~whole
    if bad.any():
        where, value = _first_bad(source, chunk, names, bad)
        raise DataError(f"{where}: {_fmt(value)} is not an integer level")
    bad = mask & ((values < _INT32.min) | (values > _INT32.max))
    if bad.any():
        where, value = _first_bad(source, chunk, names, bad)
        raise DataError(f"{where}: {_fmt(value)} is outside the int32 range")
    levels = np.where(mask, values, 0).astype(np.int32)
    if num_levels is not None:
        bad = mask & ((levels < 0) | (levels >= num_levels))
        if bad.any():
            where, value = _first_bad(source, chunk, names, bad)
            raise DataError(
                f"{where}: level {_fmt(value)} is outside 0..{num_levels - 1} "
                f"(num_levels={num_levels}); levels are never clipped"
            )
    return levels, mask


def _to_scores(
    source: Any, chunk: _Chunk, names: Sequence[str], mask_value: float | None
) -> tuple[np.ndarray, np.ndarray]:
    mask = _observed_mask(chunk, mask_value)
    bad = mask & ~np.isfinite(chunk.values)
    if bad.any():
        where, value = _first_bad(source, chunk, names, bad)
        raise DataError(f"{where}: {value} is not a finite number")
    return np.where(mask, chunk.values, 0.0), mask


def _check_options(
    chunk_rows: int, num_levels: int | None, bin_range: tuple[float, float] | None
) -> tuple[float, float] | None:
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


# ------------------------------------------------------------------------------------------
# Wide and long tables
# ------------------------------------------------------------------------------------------


def _iter_wide(
    path: str | Path,
    kind: str,
    *,
    chunk_rows: int,
    mask_value: float | None,
    rule_columns: Sequence[str] | None,
    id_column: str | None,
    num_levels: int | None,
    bin_range: tuple[float, float] | None,
    file_format: str | None,
) -> Iterator[RatingTable | ScoreTable]:
    bin_range = _check_options(chunk_rows, num_levels, bin_range)
    source = _open(path, file_format)
    if id_column is not None and not (isinstance(source, _NpzSource) and source.matrix):
        _require_columns(source, [id_column])
    names, closed = _wide_rule_columns(source, rule_columns, [id_column])
    text = [id_column] if id_column is not None else []
    yielded = False
    for chunk in source.chunks(names, text, int(chunk_rows), closed):
        ids = chunk.text.get(id_column) if id_column is not None else None
        if kind == "ratings":
            values, mask = _to_levels(source, chunk, names, mask_value, num_levels, bin_range)
            yield RatingTable(names, values, mask, str(source.path), ids)
        else:
            values, mask = _to_scores(source, chunk, names, mask_value)
            yield ScoreTable(names, values, mask, str(source.path), ids)
        yielded = True
    if not yielded:
        raise DataError(f"{source.path}: header only, no ratings")


def iter_rating_chunks(
    path: str | Path,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    mask_value: float | None = None,
    rule_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    num_levels: int | None = None,
    bin_range: tuple[float, float] | None = None,
    file_format: str | None = None,
) -> Iterator[RatingTable]:
    """Streams a wide ratings file as :class:`RatingTable` chunks of ``chunk_rows`` rows.

    The file is never read whole: CSV and JSONL are read line by line, parquet by record
    batches, NPZ by row blocks of the (uncompressed or deflated) ``ratings`` member. Every chunk
    has ``chunk_rows`` rows except possibly the last. Counts are additive, so histograms of the
    chunks sum to the histogram of the file.

    Args:
      path: a wide ratings file (``.csv``, ``.jsonl``, ``.parquet``, ``.npz``).
      chunk_rows: rows per chunk (>= 1).
      mask_value: a rating value meaning "missing" (e.g. ``-1``), masked like an empty cell.
      rule_columns: the rule columns, in order; default every column but ``id_column``.
      id_column: a column of response ids (kept as strings in ``RatingTable.ids``).
      num_levels: ``L``; when given, an observed level outside ``0..L-1`` is a
        :class:`DataError` naming its row and column (levels are never clipped).
      bin_range: ``(low, high)``: the values are continuous scores, binned into ``num_levels``
        equal-width levels as :func:`encore_jax.discretize` does; a score outside the range
        is an error, never clipped.
      file_format: one of :data:`FORMATS`; default from the suffix.

    Yields:
      :class:`RatingTable` chunks with ``int32`` ratings.

    Raises:
      DataError: a missing, empty or malformed file, or a bad value (named by row and column);
        raised when the chunk holding it is read.
    """
    yield from _iter_wide(
        path, "ratings", chunk_rows=chunk_rows, mask_value=mask_value,
        rule_columns=rule_columns, id_column=id_column, num_levels=num_levels,
        bin_range=bin_range, file_format=file_format,
    )


def iter_score_chunks(
    path: str | Path,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    mask_value: float | None = None,
    rule_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    file_format: str | None = None,
) -> Iterator[ScoreTable]:
    """Streams a wide file of real-valued scores as :class:`ScoreTable` chunks.

    As :func:`iter_rating_chunks`, but values are kept as ``float64`` (any finite number).
    """
    yield from _iter_wide(
        path, "scores", chunk_rows=chunk_rows, mask_value=mask_value,
        rule_columns=rule_columns, id_column=id_column, num_levels=None, bin_range=None,
        file_format=file_format,
    )


def _concat(chunks: Sequence[Any], kind: str) -> Any:
    first = chunks[0]
    field = "ratings" if kind == "ratings" else "scores"
    values = np.concatenate([getattr(c, field) for c in chunks])
    mask = np.concatenate([c.mask for c in chunks])
    ids = None if first.ids is None else np.concatenate([c.ids for c in chunks])
    cls = RatingTable if kind == "ratings" else ScoreTable
    return cls(first.rule_names, values, mask, first.source, ids)


def _read_long(
    path: str | Path,
    kind: str,
    *,
    mask_value: float | None,
    rule_columns: Sequence[str] | None,
    id_column: str,
    rule_column: str,
    rating_column: str,
    num_levels: int | None,
    bin_range: tuple[float, float] | None,
    file_format: str | None,
) -> RatingTable | ScoreTable:
    source = _open(path, file_format)
    _check_unique(source.path, source.header, "column name")
    _require_columns(source, [id_column, rule_column, rating_column])
    if len({id_column, rule_column, rating_column}) != 3:
        raise ValueError("id_column, rule_column and rating_column must be three different columns")
    wanted = None if rule_columns is None else tuple(rule_columns)
    if wanted is not None:
        _check_unique(source.path, wanted, "rule name")
    ids: list[np.ndarray] = []
    rules: list[np.ndarray] = []
    values: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    rows: list[np.ndarray] = []
    for chunk in source.chunks([rating_column], [id_column, rule_column], DEFAULT_CHUNK_ROWS,
                               False):
        if kind == "ratings":
            v, m = _to_levels(source, chunk, [rating_column], mask_value, num_levels, bin_range)
        else:
            v, m = _to_scores(source, chunk, [rating_column], mask_value)
        ids.append(chunk.text[id_column])
        rules.append(chunk.text[rule_column])
        values.append(v[:, 0])
        masks.append(m[:, 0])
        rows.append(chunk.rows)
    if not ids:
        raise DataError(f"{source.path}: header only, no ratings")
    id_arr, rule_arr = np.concatenate(ids), np.concatenate(rules)
    value_arr, mask_arr = np.concatenate(values), np.concatenate(masks)
    row_arr = np.concatenate(rows)
    if wanted is not None:
        keep = np.isin(rule_arr, np.array(wanted, dtype=str))
        missing = [name for name in wanted if name not in set(rule_arr[keep].tolist())]
        if missing:
            raise DataError(f"{source.path}: no rating for rule {missing[0]!r} in {rule_column!r}")
        id_arr, rule_arr = id_arr[keep], rule_arr[keep]
        value_arr, mask_arr, row_arr = value_arr[keep], mask_arr[keep], row_arr[keep]
        rule_names = wanted
    else:
        _, first = np.unique(rule_arr, return_index=True)
        rule_names = tuple(str(rule_arr[i]) for i in np.sort(first))
    unique_ids, id_first, id_index = np.unique(id_arr, return_index=True, return_inverse=True)
    order = np.argsort(id_first, kind="stable")  # responses in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    row_index = rank[id_index]
    col_of = {name: k for k, name in enumerate(rule_names)}
    col_index = np.array([col_of[r] for r in rule_arr.tolist()], dtype=np.int64)
    num_rules = len(rule_names)
    flat = row_index * num_rules + col_index
    _, first_pos, counts = np.unique(flat, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup_key = np.unique(flat)[np.argmax(counts > 1)]
        hits = np.flatnonzero(flat == dup_key)
        raise DataError(
            f"{_at(source.path, source.row_word, int(row_arr[hits[1]]))}: repeats the rating of "
            f"response {str(id_arr[hits[0]])!r} by rule {str(rule_arr[hits[0]])!r} "
            f"({source.row_word} {int(row_arr[hits[0]])})"
        )
    dtype = np.int32 if kind == "ratings" else np.float64
    out = np.zeros((unique_ids.size, num_rules), dtype=dtype)
    mask = np.zeros((unique_ids.size, num_rules), dtype=bool)
    out[row_index, col_index] = value_arr
    mask[row_index, col_index] = mask_arr
    ordered_ids = unique_ids[order]
    cls = RatingTable if kind == "ratings" else ScoreTable
    return cls(rule_names, out, mask, str(source.path), ordered_ids)


def _read_table(
    path: str | Path,
    kind: str,
    *,
    mask_value: float | None,
    layout: str,
    rule_columns: Sequence[str] | None,
    id_column: str | None,
    rule_column: str,
    rating_column: str,
    num_levels: int | None,
    bin_range: tuple[float, float] | None,
    file_format: str | None,
) -> Any:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if layout == "long":
        bin_range = _check_options(1, num_levels, bin_range)
        if detect_format(path, file_format) == "npz":
            raise DataError(f"{path}: the long layout needs a csv, jsonl or parquet file")
        return _read_long(
            path, kind, mask_value=mask_value, rule_columns=rule_columns,
            id_column="response_id" if id_column is None else id_column,
            rule_column=rule_column, rating_column=rating_column, num_levels=num_levels,
            bin_range=bin_range, file_format=file_format,
        )
    chunks = list(_iter_wide(
        path, kind, chunk_rows=DEFAULT_CHUNK_ROWS, mask_value=mask_value,
        rule_columns=rule_columns, id_column=id_column, num_levels=num_levels,
        bin_range=bin_range, file_format=file_format,
    ))
    return _concat(chunks, kind)


def read_ratings(
    path: str | Path,
    *,
    mask_value: float | None = None,
    layout: str = "wide",
    rule_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    rule_column: str = "rule",
    rating_column: str = "rating",
    num_levels: int | None = None,
    bin_range: tuple[float, float] | None = None,
    file_format: str | None = None,
) -> RatingTable:
    """Reads a table of integer ratings (or scores binned into levels) into memory.

    Args:
      path: a ``.csv``, ``.jsonl``, ``.parquet`` or ``.npz`` file (see the module docstring).
      mask_value: a rating value that means "missing" (e.g. ``-1``), masked like an empty cell.
      layout: ``"wide"`` (one row per response, one column per rule) or ``"long"`` (one row
        per rating: ``id_column, rule_column, rating_column``; CSV, JSONL, parquet).
      rule_columns: wide: the rule columns in order (default every column but ``id_column``);
        long: the rules to keep, in this order (default all, in order of first appearance).
      id_column: the response id column (long layout default ``"response_id"``).
      rule_column, rating_column: the long layout's rule-name and rating columns.
      num_levels: ``L``; when given, observed levels outside ``0..L-1`` are an error.
      bin_range: ``(low, high)``: bin continuous scores into ``num_levels`` equal-width levels.
      file_format: one of :data:`FORMATS`; default from the suffix.

    Returns:
      A :class:`RatingTable`; in the long layout, responses missing a rule's rating are
      masked there.

    Raises:
      DataError: a missing, empty or malformed file, a non-integer rating, a duplicate rule
        name or (long) a repeated (response, rule) rating; the message names the file, row
        and column.
    """
    return _read_table(
        path, "ratings", mask_value=mask_value, layout=layout, rule_columns=rule_columns,
        id_column=id_column, rule_column=rule_column, rating_column=rating_column,
        num_levels=num_levels, bin_range=bin_range, file_format=file_format,
    )


def read_scores(
    path: str | Path,
    *,
    mask_value: float | None = None,
    layout: str = "wide",
    rule_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    rule_column: str = "rule",
    rating_column: str = "rating",
    file_format: str | None = None,
) -> ScoreTable:
    """Reads real-valued per-rule scores into memory; options as :func:`read_ratings`."""
    return _read_table(
        path, "scores", mask_value=mask_value, layout=layout, rule_columns=rule_columns,
        id_column=id_column, rule_column=rule_column, rating_column=rating_column,
        num_levels=None, bin_range=None, file_format=file_format,
    )


# ------------------------------------------------------------------------------------------
# Pairs
# ------------------------------------------------------------------------------------------


def _prefixed_blocks(
    source: Any,
    chosen_prefix: str,
    rejected_prefix: str,
    rule_columns: Sequence[str] | None,
) -> tuple[tuple[str, ...], list[str], list[str]]:
    if not chosen_prefix or not rejected_prefix or chosen_prefix == rejected_prefix:
        raise ValueError(
            f"chosen_prefix and rejected_prefix must be two different non-empty strings, got "
            f"{chosen_prefix!r} and {rejected_prefix!r}"
        )
    _check_unique(source.path, source.header, "column name")
    chosen = [c[len(chosen_prefix):] for c in source.header if c.startswith(chosen_prefix)]
    rejected = [c[len(rejected_prefix):] for c in source.header if c.startswith(rejected_prefix)]
    for rule in chosen:
        if rule not in rejected:
            raise DataError(
                f"{source.path}: column {chosen_prefix + rule!r} has no partner column "
                f"{rejected_prefix + rule!r}"
            )
    for rule in rejected:
        if rule not in chosen:
            raise DataError(
                f"{source.path}: column {rejected_prefix + rule!r} has no partner column "
                f"{chosen_prefix + rule!r}"
            )
    if rule_columns is not None:
        names = tuple(rule_columns)
        _check_unique(source.path, names, "rule name")
        _require_columns(source, [chosen_prefix + n for n in names])
    else:
        names = tuple(chosen)
    if not names:
        raise DataError(
            f"{source.path}: no rating columns with prefixes {chosen_prefix!r} / "
            f"{rejected_prefix!r}"
        )
    return names, [chosen_prefix + n for n in names], [rejected_prefix + n for n in names]


def _read_prefixed_pairs(
    path: str | Path, kind: str, *, chosen_prefix: str, rejected_prefix: str,
    subset_column: str | None, id_column: str | None, mask_value: float | None,
    rule_columns: Sequence[str] | None, num_levels: int | None,
    bin_range: tuple[float, float] | None, file_format: str | None,
) -> PairTable:
    source = _open(path, file_format)
    names, chosen_cols, rejected_cols = _prefixed_blocks(
        source, chosen_prefix, rejected_prefix, rule_columns)
    text = [c for c in (subset_column, id_column) if c is not None]
    _require_columns(source, text)
    k = len(names)
    parts: dict[str, list[np.ndarray]] = {key: [] for key in ("c", "r", "cm", "rm", *text)}
    for chunk in source.chunks([*chosen_cols, *rejected_cols], text, DEFAULT_CHUNK_ROWS, False):
        columns = [*chosen_cols, *rejected_cols]
        if kind == "ratings":
            values, mask = _to_levels(source, chunk, columns, mask_value, num_levels, bin_range)
        else:
            values, mask = _to_scores(source, chunk, columns, mask_value)
        parts["c"].append(values[:, :k])
        parts["r"].append(values[:, k:])
        parts["cm"].append(mask[:, :k])
        parts["rm"].append(mask[:, k:])
        for name in text:
            parts[name].append(chunk.text[name])
    if not parts["c"]:
        raise DataError(f"{source.path}: header only, no pairs")
    joined = {key: np.concatenate(value) for key, value in parts.items()}
    return PairTable(
        names, joined["c"], joined["r"], joined["cm"], joined["rm"],
        joined.get(subset_column) if subset_column else None, str(source.path),
        joined.get(id_column) if id_column else None,
    )


def _read_npz_pairs(
    path: str | Path, kind: str, *, chosen_prefix: str, rejected_prefix: str,
    subset_column: str | None, id_column: str | None, mask_value: float | None,
    rule_columns: Sequence[str] | None, num_levels: int | None,
    bin_range: tuple[float, float] | None,
) -> PairTable:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    chosen_key, rejected_key = chosen_prefix.rstrip("_"), rejected_prefix.rstrip("_")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception as err:  # numpy raises many types for a broken archive
        raise DataError(f"{path}: not a readable NPZ archive ({_short(err)})") from None
    for key in (chosen_key, rejected_key):
        if key not in arrays:
            raise DataError(f"{path}: no {key!r} array (found {sorted(arrays)})")
    chosen, rejected = arrays[chosen_key], arrays[rejected_key]
    if chosen.ndim != 2 or chosen.shape != rejected.shape:
        raise DataError(
            f"{path}: {chosen_key!r} and {rejected_key!r} must both be [N, K], got "
            f"{chosen.shape} and {rejected.shape}"
        )
    if chosen.dtype.kind not in "iuf" or rejected.dtype.kind not in "iuf":
        raise DataError(f"{path}: {chosen_key!r} and {rejected_key!r} must be numeric")
    n, k = chosen.shape
    names = tuple(str(s) for s in arrays.get("rule_names", [f"rule_{j}" for j in range(k)]))
    if len(names) != k:
        raise DataError(f"{path}: {len(names)} rule_names for {k} columns")
    _check_unique(path, names, "rule name")
    masks = []
    for key in (chosen_key, rejected_key):
        mask = arrays.get(f"{key}_mask", np.ones((n, k), dtype=bool))
        if mask.shape != (n, k) or mask.dtype != np.bool_:
            raise DataError(f"{path}: {key + '_mask'!r} must be boolean with shape {(n, k)}")
        masks.append(mask)
    cols = list(range(k))
    if rule_columns is not None:
        index = {name: j for j, name in enumerate(names)}
        for name in rule_columns:
            if name not in index:
                raise DataError(f"{path}: no rule {name!r} in rule_names")
        cols = [index[name] for name in rule_columns]
        names = tuple(rule_columns)
    text = {}
    for name in (subset_column, id_column):
        if name is None:
            continue
        if name not in arrays or arrays[name].shape != (n,):
            raise DataError(f"{path}: no array {name!r} of shape ({n},)")
        text[name] = arrays[name].astype(str)
    values = np.concatenate([chosen[:, cols], rejected[:, cols]], axis=1).astype(np.float64)
    present = np.concatenate([masks[0][:, cols], masks[1][:, cols]], axis=1)
    chunk = _Chunk(np.where(present, values, 0.0), present, text, np.arange(n, dtype=np.int64))
    fake = dataclasses.make_dataclass("_Where", ["path", "row_word"])(path, "row")
    columns = [f"{chosen_key}[{name}]" for name in names] + [
        f"{rejected_key}[{name}]" for name in names]
    if kind == "ratings":
        v, m = _to_levels(fake, chunk, columns, mask_value, num_levels, bin_range)
    else:
        v, m = _to_scores(fake, chunk, columns, mask_value)
    kk = len(names)
    return PairTable(names, v[:, :kk], v[:, kk:], m[:, :kk], m[:, kk:],
                     text.get(subset_column) if subset_column else None, str(path),
                     text.get(id_column) if id_column else None)


def _read_indexed_pairs(
    path: str | Path, kind: str, *, pair_index: str | Path, chosen_id_column: str,
    rejected_id_column: str, subset_column: str | None, id_column: str | None,
    mask_value: float | None, layout: str, rule_columns: Sequence[str] | None,
    rule_column: str, rating_column: str, num_levels: int | None,
    bin_range: tuple[float, float] | None, file_format: str | None,
) -> PairTable:
    id_column = "response_id" if id_column is None else id_column
    table = _read_table(
        path, kind, mask_value=mask_value, layout=layout, rule_columns=rule_columns,
        id_column=id_column, rule_column=rule_column, rating_column=rating_column,
        num_levels=num_levels, bin_range=bin_range, file_format=file_format,
    )
    unique, first, counts = np.unique(table.ids, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = unique[np.argmax(counts > 1)]
        raise DataError(f"{path}: response id {str(dup)!r} appears in more than one row")
    index_source = _open(pair_index, None)
    text = [chosen_id_column, rejected_id_column] + ([subset_column] if subset_column else [])
    _require_columns(index_source, text)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in text}
    rows = []
    for chunk in index_source.chunks([], text, DEFAULT_CHUNK_ROWS, False):
        for name in text:
            parts[name].append(chunk.text[name])
        rows.append(chunk.rows)
    if not rows:
        raise DataError(f"{index_source.path}: header only, no pairs")
    joined = {name: np.concatenate(value) for name, value in parts.items()}
    row_numbers = np.concatenate(rows)
    positions = []
    for name in (chosen_id_column, rejected_id_column):
        ids = joined[name]
        pos = np.searchsorted(unique, ids)
        found = (pos < unique.size) & (unique[np.minimum(pos, unique.size - 1)] == ids)
        if not found.all():
            i = int(np.argmax(~found))
            raise DataError(
                f"{_at(index_source.path, index_source.row_word, int(row_numbers[i]), name)}: "
                f"response id {str(ids[i])!r} is not in {path}"
            )
        positions.append(first[pos])
    values = table.ratings if kind == "ratings" else table.scores
    c, r = positions
    return PairTable(
        table.rule_names, values[c], values[r], table.mask[c], table.mask[r],
        joined.get(subset_column) if subset_column else None,
        f"{path} + {pair_index}", None,
    )


def _npz_has_block(path: str | Path, prefix: str) -> bool:
    """True when an NPZ holds the pair block ``prefix`` as an [N, K] array (``chosen``);
    otherwise its 1-D columns are read with the prefixes, as a CSV would be."""
    try:
        with zipfile.ZipFile(path) as archive:
            return prefix.rstrip("_") + ".npy" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return True  # let the NPZ pair reader report the broken file


def _read_pairs(path: str | Path, kind: str, **options: Any) -> PairTable:
    pair_index = options.pop("pair_index")
    layout = options.pop("layout")
    bin_range = _check_options(1, options["num_levels"], options.pop("bin_range"))
    if pair_index is not None:
        options.pop("chosen_prefix")
        options.pop("rejected_prefix")
        return _read_indexed_pairs(path, kind, pair_index=pair_index, layout=layout,
                                   bin_range=bin_range, **options)
    if layout != "wide":
        raise ValueError("layout='long' needs a pair_index file naming the pairs")
    for key in ("chosen_id_column", "rejected_id_column", "rule_column", "rating_column"):
        options.pop(key)
    if detect_format(path, options["file_format"]) == "npz" and _npz_has_block(
            path, options["chosen_prefix"]):
        options.pop("file_format")
        return _read_npz_pairs(path, kind, bin_range=bin_range, **options)
    return _read_prefixed_pairs(path, kind, bin_range=bin_range, **options)


def read_rating_pairs(
    path: str | Path,
    *,
    chosen_prefix: str = "chosen_",
    rejected_prefix: str = "rejected_",
    subset_column: str | None = None,
    mask_value: float | None = None,
    rule_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    num_levels: int | None = None,
    bin_range: tuple[float, float] | None = None,
    pair_index: str | Path | None = None,
    chosen_id_column: str = "chosen_id",
    rejected_id_column: str = "rejected_id",
    layout: str = "wide",
    rule_column: str = "rule",
    rating_column: str = "rating",
    file_format: str | None = None,
) -> PairTable:
    """Reads preference pairs as two rating blocks.

    Two ways to lay pairs out:

    * one row per pair with columns ``<chosen_prefix><rule>`` and ``<rejected_prefix><rule>``
      (every rule needs both; other columns are ignored unless named below). An NPZ holds
      arrays ``chosen`` and ``rejected`` ``[N, K]`` (the prefixes without a trailing ``_``),
      optional ``chosen_mask``, ``rejected_mask``, ``rule_names``, and ``[N]`` arrays for
      ``subset_column`` / ``id_column``;
    * ``pair_index``: ``path`` is a per-response ratings file (wide with ``id_column``, or
      long) and ``pair_index`` a file with columns ``chosen_id_column, rejected_id_column``
      (and ``subset_column``) naming the two responses of each pair.

    Args:
      path: the pairs file, or the per-response ratings file with ``pair_index``.
      chosen_prefix, rejected_prefix: column prefixes of the two blocks. For unlabelled
        pairs use e.g. ``"a_"`` / ``"b_"``: the first block lands in ``chosen``.
      subset_column: a column of subset names (e.g. RewardBench subsets), or ``None``.
      mask_value: a rating value meaning "missing".
      rule_columns: the rules to read (names without prefix), in order.
      id_column: per-pair id column (prefix layout) or response id column (``pair_index``;
        default ``"response_id"``).
      num_levels, bin_range: as :func:`read_ratings`.
      pair_index: the pair-index file, or ``None``.
      chosen_id_column, rejected_id_column: the pair-index file's id columns.
      layout, rule_column, rating_column: layout of ``path`` with ``pair_index``.
      file_format: format of ``path``; default from the suffix.

    Returns:
      A :class:`PairTable` with ``int32`` ratings.

    Raises:
      DataError: as :func:`read_ratings`, a rule column without its partner, or a pair-index
        id that is not in the ratings file.
    """
    return _read_pairs(
        path, "ratings", chosen_prefix=chosen_prefix, rejected_prefix=rejected_prefix,
        subset_column=subset_column, mask_value=mask_value, rule_columns=rule_columns,
        id_column=id_column, num_levels=num_levels, bin_range=bin_range, pair_index=pair_index,
        chosen_id_column=chosen_id_column, rejected_id_column=rejected_id_column,
        layout=layout, rule_column=rule_column, rating_column=rating_column,
        file_format=file_format,
    )


def read_score_pairs(
    path: str | Path,
    *,
    chosen_prefix: str = "chosen_",
    rejected_prefix: str = "rejected_",
    subset_column: str | None = None,
    mask_value: float | None = None,
    rule_columns: Sequence[str] | None = None,
    id_column: str | None = None,
    pair_index: str | Path | None = None,
    chosen_id_column: str = "chosen_id",
    rejected_id_column: str = "rejected_id",
    layout: str = "wide",
    rule_column: str = "rule",
    rating_column: str = "rating",
    file_format: str | None = None,
) -> PairTable:
    """As :func:`read_rating_pairs`, keeping real-valued scores (``float64`` blocks)."""
    return _read_pairs(
        path, "scores", chosen_prefix=chosen_prefix, rejected_prefix=rejected_prefix,
        subset_column=subset_column, mask_value=mask_value, rule_columns=rule_columns,
        id_column=id_column, num_levels=None, bin_range=None, pair_index=pair_index,
        chosen_id_column=chosen_id_column, rejected_id_column=rejected_id_column,
        layout=layout, rule_column=rule_column, rating_column=rating_column,
        file_format=file_format,
    )


# ------------------------------------------------------------------------------------------
# Writers and metadata
# ------------------------------------------------------------------------------------------


def embeds_metadata(file_format: str) -> bool:
    """True when the format stores metadata inside the file (parquet, NPZ); CSV and JSONL
    get a JSON sidecar, :func:`sidecar_path`."""
    return detect_format("x", file_format) in ("parquet", "npz")


def sidecar_path(path: str | Path) -> Path:
    """The JSON metadata sidecar of a CSV or JSONL output: ``<file>.meta.json``."""
    path = Path(path)
    return path.with_name(path.name + ".meta.json")


def output_metadata(**settings: Any) -> dict[str, Any]:
    """The metadata dict written with an output: ``settings`` plus the package version.

    Settings that change numbers go here under their argument names (``num_levels``,
    ``bin_range``, ``temperature``, ``estimator``, ``log_base``, ``tie``, ``counts_version``,
    ``mask_value``, ...); values must be JSON-serialisable (tuples become lists).
    """
    from encore_jax import __version__

    metadata = {"encore_jax_version": __version__, **settings}
    json.dumps(metadata, allow_nan=False)  # fail early on what JSON cannot hold
    return metadata


def write_json(path: str | Path, document: Mapping[str, Any]) -> None:
    """Writes a JSON document (indented, finite numbers only, trailing newline)."""
    text = json.dumps(document, indent=2, allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


def _column_arrays(
    columns: Mapping[str, Any],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int]:
    if not columns:
        raise ValueError("columns is empty; nothing to write")
    data: dict[str, np.ndarray] = {}
    valid: dict[str, np.ndarray] = {}
    length = None
    for name, column in columns.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"column names must be non-empty strings, got {name!r}")
        array = np.ma.asarray(column)
        if array.ndim != 1:
            raise ValueError(f"column {name!r} must be 1-D, got shape {array.shape}")
        if length is None:
            length = array.shape[0]
        elif array.shape[0] != length:
            raise ValueError(f"column {name!r} has {array.shape[0]} rows, expected {length}")
        if array.dtype.kind not in "biufU":
            raise TypeError(f"column {name!r} has dtype {array.dtype}; use bool, numbers or str")
        ok = ~np.ma.getmaskarray(array)
        plain = np.ma.getdata(array)
        if plain.dtype.kind == "f" and not np.isfinite(plain[ok]).all():
            raise ValueError(f"column {name!r} holds NaN or inf; mask missing values instead")
        data[name], valid[name] = plain, ok
    return data, valid, int(length or 0)


def _cell(value: Any) -> Any:
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return str(value)


class TableWriter:
    """Writes a table in chunks of rows (a context manager): CSV, JSONL and parquet are
    streamed to disk chunk by chunk; NPZ collects the chunks and writes on close.

    ``write(columns)`` takes what :func:`write_table` takes; every chunk must have the same
    column names (and, for parquet, compatible types). ``metadata`` goes into the parquet
    schema, the NPZ ``__metadata__`` entry or the CSV / JSONL sidecar (written on close).
    """

    def __init__(self, path: str | Path, *, metadata: Mapping[str, Any] | None = None,
                 file_format: str | None = None) -> None:
        self.path = Path(path)
        self.format = detect_format(path, file_format)
        self.meta_text = (None if metadata is None
                          else json.dumps(dict(metadata), allow_nan=False))
        self.names: list[str] | None = None
        self.rows = 0
        self._handle: Any = None
        self._csv: Any = None
        self._parquet: Any = None
        self._npz: list[tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = []

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is None:
            self.close()
        else:
            self._release()

    def _release(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None

    def write(self, columns: Mapping[str, Any]) -> None:
        data, valid, length = _column_arrays(columns)
        if self.names is None:
            self.names = list(data)
            self._start(data, valid)
        elif list(data) != self.names:
            raise ValueError(f"columns {list(data)} differ from the first chunk's {self.names}")
        self.rows += length
        if self.format == "parquet":
            pa, _ = _pyarrow()
            table = pa.table({
                name: pa.array(values, mask=None if valid[name].all() else ~valid[name])
                for name, values in data.items()
            })
            self._parquet.write_table(table.cast(self._parquet.schema))
        elif self.format == "npz":
            self._npz.append((data, valid))
        else:
            for i in range(length):
                row = [_cell(data[n][i]) if valid[n][i] else None for n in self.names]
                if self._csv is not None:
                    self._csv.writerow([_csv_cell(v) for v in row])
                else:
                    self._handle.write(json.dumps(dict(zip(self.names, row, strict=True))) + "\n")

    def _start(self, data: dict[str, np.ndarray], valid: dict[str, np.ndarray]) -> None:
        if self.format == "parquet":
            pa, pq = _pyarrow()
            schema = pa.schema([
                pa.field(name, pa.array(values[:0]).type) for name, values in data.items()
            ])
            if self.meta_text is not None:
                schema = schema.with_metadata({METADATA_KEY: self.meta_text})
            self._parquet = pq.ParquetWriter(self.path, schema)
        elif self.format in ("csv", "jsonl"):
            self._handle = self.path.open("w", newline="", encoding="utf-8")
            if self.format == "csv":
                self._csv = csv.writer(self._handle)
                self._csv.writerow(list(data))

    def close(self) -> None:
        """Finishes the file (and writes the sidecar / NPZ); an empty table is an error."""
        if self.names is None:
            raise ValueError(f"{self.path}: no columns were written")
        self._release()
        if self.format == "npz":
            out: dict[str, np.ndarray] = {}
            for name in self.names:
                out[name] = np.concatenate([data[name] for data, _ in self._npz])
                ok = np.concatenate([valid[name] for _, valid in self._npz])
                if not ok.all():
                    out[f"{name}_mask"] = ok
            if self.meta_text is not None:
                out["__metadata__"] = np.array(self.meta_text)
            with self.path.open("wb") as handle:
                np.savez(handle, **out)
            self._npz = []
        elif self.format in ("csv", "jsonl") and self.meta_text is not None:
            write_json(sidecar_path(self.path), json.loads(self.meta_text))


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_table(
    path: str | Path,
    columns: Mapping[str, Any],
    *,
    metadata: Mapping[str, Any] | None = None,
    file_format: str | None = None,
) -> None:
    """Writes named 1-D columns as a CSV, JSONL, parquet or NPZ table.

    Args:
      path: the output file (overwritten; the CLI adds atomic, no-overwrite writing).
      columns: name -> 1-D array of bools, numbers or strings, all of one length; a
        ``numpy.ma`` masked array marks missing values (empty CSV cell, JSON ``null``,
        parquet null, NPZ ``<name>_mask`` array). NaN and inf are refused.
      metadata: JSON-able settings (see :func:`output_metadata`): parquet schema metadata
        under ``encore_jax``, an NPZ ``__metadata__`` entry, or the sidecar
        :func:`sidecar_path` for CSV / JSONL.
      file_format: one of :data:`FORMATS`; default from the suffix of ``path``.
    """
    with TableWriter(path, metadata=metadata, file_format=file_format) as writer:
        writer.write(columns)


def count_rows(path: str | Path, *, file_format: str | None = None) -> int | None:
    """Number of data rows when the format records it (parquet, NPZ), else ``None``.

    Used for progress bars; a file that cannot be read gives ``None`` (the reader reports).
    """
    try:
        fmt = detect_format(path, file_format)
        if fmt == "parquet":
            _, pq = _pyarrow()
            return int(pq.ParquetFile(path).metadata.num_rows)
        if fmt == "npz":
            with zipfile.ZipFile(path) as archive, archive.open("ratings.npy") as handle:
                return int(_npy_header(handle, Path(path), "ratings")[0][0])
    except Exception:  # the reader gives the proper error later
        return None
    return None


def write_ratings(
    path: str | Path,
    table: RatingTable | ScoreTable,
    *,
    layout: str = "wide",
    metadata: Mapping[str, Any] | None = None,
    id_column: str = "response_id",
    file_format: str | None = None,
) -> None:
    """Writes a :class:`RatingTable` or :class:`ScoreTable` so that the readers read it back.

    Wide: an id column (when ``table.ids`` is set) and one column per rule, missing ratings
    as missing values (an NPZ gets ``ratings``, ``mask``, ``rule_names`` and ``ids``).
    Long: one ``(id_column, rule, rating)`` row per observed rating; responses without ids
    are numbered ``0..N-1``.
    """
    fmt = detect_format(path, file_format)
    values = table.ratings if isinstance(table, RatingTable) else table.scores
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if fmt == "npz":
        if layout != "wide":
            raise ValueError("an NPZ holds the wide layout only")
        arrays: dict[str, np.ndarray] = {
            "ratings": values, "mask": table.mask, "rule_names": np.array(table.rule_names)}
        if table.ids is not None:
            arrays["ids"] = np.asarray(table.ids, dtype=str)
        if metadata is not None:
            arrays["__metadata__"] = np.array(json.dumps(dict(metadata), allow_nan=False))
        with Path(path).open("wb") as handle:
            np.savez(handle, **arrays)
        return
    if layout == "wide":
        columns: dict[str, Any] = {}
        if table.ids is not None:
            columns[id_column] = np.asarray(table.ids, dtype=str)
        for k, name in enumerate(table.rule_names):
            columns[name] = np.ma.masked_array(values[:, k], mask=~table.mask[:, k])
    else:
        ids = table.ids if table.ids is not None else np.arange(values.shape[0]).astype(str)
        rows, cols = np.nonzero(table.mask)
        columns = {
            id_column: np.asarray(ids, dtype=str)[rows],
            "rule": np.array(table.rule_names, dtype=str)[cols],
            "rating": values[rows, cols],
        }
    write_table(path, columns, metadata=metadata, file_format=fmt)


def read_metadata(path: str | Path, *, file_format: str | None = None) -> dict[str, Any] | None:
    """The metadata written with an output (see :func:`write_table`), or ``None``."""
    path = Path(path)
    fmt = detect_format(path, file_format)
    if fmt == "parquet":
        _, pq = _pyarrow()
        try:
            raw = pq.read_schema(path).metadata or {}
        except Exception as err:  # pyarrow raises several types for a broken file
            raise DataError(f"{path}: not a readable parquet file ({_short(err)})") from None
        text = raw.get(METADATA_KEY.encode())
        return None if text is None else json.loads(text)
    if fmt == "npz":
        with np.load(path, allow_pickle=False) as archive:
            if "__metadata__" not in archive.files:
                return None
            return json.loads(str(archive["__metadata__"]))
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return None
    return json.loads(sidecar.read_text(encoding="utf-8"))


def trl_reward_config(rule_names: Sequence[str], weights: Any) -> dict[str, list]:
    """A TRL-ready reward composition: ``{"reward_funcs": [...], "reward_weights": [...]}``.

    TRL's ``GRPOTrainer(reward_funcs=[f_1, ..., f_K], args=GRPOConfig(reward_weights=[w_1,
    ..., w_K]))`` computes the reward ``sum_k w_k f_k``, the ENCORE composition
    ``phi = sum_k w_k psi_k`` when ``f_k`` scores rule ``k``. ``reward_funcs`` lists the rule
    names in order: map each to your per-rule reward function. TRL is not a dependency.
    """
    names = [str(n) for n in rule_names]
    values = np.asarray(weights, dtype=np.float64)
    if values.shape != (len(names),):
        raise ValueError(f"weights has shape {values.shape}; expected ({len(names)},)")
    if not np.isfinite(values).all():
        raise ValueError("weights must be finite")
    if len(set(names)) != len(names):
        raise ValueError(f"rule_names has duplicates: {names}")
    return {"reward_funcs": names, "reward_weights": [float(w) for w in values]}


def weights_document(
    rule_names: Sequence[str],
    weights: Any,
    *,
    method: str,
    metadata: Mapping[str, Any] | None = None,
    per_rule: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON document of a weights file (see :func:`write_weights_json`)."""
    config = trl_reward_config(rule_names, weights)
    document: dict[str, Any] = {
        "format": WEIGHTS_FORMAT,
        "method": method,
        "rules": config["reward_funcs"],
        "weights": config["reward_weights"],
    }
    for key, values in (per_rule or {}).items():
        values = [v if isinstance(v, int | str) else float(v) for v in np.asarray(values).tolist()]
        if len(values) != len(document["rules"]):
            raise ValueError(f"per_rule[{key!r}] has {len(values)} values for "
                             f"{len(document['rules'])} rules")
        document[key] = values
    document["metadata"] = dict(metadata or {})
    return document


def write_weights_json(
    path: str | Path,
    rule_names: Sequence[str],
    weights: Any,
    *,
    method: str,
    metadata: Mapping[str, Any] | None = None,
    per_rule: Mapping[str, Any] | None = None,
) -> None:
    """Writes weights as JSON: ``format, method, rules, weights`` (+ ``per_rule`` lists such as
    ``entropies``) and ``metadata`` (the settings that produced them)."""
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
        document = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason})") from None
    except ValueError as err:
        raise DataError(f"{path}: not valid JSON ({_short(err)})") from None
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
    _check_unique(path, rules, "rule name")
    values = np.asarray(weights, dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataError(f"{path}: 'weights' must be finite")
    metadata = document.get("metadata") or {}
    return WeightsFile(tuple(rules), values, str(document.get("method", "unknown")),
                       dict(metadata), str(path))

