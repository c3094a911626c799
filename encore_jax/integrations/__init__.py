"""Bridges to training libraries (optional; none of them is a dependency).

:mod:`encore_jax.integrations.trl`: reward functions for TRL's GRPO trainer built from a
saved weights JSON.
"""
