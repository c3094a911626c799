"""Pieces shared by the subcommands: errors, option groups, output."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from typing import Any

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


def print_table(title: str, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """A rich table of ``rows`` (dicts) with the given columns; floats to 4 decimals."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column == "rule" else "right")
    for row in rows:
        table.add_row(*(
            f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c]) for c in columns
        ))
    Console().print(table)
