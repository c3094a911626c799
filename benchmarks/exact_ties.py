"""Exact ties in composite margins: how many exactly tied pairs float summation miscounts.

    python -m benchmarks.exact_ties [--pairs 4000] [--seed 0]
    python -m benchmarks.exact_ties --continuous [--pairs 10000] [--seed 0]

Simulates ``N`` pairs rated by 10 rules on 5 levels (:data:`RULES`, the ensemble of the
former single-ensemble demo), composes them with uniform float32 weights ``1/K``
through :func:`encore_jax.pair_margins` and through a plain float32 ``w . d`` (the margin
before exact ties, ``encore_jax.compose._weighted_sum`` of the differences), and compares
both against exact integer arithmetic: a
pair is exactly tied when ``sum_k (chosen_k - rejected_k) == 0`` in integers. Prints the
number of exactly tied pairs, how many of them come out with a non-zero margin, how many
exactly decided pairs come out with the wrong sign or as a tie, and the accuracy with
``tie="loss"`` against the exact accuracy. Each rule order (identity, reversed, and random
permutations of the columns and weights) is reported on its own line.

``--continuous``: the large-K case of issue 19 item 6. ``N`` pairs of continuous float32
differences (difference of two standard normals) on ``K = 1000`` and ``K = 3000`` rules with
Dirichlet(1) float32 weights; the exact sign of every margin from float64 products (exact
for float32 inputs) summed by ``math.fsum`` (correctly rounded); prints, per ``K``, how many
exactly decided pairs come out tied from the device kernel alone
(``margins_from_differences(..., recheck=False)``), from the default (host re-check of the
flagged pairs), and from plain float32 ``w . d``, and how many signs are wrong.
"""

from __future__ import annotations

import argparse
import itertools
import math

import jax
import numpy as np

from encore_jax import pair_margins, pairwise_accuracy
from encore_jax.compose import _weighted_sum, margins_from_differences
from encore_jax.simulate import simulate_rule_ensemble

NUM_LEVELS = 5

#: (name, informativeness beta, spread s) per rule; see encore_jax.simulate for the model.
RULES = (
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


def continuous(num_pairs: int, seed: int) -> None:
    """The ``--continuous`` report (see the module docstring)."""
    for num_rules in (1000, 3000):
        rng = np.random.default_rng(seed)
        diffs = (rng.normal(size=(num_pairs, num_rules))
                 - rng.normal(size=(num_pairs, num_rules))).astype(np.float32)
        weights = rng.dirichlet(np.ones(num_rules)).astype(np.float32)
        products = diffs.astype(np.float64) * weights.astype(np.float64)
        exact = np.sign([math.fsum(row) for row in products])
        decided = exact != 0
        rows = {
            "kernel only": np.asarray(margins_from_differences(diffs, weights, recheck=False)),
            "re-checked": np.asarray(margins_from_differences(diffs, weights)),
            "plain w.d": np.asarray(_weighted_sum(diffs, weights)),
        }
        print(f"{num_pairs} pairs x {num_rules} continuous float32 rules, Dirichlet(1) "
              f"weights: {int(decided.sum())} exactly decided pairs")
        for name, margins in rows.items():
            tied = int(np.sum(decided & (margins == 0)))
            wrong = int(np.sum(decided & (margins != 0) & (np.sign(margins) != exact)))
            print(f"  {name:>12}: decided pairs tied {tied} "
                  f"({100 * tied / decided.sum():.3f} %), wrong sign {wrong}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=None,
                        help="pairs (default 4000, or 10000 with --continuous)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--permutations", type=int, default=3)
    parser.add_argument("--continuous", action="store_true",
                        help="the large-K continuous-score report instead")
    args = parser.parse_args(argv)
    if args.continuous:
        continuous(args.pairs or 10_000, args.seed)
        return
    args.pairs = args.pairs or 4000

    beta = np.array([b for _, b, _ in RULES], np.float32)
    spread = np.array([s for _, _, s in RULES], np.float32)
    ensemble = simulate_rule_ensemble(jax.random.key(args.seed), args.pairs,
                                      informativeness=beta, spread=spread,
                                      num_levels=NUM_LEVELS)
    chosen = np.asarray(ensemble.chosen, np.int64)
    rejected = np.asarray(ensemble.rejected, np.int64)
    num_rules = chosen.shape[1]
    exact = (chosen - rejected).sum(axis=1)  # integer margins times K
    tied = exact == 0
    exact_accuracy = float(np.mean(exact > 0))
    print(f"{args.pairs} pairs x {num_rules} rules x {NUM_LEVELS} levels, uniform float32 "
          f"weights 1/{num_rules}; exactly tied pairs: {int(tied.sum())}; exact accuracy "
          f"(tie=loss): {100 * exact_accuracy:.2f} %")
    rng = np.random.default_rng(args.seed)
    orders = [("identity", np.arange(num_rules)), ("reversed", np.arange(num_rules)[::-1])]
    orders += [(f"random #{j}", rng.permutation(num_rules)) for j in range(args.permutations)]
    weights = np.full(num_rules, 1.0 / num_rules, np.float32)
    for (name, order), method in itertools.product(orders, ("plain w.d", "pair_margins")):
        c, r, w = chosen[:, order], rejected[:, order], weights[order]
        if method == "pair_margins":
            margins = np.asarray(pair_margins(c, r, w))
        else:
            margins = np.asarray(_weighted_sum((c - r).astype(np.float32), w))
        accuracy = float(pairwise_accuracy(margins, tie="loss"))
        print(f"  {method:>12}, rule order {name:>10}: tied pairs with a non-zero margin "
              f"{int(np.sum(tied & (margins != 0)))}/{int(tied.sum())}, decided pairs with "
              f"a wrong sign or 0 {int(np.sum(~tied & (np.sign(margins) != np.sign(exact))))}"
              f", accuracy {100 * accuracy:.2f} % (exact {100 * exact_accuracy:.2f}, "
              f"off by {100 * (accuracy - exact_accuracy):+.2f} points)")


if __name__ == "__main__":
    main()
