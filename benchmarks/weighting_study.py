"""Label-free weightings on ensembles with rare-flag rules, and on OASST1; prints JSON.

    python -m benchmarks.weighting_study                 # both sections (~1-2 minutes)
    python -m benchmarks.weighting_study --section oasst1

Weightings compared (all label-free, temperature ``tau`` = 2): ``uniform``, ``encore``
(ENCORE, arXiv 2503.20995) and the research extensions of :mod:`encore_jax.weightings`,
``research_decisive_encore`` (``w_k ∝ (1 - t_k) exp(-H_k / tau)``) and
``research_decisive_entropy`` (ENCORE on the entropy of the ratings of the pairs each rule
decides; it was the study-only candidate ``candidate_decisive_entropy`` of the first run,
added to the library after the simulation and before it was run on OASST1). One further
candidate is scored in the simulation only (study code, not in the library):
``candidate_difference_entropy`` (ENCORE on the entropy of the pair differences ``a - b``).

Accuracy: composite pairwise accuracy on the labelled pairs, ties count 1/2, with exact ties:
margins ``sum_k w_k d_k`` of float32 weights and integer differences ``d`` (levels, or
OASST1 values times 1680, the least common denominator of its values) are products exact in
float64, summed by ``math.fsum`` (correctly rounded), so a margin is 0 exactly when it is 0
in exact arithmetic.

Section ``simulation`` (the family was fixed before any result was seen): ``200`` ensembles,
seed ``12``, ``N = 2000`` pairs, ``L = 5`` levels. Each ensemble draws ``G ~ U{3..8}``
graded rules (:func:`encore_jax.simulate.rating_distributions`) with
``beta ~ U(0, 1.5)`` and ``spread = 4 exp(-1.2 beta) exp(eps)``, ``eps ~ N(0, 0.3^2)``
(informative graded rules are narrower: ENCORE's premise holds among them), and
``F ~ U{2..6}`` rare flags (:mod:`encore_jax.simulate_rare`) with base rate
``p ~ LogU(0.005, 0.2)``, informative with probability 1/2 (``gamma ~ U(0.5, 3)``,
``beta_sev ~ U(0, 1.5)``), else ``gamma = beta_sev = 0``. Family ``graded_plus_flags`` is
every rule; ``graded_only`` the same ensembles without the flags (control);
``graded_plus_reliable_flags`` (a stress test where theory predicts the extension can lose:
a rare but reliable flag deserves a large weight) the same graded rules and flag base rates
with every flag informative, ``gamma ~ U(2, 4)``, ``beta_sev ~ U(0.5, 1.5)`` (drawn from a
second generator, seed ``13``, so the other families are unchanged). Weights are
computed from the pooled ratings of both responses of the pairs and from the same pairs
with their sides swapped by a fair coin (:func:`encore_jax.weightings.unlabelled_pairs`):
never from the labels. Differences are paired per ensemble; intervals are 95 % percentile
bootstrap intervals of the mean over ensembles (10,000 resamples).

Section ``oasst1``: the 997 complete pairs of :func:`encore_jax.datasets.load_oasst1`;
entropies and tie rates from the integer levels (calibration: all 1,243 replies; unlabelled
pairs: the 997 pairs, sides swapped by a fair coin with key 0), composites on the raw
oriented values. Paired bootstrap intervals of the differences resample whole prompts
(``pair_group_ids``) and, separately, pairs (10,000 resamples each, seed 0).
"""

from __future__ import annotations

import argparse
import json
import math

import jax
import numpy as np

from encore_jax.entropy import rating_entropy
from encore_jax.simulate_rare import simulate_mixed_ensemble
from encore_jax.weightings import (
    WeightingData,
    apply_weightings,
    builtin_weightings,
    unlabelled_pairs,
)
from encore_jax.weights import entropy_weights

TEMPERATURE = 2.0
FAMILY_SEED = 12
NUM_ENSEMBLES = 200
NUM_PAIRS = 2000
NUM_LEVELS = 5
NUM_RESAMPLES = 10_000
OASST1_SCALE = 1680  # least common denominator of the OASST1 values (checked at run time)


