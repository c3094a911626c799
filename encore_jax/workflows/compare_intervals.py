"""The intervals of :func:`~encore_jax.workflows.compare.compare_methods` beyond one row's
accuracy: paired differences under both tie rules, the RewardBench Safety aggregate, the
entropy-accuracy correlation, and the JSON helpers of the report.

Symbols: ``R`` reported rows, ``N`` eval pairs, ``B`` resamples. A row's per-pair credit
is ``s_ri = win_ri + c tie_ri`` with ``c`` the credit of a tie (1/2 for ``tie="half"``, 0
for ``"loss"``); a paired difference ``baseline - row`` is the mean of ``s_bi - s_ri``.
Under ties 1/2 it exceeds the difference under ties as losses by exactly half the
difference of the two rows' tie rates, ``(t_b - t_r) / 2``: that is the part of the
difference the tie rule decides.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from encore_jax.metrics.bootstrap import percentile_interval
from encore_jax.metrics.correlation import entropy_accuracy_correlation
from encore_jax.metrics.rewardbench import REWARDBENCH_SAFETY_SUBSETS, rewardbench_safety
from encore_jax.workflows.row_bootstrap import HostCI, paired_differences

__all__ = ["correlation_report", "floats", "interval", "jsonable", "safety_intervals",
           "tie_rule_differences"]


def interval(estimate: Any, low: Any, high: Any) -> dict[str, float]:
    """``{estimate, low, high}`` as floats."""
    return {"estimate": float(estimate), "low": float(low), "high": float(high)}


def row_interval(ci: HostCI, r: int) -> dict[str, float]:
    """Row ``r`` of ``ci`` as :func:`interval`."""
    return interval(ci.estimate[r], ci.low[r], ci.high[r])


def tie_rule_differences(key: Any, credits: dict[str, np.ndarray], baseline: int, *,
                         num_resamples: int, confidence: float,
                         clusters: np.ndarray | None) -> dict[str, HostCI]:
    """``baseline - row`` for every row under each tie rule of ``credits`` (``{"half":
    [R, N], "loss": [R, N]}`` per-pair credits), bootstrapped with one ``key`` (so the two
    rules' intervals use the same resamples)."""
    return {rule: paired_differences(key, values, baseline, num_resamples=num_resamples,
                                     confidence=confidence, clusters=clusters)
            for rule, values in credits.items()}


def groups_nest_in(groups: np.ndarray | None, subsets: np.ndarray | None) -> bool:
    """Whether every group's pairs share one subset (trivially true without groups)."""
    if groups is None or subsets is None:
        return True
    _, code = np.unique(subsets, return_inverse=True)
    per_group = {}
    for g, s in zip(groups.tolist(), code.tolist(), strict=True):
        if per_group.setdefault(g, s) != s:
            return False
    return True


def safety_intervals(per_subset: dict[str, tuple[HostCI, int]], num_rows: int,
                     safety_counts: Any, confidence: float, *, resampled: bool
                     ) -> tuple[list[dict[str, float] | None], dict[str, Any]]:
    """Each row's RewardBench Safety aggregate with its interval (stratified: the subsets'
    independent replicates are aggregated replicate by replicate), and the count table.

    ``resampled`` False (groups that cross subsets, so the subsets' resamples are not
    independent): the estimate only, ``low`` and ``high`` None."""
    point = rewardbench_safety({s: per_subset[s][0].estimate for s in per_subset},
                               safety_counts)
    score = np.asarray(point.score)
    report = {"counts_version": point.counts_version, "counts": point.counts,
              "subsets": list(REWARDBENCH_SAFETY_SUBSETS)}
    if not resampled:
        report["interval"] = ("omitted: some groups have pairs in several subsets, so the "
                              "subsets cannot be resampled independently")
        return [{"estimate": float(score[r]), "low": None, "high": None}
                for r in range(num_rows)], report
    replicated = rewardbench_safety({s: per_subset[s][0].replicates for s in per_subset},
                                    safety_counts)
    low, high = (np.asarray(x) for x in percentile_interval(
        np.asarray(replicated.score, np.float32), confidence))
    return [interval(score[r], low[r], high[r]) for r in range(num_rows)], report


def correlation_report(entropies: Any, rules: list[dict[str, Any]],
                       confidence: float) -> dict[str, Any]:
    """The entropy-accuracy correlation over the rules (``available`` False with the reason
    when it is undefined)."""
    accuracies = np.array([r["accuracy"] for r in rules], np.float32)
    try:
        c = entropy_accuracy_correlation(entropies, accuracies, confidence=confidence)
    except ValueError as err:
        return {"available": False, "reason": str(err)}
    return {
        "available": True,
        "num_rules": c.num_rules,
        "pearson": interval(c.pearson, c.pearson_low, c.pearson_high)
        | {"pvalue": float(c.pearson_pvalue)},
        "spearman": interval(c.spearman, c.spearman_low, c.spearman_high)
        | {"pvalue": float(c.spearman_pvalue)},
        "accuracy": "per-rule eval accuracy, tie policy as rule_tie",
    }


def floats(x: Any) -> list[float]:
    """A flat list of floats."""
    return [float(v) for v in np.asarray(x).reshape(-1)]


def jsonable(value: Any) -> Any:
    """Scalars as they are, anything else as its ``repr``."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return repr(value)
