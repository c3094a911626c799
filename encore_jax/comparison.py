"""Deprecated alias of :mod:`encore_jax.workflows` (kept for one release).

``compare_methods``, ``holdout_split``, ``Pairs`` and ``DEFAULT_TEMPERATURES`` now live in
:mod:`encore_jax.workflows.compare` and :mod:`encore_jax.workflows.protocol`; import them from
there or from :mod:`encore_jax`.
"""

import warnings

from encore_jax.workflows.compare import DEFAULT_TEMPERATURES, compare_methods
from encore_jax.workflows.protocol import Pairs, holdout_split

__all__ = ["DEFAULT_TEMPERATURES", "Pairs", "compare_methods", "holdout_split"]

warnings.warn(
    "encore_jax.comparison is deprecated; import from encore_jax.workflows (or encore_jax)",
    DeprecationWarning, stacklevel=2,
)
