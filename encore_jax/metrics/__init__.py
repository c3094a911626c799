"""Evaluation metrics, one module per idea.

* :mod:`~encore_jax.metrics.accuracy`: per-pair credit and pairwise accuracy under a tie policy.
* :mod:`~encore_jax.metrics.bootstrap`: percentile bootstrap intervals (:class:`BootstrapCI`).
* :mod:`~encore_jax.metrics.correlation`: the entropy-accuracy correlation across rules.
* :mod:`~encore_jax.metrics.rewardbench`: RewardBench v1's Safety subsets, counts and score.
* :mod:`~encore_jax.metrics.summary`: the per-rule summary table.
"""

from encore_jax._checks import validated_pairs
from encore_jax.metrics.accuracy import pair_credit, pairwise_accuracy
from encore_jax.metrics.bootstrap import BootstrapCI, bootstrap_ci, masked_mean
from encore_jax.metrics.correlation import Correlation, entropy_accuracy_correlation
from encore_jax.metrics.rewardbench import (
    REWARDBENCH_SAFETY_COUNTS,
    REWARDBENCH_SAFETY_SUBSETS,
    SafetyScore,
    rewardbench_safety,
)
from encore_jax.metrics.summary import RuleRow, rule_summary

__all__ = [
    "REWARDBENCH_SAFETY_COUNTS",
    "REWARDBENCH_SAFETY_SUBSETS",
    "BootstrapCI",
    "RuleRow",
    "Correlation",
    "SafetyScore",
    "bootstrap_ci",
    "entropy_accuracy_correlation",
    "masked_mean",
    "pair_credit",
    "pairwise_accuracy",
    "rewardbench_safety",
    "rule_summary",
    "validated_pairs",
]
