"""Histograms of discrete ratings, binning of continuous scores, and entropy estimators.

Symbols used throughout: ``N`` responses (rows), ``K`` rules (columns), ``L`` rating levels.
A rating is an integer level in ``0..L-1``; ``mask[i, k] = True`` marks rating ``(i, k)`` as
observed (missing ratings are masked, never filled). For rule ``k`` with level counts
``c_k = (c_k0, ..., c_k,L-1)`` and ``n_k = sum_l c_kl``, the plug-in entropy is

    H_k = - sum_l (c_kl / n_k) log(c_kl / n_k),       with 0 log 0 = 0,

so ``0 <= H_k <= log L``. Counts are additive, so histograms of chunks can be summed before
taking the entropy (see :mod:`encore_jax.workflows.streaming` for files larger than memory).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Integer, Real

from encore_jax import _checks

__all__ = ["discretize", "entropy_from_counts", "rating_entropy", "rating_histogram"]


def _validated_ratings(
    ratings: ArrayLike, num_levels: int, mask: ArrayLike | None
) -> tuple[jax.Array, jax.Array | None]:
    """Static checks (rank, dtype, mask shape). The level range is checked from the result
    of the counting kernel (see :func:`_raise_for_invalid_levels`): the data is read once."""
    ratings = _checks.as_array("ratings", ratings)
    _checks.check_ndim("ratings", ratings, 2, "[N, K]")
    _checks.check_integer_dtype("ratings", ratings)
    if ratings.shape[1] == 0:
        raise ValueError("ratings has no rules (shape [N, 0]); at least one rule is needed")
    mask = _checks.check_mask(mask, ratings.shape)
    return ratings, mask


def _raise_for_invalid_levels(
    ok: jax.Array, ratings: jax.Array, num_levels: int, mask: jax.Array | None
) -> None:
    """After a counting kernel whose flag ``ok`` says every observed entry fell in a bin
    (each rule's counts sum to its observed entries, a reduction over ``[K, L]``): when it
    fails on concrete input, the exact check names the first observed level outside
    ``0..L-1``. Kernels never clip, so an invalid level always fails the flag."""
    if _checks.is_concrete(ratings) and (mask is None or _checks.is_concrete(mask)) and not (
            _checks.is_concrete(ok) and _checks.device_all(ok)):
        _checks.check_levels_in_range("ratings", ratings, num_levels, mask)


def _observed_per_rule(ratings: jax.Array, mask: jax.Array | None) -> jax.Array | int:
    return ratings.shape[0] if mask is None else jnp.sum(mask, axis=0, dtype=jnp.int32)


# The blocked CPU kernel counts blocks of _BLOCK_ROWS rows in uint8 (a count <= 255), sums
# _CHUNK_BLOCKS blocks in uint16 (<= 128 * 64 = 8192 <= 65535), and accumulates chunks of
# _CHUNK_ROWS rows (0.8 MB at K = 100 int8, cache-resident) in int32 inside a fori_loop.
# Sizes measured on a 2-core AMD EPYC (README "Performance").
_BLOCK_ROWS = 128
_CHUNK_BLOCKS = 64
_CHUNK_ROWS = _BLOCK_ROWS * _CHUNK_BLOCKS
# Up to this many compares (N * K * L) the reference kernel takes at most ~2.5 ms (measured
# ~2.3 ns per compare) and compiles in a third of the blocked kernel's time; small inputs,
# e.g. in tests, use it.
_SMALL_COMPARES = 2**20


def _compare_dtype(dtype: jnp.dtype, num_levels: int) -> jnp.dtype:
    """The integer dtype to compare levels in: the ratings' own dtype when it holds every
    level ``0..L-1`` and a sentinel that is not a level (-1, or the maximum of an unsigned
    dtype), else int32. Narrow compares vectorise widest. The ratings are only ever
    *widened*: a narrowing cast would wrap an out-of-range level into a valid bin."""
    info = jnp.iinfo(dtype)
    holds_sentinel = info.min < 0 or info.max > num_levels - 1
    if info.bits <= 32 and info.max >= num_levels - 1 and holds_sentinel:
        return dtype
    return jnp.dtype(jnp.int32)


def _sentinel(dtype: jnp.dtype) -> jax.Array:
    """A value of ``dtype`` that is never a level (see :func:`_compare_dtype`)."""
    info = jnp.iinfo(dtype)
    return jnp.asarray(-1 if info.min < 0 else info.max, dtype)


def _histogram_compare(
    ratings: jax.Array, mask: jax.Array | None, num_levels: int
) -> jax.Array:
    """Reference formulation: one compare per (row, rule, level), summed over rows."""
    # A compare-and-sum over levels never clips: a level outside 0..L-1 matches no bin
    # (unlike jnp.bincount, which clips negatives and drops overflow into the last bin).
    dtype = _compare_dtype(ratings.dtype, num_levels)
    levels = jnp.arange(num_levels, dtype=dtype)
    hits = ratings.astype(dtype)[:, :, None] == levels[None, None, :]
    if mask is not None:
        hits = hits & mask[..., None]
    return jnp.sum(hits, axis=0, dtype=jnp.int32)


def _tree_sum(terms: list[jax.Array]) -> jax.Array:
    while len(terms) > 1:
        pairs = [a + b for a, b in zip(terms[::2], terms[1::2], strict=False)]
        terms = pairs + terms[len(pairs) * 2 :]
    return terms[0]


def _chunk_counts(chunk: jax.Array, num_levels: int) -> jax.Array:
    """int32 counts ``[L, K]`` of ``chunk [blocks * _BLOCK_ROWS, K]`` (in the compare dtype;
    masked entries already replaced by the sentinel, which matches no level)."""
    # XLA:CPU lowers a reduction over the row axis of [N, K, L] to a strided scalar loop
    # (measured 0.04 GB/s); elementwise adds of row slices vectorise over the rule axis.
    k = chunk.shape[1]
    rows = chunk.reshape(-1, _BLOCK_ROWS, k)
    levels = jnp.arange(num_levels, dtype=chunk.dtype)[None, :, None]
    hits = [(rows[:, row, None, :] == levels).astype(jnp.uint8) for row in range(_BLOCK_ROWS)]
    per_block = _tree_sum(hits).astype(jnp.uint16)  # [blocks, L, K]
    return _tree_sum([per_block[b] for b in range(rows.shape[0])]).astype(jnp.int32)


def _histogram_blocked(
    ratings: jax.Array, mask: jax.Array | None, num_levels: int
) -> jax.Array:
    """CPU formulation: a ``fori_loop`` over cache-sized chunks of ``_CHUNK_ROWS`` rows, each
    counted by :func:`_chunk_counts`; the ragged tail is one more chunk, padded."""
    n, k = ratings.shape
    if n < _BLOCK_ROWS or n * k * num_levels <= _SMALL_COMPARES:
        return _histogram_compare(ratings, mask, num_levels)
    dtype = _compare_dtype(ratings.dtype, num_levels)
    sentinel = _sentinel(dtype)
    # Masking by the sentinel costs one select per entry, where `hits & mask` per level was
    # measured 13x slower (XLA:CPU vectorises boolean ANDs poorly here).
    ratings = ratings.astype(dtype)

    def rows(start: int | jax.Array, size: int) -> jax.Array:
        chunk = jax.lax.dynamic_slice_in_dim(ratings, start, size)
        if mask is None:
            return chunk
        return jnp.where(jax.lax.dynamic_slice_in_dim(mask, start, size), chunk, sentinel)

    full = n // _CHUNK_ROWS
    counts = jnp.zeros((num_levels, k), jnp.int32)
    if full:
        counts = jax.lax.fori_loop(
            0,
            full,
            lambda i, acc: acc + _chunk_counts(rows(i * _CHUNK_ROWS, _CHUNK_ROWS), num_levels),
            counts,
        )
    tail = n - full * _CHUNK_ROWS
    if tail:
        pad = -tail % _BLOCK_ROWS
        padded = jnp.pad(rows(full * _CHUNK_ROWS, tail), ((0, pad), (0, 0)),
                         constant_values=sentinel)
        counts = counts + _chunk_counts(padded, num_levels)
    return counts.T


def _histogram_scatter(
    ratings: jax.Array, mask: jax.Array | None, num_levels: int
) -> jax.Array:
    """Scatter-add formulation: one add per entry into bin ``k * L + level``; its cost does
    not grow with ``L``. Out-of-range and masked entries are sent to an index past the end,
    which ``mode="drop"`` discards (a plain offset would spill them into a neighbour rule)."""
    n, k = ratings.shape
    levels = ratings.astype(jnp.int32)
    valid = (levels >= 0) & (levels < num_levels)
    if mask is not None:
        valid = valid & mask
    offsets = jnp.arange(k, dtype=jnp.int32)[None, :] * num_levels
    index = jnp.where(valid, offsets + levels, k * num_levels)
    counts = jnp.zeros((k * num_levels,), jnp.int32).at[index.reshape(-1)].add(1, mode="drop")
    return counts.reshape(k, num_levels)


# Formulations by name, each verified against NumPy in tests/test_kernels.py and timed by
# `python -m benchmarks.run`. _histogram picks one per backend at trace time: on CPU the
# blocked compare-and-sum up to _BLOCKED_MAX_LEVELS levels (its cost grows with L; measured
# level with the scatter-add at L = 256), else the scatter-add. Other backends keep the
# reference compare-and-sum, which XLA lowers to a column reduction; no GPU was available to
# time the alternatives there (README "Performance").
_HISTOGRAM_KERNELS = {
    "compare": _histogram_compare,
    "blocked": _histogram_blocked,
    "scatter": _histogram_scatter,
}
_BLOCKED_MAX_LEVELS = 256


def _histogram_kernel_name(num_levels: int, backend: str | None = None) -> str:
    """The histogram formulation used for ``L`` levels on ``backend`` (default: JAX's)."""
    if (backend or jax.default_backend()) != "cpu":
        return "compare"
    return "blocked" if num_levels <= _BLOCKED_MAX_LEVELS else "scatter"


def _histogram_impl(
    ratings: Int[Array, "N K"], mask: Bool[Array, "N K"] | None, num_levels: int
) -> Int[Array, "K L"]:
    return _HISTOGRAM_KERNELS[_histogram_kernel_name(num_levels)](ratings, mask, num_levels)


_histogram = jax.jit(_histogram_impl, static_argnames="num_levels")


@functools.partial(jax.jit, static_argnames="num_levels")
def _flagged_histogram(
    ratings: jax.Array, mask: jax.Array | None, num_levels: int
) -> tuple[jax.Array, jax.Array]:
    """``(counts, every observed entry counted)`` in one program."""
    counts = _histogram_impl(ratings, mask, num_levels)
    expected = _observed_per_rule(ratings, mask)
    return counts, jnp.all(jnp.sum(counts, axis=-1, dtype=jnp.int32) == expected)


@functools.cache
def _row_sharded_counts_program(
    mesh: Mesh, axes: tuple[str, ...], num_levels: int, masked: bool
) -> Callable[..., tuple[jax.Array, jax.Array]]:
    """Counts ``[K, L]`` and observed entries per rule ``[K]`` of row-sharded ratings: each
    device runs the single-device kernel on its rows (under ``shard_map``, so the blocked
    CPU kernel's chunk loop stays local), and the integer counts are summed across devices.
    GSPMD alone would gather the rows for the kernel's dynamic slices."""

    def local(ratings: jax.Array, *mask: jax.Array) -> tuple[jax.Array, jax.Array]:
        mask_or_none = mask[0] if masked else None
        counts = _HISTOGRAM_KERNELS[_histogram_kernel_name(num_levels)](
            ratings, mask_or_none, num_levels)
        if masked:
            observed = jnp.sum(mask[0], axis=0, dtype=jnp.int32)
        else:
            observed = jnp.full((ratings.shape[1],), ratings.shape[0], jnp.int32)
        return jax.lax.psum(counts, axes), jax.lax.psum(observed, axes)

    rows = P(axes)
    return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(rows,) * (1 + masked),
                                 out_specs=(P(), P()), check_vma=False))


