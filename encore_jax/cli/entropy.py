"""``encore-jax entropy``: per-rule rating entropies of a ratings file, streamed in chunks."""

from __future__ import annotations

import argparse
import math
from typing import Any

from encore_jax.cli._common import (
    EXIT_OK,
    add_binning_options,
    add_input_options,
    add_json_option,
    add_output_options,
    positive_float,
    positive_int,
    print_json,
    print_table,
    rule_level_counts,
    write_json_output,
)

EPILOG = """\
examples:
  encore-jax entropy ratings.csv --levels 5
  encore-jax entropy ratings.parquet --levels 5 --base 2 --estimator miller_madow --json
  encore-jax entropy scores.jsonl --levels 10 --bin-range 0 1 --out entropies.json
  encore-jax entropy long.csv --layout long --levels 5   # response_id,rule,rating rows
"""


def add_estimator_options(parser: argparse.ArgumentParser) -> None:
    """--base and --estimator (the entropy settings that change the numbers)."""
    parser.add_argument("--base", type=positive_float, default=None,
                        help="logarithm base for entropies (default: natural log)")
    parser.add_argument("--estimator", choices=("plugin", "miller_madow"), default="plugin",
                        help="entropy estimator (default: plugin)")


def add_chunk_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chunk-rows", type=positive_int, default=None,
                        help="rows read per chunk from wide files (default: 65536)")


def settings(args: argparse.Namespace, path: str, num_rows: int) -> dict[str, Any]:
    """The settings that change an entropy's value, for reports and output metadata."""
    bin_range = getattr(args, "bin_range", None)
    return {
        "file": str(path),
        "num_responses": num_rows,
        "num_levels": args.levels,
        "log_base": "e" if args.base is None else args.base,
        "estimator": args.estimator,
        "bin_range": None if bin_range is None else list(bin_range),
        "mask_value": getattr(args, "mask_value", None),
        "layout": getattr(args, "layout", "wide"),
    }


def entropy_rows(counts: Any, rule_names: tuple[str, ...], num_levels: int,
                 base: float | None, estimator: str) -> tuple[list[dict[str, Any]], Any]:
    """One dict per rule (name, observed, entropy, normalised entropy, level counts) and the
    entropies ``[K]``, from summed level counts ``[K, L]``."""
    import numpy as np

    from encore_jax.entropy import entropy_from_counts

    entropies = entropy_from_counts(counts, base=base, estimator=estimator)
    max_entropy = math.log(num_levels) if base is None else math.log(num_levels, base)
    rows = [
        {
            "rule": name,
            "observed": int(counts[k].sum()),
            "entropy": float(entropies[k]),
            "normalized_entropy": float(entropies[k]) / max_entropy,
            "counts": [int(c) for c in np.asarray(counts[k])],
        }
        for k, name in enumerate(rule_names)
    ]
    return rows, entropies


def entropy_report(path: str, args: argparse.Namespace) -> dict[str, Any]:
    from encore_jax.data import output_metadata

    summed = rule_level_counts(path, args)
    rows, _ = entropy_rows(summed["counts"], summed["rule_names"], args.levels, args.base,
                           args.estimator)
    report = settings(args, path, summed["num_rows"])
    report["rules"] = rows
    report["metadata"] = output_metadata(command="entropy", **settings(args, path,
                                                                      summed["num_rows"]))
    return report


def run(args: argparse.Namespace) -> int:
    report = entropy_report(args.file, args)
    if args.out is not None:
        write_json_output(args.out, report, force=args.force)
    if args.json:
        print_json(report)
    else:
        title = (f"Rating entropy: {report['file']} ({report['num_responses']} responses, "
                 f"L={report['num_levels']}, {report['estimator']}, "
                 f"log base {report['log_base']})")
        rows = [{**row, "counts": "/".join(map(str, row["counts"]))} for row in report["rules"]]
        print_table(title, rows, ("rule", "observed", "entropy", "normalized_entropy", "counts"))
        if args.out is not None:
            print(f"wrote {args.out}")
    return EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "entropy", help="per-rule rating entropies of a ratings file",
        description="Per-rule entropy H_k of the discrete ratings, normalised entropy "
        "H_k / log L and the level counts. The file is streamed in chunks (counts are "
        "additive), so it may be larger than memory.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="ratings: .csv, .jsonl, .parquet or .npz")
    add_binning_options(parser, levels_required=True)
    add_estimator_options(parser)
    add_input_options(parser)
    add_chunk_option(parser)
    add_output_options(parser, help="also write the report as JSON (with metadata) to PATH")
    add_json_option(parser)
    parser.set_defaults(run=run)
