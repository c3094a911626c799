"""Deprecated: moved to :mod:`encore_jax.workflows.streaming` (re-exported for one release)."""

from encore_jax.workflows.streaming import *  # noqa: F403
from encore_jax.workflows.streaming import __all__  # noqa: F401
