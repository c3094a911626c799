"""encore-jax: compose multi-head safety reward models in JAX.

The public API, re-exported explicitly. Shapes: ``N`` pairs or responses, ``K`` rules,
``L`` rating levels.
"""

from encore_jax.bradley_terry import BTFit, bt_gradient, bt_loss, fit_bt_weights
from encore_jax.comparison import Pairs, compare_methods, holdout_split
from encore_jax.compose import compose, pair_margins
from encore_jax.entropy import discretize, entropy_from_counts, rating_entropy, rating_histogram
from encore_jax.io import (
    DataError,
    PairTable,
    RatingTable,
    iter_rating_chunks,
    read_rating_pairs,
    read_ratings,
    read_scores,
    trl_reward_config,
    write_table,
)
from encore_jax.metrics import (
    BootstrapCI,
    Correlation,
    SafetyScore,
    bootstrap_ci,
    entropy_accuracy_correlation,
    pair_credit,
    pairwise_accuracy,
    rewardbench_safety,
    rule_summary,
)
from encore_jax.selection import all_rules, label_pairs, random_rule_selection, select_rules
from encore_jax.simulate import RuleEnsemble, simulate_rule_ensemble
from encore_jax.weights import (
    encore_weights,
    entropy_weights,
    lowest_entropy_weights,
    random_weights,
    single_rule_weights,
    uniform_weights,
)
from encore_jax.workflows.streaming import (
    compose_to_file,
    iter_composite_scores,
    streaming_rating_entropy,
    streaming_rating_histogram,
)

__version__ = "0.1.0"

__all__ = [
    "BTFit",
    "BootstrapCI",
    "Correlation",
    "DataError",
    "PairTable",
    "Pairs",
    "RatingTable",
    "RuleEnsemble",
    "SafetyScore",
    "all_rules",
    "bootstrap_ci",
    "bt_gradient",
    "bt_loss",
    "compare_methods",
    "compose",
    "compose_to_file",
    "discretize",
    "encore_weights",
    "entropy_accuracy_correlation",
    "entropy_from_counts",
    "entropy_weights",
    "fit_bt_weights",
    "holdout_split",
    "iter_composite_scores",
    "iter_rating_chunks",
    "label_pairs",
    "lowest_entropy_weights",
    "pair_credit",
    "pair_margins",
    "pairwise_accuracy",
    "random_rule_selection",
    "random_weights",
    "rating_entropy",
    "rating_histogram",
    "read_rating_pairs",
    "read_ratings",
    "read_scores",
    "rewardbench_safety",
    "rule_summary",
    "select_rules",
    "simulate_rule_ensemble",
    "single_rule_weights",
    "streaming_rating_entropy",
    "streaming_rating_histogram",
    "trl_reward_config",
    "uniform_weights",
    "write_table",
]
