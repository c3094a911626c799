"""The exact multinomial bootstrap of a mean over few distinct units (used by
:func:`encore_jax.metrics.bootstrap_ci`).

Symbols: ``U`` units (items, or clusters of items), each with a column of ``R`` sums
``a_u = (a_1u, ..., a_Ru)`` (an item's values; a cluster's sums of its items' values), a
size ``z_u`` (1 for an item; a cluster's number of counted items) and a stratum ``s_u``.
A resample draws, independently in each stratum ``s``, ``n_s`` units of that stratum with
replacement (``n_s`` its number of counted units); the replicate of row ``r`` is the ratio
of sums ``T*_r = sum_u X_u a_ru / sum_u X_u z_u`` with ``X_u`` the number of times unit ``u``
was drawn (the mean of the resampled items).

Units with equal ``(a_u, z_u, s_u)`` (a *cell* ``c``, with ``m_c`` units) are
interchangeable in ``T*``, so only the cell totals ``Y_c = sum_{u in c} X_u`` matter, and in
each stratum ``(Y_c)_c ~ Multinomial(n_s, (m_c / n_s)_c)``, independently across strata:
the replicate distribution is exactly the one of the item-by-item bootstrap, at a cost of
``O(B x C)`` for ``B`` resamples of ``C`` cells instead of ``O(B x n)``. The multinomial is
drawn as a chain of binomials, ``Y_c ~ Binomial(n_s - sum_{c' < c} Y_c',
m_c / sum_{c' >= c} m_c')`` over the cells of the stratum (``jax.random.binomial``: exact
rejection / inversion samplers), with the probabilities rounded to float32 (a relative
6e-8) and counts exact while ``n_s <= 2^24``.

**Split draws.** ``jax.random.binomial`` computes in float32, and its rejection sampler loses
accuracy for large ``n``: at ``n = 5e6`` the replicate variance came out 1-3 % above the
closed form ``n p (1 - p)``. A count is therefore drawn as a sum of independent binomials
of at most :data:`PIECE_UNITS` trials each, ``Binomial(n, p) = sum_j Binomial(n_j, p)``
with ``n_j = min(PIECE_UNITS, max(0, n - j PIECE_UNITS))`` (exact in distribution: a sum of
independent binomials with one ``p`` is a binomial), a size at which the float32 sampler's
mean and variance agree with the closed form within Monte-Carlo error (``benchmarks/
bootstrap_exactness.py``). A stratum of ``n_s <= PIECE_UNITS`` units takes one draw per
link, exactly as before; larger strata take ``ceil(n_s / PIECE_UNITS)`` draws per link.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

# Cells beyond this many: the item-by-item path is used (the search costs one pass over the
# data per cell found).
MAX_CELLS = 64
# Binomial counts are carried in float32: exact integers up to 2^24 units per stratum.
MAX_UNITS_PER_STRATUM = 2**24
# Trials per piece of a split binomial draw (module docstring).
PIECE_UNITS = 2**16


@functools.partial(jax.jit, static_argnames="max_cells")
def find_cells(
    sums: jax.Array, sizes: jax.Array, strata: jax.Array, counted: jax.Array,
    max_cells: int = MAX_CELLS,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """The distinct units ``(a_u, z_u, s_u)`` among the counted ones, in order of first
    occurrence, found greedily: take the first unit not yet covered, count the units equal
    to it, repeat (one pass over ``sums [R, U]`` per cell, at most ``max_cells + 1``).

    Returns ``(found, cell_sums [R, max_cells], cell_sizes, cell_strata, cell_counts)``;
    ``found > max_cells`` means more cells than ``max_cells`` (the others are then
    meaningless)."""
    def matches(j: jax.Array) -> jax.Array:
        same = jnp.all(sums == sums[:, j][:, None], axis=0)
        return same & (sizes == sizes[j]) & (strata == strata[j]) & counted

    def cond(state):
        c, covered, *_ = state
        return (c <= max_cells) & jnp.any(counted & ~covered)

    def body(state):
        c, covered, index, count = state
        j = jnp.argmax(counted & ~covered).astype(jnp.int32)
        equal = matches(j)
        index = index.at[c].set(j)
        count = count.at[c].set(jnp.sum(equal, dtype=jnp.int32))
        return c + 1, covered | equal, index, count

    init = (jnp.asarray(0, jnp.int32), jnp.zeros(counted.shape, bool),
            jnp.zeros((max_cells + 1,), jnp.int32), jnp.zeros((max_cells + 1,), jnp.int32))
    found, _, index, count = jax.lax.while_loop(cond, body, init)
    index, count = index[:max_cells], count[:max_cells]
    return (found, sums[:, index], sizes[index], strata[index], count)


def _binomial(key: jax.Array, n: jax.Array, p: jax.Array, dtype: jnp.dtype) -> jax.Array:
    """``Binomial(n, p)`` draws (``n``, ``p`` of one shape), exact at ``p = 0`` and ``p = 1``."""
    drawn = jax.random.binomial(key, n, jnp.clip(p, 0, 1), dtype=dtype)
    return jnp.where(p >= 1, n, jnp.where(p <= 0, 0, drawn))


def _split_binomial(key: jax.Array, n: jax.Array, p: jax.Array, pieces: int,
                    dtype: jnp.dtype) -> jax.Array:
    """``Binomial(n, p)`` as the sum of ``pieces`` binomials of at most :data:`PIECE_UNITS`
    trials (``n <= pieces * PIECE_UNITS``); one plain draw when ``pieces == 1``."""
    if pieces == 1:
        return _binomial(key, n, p, dtype)
    start = jnp.arange(pieces, dtype=dtype) * PIECE_UNITS
    sizes = jnp.clip(n[..., None] - start.reshape((1,) * n.ndim + (pieces,)), 0, PIECE_UNITS)
    drawn = _binomial(key, sizes, jnp.broadcast_to(p[..., None], sizes.shape), dtype)
    return jnp.sum(drawn, axis=-1)


def pieces_for(num_units: int) -> int:
    """Pieces per split draw for strata of at most ``num_units`` units, rounded up to a power
    of two (a few compiled shapes)."""
    needed = max(1, -(-int(num_units) // PIECE_UNITS))
    return 1 << (needed - 1).bit_length()


@functools.partial(jax.jit, static_argnames=("num_resamples", "pieces"))
def multinomial_replicates(
    key: jax.Array,
    cell_sums: jax.Array,
    cell_sizes: jax.Array,
    cell_strata: jax.Array,
    cell_counts: jax.Array,
    num_resamples: int,
    pieces: int = 1,
) -> jax.Array:
    """Replicates ``T*_b [R, B]`` of the ratio of sums (module docstring) from the cells.

    Cells are taken in the order stratum, then first occurrence; link ``c`` of the binomial
    chain draws its ``B`` counts (one per resample) at once with key
    ``jax.random.fold_in(key, c)``, each as a split draw of ``pieces`` binomials (``pieces``
    from :func:`pieces_for` of the largest stratum)."""
    # The chain runs in float32 whatever the values' dtype (counts are exact integers up to
    # 2^24), so that float32 and float64 values draw the same counts from the same key.
    dtype = jnp.float32
    order = jnp.argsort(jnp.where(cell_counts > 0, cell_strata, jnp.iinfo(jnp.int32).max),
                        stable=True)
    sums, sizes = cell_sums[:, order], cell_sizes[order].astype(dtype)
    strata, counts = cell_strata[order], cell_counts[order].astype(dtype)
    same = strata[:, None] == strata[None, :]
    # total[c] = n_s of c's stratum; later[c] = sum of m_c' over c' >= c in that stratum.
    total = jnp.sum(jnp.where(same, counts[None, :], 0), axis=1)
    position = jnp.arange(counts.shape[0])
    later = jnp.sum(jnp.where(same & (position[None, :] >= position[:, None]),
                              counts[None, :], 0), axis=1)
    probability = jnp.where(later > 0, counts / jnp.where(later > 0, later, 1), 0)
    first = jnp.concatenate([jnp.ones((1,), bool), strata[1:] != strata[:-1]])

    def cell(drawn: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
        drawn = jnp.where(first[c], 0, drawn)
        p = jnp.broadcast_to(probability[c], drawn.shape)
        y = _split_binomial(jax.random.fold_in(key, c), total[c] - drawn, p, pieces, dtype)
        return drawn + y, y

    _, y = jax.lax.scan(cell, jnp.zeros((num_resamples,), dtype),
                        jnp.arange(counts.shape[0]))  # y [C, B]
    y = y.astype(cell_sums.dtype)
    numerator = jnp.matmul(sums, y, precision=jax.lax.Precision.HIGHEST)  # [R, B]
    denominator = jnp.matmul(sizes.astype(y.dtype), y, precision=jax.lax.Precision.HIGHEST)
    return numerator / denominator[None, :]