def exact_accuracy(diffs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-pair credit (1 win, 1/2 tie, 0 loss) of margins ``diffs @ weights``, ties exact.

    ``diffs``: integers ``[N, K]`` with ``|d| < 2**29``; ``weights``: float32 ``[K]``. Each
    product has at most 24 + 29 significant bits, exact in float64; ``math.fsum`` rounds the
    exact sum once, so its sign is the exact sign."""
    assert np.abs(diffs).max(initial=0) < 2**29 and weights.dtype == np.float32
    terms = diffs.astype(np.float64) * weights.astype(np.float64)[None, :]
    margins = np.array([math.fsum(row) for row in terms])
    return np.where(margins > 0, 1.0, np.where(margins == 0, 0.5, 0.0))


def _candidate_weights(data: WeightingData) -> dict[str, np.ndarray]:
    """The study-only candidate (see the module docstring)."""
    a, b = np.asarray(data.pair_a), np.asarray(data.pair_b)
    shifted = (a.astype(np.int32) - b.astype(np.int32) + data.num_levels - 1)
    h_diff = np.asarray(rating_entropy(shifted, 2 * data.num_levels - 1))
    w_diff = np.asarray(entropy_weights(h_diff.astype(np.float32), TEMPERATURE))
    return {"candidate_difference_entropy": w_diff}


def _family_parameters(rng: np.random.Generator) -> dict[str, np.ndarray]:
    graded = int(rng.integers(3, 9))
    flags = int(rng.integers(2, 7))
    beta = rng.uniform(0, 1.5, graded)
    spread = 4 * np.exp(-1.2 * beta) * np.exp(rng.normal(0, 0.3, graded))
    base_rate = np.exp(rng.uniform(np.log(0.005), np.log(0.2), flags))
    informative = rng.random(flags) < 0.5
    gamma = np.where(informative, rng.uniform(0.5, 3, flags), 0.0)
    beta_sev = np.where(informative, rng.uniform(0, 1.5, flags), 0.0)
    return {"informativeness": beta, "spread": spread, "base_rate": base_rate,
            "firing_informativeness": gamma, "severity_informativeness": beta_sev}


def _score(chosen: np.ndarray, rejected: np.ndarray, key: jax.Array,
           candidates: bool) -> dict[str, float]:
    a, b, _ = unlabelled_pairs(key, chosen, rejected)
    data = WeightingData(np.concatenate([chosen, rejected]), None, NUM_LEVELS, a, b, None)
    weights = {k: np.asarray(v) for k, v in
               apply_weightings(builtin_weightings(TEMPERATURE), data).items()}
    if candidates:
        weights.update(_candidate_weights(data))
    diffs = chosen.astype(np.int64) - rejected.astype(np.int64)
    return {name: float(exact_accuracy(diffs, w).mean()) for name, w in weights.items()}


def _interval(values: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    draws = rng.integers(0, len(values), (NUM_RESAMPLES, len(values)))
    means = values[draws].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"mean": float(values.mean()), "ci95": [float(low), float(high)],
            "quantiles_5_25_50_75_95": [float(q) for q in
                                        np.percentile(values, [5, 25, 50, 75, 95])],
            "share_positive": float((values > 0).mean()),
            "share_negative": float((values < 0).mean())}


def simulation_section() -> dict:
    rng = np.random.default_rng(FAMILY_SEED)
    keys = jax.random.split(jax.random.key(FAMILY_SEED), NUM_ENSEMBLES)
    reliable_rng = np.random.default_rng(FAMILY_SEED + 1)
    scores: dict[str, dict[str, list[float]]] = {
        "graded_plus_flags": {}, "graded_only": {}, "graded_plus_reliable_flags": {}}
    for index in range(NUM_ENSEMBLES):
        params = _family_parameters(rng)
        flags = params["base_rate"].size
        reliable = {**params, "firing_informativeness": reliable_rng.uniform(2, 4, flags),
                    "severity_informativeness": reliable_rng.uniform(0.5, 1.5, flags)}
        key_sim, key_swap = jax.random.split(keys[index])
        graded = params["informativeness"].size
        for family, family_params, columns in (
            ("graded_plus_flags", params, slice(None)),
            ("graded_only", params, slice(0, graded)),
            ("graded_plus_reliable_flags", reliable, slice(None)),
        ):
            ensemble = simulate_mixed_ensemble(key_sim, NUM_PAIRS, num_levels=NUM_LEVELS,
                                               **family_params)
            chosen = np.asarray(ensemble.chosen)[:, columns]
            rejected = np.asarray(ensemble.rejected)[:, columns]
            result = _score(chosen, rejected, key_swap, True)
            for name, value in result.items():
                scores[family].setdefault(name, []).append(value)
    ci_rng = np.random.default_rng(0)
    out = {"family": {"num_ensembles": NUM_ENSEMBLES, "seed": FAMILY_SEED,
                      "num_pairs": NUM_PAIRS, "num_levels": NUM_LEVELS,
                      "temperature": TEMPERATURE,
                      "graded": "G~U{3..8}, beta~U(0,1.5), spread=4exp(-1.2beta)exp(N(0,0.3^2))",
                      "flags": "F~U{2..6}, p~LogU(0.005,0.2), informative w.p. 1/2: "
                               "gamma~U(0.5,3), beta_sev~U(0,1.5); else 0, 0",
                      "reliable_flags": "the same F and p, every flag informative: "
                                        "gamma~U(2,4), beta_sev~U(0.5,1.5) (seed 13)"}}
    for family, table in scores.items():
        arrays = {name: np.asarray(values) for name, values in table.items()}
        out[family] = {
            "mean_accuracy": {name: float(v.mean()) for name, v in arrays.items()},
            "differences": {
                f"{name} - {base}": _interval(arrays[name] - arrays[base], ci_rng)
                for name in arrays for base in ("uniform", "encore")
                if name != base and (name, base) != ("uniform", "encore")},
        }
    return out


def _paired_bootstrap(credits: dict[str, np.ndarray], groups: np.ndarray | None,
                      rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """95 % percentile intervals of accuracy differences, resampling groups (or pairs)."""
    if groups is None:
        groups = np.arange(len(next(iter(credits.values()))))
    _, group_index = np.unique(groups, return_inverse=True)
    num_groups = group_index.max() + 1
    counts = rng.multinomial(num_groups, np.full(num_groups, 1 / num_groups), NUM_RESAMPLES)
    sizes = counts @ np.bincount(group_index, minlength=num_groups)
    out = {}
    for name in credits:
        for base in ("uniform", "encore"):
            if name == base or (name == "uniform" and base == "encore"):
                continue
            diff = credits[name] - credits[base]
            sums = np.bincount(group_index, weights=diff, minlength=num_groups)
            replicates = (counts @ sums) / sizes
            low, high = np.percentile(replicates, [2.5, 97.5])
            out[f"{name} - {base}"] = {"difference": float(diff.mean()),
                                       "ci95": [float(low), float(high)]}
    return out


def oasst1_section() -> dict:
    from fractions import Fraction

    from encore_jax.datasets import load_oasst1

    data = load_oasst1()
    complete = data.complete_pairs
    observed = data.values[data.mask]
    assert all(
        (Fraction(float(v)).limit_denominator(1000) * OASST1_SCALE).denominator == 1
        and float(Fraction(float(v)).limit_denominator(1000)) == v for v in np.unique(observed)
    ), "OASST1 values are not multiples of 1/1680"
    grid = np.where(data.mask, np.rint(np.nan_to_num(data.values) * OASST1_SCALE), 0)
    grid = grid.astype(np.int64)
    diffs = grid[data.chosen[complete]] - grid[data.rejected[complete]]
    a, b, mask = unlabelled_pairs(jax.random.key(0), data.chosen_levels[complete],
                                  data.rejected_levels[complete])
    wdata = WeightingData(data.levels, data.mask, data.num_levels, a, b, mask)
    weights = {k: np.asarray(v) for k, v in
               apply_weightings(builtin_weightings(TEMPERATURE), wdata).items()}
    credits = {name: exact_accuracy(diffs, w) for name, w in weights.items()}
    groups = data.pair_group_ids[complete]
    return {
        "num_pairs": int(complete.sum()),
        "num_prompts": int(len(np.unique(groups))),
        "accuracy": {name: float(c.mean()) for name, c in credits.items()},
        "weights": {name: dict(zip(data.rule_names, map(float, w), strict=True))
                    for name, w in weights.items()},
        "differences_resampling_prompts": _paired_bootstrap(
            credits, groups, np.random.default_rng(0)),
        "differences_resampling_pairs": _paired_bootstrap(
            credits, None, np.random.default_rng(0)),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", choices=("all", "simulation", "oasst1"), default="all")
    args = parser.parse_args(argv)
    result = {}
    if args.section in ("all", "simulation"):
        result["simulation"] = simulation_section()
    if args.section in ("all", "oasst1"):
        result["oasst1"] = oasst1_section()
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
