"""Workflows over files and tables, built on the core array functions and I/O.

* :mod:`~encore_jax.workflows.protocol`: rated pairs and the train / eval split.
* :mod:`~encore_jax.workflows.methods`: the weightings compared, as weight rows.
* :mod:`~encore_jax.workflows.compare`: :func:`compare_methods`, ENCORE against baselines.
"""

from encore_jax.workflows.compare import DEFAULT_TEMPERATURES, ComparisonReport, compare_methods
from encore_jax.workflows.protocol import Pairs, holdout_split

__all__ = [
    "DEFAULT_TEMPERATURES", "ComparisonReport", "Pairs", "compare_methods", "holdout_split",
]
