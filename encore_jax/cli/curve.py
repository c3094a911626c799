"""``encore-jax curve``: which weighting to use with no labels, or with a few (a learning curve)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from encore_jax.cli._common import (
    EXIT_OK,
    UsageError,
    add_binning_options,
    add_input_options,
    fraction,
    pair_prefix_options,
    positive_float,
    positive_int,
    print_json,
    reader_options,
)

EPILOG = """\
examples:
  encore-jax curve pairs.csv --levels 5 --group-column prompt_id
  encore-jax curve "$(encore-jax datasets --path pairs_levels)" --levels 38 \\
      --group-column group_id --repeats 20 --figure curve.png      # the shipped OASST1 pairs
  encore-jax curve pairs.parquet --levels 11 --group-column prompt --labels 0,8,32,all --json

For each budget n of labelled groups (all = 80% of the groups), R random draws of n groups
reveal their labels; every method is scored on the other groups (ties count 1/2):
label-free (uniform, encore, the research weightings; they see the ratings with coin-flipped
sides, never a label), bt (Bradley-Terry on the n groups) and bt_prior (Bradley-Terry pulled
toward the label-free weighting best on the n groups, its strength cross-validated over
them). Intervals resample draws and groups. The recommendation is chosen on one half of the
held-out groups and its accuracy reported on the other: the best mean accuracy, unless it
needs labels and its interval against uniform contains 0 (then the best label-free method).
"""


def _budget(text: str) -> tuple[int | str, ...]:
    """argparse type: ``0,16,all`` -> ``(0, 16, "all")``."""
    out: list[int | str] = []
    for item in text.split(","):
        item = item.strip()
        if item == "all":
            out.append("all")
        elif item.isdigit():
            out.append(int(item))
        else:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated group counts >= 0 or 'all', got {item!r} in {text!r}")
    return tuple(out)


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "curve", help="learning curve: label-free, few-label and supervised weightings "
        "against the number of labelled groups, with a recommendation",
        description="Held-out accuracy of uniform, ENCORE, the research weightings, "
        "Bradley-Terry and Bradley-Terry with a label-free prior as the number of labelled "
        "groups grows, with intervals, and a recommendation per budget.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="rated pairs: columns <chosen-prefix><rule> and "
                        "<rejected-prefix><rule> and a group column (csv, jsonl, parquet)")
    add_binning_options(parser, levels_required=True)
    add_input_options(parser, long_layout=False, pair_prefixes=True)
    parser.add_argument("--group-column", required=True, metavar="COL",
                        help="a column of group ids (e.g. the prompt): labels are drawn, and "
                        "held out, by whole groups")
    method = parser.add_argument_group("method")
    method.add_argument("--labels", type=_budget, default=None, metavar="N,N,...",
                        help="budgets of labelled groups (default: 0,16,32,64,128,256,all; "
                        "all = 80%% of the groups)")
    method.add_argument("--repeats", type=positive_int, default=20,
                        help="random draws per budget (default: 20)")
    method.add_argument("--temperature", type=positive_float, default=2.0,
                        help="ENCORE temperature tau (default: 2, the paper's)")
    method.add_argument("--tie", choices=("half", "loss"), default="half",
                        help="credit of a tied pair: half (default) or loss")
    method.add_argument("--resamples", type=positive_int, default=1000,
                        help="bootstrap resamples (default: 1000)")
    method.add_argument("--confidence", type=fraction, default=0.95,
                        help="interval confidence (default: 0.95)")
    method.add_argument("--seed", type=int, default=0, help="PRNG seed (default: 0)")
    parser.add_argument("--figure", default=None, metavar="PATH",
                        help="write the curve as a PNG (accuracy against labels, one line "
                        "and band per method)")
    parser.add_argument("--force", action="store_true", help="overwrite --figure")
    parser.add_argument("--json", action="store_true", help="print the JSON document")
    parser.set_defaults(run=run)


def _bounds(row: dict[str, Any]) -> str:
    if row["low"] is None:
        return "[undefined]"
    return f"[{row['low']:.3f}, {row['high']:.3f}]"


def print_curve(document: dict[str, Any]) -> None:
    """A methods x budgets table of accuracies with intervals, then the recommendations."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(markup=False, highlight=False)
    if not console.is_terminal:
        console = Console(width=max(console.width, 160), markup=False, highlight=False)
    protocol = document["protocol"]
    budgets = [b["labels"] for b in protocol["budgets"]]
    table = Table(title=f"held-out accuracy against labelled groups ({protocol['num_pairs']} "
                  f"pairs, {protocol['num_groups']} groups, {protocol['num_repeats']} draws)",
                  caption=f"ties count {'1/2' if protocol['tie'] == 'half' else '0'}; "
                  f"{protocol['confidence']:.0%} intervals resample draws and groups")
    table.add_column("method")
    for n in budgets:
        table.add_column(f"n = {n}", justify="right")
    cells: dict[str, dict[int, str]] = {}
    for row in document["curve"]:
        cells.setdefault(row["method"], {})[row["labels"]] = (
            f"{row['accuracy']:.4f} {_bounds(row)}")
    for method, by_budget in cells.items():
        table.add_row(Text(method), *(Text(by_budget.get(n, "-")) for n in budgets))
    console.print(table)
    console.print(f"recommendation rule: {protocol['recommendation_rule']}")
    for rec in document["recommendation"]:
        console.print(f"  n = {rec['labels']}: {rec['method']} ({rec['accuracy']:.4f} "
                      f"{_bounds(rec)} on the report halves): {rec['reason']}")


def run(args: argparse.Namespace) -> int:
    import jax

    from encore_jax.io import read_rating_pairs
    from encore_jax.workflows.curve import DEFAULT_BUDGETS, learning_curve

    if args.figure is not None and Path(args.figure).exists() and not args.force:
        raise UsageError(f"{args.figure} exists; pass --force to overwrite it")
    options = reader_options(args)
    options["id_column"] = args.group_column
    pairs = read_rating_pairs(args.file, num_levels=args.levels, keep_text=False,
                              **pair_prefix_options(args), **options)
    if pairs.ids is None:
        raise UsageError(f"--group-column {args.group_column} gave no group ids")
    result = learning_curve(
        jax.random.key(args.seed), pairs.chosen, pairs.rejected, args.levels, pairs.ids,
        mask=pairs.observed, budgets=args.labels or DEFAULT_BUDGETS, num_repeats=args.repeats,
        temperature=args.temperature, tie=args.tie, confidence=args.confidence,
        num_resamples=args.resamples, rule_names=pairs.rule_names)
    document = result.to_dict()
    document["protocol"]["pairs_source"] = str(args.file)
    if args.figure is not None:
        from encore_jax.figures import curve_figure, save_figure

        save_figure(curve_figure(document), args.figure)
    if args.json:
        print_json(document)
    else:
        print_curve(document)
    return EXIT_OK
