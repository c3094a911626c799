"""Host re-check of the margins that :mod:`encore_jax.compose`'s certificate turned into ties.

The device kernel returns ``0.0`` for every margin within its rounding threshold ``t_i``
(see the :mod:`encore_jax.compose` docstring). Those *flagged* margins are exact ties or
true margins too small for the device dtype to sign. Here each flagged pair is decided
exactly, on the host, for device dtypes of at most 26 significand bits (float32, float16,
bfloat16), where the product of a weight and a score is exact in float64 (``2 x 24 <= 53``
bits). With ``x_k`` the pair's terms (``chosen_k`` and ``-rejected_k``, or ``d_k``) and
``w_k`` its weights, in the device dtype and then in float64:

1. **Exact float64 sum.** Every product ``p_k = w_k x_k`` is a multiple of
   ``g = min_k gran(w_k) gran(x_k)`` (``gran`` the value of a number's last significand bit
   in the device dtype), so are all partial sums, and they are at most
   ``S = sum_k |p_k|`` in magnitude: when ``S < 2^53 g`` float64 represents every partial
   sum and ``sum_k p_k`` is exact in any order. Integer ratings with weights of similar
   magnitude (uniform, ENCORE) always take this path, exact ties included.
2. **Float64 error bound.** Otherwise ``|fl64(sum) - m*| <= gamma_{n-1} S`` (``n`` terms,
   Higham Lemma 3.1); the sign is decided when ``|fl64(sum)| > 2 n u64 S``.
3. **Exact rounding.** The rest (exact zeros, or margins below ``2 n u64 S``) go through
   :func:`math.fsum`, which returns the correctly rounded sum of its float inputs: zero
   exactly when the exact sum is zero, with its sign otherwise.

A decided margin is returned in the device dtype; one below the smallest normal number
``tiny`` there (which could round, or be flushed, to zero) is returned as ``+-tiny``, so
that ``margin == 0`` stays the tie test. Cost: one flag moved to the host when no margin
is ``0.0``; otherwise the boolean ``margin == 0`` mask and the flagged rows of the inputs
(never the whole inputs); stages 1-2 are vectorised NumPy over blocks of rows, stage 3 a
Python loop over the (rare) rest.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

# Rows per vectorised block: keeps the [rows, K] float64 temporaries near 32 MiB.
_BLOCK_CELLS = 1 << 22


def recheckable(dtype: np.dtype) -> bool:
    """Whether products of two ``dtype`` numbers are exact in float64."""
    return 2 * (jnp.finfo(dtype).nmant + 1) <= 53


def _granularity(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The value of the last significand bit of each (``dtype``-representable) ``x``."""
    info = jnp.finfo(dtype)
    _, exponent = np.frexp(x)  # x = f 2^e, 0.5 <= |f| < 1
    return np.maximum(np.ldexp(1.0, exponent - (info.nmant + 1)),
                      float(info.smallest_subnormal))


def _rows(x: jax.Array | np.ndarray, index: np.ndarray) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x[index]
    return np.asarray(jax.device_get(x[jnp.asarray(index)]))


def _decide(terms: np.ndarray, granularity: np.ndarray) -> np.ndarray:
    """Exact-sign float64 margins of the rows of ``terms`` (stages 1-3 above)."""
    absolute = np.abs(terms)
    scale = absolute.sum(axis=1)
    count = terms.shape[1]
    u64 = np.finfo(np.float64).eps / 2
    nonzero = absolute > 0
    finest = np.where(nonzero, granularity, np.inf).min(axis=1, initial=np.inf)
    total = terms.sum(axis=1)
    exact = scale * (1 + 4 * count * u64) < np.ldexp(finest, 53)
    bounded = np.abs(total) > 2 * count * u64 * scale
    undecided = np.flatnonzero(~exact & ~bounded)
    for i in undecided:
        total[i] = math.fsum(terms[i])
    return total


def recheck_flagged(
    margins: jax.Array, weights: jax.Array, left: jax.Array | np.ndarray,
    right: jax.Array | np.ndarray | None = None,
) -> jax.Array:
    """``margins`` (``[N]``, or ``[M, N]`` for ``weights [M, K]``) with each ``0.0`` replaced
    by the exactly signed margin of its pair: ``sum_k w_k (left_k - right_k)``, or
    ``sum_k w_k left_k`` without ``right`` (concrete arrays only; see the module docstring).
    """
    dtype = np.dtype(margins.dtype)
    if not recheckable(dtype):
        return margins
    zero = margins == 0
    if not bool(jax.device_get(jnp.any(zero))):  # one flag moves when nothing is flagged
        return margins
    flagged = np.argwhere(np.asarray(jax.device_get(zero)))
    weights = np.asarray(jax.device_get(weights)).astype(dtype).astype(np.float64)
    weights = weights.reshape(-1, weights.shape[-1])
    members, pairs = (flagged[:, 0], flagged[:, 1]) if margins.ndim == 2 else (
        np.zeros(len(flagged), np.intp), flagged[:, 0])
    if right is not None:
        weights = np.concatenate([weights, weights], axis=1)
    block = max(1, _BLOCK_CELLS // weights.shape[1])
    values = np.empty(len(flagged), np.float64)
    for start in range(0, len(flagged), block):
        rows = pairs[start:start + block]
        x = _rows(left, rows).astype(dtype).astype(np.float64)
        if right is not None:
            x = np.concatenate([x, -_rows(right, rows).astype(dtype).astype(np.float64)], axis=1)
        w = weights[members[start:start + block]]
        granularity = _granularity(w, dtype) * _granularity(x, dtype)
        values[start:start + block] = _decide(w * x, granularity)
    out = values.astype(dtype)
    tiny = float(jnp.finfo(dtype).tiny)
    # Below the smallest normal number a device may flush the margin to zero (a tie).
    out = np.where((values != 0) & (np.abs(out) < tiny), np.copysign(tiny, values),
                   out).astype(dtype)
    return margins.at[tuple(jnp.asarray(i) for i in flagged.T)].set(jnp.asarray(out))
