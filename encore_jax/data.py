"""Deprecated: the readers and writers moved to :mod:`encore_jax.io` (this module re-exports
them for one release; import from ``encore_jax`` or ``encore_jax.io`` instead)."""

from encore_jax.io import *  # noqa: F403
from encore_jax.io import __all__  # noqa: F401
