"""The weightings compared by :func:`~encore_jax.workflows.compare.compare_methods`, as rows of
one ``[M, K]`` weight matrix, and the per-pair credits of the reported rows.

Rows, in order: ENCORE ``softmax(-H / tau)`` at the headline temperature then at each sweep
temperature, uniform ``1 / K``, ``num_random`` Dirichlet(1_K) draws, one-hot per rule, the
lowest-entropy weights and (optionally) the Bradley-Terry weights.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from encore_jax.metrics.accuracy import _credit

__all__ = ["mean_credit", "method_values", "weight_rows"]


@functools.partial(jax.jit, static_argnames="num_random")
def weight_rows(
    entropies: jax.Array,
    temperatures: jax.Array,
    lowest: jax.Array,
    key: jax.Array,
    num_random: int,
    bt: jax.Array | None,
) -> jax.Array:
    """``[M, K]`` rows: ``softmax(-H / tau)`` per ``tau`` in ``temperatures`` (the headline
    temperature first, then the sweep), uniform, the Dirichlet draws, one-hot per rule, the
    lowest-entropy weights and the BT weights (when given)."""
    num_rules = entropies.shape[0]
    h = entropies.astype(jnp.float32)
    sweep = jax.nn.softmax(-h[None, :] / temperatures[:, None], axis=-1)
    # Dirichlet(1_K), uniform on the simplex, is exactly normalised i.i.d. Exponential(1)
    # draws; this avoids compiling the general gamma sampler (seconds on CPU).
    draws = jax.random.exponential(key, (num_random, num_rules), jnp.float32)
    rows = [
        sweep,
        jnp.full((1, num_rules), 1.0 / num_rules, jnp.float32),
        draws / jnp.sum(draws, axis=-1, keepdims=True),
        jnp.eye(num_rules, dtype=jnp.float32),
        lowest.astype(jnp.float32)[None, :],
    ]
    if bt is not None:
        rows.append(bt[None, :])
    return jnp.concatenate(rows, axis=0)


@functools.partial(jax.jit, static_argnames="tie")
def mean_credit(margins: jax.Array, key: jax.Array, tie: str) -> jax.Array:
    return jnp.mean(_credit(margins, key if tie == "random" else None, tie), axis=-1)


@functools.partial(jax.jit, static_argnames=("tie", "random_start", "num_random"))
def method_values(
    diffs: jax.Array,
    weights: jax.Array,
    selector: jax.Array,
    key: jax.Array,
    tie: str,
    random_start: int,
    num_random: int,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per-pair credits of the reported rows ``[R, N]``, their tie rates ``[R]`` and the
    accuracy of each Dirichlet seed ``[S]``."""
    margins = weights @ diffs.T  # [M, N]
    credit = _credit(margins, key if tie == "random" else None, tie)
    tied = jnp.mean((margins == 0).astype(jnp.float32), axis=-1)
    seeds = jnp.mean(credit[random_start:random_start + num_random], axis=-1)
    return selector @ credit, selector @ tied, seeds
