"""The package version (one place: ``encore_jax.__version__`` and output metadata read it)."""

__version__ = "0.1.0"
