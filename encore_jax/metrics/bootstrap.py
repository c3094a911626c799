"""Percentile bootstrap intervals of per-item values (:func:`bootstrap_ci`): item draws for any
statistic, and the exact multinomial over cells of equal items for the mean
(:mod:`encore_jax.metrics._cells`), with strata and clusters."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import ArrayLike, Bool, Integer, PRNGKeyArray, Real

from encore_jax import _checks
from encore_jax.metrics import _cells

__all__ = ["BootstrapCI", "bootstrap_ci", "masked_mean", "percentile_interval"]

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
    strata: Integer[ArrayLike, " N"] | None = None,
    clusters: Integer[ArrayLike, " N"] | None = None,
    method: str = "auto",
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

    **Strata** (``strata [N]`` integer labels, e.g. the RewardBench subsets): each stratum
    resamples its own counted items, ``n_s`` of them (the stratified bootstrap); the
    statistic is then taken over all resampled items. The item draws become
    ``j = start_s + (u mod n_s)`` for a slot of stratum ``s`` (counted items sorted by
    stratum, then position). **Clusters** (``clusters [N]`` non-negative integer labels, e.g.
    the prompt of each pair): whole clusters are resampled (within their stratum, which must
    be the same for all items of a cluster), and the replicate of the mean is the ratio
    ``sum of resampled items' values / number of resampled items``; needs
    ``statistic="mean"`` and a shared mask.

    **The exact multinomial path** (``method="cells"``, and the default ``"auto"`` when it
    applies). For the mean, resampling ``n`` items with replacement only matters through how
    often each *cell* of equal items is drawn: with per-item values taking few distinct
    values (pair credits 0 / 1/2 / 1, paired differences of credits) those counts are a
    multinomial over the cells, drawn exactly at ``O(B x cells)`` cost instead of
    ``O(B x n)``. A cell is a distinct column of the rows sharing the resamples
    (``values[..., j]`` with a shared mask, so the rows stay paired) together with its
    stratum, or a distinct (column of sums, size, stratum) of a cluster; with a per-row
    mask each row is its own multinomial (its interval is exact; rows are then not paired).
    The replicates have exactly the distribution of the item-by-item bootstrap (up to the
    rounding of the cell probabilities to the values' dtype) but are other random draws
    than the item draws documented above. ``"auto"`` takes this path when ``statistic`` is
    ``"mean"``, the arrays are not tracers, there are at most
    ``encore_jax.metrics._cells.MAX_CELLS`` (64) cells (found on the device, one pass per
    cell; the decision is made on the host from that count) and no stratum holds more than
    ``2^24`` units; otherwise the item draws (``method="draws"``) are used. A stratum of
    more than ``encore_jax.metrics._cells.PIECE_UNITS`` units draws each count as a sum of
    binomials of at most that many trials (exact in distribution; one float32 binomial
    draw is not, at millions of trials). ``"cells"``
    raises when the path does not apply.

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
      strata: optional integer stratum labels ``[N]`` (shared by all rows).
      clusters: optional non-negative integer cluster labels ``[N]`` (shared by all rows).
      method: ``"auto"``, ``"cells"`` (exact multinomial over cells) or ``"draws"`` (the
        item draws above).

    Returns:
      :class:`BootstrapCI` ``(estimate, low, high, replicates)``.
    """
    num_resamples = _checks.check_positive_int("num_resamples", num_resamples)
    _checks.check_confidence(confidence)
    method = _checks.check_choice("method", method, ("auto", "cells", "draws"))
    values = _checks.as_array("values", values)
    _checks.check_float_dtype("values", values)
    if values.ndim < 1 or values.shape[-1] == 0:
        raise ValueError(f"values must have shape [..., N] with N >= 1, got {values.shape}")
    _checks.check_finite("values", values)
    is_mean = isinstance(statistic, str)
    if is_mean:
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
    mask = _validated_mask(mask, values)
    strata = _validated_labels("strata", strata, n)
    clusters = _validated_labels("clusters", clusters, n)
    if clusters is not None and not is_mean:
        raise ValueError("clusters need statistic='mean' (the replicate is a ratio of sums)")
    if clusters is not None and mask is not None and mask.ndim > 1:
        raise ValueError("clusters need a shared mask [N] (or none), got a per-row mask "
                         f"{mask.shape}")
    if method == "cells" and not is_mean:
        raise ValueError("method='cells' needs statistic='mean'")
    batch_shape = values.shape[:-1]
    sizes = None
    if clusters is not None:
        estimate = _masked_mean_jit(values, jnp.ones((n,), bool) if mask is None else mask)
        units, mask, strata = _cluster_units(values.reshape(-1, n), mask, strata, clusters)
        values, sizes, statistic = units[:-1], units[-1], _ratio_of_sums
        n = values.shape[-1]
    if method != "draws" and is_mean and not any(
            isinstance(x, jax.core.Tracer) for x in (key, values, mask, strata)):
        flat_mask = None if mask is None or mask.ndim == 1 else mask.reshape(-1, n)
        with jax.ensure_compile_time_eval():  # concrete arrays inside an outer trace too
            replicates = _multinomial_bootstrap(
                key, values.reshape(-1, n), mask if flat_mask is None else flat_mask, strata,
                num_resamples, sizes)
        if replicates is not None:
            if clusters is None:
                estimate = _masked_mean_jit(values, jnp.ones((n,), bool) if mask is None
                                            else mask)
            replicates = replicates.reshape((*batch_shape, num_resamples))
            low, high = _percentile_interval(replicates, confidence)
            return BootstrapCI(estimate, low, high, replicates)
        if method == "cells":
            raise ValueError(
                f"method='cells' needs at most {_cells.MAX_CELLS} distinct cells and at most "
                f"2^24 units; use method='auto' or 'draws'")
    if clusters is not None:  # item draws over the clusters, then the ratio of sums
        units = jnp.concatenate([values.reshape(-1, n), sizes[None]], axis=0)
        _, replicates = _bootstrap_shared(key, units, mask, strata,
                                          num_resamples=num_resamples,
                                          batch_size=batch_size, statistic=statistic)
        replicates = replicates.reshape((*batch_shape, num_resamples))
        low, high = _percentile_interval(replicates, confidence)
        return BootstrapCI(estimate, low, high, replicates)
    sharded = None if (mask is not None and mask.ndim > 1) or strata is not None else (
        _resample_parallel(key, values, mask, num_resamples, batch_size, statistic))
    if sharded is not None:
        estimate, replicates = sharded
    elif mask is None or mask.ndim == 1:
        kernel = functools.partial(
            _bootstrap_shared, num_resamples=num_resamples, batch_size=batch_size,
            statistic=statistic,
        )
        estimate, replicates = kernel(key, values, mask, strata)
    else:
        batch_shape = values.shape[:-1]
        flat_values = values.reshape(-1, n)
        flat_mask = mask.reshape(-1, n)
        estimate, replicates = _bootstrap_per_row(
            key, flat_values, flat_mask, strata, num_resamples=num_resamples,
            batch_size=batch_size, statistic=statistic,
        )
        estimate = estimate.reshape(batch_shape)
        replicates = replicates.reshape((*batch_shape, num_resamples))
    low, high = _percentile_interval(replicates, confidence)
    return BootstrapCI(estimate, low, high, replicates)