def _row_sharded_counts(
    ratings: jax.Array, mask: jax.Array | None, num_levels: int
) -> tuple[jax.Array, jax.Array] | None:
    """``(counts, observed per rule)`` when ``ratings`` is split by rows over several devices
    (see :func:`encore_jax.mesh.row_mesh`), else ``None``."""
    from encore_jax.mesh import row_mesh

    placed = row_mesh(ratings)
    if placed is None:
        return None
    program = _row_sharded_counts_program(*placed, num_levels, mask is not None)
    return program(ratings) if mask is None else program(ratings, mask)


def rating_histogram(
    ratings: Integer[ArrayLike, "N K"],
    num_levels: int,
    *,
    mask: Bool[ArrayLike, "N K"] | None = None,
) -> Int[Array, "K L"]:
    """Counts how often each rule gives each rating level.

    ``counts[k, l] = #{i : ratings[i, k] == l and mask[i, k]}``.

    Args:
      ratings: integer levels ``[N, K]`` in ``0..L-1`` (``N`` responses, ``K`` rules).
      num_levels: ``L``, the number of rating levels (>= 2).
      mask: optional boolean ``[N, K]``; ``True`` = observed. Masked entries may hold any value.

    Returns:
      ``int32`` counts ``[K, L]``.

    Raises:
      TypeError / ValueError: non-integer ratings, wrong rank, no rules, a mask of another
        shape, or (for concrete input) an observed level outside ``0..L-1``. Under an outer
        ``jit`` the range check cannot raise; out-of-range levels then match no bin, and
        :func:`rating_entropy` reports NaN for the affected rule.
    """
    num_levels = _checks.check_num_levels(num_levels)
    ratings, mask = _validated_ratings(ratings, num_levels, mask)
    sharded = _row_sharded_counts(ratings, mask, num_levels)
    if sharded is not None:
        counts, ok = sharded[0], _counted_all(*sharded)
    else:
        counts, ok = _flagged_histogram(ratings, mask, num_levels)
    _raise_for_invalid_levels(ok, ratings, num_levels, mask)
    return counts


