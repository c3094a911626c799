"""Pieces shared by the subcommands: errors, option groups, output.

Every command that reads ratings gets the same input options from
:func:`add_input_options` (format, layout, columns, pooling, the missing-value policy) and
passes them to the readers of :mod:`encore_jax.io` through :func:`reader_options`. Nothing
here computes: the commands call :mod:`encore_jax.io` and :mod:`encore_jax.workflows`.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from encore_jax.cli._errors import UsageError
from encore_jax.cli._paths import check_paths, declare_paths
from encore_jax.cli._progress import console, progress, progress_callback, progress_enabled

__all__ = ["atomic_write", "atomic_write_all", "check_paths", "console", "declare_paths",
           "progress", "progress_callback", "progress_enabled"]  # for the commands


# The I/O layer's writers and progress bar, imported when a command runs (importing
# encore_jax.io loads NumPy and its readers; --help must stay free of them).
def atomic_write(path: str | Path, write_fn: Any, *, force: bool = False) -> Path:
    """:func:`encore_jax.io.atomic.atomic_write`."""
    from encore_jax.io.atomic import atomic_write as write

    return write(path, write_fn, force=force)


def atomic_write_all(items: Sequence[tuple[str | Path, Any]], *, force: bool = False
                     ) -> list[Path]:
    """:func:`encore_jax.io.atomic.atomic_write_all`."""
    from encore_jax.io.atomic import atomic_write_all as write_all

    return write_all(items, force=force)

MISSING_CHOICES = ("mask", "drop", "error")  # encore_jax.io.missing.MISSING_POLICIES
POOL_CHOICES = ("mean", "median", "majority")  # encore_jax.io.long.POOLS

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def positive_float(text: str) -> float:
    """argparse type: a finite float > 0."""
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be finite and > 0, got {text}")
    return value


def log_base(text: str) -> float | None:
    """argparse type of --base: ``e`` (natural log, None) or a finite number > 1."""
    if text.strip().lower() == "e":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 1):
        raise argparse.ArgumentTypeError(f"base must be finite and > 1 (e, 2, 10, ...), got "
                                         f"{text}")
    return value


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def print_json(report: dict[str, Any]) -> None:
    """Prints ``report`` as JSON; a non-finite number is written as a string ("NaN",
    "Infinity"), as in every JSON file the library writes (bare NaN is not JSON)."""
    from encore_jax.io.writers import json_safe

    print(json.dumps(json_safe(report), indent=2, allow_nan=False))


def _fixed(value: float) -> str:
    """4 decimals; a tiny negative prints as 0.0000, not -0.0000."""
    text = f"{value:.4f}"
    return text[1:] if text == "-0.0000" else text


def print_table(title: str, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """A rich table of ``rows`` (dicts) with the given columns; floats to 4 decimals, printed
    in full when stdout is not a terminal (see :func:`console`)."""
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        numeric = all(isinstance(row[column], int | float) for row in rows)
        table.add_column(column, justify="right" if numeric and column != "rule" else "left")
    for row in rows:
        table.add_row(*(
            _fixed(row[c]) if isinstance(row[c], float) else str(row[c]) for c in columns
        ))
    console().print(table)


def comma_list(text: str) -> tuple[str, ...]:
    """argparse type: ``a,b,c`` -> ``("a", "b", "c")`` (no empty names).

    A name holding a comma is quoted as in a CSV row (``'"harmless, honest",helpful'``), or
    the whole list is given as JSON (``'["harmless, honest", "helpful"]'``).
    """
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            names = tuple(json.loads(stripped))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a JSON list of names: {text!r}") from None
        if not all(isinstance(n, str) and n for n in names):
            raise argparse.ArgumentTypeError(f"expected a JSON list of names, got {text!r}")
        return names
    try:
        row = next(csv.reader([text], skipinitialspace=True))
    except (csv.Error, StopIteration):
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}") from None
    names = tuple(name.strip() for name in row)
    if not names or not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def list_names_item(text: str) -> tuple[str, tuple[str, ...]]:
    """argparse type: ``COLUMN=a,b,c`` -> ``("COLUMN", ("a", "b", "c"))``."""
    column, sep, names = text.partition("=")
    if not sep or not column.strip():
        raise argparse.ArgumentTypeError(f"expected COLUMN=NAME,NAME,..., got {text!r}")
    return column.strip(), comma_list(names)


def finite_float(text: str) -> float:
    """argparse type: a finite float."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


def fraction(text: str) -> float:
    """argparse type: a float in (0, 1) (a confidence level, a held-out fraction)."""
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {text}")
    return value