def _validated_mask(mask: Any, values: jax.Array) -> jax.Array | None:
    if mask is None:
        return None
    n = values.shape[-1]
    mask = _checks.as_array("mask", mask)
    if mask.dtype != jnp.bool_:
        raise TypeError(f"mask must be boolean (True = counted), got dtype {mask.dtype}")
    if mask.shape not in ((n,), values.shape):
        raise ValueError(
            f"mask has shape {mask.shape}; expected [N] = {(n,)} or values' shape "
            f"{values.shape}"
        )
    if _checks.is_concrete(mask):
        with jax.ensure_compile_time_eval():
            empty = ~jnp.any(mask, axis=-1).reshape(-1)  # one flag per row, on the device
        if _checks.concrete_flag(jnp.any, empty):
            rows = np.flatnonzero(jax.device_get(empty))[:5].tolist()
            raise ValueError(
                f"mask counts no item in row(s) {rows} (flattened batch); "
                "a statistic over zero items is undefined"
            )
    return mask


def _validated_labels(name: str, labels: Any, n: int) -> jax.Array | None:
    """Optional integer labels ``[N]`` (strata or clusters) as int32."""
    if labels is None:
        return None
    labels = _checks.as_array(name, labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"{name} must hold integer labels, got dtype {labels.dtype}")
    if labels.shape != (n,):
        raise ValueError(f"{name} must have shape [N] = {(n,)}, got {labels.shape}")
    return labels.astype(jnp.int32)


def _ratio_of_sums(sample: jax.Array, valid: jax.Array) -> jax.Array:
    """The clustered mean: ``sample [..., R + 1, G]`` holds each drawn cluster's sums (rows
    ``0..R-1``) and size (last row)."""
    valid = jnp.broadcast_to(valid, sample.shape[-1:])
    totals = jnp.sum(jnp.where(valid, sample, 0.0), axis=-1)
    return totals[..., :-1] / totals[..., -1:]