@jax.jit
def _counted_all(counts: jax.Array, observed: jax.Array) -> jax.Array:
    return jnp.all(jnp.sum(counts, axis=-1, dtype=jnp.int32) == observed)


def discretize(
    scores: Real[ArrayLike, "*shape"],
    num_levels: int,
    *,
    low: float = 0.0,
    high: float = 1.0,
) -> Int[Array, "*shape"]:
    """Bins continuous scores into ``L`` equal-width levels over ``[low, high]``.

    ``level = min(floor(L * (s - low) / (high - low)), L - 1)``: ``s == high`` falls in the
    last level ``L - 1`` (the last bin is closed). The arithmetic is in the scores' float
    dtype (float32 for integer scores) with ``low`` and ``high`` rounded to it, so every
    score in ``[low, high]`` gets a level in ``0..L-1`` despite rounding.

    Args:
      scores: real scores of any shape, each in ``[low, high]``.
      num_levels: ``L`` (>= 2).
      low, high: the binning range, ``low < high``, both finite.

    Returns:
      ``int32`` levels of the same shape, in ``0..L-1``.

    Raises:
      ValueError: a NaN / inf score or one outside ``[low, high]`` (never clipped), or a
        range too narrow for the scores' dtype (``low == high`` after rounding). Under an
        outer ``jit`` such scores map to the invalid levels ``-1`` (below or NaN) and ``L``
        (above), which :func:`rating_entropy` reports as NaN.
    """
    num_levels = _checks.check_num_levels(num_levels)
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"need finite low < high, got low={low}, high={high}")
    scores = _checks.as_array("scores", scores)
    _checks.check_float_dtype("scores", scores)
    dtype = _discretize_dtype(scores.dtype)
    if not np.asarray(low, dtype) < np.asarray(high, dtype):
        raise ValueError(f"low={low} and high={high} are equal in the scores' dtype {dtype}; "
                         "widen the range or use 64-bit scores")
    levels = _discretize(scores, num_levels, float(low), float(high))
    if _checks.is_concrete(scores) and not (
            _checks.is_concrete(levels) and _checks.device_all(_levels_valid(levels, num_levels))):
        # Only NaN / inf or out-of-range scores map to the invalid levels -1 and L.
        _checks.check_finite("scores", scores)
        with jax.ensure_compile_time_eval():
            bad = _outside(scores, float(low), float(high))
        if not _checks.concrete_flag(jnp.any, bad):
            return levels
        index = _checks.first_index(bad)
        raise ValueError(
            f"scores has {jax.device_get(scores[index])} at index {index}, outside [low, high] = "
            f"[{low}, {high}]; scores are never clipped"
        )
    return levels


