"""``encore-jax demo``: the pipeline on the example data set that ships with the package."""

from __future__ import annotations

import argparse
from typing import Any

from encore_jax.cli._common import EXIT_OK, add_entropy_options
from encore_jax.cli.weights import emit_weights_report, weights_report


def run(args: argparse.Namespace) -> int:
    from encore_jax.data import example_ratings_path

    args.levels = 5
    args.mask_value = None
    report = weights_report(str(example_ratings_path()), args)
    emit_weights_report(report, args.json)
    if not args.json:
        print(
            f"\nThe demo rated {report['num_responses']} responses on "
            f"{len(report['rules'])} rules; lower-entropy rules get more weight."
        )
    return EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser("demo", help="run the pipeline on the built-in example data")
    add_entropy_options(parser)
    parser.set_defaults(run=run)