def _cluster_units(
    values: jax.Array, mask: jax.Array | None, strata: jax.Array | None, clusters: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array | None]:
    """Clusters as the units resampled, from ``values [R, N]``: ``(sums and sizes
    [R + 1, G], counted clusters [G], cluster strata [G] or None)``."""
    if not _checks.is_concrete(clusters):
        raise ValueError("clusters must be concrete (not traced): the number of clusters "
                         "sets an array shape")
    if not _checks.concrete_flag(lambda c: jnp.min(c) >= 0, clusters):
        index = _checks.first_index(clusters < 0)
        with jax.ensure_compile_time_eval():
            label = int(jax.device_get(clusters[index[0]]))
        raise ValueError(f"clusters has {label} at index {index}; cluster labels must be "
                         "non-negative integers")
    with jax.ensure_compile_time_eval():
        num_clusters = int(jax.device_get(jnp.max(clusters))) + 1
        units, counted, unit_strata, consistent = _cluster_sums(values, mask, strata,
                                                                clusters, num_clusters)
    if strata is not None and not _checks.device_all(consistent):
        raise ValueError("strata must be the same for all counted items of a cluster "
                         "(clusters nest in strata)")
    return units, counted, unit_strata


@functools.partial(jax.jit, static_argnames="num_clusters")
def _cluster_sums(
    values: jax.Array, mask: jax.Array | None, strata: jax.Array | None, clusters: jax.Array,
    num_clusters: int,
) -> tuple[jax.Array, jax.Array, jax.Array | None, jax.Array]:
    counted = jnp.ones(values.shape[-1:], bool) if mask is None else mask
    sums = jax.ops.segment_sum(jnp.where(counted, values, 0.0).T, clusters,
                               num_segments=num_clusters).T
    sizes = jax.ops.segment_sum(counted.astype(values.dtype), clusters,
                                num_segments=num_clusters)
    units = jnp.concatenate([sums, sizes[None]], axis=0)
    present = sizes > 0
    if strata is None:
        return units, present, None, jnp.asarray(True)
    big = jnp.iinfo(jnp.int32).max
    high = jax.ops.segment_max(jnp.where(counted, strata, -big), clusters, num_clusters)
    low = jax.ops.segment_min(jnp.where(counted, strata, big), clusters, num_clusters)
    return units, present, jnp.where(present, high, 0), jnp.all((high == low) | ~present)


def _multinomial_bootstrap(
    key: jax.Array, sums: jax.Array, counted: jax.Array | None, strata: jax.Array | None,
    num_resamples: int, sizes: jax.Array | None = None,
) -> jax.Array | None:
    """Replicates ``[R, B]`` of the ratio of sums from the exact multinomial over cells (see
    :mod:`encore_jax.metrics._cells`) of units ``sums [R, U]`` (items: ``sizes`` None; or
    clusters), or ``None`` when there are too many cells or units. ``counted`` is ``[U]``
    or, for items, per row ``[R, U]`` (each row then its own multinomial)."""
    u = sums.shape[-1]
    labels = jnp.zeros((u,), jnp.int32) if strata is None else strata
    counted = jnp.ones((u,), bool) if counted is None else counted
    sizes = jnp.ones((u,), jnp.int32) if sizes is None else sizes.astype(jnp.int32)
    per_row = counted.ndim > 1
    if per_row:
        found, *cells = jax.vmap(lambda row, c: _cells.find_cells(row[None], sizes, labels, c))(
            sums, counted)
    else:
        found, *cells = _cells.find_cells(sums, sizes, labels, counted)
    most = int(jax.device_get(jnp.max(found)))
    if most > _cells.MAX_CELLS or u > _cells.MAX_UNITS_PER_STRATUM:
        return None
    # Only the cells found, rounded up to a power of two (a few compiled shapes).
    used = 1 << max(0, most - 1).bit_length()
    cells = [c[..., :used] for c in cells]
    # Split draws (see _cells) sized by the largest stratum's number of units.
    largest = u
    if strata is not None and u > _cells.PIECE_UNITS:
        largest = int(np.unique(np.asarray(jax.device_get(labels)), return_counts=True)[1].max())
    pieces = _cells.pieces_for(largest)
    if per_row:
        return jax.vmap(lambda *c: _cells.multinomial_replicates(
            key, *c, num_resamples=num_resamples, pieces=pieces))(*cells)[:, 0]
    return _cells.multinomial_replicates(key, *cells, num_resamples=num_resamples,
                                         pieces=pieces)


