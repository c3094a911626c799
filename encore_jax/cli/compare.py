"""``encore-jax compare``: ENCORE against its baselines on a file of rated pairs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from encore_jax.cli._common import (
    EXIT_OK,
    UsageError,
    add_binning_options,
    add_input_options,
    pair_prefix_options,
    progress_callback,
    reader_options,
)
from encore_jax.cli._comparison_report import (
    add_comparison_options,
    comparison_kwargs,
    emit,
    figure_targets,
)

EPILOG = """\
examples:
  encore-jax compare pairs.csv --levels 5                      # chosen_<rule>, rejected_<rule>
  encore-jax compare pairs.parquet --levels 5 --subset-column subset --figures figs/
  encore-jax compare eval.csv --levels 5 --train train.csv --calibration ratings.csv --json
  encore-jax compare pairs.csv --levels 5 --no-bt --resamples 2000 --out report.json
  encore-jax compare pairs.csv --levels 5 --weighting mypackage.mymodule:my_weighting
  encore-jax compare pairs.csv --levels 5 --group-column prompt_id   # resample prompts
  encore-jax compare pairs.csv --levels 5 --test-fraction 1 --no-bt  # every pair evaluated

Protocol: BT is fitted on a train split (or --train) and every method is evaluated on the
same held-out pairs; entropies come from --calibration, else from the train pairs' ratings.
With --group-column the split is by whole groups and every interval resamples whole groups;
without it pairs are treated as independent units. --test-fraction 1 with --no-bt evaluates
every method on all pairs (the label-free weightings see all pairs' ratings, no label).
A tied pair counts 1/2 (--tie half, the default); --tie loss gives RewardBench-compatible
numbers. Every accuracy carries a percentile bootstrap interval, conditional on the weights
fitted on the train split (they are not refitted per resample). The research
extensions (research_decisive_encore, research_decisive_entropy, and the signed agreement
weightings research_agreement_dawid_skene, research_agreement_bt: label-free, beyond the
ENCORE paper) are always reported; --weighting adds a function of the calibration ratings
and the unlabelled train pairs (see encore_jax.weightings), with its paired differences
against ENCORE and uniform.
"""


def _test_fraction(text: str) -> float:
    """argparse type: a held-out fraction in (0, 1], 1 meaning every pair is evaluated."""
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _read_pairs(path: str, args: argparse.Namespace, group_column: str | None = None) -> Any:
    from encore_jax.io import read_rating_pairs

    options = reader_options(args)
    if group_column is not None:
        if options.get("pair_index") is not None:
            raise UsageError("--group-column needs the one-row-per-pair layout (not "
                             "--pair-index)")
        if options.get("id_column") not in (None, group_column):
            raise UsageError(f"--id-column {options['id_column']} and --group-column "
                             f"{group_column} name different columns; give one")
        options["id_column"] = group_column
    return read_rating_pairs(path, num_levels=args.levels, keep_text=False,
                             **pair_prefix_options(args), **options)


def _weightings(args: argparse.Namespace) -> dict[str, Any] | None:
    """``--weighting SPEC`` (repeatable) as ``{SPEC: weighting}``."""
    if not args.weighting:
        return None
    from encore_jax.weightings import resolve_weighting

    duplicated = sorted({s for s in args.weighting if args.weighting.count(s) > 1})
    if duplicated:
        raise UsageError(f"--weighting {duplicated[0]} is given more than once")
    return {spec: resolve_weighting(spec, temperature=args.temperature)
            for spec in args.weighting}


def run(args: argparse.Namespace) -> int:
    import jax

    from encore_jax.io import read_ratings
    from encore_jax.workflows import compare_methods
    from encore_jax.workflows.protocol import compact_pairs

    if args.out is not None and Path(args.out).exists() and not args.force:
        raise UsageError(f"{args.out} exists; pass --force to overwrite it")
    figure_paths = None if args.figures is None else figure_targets(args.figures,
                                                                     force=args.force)
    if args.test_fraction == 1 and args.fit_bt and args.train is None:
        raise UsageError("--test-fraction 1 evaluates on every pair and leaves none to fit "
                         "Bradley-Terry on; add --no-bt")
    # Stage progress on stderr (a terminal only, after 2 s; --quiet silences it).
    with progress_callback("compare: pairs read, methods compared", total=2) as advance:
        pairs = _read_pairs(args.file, args, args.group_column)
        groups = None if args.group_column is None else pairs.ids
        train = None
        if args.train is not None:
            train = _read_pairs(args.train, args)
            if tuple(train.rule_names) != tuple(pairs.rule_names):
                raise UsageError(f"--train {args.train} has rules {list(train.rule_names)}, "
                                 f"{args.file} has {list(pairs.rule_names)}")
        rule_names = list(pairs.rule_names)
        missing = {"pairs": pairs.missing.to_dict(),
                   "train": None if train is None else train.missing.to_dict()}
        # Rebinding frees the reader's int32 levels: int8 copies hold the same pairs.
        pairs = compact_pairs(pairs, args.levels)
        train = None if train is None else compact_pairs(train, args.levels)
        calibration = calibration_mask = None
        if args.calibration is not None:
            table = read_ratings(args.calibration, num_levels=args.levels,
                                 rule_columns=rule_names, mask_value=args.mask_value,
                                 bin_range=reader_options(args).get("bin_range"))
            calibration, calibration_mask = table.ratings, table.mask
        advance()  # the pairs are read
        report = compare_methods(
            jax.random.key(args.seed), pairs, args.levels, rule_names=rule_names,
            train=train, test_fraction=args.test_fraction, calibration=calibration,
            calibration_mask=calibration_mask, weightings=_weightings(args), groups=groups,
            missing_groups=args.missing_groups, **comparison_kwargs(args),
        )
        advance()
    report.protocol["group_column"] = args.group_column
    report = {"file": str(args.file), "train_file": args.train,
              "calibration_file": args.calibration, "seed": args.seed,
              "missing_counts": missing, **report.to_dict()}
    emit(report, args, title=f"ENCORE vs baselines: {args.file}", figure_paths=figure_paths)
    return EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "compare", help="ENCORE vs its baselines on rated pairs, with bootstrap intervals",
        description="Evaluate ENCORE (and a temperature sweep) against uniform, random "
        "Dirichlet, single-rule, lowest-entropy top-k and Bradley-Terry-fitted weights on a "
        "file of rated preference pairs: accuracy with bootstrap CIs overall and per subset, "
        "the RewardBench Safety aggregate when the subsets are RewardBench's, the per-rule "
        "summary and the entropy-accuracy correlation.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="rated pairs: columns <chosen-prefix><rule> and "
                        "<rejected-prefix><rule> (csv, jsonl, parquet) or an NPZ with "
                        "chosen / rejected arrays")
    add_binning_options(parser, levels_required=True)
    add_input_options(parser, pairs=True, long_layout=True, pair_prefixes=True)
    parser.add_argument("--train", default=None, metavar="FILE",
                        help="separate training pairs (same layout) for BT, entropies and the "
                        "best-rule pick; all of FILE is then evaluated")
    parser.add_argument("--test-fraction", type=_test_fraction, default=0.5,
                        help="without --train: held-out fraction of each subset (of its "
                        "groups with --group-column; default: 0.5); 1 evaluates every "
                        "method on all pairs and needs --no-bt")
    parser.add_argument("--group-column", default=None, metavar="COL",
                        help="a column of group ids (e.g. the prompt): the train / eval split "
                        "keeps each group on one side and every interval resamples whole "
                        "groups (default: pairs are independent units)")
    parser.add_argument("--missing-groups", choices=("error", "own"), default="error",
                        help="a pair without a group id: error (default, naming the rows) "
                        "or own (each such pair is a group of its own, said in the report)")
    parser.add_argument("--calibration", default=None, metavar="FILE",
                        help="wide ratings file (a row per response) for the entropies")
    add_comparison_options(parser)
    parser.add_argument("--weighting", action="append", default=None, metavar="SPEC",
                        help="an extra weighting to compare: package.module:function, a "
                        "function of encore_jax.weightings.WeightingData returning [K] "
                        "weights (repeatable; the research extensions are always reported)")
    parser.set_defaults(run=run)
