"""The comparison report's options, printing, JSON and figures, shared by the ``compare`` and
``demo`` commands (so that neither command module imports the other)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from encore_jax.cli._common import (
    UsageError,
    add_output_options,
    atomic_write_all,
    comma_list,
    fraction,
    missing_note,
    positive_float,
    positive_int,
    print_json,
    seed_int,
    write_json_output,
)
from encore_jax.cli._common import console as shared_console


def _temperatures(text: str) -> tuple[float, ...]:
    values = []
    for item in comma_list(text):
        value = float(item)
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"temperatures must be finite and > 0, got {item}")
        values.append(value)
    return tuple(values)


def add_comparison_options(parser: argparse.ArgumentParser) -> None:
    """The method, interval and output options shared by ``compare`` and ``demo``."""
    group = parser.add_argument_group("methods")
    group.add_argument("--temperature", type=positive_float, default=2.0,
                       help="ENCORE temperature tau of the headline row (default: 2, the "
                       "paper's)")
    group.add_argument("--temperatures", type=_temperatures, default=(0.5, 1.0, 2.0, 4.0, 8.0),
                       metavar="T1,T2,...", help="the ENCORE temperature sweep "
                       "(default: 0.5,1,2,4,8)")
    group.add_argument("--num-random", type=positive_int, default=20,
                       help="Dirichlet random-weight seeds (default: 20)")
    group.add_argument("--top-k", type=positive_int, default=None,
                       help="rules kept by the lowest-entropy baseline (default: min(3, K))")
    group.add_argument("--no-bt", dest="fit_bt", action="store_false",
                       help="skip the Bradley-Terry baseline")
    group.add_argument("--bt-steps", type=positive_int, default=500,
                       help="Bradley-Terry optimizer steps (default: 500)")
    group.add_argument("--bt-l2", type=float, default=0.0,
                       help="Bradley-Terry ridge penalty (default: 0)")
    group.add_argument("--bt-parameterization", choices=("free", "simplex"), default="free",
                       help="free real weights or weights on the simplex (default: free)")
    group.add_argument("--tie", choices=("half", "loss", "random"), default="half",
                       help="what a tied composite margin is worth (default: half, as "
                       "diagnose and demo; loss for RewardBench-compatible numbers)")
    group.add_argument("--rule-tie", choices=("loss", "half", "random"), default="half",
                       help="tie policy of the per-rule accuracies (default: half)")
    group.add_argument("--base", type=positive_float, default=None,
                       help="logarithm base for entropies (default: natural log)")
    group.add_argument("--estimator", choices=("plugin", "miller_madow"), default="plugin",
                       help="entropy estimator (default: plugin)")
    stats = parser.add_argument_group("intervals")
    stats.add_argument("--resamples", type=positive_int, default=1000,
                       help="bootstrap resamples (default: 1000)")
    stats.add_argument("--confidence", type=fraction, default=0.95,
                       help="interval confidence (default: 0.95)")
    stats.add_argument("--safety-counts", choices=("v1", "v1-xstest-swapped"), default="v1",
                       help="RewardBench Safety example counts (default: v1, 154 / 250 "
                       "XSTest); v1-xstest-swapped is the older 250 / 154 table")
    stats.add_argument("--seed", type=seed_int, default=0,
                       help="PRNG seed, 0..2**63-1 (default: 0)")
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print the JSON report, no table")
    add_output_options(out, help="also write the JSON report to PATH (atomically)")
    out.add_argument("--figures", default=None, metavar="DIR",
                     help="write the PNG figures into DIR (created if missing; existing "
                     "figures are kept unless --force)")


def comparison_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`encore_jax.compare_methods` from the parsed options."""
    return {
        "temperature": args.temperature,
        "temperatures": args.temperatures,
        "num_random": args.num_random,
        "top_k": args.top_k,
        "fit_bt": args.fit_bt,
        "bt_options": {"max_steps": args.bt_steps, "l2": args.bt_l2,
                       "parameterization": args.bt_parameterization},
        "tie": args.tie,
        "rule_tie": args.rule_tie,
        "num_resamples": args.resamples,
        "confidence": args.confidence,
        "safety_counts": args.safety_counts,
        "base": args.base,
        "estimator": args.estimator,
    }


def figure_targets(directory: str | Path, *, force: bool) -> list[Path]:
    """The figure paths in ``directory``; refuses (before anything is computed or written)
    when one exists and ``force`` is off."""
    from encore_jax.figures import FIGURE_NAMES

    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--figures {directory}: exists and is not a directory")
    targets = [directory / name for name in FIGURE_NAMES]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        raise UsageError(f"{', '.join(existing)} exist(s); pass --force to overwrite")
    return targets


