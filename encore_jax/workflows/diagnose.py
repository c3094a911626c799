"""The premise check: on this rule set, are low-entropy rules the more accurate ones?

ENCORE (arXiv 2503.20995) weights rule ``k`` by ``softmax(-H / tau)_k`` on the premise that a
rule whose discrete ratings have low entropy ``H_k`` picks the human-preferred response more
often. :func:`diagnose_premise` (arrays) and :func:`diagnose_file` (a pairs file, streamed)
measure that premise on the user's own rated pairs.

Per rule ``k``, over the pairs ``P_k`` it rated on both sides (``d_ik = chosen_ik -
rejected_ik``):

* ``coverage_k = |P_k| / N``;
* ``tie_rate_k = #{i in P_k : d_ik = 0} / |P_k|``;
* ``accuracy_k = (#{d_ik > 0} + #{d_ik = 0} / 2) / |P_k|`` (ties count one half);
* ``decisive_accuracy_k = #{d_ik > 0} / #{d_ik != 0}``, undefined (None) when the rule ties
  on every pair it rated;
* ``entropy_k``: entropy of the rule's level counts, by default pooled over the chosen and
  rejected ratings of ``P_k``, or over separate ``calibration`` ratings (e.g. one row per
  response, so that a response in several pairs counts once);
* ``encore_weight_k = softmax(-H / tau)_k`` and the weights of every other weighting: the
  built-ins of :func:`encore_jax.weightings.builtin_weightings` (on plug-in entropies in
  nats, their definition) from sums over the pairs, so a streamed file reports them too.
  Extra weightings are functions of whole arrays (:mod:`~encore_jax.workflows.diagnose_weightings`).

Across rules: Pearson ``r`` and Spearman ``rho`` of (entropy, accuracy) (point values and
p-values from :func:`encore_jax.entropy_accuracy_correlation`) with a percentile interval from
a Poisson bootstrap (:mod:`encore_jax.workflows.poisson_bootstrap`) that resamples whole
groups (``groups``, e.g. prompt ids; calibration rows with ``calibration_groups`` share their
group's weight) or single pairs (and calibration rows) when no groups are given. Entropies,
accuracies and both correlations are recomputed on every resample; with fewer than two
units (one group) there is no interval. Beside it, a permutation test across the rules
(:func:`encore_jax.metrics.correlation.rule_permutation_test`, exact for ``K <= 8``). The
same for the decisive view: entropy against decisive accuracy over the rules that decide at
least :data:`~encore_jax.workflows.premise_verdict.MIN_DECIDED_PAIRS` pairs; each rule's
decisive accuracy gets its own interval from the same resamples.

Per weighting (``methods``, :mod:`~encore_jax.workflows.diagnose_methods`): accuracy over all
pairs (ties 1/2, scored as ``compare`` scores), tie rate and the difference from uniform
weights, with intervals from the same resamples; a file is read twice for these (the weights
need the first pass's sums).

Verdict rule and reasons: :mod:`encore_jax.workflows.premise_verdict`.

Groups: a missing group id (None, NaN or an empty string) is an error naming the rows.

Missing values: a rule's statistics use only the pairs where both ratings are observed;
nothing is filled. Shapes: ``N`` pairs, ``M`` calibration rows, ``K`` rules, ``L`` levels,
``B`` resamples.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from encore_jax import _checks
from encore_jax.agreement import merge_vote_patterns, rule_votes, vote_patterns
from encore_jax.entropy import entropy_from_counts
from encore_jax.metrics.summary import checked_rule_names
from encore_jax.workflows import poisson_bootstrap as pb
from encore_jax.workflows.diagnose_methods import MethodAccuracy, MethodTotals
from encore_jax.workflows.diagnose_weightings import (
    builtin_weights,
    describe_weightings,
    extra_weights,
    resolve_extra,
)
from encore_jax.workflows.pair_chunks import iter_pair_chunks
from encore_jax.workflows.premise_correlation import (
    CorrelationEstimate,
    PremiseCorrelation,
    premise_correlation,
)
from encore_jax.workflows.premise_verdict import (
    MIN_DECIDED_PAIRS,
    VERDICT_RULE,
    verdict_and_reasons,
)

__all__ = ["CorrelationEstimate", "MethodAccuracy", "PremiseCorrelation", "PremiseReport",
           "RuleDiagnosis", "diagnose_file", "diagnose_premise"]


class RuleDiagnosis(NamedTuple):
    """One rule's numbers (see the module docstring); ``decisive_accuracy`` is None when the
    rule ties on every pair it rated. ``weights``: weighting name -> this rule's weight.
    ``num_decided``: pairs it rated and did not tie; ``decisive_low`` / ``decisive_high``:
    the bootstrap interval of its decisive accuracy (None without a decided pair or with
    fewer than two bootstrap units)."""

    rule: str
    entropy: float
    tie_rate: float
    accuracy: float
    decisive_accuracy: float | None
    coverage: float
    num_rated: int
    encore_weight: float
    weights: Mapping[str, float]
    num_decided: int = 0
    decisive_low: float | None = None
    decisive_high: float | None = None


class PremiseReport(NamedTuple):
    """The premise check's result.

    Attributes:
      rules: one :class:`RuleDiagnosis` per rule, in input order.
      correlation: entropy vs accuracy, or None (fewer than 3 rules, or a constant column).
      decisive_correlation: entropy vs decisive accuracy over the rules that decide some
        pair, or None.
      premise_holds: the verdict (:data:`VERDICT_RULE`).
      reasons: sentences backed by the numbers above, most important first.
      protocol: what was computed how (sources, counts, missing values, bootstrap).
      weights: weighting name -> ``[K]`` weights.
      methods: one :class:`MethodAccuracy` per weighting (accuracy over all pairs, tie rate,
        difference from uniform, with intervals).
    """

    rules: tuple[RuleDiagnosis, ...]
    correlation: PremiseCorrelation | None
    decisive_correlation: PremiseCorrelation | None
    premise_holds: bool
    reasons: tuple[str, ...]
    protocol: Mapping[str, Any]
    weights: Mapping[str, tuple[float, ...]]
    methods: tuple[MethodAccuracy, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``rules`` (objects with ``rule, entropy, tie_rate, accuracy,
        decisive_accuracy, coverage, num_rated, encore_weight`` and ``<name>_weight`` per
        weighting), ``correlation``, ``decisive_correlation``, ``premise_holds``,
        ``reasons``, ``verdict_rule``, ``protocol``, ``weights``, ``methods``."""
        rules = []
        for r in self.rules:
            row = {key: getattr(r, key) for key in RuleDiagnosis._fields if key != "weights"}
            row.update({f"{name}_weight": w for name, w in r.weights.items()
                        if name != "encore"})
            rules.append(row)
        return _without_nan({
            "premise_holds": self.premise_holds,
            "reasons": list(self.reasons),
            "verdict_rule": self.protocol["verdict_rule"],
            "rules": rules,
            "correlation": None if self.correlation is None else self.correlation.to_dict(),
            "decisive_correlation": (None if self.decisive_correlation is None
                                     else self.decisive_correlation.to_dict()),
            "weights": {name: list(w) for name, w in self.weights.items()},
            "methods": [m.to_dict() for m in self.methods],
            "protocol": dict(self.protocol),
        })


