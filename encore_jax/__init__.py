"""encore-jax: compose multi-head safety reward models in JAX.

The public face: the 30 names a reader of the README needs (the core functions, their result
types and the file entry points), re-exported lazily: ``import encore_jax`` imports no JAX,
and the first access to ``encore_jax.<name>`` imports the module that defines it (PEP 562).
Everything else is imported from its module (``from encore_jax.compose import compose``,
``from encore_jax.weights import uniform_weights``, ``from encore_jax.mesh import
shard_rows``, ...). Submodules are plain modules: ``encore_jax.<module>`` (e.g.
``encore_jax.compose``) is the module, imported on first access. Shapes: ``N`` pairs or
responses, ``K`` rules, ``L`` rating levels.

To export a name, add it in three places (tests/test_cli_startup.py checks they agree):
``_EXPORTS`` (its defining module), ``__all__`` (a literal list, as type checkers want) and
the ``TYPE_CHECKING`` imports at the end (which type checkers and IDEs read instead); and keep
``__all__`` at 30 names or fewer (tests/test_public_api.py).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from encore_jax._version import __version__ as __version__  # re-exported

#: module (relative to this package) -> the public names it defines.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "bradley_terry": ("BTFit", "bt_gradient", "bt_loss", "fit_bt_weights"),
    "compose": ("pair_margins",),
    "datasets": ("load_oasst1",),
    "entropy": ("discretize", "entropy_from_counts", "rating_entropy", "rating_histogram"),
    "io": ("DataError", "read_rating_pairs", "read_ratings", "read_scores"),
    "metrics.accuracy": ("pairwise_accuracy",),
    "metrics.bootstrap": ("BootstrapCI", "bootstrap_ci"),
    "selection": ("label_pairs", "random_rule_selection", "select_rules"),
    "simulate": ("simulate_rule_ensemble",),
    "weights": ("encore_weights", "entropy_weights"),
    "workflows.compare": ("ComparisonReport", "compare_methods"),
    "workflows.diagnose": ("PremiseReport", "diagnose_file", "diagnose_premise"),
    "workflows.protocol": ("Pairs",),
    "workflows.streaming": ("streaming_rating_entropy",),
}

#: public name -> defining module (the inverse of ``_EXPORTS``).
_MODULE_OF: dict[str, str] = {
    name: module for module, names in _EXPORTS.items() for name in names
}

__all__ = [
    "BTFit",
    "BootstrapCI",
    "ComparisonReport",
    "DataError",
    "Pairs",
    "PremiseReport",
    "bootstrap_ci",
    "bt_gradient",
    "bt_loss",
    "compare_methods",
    "diagnose_file",
    "diagnose_premise",
    "discretize",
    "encore_weights",
    "entropy_from_counts",
    "entropy_weights",
    "fit_bt_weights",
    "label_pairs",
    "load_oasst1",
    "pair_margins",
    "pairwise_accuracy",
    "random_rule_selection",
    "rating_entropy",
    "rating_histogram",
    "read_rating_pairs",
    "read_ratings",
    "read_scores",
    "select_rules",
    "simulate_rule_ensemble",
    "streaming_rating_entropy",
]


def __getattr__(name: str) -> Any:
    """Imports ``name``'s defining module (or the submodule ``name``) on first access and
    caches the value in this module."""
    module = _MODULE_OF.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    elif not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}"):
        value = importlib.import_module(f"{__name__}.{name}")  # a submodule, as a module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later accesses skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from encore_jax.bradley_terry import BTFit, bt_gradient, bt_loss, fit_bt_weights
    from encore_jax.compose import pair_margins
    from encore_jax.datasets import load_oasst1
    from encore_jax.entropy import (
        discretize,
        entropy_from_counts,
        rating_entropy,
        rating_histogram,
    )
    from encore_jax.io import DataError, read_rating_pairs, read_ratings, read_scores
    from encore_jax.metrics.accuracy import pairwise_accuracy
    from encore_jax.metrics.bootstrap import BootstrapCI, bootstrap_ci
    from encore_jax.selection import label_pairs, random_rule_selection, select_rules
    from encore_jax.simulate import simulate_rule_ensemble
    from encore_jax.weights import encore_weights, entropy_weights
    from encore_jax.workflows.compare import ComparisonReport, compare_methods
    from encore_jax.workflows.diagnose import PremiseReport, diagnose_file, diagnose_premise
    from encore_jax.workflows.protocol import Pairs
    from encore_jax.workflows.streaming import streaming_rating_entropy