# Bounds of the integer options, checked at parsing (a one-line argparse error, never an
# overflow deep inside NumPy or JAX):
MAX_COUNT = 2**31 - 1
"""Largest count option (--resamples, --k, --chunk-rows, steps, ...): JAX's default int32."""
MAX_LEVELS = 2**16
"""Largest --levels: 65,536 rating levels (level counts are ``[K, L]`` arrays)."""
MAX_LEVEL_OFFSET = 2**24
"""Largest |--level-offset|: every integer up to 2**24 is exact in float32."""
MAX_SEED = 2**63 - 1
"""Largest --seed: a non-negative 64-bit integer (what ``jax.random.key`` accepts)."""


def _int_between(minimum: int, maximum: int, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
    if value > maximum:
        raise argparse.ArgumentTypeError(f"must be <= {maximum}, got {value}")
    return value


def levels_int(text: str) -> int:
    """argparse type: an int in 2..MAX_LEVELS (a number of rating levels)."""
    return _int_between(2, MAX_LEVELS, text)


def positive_int(text: str) -> int:
    """argparse type: an int in 1..MAX_COUNT."""
    return _int_between(1, MAX_COUNT, text)


def nonnegative_int(text: str) -> int:
    """argparse type: an int in 0..MAX_COUNT."""
    return _int_between(0, MAX_COUNT, text)


def seed_int(text: str) -> int:
    """argparse type: a PRNG seed, an int in 0..MAX_SEED."""
    return _int_between(0, MAX_SEED, text)


def level_offset_int(text: str) -> int:
    """argparse type: a level offset, an int in -MAX_LEVEL_OFFSET..MAX_LEVEL_OFFSET."""
    return _int_between(-MAX_LEVEL_OFFSET, MAX_LEVEL_OFFSET, text)


def add_input_options(parser: argparse.ArgumentParser, *, pairs: bool = False,
                      long_layout: bool = True, pair_prefixes: bool = False) -> None:
    """How to read the input: format, layout, columns, pooling, the missing-value policy.

    ``pairs=True`` adds the pair-index options (and the subset column);
    ``pair_prefixes=True`` adds ``--chosen-prefix`` / ``--rejected-prefix`` (commands that
    define their own leave it off).
    """
    group = parser.add_argument_group("input")
    group.add_argument("--format", dest="file_format",
                       choices=("csv", "jsonl", "parquet", "npz"), default=None,
                       help="input format (default: from the file suffix; a directory is a "
                       "parquet dataset)")
    if long_layout:
        group.add_argument("--layout", choices=("wide", "long", "pairs"), default="wide",
                           help="wide: a row per response, a column (or list / struct column) "
                           "per rule; long: a row per rating (--id-column, --rule-column, "
                           "--rating-column); pairs: chosen_<rule> and rejected_<rule> "
                           "columns, both responses' ratings pooled")
        group.add_argument("--rule-column", default="rule",
                           help="long layout: the rule-name column (default: rule)")
        group.add_argument("--rating-column", default="rating",
                           help="long layout: the rating column (default: rating)")
        group.add_argument("--pool", choices=POOL_CHOICES, default=None,
                           help="long layout: pool several annotators' ratings of one "
                           "(response, rule) by their mean, median or majority (a mean or "
                           "median between levels rounds to the nearest, half to even); "
                           "default: a repeated rating is an error")
    group.add_argument("--rule-columns", type=comma_list, default=None, metavar="A,B,...",
                       help="the rule columns, in order (CSV-quote a name with a comma, or "
                       "give a JSON list); default: every number, list and struct column")
    group.add_argument("--id-column", default=None,
                       help="a column of ids, carried to the outputs (long layout "
                       "default: response_id)")
    group.add_argument("--text-columns", type=comma_list, default=None, metavar="A,B,...",
                       help="text columns kept beside the ratings (e.g. prompt); text columns "
                       "are never rules")
    group.add_argument("--exclude", type=comma_list, default=None, metavar="A,B,...",
                       help="columns to leave out")
    group.add_argument("--list-names", type=list_names_item, action="append", default=None,
                       metavar="COLUMN=A,B,...",
                       help="rule names of a list-valued column (default: the file's "
                       "metadata, else COLUMN[0], COLUMN[1], ...); repeatable")
    group.add_argument("--mask-value", type=float, default=None,
                       help="a rating value meaning 'missing' (empty cells and nulls "
                       "always are)")
    group.add_argument("--missing", choices=MISSING_CHOICES, default="mask",
                       help="missing ratings: mask (default: kept masked, never filled), drop "
                       "(drop the row or pair) or error; the output reports how many")
    if pair_prefixes:
        group.add_argument("--chosen-prefix", default="chosen_",
                           help="column prefix of the chosen (first) responses' ratings "
                           "(default: chosen_)")
        group.add_argument("--rejected-prefix", default="rejected_",
                           help="column prefix of the rejected (second) responses' ratings "
                           "(default: rejected_)")
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
    """--levels L, --bin-range LOW HIGH (continuous scores binned into L levels) and
    --level-offset (e.g. 1 for a 1..L scale)."""
    parser.add_argument("--levels", type=levels_int, required=levels_required,
                        default=None,
                        help=f"number of rating levels L (2..{MAX_LEVELS}); ratings must be "
                        "in 0..L-1")
    parser.add_argument("--bin-range", type=finite_float, nargs=2, default=None,
                        metavar=("LOW", "HIGH"),
                        help="the values are continuous scores: bin them into L equal-width "
                        "levels over [LOW, HIGH] (never clipped: a score outside is an error)")
    parser.add_argument("--level-offset", type=level_offset_int, default=0, metavar="N",
                        help="subtract N from every rating (1 reads a 1..L scale as 0..L-1; "
                        f"|N| <= {MAX_LEVEL_OFFSET})")


def add_estimator_options(parser: argparse.ArgumentParser) -> None:
    """--base and --estimator (the entropy settings that change the numbers)."""
    parser.add_argument("--base", type=log_base, default=None,
                        help="logarithm base for entropies: e, 2, 10 or a number > 1 "
                        "(default: e, natural log)")
    parser.add_argument("--estimator", choices=("plugin", "miller_madow"), default="plugin",
                        help="entropy estimator (default: plugin)")


def add_chunk_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chunk-rows", type=positive_int, default=None,
                        help="rows read per chunk from wide files (default: 65536)")


