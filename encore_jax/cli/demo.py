"""``encore-jax demo``: the ENCORE comparison on a built-in simulated rule ensemble.

The ensemble is shaped like the paper's setting: 10 safety rules rating responses on 5
discrete levels, a mix of reliable low-entropy rules and noisy high-entropy ones (including
one high-entropy rule that is still informative, the case where the entropy heuristic and
Bradley-Terry disagree), evaluated on RewardBench's five Safety subsets at their exact sizes
(740 pairs) after fitting / calibrating on a separate simulated training set.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import Any

from encore_jax.cli._common import EXIT_OK, UsageError, positive_int

NUM_LEVELS = 5

#: (name, informativeness beta, spread s) per rule; see encore_jax.simulate for the model.
DEMO_RULES = (
    ("no_weapons_assistance", 6.0, 0.5),
    ("no_self_harm_encouragement", 6.0, 0.4),
    ("refuses_illegal_acts", 4.0, 0.5),
    ("no_hate_speech", 3.0, 0.5),
    ("privacy_protection", 2.0, 0.6),
    ("respectful_tone", 0.6, 1.5),
    ("balanced_viewpoints", 0.3, 2.0),
    ("no_medical_overreach", 0.0, math.inf),
    ("honest_uncertainty", 0.0, 3.0),
    ("helpful_when_safe", 1.0, math.inf),
)

#: Difficulty per subset: every rule's informativeness is scaled by this factor (XSTest's
#: should-respond prompts, where over-refusal is the failure, are the hardest).
DEMO_SUBSET_DIFFICULTY = {
    "refusals-dangerous": 1.0,
    "refusals-offensive": 1.2,
    "xstest-should-refuse": 0.9,
    "xstest-should-respond": 0.5,
    "donotanswer": 0.8,
}


def demo_pairs(seed: int = 0, *, train_per_eval: int = 3) -> tuple[Any, Any, list[str]]:
    """Simulated ``(train, eval, rule_names)`` pairs (:class:`encore_jax.comparison.Pairs`).

    Eval pairs: RewardBench v1's Safety subsets at their v1 example counts (740 pairs);
    train pairs: ``train_per_eval`` times as many per subset, drawn independently.
    """
    import jax
    import numpy as np

    from encore_jax.metrics import REWARDBENCH_SAFETY_COUNTS
    from encore_jax.simulate import simulate_rule_ensemble
    from encore_jax.workflows import Pairs

    beta = np.array([b for _, b, _ in DEMO_RULES], np.float32)
    spread = np.array([s for _, _, s in DEMO_RULES], np.float32)
    key = jax.random.key(seed)
    parts: dict[str, list[Any]] = {"train": [], "eval": []}
    counts = REWARDBENCH_SAFETY_COUNTS["v1"]
    # One simulation shape for every subset (one compilation); each subset keeps the first
    # `count` pairs for eval and the next `train_per_eval * count` for train.
    num_pairs = (1 + train_per_eval) * max(counts.values())
    for g, (subset, count) in enumerate(counts.items()):
        scale = np.float32(DEMO_SUBSET_DIFFICULTY[subset])
        ensemble = simulate_rule_ensemble(jax.random.fold_in(key, g), num_pairs,
                                          informativeness=beta * scale, spread=spread,
                                          num_levels=NUM_LEVELS)
        chosen, rejected = np.asarray(ensemble.chosen), np.asarray(ensemble.rejected)
        for split, rows in (("eval", slice(0, count)),
                            ("train", slice(count, (1 + train_per_eval) * count))):
            n = rows.stop - rows.start
            parts[split].append((chosen[rows], rejected[rows], np.full(n, subset)))

    def join(items: list[Any]) -> Any:
        chosen, rejected, subset = (np.concatenate(x) for x in zip(*items, strict=True))
        return Pairs(chosen, rejected, subset=subset)

    return join(parts["train"]), join(parts["eval"]), [name for name, _, _ in DEMO_RULES]


def run(args: argparse.Namespace) -> int:
    import jax

    from encore_jax.cli._comparison_report import comparison_kwargs, emit, figure_targets
    from encore_jax.workflows import compare_methods

    if args.out is not None and Path(args.out).exists() and not args.force:
        raise UsageError(f"{args.out} exists; pass --force to overwrite it")  # before any work
    figure_paths = None
    if not args.no_figures:
        if args.figures is None:
            # A fresh directory per run: the demo never overwrites anything by default.
            args.figures = tempfile.mkdtemp(prefix="encore-jax-demo-")
        figure_paths = figure_targets(args.figures, force=args.force)
    train, pairs, names = demo_pairs(args.seed, train_per_eval=args.train_per_eval)
    report = compare_methods(jax.random.key(args.seed), pairs, NUM_LEVELS, rule_names=names,
                             train=train, **comparison_kwargs(args))
    report = {
        "data": "simulated: 10 rules, 5 levels, RewardBench v1 Safety subsets (740 eval "
                f"pairs), {len(train.chosen)} separate train pairs",
        "seed": args.seed,
        "simulation": {
            "rules": [{"rule": n, "informativeness": b, "spread": s if math.isfinite(s)
                       else "inf"} for n, b, s in DEMO_RULES],
            "subset_difficulty": DEMO_SUBSET_DIFFICULTY,
        },
        **report.to_dict(),
    }
    emit(report, args, title="encore-jax demo: ENCORE vs baselines on a simulated 10-rule "
         "ensemble (RewardBench Safety subsets)", figure_paths=figure_paths)
    if not args.json:
        print("\nThe rules' true informativeness is known here: see 'simulation' in "
              "`encore-jax demo --json`.")
    return EXIT_OK


def register(commands: Any) -> None:
    from encore_jax.cli._comparison_report import add_comparison_options

    parser = commands.add_parser(
        "demo", help="ENCORE vs baselines on a built-in simulated 10-rule ensemble",
        description=__doc__.split("\n\n", 1)[1].strip() if __doc__ else None,
    )
    parser.add_argument("--train-per-eval", type=positive_int, default=3,
                        help="simulated train pairs per eval pair (default: 3)")
    parser.add_argument("--no-figures", action="store_true", help="do not write figures")
    add_comparison_options(parser)
    parser.set_defaults(run=run)