_masked_mean_jit = jax.jit(masked_mean)


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
    :func:`encore_jax.mesh.row_mesh`); else ``None``.

    Each resample reads every item, so the items are replicated (1e6 float32 values are
    4 MB) and device ``d`` computes its block of resamples ``b``; the draws are those of the
    single-device kernel, so the replicates are the same bits."""
    from encore_jax.mesh import replicated, row_mesh

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
def percentile_interval(replicates: ArrayLike, confidence: float
                        ) -> tuple[jax.Array, jax.Array]:
    """The percentile interval of bootstrap ``replicates [..., B]`` at ``confidence`` ``c``:
    the ``(1 - c) / 2`` and ``(1 + c) / 2`` quantiles over the last axis, linearly
    interpolated (``numpy.percentile``'s default). The one interval rule of the library's
    bootstraps."""
    replicates = jnp.asarray(replicates)
    tail = (1.0 - confidence) / 2.0
    q = jnp.quantile(replicates, jnp.array([tail, 1.0 - tail], replicates.dtype), axis=-1)
    return q[0], q[1]


_percentile_interval = percentile_interval


def _counted_positions(mask: jax.Array | None, n: int) -> tuple[jax.Array, jax.Array]:
    """Positions of the counted items in order (then the others) and their number."""
    if mask is None:
        return jnp.arange(n, dtype=jnp.int32), jnp.asarray(n, jnp.int32)
    # A stable sort on "not counted" lists the counted positions first, in order; it
    # compiles faster than jnp.nonzero(size=n). Draws never index past the first `count`.
    positions = jnp.argsort(~mask, stable=True).astype(jnp.int32)
    return positions, jnp.sum(mask, dtype=jnp.int32)


def _draws(key: jax.Array, resample: jax.Array, n: int, count: jax.Array,
           start: jax.Array | None = None) -> jax.Array:
    """Slot ``i``'s draw ``start_i + (u_i mod count_i)`` (``count`` a scalar without strata,
    else per slot, with the slot's stratum's first position ``start``)."""
    bits = jax.random.bits(jax.random.fold_in(key, resample), (n,), jnp.uint32)
    draws = jax.lax.rem(bits, count.astype(jnp.uint32)).astype(jnp.int32)
    return draws if start is None else start + draws


def _stratified_positions(
    mask: jax.Array | None, strata: jax.Array, n: int
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """``(positions, count, start, size)``: counted items sorted by stratum then position
    (the others after), their number, and for each slot the first slot and the number of
    slots of its stratum (slots past ``count`` draw among all counted slots)."""
    counted = jnp.ones((n,), bool) if mask is None else mask
    key = jnp.where(counted, strata, jnp.iinfo(jnp.int32).max)
    positions = jnp.argsort(key, stable=True).astype(jnp.int32)
    count = jnp.sum(counted, dtype=jnp.int32)
    sorted_key = key[positions]
    start = jnp.searchsorted(sorted_key, sorted_key, side="left").astype(jnp.int32)
    end = jnp.searchsorted(sorted_key, sorted_key, side="right").astype(jnp.int32)
    slot = jnp.arange(n, dtype=jnp.int32)
    start = jnp.where(slot < count, start, 0)
    size = jnp.where(slot < count, end - start, count)
    return positions, count, start, size


@functools.partial(jax.jit, static_argnames=("num_resamples", "batch_size", "statistic"))
def _bootstrap_shared(
    key: jax.Array,
    values: jax.Array,
    mask: jax.Array | None,
    strata: jax.Array | None = None,
    *,
    num_resamples: int,
    batch_size: int,
    statistic: Callable[[jax.Array, jax.Array], jax.Array],
) -> tuple[jax.Array, jax.Array]:
    n = values.shape[-1]
    if strata is not None:
        positions, count, start, size = _stratified_positions(mask, strata, n)
        valid = jnp.arange(n, dtype=jnp.int32) < count
        estimate = statistic(jnp.take(values, positions, axis=-1), valid)

        def stratified(resample: jax.Array) -> jax.Array:
            items = positions[_draws(key, resample, n, size, start)]
            return statistic(jnp.take(values, items, axis=-1), valid)

        replicates = jax.lax.map(stratified, jnp.arange(num_resamples, dtype=jnp.uint32),
                                 batch_size=batch_size)
        return estimate, jnp.moveaxis(replicates, 0, -1)
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
    strata: jax.Array | None = None,
    *,
    num_resamples: int,
    batch_size: int,
    statistic: Callable[[jax.Array, jax.Array], jax.Array],
) -> tuple[jax.Array, jax.Array]:
    def row(row_values: jax.Array, row_mask: jax.Array) -> tuple[jax.Array, jax.Array]:
        return _bootstrap_shared(
            key, row_values, row_mask, strata, num_resamples=num_resamples,
            batch_size=batch_size, statistic=statistic,
        )

    return jax.vmap(row)(values, mask)
