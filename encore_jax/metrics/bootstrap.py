"""Percentile bootstrap intervals of per-item values (:func:`bootstrap_ci`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import ArrayLike, Bool, PRNGKeyArray, Real

from encore_jax import _checks

__all__ = ["BootstrapCI", "bootstrap_ci", "masked_mean"]

# Elements (resamples x items) drawn per lax.map step: 2**22 int32 draws plus the gathered
# values stay at a few tens of MB (smaller steps stay cache-resident); a million items then go
# 4 resamples at a time.
_BOOTSTRAP_ELEMENTS_PER_STEP = 2**22


class BootstrapCI(NamedTuple):
    """A statistic with its percentile bootstrap interval.

    Attributes:
      estimate: the statistic on the original sample ``[*batch]``.
      low, high: the interval ``[*batch]`` (the ``(1 - c) / 2`` and ``(1 + c) / 2``
        quantiles of the replicates, linear interpolation as ``numpy.percentile``).
      replicates: the statistic on each resample ``[*batch, B]``.
    """

    estimate: jax.Array
    low: jax.Array
    high: jax.Array
    replicates: jax.Array

    def __repr__(self) -> str:
        """Estimate and interval only; the replicates are summarised by their shape."""
        return (
            f"BootstrapCI(estimate={_short(self.estimate)}, low={_short(self.low)}, "
            f"high={_short(self.high)}, replicates=<shape {tuple(np.shape(self.replicates))}>)"
        )


def _short(x: Any) -> str:
    """A scalar as a number, a small array as a list, a larger one by its shape."""
    if _checks.is_concrete(x) and np.ndim(x) == 0:
        return f"{float(x):.4g}"
    if _checks.is_concrete(x) and np.size(x) <= 8:
        return np.array2string(np.asarray(x), precision=4, separator=", ")
    return f"<shape {tuple(np.shape(x))}>"


def masked_mean(sample: jax.Array, valid: jax.Array) -> jax.Array:
    """``sum_j valid_j x_j / sum_j valid_j`` over the last axis: the default bootstrap
    statistic (``sample [..., N]``, ``valid [..., N]`` or ``[N]`` boolean)."""
    valid = jnp.broadcast_to(valid, sample.shape)
    total = jnp.sum(jnp.where(valid, sample, 0.0), axis=-1)
    return total / jnp.sum(valid, axis=-1).astype(total.dtype)


def bootstrap_ci(
    key: PRNGKeyArray,
    values: Real[ArrayLike, "*batch N"],
    *,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    statistic: Callable[[jax.Array, jax.Array], jax.Array] | str = "mean",
    mask: Bool[ArrayLike, "*#batch N"] | None = None,
    batch_size: int | None = None,
) -> BootstrapCI:
    """Percentile bootstrap interval of a statistic of per-item values.

    Let ``V = {i : mask_i}`` be the ``n`` counted items (all ``N`` without a mask) and ``T``
    the statistic. Resample ``b = 0..B-1`` draws ``n`` items of ``V`` with replacement,
    ``T*_b = T(x_{V[j_b1]}, ..., x_{V[j_bn]})``, and the interval at confidence ``c`` is

        [ Q_{(1-c)/2}(T*_1..T*_B),  Q_{(1+c)/2}(T*_1..T*_B) ]

    with ``Q`` the linearly interpolated empirical quantile (``numpy.percentile``'s default).

    The draws are reproducible and documented: ``j_b = u_b[:n] mod n`` with
    ``u_b = jax.random.bits(jax.random.fold_in(key, b), (N,), uint32)``, indexing the counted
    items in their original order. The modulo maps 2^32 bit patterns onto ``n`` items, so an
    item's draw probability is off by at most a relative ``n / 2^32`` (2.3e-4 at a million
    items), far below the Monte-Carlo error of the interval; it is used because exact
    ``jax.random.randint`` costs two random words per draw.

    Every row of a batch ``values [*batch, N]`` uses the same draws ``u_b``: with a shared
    mask (``None`` or ``[N]``) the resamples are *paired* across rows (e.g. methods compared
    on the same resampled pairs), and the draws are generated once. With a per-row mask
    ``[*batch, N]`` each row resamples its own counted items.

    Resamples run in ``lax.map`` steps of ``batch_size`` resamples vmapped at once, so memory
    is ``O(batch_size * N)`` whatever ``num_resamples`` is (timings: ``benchmarks/``).

    Args:
      key: PRNG key.
      values: per-item values ``x`` ``[..., N]`` (e.g. :func:`pair_credit`), finite.
      num_resamples: ``B`` >= 1.
      confidence: ``c`` in ``(0, 1)``.
      statistic: ``"mean"`` (the masked mean) or a jittable ``T(sample, valid)`` taking the
        resampled values ``[..., N]`` and a boolean ``valid [N]`` (``True`` for the first
        ``n`` draws, the ones that count) and reducing the last axis; it must be hashable
        (a module-level function, not a fresh lambda per call, or it recompiles).
      mask: optional boolean ``[N]`` or ``[*batch, N]``; ``True`` = item counted. Each row
        needs at least one counted item.
      batch_size: resamples per ``lax.map`` step; ``None`` picks ``max(1, 2^22 // N)``.

    Returns:
      :class:`BootstrapCI` ``(estimate, low, high, replicates)``.
    """
    num_resamples = _checks.check_positive_int("num_resamples", num_resamples)
    _checks.check_confidence(confidence)
    values = _checks.as_array("values", values)
    _checks.check_float_dtype("values", values)
    if values.ndim < 1 or values.shape[-1] == 0:
        raise ValueError(f"values must have shape [..., N] with N >= 1, got {values.shape}")
    _checks.check_finite("values", values)
    if isinstance(statistic, str):
        _checks.check_choice("statistic", statistic, ("mean",))
        statistic = masked_mean
    elif not callable(statistic):
        raise TypeError(f"statistic must be 'mean' or a callable, got {statistic!r}")
    n = values.shape[-1]
    if batch_size is None:
        batch_size = max(1, _BOOTSTRAP_ELEMENTS_PER_STEP // n)
    batch_size = min(_checks.check_positive_int("batch_size", batch_size), num_resamples)
    if jnp.issubdtype(values.dtype, jnp.integer):
        values = values.astype(jnp.float32)
    if mask is not None:
        mask = _checks.as_array("mask", mask)
        if mask.dtype != jnp.bool_:
            raise TypeError(f"mask must be boolean (True = counted), got dtype {mask.dtype}")
        if mask.shape not in ((n,), values.shape):
            raise ValueError(
                f"mask has shape {mask.shape}; expected [N] = {(n,)} or values' shape "
                f"{values.shape}"
            )
        if _checks.is_concrete(mask):
            empty = np.argwhere(~np.asarray(mask).any(axis=-1).reshape(-1))
            if empty.size:
                raise ValueError(
                    f"mask counts no item in row(s) {empty[:5, 0].tolist()} (flattened batch); "
                    "a statistic over zero items is undefined"
                )
    sharded = None if mask is not None and mask.ndim > 1 else _resample_parallel(
        key, values, mask, num_resamples, batch_size, statistic)
    if sharded is not None:
        estimate, replicates = sharded
    elif mask is None or mask.ndim == 1:
        kernel = functools.partial(
            _bootstrap_shared, num_resamples=num_resamples, batch_size=batch_size,
            statistic=statistic,
        )
        estimate, replicates = kernel(key, values, mask)
    else:
        batch_shape = values.shape[:-1]
        flat_values = values.reshape(-1, n)
        flat_mask = mask.reshape(-1, n)
        estimate, replicates = _bootstrap_per_row(
            key, flat_values, flat_mask, num_resamples=num_resamples, batch_size=batch_size,
            statistic=statistic,
        )
        estimate = estimate.reshape(batch_shape)
        replicates = replicates.reshape((*batch_shape, num_resamples))
    low, high = _percentile_interval(replicates, confidence)
    return BootstrapCI(estimate, low, high, replicates)


def _resample_parallel(
    key: jax.Array,
    values: jax.Array,
    mask: jax.Array | None,
    num_resamples: int,
    batch_size: int,
    statistic: Callable[[jax.Array, jax.Array], jax.Array],
) -> tuple[jax.Array, jax.Array] | None:
    """``(estimate, replicates)`` with the *resamples* split across the devices that hold
    ``values``' items, when the item axis is sharded (see
    :func:`encore_jax.sharding.row_mesh`); else ``None``.

    Each resample reads every item, so the items are replicated (1e6 float32 values are
    4 MB) and device ``d`` computes its block of resamples ``b``; the draws are those of the
    single-device kernel, so the replicates are the same bits."""
    from encore_jax.sharding import replicated, row_mesh

    placed = row_mesh(values, axis=-1)
    if placed is None:
        return None
    mesh, axes = placed
    devices = int(np.prod([mesh.shape[a] for a in axes]))
    per_device = -(-num_resamples // devices)
    host_resamples = np.arange(per_device * devices, dtype=np.uint32)
    # Built shard by shard (and the key from its raw data): device_put cannot address other
    # hosts' devices. The program's in_specs gather the sharded values and mask.
    resamples = jax.make_array_from_callback(host_resamples.shape,
                                             NamedSharding(mesh, P(axes)),
                                             lambda index: host_resamples[index])
    typed = jnp.issubdtype(jnp.asarray(key).dtype, jax.dtypes.prng_key)
    key_impl = jax.random.key_impl(key) if typed else None
    key_data = replicated(mesh, jax.random.key_data(key) if typed else key)
    program = _resample_program(mesh, axes, values.shape[-1], min(batch_size, per_device),
                                statistic, mask is not None, key_impl)
    estimate, replicates = program(key_data, values, resamples,
                                   *(() if mask is None else (mask,)))
    return estimate, jnp.moveaxis(replicates[:num_resamples], 0, -1)


@functools.cache
def _resample_program(
    mesh: Mesh, axes: tuple[str, ...], n: int, batch_size: int, statistic: Callable,
    masked: bool,
    key_impl: Any,
) -> Callable[..., tuple[jax.Array, jax.Array]]:
    def local(key_data: jax.Array, values: jax.Array, resamples: jax.Array, *mask: jax.Array):
        key = key_data if key_impl is None else jax.random.wrap_key_data(key_data, impl=key_impl)
        counted = mask[0] if masked else None
        positions, count = _counted_positions(counted, n)
        valid = jnp.arange(n, dtype=jnp.int32) < count
        estimate = statistic(jnp.take(values, positions, axis=-1), valid)

        def one(resample: jax.Array) -> jax.Array:
            items = positions[_draws(key, resample, n, count)]
            return statistic(jnp.take(values, items, axis=-1), valid)

        return estimate, jax.lax.map(one, resamples, batch_size=batch_size)  # [B / D, ...]

    specs = (P(), P(), P(axes)) + ((P(),) if masked else ())
    return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=specs,
                                 out_specs=(P(), P(axes)), check_vma=False))


@functools.partial(jax.jit, static_argnames="confidence")
def _percentile_interval(replicates: jax.Array, confidence: float) -> tuple[jax.Array, jax.Array]:
    tail = (1.0 - confidence) / 2.0
    q = jnp.quantile(replicates, jnp.array([tail, 1.0 - tail], replicates.dtype), axis=-1)
    return q[0], q[1]


def _counted_positions(mask: jax.Array | None, n: int) -> tuple[jax.Array, jax.Array]:
    """Positions of the counted items in order (then the others) and their number."""
    if mask is None:
        return jnp.arange(n, dtype=jnp.int32), jnp.asarray(n, jnp.int32)
    # A stable sort on "not counted" lists the counted positions first, in order; it
    # compiles faster than jnp.nonzero(size=n). Draws never index past the first `count`.
    positions = jnp.argsort(~mask, stable=True).astype(jnp.int32)
    return positions, jnp.sum(mask, dtype=jnp.int32)


def _draws(key: jax.Array, resample: jax.Array, n: int, count: jax.Array) -> jax.Array:
    bits = jax.random.bits(jax.random.fold_in(key, resample), (n,), jnp.uint32)
    return jax.lax.rem(bits, count.astype(jnp.uint32)).astype(jnp.int32)


@functools.partial(jax.jit, static_argnames=("num_resamples", "batch_size", "statistic"))
def _bootstrap_shared(
    key: jax.Array,
    values: jax.Array,
    mask: jax.Array | None,
    *,
    num_resamples: int,
    batch_size: int,
    statistic: Callable[[jax.Array, jax.Array], jax.Array],
) -> tuple[jax.Array, jax.Array]:
    n = values.shape[-1]
    positions, count = _counted_positions(mask, n)
    if mask is None:  # every item counts: no position lookup, a constant all-True `valid`
        valid = jnp.ones((n,), bool)
        estimate = statistic(values, valid)
    else:
        valid = jnp.arange(n, dtype=jnp.int32) < count
        estimate = statistic(jnp.take(values, positions, axis=-1), valid)

    def one(resample: jax.Array) -> jax.Array:
        draws = _draws(key, resample, n, count)
        items = draws if mask is None else positions[draws]
        return statistic(jnp.take(values, items, axis=-1), valid)

    resamples = jnp.arange(num_resamples, dtype=jnp.uint32)
    replicates = jax.lax.map(one, resamples, batch_size=batch_size)  # [B, *batch]
    return estimate, jnp.moveaxis(replicates, 0, -1)


@functools.partial(jax.jit, static_argnames=("num_resamples", "batch_size", "statistic"))
def _bootstrap_per_row(
    key: jax.Array,
    values: jax.Array,
    mask: jax.Array,
    *,
    num_resamples: int,
    batch_size: int,
    statistic: Callable[[jax.Array, jax.Array], jax.Array],
) -> tuple[jax.Array, jax.Array]:
    def row(row_values: jax.Array, row_mask: jax.Array) -> tuple[jax.Array, jax.Array]:
        return _bootstrap_shared(
            key, row_values, row_mask, num_resamples=num_resamples, batch_size=batch_size,
            statistic=statistic,
        )

    return jax.vmap(row)(values, mask)
