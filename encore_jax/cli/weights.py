"""``encore-jax weights``: per-rule entropies and ENCORE weights of a ratings file, with
exports (weights JSON with metadata, a TRL reward composition)."""

from __future__ import annotations

import argparse
import math
from types import SimpleNamespace
from typing import Any

from encore_jax.cli._common import (
    EXIT_OK,
    add_binning_options,
    add_input_options,
    add_json_option,
    atomic_write_all,
    positive_float,
    print_json,
    print_table,
    rule_level_counts,
)
from encore_jax.cli.entropy import (
    add_chunk_option,
    add_estimator_options,
    entropy_rows,
    settings,
)

EPILOG = """\
examples:
  encore-jax weights ratings.csv --levels 5 --temperature 2
  encore-jax weights ratings.parquet --levels 5 --mask-value -1 --json
  encore-jax weights ratings.csv --levels 5 --out weights.json --trl trl_rewards.json
  encore-jax weights long.jsonl --layout long --levels 5 --rule-columns harmless,honest

--out writes {"method": "encore", "rules": [...], "weights": [...], "entropies": [...],
"metadata": {...}}, which `encore-jax compose --weights` reads. --trl writes
{"reward_funcs": [rule names], "reward_weights": [weights]} for TRL's
GRPOConfig(reward_weights=...), the rule names standing for your per-rule reward functions.
"""


def per_rule_rows(table: Any, num_levels: int, temperature: float, base: float | None,
                  estimator: str) -> list[dict[str, Any]]:
    """One dict per rule of an in-memory table: name, observed count, entropy, H / log L,
    ENCORE weight."""
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


def _complete(args: argparse.Namespace) -> argparse.Namespace:
    """Defaults for options a caller's namespace may lack (e.g. ``demo``'s)."""
    defaults = {"base": None, "estimator": "plugin", "temperature": 2.0, "mask_value": None,
                "file_format": None, "rule_columns": None, "id_column": None,
                "bin_range": None, "chunk_rows": None}
    merged = {**defaults, **vars(args)}
    return SimpleNamespace(**merged)  # type: ignore[return-value]


def weights_report(path: str, args: argparse.Namespace) -> dict[str, Any]:
    """The JSON-able report of ``weights`` for one file (entropies streamed in chunks)."""
    from encore_jax.data import output_metadata
    from encore_jax.weights import entropy_weights

    args = _complete(args)
    summed = rule_level_counts(path, args)
    rows, entropies = entropy_rows(summed["counts"], summed["rule_names"], args.levels,
                                   args.base, args.estimator)
    weights = entropy_weights(entropies, args.temperature)
    for row, weight in zip(rows, weights.tolist(), strict=True):
        del row["counts"]
        row["weight"] = float(weight)
    context = {**settings(args, path, summed["num_rows"]), "temperature": args.temperature}
    return {
        **context,
        "rules": rows,
        "metadata": output_metadata(command="weights", method="encore", **context),
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


def export_weights(report: dict[str, Any], *, out: str | None, trl: str | None,
                   force: bool, method: str = "encore",
                   per_rule_keys: tuple[str, ...] = ("entropy", "observed")) -> list[str]:
    """Writes the weights JSON (``out``) and the TRL composition (``trl``), all or nothing."""
    from encore_jax.data import trl_reward_config, weights_document, write_json

    names = [row["rule"] for row in report["rules"]]
    weights = [row["weight"] for row in report["rules"]]
    per_rule = {
        ("entropies" if key == "entropy" else key): [row[key] for row in report["rules"]]
        for key in per_rule_keys
    }
    items = []
    if out is not None:
        document = weights_document(names, weights, method=method,
                                    metadata=report["metadata"], per_rule=per_rule)
        items.append((out, lambda tmp: write_json(tmp, document)))
    if trl is not None:
        config = {**trl_reward_config(names, weights), "metadata": report["metadata"]}
        items.append((trl, lambda tmp: write_json(tmp, config)))
    if out is not None and trl is not None and out == trl:
        from encore_jax.cli._common import UsageError

        raise UsageError("--out and --trl name the same file")
    atomic_write_all(items, force=force)
    return [str(path) for path, _ in items]


def run(args: argparse.Namespace) -> int:
    report = weights_report(args.file, args)
    written = export_weights(report, out=args.out, trl=args.trl, force=args.force)
    emit_weights_report(report, args.json)
    if written and not args.json:
        print("wrote " + ", ".join(written))
    return EXIT_OK


def add_export_options(parser: argparse.ArgumentParser) -> None:
    """--out (weights JSON), --trl (TRL reward composition) and --force."""
    parser.add_argument("--out", default=None, metavar="PATH",
                        help="write the weights as JSON with their metadata to PATH")
    parser.add_argument("--trl", default=None, metavar="PATH",
                        help="write {reward_funcs, reward_weights} for TRL to PATH")
    parser.add_argument("--force", action="store_true",
                        help="overwrite existing output files")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "weights", help="per-rule entropies and ENCORE weights of a ratings file",
        description="Per-rule entropy, normalised entropy H / log L and ENCORE weight "
        "softmax(-H / tau) of a ratings file (wide: rows = responses, columns = rules; or "
        "long). The file is streamed in chunks.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="ratings: .csv, .jsonl, .parquet or .npz")
    add_binning_options(parser, levels_required=True)
    parser.add_argument("--temperature", type=positive_float, default=2.0,
                        help="ENCORE temperature tau > 0 (default: 2.0, the paper's)")
    add_estimator_options(parser)
    add_input_options(parser)
    add_chunk_option(parser)
    add_export_options(parser)
    add_json_option(parser)
    parser.set_defaults(run=run)
