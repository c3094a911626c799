"""Label-free weightings, held out, on simulated rule families and on OASST1; prints JSON.

    python -m benchmarks.weighting_study                 # every section (minutes)
    python -m benchmarks.weighting_study --section oasst1

Weightings compared (all label-free, temperature ``tau`` = 2): ``uniform``, ``encore``
(ENCORE, arXiv 2503.20995) and every research extension of :mod:`encore_jax.weightings`
(:data:`~encore_jax.weightings.EXTENSION_NAMES`): ``research_decisive_encore``
(``w_k ∝ (1 - t_k) exp(-H_k / tau)``), ``research_decisive_entropy`` (ENCORE on the
entropy of the ratings of the pairs each rule decides), ``research_agreement_dawid_skene``
and ``research_agreement_bt`` (log-odds of each rule's accuracy estimated from the rules'
agreement by one-coin Dawid–Skene / noisy Bradley–Terry skills; signed). One further
candidate is scored in the first simulation section only (study code, not in the library):
``candidate_difference_entropy`` (ENCORE on the entropy of the pair differences ``a - b``).

Held-out accuracy: weights are computed from unlabelled data (ratings, and pairs whose
sides are swapped by a fair coin, :func:`encore_jax.weightings.unlabelled_pairs`) and
scored on *other* pairs: composite pairwise accuracy, ties count 1/2, exact ties (margins
``sum_k w_k d_k`` of float32 weights and integer differences ``d`` (levels, or OASST1 values
times 1680, the least common denominator of its values) are products exact in float64,
summed by ``math.fsum``, so a margin is 0 exactly when it is 0 in exact arithmetic).

Section ``simulation`` (the family was fixed before any result was seen; the held-out
protocol was added with the agreement weightings, the parameters unchanged): ``200``
ensembles, seed ``12``, ``N = 2000`` pairs to compute the weights and ``2000`` other pairs
to score them (one simulation of 4000 pairs, split in halves), ``L = 5`` levels. Each
ensemble draws ``G ~ U{3..8}`` graded rules (:func:`encore_jax.simulate.rating_distributions`)
with ``beta ~ U(0, 1.5)`` and ``spread = 4 exp(-1.2 beta) exp(eps)``, ``eps ~ N(0, 0.3^2)``
(informative graded rules are narrower: ENCORE's premise holds among them), and
``F ~ U{2..6}`` rare flags (:mod:`encore_jax.simulate_rare`) with base rate
``p ~ LogU(0.005, 0.2)``, informative with probability 1/2 (``gamma ~ U(0.5, 3)``,
``beta_sev ~ U(0, 1.5)``), else ``gamma = beta_sev = 0``. Family ``graded_plus_flags`` is
every rule; ``graded_only`` the same ensembles without the flags (control);
``graded_plus_reliable_flags`` (a stress test where theory predicts the decisive share can
lose: a rare but reliable flag deserves a large weight) the same graded rules and flag base
rates with every flag informative, ``gamma ~ U(2, 4)``, ``beta_sev ~ U(0.5, 1.5)`` (drawn
from a second generator, seed ``13``, so the other families are unchanged). Differences are
paired per ensemble; intervals are 95 % percentile bootstrap intervals of the mean over
ensembles (10,000 resamples).

Section ``agreement`` (families fixed in this code before the agreement weightings were
run on them; seed ``21``, ``100`` ensembles each, same ``N``, split and ``L``), built to
test the agreement models' assumption (rules err independently given the preference) and
signed weights. Every ensemble draws ``G ~ U{3..6}`` independent graded rules with
``beta ~ U(0.3, 1.5)``, ``spread`` as above, then:

* ``near_duplicates``: plus one family of ``D ~ U{3..6}`` near-duplicates of a weak graded
  rule (``beta ~ U(0, 0.4)``, same spread law): each copy repeats the weak rule's ratings
  and replaces each of them, independently with probability ``0.1``, by a uniform level.
  The copies agree with each other far beyond what their accuracy explains: the
  independence assumption fails.
* ``anti_correlated``: plus ``A ~ U{1..3}`` graded rules with ``beta ~ U(0.3, 1.0)`` (same
  spread law) whose levels are reversed (``l -> L - 1 - l``): rules that work against the
  preference (a verbosity head, say), where a signed weighting can reverse them.

Section ``oasst1``: the 997 complete pairs of :func:`encore_jax.datasets.load_oasst1`
(411 prompts); nothing is tuned on it. Cross-fitting over prompts: ``20`` random splits of
the prompts in two halves (seed ``0``); the weights are computed on one half (calibration:
the replies of its prompts; unlabelled pairs: its complete pairs, sides swapped by a fair
coin) and score the other half's pairs, so each pair gets 20 held-out credits, averaged.
Accuracies and paired differences get 95 % percentile intervals resampling whole prompts
(``pair_group_ids``; 10,000 resamples, seed 0); the differences also resampling pairs.
Also reported: the weights computed on all 1,243 replies and all 997 pairs (coin key 0), and
their in-sample accuracy on those pairs.
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
    EXTENSION_NAMES,
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
AGREEMENT_SEED = 21
AGREEMENT_ENSEMBLES = 100
DUPLICATE_NOISE = 0.1  # share of a near-duplicate's ratings replaced by a uniform level
OASST1_SPLITS = 20
METHODS = ("uniform", "encore", *EXTENSION_NAMES)
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
    """Held-out accuracy of every weighting: weights from the first half of the pairs
    (pooled ratings and fair-coin pairs, no labels), accuracy on the second half."""
    half = chosen.shape[0] // 2
    fit_c, fit_r, test_c, test_r = chosen[:half], rejected[:half], chosen[half:], rejected[half:]
    a, b, _ = unlabelled_pairs(key, fit_c, fit_r)
    data = WeightingData(np.concatenate([fit_c, fit_r]), None, NUM_LEVELS, a, b, None)
    weights = {k: np.asarray(v) for k, v in
               apply_weightings(builtin_weightings(TEMPERATURE), data).items()}
    if candidates:
        weights.update(_candidate_weights(data))
    diffs = test_c.astype(np.int64) - test_r.astype(np.int64)
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


def _summary(scores: dict[str, list[float]], rng: np.random.Generator) -> dict:
    arrays = {name: np.asarray(values) for name, values in scores.items()}
    return {
        "mean_accuracy": {name: {k: v for k, v in _interval(values, rng).items()
                                 if k in ("mean", "ci95")}
                          for name, values in arrays.items()},
        "differences": {
            f"{name} - {base}": _interval(arrays[name] - arrays[base], rng)
            for name in arrays for base in ("uniform", "encore")
            if name != base and (name, base) != ("uniform", "encore")},
    }


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
            ensemble = simulate_mixed_ensemble(key_sim, 2 * NUM_PAIRS, num_levels=NUM_LEVELS,
                                               **family_params)
            chosen = np.asarray(ensemble.chosen)[:, columns]
            rejected = np.asarray(ensemble.rejected)[:, columns]
            result = _score(chosen, rejected, key_swap, True)
            for name, value in result.items():
                scores[family].setdefault(name, []).append(value)
    ci_rng = np.random.default_rng(0)
    out = {"family": {"num_ensembles": NUM_ENSEMBLES, "seed": FAMILY_SEED,
                      "num_pairs_weights": NUM_PAIRS, "num_pairs_scored": NUM_PAIRS,
                      "num_levels": NUM_LEVELS, "temperature": TEMPERATURE,
                      "graded": "G~U{3..8}, beta~U(0,1.5), spread=4exp(-1.2beta)exp(N(0,0.3^2))",
                      "flags": "F~U{2..6}, p~LogU(0.005,0.2), informative w.p. 1/2: "
                               "gamma~U(0.5,3), beta_sev~U(0,1.5); else 0, 0",
                      "reliable_flags": "the same F and p, every flag informative: "
                                        "gamma~U(2,4), beta_sev~U(0.5,1.5) (seed 13)"}}
    for family, table in scores.items():
        out[family] = _summary(table, ci_rng)
    return out


def _graded(rng: np.random.Generator, count: int, low: float, high: float
            ) -> tuple[np.ndarray, np.ndarray]:
    beta = rng.uniform(low, high, count)
    return beta, 4 * np.exp(-1.2 * beta) * np.exp(rng.normal(0, 0.3, count))


def _agreement_ensemble(family: str, rng: np.random.Generator, key: jax.Array
                        ) -> tuple[np.ndarray, np.ndarray]:
    """``(chosen, rejected)`` levels ``[2 N, K]`` of one ensemble of an agreement family."""
    beta, spread = _graded(rng, int(rng.integers(3, 7)), 0.3, 1.5)
    if family == "near_duplicates":
        extra_beta, extra_spread = _graded(rng, 1, 0.0, 0.4)
        copies = int(rng.integers(3, 7))
    else:
        extra_beta, extra_spread = _graded(rng, int(rng.integers(1, 4)), 0.3, 1.0)
    ensemble = simulate_mixed_ensemble(
        key, 2 * NUM_PAIRS, informativeness=np.concatenate([beta, extra_beta]),
        spread=np.concatenate([spread, extra_spread]), base_rate=np.zeros(0),
        firing_informativeness=np.zeros(0), severity_informativeness=np.zeros(0),
        num_levels=NUM_LEVELS)
    chosen, rejected = np.array(ensemble.chosen), np.array(ensemble.rejected)  # writable
    g = beta.size
    if family == "anti_correlated":
        chosen[:, g:] = NUM_LEVELS - 1 - chosen[:, g:]
        rejected[:, g:] = NUM_LEVELS - 1 - rejected[:, g:]
        return chosen, rejected

    def copy(column: np.ndarray) -> np.ndarray:
        base = np.repeat(column[:, None], copies, axis=1)
        noisy = rng.random(base.shape) < DUPLICATE_NOISE
        return np.where(noisy, rng.integers(0, NUM_LEVELS, base.shape), base)

    return (np.concatenate([chosen[:, :g], copy(chosen[:, g])], axis=1).astype(np.int32),
            np.concatenate([rejected[:, :g], copy(rejected[:, g])], axis=1).astype(np.int32))


def agreement_section() -> dict:
    out: dict = {"family": {
        "num_ensembles": AGREEMENT_ENSEMBLES, "seed": AGREEMENT_SEED,
        "num_pairs_weights": NUM_PAIRS, "num_pairs_scored": NUM_PAIRS,
        "num_levels": NUM_LEVELS, "temperature": TEMPERATURE,
        "graded": "G~U{3..6}, beta~U(0.3,1.5), spread=4exp(-1.2beta)exp(N(0,0.3^2))",
        "near_duplicates": f"+ D~U{{3..6}} copies of one rule with beta~U(0,0.4), each rating "
                           f"replaced w.p. {DUPLICATE_NOISE} by a uniform level",
        "anti_correlated": "+ A~U{1..3} rules with beta~U(0.3,1.0), levels reversed"}}
    ci_rng = np.random.default_rng(1)
    for offset, family in enumerate(("near_duplicates", "anti_correlated")):
        rng = np.random.default_rng([AGREEMENT_SEED, offset])
        keys = jax.random.split(jax.random.fold_in(jax.random.key(AGREEMENT_SEED), offset),
                                AGREEMENT_ENSEMBLES)
        scores: dict[str, list[float]] = {}
        for index in range(AGREEMENT_ENSEMBLES):
            key_sim, key_swap = jax.random.split(keys[index])
            chosen, rejected = _agreement_ensemble(family, rng, key_sim)
            for name, value in _score(chosen, rejected, key_swap, False).items():
                scores.setdefault(name, []).append(value)
        out[family] = _summary(scores, ci_rng)
    return out


def _paired_bootstrap(credits: dict[str, np.ndarray], groups: np.ndarray | None,
                      rng: np.random.Generator) -> dict[str, dict]:
    """95 % percentile intervals of accuracies and of their differences against uniform and
    ENCORE, resampling groups (or pairs) with one set of multinomial counts."""
    if groups is None:
        groups = np.arange(len(next(iter(credits.values()))))
    _, group_index = np.unique(groups, return_inverse=True)
    num_groups = group_index.max() + 1
    counts = rng.multinomial(num_groups, np.full(num_groups, 1 / num_groups), NUM_RESAMPLES)
    sizes = counts @ np.bincount(group_index, minlength=num_groups)

    def interval(values: np.ndarray) -> list[float]:
        sums = np.bincount(group_index, weights=values, minlength=num_groups)
        return [float(x) for x in np.percentile((counts @ sums) / sizes, [2.5, 97.5])]

    out: dict[str, dict] = {"accuracy": {}, "differences": {}}
    for name, credit in credits.items():
        out["accuracy"][name] = {"accuracy": float(credit.mean()), "ci95": interval(credit)}
        for base in ("uniform", "encore"):
            if name == base or (name == "uniform" and base == "encore"):
                continue
            diff = credit - credits[base]
            out["differences"][f"{name} - {base}"] = {"difference": float(diff.mean()),
                                                      "ci95": interval(diff)}
    return out


def _oasst1_weights(data, pairs: np.ndarray, replies: np.ndarray, key: jax.Array
                    ) -> dict[str, np.ndarray]:
    """Every weighting from the replies ``replies`` (calibration) and the pairs ``pairs``
    (indices into the pair arrays), sides swapped by a fair coin from ``key``."""
    a, b, mask = unlabelled_pairs(key, data.chosen_levels[pairs], data.rejected_levels[pairs],
                                  data.pair_mask[pairs])
    wdata = WeightingData(data.levels[replies], data.mask[replies], data.num_levels, a, b,
                          mask)
    return {k: np.asarray(v) for k, v in
            apply_weightings(builtin_weightings(TEMPERATURE), wdata).items()}


def oasst1_section() -> dict:
    from fractions import Fraction

    from encore_jax.datasets import load_oasst1

    data = load_oasst1()
    complete = np.flatnonzero(data.complete_pairs)
    observed = data.values[data.mask]
    assert all(
        (Fraction(float(v)).limit_denominator(1000) * OASST1_SCALE).denominator == 1
        and float(Fraction(float(v)).limit_denominator(1000)) == v for v in np.unique(observed)
    ), "OASST1 values are not multiples of 1/1680"
    grid = np.where(data.mask, np.rint(np.nan_to_num(data.values) * OASST1_SCALE), 0)
    grid = grid.astype(np.int64)
    diffs = grid[data.chosen[complete]] - grid[data.rejected[complete]]
    groups = data.pair_group_ids[complete]
    prompts = np.unique(groups)
    split_rng = np.random.default_rng(0)
    credit_sums: dict[str, np.ndarray] = {}
    for split in range(OASST1_SPLITS):
        half = np.isin(prompts, split_rng.permutation(prompts)[:prompts.size // 2])
        for fold, train_prompts in enumerate((prompts[half], prompts[~half])):
            train = np.isin(groups, train_prompts)
            replies = np.flatnonzero(np.isin(data.group_ids, train_prompts))
            key = jax.random.fold_in(jax.random.key(0), 2 * split + fold)
            weights = _oasst1_weights(data, complete[train], replies, key)
            for name, w in weights.items():
                credit = credit_sums.setdefault(name, np.zeros(complete.size))
                credit[~train] += exact_accuracy(diffs[~train], w)
    credits = {name: c / OASST1_SPLITS for name, c in credit_sums.items()}
    all_weights = _oasst1_weights(data, complete, np.arange(data.levels.shape[0]),
                                  jax.random.key(0))
    return {
        "num_pairs": int(complete.size),
        "num_prompts": int(prompts.size),
        "protocol": f"{OASST1_SPLITS} random two-fold splits of the prompts (seed 0): "
                    "weights from one half (its replies and fair-coin pairs), scored on "
                    "the other; per-pair credit averaged over splits",
        "held_out_resampling_prompts": _paired_bootstrap(credits, groups,
                                                         np.random.default_rng(0)),
        "held_out_differences_resampling_pairs": _paired_bootstrap(
            credits, None, np.random.default_rng(0))["differences"],
        "weights_on_all_pairs": {name: dict(zip(data.rule_names, map(float, w), strict=True))
                                 for name, w in all_weights.items()},
        "in_sample_accuracy_weights_on_all_pairs": {
            name: float(exact_accuracy(diffs, w).mean()) for name, w in all_weights.items()},
    }


SHORT = {"uniform": "uniform", "encore": "ENCORE", "research_decisive_encore":
         "decisive_encore", "research_decisive_entropy": "decisive_entropy",
         "research_agreement_dawid_skene": "agreement_DS", "research_agreement_bt":
         "agreement_BT", "candidate_difference_entropy": "difference_entropy"}


def _points(value: float) -> str:
    return f"{100 * value:+.2f}"


def markdown_tables(result: dict) -> str:
    """The README's / extensions.md's tables from a result of :func:`main` (its JSON)."""
    lines = []
    families = [(section, family) for section in ("simulation", "agreement")
                for family in result.get(section, {}) if family != "family"]
    if families:
        lines += ["Held-out accuracy, mean over ensembles [95 % interval], and its difference "
                  "from uniform in points [95 % interval] (share of ensembles > 0):", "",
                  "| family | " + " | ".join(SHORT[m] for m in METHODS) + " |",
                  "|---|" + "---|" * len(METHODS)]
        for section, family in families:
            table = result[section][family]
            cells = []
            for m in METHODS:
                acc = table["mean_accuracy"][m]
                cell = f"{acc['mean']:.4f}"
                if m != "uniform":
                    d = table["differences"][f"{m} - uniform"]
                    cell += (f"<br>{_points(d['mean'])} [{_points(d['ci95'][0])}, "
                             f"{_points(d['ci95'][1])}] ({100 * d['share_positive']:.0f} %)")
                cells.append(cell)
            lines.append(f"| {family} | " + " | ".join(cells) + " |")
    if "oasst1" in result:
        held = result["oasst1"]["held_out_resampling_prompts"]
        lines += ["", "OASST1, held out (cross-fitted over prompts), accuracy [95 % interval "
                  "resampling prompts] and differences in points:", "",
                  "| method | accuracy | - uniform | - ENCORE |", "|---|---|---|---|"]
        for m in METHODS:
            acc = held["accuracy"][m]
            row = [f"{acc['accuracy']:.4f} [{acc['ci95'][0]:.4f}, {acc['ci95'][1]:.4f}]"]
            for base in ("uniform", "encore"):
                d = held["differences"].get(f"{m} - {base}")
                row.append("" if d is None else f"{_points(d['difference'])} "
                           f"[{_points(d['ci95'][0])}, {_points(d['ci95'][1])}]")
            lines.append(f"| {SHORT[m]} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", choices=("all", "simulation", "agreement", "oasst1"),
                        default="all")
    parser.add_argument("--tables", metavar="JSON", default=None,
                        help="print the markdown tables of a saved result instead of running")
    args = parser.parse_args(argv)
    if args.tables is not None:
        with open(args.tables, encoding="utf-8") as handle:
            print(markdown_tables(json.load(handle)))
        return {}
    result = {"command": "python -m benchmarks.weighting_study"
              + ("" if args.section == "all" else f" --section {args.section}")}
    if args.section in ("all", "simulation"):
        result["simulation"] = simulation_section()
    if args.section in ("all", "agreement"):
        result["agreement"] = agreement_section()
    if args.section in ("all", "oasst1"):
        result["oasst1"] = oasst1_section()
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
