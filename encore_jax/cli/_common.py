"""Pieces shared by the subcommands: errors, option groups, output."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

EXIT_OK = 0
EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """Bad input detected by a command; reported in one line with exit code 2."""


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be finite and > 0, got {text}")
    return value


def add_entropy_options(parser: argparse.ArgumentParser) -> None:
    """--temperature, --base, --estimator and --json."""
    parser.add_argument("--temperature", type=positive_float, default=2.0,
                        help="ENCORE temperature tau > 0 (default: 2.0, the paper's)")
    parser.add_argument("--base", type=positive_float, default=None,
                        help="logarithm base for entropies (default: natural log)")
    parser.add_argument("--estimator", choices=("plugin", "miller_madow"), default="plugin",
                        help="entropy estimator (default: plugin)")
    add_json_option(parser)


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def print_json(report: dict[str, Any]) -> None:
    print(json.dumps(report, indent=2))


def _fixed(value: float) -> str:
    """4 decimals; a tiny negative prints as 0.0000, not -0.0000."""
    text = f"{value:.4f}"
    return text[1:] if text == "-0.0000" else text


def print_table(title: str, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """A rich table of ``rows`` (dicts) with the given columns; floats to 4 decimals."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        numeric = all(isinstance(row[column], int | float) for row in rows)
        table.add_column(column, justify="right" if numeric and column != "rule" else "left")
    for row in rows:
        table.add_row(*(
            _fixed(row[c]) if isinstance(row[c], float) else str(row[c]) for c in columns
        ))
    Console().print(table)


def comma_list(text: str) -> tuple[str, ...]:
    """argparse type: ``a,b,c`` -> ``("a", "b", "c")`` (no empty names)."""
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def finite_float(text: str) -> float:
    """argparse type: a finite float."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


def _int_at_least(minimum: int, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
    return value


def levels_int(text: str) -> int:
    """argparse type: an int >= 2 (a number of rating levels)."""
    return _int_at_least(2, text)


def positive_int(text: str) -> int:
    """argparse type: an int >= 1."""
    return _int_at_least(1, text)


def add_input_options(parser: argparse.ArgumentParser, *, pairs: bool = False,
                      long_layout: bool = True) -> None:
    """How to read the input file: format, layout, columns, missing-value marker.

    ``pairs=True`` adds the pair options (prefixes, pair-index file, subset column).
    """
    group = parser.add_argument_group("input")
    group.add_argument("--format", dest="file_format",
                       choices=("csv", "jsonl", "parquet", "npz"), default=None,
                       help="input format (default: from the file suffix)")
    if long_layout:
        group.add_argument("--layout", choices=("wide", "long"), default="wide",
                           help="wide: a row per response, a column per rule; long: a row "
                           "per rating (--id-column, --rule-column, --rating-column)")
        group.add_argument("--rule-column", default="rule",
                           help="long layout: the rule-name column (default: rule)")
        group.add_argument("--rating-column", default="rating",
                           help="long layout: the rating column (default: rating)")
    group.add_argument("--rule-columns", type=comma_list, default=None, metavar="A,B,...",
                       help="the rule columns to read, in order (default: every column "
                       "except the id / subset columns)")
    group.add_argument("--id-column", default=None,
                       help="a column of ids, carried to the outputs (long layout "
                       "default: response_id)")
    group.add_argument("--mask-value", type=float, default=None,
                       help="a rating value meaning 'missing' (empty cells and nulls "
                       "always are); missing ratings are masked, never filled")
    if pairs:
        group.add_argument("--pair-index", default=None, metavar="FILE",
                           help="a file of (chosen_id, rejected_id) rows naming the pairs; "
                           "FILE is then a per-response ratings file with --id-column")
        group.add_argument("--chosen-id-column", default="chosen_id",
                           help="--pair-index: first id column (default: chosen_id)")
        group.add_argument("--rejected-id-column", default="rejected_id",
                           help="--pair-index: second id column (default: rejected_id)")
        group.add_argument("--subset-column", default=None,
                           help="a column of subset names carried to the outputs")


def add_binning_options(parser: argparse.ArgumentParser, *, levels_required: bool) -> None:
    """--levels L and --bin-range LOW HIGH (continuous scores binned into L levels)."""
    parser.add_argument("--levels", type=levels_int, required=levels_required,
                        default=None,
                        help="number of rating levels L; ratings must be in 0..L-1")
    parser.add_argument("--bin-range", type=finite_float, nargs=2, default=None,
                        metavar=("LOW", "HIGH"),
                        help="the values are continuous scores: bin them into L equal-width "
                        "levels over [LOW, HIGH] (never clipped: a score outside is an error)")


def reader_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for the :mod:`encore_jax.data` readers from the input options
    (absent options, e.g. in a command without them, take the readers' defaults)."""
    options: dict[str, Any] = {
        name: getattr(args, name, None)
        for name in ("file_format", "rule_columns", "id_column", "mask_value")
    }
    for name in ("layout", "rule_column", "rating_column", "pair_index", "chosen_id_column",
                 "rejected_id_column", "subset_column"):
        if getattr(args, name, None) is not None:
            options[name] = getattr(args, name)
    bin_range = getattr(args, "bin_range", None)
    if bin_range is not None:
        if getattr(args, "levels", None) is None:
            raise UsageError("--bin-range needs --levels (the number of bins)")
        low, high = bin_range
        if not low < high:
            raise UsageError(f"--bin-range needs LOW < HIGH, got {low} {high}")
        options["bin_range"] = (low, high)
    return options


