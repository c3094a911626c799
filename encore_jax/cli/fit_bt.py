"""``encore-jax fit-bt``: Bradley–Terry rule weights fitted to preference pairs, next to
the ENCORE weights of the same ratings."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from encore_jax.cli._common import (
    EXIT_OK,
    UsageError,
    add_binning_options,
    add_estimator_options,
    add_export_options,
    add_input_options,
    add_json_option,
    export_weights,
    finite_float,
    missing_note,
    positive_float,
    positive_int,
    print_json,
    print_table,
    reader_options,
)

# Mirrors bradley_terry.OPTIMIZERS (not imported: --help stays free of JAX).
OPTIMIZERS = ("lbfgs", "newton", "adam", "sgd")
SEPARABILITY_CHECKS = ("auto", "exact", "fit")

EPILOG = """\
examples:
  encore-jax fit-bt pairs.csv                      # columns chosen_<rule>, rejected_<rule>
  encore-jax fit-bt pairs.parquet --parameterization simplex --levels 5 --json
  encore-jax fit-bt pairs.csv --l2 0.01 --out bt_weights.json --trl trl.json
  encore-jax fit-bt pairs.csv --optimizer adam --learning-rate 0.05 --max-steps 5000
  encore-jax fit-bt ratings.csv --pair-index pairs.csv --id-column response_id

