"""Workflows over files and tables, built on the core array functions and I/O.

* :mod:`~encore_jax.workflows.protocol`: rated pairs and the train / eval split.
* :mod:`~encore_jax.workflows.methods`: the weightings compared, as weight rows.
* :mod:`~encore_jax.workflows.compare`: :func:`compare_methods`, ENCORE against baselines.
* :mod:`~encore_jax.workflows.diagnose` (and its helpers): the premise check.
* :mod:`~encore_jax.workflows.streaming`: streaming counts and entropies, compose to a file.
* :mod:`~encore_jax.workflows.file_weights`: entropies and weights of a ratings file.

The names below are imported on first access (PEP 562), so importing one workflow module
does not import the others.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DEFAULT_TEMPERATURES": "compare",
    "ComparisonReport": "compare",
    "compare_methods": "compare",
    "PremiseReport": "diagnose",
    "diagnose_file": "diagnose",
    "diagnose_premise": "diagnose",
    "Pairs": "protocol",
    "holdout_split": "protocol",
}

__all__ = ["DEFAULT_TEMPERATURES", "ComparisonReport", "Pairs", "PremiseReport",
           "compare_methods", "diagnose_file", "diagnose_premise", "holdout_split"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