def write_figures(report: dict[str, Any], targets: list[Path], *, force: bool) -> list[Path]:
    """Renders the report's figures and writes them all-or-nothing (atomically)."""
    from encore_jax.figures import comparison_figures, save_png

    targets[0].parent.mkdir(parents=True, exist_ok=True)
    figures = comparison_figures(report)
    items = [(target, (lambda tmp, fig=figures[target.name]: save_png(fig, tmp)))
             for target in targets]
    return atomic_write_all(items, force=force)


def _ci(interval: dict[str, float] | None, scale: float = 100.0) -> str:
    if interval is None:
        return "-"
    if interval["low"] is None:  # an estimate without an interval (see the protocol)
        return f"{scale * interval['estimate']:.1f} [no CI]"
    return (f"{scale * interval['estimate']:.1f} "
            f"[{scale * interval['low']:.1f}, {scale * interval['high']:.1f}]")


_TIE_WORDS = {"half": "1/2", "loss": "a loss (RewardBench's rule)", "random": "a coin flip"}


def _points(interval: dict[str, float]) -> str:
    return (f"{100 * interval['estimate']:+.1f} [{100 * interval['low']:+.1f}, "
            f"{100 * interval['high']:+.1f}]")


def footer_lines(report: dict[str, Any]) -> list[str]:
    """The table's footer: the tie rule in force and what it decides, the resampling unit,
    and the Bradley-Terry fit's steps, convergence and separability."""
    protocol = report["protocol"]
    lines = [f"ties: a tied pair counts {_TIE_WORDS[protocol['tie']]} (--tie "
             f"{protocol['tie']})."]
    effect = report.get("tie_effect") or {}
    both = effect.get("encore_minus_uniform")
    if effect.get("tie_rates_differ") and both is not None:
        gap = 50 * (effect["encore_tie_rate"] - effect["uniform_tie_rate"])
        lines.append(
            f"tie rates differ between methods (ENCORE {100 * effect['encore_tie_rate']:.1f} %, "
            f"uniform {100 * effect['uniform_tie_rate']:.1f} %): ENCORE - uniform is "
            f"{_points(both['half'])} points with ties 1/2 and {_points(both['loss'])} with "
            f"ties as losses: the tie rule alone moves the difference by {gap:+.1f} points "
            "(half the tie-rate difference), so a verdict that flips with --tie is about ties, "
            "not about the rules. Every row's "
            "difference under both rules: JSON encore_minus_by_tie / uniform_minus_by_tie.")
    groups = protocol.get("groups") or {}
    if groups.get("unit") == "group":
        column = protocol.get("group_column")
        lines.append(
            f"units: whole groups{f' ({column})' if column else ''}: the split keeps each "
            f"group on one side and every interval resamples the "
            f"{groups['num_eval_groups']} eval groups; {groups['note']}.")
    else:
        lines.append("units: no groups given, so pairs are treated as independent units; "
                     "when a prompt contributes several pairs the intervals are too narrow "
                     "(use --group-column).")
    bt = report["bradley_terry"]
    if bt.get("fitted"):
        lines.append(f"Bradley-Terry: {bt['steps_taken']} steps, "
                     f"{'converged' if bt['converged'] else 'NOT converged'} (gradient norm "
                     f"{bt['grad_norm']:.2g}), final loss {bt['final_loss']:.4f}.")
        if bt.get("separable"):
            lines.append("WARNING: the Bradley-Terry training pairs are separable (a weighting "
                         "orders every one of them), so its weights have arbitrary scale; "
                         "pass --bt-l2 > 0 for finite, comparable weights.")
    return lines


