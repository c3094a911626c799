"""``encore-jax diagnose``: does ENCORE's premise (low entropy, high accuracy) hold here?"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from encore_jax.cli._common import (
    EXIT_OK,
    UsageError,
    add_binning_options,
    add_input_options,
    fraction,
    log_base,
    positive_float,
    positive_int,
    print_json,
    progress,
    reader_options,
    seed_int,
)
from encore_jax.cli._common import console as shared_console

EPILOG = """\
examples:
  encore-jax diagnose pairs.csv --levels 5 --group-column prompt_id
  encore-jax diagnose pairs.parquet --levels 11 --calibration ratings.parquet --json
  encore-jax diagnose "$(encore-jax datasets --path pairs_levels)" --levels 38 \\
      --group-column group_id          # the shipped OASST1 pairs

Verdict: premise_holds is true iff the whole bootstrap intervals of Pearson r and Spearman
rho (entropy, accuracy) across rules lie below 0; a permutation test across the rules says
whether the order of so few rules could be chance. Accuracy counts ties as 1/2; decisive
accuracy counts only the pairs the rule does not tie. Intervals resample whole groups
(--group-column), else single pairs; with one group there is no interval. A second table
scores every weighting on all pairs (ties 1/2, as compare scores). Wide pairs files are
streamed (read twice): memory does not grow with the pairs.
"""


def _tie_rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "diagnose", help="does ENCORE's premise (low entropy = accurate) hold on these pairs?",
        description="Per rule: entropy, tie rate, accuracy (ties 1/2), decisive accuracy, "
        "coverage and weights; then the entropy-accuracy correlation across rules with a "
        "(group) bootstrap interval, the verdict premise_holds and the reasons behind it.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="rated pairs: columns <chosen-prefix><rule> and "
                        "<rejected-prefix><rule> (csv, jsonl, parquet; streamed), or any "
                        "layout the pairs readers take (read whole)")
    add_binning_options(parser, levels_required=True)
    add_input_options(parser, pairs=True, long_layout=True, pair_prefixes=True)
    parser.add_argument("--group-column", default=None, metavar="COL",
                        help="a column of group ids (e.g. the prompt): the bootstrap "
                        "resamples whole groups (default: single pairs)")
    parser.add_argument("--calibration", default=None, metavar="FILE",
                        help="wide ratings file (a row per response, a column per rule) for "
                        "the entropies (default: the pairs' ratings, pooled)")
    parser.add_argument("--calibration-group-column", default=None, metavar="COL",
                        help="--calibration's group column (same ids as --group-column)")
    parser.add_argument("--chunk-rows", type=positive_int, default=65536,
                        help="rows read at a time (default: 65536)")
    method = parser.add_argument_group("method")
    method.add_argument("--temperature", type=positive_float, default=2.0,
                        help="ENCORE temperature tau (default: 2, the paper's)")
    method.add_argument("--weighting", action="append", default=None, metavar="SPEC",
                        help="an extra weighting to report: a built-in name or "
                        "package.module:function (repeatable)")
    method.add_argument("--base", type=log_base, default=None,
                        help="logarithm base for entropies: e, 2, 10 or a number > 1 "
                        "(default: e, natural log)")
    method.add_argument("--estimator", choices=("plugin", "miller_madow"), default="plugin",
                        help="entropy estimator (default: plugin)")
    method.add_argument("--rare-tie-rate", type=_tie_rate, default=0.9,
                        help="a lower-entropy rule tying on more than this share of its "
                        "pairs is reported as a rare flag (default: 0.9)")
    method.add_argument("--resamples", type=positive_int, default=1000,
                        help="bootstrap resamples (default: 1000)")
    method.add_argument("--confidence", type=fraction, default=0.95,
                        help="interval confidence (default: 0.95)")
    method.add_argument("--seed", type=seed_int, default=0,
                       help="PRNG seed, 0..2**63-1 (default: 0)")
    parser.add_argument("--json", action="store_true", help="print the JSON report")
    parser.add_argument("--figure", default=None, metavar="PATH",
                        help="also draw entropy against accuracy per rule to PATH (PNG unless "
                             "the suffix is .svg or .pdf)")
    parser.add_argument("--force", action="store_true", help="overwrite --figure")
    parser.set_defaults(run=run)


def _weightings(specs: list[str] | None) -> dict[str, Any] | None:
    if not specs:
        return None
    try:
        from encore_jax.weightings import resolve_weighting
    except ImportError:
        raise UsageError("--weighting needs encore_jax.weightings, which this install "
                         "lacks") from None
    return {spec: resolve_weighting(spec) for spec in specs}


def _report(args: argparse.Namespace) -> Any:
    import jax

    from encore_jax.workflows.diagnose import diagnose_file, diagnose_premise

    options = reader_options(args)
    key = jax.random.key(args.seed)
    common = {"weightings": _weightings(args.weighting), "temperature": args.temperature,
              "num_resamples": args.resamples, "confidence": args.confidence,
              "base": args.base, "estimator": args.estimator,
              "rare_tie_rate": args.rare_tie_rate}
    whole = options.get("pair_index") is not None or options.get("layout", "wide") != "wide"
    if not whole:
        from encore_jax.io import detect_format

        whole = detect_format(args.file, options.get("file_format")) == "npz"
    if not whole:
        return diagnose_file(
            args.file, args.levels, key=key, group_column=args.group_column,
            calibration_path=args.calibration,
            calibration_group_column=args.calibration_group_column,
            chunk_rows=args.chunk_rows, rule_columns=options.get("rule_columns"),
            mask_value=options.get("mask_value"), bin_range=options.get("bin_range"),
            file_format=options.get("file_format"), chosen_prefix=args.chosen_prefix,
            rejected_prefix=args.rejected_prefix, exclude=options.get("exclude"),
            progress=lambda chunks: progress(chunks, description="chunks read"), **common)
    from encore_jax.io import read_rating_pairs, read_ratings

    if args.group_column is not None and options.get("pair_index") is not None:
        raise UsageError("--group-column needs the one-row-per-pair layout (not --pair-index)")
    pairs = read_rating_pairs(args.file, num_levels=args.levels, chosen_prefix=args.chosen_prefix,
                              rejected_prefix=args.rejected_prefix, keep_text=False,
                              **{k: v for k, v in options.items() if k != "id_column"},
                              id_column=args.group_column or options.get("id_column"))
    calibration = None
    if args.calibration is not None:
        calibration = read_ratings(args.calibration, num_levels=args.levels,
                                   rule_columns=pairs.rule_names,
                                   id_column=args.calibration_group_column)
    return diagnose_premise(
        key, pairs.chosen, pairs.rejected, args.levels, mask=pairs.observed,
        groups=pairs.ids if args.group_column else None,
        calibration=None if calibration is None else calibration.ratings,
        calibration_mask=None if calibration is None else calibration.mask,
        calibration_groups=(calibration.ids if calibration is not None
                            and args.calibration_group_column else None),
        rule_names=pairs.rule_names, **common)


def _number(value: float | None, digits: int = 4) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _interval(x: dict[str, Any], digits: int = 4, signed: bool = False) -> str:
    sign = "+" if signed else ""
    text = f"{x['estimate']:{sign}.{digits}f}"
    if x["low"] is None or not math.isfinite(x["low"]):
        return text
    return f"{text} [{x['low']:{sign}.{digits}f}, {x['high']:{sign}.{digits}f}]"


def _print_methods(console: Any, document: dict[str, Any]) -> None:
    """Each weighting's accuracy over all pairs (ties 1/2), tie rate and difference from
    uniform, with the report's intervals."""
    from rich.table import Table

    if not document.get("methods"):
        return
    protocol = document["protocol"]
    units = (f"{protocol['num_groups']} groups" if protocol["num_groups"]
             else f"{protocol['num_pairs']} pairs")
    table = Table(title=f"weightings on all {protocol['num_pairs']} pairs",
                  caption=f"accuracy: ties count 1/2; {protocol['confidence']:.0%} intervals "
                  f"resampling {units}; minus uniform: paired difference")
    for column in ("weighting", "accuracy", "tie rate", "minus uniform"):
        table.add_column(column, justify="left" if column == "weighting" else "right")
    for m in document["methods"]:
        table.add_row(m["name"], _interval(m["accuracy"]), _number(m["tie_rate"], 3),
                      "-" if m["name"] == "uniform" else _interval(m["minus_uniform"],
                                                                    signed=True))
    console.print(table)