@functools.partial(jax.jit, static_argnames="num_levels")
def _levels_valid(levels: jax.Array, num_levels: int) -> jax.Array:
    return jnp.all((levels >= 0) & (levels < num_levels))


@functools.partial(jax.jit, static_argnames=("low", "high"))
def _outside(scores: jax.Array, low: float, high: float) -> jax.Array:
    return (scores < low) | (scores > high)


def _discretize_dtype(dtype: jnp.dtype) -> jnp.dtype:
    return jnp.dtype(dtype) if jnp.issubdtype(dtype, jnp.floating) else jnp.dtype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("num_levels", "low", "high"))
def _discretize(scores: jax.Array, num_levels: int, low: float, high: float) -> jax.Array:
    dtype = _discretize_dtype(scores.dtype)
    # low and high rounded to the scores' dtype first: then low <= s <= high gives
    # 0 <= s - low <= high - low after rounding (rounding is monotone), so unit lies in
    # [0, 1]. (Rounding high - low once in float64 could make it smaller than the rounded
    # s - low of the top score, and push that score to the invalid level L.)
    low_d, high_d = jnp.asarray(low, dtype), jnp.asarray(high, dtype)
    unit = (scores.astype(dtype) - low_d) / (high_d - low_d)
    # unit * L can round up to L for unit just below 1: such a score is in the last bin.
    level = jnp.minimum(jnp.floor(unit * num_levels), num_levels - 1).astype(jnp.int32)
    level = jnp.where((unit < 0) | jnp.isnan(unit), -1, level)
    return jnp.where(unit > 1, num_levels, level)


