"""Learning curves on the weighting study's simulated families: is BT with a prior ever worse
than plain BT by more than BT's interval?

Four families of :mod:`benchmarks.weighting_study` (graded + flags, graded only, near
duplicates, anti-correlated; the first ensemble of each at the study's seeds; fixed before
this script was run, nothing chosen from its output): the study's 2 x 2,000 simulated pairs,
grouped four to a group (the pairs are independent, so the groups only set the resampling
unit), run through :func:`encore_jax.workflows.curve.learning_curve` with its default
budgets and 10 draws. The check, per budget: ``bt_prior`` accuracy >= the lower end of ``bt``'s 95 %
interval. Prints JSON (``--out`` writes it too).

    python -m benchmarks.curve_study --out benchmarks/results/curve_study.json
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

from benchmarks._process import emit_report
from benchmarks.weighting_study import (
    AGREEMENT_ENSEMBLES,
    AGREEMENT_SEED,
    FAMILY_SEED,
    NUM_ENSEMBLES,
    NUM_LEVELS,
    NUM_PAIRS,
    _agreement_ensemble,
    _family_parameters,
)
from encore_jax.simulate_rare import simulate_mixed_ensemble
from encore_jax.workflows.curve import learning_curve

NUM_REPEATS = 10
PAIRS_PER_GROUP = 4


def family_pairs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``family -> (chosen, rejected)`` levels ``[2 N, K]``: the first ensemble of each."""
    params = _family_parameters(np.random.default_rng(FAMILY_SEED))
    key_sim, _ = jax.random.split(jax.random.split(jax.random.key(FAMILY_SEED),
                                                   NUM_ENSEMBLES)[0])
    graded = params["informativeness"].size
    ensemble = simulate_mixed_ensemble(key_sim, 2 * NUM_PAIRS, num_levels=NUM_LEVELS,
                                       **params)
    chosen, rejected = np.asarray(ensemble.chosen), np.asarray(ensemble.rejected)
    out = {"graded_plus_flags": (chosen, rejected),
           "graded_only": (chosen[:, :graded], rejected[:, :graded])}
    for offset, family in enumerate(("near_duplicates", "anti_correlated")):
        rng = np.random.default_rng([AGREEMENT_SEED, offset])
        key = jax.random.split(jax.random.fold_in(jax.random.key(AGREEMENT_SEED), offset),
                               AGREEMENT_ENSEMBLES)[0]
        out[family] = _agreement_ensemble(family, rng, jax.random.split(key)[0])
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="also write the JSON report here")
    args = parser.parse_args(argv)
    report: dict = {"command": "python -m benchmarks.curve_study", "repeats": NUM_REPEATS,
                    "pairs_per_group": PAIRS_PER_GROUP, "families": {}}
    for index, (family, (chosen, rejected)) in enumerate(family_pairs().items()):
        groups = np.arange(chosen.shape[0]) // PAIRS_PER_GROUP
        curve = learning_curve(jax.random.key(index), chosen, rejected, NUM_LEVELS, groups,
                               num_repeats=NUM_REPEATS).to_dict()
        rows = {(r["labels"], r["method"]): r for r in curve["curve"]}
        checks = []
        for (labels, method), row in rows.items():
            if method != "bt":
                continue
            prior = rows[(labels, "bt_prior")]
            checks.append({"labels": labels, "bt": row["accuracy"], "bt_low": row["low"],
                           "bt_prior": prior["accuracy"],
                           "bt_prior_not_worse": prior["accuracy"] >= row["low"]})
        report["families"][family] = {
            "num_pairs": int(chosen.shape[0]), "num_rules": int(chosen.shape[1]),
            "checks": checks, "recommendation": curve["recommendation"]}
    report["bt_prior_never_worse_than_bt_beyond_its_interval"] = all(
        c["bt_prior_not_worse"] for f in report["families"].values() for c in f["checks"])
    emit_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
