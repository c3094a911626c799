"""encore-jax: compose multi-head safety reward models in JAX.

The public API, re-exported lazily: ``import encore_jax`` imports no JAX, and the first
access to ``encore_jax.<name>`` imports the module that defines it (PEP 562). Shapes: ``N``
pairs or responses, ``K`` rules, ``L`` rating levels.

To export a new name, add it in three places (tests/test_cli_startup.py checks they agree):
``_EXPORTS`` (its defining module), ``__all__`` (a literal list, as type checkers want) and
the ``TYPE_CHECKING`` imports at the end (which type checkers and IDEs read instead).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from encore_jax._version import __version__ as __version__  # re-exported

#: module (relative to this package) -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "bradley_terry": ("BTFit", "bt_gradient", "bt_loss", "fit_bt_weights"),
    "compose": ("compose", "margins_from_differences", "pair_margins"),
    "io": (
        "DataError",
        "MissingCounts",
        "PairTable",
        "RatingTable",
        "iter_rating_chunks",
        "read_rating_pairs",
        "read_ratings",
        "read_scores",
        "trl_reward_config",
        "write_table",
    ),
    "entropy": ("discretize", "entropy_from_counts", "rating_entropy", "rating_histogram"),
    "metrics": (
        "BootstrapCI",
        "Correlation",
        "SafetyScore",
        "bootstrap_ci",
        "entropy_accuracy_correlation",
        "pair_credit",
        "pairwise_accuracy",
        "rewardbench_safety",
        "rule_summary",
    ),
    "selection": ("all_rules", "label_pairs", "random_rule_selection", "select_rules"),
    "simulate": ("RuleEnsemble", "simulate_rule_ensemble"),
    "workflows.streaming": (
        "compose_to_file",
        "iter_composite_scores",
        "streaming_rating_entropy",
        "streaming_rating_histogram",
    ),
    "weights": (
        "encore_weights",
        "entropy_weights",
        "lowest_entropy_weights",
        "random_weights",
        "single_rule_weights",
        "uniform_weights",
    ),
    "datasets": ("load_oasst1",),
    "weightings": (
        "WeightingData",
        "apply_weightings",
        "builtin_weightings",
        "resolve_weighting",
        "unlabelled_pairs",
    ),
    "workflows": (
        "ComparisonReport",
        "Pairs",
        "PremiseReport",
        "compare_methods",
        "diagnose_file",
        "diagnose_premise",
        "holdout_split",
    ),
}

#: public name -> defining module (the inverse of ``_EXPORTS``).
_MODULE_OF: dict[str, str] = {
    name: module for module, names in _EXPORTS.items() for name in names
}

__all__ = [
    "BTFit",
    "BootstrapCI",
    "ComparisonReport",
    "Correlation",
    "DataError",
    "MissingCounts",
    "PairTable",
    "Pairs",
    "PremiseReport",
    "RatingTable",
    "RuleEnsemble",
    "SafetyScore",
    "WeightingData",
    "all_rules",
    "apply_weightings",
    "bootstrap_ci",
    "bt_gradient",
    "bt_loss",
    "builtin_weightings",
    "compare_methods",
    "compose",
    "compose_to_file",
    "diagnose_file",
    "diagnose_premise",
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
    "load_oasst1",
    "lowest_entropy_weights",
    "margins_from_differences",
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
    "resolve_weighting",
    "rewardbench_safety",
    "rule_summary",
    "select_rules",
    "simulate_rule_ensemble",
    "single_rule_weights",
    "streaming_rating_entropy",
    "streaming_rating_histogram",
    "trl_reward_config",
    "uniform_weights",
    "unlabelled_pairs",
    "write_table",
]


def __getattr__(name: str) -> Any:
    """Imports ``name``'s module on first access and caches the value in this module."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later accesses skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """This package's module type: a public name beats a submodule of the same name.

    The import system binds every loaded submodule as an attribute of its package, so
    importing ``encore_jax.compose`` (the module) would otherwise shadow the exported
    function ``encore_jax.compose``; this binds the function instead, as eager re-exports did.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if (
            isinstance(value, types.ModuleType)
            and _MODULE_OF.get(name) == name
            and value.__name__ == f"{__name__}.{name}"
        ):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:
    from encore_jax.bradley_terry import BTFit, bt_gradient, bt_loss, fit_bt_weights
    from encore_jax.compose import compose, margins_from_differences, pair_margins
    from encore_jax.datasets import load_oasst1
    from encore_jax.entropy import (
        discretize,
        entropy_from_counts,
        rating_entropy,
        rating_histogram,
    )
    from encore_jax.io import (
        DataError,
        MissingCounts,
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
    from encore_jax.selection import (
        all_rules,
        label_pairs,
        random_rule_selection,
        select_rules,
    )
    from encore_jax.simulate import RuleEnsemble, simulate_rule_ensemble
    from encore_jax.weightings import (
        WeightingData,
        apply_weightings,
        builtin_weightings,
        resolve_weighting,
        unlabelled_pairs,
    )
    from encore_jax.weights import (
        encore_weights,
        entropy_weights,
        lowest_entropy_weights,
        random_weights,
        single_rule_weights,
        uniform_weights,
    )
    from encore_jax.workflows import (
        ComparisonReport,
        Pairs,
        PremiseReport,
        compare_methods,
        diagnose_file,
        diagnose_premise,
        holdout_split,
    )
    from encore_jax.workflows.streaming import (
        compose_to_file,
        iter_composite_scores,
        streaming_rating_entropy,
        streaming_rating_histogram,
    )