def entropy_from_counts(
    counts: Real[ArrayLike, "*batch L"],
    *,
    base: float | None = None,
    estimator: str = "plugin",
) -> Float[Array, "*batch"]:
    """Entropy of each row of level counts.

    With ``n = sum_l c_l`` and ``p_l = c_l / n``:

        plug-in:       H = - sum_l p_l log p_l                (0 log 0 = 0)
        Miller-Madow:  H = plug-in + (m - 1) / (2 n),  m = #{l : c_l > 0}

    divided by ``log(base)`` when ``base`` is given. The plug-in value lies in ``[0, log L]``;
    the Miller-Madow correction removes the ``O(1/n)`` downward bias and may exceed ``log L``.
    Values and gradients are NaN-free for empty bins.

    Args:
      counts: non-negative counts ``[..., L]`` (integer or float; e.g. from
        :func:`rating_histogram`). Integer counts beyond the default integer range (int64
        counts over 2^31 without 64-bit mode) are converted to floats, never wrapped.
      base: logarithm base, a finite number > 1 (``2`` gives bits, ``math.e`` nats);
        ``None`` means natural log (nats). Anything else is a ValueError.
      estimator: ``"plugin"`` or ``"miller_madow"``.

    Returns:
      Entropies ``[...]`` in the default float dtype (float32 unless x64 is enabled).

    Raises:
      ValueError: negative or non-finite counts, or a row with zero total (its entropy is
        undefined; under an outer ``jit`` such a row gives NaN).
    """
    _checks.check_base(base)
    _checks.check_choice("estimator", estimator, _checks.ESTIMATORS)
    counts = _checks.as_array("counts", _wide_counts_as_float(counts))
    _checks.check_float_dtype("counts", counts)
    if counts.ndim < 1 or counts.shape[-1] < 1:
        raise ValueError(f"counts must have shape [..., L] with L >= 1, got {counts.shape}")
    _checks.check_finite("counts", counts)
    if _checks.is_concrete(counts) and not _checks.concrete_flag(
            lambda c: jnp.all(c >= 0), counts):
        raise ValueError("counts must be non-negative")
    _checks.check_rules_observed(counts, "counts")
    return _entropy_from_counts(counts, base, estimator)


def _wide_counts_as_float(counts: ArrayLike) -> ArrayLike:
    """Host integer counts beyond JAX's default integer range (e.g. the int64 totals of
    :mod:`encore_jax.workflows.streaming` over more than 2^31 ratings of a rule) as float64 host
    counts, which JAX converts to its default float dtype (relative rounding 6e-8 in float32)
    instead of wrapping them around."""
    if isinstance(counts, jax.Array):
        return counts
    try:
        host = np.asarray(counts)
    except Exception:  # as_array reports it
        return counts
    if host.dtype.kind in "iu" and _checks.first_unrepresentable(host) is not None:
        return host.astype(np.float64)
    return counts


