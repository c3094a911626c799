"""Streaming Poisson bootstrap of per-rule sufficient statistics over rated pairs.

A bootstrap resample ``b`` gives unit ``u`` (a group of pairs, e.g. a prompt, or a single
pair) the weight ``W_bu ~ Poisson(1)``, independently over ``b`` and ``u``, and every
statistic is recomputed from weighted sums. This is the Poisson bootstrap (Hanley &
MacGibbon 2006, "Creating non-parametric bootstrap samples using Poisson frequencies",
Comput. Methods Programs Biomed. 83:57-62; Chamandy, Muralidharan, Najmi & Naik 2012,
"Estimating uncertainty for massive data streams", Google): the multinomial bootstrap draws
counts ``(W_b1, ..., W_bG) ~ Multinomial(G; 1/G, ...)``, whose marginals are
``Binomial(G, 1/G) -> Poisson(1)`` as ``G`` grows and whose dependence (the fixed total
``G``) vanishes; for ratio statistics (entropies of normalised counts, accuracies = credit /
rated pairs) the random total cancels to first order, so both give the same intervals up to
``O(1/G)``. Its advantage here: a unit's weight depends only on the key and the unit's id,
so every chunk of a file draws the same weight for the same group without a pass to count
the groups, and the sums are additive over chunks.

Weights are drawn deterministically from ``(key, stream, 64-bit unit id)``: the id of a
group is the first 8 bytes of the BLAKE2b digest of its text (never Python's salted
``hash``), the id of an ungrouped row is its position. ``Poisson(1)`` is sampled by
inverting its CDF on a uniform draw.

Shapes: ``S`` rows per block, ``K`` rules, ``L`` levels, ``B`` resamples.
"""

from __future__ import annotations

import functools
import hashlib
import math

import jax
import jax.numpy as jnp
import numpy as np

from encore_jax.metrics import pair_credit

__all__ = ["BLOCK_ROWS", "POISSON_STREAMS", "group_ids64", "poisson_weights", "unit_ids",
           "weighted_sums"]

BLOCK_ROWS = 1024
"""Rows per compiled block (every block is padded to it, so any number of rows compiles
once): the weights ``[S, B]`` and the one-hot ``[S, K * L]`` of one block
stay at a few MB for ``B = 1000``, ``K = 100``, ``L = 11``."""

POISSON_STREAMS = {"group": 0, "pair_row": 1, "calibration_row": 2}
"""Independent weight streams: groups (shared by pairs and calibration rows of a group),
ungrouped pairs, ungrouped calibration rows."""

# P(Poisson(1) <= j) for j = 0..19; beyond 19 the float32 CDF is 1 (P(W > 19) < 1e-18).
_POISSON1_CDF = np.cumsum([math.exp(-1.0) / math.factorial(j) for j in range(20)]).astype(
    np.float32)


def group_ids64(groups: np.ndarray) -> np.ndarray:
    """``uint64`` ids of group labels (any values, compared as text): the first 8 bytes of
    the BLAKE2b digest of ``str(label)``, stable across processes and platforms."""
    labels, inverse = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    hashed = np.array([int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(),
                                      "little") for s in labels.tolist()], dtype=np.uint64)
    return hashed[inverse.reshape(-1)]


def _missing_ids(groups: np.ndarray) -> np.ndarray:
    """Rows whose group id is missing: None, a float NaN or an empty (blank) string."""
    flat = np.asarray(groups, dtype=object).reshape(-1)
    return np.flatnonzero([g is None or (isinstance(g, float) and math.isnan(g))
                           or (isinstance(g, str | np.str_) and not g.strip())
                           for g in flat.tolist()])


def unit_ids(name: str, groups: np.ndarray | None, first_row: int, n: int
             ) -> tuple[str, np.ndarray]:
    """``(Poisson stream, uint64 unit ids [n])`` of ``n`` rows from row ``first_row``: the
    group ids (stream ``"group"``), or the row numbers without groups (``"pair_row"`` when
    ``name`` is ``"groups"``, else ``"calibration_row"``). A missing group id is an error naming the
    rows (never pooled into one silent group)."""
    if groups is None:
        return "pair_row" if name == "groups" else "calibration_row", np.arange(
            first_row, first_row + n, dtype=np.uint64)
    missing = _missing_ids(groups)
    if missing.size:
        rows = (missing + first_row).tolist()
        raise ValueError(f"{name}: {len(rows)} row(s) have no group id (rows "
                         f"{rows[:8]}{' ...' if len(rows) > 8 else ''}, counting data rows "
                         "from 0); give each its own id (e.g. the pair's) or drop the group "
                         "column")
    return "group", group_ids64(groups)


