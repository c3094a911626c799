"""The computation behind ``encore-jax demo``: where ENCORE's premise holds, and where it fails.

Two stories, each comparing ENCORE (arXiv 2503.20995; weights ``softmax(-H / tau)``), the
uniform sum and Bradley-Terry (BT) weights fitted on a train split:

1. :func:`simulated_story`: a *family* of random simulated rule ensembles
   (:class:`FamilySpec`, fixed before any result was looked at) whose rules' rating spread
   grows as their informativeness falls, so that entropy tracks rater noise, the setting
   ENCORE assumes. Reported: the distribution over ensembles of the held-out accuracy
   differences ENCORE - uniform and BT - uniform, and the premise check
   (:func:`encore_jax.workflows.diagnose.diagnose_premise`) on the family's first ensemble.
2. :func:`oasst1_story`: the shipped OASST1 English validation pairs
   (:func:`encore_jax.datasets.load_oasst1`): the premise check says why the premise fails,
   and uniform, ENCORE, the research weightings (:mod:`encore_jax.weightings`) and BT are
   compared on prompts held out from BT's fit.

Accuracy everywhere: the share of pairs whose composite margin ``m_i = sum_k w_k d_ik``
(``d_ik`` = chosen minus rejected rating of rule ``k``) is positive, a tie (``m_i = 0`` in
exact arithmetic, :mod:`encore_jax.compose`) counting one half. Shapes: ``F`` ensembles,
``K`` rules (padded to ``max_rules`` with inactive rules), ``N`` pairs, ``L`` levels, ``M``
methods, ``G`` prompts, ``B`` bootstrap resamples.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from encore_jax import _checks
from encore_jax.bradley_terry import fit_bt_weights
from encore_jax.compose import certified_margins
from encore_jax.entropy import rating_entropy
from encore_jax.metrics.accuracy import _credit
from encore_jax.metrics.bootstrap import bootstrap_ci
from encore_jax.simulate import simulate_rule_ensemble
from encore_jax.weighting_stats import masked_entropy_weights
from encore_jax.weightings import (
    EXTENSION_NAMES,
    WeightingData,
    apply_weightings,
    builtin_weightings,
    unlabelled_pairs,
)
from encore_jax.workflows.diagnose import PremiseReport, diagnose_premise
from encore_jax.workflows.protocol import checked_groups, group_holdout_split
from encore_jax.workflows.row_bootstrap import bootstrap_rows, paired_differences

__all__ = ["DEFAULT_FAMILY", "DemoResult", "FamilySpec", "FamilySummary", "Interval",
           "MethodAccuracy", "OASST1_VALUE_UNIT", "RealStory", "SimulatedStory", "demo",
           "oasst1_story", "simulate_family", "simulated_story"]

OASST1_VALUE_UNIT = 1680
"""Every OASST1 label value is a multiple of ``1 / 1680`` (means of 1 to 8 annotators'
ratings on grids of halves, thirds and quarters), so ``round(1680 v)`` are exact integers and
composite ties are decided exactly."""


class FamilySpec(NamedTuple):
    """The family of simulated rule ensembles (:func:`encore_jax.simulate_rule_ensemble`).

    Ensemble ``f`` has ``K_f ~ U{min_rules..max_rules}`` rules; rule ``k`` has
    informativeness ``beta_k ~ U(0, max_informativeness)`` and spread
    ``s_k = min_spread (max_spread / min_spread)^(1 - beta_k / max_informativeness)
    exp(spread_jitter z_k)``, ``z_k ~ N(0, 1)``: the less informative a rule, the wider
    (noisier, higher-entropy) its ratings. Each ensemble rates ``num_train_pairs`` train
    and ``num_eval_pairs`` eval pairs on ``num_levels`` levels. All values were fixed
    before any result was computed; ``seed`` draws everything.
    """

    num_ensembles: int = 200
    min_rules: int = 5
    max_rules: int = 12
    num_levels: int = 5
    num_train_pairs: int = 2000
    num_eval_pairs: int = 1000
    max_informativeness: float = 1.5
    min_spread: float = 0.75
    max_spread: float = 3.75
    spread_jitter: float = 0.2
    seed: int = 0

    def describe(self) -> str:
        """One sentence stating the family."""
        return (f"{self.num_ensembles} random ensembles: K ~ U{{{self.min_rules}.."
                f"{self.max_rules}}} rules on {self.num_levels} levels, informativeness "
                f"beta ~ U(0, {self.max_informativeness:g}), spread s = {self.min_spread:g} x "
                f"({self.max_spread:g}/{self.min_spread:g})^(1 - beta/"
                f"{self.max_informativeness:g}) x exp({self.spread_jitter:g} z) (noisier "
                f"raters, wider ratings); {self.num_train_pairs} train / "
                f"{self.num_eval_pairs} eval pairs each; seed {self.seed}")


class Interval(NamedTuple):
    """An estimate with a percentile bootstrap interval."""

    estimate: float
    low: float
    high: float


class FamilyArrays(NamedTuple):
    """Per-ensemble arrays of a simulated family (host NumPy).

    Attributes:
      num_rules: ``[F]`` active rules ``K_f``.
      active: boolean ``[F, K]``.
      informativeness, spread: ``[F, K]`` (inactive rules: 0 and 1).
      population_entropy, population_accuracy: ``[F, K]`` exact population values.
      weights: ``[F, 3, K]`` ENCORE, uniform and BT weights (0 on inactive rules).
      accuracy: ``[F, 3]`` held-out accuracy of the three (ties one half).
      bt_converged: ``[F]`` whether each BT fit met its tolerance.
    """

    num_rules: np.ndarray
    active: np.ndarray
    informativeness: np.ndarray
    spread: np.ndarray
    population_entropy: np.ndarray
    population_accuracy: np.ndarray
    weights: np.ndarray
    accuracy: np.ndarray
    bt_converged: np.ndarray


DEFAULT_FAMILY = FamilySpec()
"""The family ``encore-jax demo`` reports."""

FAMILY_METHODS = ("encore", "uniform", "bradley_terry")


class FamilySummary(NamedTuple):
    """The distribution over ensembles of one accuracy difference, in points (x 100).

    ``mean`` carries a percentile bootstrap interval over ensembles; ``share_positive`` /
    ``share_negative``: the share of ensembles where the difference is > 0 / < 0;
    ``quantiles``: its 5 %, 25 %, 50 %, 75 % and 95 % quantiles."""

    name: str
    mean: Interval
    median: float
    share_positive: float
    share_negative: float
    quantiles: tuple[float, ...]


class SimulatedStory(NamedTuple):
    """Story 1 (see the module docstring).

    Attributes:
      family: the :class:`FamilySpec`.
      arrays: per-ensemble :class:`FamilyArrays`.
      mean_accuracy: method -> mean held-out accuracy over ensembles.
      differences: :class:`FamilySummary` of ENCORE - uniform, BT - uniform, ENCORE - BT.
      population_pearson_median: median over ensembles of the exact population Pearson
        correlation of entropy and accuracy across the active rules.
      premise: the premise check on ensemble 0 (its train and eval pairs).
      premise_ensemble_rules: ``K`` of ensemble 0.
    """

    family: FamilySpec
    arrays: FamilyArrays
    mean_accuracy: dict[str, float]
    differences: tuple[FamilySummary, ...]
    population_pearson_median: float
    premise: PremiseReport
    premise_ensemble_rules: int

    def to_dict(self) -> dict[str, Any]:
        a = self.arrays
        return {
            "family": self.family._asdict() | {"description": self.family.describe()},
            "mean_accuracy": self.mean_accuracy,
            "differences_points": [d._asdict() | {"mean": d.mean._asdict()}
                                   for d in self.differences],
            "population_pearson_median": self.population_pearson_median,
            "premise_check_ensemble_0": {"num_rules": self.premise_ensemble_rules,
                                         **self.premise.to_dict()},
            "ensembles": [{"num_rules": int(a.num_rules[f]),
                           **{m: float(a.accuracy[f, j]) for j, m in enumerate(FAMILY_METHODS)},
                           "bt_converged": bool(a.bt_converged[f])}
                          for f in range(a.num_rules.shape[0])],
        }


class MethodAccuracy(NamedTuple):
    """One weighting on OASST1.

    Attributes:
      name, label: identifier and display label.
      weights: ``[K]`` weights.
      all_pairs: accuracy on every complete pair, with a prompt-bootstrap interval; None
        for BT (it would be evaluated on its own training pairs).
      all_pairs_minus_uniform: paired difference with uniform on every complete pair.
      eval: accuracy on the held-out prompts' pairs, with a prompt-bootstrap interval
        (conditional on the weights, which are fixed: BT is not refitted per resample).
      eval_minus_uniform: paired difference with uniform on the held-out pairs.
    """

    name: str
    label: str
    weights: tuple[float, ...]
    all_pairs: Interval | None
    all_pairs_minus_uniform: Interval | None
    eval: Interval
    eval_minus_uniform: Interval


class RealStory(NamedTuple):
    """Story 2: OASST1 (see the module docstring and :func:`oasst1_story`)."""

    premise: PremiseReport
    methods: tuple[MethodAccuracy, ...]
    num_pairs: int
    num_groups: int
    num_train_pairs: int
    num_train_groups: int
    num_eval_pairs: int
    num_eval_groups: int
    protocol: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        def interval(x: Interval | None) -> dict[str, float] | None:
            return None if x is None else x._asdict()

        return {
            "premise_check": self.premise.to_dict(),
            "methods": [m._asdict() | {k: interval(getattr(m, k)) for k in (
                "all_pairs", "all_pairs_minus_uniform", "eval", "eval_minus_uniform")}
                for m in self.methods],
            **{k: getattr(self, k) for k in ("num_pairs", "num_groups", "num_train_pairs",
                                             "num_train_groups", "num_eval_pairs",
                                             "num_eval_groups", "protocol")},
        }


class DemoResult(NamedTuple):
    """Both stories; ``to_dict()`` is the JSON document of ``encore-jax demo --json``."""

    simulated: SimulatedStory
    oasst1: RealStory
    temperature: float
    tie: str

    def to_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "tie": self.tie,
                "simulated": self.simulated.to_dict(), "oasst1": self.oasst1.to_dict()}


# --------------------------------------------------------------------------------------------
# Story 1: the simulated family
# --------------------------------------------------------------------------------------------


def _family_parameters(spec: FamilySpec) -> tuple[np.ndarray, ...]:
    """``(num_rules [F], active [F, K], beta [F, K], spread [F, K])`` drawn from ``spec.seed``."""
    rng = np.random.default_rng(spec.seed)
    f, k = spec.num_ensembles, spec.max_rules
    num_rules = rng.integers(spec.min_rules, spec.max_rules + 1, size=f)
    beta = rng.uniform(0.0, spec.max_informativeness, size=(f, k))
    noise = 1.0 - beta / spec.max_informativeness
    spread = (spec.min_spread * (spec.max_spread / spec.min_spread) ** noise
              * np.exp(spec.spread_jitter * rng.standard_normal((f, k))))
    active = np.arange(k)[None, :] < num_rules[:, None]
    beta = np.where(active, beta, 0.0).astype(np.float32)
    spread = np.where(active, spread, 1.0).astype(np.float32)
    return num_rules, active, beta, spread


@functools.partial(jax.jit, static_argnames=("num_train", "num_eval", "num_levels"))
def _family_kernel(keys: jax.Array, beta: jax.Array, spread: jax.Array, active: jax.Array,
                   temperature: jax.Array, *, num_train: int, num_eval: int,
                   num_levels: int) -> tuple[jax.Array, ...]:
    """Simulates, weighs and evaluates every ensemble (vmapped; one compilation)."""

    def one(key: jax.Array, b: jax.Array, s: jax.Array, on: jax.Array) -> tuple[jax.Array, ...]:
        ens = simulate_rule_ensemble(key, num_train + num_eval, informativeness=b, spread=s,
                                     num_levels=num_levels)
        chosen, rejected = ens.chosen, ens.rejected
        # Inactive (padding) rules contribute nothing: zero differences, zero weights.
        diffs = jnp.where(on, (chosen - rejected).astype(jnp.float32), 0.0)
        train = slice(0, num_train)
        pooled = jnp.concatenate([chosen[train], rejected[train]])
        entropy = rating_entropy(pooled, num_levels)
        encore = masked_entropy_weights(entropy, on, temperature)
        uniform = on.astype(jnp.float32) / jnp.sum(on, dtype=jnp.float32)
        fit = fit_bt_weights(diffs[train])
        weights = jnp.stack([encore, uniform, jnp.where(on, fit.weights, 0.0)])
        margins = certified_margins(diffs[num_train:], weights)  # [3, num_eval]
        accuracy = jnp.mean(_credit(margins, None, "half"), axis=-1)
        return weights, accuracy, fit.converged, ens.entropy, ens.accuracy

    return jax.vmap(one)(keys, beta, spread, active)


def simulate_family(spec: FamilySpec = DEFAULT_FAMILY, *, temperature: float = 2.0
                    ) -> FamilyArrays:
    """Draws the family and evaluates ENCORE, uniform and BT on each ensemble's eval pairs.

    Per ensemble: ENCORE's entropies from the train pairs' ratings (chosen and rejected
    pooled, over the active rules), uniform ``1 / K_f``, BT fitted on the train pairs'
    differences (:func:`encore_jax.fit_bt_weights`, defaults); accuracies on the eval pairs.
    Ensemble ``f`` simulates with ``jax.random.fold_in(jax.random.key(seed), f)``.
    """
    _checks.check_temperature(temperature)
    for name in ("num_ensembles", "num_levels", "num_train_pairs", "num_eval_pairs",
                 "min_rules"):
        _checks.check_positive_int(name, getattr(spec, name))
    if spec.max_rules < spec.min_rules:
        raise ValueError(f"max_rules ({spec.max_rules}) must be >= min_rules "
                         f"({spec.min_rules})")
    num_rules, active, beta, spread = _family_parameters(spec)
    base = jax.random.key(spec.seed)
    keys = jax.vmap(lambda f: jax.random.fold_in(base, f))(jnp.arange(spec.num_ensembles))
    weights, accuracy, converged, entropy, pop_accuracy = _family_kernel(
        keys, jnp.asarray(beta), jnp.asarray(spread), jnp.asarray(active),
        jnp.float32(temperature), num_train=spec.num_train_pairs,
        num_eval=spec.num_eval_pairs, num_levels=spec.num_levels)
    return FamilyArrays(num_rules, active, beta, spread, np.asarray(entropy),
                        np.asarray(pop_accuracy), np.asarray(weights), np.asarray(accuracy),
                        np.asarray(converged))


def ensemble_pairs(spec: FamilySpec, index: int) -> tuple[np.ndarray, np.ndarray]:
    """``(chosen, rejected)`` ``[N, K_f]`` of ensemble ``index`` (train pairs first), the same
    draws as :func:`simulate_family`."""
    num_rules, _, beta, spread = _family_parameters(spec)
    k = int(num_rules[index])
    ens = simulate_rule_ensemble(
        jax.random.fold_in(jax.random.key(spec.seed), index),
        spec.num_train_pairs + spec.num_eval_pairs, informativeness=beta[index],
        spread=spread[index], num_levels=spec.num_levels)
    return np.asarray(ens.chosen)[:, :k], np.asarray(ens.rejected)[:, :k]


def _summary(key: jax.Array, name: str, differences: np.ndarray, num_resamples: int,
             confidence: float) -> FamilySummary:
    points = 100.0 * differences.astype(np.float64)
    ci = bootstrap_ci(key, jnp.asarray(points, jnp.float32), num_resamples=num_resamples,
                      confidence=confidence)
    return FamilySummary(
        name, Interval(float(points.mean()), float(ci.low), float(ci.high)),
        float(np.median(points)), float(np.mean(points > 0)), float(np.mean(points < 0)),
        tuple(float(q) for q in np.percentile(points, [5, 25, 50, 75, 95])))


def _population_pearson(arrays: FamilyArrays) -> np.ndarray:
    out = np.full(arrays.num_rules.shape[0], np.nan)
    for f, k in enumerate(arrays.num_rules):
        h, a = arrays.population_entropy[f, :k], arrays.population_accuracy[f, :k]
        if np.ptp(h) > 0 and np.ptp(a) > 0:
            out[f] = np.corrcoef(h, a)[0, 1]
    return out


def simulated_story(key: jax.Array, spec: FamilySpec = DEFAULT_FAMILY, *,
                    temperature: float = 2.0, num_resamples: int = 1000,
                    confidence: float = 0.95) -> SimulatedStory:
    """Story 1: the family's accuracy differences and the premise check on ensemble 0.

    Key use: ``fold_in(key, j)`` bootstraps difference ``j`` over ensembles, ``fold_in(key,
    10)`` the premise check.
    """
    arrays = simulate_family(spec, temperature=temperature)
    acc = arrays.accuracy.astype(np.float64)
    pairs = (("ENCORE - uniform", 0, 1), ("BT - uniform", 2, 1), ("ENCORE - BT", 0, 2))
    differences = tuple(
        _summary(jax.random.fold_in(key, j), name, acc[:, a] - acc[:, b], num_resamples,
                 confidence) for j, (name, a, b) in enumerate(pairs))
    chosen, rejected = ensemble_pairs(spec, 0)
    premise = diagnose_premise(jax.random.fold_in(key, 10), chosen, rejected, spec.num_levels,
                               temperature=temperature, num_resamples=num_resamples,
                               confidence=confidence)
    return SimulatedStory(
        spec, arrays, {m: float(acc[:, j].mean()) for j, m in enumerate(FAMILY_METHODS)},
        differences, float(np.nanmedian(_population_pearson(arrays))), premise,
        int(arrays.num_rules[0]))


# --------------------------------------------------------------------------------------------
# Story 2: OASST1
# --------------------------------------------------------------------------------------------


def _value_units(values: np.ndarray) -> np.ndarray:
    """OASST1 values as exact integer multiples of ``1 / OASST1_VALUE_UNIT``."""
    scaled = values * OASST1_VALUE_UNIT
    units = np.rint(scaled)
    if np.nanmax(np.abs(scaled - units)) > 1e-6:
        raise ValueError(f"OASST1 values are not multiples of 1/{OASST1_VALUE_UNIT}; the "
                         "exact-tie scaling does not apply to this copy of the data")
    return units


def _grouped_intervals(key: jax.Array, credits: np.ndarray, groups: np.ndarray, *,
                       num_resamples: int, confidence: float
                       ) -> tuple[list[Interval], list[Interval]]:
    """Accuracy of each row of ``credits [M, N]`` and its difference with row 1 (uniform),
    with the percentile intervals of ``compare``'s group bootstrap
    (:func:`~encore_jax.workflows.row_bootstrap.bootstrap_rows` with ``clusters``: whole
    groups resampled, a replicate is the resampled groups' credit sum over their pairs)."""
    values = np.asarray(credits, np.float32)
    boot = dict(num_resamples=num_resamples, confidence=confidence, clusters=groups)
    acc = bootstrap_rows(key, values, np.ones(values.shape, bool), **boot)
    minus = paired_differences(key, -values, 1, **boot)  # (-uniform) - (-row) = row - uniform
    estimate = np.asarray(credits, np.float64).mean(axis=1)  # exact point estimates
    return ([Interval(float(estimate[m]), float(acc.low[m]), float(acc.high[m]))
             for m in range(values.shape[0])],
            [Interval(float(estimate[m] - estimate[1]), float(minus.low[m]),
                      float(minus.high[m])) for m in range(values.shape[0])])


def _credits(units_diffs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    margins = certified_margins(jnp.asarray(units_diffs, jnp.float32),
                                jnp.asarray(weights, jnp.float32))
    return np.asarray(_credit(margins, None, "half"), np.float64)


_LABELS = {"encore": "ENCORE (tau={tau:g})", "uniform": "uniform",
           "research_decisive_encore": "research: decisive ENCORE",
           "research_decisive_entropy": "research: decisive entropy",
           "research_agreement_dawid_skene": "research: agreement (Dawid-Skene)",
           "research_agreement_bt": "research: agreement (noisy BT)",
           "bradley_terry": "Bradley-Terry (fit on train prompts)"}


def oasst1_story(key: jax.Array, *, temperature: float = 2.0, test_fraction: float = 0.5,
                 num_resamples: int = 1000, confidence: float = 0.95) -> RealStory:
    """Story 2: the premise check and the comparison on the shipped OASST1 pairs.

    * Premise check: :func:`diagnose_premise` on all 1,026 pairs (integer levels; a rule
      counts on the pairs where both replies carry it), entropies from the 1,243 rated
      replies, bootstrap over prompts.
    * Comparison on the 997 complete pairs (both replies carry all 13 labels). Composites
      use the raw oriented values (as exact multiples of 1/1680, so ties are exact); the
      levels serve only the entropies. Label-free weightings (uniform, ENCORE, the research
      extensions) see the ratings of all replies and the unlabelled pairs (sides swapped by
      a fair coin), never a preference. BT is fitted on the pairs of a random half of the
      prompts (:func:`~encore_jax.workflows.protocol.group_holdout_split`, the split of
      ``compare --group-column``) and every method is evaluated on the other half; all
      label-free methods are also scored on all complete pairs. Intervals resample whole
      prompts with ``compare``'s group bootstrap; they are conditional on the fitted
      weights.

    Key use: ``fold_in(key, 0)`` the premise bootstrap, ``1`` the prompt split, ``2`` and
    ``3`` the bootstraps on all pairs and on the held-out pairs, ``4`` the coin that hides
    the pairs' labels from the weightings.
    """
    from encore_jax.datasets import load_oasst1

    _checks.check_temperature(temperature)
    data = load_oasst1()
    keys = [jax.random.fold_in(key, j) for j in range(5)]
    premise = diagnose_premise(
        keys[0], data.chosen_levels, data.rejected_levels, data.num_levels,
        mask=data.pair_mask, groups=data.pair_group_ids, calibration=data.levels,
        calibration_mask=data.mask, calibration_groups=data.group_ids,
        rule_names=data.rule_names, temperature=temperature, num_resamples=num_resamples,
        confidence=confidence)

    complete = data.complete_pairs
    units = _value_units(data.values)
    diffs = (units[data.chosen] - units[data.rejected])[complete]  # exact integers
    groups, _ = checked_groups(data.pair_group_ids[complete], int(complete.sum()))
    pair_a, pair_b, _ = unlabelled_pairs(keys[4], data.chosen_levels[complete],
                                         data.rejected_levels[complete])
    weighting_data = WeightingData(jnp.asarray(data.levels), jnp.asarray(data.mask),
                                   data.num_levels, pair_a, pair_b)
    builtin = builtin_weightings(temperature)
    order = ("uniform", "encore", *EXTENSION_NAMES)
    label_free = apply_weightings({n: builtin[n] for n in order}, weighting_data)
    # uniform first: grouped_accuracy's differences are against row 1, so prepend a copy.
    free_w = np.stack([np.asarray(label_free[n], np.float64) for n in order])

    train_idx, _ = group_holdout_split(keys[1], groups, test_fraction=test_fraction)
    in_train = np.isin(np.arange(groups.size), train_idx)
    num_groups = int(groups.max()) + 1
    num_train_groups = int(np.unique(groups[in_train]).size)
    fit = fit_bt_weights(jnp.asarray(diffs[in_train] / OASST1_VALUE_UNIT, jnp.float32))
    bt_w = np.asarray(fit.weights, np.float64)
    all_w = np.vstack([free_w, bt_w])
    names = (*order, "bradley_terry")

    rows_all = np.vstack([free_w[:1], free_w])  # row 1 = uniform for the differences
    acc_all, minus_all = _grouped_intervals(
        keys[2], _credits(diffs, rows_all), groups, num_resamples=num_resamples,
        confidence=confidence)
    rows_eval = np.vstack([all_w[:1], all_w])
    eval_groups = np.unique(groups[~in_train], return_inverse=True)[1].astype(np.int32)
    acc_eval, minus_eval = _grouped_intervals(
        keys[3], _credits(diffs[~in_train], rows_eval), eval_groups,
        num_resamples=num_resamples, confidence=confidence)
    methods = tuple(
        MethodAccuracy(
            name, _LABELS[name].format(tau=temperature), tuple(float(w) for w in all_w[m]),
            acc_all[m + 1] if name != "bradley_terry" else None,
            minus_all[m + 1] if name != "bradley_terry" else None,
            acc_eval[m + 1], minus_eval[m + 1])
        for m, name in enumerate(names))
    protocol = {
        "pairs": "the complete pairs: both replies carry all 13 labels",
        "composite": f"raw oriented label values (multiples of 1/{OASST1_VALUE_UNIT}, summed "
                     "exactly); levels only for entropies",
        "label_free_weights": "ratings of all 1,243 replies and the complete pairs with "
                              "their sides swapped by a fair coin (no preference labels)",
        "split": f"group_holdout_split over prompts: {test_fraction:g} of the prompts held "
                 "out; BT fitted on the others' pairs",
        "group_column": "group_id (the prompt)",
        "bradley_terry": {"converged": bool(fit.converged),
                          "steps_taken": int(fit.steps_taken),
                          "separable": bool(fit.separable),
                          "final_loss": float(np.asarray(fit.loss_history)[-1])},
        "tie": "a composite tie (zero margin in exact arithmetic) counts 1/2",
        "confidence": confidence,
        "interval": f"percentile bootstrap over prompts (compare's group bootstrap), "
                    f"{num_resamples} resamples, confidence {confidence:g}; differences "
                    "bootstrapped as per-prompt differences (paired); conditional on the "
                    "weights (BT is not refitted per resample)",
    }
    return RealStory(premise, methods, int(complete.sum()), num_groups,
                     int(in_train.sum()), num_train_groups, int((~in_train).sum()),
                     num_groups - num_train_groups, protocol)


def demo(key: jax.Array | None = None, spec: FamilySpec = DEFAULT_FAMILY, *,
         temperature: float = 2.0, num_resamples: int = 1000, confidence: float = 0.95
         ) -> DemoResult:
    """Both stories (``fold_in(key, 0)`` story 1, ``fold_in(key, 1)`` story 2; default
    ``key = jax.random.key(spec.seed)``)."""
    key = jax.random.key(spec.seed) if key is None else key
    return DemoResult(
        simulated_story(jax.random.fold_in(key, 0), spec, temperature=temperature,
                        num_resamples=num_resamples, confidence=confidence),
        oasst1_story(jax.random.fold_in(key, 1), temperature=temperature,
                     num_resamples=num_resamples, confidence=confidence),
        float(temperature), "half")
