"""``encore-jax demo``: where ENCORE's premise holds, and where it fails.

Two stories, each comparing ENCORE, uniform weights and Bradley-Terry weights fitted on a
train split. 1. Simulated: a family of random rule ensembles whose entropy tracks rater
noise; the distribution over ensembles of ENCORE - uniform and BT - uniform, and the premise
check on one ensemble. 2. Real: the shipped OASST1 pairs (human ratings on 13 labels), where
the premise check says why the premise fails, and the methods on held-out prompts. Figures
go to --out-dir (default ./encore-jax-demo), never overwritten without --force.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from encore_jax.cli._common import (
    EXIT_OK,
    UsageError,
    fraction,
    nonnegative_int,
    positive_float,
    positive_int,
)

DEFAULT_OUT_DIR = "encore-jax-demo"


def _figure_dir(args: argparse.Namespace) -> Path | None:
    """The figure folder, checked before any work; None with --no-figures or without
    matplotlib (one-line note)."""
    if args.no_figures:
        return None
    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out-dir {out}: exists and is not a directory; pass another "
                         "--out-dir")
    if out.exists() and not args.force:
        raise UsageError(f"{out} exists; pass --force to overwrite its figures or --out-dir "
                         "DIR for another folder")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("note: matplotlib is not installed, so no figures are written "
              "(pip install matplotlib)")
        return None
    return out


def _write_figures(result: Any, out: Path) -> list[Path]:
    from encore_jax.cli._common import atomic_write_all
    from encore_jax.figures import demo_figures, save_png

    out.mkdir(parents=True, exist_ok=True)
    figures = demo_figures(result)
    return atomic_write_all([(out / name, (lambda tmp, f=fig: save_png(f, tmp)))
                             for name, fig in figures.items()], force=True)


def _ci(x: Any, scale: float = 100.0, sign: bool = False) -> str:
    if x is None:
        return "-"
    fmt = "+.1f" if sign else ".1f"
    return (f"{scale * x.estimate:{fmt}} [{scale * x.low:{fmt}}, {scale * x.high:{fmt}}]")


def _console() -> Any:
    from rich.console import Console

    console = Console(highlight=False)
    # A file or pipe (e.g. pasted into a README): no wrapping at 80 columns.
    return console if console.is_terminal else Console(width=max(console.width, 120),
                                                       highlight=False, soft_wrap=True)


def _print_simulated(console: Any, story: Any, confidence: float) -> None:
    from rich.table import Table

    console.print("[bold]1. Simulated: entropy tracks rater noise (ENCORE's premise)[/bold]")
    console.print(f"Family: {story.family.describe()}.")
    table = Table(caption=f"accuracy on each ensemble's eval pairs, ties 1/2; mean with a "
                          f"{confidence:.0%} bootstrap interval over ensembles")
    for column in ("difference (points)", "mean", "median", "5%..95%", "> 0 in", "< 0 in"):
        table.add_column(column, justify="left" if column.startswith("diff") else "right")
    for d in story.differences:
        table.add_row(d.name, _ci(d.mean, 1.0, sign=True), f"{d.median:+.2f}",
                      f"{d.quantiles[0]:+.1f}..{d.quantiles[-1]:+.1f}",
                      f"{d.share_positive:.0%}", f"{d.share_negative:.0%}")
    console.print(table)
    mean = story.mean_accuracy
    console.print(f"Mean accuracy: ENCORE {100 * mean['encore']:.1f}, uniform "
                  f"{100 * mean['uniform']:.1f}, BT {100 * mean['bradley_terry']:.1f}; "
                  f"population r(entropy, accuracy), median over ensembles: "
                  f"{story.population_pearson_median:+.2f}.")
    _print_premise(console, story.premise,
                   f"Premise check on ensemble 0 ({story.premise_ensemble_rules} rules, "
                   f"{story.premise.protocol['num_pairs']} pairs)")


def _print_premise(console: Any, premise: Any, title: str) -> None:
    verdict = "holds" if premise.premise_holds else "fails"
    console.print(f"{title}: premise {verdict}")
    for reason in premise.reasons:
        console.print(f"  - {reason}")


def _print_real(console: Any, story: Any, confidence: float) -> None:
    from rich.table import Table

    console.print("\n[bold]2. Real: OASST1, human ratings on 13 labels[/bold]")
    _print_premise(console, story.premise,
                   f"Premise check on {story.premise.protocol['num_pairs']} pairs, "
                   f"{story.premise.protocol['num_groups']} prompts")
    table = Table(caption=(
        f"accuracy in %, ties 1/2, composites on the raw label values; {confidence:.0%} "
        f"intervals resample prompts. All: {story.num_pairs} complete pairs; held out: "
        f"{story.num_eval_pairs} pairs of {story.num_eval_groups} prompts, BT fitted on the "
        f"other {story.num_train_pairs} pairs"))
    for column in ("method", "all pairs", "- uniform", "held out", "- uniform "):
        table.add_column(column, justify="left" if column == "method" else "right")
    for m in story.methods:
        base = m.name == "uniform"
        table.add_row(m.label, _ci(m.all_pairs),
                      "-" if base else _ci(m.all_pairs_minus_uniform, sign=True), _ci(m.eval),
                      "-" if base else _ci(m.eval_minus_uniform, sign=True))
    console.print(table)


def _family_spec(args: argparse.Namespace, family_spec: Any) -> Any:
    """The simulated family: ``family_spec`` (the ``FamilySpec`` class) with the sizes given
    on the command line, its defaults for the others."""
    sizes = {"num_ensembles": args.ensembles, "min_rules": args.min_rules,
             "max_rules": args.max_rules, "num_train_pairs": args.train_pairs,
             "num_eval_pairs": args.eval_pairs}
    spec = family_spec(seed=args.seed, **{k: v for k, v in sizes.items() if v is not None})
    if spec.max_rules < spec.min_rules:
        raise UsageError(f"--max-rules {spec.max_rules} is below --min-rules "
                         f"{spec.min_rules}; pass --max-rules >= --min-rules")
    return spec


def run(args: argparse.Namespace) -> int:
    out = _figure_dir(args)  # refuses an existing folder before any work

    import jax

    from encore_jax.workflows.demo import FamilySpec, demo

    spec = _family_spec(args, FamilySpec)
    result = demo(jax.random.key(args.seed), spec, temperature=args.temperature,
                  num_resamples=args.resamples, confidence=args.confidence)
    written = [] if out is None else _write_figures(result, out)
    if args.json:
        from encore_jax.cli._common import print_json

        print_json({**result.to_dict(), "figures": [str(p) for p in written]})
        return EXIT_OK
    console = _console()
    _print_simulated(console, result.simulated, args.confidence)
    _print_real(console, result.oasst1, args.confidence)
    if written:
        console.print(f"\nFigures: {out.resolve()}/ ({', '.join(p.name for p in written)})")
    console.print("All numbers, per ensemble and per rule: encore-jax demo --json")
    return EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "demo", help="where ENCORE's premise holds (simulated) and where it fails (OASST1)",
        description=__doc__.split("\n\n", 1)[1].strip() if __doc__ else None,
    )
    parser.add_argument("--out-dir", default=DEFAULT_OUT_DIR,
                        help=f"folder for the figures (default: ./{DEFAULT_OUT_DIR})")
    parser.add_argument("--force", action="store_true",
                        help="write the figures into an existing --out-dir")
    parser.add_argument("--no-figures", action="store_true", help="do not write figures")
    parser.add_argument("--ensembles", type=positive_int, default=200,
                        help="simulated ensembles in the family (default: 200)")
    # Smaller families (e.g. for a quick look): the same computation on fewer numbers.
    parser.add_argument("--min-rules", type=positive_int, default=None,
                        help="fewest rules of an ensemble (default: 5)")
    parser.add_argument("--max-rules", type=positive_int, default=None,
                        help="most rules of an ensemble (default: 12)")
    parser.add_argument("--train-pairs", type=positive_int, default=None,
                        help="train pairs of each ensemble: entropies and BT fit "
                        "(default: 2000)")
    parser.add_argument("--eval-pairs", type=positive_int, default=None,
                        help="eval pairs of each ensemble (default: 1000)")
    parser.add_argument("--seed", type=nonnegative_int, default=0,
                        help="seed of everything (default: 0)")
    parser.add_argument("--temperature", type=positive_float, default=2.0,
                        help="ENCORE temperature tau > 0 (default: 2.0, the paper's)")
    parser.add_argument("--resamples", type=positive_int, default=1000,
                        help="bootstrap resamples of every interval (default: 1000)")
    parser.add_argument("--confidence", type=fraction, default=0.95,
                        help="interval level (default: 0.95)")
    parser.add_argument("--json", action="store_true",
                        help="print the whole structured result as JSON")
    parser.set_defaults(run=run)