def rule_level_counts(path: str, args: argparse.Namespace) -> dict[str, Any]:
    """Streams a ratings file once and sums per-rule level counts (counts are additive),
    through :func:`encore_jax.streaming.streaming_rating_histogram`.

    Wide files are read in chunks of ``args.chunk_rows`` (default
    :data:`encore_jax.data.DEFAULT_CHUNK_ROWS`); long files are pivoted in memory first.
    Returns ``rule_names``, ``counts`` (``int64 [K, L]``), ``num_rows`` and ``source``.
    """
    import numpy as np

    from encore_jax.data import DEFAULT_CHUNK_ROWS, iter_rating_chunks, read_ratings
    from encore_jax.streaming import streaming_rating_histogram

    options = reader_options(args)
    num_levels = args.levels
    chunk_rows = getattr(args, "chunk_rows", None) or DEFAULT_CHUNK_ROWS
    if options.get("layout", "wide") == "long":
        chunks: Iterable[Any] = [read_ratings(path, num_levels=num_levels, **options)]
    else:
        for name in ("layout", "rule_column", "rating_column"):
            options.pop(name, None)
        chunks = iter_rating_chunks(path, chunk_rows=chunk_rows, num_levels=num_levels,
                                    **options)
    seen: dict[str, Any] = {"names": (), "rows": 0}

    def tracked(tables: Iterable[Any]) -> Iterator[Any]:
        for table in tables:
            seen["names"] = seen["names"] or table.rule_names
            seen["rows"] += table.ratings.shape[0]
            yield table

    # chunk_rows=None: the kernel takes the first chunk's shape (a small file is not padded)
    counts = streaming_rating_histogram(tracked(chunks), num_levels, chunk_rows=None)
    names = seen["names"]
    empty = [names[k] for k in np.flatnonzero(counts.sum(axis=1) == 0)]
    if empty:
        raise UsageError(f"{path}: rule column {empty[0]!r} has no observed rating; its "
                         "entropy is undefined (drop it with --rule-columns)")
    return {"rule_names": names, "counts": counts, "num_rows": seen["rows"],
            "source": str(path)}


