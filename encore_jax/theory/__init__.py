"""Numerical checks of the theorems behind ENCORE and RuleAdapter (statements: THEORY.md).

Each check module has ``run(out_dir=None, ..., force=False)`` returning its report dict and a
``main(argv)`` for ``python -m encore_jax.theory.<check>`` and ``encore-jax theory``. Reports go
to ``./encore-jax-theory/<check>/`` in the working directory unless another directory is named.
"""