@functools.partial(jax.jit, static_argnames=("base", "estimator"))
def _entropy_from_counts(
    counts: jax.Array, base: float | None, estimator: str
) -> jax.Array:
    dtype = counts.dtype if jnp.issubdtype(counts.dtype, jnp.floating) else jnp.result_type(float)
    c = counts.astype(dtype)
    n = jnp.sum(c, axis=-1, keepdims=True)
    observed = c > 0
    # Double-where: empty bins take p = 1 in the log so that neither the value (0 log 0) nor
    # the gradient (d/dp p log p = log p + 1 -> -inf at 0) can produce NaN.
    p = jnp.where(observed, c / jnp.where(n > 0, n, 1), 1)
    # 0 - sum (not -sum): a rule with one observed level has sum +0, whose negation is -0.0.
    h = 0.0 - jnp.sum(jnp.where(observed, p * jnp.log(p), 0), axis=-1)
    n = n[..., 0]
    if estimator == "miller_madow":
        support = jnp.sum(observed, axis=-1).astype(dtype)
        h = h + (support - 1) / (2 * jnp.where(n > 0, n, 1))
    if base is not None:
        h = h / np.log(base).astype(dtype)
    return jnp.where(n > 0, h, jnp.nan)


@functools.partial(jax.jit, static_argnames=("num_levels", "base", "estimator"))
def _rating_entropy(
    ratings: jax.Array,
    mask: jax.Array | None,
    num_levels: int,
    base: float | None,
    estimator: str,
) -> jax.Array:
    counts = _histogram_impl(ratings, mask, num_levels)
    entropies = _entropy_of_observed_counts(counts, _observed_per_rule(ratings, mask), base,
                                            estimator)
    return entropies, ~jnp.any(jnp.isnan(entropies))  # the validity flag, same program


def _entropy_of_observed_counts(
    counts: jax.Array, expected: jax.Array | int, base: float | None, estimator: str
) -> jax.Array:
    """Entropy of ``counts [K, L]``, NaN for a rule whose counts miss observed entries."""
    h = _entropy_from_counts(counts, base, estimator)
    # An observed level outside 0..L-1 (possible only under an outer jit, where the range
    # check cannot raise) matches no bin; poison that rule rather than drop the rating.
    return jnp.where(jnp.sum(counts, axis=-1, dtype=jnp.int32) == expected, h, jnp.nan)


_jitted_entropy_of_observed_counts = jax.jit(_entropy_of_observed_counts,
                                             static_argnames=("base", "estimator"))


def rating_entropy(
    ratings: Integer[ArrayLike, "N K"],
    num_levels: int,
    *,
    mask: Bool[ArrayLike, "N K"] | None = None,
    base: float | None = None,
    estimator: str = "plugin",
) -> Float[Array, " K"]:
    """Entropy ``H_k`` of each rule's discrete ratings, in one jitted call.

    Equivalent to ``entropy_from_counts(rating_histogram(ratings, L, mask=mask), ...)``.

    Args:
      ratings: integer levels ``[N, K]`` in ``0..L-1``.
      num_levels: ``L`` (>= 2); ``H_k <= log L``.
      mask: optional boolean ``[N, K]``, ``True`` = observed.
      base: logarithm base > 1, ``None`` = natural log (anything else: ValueError).
      estimator: ``"plugin"`` or ``"miller_madow"``.

    Returns:
      ``[K]`` entropies.

    Raises:
      ValueError / TypeError: as :func:`rating_histogram`, and a rule with no observed rating.
        Under an outer ``jit`` those rules give NaN instead.
    """
    num_levels = _checks.check_num_levels(num_levels)
    _checks.check_base(base)
    _checks.check_choice("estimator", estimator, _checks.ESTIMATORS)
    ratings, mask = _validated_ratings(ratings, num_levels, mask)
    if mask is None and ratings.shape[0] == 0:
        raise ValueError("ratings has zero rows; entropy is undefined")
    sharded = _row_sharded_counts(ratings, mask, num_levels)
    if sharded is not None:
        entropies = _jitted_entropy_of_observed_counts(*sharded, base, estimator)
        ok = _all_not_nan(entropies)
    else:
        entropies, ok = _rating_entropy(ratings, mask, num_levels, base, estimator)
    # The kernel's NaN marks exactly the rules with an invalid observed level or with no
    # observation: "no NaN" is the validity flag, and the data was read once.
    if _checks.is_concrete(ratings) and (mask is None or _checks.is_concrete(mask)) and not (
            _checks.is_concrete(ok) and _checks.device_all(ok)):
        _raise_for_invalid_levels(jnp.asarray(False), ratings, num_levels, mask)
        if mask is not None:
            _checks.check_rules_observed(jnp.sum(mask, axis=0)[:, None], "mask")
    return entropies


@jax.jit
def _all_not_nan(x: jax.Array) -> jax.Array:
    return ~jnp.any(jnp.isnan(x))
