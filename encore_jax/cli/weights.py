"""``encore-jax weights``: per-rule entropies and ENCORE weights of a ratings file, with
exports (weights JSON with metadata, a TRL reward composition)."""

from __future__ import annotations

import argparse
from typing import Any

from encore_jax.cli._common import (
    EXIT_OK,
    add_binning_options,
    add_chunk_option,
    add_estimator_options,
    add_export_options,
    add_input_options,
    add_json_option,
    entropy_settings,
    export_weights,
    file_count_options,
    missing_note,
    positive_float,
    print_json,
    print_table,
    warn_if_pairs,
)

__all__ = ["add_export_options", "export_weights", "register", "run"]  # fit-bt imports

EPILOG = """\
examples:
  encore-jax weights ratings.csv --levels 5 --temperature 2
  encore-jax weights ratings.parquet --levels 5 --mask-value -1 --json
  encore-jax weights ratings.csv --levels 5 --out weights.json --trl trl_rewards.json
  encore-jax weights long.jsonl --layout long --levels 5 --rule-columns harmless,honest
  encore-jax weights pairs.parquet --layout pairs --levels 5   # chosen and rejected pooled
  encore-jax weights ratings_1to5.csv --levels 5 --level-offset 1

--out writes {"method": "encore", "rules": [...], "weights": [...], "entropies": [...],
"metadata": {...}}, which `encore-jax compose --weights` reads and
encore_jax.integrations.trl.composite_reward_func(PATH) turns into one GRPO reward function.
--trl writes {"rule_names": [...], "reward_weights": [...], "note": ...}: TRL's
reward_funcs are Hub model ids or callables, so build one callable per rule name (in order,
e.g. encore_jax.integrations.trl.rule_reward_funcs) and pass
GRPOConfig(reward_weights=reward_weights).
"""


def weights_report(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON-able report of ``weights`` for ``args.file``."""
    from encore_jax.io import output_metadata
    from encore_jax.workflows.file_weights import file_weights

    result = file_weights(args.file, args.levels, temperature=args.temperature,
                          base=args.base, estimator=args.estimator, **file_count_options(args))
    rows = [{key: value for key, value in row.items() if key != "counts"}
            for row in result.rows()]
    context = {**entropy_settings(args, result.counts), "temperature": args.temperature}
    return {**context, "rules": rows,
            "metadata": output_metadata(command="weights", method="encore", **context)}


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
    print(missing_note(report["missing_counts"]))


def run(args: argparse.Namespace) -> int:
    report = weights_report(args)
    warn_if_pairs(args, [row["rule"] for row in report["rules"]])
    written = export_weights(report, out=args.out, trl=args.trl, force=args.force)
    emit_weights_report(report, args.json)
    if written and not args.json:
        print("wrote " + ", ".join(written))
    return EXIT_OK


def add_temperature_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--temperature", type=positive_float, default=2.0,
                        help="ENCORE temperature tau > 0 (default: 2.0, the paper's)")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "weights", help="per-rule entropies and ENCORE weights of a ratings file",
        description="Per-rule entropy, normalised entropy H / log L and ENCORE weight "
        "softmax(-H / tau) of a ratings file (wide: rows = responses, columns = rules; long; "
        "or pairs, both responses pooled). The file is streamed in chunks.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="ratings: .csv, .jsonl, .parquet, .npz or a parquet "
                        "directory")
    add_binning_options(parser, levels_required=True)
    add_temperature_option(parser)
    add_estimator_options(parser)
    add_input_options(parser, pair_prefixes=True)
    add_chunk_option(parser)
    add_export_options(parser)
    add_json_option(parser)
    parser.set_defaults(run=run)