_PASSED_IF_SET = ("layout", "rule_column", "rating_column", "pair_index", "chosen_id_column",
                  "rejected_id_column", "subset_column", "text_columns", "exclude", "pool",
                  "missing")


def reader_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for the :mod:`encore_jax.io` readers from the input options
    (absent options, e.g. in a command without them, take the readers' defaults)."""
    options: dict[str, Any] = {
        name: getattr(args, name, None)
        for name in ("file_format", "rule_columns", "id_column", "mask_value")
    }
    for name in _PASSED_IF_SET:
        if getattr(args, name, None) is not None:
            options[name] = getattr(args, name)
    for name in ("rule_columns", "text_columns", "exclude"):
        if options.get(name) is not None:
            options[name] = list(options[name])
    if getattr(args, "list_names", None):
        options["list_names"] = dict(args.list_names)
    if getattr(args, "level_offset", 0):
        options["level_offset"] = args.level_offset
    bin_range = getattr(args, "bin_range", None)
    if bin_range is not None:
        if getattr(args, "levels", None) is None:
            raise UsageError("--bin-range needs --levels (the number of bins)")
        low, high = bin_range
        if not low < high:
            raise UsageError(f"--bin-range needs LOW < HIGH, got {low} {high}")
        options["bin_range"] = (low, high)
    return options


def pair_prefix_options(args: argparse.Namespace) -> dict[str, str]:
    """``chosen_prefix`` / ``rejected_prefix`` from the command line."""
    return {"chosen_prefix": getattr(args, "chosen_prefix", "chosen_"),
            "rejected_prefix": getattr(args, "rejected_prefix", "rejected_")}


def input_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The input options that change the numbers, for reports and output metadata."""
    bin_range = getattr(args, "bin_range", None)
    return {
        "layout": getattr(args, "layout", "wide"),
        "bin_range": None if bin_range is None else list(bin_range),
        "level_offset": getattr(args, "level_offset", 0),
        "mask_value": getattr(args, "mask_value", None),
        "missing": getattr(args, "missing", "mask"),
        "pool": getattr(args, "pool", None),
        "list_names": {c: list(n) for c, n in (getattr(args, "list_names", None) or ())} or None,
    }


def file_count_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`encore_jax.workflows.file_weights.count_levels` (and of
    ``file_entropies`` / ``file_weights``): the reader options, the layout, the pair prefixes
    of the pairs layout and the chunk size."""
    options = reader_options(args)
    layout = options.pop("layout", "wide")
    if layout == "pairs":
        options.update(pair_prefix_options(args))
    return {**options, "layout": layout, "chunk_rows": getattr(args, "chunk_rows", None),
            "progress": progress_enabled()}


def entropy_settings(args: argparse.Namespace, counts: Any) -> dict[str, Any]:
    """The settings that change an entropy's value, for reports and output metadata;
    ``counts`` is the file's level counts (``num_rows``, ``missing``)."""
    return {
        "file": str(args.file),
        "num_responses": counts.num_rows,
        "num_levels": args.levels,
        "log_base": "e" if args.base is None else args.base,
        "estimator": args.estimator,
        **input_settings(args),
        "missing_counts": counts.missing.to_dict(),
    }


def add_output_options(parser: argparse.ArgumentParser, *, required: bool = False,
                       help: str | None = None) -> None:
    """--out PATH and --force (outputs never overwrite an existing file without --force)."""
    parser.add_argument("--out", default=None, required=required, metavar="PATH",
                        help=help or "write the result to PATH (written atomically)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite an existing output file")


def add_export_options(parser: argparse.ArgumentParser) -> None:
    """--out (weights JSON), --trl (TRL reward composition) and --force."""
    parser.add_argument("--out", default=None, metavar="PATH",
                        help="write the weights as JSON with their metadata to PATH")
    parser.add_argument("--trl", default=None, metavar="PATH",
                        help="write {rule_names, reward_weights, note} for TRL's "
                        "GRPOConfig(reward_weights=...) to PATH")
    parser.add_argument("--force", action="store_true",
                        help="overwrite existing output files")


def write_json_output(path: str | Path, document: dict[str, Any], *, force: bool) -> Path:
    """Writes a JSON document atomically (see :func:`encore_jax.io.atomic_write`)."""
    from encore_jax.io import write_json

    return atomic_write(path, lambda tmp: write_json(tmp, document), force=force)


def table_items(path: str | Path, columns: dict[str, Any], metadata: dict[str, Any],
                file_format: str | None = None) -> list[tuple[Any, Any]]:
    """``(path, write)`` items for :func:`atomic_write_all` of a table plus its metadata: in
    the file (parquet, NPZ) or as a ``<file>.meta.json`` sidecar (CSV, JSONL)."""
    from encore_jax.io import detect_format, embeds_metadata, sidecar_path, write_json, write_table

    fmt = detect_format(path, file_format)
    if embeds_metadata(fmt):
        return [(path, lambda tmp: write_table(tmp, columns, metadata=metadata, file_format=fmt))]
    return [(path, lambda tmp: write_table(tmp, columns, file_format=fmt)),
            (sidecar_path(path), lambda tmp: write_json(tmp, metadata))]


def write_table_output(path: str | Path, columns: dict[str, Any], metadata: dict[str, Any],
                       *, force: bool, file_format: str | None = None) -> list[Path]:
    """Writes a table plus its metadata atomically (see :func:`table_items`), both files or
    neither."""
    return atomic_write_all(table_items(path, columns, metadata, file_format), force=force)


def export_weights(report: dict[str, Any], *, out: str | None, trl: str | None,
                   force: bool, method: str = "encore",
                   per_rule_keys: tuple[str, ...] = ("entropy", "observed")) -> list[str]:
    """Writes the weights JSON (``out``) and the TRL composition (``trl``) of a report with
    ``rules`` rows (``rule``, ``weight``, and ``per_rule_keys``), all or nothing."""
    from encore_jax.io import trl_reward_config, weights_document, write_json

    names = [row["rule"] for row in report["rules"]]
    weights = [row["weight"] for row in report["rules"]]
    per_rule = {
        ("entropies" if key == "entropy" else key): [row[key] for row in report["rules"]]
        for key in per_rule_keys
    }
    if out is not None and trl is not None and out == trl:
        raise UsageError("--out and --trl name the same file")
    items = []
    if out is not None:
        document = weights_document(names, weights, method=method,
                                    metadata=report["metadata"], per_rule=per_rule)
        items.append((out, lambda tmp: write_json(tmp, document)))
    if trl is not None:
        config = {**trl_reward_config(names, weights), "metadata": report["metadata"]}
        items.append((trl, lambda tmp: write_json(tmp, config)))
    atomic_write_all(items, force=force)
    return [str(path) for path, _ in items]


def warn_if_pairs(args: argparse.Namespace, rule_names: Sequence[str]) -> None:
    """A note on stderr when a wide read took ``chosen_<x>`` / ``rejected_<x>`` columns as
    separate rules: ``--layout pairs`` pools the two responses instead."""
    import sys

    if getattr(args, "layout", "wide") != "wide":
        return
    chosen, rejected = pair_prefix_options(args).values()
    bases = {n[len(chosen):] for n in rule_names if n.startswith(chosen)}
    if bases and bases == {n[len(rejected):] for n in rule_names if n.startswith(rejected)}:
        print(f"note: the rules come in {chosen}/{rejected} pairs; add --layout pairs to pool "
              "the two responses' ratings per rule", file=sys.stderr)


def missing_note(missing: dict[str, Any]) -> str:
    """One line on what the missing-value policy did."""
    if not missing["cells"]:
        return "no missing ratings"
    if missing["policy"] == "drop":
        return f"{missing['cells']} missing ratings; {missing['rows_dropped']} rows dropped"
    return f"{missing['cells']} missing ratings, masked (never filled)"


# --resamples against memory. The bootstrap keeps its replicates (float32 or float64 per
# resample and per reported quantity) and copies them for the percentiles. The estimates
# below are bytes per resample, known before the data is read: K is the number of
# <chosen-prefix> columns of FILE's header (at least 1; a list column counts once), no
# subsets. Measured on a 3-pair file with K = 2, L = 3 (peak RSS growth from 1e5 to 1e6
# resamples, /usr/bin/time): diagnose 195 bytes per resample (estimate 192), compare 229
# (estimate 376); demo's is the measured slope itself. A command may check again with its
# data's K via
# check_resamples(num_resamples, bytes_per_resample).
def _header_rules(args: argparse.Namespace) -> int:
    """Rules K seen in FILE's header (``<chosen-prefix>`` columns), at least 1; 1 when the
    header cannot be read (the command then reports why)."""
    if getattr(args, "pair_index", None) is not None:
        return 1
    try:
        from encore_jax.io import open_source

        names = open_source(args.file, getattr(args, "file_format", None)).names
    except Exception:  # noqa: BLE001 - the command itself reports a bad file
        return 1
    prefix = getattr(args, "chosen_prefix", "chosen_")
    return max(1, sum(name.startswith(prefix) for name in names))


def _compare_bytes(args: argparse.Namespace) -> int:
    """compare: float32 replicates of 3 (M + K) + K rows (methods M >= 8 + the
    temperature sweep, their two paired differences, K per-rule rows), sorted copy x2."""
    methods = (8 + len(getattr(args, "temperatures", ()) or ())
               + len(getattr(args, "weighting", None) or ()))
    rules = _header_rules(args)
    return 4 * 2 * (3 * (methods + rules) + rules)


def _diagnose_bytes(args: argparse.Namespace) -> int:
    """diagnose: float64 ``[B, K, L]`` level histograms and ``[B, 3, K]`` pair sums (the
    totals of :mod:`encore_jax.workflows.diagnose`), and a copy x2."""
    return 2 * 8 * _header_rules(args) * ((args.levels or 2) + 3)


def _demo_bytes(args: argparse.Namespace) -> int:
    """demo: measured, not derived: peak RSS grew by 33,200 bytes per resample from 1e4 to
    2e5 resamples with the default --ensembles 200 (``/usr/bin/time``, ``demo --no-figures
    --json``); taken as 168 bytes per ensemble and resample (linear in --ensembles assumed)."""
    return 168 * (getattr(args, "ensembles", None) or 200)


RESAMPLE_BYTES = {"compare": _compare_bytes, "diagnose": _diagnose_bytes, "demo": _demo_bytes}
"""Per command, an estimate of the bytes each bootstrap resample needs."""


def available_memory() -> int | None:
    """Bytes of memory available now (Linux ``MemAvailable``, else free pages), or None."""
    import os

    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def check_resamples(num_resamples: int, bytes_per_resample: int, *,
                    available: int | None = None, option: str = "--resamples") -> None:
    """Refuses ``num_resamples`` when ``num_resamples * bytes_per_resample`` exceeds half
    of ``available`` memory (default :func:`available_memory`), suggesting the largest value
    that fits. Unknown available memory: no check."""
    available = available_memory() if available is None else available
    if available is None:
        return
    need, budget = num_resamples * bytes_per_resample, available // 2
    if need > budget:
        fits = max(1, budget // bytes_per_resample)
        raise UsageError(
            f"{option} {num_resamples} needs about {need / 2**30:.1f} GiB for the bootstrap "
            f"(an estimated {bytes_per_resample} bytes per resample), more than half of the "
            f"{available / 2**30:.1f} GiB of memory available; use {option} {fits} or fewer")


def check_resample_memory(args: argparse.Namespace) -> None:
    """:func:`check_resamples` with the command's lower bound (:data:`RESAMPLE_BYTES`)."""
    estimate = RESAMPLE_BYTES.get(getattr(args, "command", ""))
    if estimate is not None and getattr(args, "resamples", None):
        check_resamples(args.resamples, estimate(args))