def _without_nan(value: Any) -> Any:
    """``value`` with every float NaN (no interval) as None, so the JSON is standard."""
    if isinstance(value, dict):
        return {k: _without_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nan(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


# --------------------------------------------------------------------------------------------
# Sufficient statistics, accumulated chunk by chunk
# --------------------------------------------------------------------------------------------


def _level_counts(levels: np.ndarray, mask: np.ndarray, num_levels: int) -> np.ndarray:
    """``int64 [K, L]`` counts of each rule's levels where ``mask`` (exact, on the host: no
    compilation per number of rows); ``rating_histogram`` computes the same counts."""
    k = levels.shape[1]
    cells = levels.astype(np.int64) + num_levels * np.arange(k, dtype=np.int64)
    return np.bincount(cells[mask], minlength=k * num_levels).reshape(k, num_levels)


class _Totals:
    """Additive sums: point counts and their Poisson-bootstrap counterparts."""

    def __init__(self, key: jax.Array, num_rules: int, num_levels: int, num_resamples: int,
                 calibrated: bool) -> None:
        self.key, self.k, self.l, self.b = key, num_rules, num_levels, num_resamples
        self.calibrated = calibrated
        self.hist = np.zeros((num_rules, num_levels), np.int64)
        self.decisive_hist = np.zeros((num_rules, num_levels), np.int64)
        self.votes = (np.zeros((0, num_rules), np.int8), np.zeros(0, np.int64))  # agreement
        self.credit2 = np.zeros(num_rules, np.int64)   # 2 x credit (ties 1/2): exact integers
        self.ties = np.zeros(num_rules, np.int64)
        self.rated = np.zeros(num_rules, np.int64)
        self.boot_pairs = np.zeros((num_resamples, 3, num_rules))
        self.boot_hist = np.zeros((num_resamples, num_rules, num_levels))
        self.num_pairs = 0
        self.num_calibration_rows = 0
        self.group_ids: list[np.ndarray] = []

    def add_pairs(self, chosen: np.ndarray, rejected: np.ndarray, rated: np.ndarray,
                  groups: np.ndarray | None) -> None:
        n = chosen.shape[0]
        stream, ids = pb.unit_ids("groups", groups, self.num_pairs, n)
        if stream == "group":
            self.group_ids.append(np.unique(ids))
        self.num_pairs += n
        diffs = chosen.astype(np.int64) - rejected.astype(np.int64)
        self.credit2 += np.where(rated, 2 * (diffs > 0) + (diffs == 0), 0).sum(0)
        self.ties += np.where(rated, diffs == 0, False).sum(0)
        self.rated += rated.sum(0)
        decided = rated & (diffs != 0)
        self.decisive_hist += (_level_counts(chosen, decided, self.l)
                               + _level_counts(rejected, decided, self.l))
        self.votes = merge_vote_patterns(self.votes, vote_patterns(rule_votes(
            chosen, rejected, rated)))
        if not self.calibrated:
            self.hist += (_level_counts(chosen, rated, self.l)
                          + _level_counts(rejected, rated, self.l))
        pair_sums, hist = pb.weighted_sums(
            self.key, stream, ids, chosen, rejected, rated, self.l, self.b,
            with_hist=not self.calibrated)
        self.boot_pairs += pair_sums
        self.boot_hist += hist

    def add_calibration(self, ratings: np.ndarray, mask: np.ndarray,
                        groups: np.ndarray | None) -> None:
        n = ratings.shape[0]
        stream, ids = pb.unit_ids("calibration_groups", groups, self.num_calibration_rows, n)
        self.num_calibration_rows += n
        self.hist += _level_counts(ratings, mask, self.l)
        _, hist = pb.weighted_sums(self.key, stream, ids, ratings, None,
                                   mask, self.l, self.b, with_hist=True)
        self.boot_hist += hist

    def num_groups(self) -> int | None:
        if not self.group_ids:
            return None
        return int(np.unique(np.concatenate(self.group_ids)).size)


# --------------------------------------------------------------------------------------------
# From totals to the report
# --------------------------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("base", "estimator"))
def _boot_entropies(counts: jax.Array, base: float | None, estimator: str) -> jax.Array:
    """Entropies of the ``[B, K, L]`` bootstrap counts (module level: compiled once)."""
    return entropy_from_counts(counts, base=base, estimator=estimator)


def _percentiles(replicates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-column percentile interval of ``[B, K]`` replicates over their finite values
    (NaN where a column has none)."""
    tail = 100 * (1 - confidence) / 2
    low = np.full(replicates.shape[1], np.nan)
    high = np.full(replicates.shape[1], np.nan)
    for k in range(replicates.shape[1]):
        finite = replicates[np.isfinite(replicates[:, k]), k]
        if finite.size:
            low[k], high[k] = np.percentile(finite, [tail, 100 - tail])
    return low, high


def _all_weights(totals: _Totals, extra: Mapping[str, np.ndarray], temperature: float
                 ) -> dict[str, np.ndarray]:
    """Every weighting's ``[K]`` weights: the built-ins from the summed statistics, then the
    extra ones."""
    return {**builtin_weights(totals.hist, totals.ties, totals.rated, totals.decisive_hist,
                              temperature, totals.votes), **extra}


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1),
                        np.nan)


def _check_rated(totals: _Totals, names: Sequence[str]) -> None:
    empty = [names[k] for k in np.flatnonzero(totals.rated == 0)]
    if empty:
        raise ValueError(f"rule(s) {empty[:5]} rated no pair on both sides; their accuracy is "
                         "undefined (leave them out with rule_columns / --rule-columns)")


def _report(totals: _Totals, names: Sequence[str], all_weights: Mapping[str, np.ndarray],
            methods: MethodTotals, settings: Mapping[str, Any], protocol: dict[str, Any]
            ) -> PremiseReport:
    confidence, base, estimator = (settings["confidence"], settings["base"],
                                   settings["estimator"])
    num_groups = totals.num_groups()
    units = (num_groups, "groups") if num_groups is not None else (totals.num_pairs, "pairs")
    with_interval = units[0] >= 2
    entropies = np.asarray(entropy_from_counts(totals.hist, base=base, estimator=estimator),
                           np.float64)
    boot_entropies = np.asarray(_boot_entropies(totals.boot_hist.astype(np.float32), base,
                                                estimator), np.float64)
    accuracy = totals.credit2 / (2.0 * totals.rated)
    decided = totals.rated - totals.ties
    decisive_accuracy = _ratio((totals.credit2 - totals.ties) / 2.0, decided)
    credit, ties, rated = (totals.boot_pairs[:, j] for j in range(3))
    boot_accuracy = _ratio(credit, rated)
    boot_decisive = _ratio(credit - ties / 2.0, rated - ties)
    dec_low, dec_high = _percentiles(boot_decisive, confidence)
    encore = all_weights["encore"]

    def decisive_bound(k: int, bound: np.ndarray) -> float | None:
        ok = with_interval and decided[k] > 0 and np.isfinite(bound[k])
        return float(bound[k]) if ok else None

    rules = tuple(RuleDiagnosis(
        rule=names[k], entropy=float(entropies[k]),
        tie_rate=float(totals.ties[k] / totals.rated[k]), accuracy=float(accuracy[k]),
        decisive_accuracy=None if decided[k] == 0 else float(decisive_accuracy[k]),
        coverage=float(totals.rated[k] / totals.num_pairs), num_rated=int(totals.rated[k]),
        encore_weight=float(encore[k]),
        weights={n: float(w[k]) for n, w in all_weights.items()},
        num_decided=int(decided[k]), decisive_low=decisive_bound(k, dec_low),
        decisive_high=decisive_bound(k, dec_high)) for k in range(len(names)))
    corr = premise_correlation(names, entropies, accuracy, boot_entropies, boot_accuracy,
                               confidence, with_interval)
    keep = np.flatnonzero(decided >= MIN_DECIDED_PAIRS)
    decisive = premise_correlation([names[k] for k in keep], entropies[keep],
                                   decisive_accuracy[keep], boot_entropies[:, keep],
                                   boot_decisive[:, keep], confidence, with_interval)
    method_scores = methods.result(confidence, with_interval)
    holds, reasons = verdict_and_reasons(rules, corr, decisive, confidence,
                                         settings["rare_tie_rate"], *units)
    protocol.update({
        "verdict_rule": VERDICT_RULE.format(confidence=confidence),
        "num_pairs": totals.num_pairs, "num_groups": num_groups,
        "num_calibration_rows": totals.num_calibration_rows if totals.calibrated else None,
        "missing_values": "a rule's statistics use only the pairs where it rated both "
                          "responses (coverage = that share); nothing is filled; a "
                          "weighting's margin adds nothing for a missing rating",
        "bootstrap": (f"Poisson(1) bootstrap, {totals.b} resamples, resampling whole "
                      f"{units[1]}" + ("; calibration rows share their group's weight"
                                       if totals.calibrated and num_groups is not None else "")
                      + "; percentile interval"
                      + ("" if with_interval else "; fewer than 2 units: no interval")),
        "num_resamples": totals.b, "confidence": confidence,
        "temperature": settings["temperature"], "base": base, "estimator": estimator,
        "accuracy": "ties count 1/2; decisive accuracy counts only the pairs not tied",
        "methods": "each weighting's certified margins over all pairs (ties 1/2, as "
                   "compare scores), its tie rate and its difference from uniform, on the "
                   "same resamples",
        "min_decided_pairs": MIN_DECIDED_PAIRS,
        "rule_permutation_test": "two-sided, over the orders of the rules' accuracies "
                                 "against their entropies: exact (all K!) for K <= 8, else "
                                 "10,000 random orders (seed 0)",
        "rare_tie_rate": settings["rare_tie_rate"],
    })
    return PremiseReport(rules, corr, decisive, holds, tuple(reasons), protocol,
                         {n: tuple(float(x) for x in w) for n, w in all_weights.items()},
                         method_scores)


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def _settings(num_levels: int, temperature: float, num_resamples: int, confidence: float,
              base: float | None, estimator: str, rare_tie_rate: float) -> dict[str, Any]:
    _checks.check_num_levels(num_levels)
    _checks.check_temperature(temperature)
    _checks.check_positive_int("num_resamples", num_resamples)
    if not (isinstance(confidence, float | int) and 0 < confidence < 1):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    _checks.check_base(base)
    _checks.check_choice("estimator", estimator, _checks.ESTIMATORS)
    if not (isinstance(rare_tie_rate, float | int) and 0 <= rare_tie_rate < 1):
        raise ValueError(f"rare_tie_rate must be in [0, 1), got {rare_tie_rate!r}")
    return {"temperature": float(temperature), "confidence": float(confidence), "base": base,
            "estimator": estimator, "rare_tie_rate": float(rare_tie_rate)}


def _groups(name: str, groups: Any, n: int) -> np.ndarray | None:
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {groups.shape}")
    pb.unit_ids(name, groups, 0, n)   # a missing id is an error naming the rows
    return groups


def diagnose_premise(
    key: jax.Array,
    chosen: Any,
    rejected: Any,
    num_levels: int,
    *,
    mask: Any = None,
    groups: Any = None,
    calibration: Any = None,
    calibration_mask: Any = None,
    calibration_groups: Any = None,
    rule_names: Sequence[str] | None = None,
    weightings: Mapping[str, Any] | None = None,
    temperature: float = 2.0,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    base: float | None = None,
    estimator: str = "plugin",
    rare_tie_rate: float = 0.9,
) -> PremiseReport:
    """Does ENCORE's premise (lower entropy, higher accuracy) hold on these rated pairs?

    See the module docstring for every number and the verdict rule.

    Args:
      key: PRNG key of the bootstrap (and of the fair-coin order of unlabelled pairs given to
        weightings).
      chosen, rejected: integer levels ``[N, K]`` in ``0..L-1`` of the preferred / other
        response of each pair.
      num_levels: ``L``.
      mask: boolean ``[N, K]``, True = the rule rated both responses (default all).
      groups: ``[N]`` group ids (e.g. prompt ids); the bootstrap resamples whole groups.
        Default: single pairs. A missing id (None, NaN, empty string) is an error naming the
        rows.
      calibration, calibration_mask: separate ratings ``[M, K]`` (and their mask) for the
        entropies, e.g. one row per response; default: pooled chosen and rejected ratings of
        the rated pairs.
      calibration_groups: ``[M]`` group ids of the calibration rows (the same ids as
        ``groups``): a resampled group brings its calibration rows along. Default: the rows
        are resampled on their own.
      rule_names: ``K`` names (default ``rule_0..``).
      weightings: extra weightings (name -> function of the weighting data, or a spec
        string), reported next to the built-in ones
        (:func:`encore_jax.weightings.builtin_weightings`) and scored in ``methods``; a
        built-in under its own name is a selection (reported anyway), any other clash an
        error. They see only label-free data
        (:func:`encore_jax.workflows.methods.label_free_data`); an exception inside one is a
        :class:`~encore_jax.workflows.methods.WeightingError` naming it.
      temperature: ENCORE's ``tau``.
      num_resamples, confidence: ``B`` and the interval level.
      base, estimator: of the entropy (natural log and plug-in by default; ``base`` must be
        > 1).
      rare_tie_rate: a lower-entropy rule that ties on more than this share of its pairs is
        reported as a rare flag.

    Returns:
      :class:`PremiseReport`.
    """
    settings = _settings(num_levels, temperature, num_resamples, confidence, base, estimator,
                         rare_tie_rate)
    chosen_np = np.asarray(chosen)
    chosen_np, rated = _checks.level_matrix("chosen", chosen_np, mask, num_levels, None)
    rejected_np, _ = _checks.level_matrix("rejected", rejected, mask, num_levels,
                                          chosen_np.shape)
    n, k = chosen_np.shape
    if n == 0 or k == 0:
        raise ValueError(f"chosen needs at least one pair and one rule, got {chosen_np.shape}")
    names = checked_rule_names(rule_names, k)
    group_ids = _groups("groups", groups, n)
    calibrated = calibration is not None
    totals = _Totals(key, k, num_levels, num_resamples, calibrated)
    totals.add_pairs(chosen_np, rejected_np, rated, group_ids)
    extra = resolve_extra(weightings, temperature)
    if calibrated:
        cal, cal_mask = _checks.level_matrix("calibration", calibration, calibration_mask,
                                             num_levels, chosen_np.shape)
        totals.add_calibration(cal, cal_mask, _groups("calibration_groups", calibration_groups,
                                                      cal.shape[0]))
        weight_ratings, weight_mask = cal, cal_mask
    else:
        weight_ratings = weight_mask = None   # the pairs' own ratings, label-free
    _check_rated(totals, names)
    weights = _all_weights(totals, extra_weights(key, weight_ratings, weight_mask, num_levels,
                                                 chosen_np, rejected_np, rated, extra),
                           settings["temperature"])
    methods = MethodTotals(key, weights, num_resamples)
    methods.add(chosen_np, rejected_np, rated, *pb.unit_ids("groups", group_ids, 0, n))
    protocol = {"pairs_source": "arrays",
                "entropy_source": "calibration ratings" if calibrated else
                "chosen and rejected ratings of the rated pairs, pooled",
                "weightings": describe_weightings(extra)}
    return _report(totals, names, weights, methods, settings, protocol)


def diagnose_file(
    path: str | Path,
    num_levels: int,
    *,
    key: jax.Array | None = None,
    group_column: str | None = None,
    calibration_path: str | Path | None = None,
    calibration_group_column: str | None = None,
    chunk_rows: int = 65536,
    rule_columns: Sequence[str] | None = None,
    mask_value: float | None = None,
    bin_range: tuple[float, float] | None = None,
    file_format: str | None = None,
    calibration_format: str | None = None,
    chosen_prefix: str = "chosen_",
    rejected_prefix: str = "rejected_",
    exclude: Sequence[str] | None = None,
    weightings: Mapping[str, Any] | None = None,
    temperature: float = 2.0,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    base: float | None = None,
    estimator: str = "plugin",
    rare_tie_rate: float = 0.9,
    progress: Any = None,
) -> PremiseReport:
    """:func:`diagnose_premise` on a pairs file, streamed in chunks of ``chunk_rows`` rows.

    Memory is ``O(chunk_rows * K + B * K * L)`` whatever the number of pairs: every
    statistic, its bootstrap counterpart and the statistics of the built-in weightings are
    sums over pairs; the one exception is the agreement weightings' table of distinct vote
    patterns, ``O(P K)`` with ``P <= min(N, (3^K - 1) / 2)`` patterns. The result equals
    :func:`diagnose_premise` on the same arrays with the same key (group weights depend only
    on the key and the group id; ungrouped pairs are identified by their row number).

    Args:
      path: pairs in the wide pairs layout (``chosen_<rule>`` / ``rejected_<rule>``), CSV,
        JSONL or parquet.
      num_levels: ``L``.
      key: PRNG key (default ``jax.random.key(0)``).
      group_column: a column of group ids (e.g. the prompt) resampled as a whole.
      calibration_path: a wide ratings file (one row per response, a column per rule, named
        as the rules) whose level counts give the entropies; streamed too.
      calibration_group_column: its group column (same ids as ``group_column``).
      chunk_rows, rule_columns, mask_value, bin_range, file_format, calibration_format,
        chosen_prefix, rejected_prefix, exclude: as the :mod:`encore_jax.io` readers
        (``rule_columns`` without the prefixes).
      weightings: extra weightings; they take whole arrays, so with any, the ratings they
        see (calibration, else the pairs) are held in memory.
      progress: optional wrapper of the chunk iterator (e.g. a progress bar).
      Others: as :func:`diagnose_premise`.
    """
    settings = _settings(num_levels, temperature, num_resamples, confidence, base, estimator,
                         rare_tie_rate)
    key = jax.random.key(0) if key is None else key
    extra = resolve_extra(weightings, temperature)
    names, chunks = iter_pair_chunks(path, num_levels, chunk_rows=chunk_rows,
                                     group_column=group_column, rule_columns=rule_columns,
                                     mask_value=mask_value, bin_range=bin_range,
                                     file_format=file_format, chosen_prefix=chosen_prefix,
                                     rejected_prefix=rejected_prefix, exclude=exclude)
    k = len(names)
    calibrated = calibration_path is not None
    totals = _Totals(key, k, num_levels, num_resamples, calibrated)
    keep_arrays = bool(extra)
    kept: dict[str, list[np.ndarray]] = {"c": [], "r": [], "m": [], "cal": [], "calm": []}
    for chunk in (chunks if progress is None else progress(chunks)):
        totals.add_pairs(chunk.chosen, chunk.rejected, chunk.rated, chunk.groups)
        if keep_arrays:
            kept["c"].append(chunk.chosen)
            kept["r"].append(chunk.rejected)
            kept["m"].append(chunk.rated)
    if calibrated:
        from encore_jax.io import iter_rating_chunks

        for table in iter_rating_chunks(
                calibration_path, chunk_rows=chunk_rows, mask_value=mask_value,
                rule_columns=names, id_column=calibration_group_column,
                num_levels=num_levels, bin_range=bin_range, file_format=calibration_format):
            totals.add_calibration(table.ratings, table.mask,
                                   table.ids if calibration_group_column else None)
            if keep_arrays:
                kept["cal"].append(table.ratings)
                kept["calm"].append(table.mask)
    if keep_arrays:
        c, r, m = (np.concatenate(kept[x]) for x in ("c", "r", "m"))
        ratings, mask = ((np.concatenate(kept["cal"]), np.concatenate(kept["calm"]))
                         if calibrated else (None, None))
        extra_w = extra_weights(key, ratings, mask, num_levels, c, r, m, extra)
    else:
        extra_w = {}
    _check_rated(totals, list(names))
    weights = _all_weights(totals, extra_w, settings["temperature"])
    # Second pass: the weights need the first pass's sums; the margins need the pairs again.
    methods = MethodTotals(key, weights, num_resamples)
    _, again = iter_pair_chunks(path, num_levels, chunk_rows=chunk_rows,
                                group_column=group_column, rule_columns=rule_columns,
                                mask_value=mask_value, bin_range=bin_range,
                                file_format=file_format, chosen_prefix=chosen_prefix,
                                rejected_prefix=rejected_prefix)
    first_row = 0
    for chunk in (again if progress is None else progress(again)):
        n_chunk = chunk.chosen.shape[0]
        methods.add(chunk.chosen, chunk.rejected, chunk.rated,
                    *pb.unit_ids("groups", chunk.groups, first_row, n_chunk))
        first_row += n_chunk
    protocol = {"pairs_source": str(path), "group_column": group_column,
                "entropy_source": f"calibration ratings {calibration_path}" if calibrated else
                "chosen and rejected ratings of the rated pairs, pooled",
                "chunk_rows": chunk_rows, "weightings": describe_weightings(extra),
                "passes": 2}
    return _report(totals, list(names), weights, methods, settings, protocol)