def print_report(document: dict[str, Any]) -> None:
    """The per-rule table, the correlations and the verdict with its reasons."""
    from rich.table import Table

    console = shared_console()  # a file or pipe: printed in full, never cut
    protocol = document["protocol"]
    table = Table(title=f"ENCORE premise check: {protocol['num_pairs']} pairs"
                  + (f", {protocol['num_groups']} groups" if protocol["num_groups"] else ""),
                  caption=f"entropy from {protocol['entropy_source']}; accuracy: ties count "
                  "1/2; decisive: pairs not tied")
    weight_keys = [k for k in document["rules"][0] if k.endswith("_weight")]
    columns = ["rule", "entropy", "tie rate", "accuracy", "decisive acc.", "coverage",
               *(k.replace("_weight", " w") for k in weight_keys)]
    for column in columns:
        table.add_column(column, justify="left" if column == "rule" else "right")
    for r in sorted(document["rules"], key=lambda r: r["entropy"]):
        table.add_row(r["rule"], _number(r["entropy"]), _number(r["tie_rate"], 3),
                      _number(r["accuracy"]), _number(r["decisive_accuracy"]),
                      _number(r["coverage"], 3), *(_number(r[k], 3) for k in weight_keys))
    console.print(table)
    _print_methods(console, document)
    for title, corr in (("entropy vs accuracy", document["correlation"]),
                        ("entropy vs decisive accuracy", document["decisive_correlation"])):
        if corr is None:
            continue
        p, s = corr["pearson"], corr["spearman"]
        perm = corr["permutation"]["pearson"]
        console.print(f"{title} over {corr['num_rules']} rules: Pearson r = "
                      f"{_interval(p, 3, True)}, Spearman rho = {_interval(s, 3, True)}; "
                      f"permutation p (r, across rules) = {perm['pvalue']:.3g}")
    console.print(f"premise_holds: {str(document['premise_holds']).lower()}  "
                  f"({document['verdict_rule']})", highlight=False)
    for reason in document["reasons"]:
        console.print(f"  - {reason}", highlight=False)


def run(args: argparse.Namespace) -> int:
    if args.calibration_group_column and not args.calibration:
        raise UsageError("--calibration-group-column needs --calibration")
    if args.figure is not None and Path(args.figure).exists() and not args.force:
        raise UsageError(f"{args.figure} exists; pass --force to overwrite it")
    document = _report(args).to_dict()
    if args.figure is not None:
        from encore_jax.figures import premise_figure

        premise_figure(document, args.figure)
    if args.json:
        print_json(document)
    else:
        print_report(document)
    return EXIT_OK