Fits w minimising J = L(w) + l2/2 |theta|^2, L(w) = -(1/N) sum_i log sigmoid(w . d_i) with
d_i = chosen_i - rejected_i, until max |dJ/dtheta| <= --tol (default 1e-5) or --max-steps
updates (default 500), by L-BFGS unless --optimizer. A fit that stops on the step limit
prints a warning on stderr and reports converged: false. Separable pairs (a direction of
weights orders every pair the chosen way, strictly for one at least: then no finite
Bradley-Terry weights exist and their scale is set by --tol) are detected (--separability:
auto = an exact linear programme up to 1e6 pair x rule cells, the fit's own certificate
above) and reported as separable: true, converged: false (unless --l2 > 0), with a warning
suggesting --l2.
"simplex" keeps w >= 0 summing to one, comparable to ENCORE's weights; with --levels the
table shows each rule's entropy and ENCORE weight over both responses' ratings. Missing
ratings follow --missing: mask (default) keeps the pair, a rule missing on either side
contributing 0 to its margin w . d_i (never a filled-in rating); drop leaves such pairs out;
error stops. The report's missing_counts says how many cells and pairs it touched.
"""


def fit_report(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from encore_jax import bradley_terry
    from encore_jax.io import output_metadata, read_rating_pairs, read_score_pairs

    options = {**reader_options(args), "keep_text": False}  # fit-bt never prints the text
    if args.levels is not None:
        pairs = read_rating_pairs(args.file, chosen_prefix=args.chosen_prefix,
                                  rejected_prefix=args.rejected_prefix,
                                  num_levels=args.levels, **options)
    else:
        options.pop("bin_range", None)
        pairs = read_score_pairs(args.file, chosen_prefix=args.chosen_prefix,
                                 rejected_prefix=args.rejected_prefix, **options)
    # --missing mask: a rule missing on either side of a pair contributes d_ik = 0 to that
    # pair's margin w . d_i (as a masked composite does); drop / error act in the reader.
    if pairs.num_pairs == 0 or not pairs.observed.any():
        raise UsageError(f"{args.file}: no pair has both ratings of any rule; nothing to fit")
    diffs = np.where(pairs.observed, pairs.chosen.astype(np.float64)
                     - pairs.rejected.astype(np.float64), 0.0).astype(np.float32)
    first_order = args.optimizer in ("adam", "sgd")
    if args.learning_rate is not None and not first_order:
        raise UsageError(f"--learning-rate applies to --optimizer adam or sgd, not "
                         f"{args.optimizer}")
    fit = bradley_terry.fit_bt_weights(diffs, optimizer=args.optimizer, tol=args.tol,
                                       max_steps=args.max_steps, learning_rate=args.learning_rate,
                                       l2=args.l2, parameterization=args.parameterization,
                                       record_every=args.max_steps,
                                       check_separable=args.separability)
    weights = np.asarray(fit.weights, dtype=np.float64)
    grad = np.asarray(fit.grad_history[-1], dtype=np.float64)
    rows = [{"rule": name, "weight": float(weights[k]), "final_gradient": float(grad[k])}
            for k, name in enumerate(pairs.rule_names)]
    if args.levels is not None:
        from encore_jax.weights import encore_weights

        ratings = np.concatenate([pairs.chosen, pairs.rejected])
        mask = np.concatenate([pairs.chosen_mask, pairs.rejected_mask])
        entropies, encore = encore_weights(ratings, args.levels, temperature=args.temperature,
                                           mask=mask, base=args.base, estimator=args.estimator)
        for k, row in enumerate(rows):
            row["entropy"] = float(entropies[k])
            row["encore_weight"] = float(encore[k])
    bin_range = getattr(args, "bin_range", None)
    context = {
        "file": str(args.file),
        "pairs": pairs.num_pairs,
        "fitted_pairs": pairs.num_pairs,
        "missing": args.missing,
        "missing_counts": pairs.missing.to_dict(),
        "parameterization": args.parameterization,
        "optimizer": args.optimizer,
        "learning_rate": ((bradley_terry.DEFAULT_LEARNING_RATE if args.learning_rate is None
                           else args.learning_rate) if first_order else None),
        "tol": args.tol,
        "max_steps": args.max_steps,
        "num_steps": args.max_steps,  # the old name of max_steps, kept for existing readers
        "steps_taken": int(fit.steps_taken),
        "converged": bool(fit.converged),
        "separable": bool(fit.separable),
        "separability_check": args.separability,
        "final_gradient_norm": float(fit.grad_norm),
        "l2": args.l2,
        "final_loss": float(np.asarray(fit.loss_history)[-1]),
        "num_levels": args.levels,
        "bin_range": None if bin_range is None else list(bin_range),
        "temperature": args.temperature if args.levels is not None else None,
        "estimator": args.estimator if args.levels is not None else None,
        "log_base": ("e" if args.base is None else args.base) if args.levels else None,
        "mask_value": args.mask_value,
    }
    return {**context, "rules": rows,
            "metadata": output_metadata(command="fit-bt", method="bradley_terry", **context)}


def run(args: argparse.Namespace) -> int:
    if args.bin_range is not None and args.levels is None:
        raise UsageError("--bin-range needs --levels (the number of bins)")
    report = fit_report(args)
    if report["separable"]:
        remedy = ("these weights minimise the penalised loss" if report["l2"] > 0 else
                  "the weights grow without bound and their scale is set by --tol; pass "
                  "--l2 (e.g. --l2 1e-3) for finite weights")
        print(f"warning: the pairs are separable (a direction of weights orders every pair "
              f"the chosen way, one at least strictly): no finite Bradley-Terry optimum "
              f"exists without a penalty; {remedy}", file=sys.stderr)
    elif not report["converged"]:
        print(f"warning: fit-bt stopped on the step limit (--max-steps {report['max_steps']}) "
              f"with max |gradient| {report['final_gradient_norm']:.3g} > --tol "
              f"{report['tol']:g}: the weights are not converged; raise --max-steps, or use "
              "--optimizer lbfgs", file=sys.stderr)
    keys = ("final_gradient",) + (("entropy",) if args.levels is not None else ())
    written = export_weights(report, out=args.out, trl=args.trl, force=args.force,
                             method="bradley_terry", per_rule_keys=keys)
    if args.json:
        print_json(report)
        return EXIT_OK
    columns = ("rule", "weight", "final_gradient")
    if args.levels is not None:
        columns += ("entropy", "encore_weight")
    if report["converged"]:
        status = "converged"
    elif report["separable"] and report["l2"] == 0:
        status = "NOT converged (separable pairs: no finite optimum)"
    else:
        status = "NOT converged (step limit)"
    separability = ("separable" if report["separable"] else
                    "not separable" if args.separability != "fit" else "no separation found")
    title = (f"Bradley-Terry weights ({report['parameterization']}, {report['optimizer']}: "
             f"{status} after {report['steps_taken']} steps, max |gradient| "
             f"{report['final_gradient_norm']:.2g})")
    print_table(title, report["rules"], columns)
    print(f"fitted {report['fitted_pairs']} pairs; final loss {report['final_loss']:.4f}; "
          f"pairs {separability} "
          f"(--separability {args.separability})")
    print(missing_note(report["missing_counts"]) + (
        "; a missing rule counts 0 in its pair's margin" if args.missing == "mask" else ""))
    if written:
        print("wrote " + ", ".join(written))
    return EXIT_OK


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "fit-bt", help="fit Bradley-Terry rule weights to preference pairs",
        description="Bradley-Terry weights of the rules fitted to (chosen, rejected) pairs "
        "with optax, with the final per-rule gradient, and (with --levels) the entropy and "
        "ENCORE weight of each rule for comparison.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("file", help="pairs: .csv, .jsonl, .parquet or .npz (or, with "
                        "--pair-index, per-response ratings)")
    parser.add_argument("--chosen-prefix", default="chosen_",
                        help="column prefix of the chosen responses' ratings")
    parser.add_argument("--rejected-prefix", default="rejected_",
                        help="column prefix of the rejected responses' ratings")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="lbfgs",
                        help="lbfgs (default), newton (IRLS, free weights only), adam, sgd")
    parser.add_argument("--tol", type=finite_float, default=1e-5,
                        help="stop when max |dJ/dtheta| <= TOL (default 1e-5)")
    parser.add_argument("--max-steps", "--steps", dest="max_steps", type=positive_int,
                        default=500, help="step limit (default 500; --steps is the old name)")
    parser.add_argument("--l2", type=finite_float, default=0.0,
                        help="ridge penalty >= 0 (default 0)")
    parser.add_argument("--separability", choices=SEPARABILITY_CHECKS, default="auto",
                        help="how separable pairs are detected: exact (linear programme), "
                        "fit (the fitted weights' certificate; may miss a quasi-complete "
                        "separation), auto (default: exact up to 1e6 pair x rule cells)")
    parser.add_argument("--parameterization", choices=("free", "simplex"), default="free",
                        help="free weights, or non-negative weights summing to one")
    parser.add_argument("--learning-rate", type=positive_float, default=None,
                        help="step size of adam / sgd (default 0.2)")
    add_binning_options(parser, levels_required=False)
    parser.add_argument("--temperature", type=positive_float, default=2.0,
                        help="ENCORE temperature for the comparison column (default 2)")
    add_estimator_options(parser)
    add_input_options(parser, pairs=True)
    add_export_options(parser)
    add_json_option(parser)
    parser.set_defaults(run=run)