def _split64(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.asarray(ids, dtype=np.uint64)
    return (ids >> np.uint64(32)).astype(np.uint32), (ids & np.uint64(0xFFFFFFFF)).astype(
        np.uint32)


@functools.partial(jax.jit, static_argnames="num_resamples")
def _weights(key: jax.Array, hi: jax.Array, lo: jax.Array, num_resamples: int) -> jax.Array:
    cdf = jnp.asarray(_POISSON1_CDF)

    def one(h: jax.Array, low: jax.Array) -> jax.Array:
        unit_key = jax.random.fold_in(jax.random.fold_in(key, h), low)
        u = jax.random.uniform(unit_key, (num_resamples,), jnp.float32)
        return jnp.searchsorted(cdf, u, side="right").astype(jnp.float32)

    return jax.vmap(one)(hi, lo)


def poisson_weights(key: jax.Array, stream: str, ids: np.ndarray, num_resamples: int
                    ) -> jax.Array:
    """``float32 [n, B]`` Poisson(1) bootstrap weights of the units ``ids`` (``uint64 [n]``)
    in ``stream`` (a key of :data:`POISSON_STREAMS`); equal ids get equal rows."""
    hi, lo = _split64(ids)
    stream_key = jax.random.fold_in(key, POISSON_STREAMS[stream])
    return _weights(stream_key, jnp.asarray(hi), jnp.asarray(lo), num_resamples)


@functools.partial(jax.jit, static_argnames=("num_levels", "with_pairs", "with_hist"))
def _block_sums(weights: jax.Array, first: jax.Array, second: jax.Array, mask: jax.Array,
                num_levels: int, with_pairs: bool, with_hist: bool
                ) -> tuple[jax.Array, jax.Array]:
    s, k = first.shape
    b = weights.shape[1]
    m = mask.astype(jnp.float32)
    if with_pairs:
        diffs = (first - second).astype(jnp.float32)
        stats = jnp.concatenate([pair_credit(diffs, tie="half") * m,
                                 (diffs == 0).astype(jnp.float32) * m, m], axis=1)
        pair_sums = jnp.matmul(weights.T, stats, precision=jax.lax.Precision.HIGHEST)
    else:
        pair_sums = jnp.zeros((b, 3 * k), jnp.float32)
    if with_hist:
        onehot = jax.nn.one_hot(first, num_levels, dtype=jnp.float32)
        if with_pairs:
            onehot = onehot + jax.nn.one_hot(second, num_levels, dtype=jnp.float32)
        onehot = (onehot * m[..., None]).reshape(s, k * num_levels)
        hist = jnp.matmul(weights.T, onehot, precision=jax.lax.Precision.HIGHEST)
    else:
        hist = jnp.zeros((b, k * num_levels), jnp.float32)
    return pair_sums, hist


def weighted_sums(key: jax.Array, stream: str, ids: np.ndarray, first: np.ndarray,
                  second: np.ndarray | None, mask: np.ndarray, num_levels: int,
                  num_resamples: int, *, with_hist: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Poisson-weighted per-rule sums over ``n`` rows, block by block.

    With ``second`` (pairs: ``first`` = chosen, ``second`` = rejected ``[n, K]``): the
    weighted credit (ties 1/2), ties and rated pairs ``float64 [B, 3, K]``. Without
    (calibration rows): zeros there. ``with_hist``: the weighted level counts of ``first``
    (and ``second``) over ``mask`` ``float64 [B, K, L]``, else zeros.
    """
    n, k = first.shape
    pair_total = np.zeros((num_resamples, 3 * k))
    hist_total = np.zeros((num_resamples, k * num_levels))
    with_pairs = second is not None
    for start in range(0, n, BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, n)
        pad = BLOCK_ROWS - (stop - start)   # one compiled shape whatever n

        def block(x: np.ndarray, pad: int = pad, start: int = start, stop: int = stop):
            return np.pad(x[start:stop], [(0, pad)] + [(0, 0)] * (x.ndim - 1))

        weights = poisson_weights(key, stream, block(ids), num_resamples)
        # padded rows carry mask False, so their weights never count
        pair_sums, hist = _block_sums(
            weights, jnp.asarray(block(first)),
            jnp.asarray(block(second if with_pairs else first)), jnp.asarray(block(mask)),
            num_levels, with_pairs, with_hist)
        pair_total += np.asarray(pair_sums, np.float64)
        hist_total += np.asarray(hist, np.float64)
    return (pair_total.reshape(num_resamples, 3, k),
            hist_total.reshape(num_resamples, k, num_levels))
