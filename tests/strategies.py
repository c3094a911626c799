"""Hypothesis strategies shared by the tests; shapes come from small fixed sets so that JAX
compiles each kernel a handful of times, not once per example."""

import numpy as np
import optax
from hypothesis import strategies as st

NUM_ROWS = (16, 64)
NUM_RULES = (1, 3, 8)
NUM_LEVELS = (2, 5, 11)
# One optimizer instance for every test file: it is a static argument of the compiled fit
# loop, so sharing it lets fits of the same shape reuse one compilation.
LBFGS = optax.lbfgs()


@st.composite
def rating_matrices(draw, with_mask=False):
    """(ratings [N, K] int32 in 0..L-1, L, mask or None) with every rule observed."""
    n = draw(st.sampled_from(NUM_ROWS))
    k = draw(st.sampled_from(NUM_RULES))
    num_levels = draw(st.sampled_from(NUM_LEVELS))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # A per-rule Dirichlet profile spans near-deterministic to near-uniform rules.
    concentration = draw(st.sampled_from((0.05, 0.5, 5.0)))
    probs = rng.dirichlet(np.full(num_levels, concentration), size=k)
    ratings = np.stack([rng.choice(num_levels, size=n, p=p) for p in probs], axis=1)
    mask = None
    if with_mask:
        mask = rng.random((n, k)) < draw(st.sampled_from((0.3, 0.8, 1.0)))
        mask[0] = True  # every rule keeps at least one observation
    return ratings.astype(np.int32), num_levels, mask


def blocked_kernel_shapes():
    """``(N, K, L)`` that reach the blocked CPU histogram kernel (``entropy._histogram_blocked``
    past its small-input fallback), computed from its thresholds so that a change of them
    keeps the shapes relevant: ``N * K * L > _SMALL_COMPARES``, ``N >= _BLOCK_ROWS``, and
    ragged tails that are not a multiple of ``_BLOCK_ROWS``:

    * two full chunks of ``_CHUNK_ROWS`` rows plus a tail of 77 rows (the fori_loop and the
      padded tail chunk), ``L = 11``;
    * less than one chunk (tail only, ``_CHUNK_ROWS // 3 + 5`` rows), ``L = 5``;
    * one chunk plus a tail of ``_BLOCK_ROWS - 1`` rows, ``L = 2``.

    ``K`` is the smallest rule count that puts ``N * K * L`` above the threshold. Three shapes
    only: each compiles once.
    """
    from encore_jax.entropy import _BLOCK_ROWS, _CHUNK_ROWS, _SMALL_COMPARES

    shapes = []
    for rows, num_levels in ((2 * _CHUNK_ROWS + 77, 11), (_CHUNK_ROWS // 3 + 5, 5),
                             (_CHUNK_ROWS + _BLOCK_ROWS - 1, 2)):
        rows = max(rows, _BLOCK_ROWS + 1)
        num_rules = _SMALL_COMPARES // (rows * num_levels) + 1
        shapes.append((rows, num_rules, num_levels))
    return tuple(shapes)


BLOCKED_SHAPES = blocked_kernel_shapes()


@st.composite
def blocked_rating_matrices(draw, with_mask=False):
    """(ratings [N, K] in 0..L-1, L, mask or None) at a shape of :data:`BLOCKED_SHAPES`, in
    int32 or uint8 (a narrow dtype the kernel compares in place). Dirichlet
    concentrations from 0.05 (nearly constant rules: a whole block on one level, the uint8
    block counts at their 128 maximum) to 5 (near uniform); masks of random density, or a
    mask that drops whole trailing rows (the ragged-tail case of a padded batch)."""
    n, k, num_levels = draw(st.sampled_from(BLOCKED_SHAPES))
    dtype = draw(st.sampled_from((np.int32, np.uint8)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    concentration = draw(st.sampled_from((0.05, 0.5, 5.0)))
    probs = rng.dirichlet(np.full(num_levels, concentration), size=k)
    cumulative = np.cumsum(probs, axis=1)
    cumulative[:, -1] = 1.0
    # Inverse-CDF sampling per rule, vectorised: level = #{cumulative < u}.
    uniform = rng.random((n, k))
    ratings = (uniform[:, :, None] > cumulative[None, :, :]).sum(-1)
    mask = None
    if with_mask:
        kind = draw(st.sampled_from(("random", "trailing_rows")))
        if kind == "random":
            mask = rng.random((n, k)) < draw(st.sampled_from((0.3, 0.9)))
        else:
            mask = np.broadcast_to(np.arange(n)[:, None] < n - int(rng.integers(1, n // 2)),
                                   (n, k)).copy()
        mask[0] = True
    return ratings.astype(dtype), num_levels, mask