def add_output_options(parser: argparse.ArgumentParser, *, required: bool = False,
                       help: str | None = None) -> None:
    """--out PATH and --force (outputs never overwrite an existing file without --force)."""
    parser.add_argument("--out", default=None, required=required, metavar="PATH",
                        help=help or "write the result to PATH (written atomically)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite an existing output file")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_all(
    items: Sequence[tuple[str | Path, Callable[[Path], Any]]], *, force: bool = False
) -> list[Path]:
    """Writes several files all-or-nothing (e.g. a CSV and its metadata sidecar).

    Each ``write_fn(tmp_path)`` writes to a temporary file in the destination's directory;
    only when all succeeded are they moved into place. Without ``force`` an existing
    destination is an error (checked first, and again atomically at the move, through a
    hard link that cannot replace a file). On any failure the temporary files are removed
    and no destination is created or changed.

    Raises:
      UsageError: a destination exists (without ``force``) or its directory does not.
    """
    targets = [Path(path) for path, _ in items]
    for target in targets:
        if not target.parent.is_dir():
            raise UsageError(f"{target.parent}: no such directory for the output {target.name}")
        if target.is_dir():
            raise UsageError(f"{target}: is a directory")
        if target.exists() and not force:
            raise UsageError(f"{target} exists; pass --force to overwrite it")
    staged: list[Path] = []
    created: list[Path] = []
    try:
        for target, (_, write_fn) in zip(targets, items, strict=True):
            handle, name = tempfile.mkstemp(
                dir=target.parent, prefix=f".{target.name}.", suffix=".partial" + target.suffix)
            os.close(handle)
            staged.append(Path(name))
            os.chmod(name, 0o666 & ~_umask())
            write_fn(Path(name))
        for target, tmp in zip(targets, staged, strict=True):
            if force:
                os.replace(tmp, target)
            else:
                try:
                    os.link(tmp, target)
                except FileExistsError:
                    raise UsageError(f"{target} exists; pass --force to overwrite it") from None
                except OSError:  # no hard links here: fall back to check-then-replace
                    if target.exists():
                        raise UsageError(
                            f"{target} exists; pass --force to overwrite it") from None
                    os.replace(tmp, target)
                created.append(target)
    except BaseException:
        for target in created:
            target.unlink(missing_ok=True)
        raise
    finally:
        for tmp in staged:
            tmp.unlink(missing_ok=True)
    return targets


def atomic_write(path: str | Path, write_fn: Callable[[Path], Any], *,
                 force: bool = False) -> Path:
    """Calls ``write_fn(tmp_path)`` on a temporary file next to ``path``, then moves it to
    ``path`` (``os.replace``); refuses to overwrite an existing ``path`` without ``force``
    (:class:`UsageError`). Nothing is left behind when ``write_fn`` raises."""
    return atomic_write_all([(path, write_fn)], force=force)[0]


def write_json_output(path: str | Path, document: dict[str, Any], *, force: bool) -> Path:
    """Writes a JSON document atomically (see :func:`atomic_write`)."""
    from encore_jax.data import write_json

    return atomic_write(path, lambda tmp: write_json(tmp, document), force=force)


def write_table_output(path: str | Path, columns: dict[str, Any], metadata: dict[str, Any],
                       *, force: bool, file_format: str | None = None) -> list[Path]:
    """Writes a table plus its metadata atomically: in the file (parquet, NPZ) or as a
    ``<file>.meta.json`` sidecar (CSV, JSONL), both files or neither."""
    from encore_jax.data import (
        detect_format,
        embeds_metadata,
        sidecar_path,
        write_json,
        write_table,
    )

    fmt = detect_format(path, file_format)
    if embeds_metadata(fmt):
        return atomic_write_all(
            [(path, lambda tmp: write_table(tmp, columns, metadata=metadata, file_format=fmt))],
            force=force)
    return atomic_write_all([
        (path, lambda tmp: write_table(tmp, columns, file_format=fmt)),
        (sidecar_path(path), lambda tmp: write_json(tmp, metadata)),
    ], force=force)


def progress(
    iterable: Iterable[T],
    *,
    total: float | None = None,
    description: str = "working",
    advance: Callable[[T], float] | None = None,
    enabled: bool | None = None,
) -> Iterator[T]:
    """Yields the items of ``iterable`` while a rich progress bar (on stderr) advances.

    The bar shows only when stderr is a terminal (``enabled=None``), so pipes, files and
    tests get clean output. ``advance(item)`` says how far each item moves the bar (default
    1, e.g. rows per chunk with ``total`` in rows); ``total=None`` shows an open-ended bar.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield from iterable
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in iterable:
            yield item
            bar.advance(task, 1 if advance is None else advance(item))
