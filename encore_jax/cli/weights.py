"""``encore-jax weights``: per-rule entropies and ENCORE weights of a ratings file."""

from __future__ import annotations

import argparse
import math
from typing import Any

from encore_jax.cli._common import EXIT_OK, add_entropy_options, print_json, print_table


def per_rule_rows(table: Any, num_levels: int, temperature: float, base: float | None,
                  estimator: str) -> list[dict[str, Any]]:
    """One dict per rule: name, observed count, entropy, H / log L, ENCORE weight."""
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


def weights_report(path: str, args: argparse.Namespace) -> dict[str, Any]:
    """The JSON-able report of ``weights`` for one file."""
    from encore_jax.data import read_ratings

    table = read_ratings(path, mask_value=args.mask_value)
    rows = per_rule_rows(table, args.levels, args.temperature, args.base, args.estimator)
    return {
        "file": str(path),
        "num_responses": int(table.ratings.shape[0]),
        "num_levels": args.levels,
        "temperature": args.temperature,
        "log_base": "e" if args.base is None else args.base,
        "estimator": args.estimator,
        "rules": rows,
    }


def emit_weights_report(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    title = (
        f"ENCORE weights: {report['file']} ({report['num_responses']} responses, "
        f"L={report['num_levels']}, tau={report['temperature']}, {report['estimator']}, "
        f"log base {report['log_base']})"
    )
    print_table(title, report["rules"],
                ("rule", "observed", "entropy", "normalized_entropy", "weight"))


def run(args: argparse.Namespace) -> int:
    emit_weights_report(weights_report(args.file, args), args.json)
    return EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "weights", help="per-rule entropies and ENCORE weights of a ratings file",
        description="Per-rule entropy, normalised entropy H / log L and ENCORE weight "
        "softmax(-H / tau) of a wide ratings file (rows = responses, columns = rules).",
        epilog="example: encore-jax weights ratings.csv --levels 5 --temperature 2",
    )
    parser.add_argument("file", help="ratings as .csv (header = rule names) or .npz")
    parser.add_argument("--levels", type=int, required=True,
                        help="number of rating levels L; ratings must be in 0..L-1")
    parser.add_argument("--mask-value", type=float, default=None,
                        help="a rating value meaning 'missing' (empty cells always are)")
    add_entropy_options(parser)
    parser.set_defaults(run=run)
