"""``encore-jax entropy``: per-rule rating entropies of a ratings file, streamed in chunks."""

from __future__ import annotations

import argparse
from typing import Any

from encore_jax.cli._common import (
    EXIT_OK,
    add_binning_options,
    add_chunk_option,
    add_estimator_options,
    add_input_options,
    add_json_option,
    add_output_options,
    entropy_settings,
    file_count_options,
    missing_note,
    print_json,
    print_table,
    warn_if_pairs,
    write_json_output,
)

__all__ = ["add_chunk_option", "add_estimator_options", "register", "run"]  # fit-bt imports

EPILOG = """\
examples:
  encore-jax entropy ratings.csv --levels 5
  encore-jax entropy ratings.parquet --levels 5 --base 2 --estimator miller_madow --json
  encore-jax entropy scores.jsonl --levels 10 --bin-range 0 1 --out entropies.json
  encore-jax entropy long.csv --layout long --levels 5   # response_id,rule,rating rows
  encore-jax entropy long.csv --layout long --levels 5 --pool majority  # several annotators
  encore-jax entropy pairs.parquet --layout pairs --levels 5   # chosen_/rejected_ pooled
  encore-jax entropy hf.parquet --levels 10 --text-columns prompt,response  # list column
"""


def entropy_report(args: argparse.Namespace) -> dict[str, Any]:
    from encore_jax.io import output_metadata
    from encore_jax.workflows.file_weights import file_entropies

    result = file_entropies(args.file, args.levels, base=args.base, estimator=args.estimator,
                            **file_count_options(args))
    context = entropy_settings(args, result.counts)
    return {**context, "rules": result.rows(),
            "metadata": output_metadata(command="entropy", **context)}


def run(args: argparse.Namespace) -> int:
    report = entropy_report(args)
    warn_if_pairs(args, [row["rule"] for row in report["rules"]])
    if args.out is not None:
        write_json_output(args.out, report, force=args.force)
    if args.json:
        print_json(report)
        return EXIT_OK
    title = (f"Rating entropy: {report['file']} ({report['num_responses']} responses, "
             f"L={report['num_levels']}, {report['estimator']}, "
             f"log base {report['log_base']})")
    rows = [{**row, "counts": "/".join(map(str, row["counts"]))} for row in report["rules"]]
    print_table(title, rows, ("rule", "observed", "entropy", "normalized_entropy", "counts"))
    print(missing_note(report["missing_counts"]))
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
    parser.add_argument("file", help="ratings: .csv, .jsonl, .parquet, .npz or a parquet "
                        "directory")
    add_binning_options(parser, levels_required=True)
    add_estimator_options(parser)
    add_input_options(parser, pair_prefixes=True)
    add_chunk_option(parser)
    add_output_options(parser, help="also write the report as JSON (with metadata) to PATH")
    add_json_option(parser)
    parser.set_defaults(run=run)
