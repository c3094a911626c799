"""The ``encore-jax`` command line.

Exit codes: 0 on success, 2 on bad usage or bad input (with a one-line reason on stderr).
Heavy imports (JAX, rich) happen inside the commands so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

EXIT_OK = 0
EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """Bad input detected by a command; reported in one line with exit code 2."""


def _per_rule_rows(table: Any, num_levels: int, temperature: float, base: float | None,
                   estimator: str) -> list[dict[str, Any]]:
    from encore_jax.weights import encore_weights

    mask = None if table.fully_observed else table.mask
    entropies, weights = encore_weights(
        table.ratings, num_levels, temperature=temperature, mask=mask, base=base,
        estimator=estimator,
    )
    max_entropy = math.log(num_levels) if base is None else math.log(num_levels, base)
    observed = table.mask.sum(axis=0)
    return [
        {
            "rule": name,
            "observed": int(observed[k]),
            "entropy": float(entropies[k]),
            "normalized_entropy": float(entropies[k]) / max_entropy,
            "weight": float(weights[k]),
        }
        for k, name in enumerate(table.rule_names)
    ]


def _print_table(title: str, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
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


def _weights_report(path: str, args: argparse.Namespace) -> dict[str, Any]:
    from encore_jax.data import read_ratings

    table = read_ratings(path, mask_value=args.mask_value)
    rows = _per_rule_rows(table, args.levels, args.temperature, args.base, args.estimator)
    return {
        "file": str(path),
        "num_responses": int(table.ratings.shape[0]),
        "num_levels": args.levels,
        "temperature": args.temperature,
        "log_base": "e" if args.base is None else args.base,
        "estimator": args.estimator,
        "rules": rows,
    }


def _emit(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    title = (
        f"ENCORE weights: {report['file']} ({report['num_responses']} responses, "
        f"L={report['num_levels']}, tau={report['temperature']}, {report['estimator']}, "
        f"log base {report['log_base']})"
    )
    _print_table(title, report["rules"],
                 ("rule", "observed", "entropy", "normalized_entropy", "weight"))


def cmd_weights(args: argparse.Namespace) -> int:
    _emit(_weights_report(args.file, args), args.json)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from encore_jax.data import example_ratings_path

    path = example_ratings_path()
    args.levels = 5
    report = _weights_report(str(path), args)
    _emit(report, args.json)
    if not args.json:
        print(
            f"\nThe demo rated {report['num_responses']} responses on "
            f"{len(report['rules'])} rules; lower-entropy rules get more weight."
        )
    return EXIT_OK


def _positive_float(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be finite and > 0, got {text}")
    return value


def _add_entropy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--temperature", type=_positive_float, default=2.0,
                        help="ENCORE temperature tau > 0 (default: 2.0, the paper's)")
    parser.add_argument("--base", type=_positive_float, default=None,
                        help="logarithm base for entropies (default: natural log)")
    parser.add_argument("--estimator", choices=("plugin", "miller_madow"), default="plugin",
                        help="entropy estimator (default: plugin)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="encore-jax",
        description="Compose multi-head safety reward models: entropy-penalised ENCORE weights.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    weights = commands.add_parser(
        "weights", help="per-rule entropies and ENCORE weights of a ratings file",
        description="Per-rule entropy, normalised entropy H / log L and ENCORE weight "
        "softmax(-H / tau) of a wide ratings file (rows = responses, columns = rules).",
        epilog="example: encore-jax weights ratings.csv --levels 5 --temperature 2",
    )
    weights.add_argument("file", help="ratings as .csv (header = rule names) or .npz")
    weights.add_argument("--levels", type=int, required=True,
                         help="number of rating levels L; ratings must be in 0..L-1")
    weights.add_argument("--mask-value", type=float, default=None,
                         help="a rating value meaning 'missing' (empty cells always are)")
    _add_entropy_options(weights)
    weights.set_defaults(run=cmd_weights)

    demo = commands.add_parser("demo", help="run the pipeline on the built-in example data")
    demo.set_defaults(mask_value=None)
    _add_entropy_options(demo)
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``encore-jax``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except (UsageError, ValueError, TypeError, OSError) as err:
        print(f"encore-jax {args.command}: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