def print_report(report: dict[str, Any], *, title: str) -> None:
    """The comparison as terminal tables: methods, the temperature sweep, rules."""
    from rich.table import Table

    console = shared_console()  # a file or pipe: printed in full, never cut
    protocol = report["protocol"]
    has_safety = report["rewardbench_safety"] is not None
    table = Table(title=title, caption=(
        f"accuracy in %, {protocol['confidence']:.0%} percentile bootstrap CI over "
        f"{report['num_eval_pairs']} held-out pairs ({protocol['num_resamples']} resamples), "
        "conditional on the weights fitted on the train split; "
        f"a tie counts {_TIE_WORDS[protocol['tie']]}"))
    table.add_column("method", justify="left")
    table.add_column("accuracy", justify="right")
    if has_safety:
        table.add_column(f"RB safety ({report['rewardbench_safety']['counts_version']})",
                         justify="right")
    table.add_column("ENCORE - method", justify="right")
    table.add_column("uniform - method", justify="right")
    table.add_column("ties %", justify="right")
    for section in (report["methods"], report["temperature_sweep"]):
        for row in section:
            cells = [row["label"], _ci(row["accuracy"])]
            if has_safety:
                cells.append(_ci(row["safety"]))
            cells += [_ci(row["encore_minus"]), _ci(row.get("uniform_minus")),
                      f"{100 * row['tie_rate']:.1f}"]
            table.add_row(*cells)
        table.add_section()
    console.print(table)
    if any(row.get("kind") == "research extension" for row in report["methods"]):
        console.print("research extension: a label-free weighting beyond the ENCORE paper "
                      "(rationale: encore_jax/theory/extensions.md)")
    spread = report["random_spread"]
    console.print(f"random Dirichlet over {spread['num_seeds']} seeds: std "
                  f"{100 * spread['std']:.1f}, range [{100 * spread['min']:.1f}, "
                  f"{100 * spread['max']:.1f}]")
    if report["subsets"]:
        subsets = Table(title="accuracy per subset (%, CI)")
        subsets.add_column("method", justify="left")
        for name, n in report["subsets"].items():
            subsets.add_column(f"{name} (n={n})", justify="right")
        for row in report["methods"]:
            subsets.add_row(row["label"], *(_ci(row["subsets"][s]) for s in report["subsets"]))
        console.print(subsets)
    rules = Table(title=f"rules (entropy from {protocol['entropy_source']}; accuracy ties "
                        f"{protocol['rule_tie']})")
    for column in ("rule", "coverage", "entropy", "H / log L", "ENCORE w", "BT w",
                   "accuracy %", "rank flag"):
        rules.add_column(column, justify="left" if column == "rule" else "right")
    for r in report["rules"]:
        interval = None if r["accuracy_low"] is None else {
            "estimate": r["accuracy"], "low": r["accuracy_low"], "high": r["accuracy_high"]}
        rules.add_row(
            r["rule"], f"{r['coverage']:.3f}", f"{r['entropy']:.3f}",
            f"{r['normalized_entropy']:.3f}", f"{r['encore_weight']:.3f}",
            "-" if r["bt_weight"] is None else f"{r['bt_weight']:.3f}",
            _ci(interval) if interval else f"{100 * r['accuracy']:.1f}",
            {None: "-", False: "", True: "DISAGREE"}[r["rank_disagreement"]],
        )
    console.print(rules)
    corr = report["correlation"]
    if corr.get("available"):
        p, s = corr["pearson"], corr["spearman"]
        console.print(
            f"entropy vs accuracy over {corr['num_rules']} rules: Pearson r = "
            f"{p['estimate']:.2f} [{p['low']:.2f}, {p['high']:.2f}] (p = {p['pvalue']:.2g}), "
            f"Spearman rho = {s['estimate']:.2f} [{s['low']:.2f}, {s['high']:.2f}] "
            f"(p = {s['pvalue']:.2g})")
    else:
        console.print(f"entropy vs accuracy correlation unavailable: {corr.get('reason')}")
    for source, missing in (report.get("missing_counts") or {}).items():
        if missing is not None:
            console.print(f"{source}: {missing_note(missing)}; a masked rating contributes "
                          "nothing to a margin")
    for line in footer_lines(report):
        console.print(line, markup=False)
    if report["bradley_terry"]["fitted"]:
        console.print("rank flag DISAGREE: entropy rank and BT weight rank at least half the "
                      "order apart (see encore_jax.metrics.rule_summary)")


def emit(report: dict[str, Any], args: argparse.Namespace, *, title: str,
         figure_paths: list[Path] | None) -> None:
    """Prints the report (table or JSON) and writes --out / --figures."""
    if figure_paths is not None:
        write_figures(report, figure_paths, force=args.force)
        report["figures"] = [str(p) for p in figure_paths]
    if args.out is not None:
        write_json_output(args.out, report, force=args.force)
    if args.json:
        print_json(report)
        return
    print_report(report, title=title)
    if args.out is not None:
        print(f"report written to {args.out}")
    if figure_paths is not None:
        print("figures: " + ", ".join(str(p) for p in figure_paths))
