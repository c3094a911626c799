"""The library's reductions data-parallel over many devices and hosts.

Rows (responses or pairs) are split across the devices of a one-axis
:class:`jax.sharding.Mesh`; each device reduces its own rows and the partial results are
summed across devices (``psum``), so for row shards ``X_1, ..., X_D``

    counts(X) = sum_d counts(X_d),      grad L(w) = (1/|M|) sum_d sum_{i in M_d} g_i(w),

and every device (and host) ends with the same global result. Ragged row counts are padded
to a multiple of the device count with masked rows, never dropped.

Inputs are **process-local** host arrays: on one host that is all the data; on several hosts
each process passes its own rows (after :func:`jax.distributed.initialize`, see the README
section "Scale"), and :func:`data_mesh` spans the devices of every host. Outputs that reduce
over rows (counts, entropies, loss, gradient, fitted weights, bootstrap intervals) are
replicated on every device; per-row outputs (composite rewards) come back as the calling
process's rows.

* histogram / entropy and composition run the single-device kernels per shard under
  :func:`jax.shard_map`;
* the Bradley–Terry loss and gradient sum per-shard partial sums with ``psum``; the fit runs
  the same compiled optax loop as :func:`encore_jax.fit_bt_weights` on row-sharded inputs
  (XLA's SPMD partitioner inserts the cross-device sums);
* the bootstrap splits the *resamples* across devices (each resample reads every row, so
  rows are replicated; 1e6 float32 margins are 4 MB) and reproduces
  :func:`encore_jax.metrics.bootstrap_ci`'s draws exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Integer, PRNGKeyArray, Real

from encore_jax import _checks, bradley_terry, metrics
from encore_jax.compose import _weighted_sum
from encore_jax.entropy import _entropy_from_counts, _histogram

__all__ = [
    "DATA_AXIS",
    "data_mesh",
    "shard_rows",
    "sharded_bootstrap_ci",
    "sharded_bt_gradient",
    "sharded_bt_loss",
    "sharded_compose",
    "sharded_fit_bt_weights",
    "sharded_rating_entropy",
    "sharded_rating_histogram",
]

DATA_AXIS = "data"


def data_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh (axis ``"data"``) over ``devices``; default every device of every
    process (``jax.devices()``), in JAX's global order."""
    devices = jax.devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("devices is empty; a mesh needs at least one device")
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def _mesh(mesh: Mesh | None) -> Mesh:
    if mesh is None:
        return data_mesh()
    if not isinstance(mesh, Mesh) or mesh.axis_names != (DATA_AXIS,):
        raise ValueError(
            f"mesh must be a jax.sharding.Mesh with the single axis {DATA_AXIS!r} (see "
            f"data_mesh()), got {mesh!r}"
        )
    return mesh


def _local_device_count(mesh: Mesh) -> int:
    return sum(d.process_index == jax.process_index() for d in mesh.devices.flat)


def _padded_local_rows(mesh: Mesh, rows: int) -> int:
    """Rows each process contributes: its own rows rounded up to a multiple of its device
    count, and (several processes) the largest such count, so that all processes agree."""
    local = _local_device_count(mesh)
    padded = -(-max(rows, 1) // local) * local
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        padded = int(np.max(multihost_utils.process_allgather(np.array(padded))))
    return padded


def shard_rows(
    x: ArrayLike, mesh: Mesh | None = None, *, fill: Any = 0
) -> tuple[jax.Array, jax.Array]:
    """Spreads process-local rows over the mesh, padded to a whole number per device.

    Args:
      x: this process's rows ``[n, ...]`` (a host array).
      mesh: a mesh from :func:`data_mesh` (default: all devices).
      fill: the value of padding rows.

    Returns:
      ``(global array [R, ...], valid [R])`` sharded along rows, ``valid`` marking real rows;
      ``R`` is the padded row count summed over processes.
    """
    mesh = _mesh(mesh)
    host = np.asarray(x)
    if host.ndim < 1:
        raise ValueError(f"x must have a row axis, got shape {host.shape}")
    rows = _padded_local_rows(mesh, host.shape[0])
    pad = rows - host.shape[0]
    padded = np.concatenate([host, np.full((pad, *host.shape[1:]), fill, host.dtype)])
    valid = np.arange(rows) < host.shape[0]
    sharding = NamedSharding(mesh, P(DATA_AXIS))
    return (
        jax.make_array_from_process_local_data(sharding, padded),
        jax.make_array_from_process_local_data(sharding, valid),
    )


def _replicated(mesh: Mesh, x: Any) -> jax.Array:
    """``x`` (the same host value on every process) on every device of the mesh; built
    shard by shard, as ``device_put`` cannot address other hosts' devices."""
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, NamedSharding(mesh, P()),
                                        lambda index: host[index])


def _local_rows(x: jax.Array, rows: int) -> jax.Array:
    """This process's rows of a row-sharded global array (its shards, in order, unpadded)."""
    shards = sorted(x.addressable_shards, key=lambda s: s.index[0].start or 0)
    seen: set[int] = set()
    parts = []
    for shard in shards:  # replicas of a row block on several devices appear once
        start = shard.index[0].start or 0
        if start not in seen:
            seen.add(start)
            parts.append(np.asarray(shard.data))
    return jnp.asarray(np.concatenate(parts)[:rows])


# ------------------------------------------------------------------------------------------
# Histogram and entropy
# ------------------------------------------------------------------------------------------


@functools.cache
def _histogram_program(mesh: Mesh, num_levels: int) -> Callable[..., jax.Array]:
    def local(ratings: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
        counts = _histogram(ratings, mask, num_levels)
        observed = jnp.sum(mask, axis=0, dtype=jnp.int32)
        return jax.lax.psum(counts, DATA_AXIS), jax.lax.psum(observed, DATA_AXIS)

    spec = P(DATA_AXIS)
    return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(spec, spec), out_specs=(P(), P()),
                                 check_vma=False))


def _sharded_counts(
    ratings: ArrayLike, num_levels: int, mask: ArrayLike | None, mesh: Mesh | None
) -> tuple[jax.Array, jax.Array]:
    mesh = _mesh(mesh)
    num_levels = _checks.check_num_levels(num_levels)
    ratings = np.asarray(ratings)
    _checks.check_ndim("ratings", ratings, 2, "[N, K]")
    _checks.check_integer_dtype("ratings", ratings)
    if ratings.shape[1] == 0:
        raise ValueError("ratings has no rules (shape [N, 0]); at least one rule is needed")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_ or mask.shape != ratings.shape:
            raise ValueError(f"mask must be boolean with shape {ratings.shape}, got "
                             f"{mask.dtype} {mask.shape}")
    _checks.check_levels_in_range("ratings", ratings, num_levels, mask)
    observed = np.ones(ratings.shape, bool) if mask is None else mask
    global_ratings, _ = shard_rows(ratings, mesh)
    global_mask, _ = shard_rows(observed, mesh, fill=False)
    return _histogram_program(mesh, num_levels)(global_ratings, global_mask)


def sharded_rating_histogram(
    ratings: Integer[ArrayLike, "N K"],
    num_levels: int,
    *,
    mask: Bool[ArrayLike, "N K"] | None = None,
    mesh: Mesh | None = None,
) -> Int[Array, "K L"]:
    """:func:`encore_jax.rating_histogram` with rows sharded over ``mesh``; counts summed.

    ``counts[k, l] = sum_d #{i in shard d : ratings[i, k] == l and mask[i, k]}``, summed
    over every process's rows.

    Args:
      ratings: this process's integer levels ``[N, K]`` in ``0..L-1``.
      num_levels: ``L`` (>= 2).
      mask: optional boolean ``[N, K]``, ``True`` = observed.
      mesh: a :func:`data_mesh` (default: every device).

    Returns:
      ``int32`` counts ``[K, L]``, replicated on every device.

    Raises:
      ValueError / TypeError: as :func:`encore_jax.rating_histogram`.
    """
    return _sharded_counts(ratings, num_levels, mask, mesh)[0]


@functools.partial(jax.jit, static_argnames=("base", "estimator"))
def _entropy_of_counts(
    counts: jax.Array, observed: jax.Array, base: float | None, estimator: str
) -> jax.Array:
    h = _entropy_from_counts(counts, base, estimator)
    # A level outside 0..L-1 matches no bin (see rating_entropy): poison, never drop.
    return jnp.where(jnp.sum(counts, axis=-1, dtype=jnp.int32) == observed, h, jnp.nan)


def sharded_rating_entropy(
    ratings: Integer[ArrayLike, "N K"],
    num_levels: int,
    *,
    mask: Bool[ArrayLike, "N K"] | None = None,
    base: float | None = None,
    estimator: str = "plugin",
    mesh: Mesh | None = None,
) -> Float[Array, " K"]:
    """:func:`encore_jax.rating_entropy` with rows sharded over ``mesh``.

    ``H_k = -sum_l p_kl log p_kl`` from the summed counts of :func:`sharded_rating_histogram`.

    Args:
      ratings, num_levels, mask, mesh: as :func:`sharded_rating_histogram`.
      base: logarithm base, ``None`` = natural log.
      estimator: ``"plugin"`` or ``"miller_madow"``.

    Returns:
      ``[K]`` entropies, replicated.

    Raises:
      ValueError: as :func:`encore_jax.rating_entropy` (a rule with no observed rating
        anywhere is an error).
    """
    _checks.check_base(base)
    _checks.check_choice("estimator", estimator, _checks.ESTIMATORS)
    counts, observed = _sharded_counts(ratings, num_levels, mask, mesh)
    _checks.check_rules_observed(np.asarray(observed)[:, None], "mask")
    return _entropy_of_counts(counts, observed, base, estimator)


# ------------------------------------------------------------------------------------------
# Composition
# ------------------------------------------------------------------------------------------


@functools.cache
def _compose_program(mesh: Mesh) -> Callable[..., jax.Array]:
    return jax.jit(jax.shard_map(_weighted_sum, mesh=mesh, in_specs=(P(DATA_AXIS), P()),
                                 out_specs=P(DATA_AXIS), check_vma=False))


def sharded_compose(
    scores: Real[ArrayLike, "N K"],
    weights: Float[ArrayLike, " K"],
    *,
    mesh: Mesh | None = None,
) -> Float[Array, " N"]:
    """:func:`encore_jax.compose` with rows sharded over ``mesh``: ``phi_i = sum_k w_k psi_ik``.

    Args:
      scores: this process's per-rule scores ``psi`` ``[N, K]``.
      weights: ``w`` ``[K]`` (the same on every process).
      mesh: a :func:`data_mesh` (default: every device).

    Returns:
      This process's composite rewards ``[N]``.
    """
    mesh = _mesh(mesh)
    weights = np.asarray(weights)
    if weights.dtype.kind != "f" or weights.ndim != 1:
        raise TypeError(f"weights must be a float array [K], got {weights.dtype} {weights.shape}")
    scores = np.asarray(scores)
    _checks.check_ndim("scores", scores, 2, "[N, K]")
    _checks.check_float_dtype("scores", scores)
    if scores.shape[1] != weights.shape[0]:
        raise ValueError(f"scores has {scores.shape[1]} rules but weights has {weights.shape[0]}")
    _checks.check_finite("scores", scores)
    _checks.check_finite("weights", weights)
    global_scores, _ = shard_rows(scores, mesh)
    composite = _compose_program(mesh)(global_scores, _replicated(mesh, weights))
    return _local_rows(composite, scores.shape[0])


# ------------------------------------------------------------------------------------------
# Bradley–Terry loss, gradient and fit
# ------------------------------------------------------------------------------------------


@functools.cache
def _bt_program(mesh: Mesh) -> Callable[..., tuple[jax.Array, jax.Array]]:
    def local(weights: jax.Array, diffs: jax.Array, mask: jax.Array):
        dtype = _checks.common_float_dtype(weights, diffs)
        weights, diffs = weights.astype(dtype), diffs.astype(dtype)
        margins = diffs @ weights
        nll = jnp.where(mask, jax.nn.softplus(-margins), 0)
        residual = jnp.where(mask, jax.nn.sigmoid(-margins), 0)
        totals = (jnp.sum(nll), -(residual @ diffs), jnp.sum(mask).astype(dtype))
        loss_sum, grad_sum, count = jax.lax.psum(totals, DATA_AXIS)
        return loss_sum / count, grad_sum / count

    spec = P(DATA_AXIS)
    return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(P(), spec, spec),
                                 out_specs=(P(), P()), check_vma=False))


def _bt_inputs(
    diffs: ArrayLike, mask: ArrayLike | None, mesh: Mesh
) -> tuple[np.ndarray, jax.Array, jax.Array]:
    diffs = np.asarray(diffs)
    _checks.check_ndim("diffs", diffs, 2, "[N, K]")
    _checks.check_float_dtype("diffs", diffs)
    if diffs.shape[1] == 0:
        raise ValueError(f"diffs must have at least one rule, got shape {diffs.shape}")
    _checks.check_finite("diffs", diffs)
    included = np.ones(diffs.shape[0], bool)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_ or mask.shape != (diffs.shape[0],):
            raise ValueError(f"mask must be boolean with shape ({diffs.shape[0]},), got "
                             f"{mask.dtype} {mask.shape}")
        included = mask
    if jax.process_count() == 1 and not included.any():
        raise ValueError("mask selects no pair (all False) or diffs has no rows; the loss "
                         "is undefined")
    global_diffs, _ = shard_rows(diffs, mesh)
    global_mask, _ = shard_rows(included, mesh, fill=False)
    return diffs, global_diffs, global_mask


def _sharded_bt(
    weights: ArrayLike, diffs: ArrayLike, mask: ArrayLike | None, mesh: Mesh | None
) -> tuple[jax.Array, jax.Array]:
    mesh = _mesh(mesh)
    host, global_diffs, global_mask = _bt_inputs(diffs, mask, mesh)
    weights = np.asarray(weights)
    if weights.dtype.kind != "f" or weights.shape != (host.shape[1],):
        raise ValueError(f"weights must be a float array of shape ({host.shape[1]},) to match "
                         f"diffs, got {weights.dtype} {weights.shape}")
    _checks.check_finite("weights", weights)
    return _bt_program(mesh)(_replicated(mesh, weights), global_diffs, global_mask)


def sharded_bt_loss(
    weights: Float[ArrayLike, " K"],
    diffs: Real[ArrayLike, "N K"],
    *,
    mask: Bool[ArrayLike, " N"] | None = None,
    mesh: Mesh | None = None,
) -> Float[Array, ""]:
    """:func:`encore_jax.bt_loss` with pairs sharded over ``mesh``.

    ``L(w) = -(1/|M|) sum_d sum_{i in M_d} log sigmoid(w . d_i)``: per-device sums of
    ``softplus(-m_i)`` and of the pair count, summed across devices, then divided.

    Args:
      weights: ``w`` ``[K]`` (the same on every process).
      diffs: this process's ``d = chosen - rejected`` ``[N, K]``.
      mask: optional boolean ``[N]``, ``True`` = pair included.
      mesh: a :func:`data_mesh` (default: every device).

    Returns:
      The scalar loss, replicated.
    """
    return _sharded_bt(weights, diffs, mask, mesh)[0]


def sharded_bt_gradient(
    weights: Float[ArrayLike, " K"],
    diffs: Real[ArrayLike, "N K"],
    *,
    mask: Bool[ArrayLike, " N"] | None = None,
    mesh: Mesh | None = None,
) -> Float[Array, " K"]:
    """:func:`encore_jax.bt_gradient` with pairs sharded over ``mesh``.

    ``dL/dw_k = -(1/|M|) sum_d sum_{i in M_d} sigmoid(-m_i) d_ik``.

    Args:
      weights, diffs, mask, mesh: as :func:`sharded_bt_loss`.

    Returns:
      The gradient ``[K]``, replicated.
    """
    return _sharded_bt(weights, diffs, mask, mesh)[1]


def sharded_fit_bt_weights(
    diffs: Real[ArrayLike, "N K"],
    *,
    mask: Bool[ArrayLike, " N"] | None = None,
    mesh: Mesh | None = None,
    **fit_options: Any,
) -> bradley_terry.BTFit:
    """:func:`encore_jax.fit_bt_weights` with pairs sharded over ``mesh``.

    Minimises ``J(theta) = L(w(theta)) + (l2 / 2) ||theta||^2`` (see
    :func:`encore_jax.fit_bt_weights`) with the same compiled optax loop, given row-sharded
    ``diffs`` and ``mask``: XLA partitions every loss and gradient evaluation by rows and sums
    the per-device partial sums.

    Args:
      diffs: this process's ``d = chosen - rejected`` ``[N, K]``.
      mask: optional boolean ``[N]``, ``True`` = pair included.
      mesh: a :func:`data_mesh` (default: every device).
      **fit_options: passed to :func:`encore_jax.fit_bt_weights` (``optimizer``,
        ``num_steps``, ``l2``, ``init``, ``parameterization``, ``record_every``, ...).

    Returns:
      A :class:`encore_jax.bradley_terry.BTFit`, replicated.
    """
    mesh = _mesh(mesh)
    _, global_diffs, global_mask = _bt_inputs(diffs, mask, mesh)
    return bradley_terry.fit_bt_weights(global_diffs, mask=global_mask, **fit_options)


# ------------------------------------------------------------------------------------------
# Bootstrap
# ------------------------------------------------------------------------------------------


@functools.cache
def _bootstrap_program(
    mesh: Mesh, n: int, batch_size: int, statistic: Callable, key_impl: Any
) -> Callable:
    def local(key_data, values, mask, resamples):
        key = key_data if key_impl is None else jax.random.wrap_key_data(key_data, impl=key_impl)
        positions, count = metrics._counted_positions(mask, n)
        valid = jnp.arange(n, dtype=jnp.int32) < count

        def one(resample: jax.Array) -> jax.Array:
            items = positions[metrics._draws(key, resample, n, count)]
            return statistic(jnp.take(values, items, axis=-1), valid)

        return jax.lax.map(one, resamples, batch_size=batch_size)  # [B / D, *batch]

    return jax.jit(jax.shard_map(local, mesh=mesh, in_specs=(P(), P(), P(), P(DATA_AXIS)),
                                 out_specs=P(DATA_AXIS), check_vma=False))


def sharded_bootstrap_ci(
    key: PRNGKeyArray,
    values: Real[ArrayLike, "*batch N"],
    *,
    num_resamples: int = 1000,
    confidence: float = 0.95,
    statistic: Callable[[jax.Array, jax.Array], jax.Array] | str = "mean",
    mask: Bool[ArrayLike, " N"] | None = None,
    batch_size: int | None = None,
    mesh: Mesh | None = None,
) -> metrics.BootstrapCI:
    """:func:`encore_jax.metrics.bootstrap_ci` with the resamples split across ``mesh``.

    Resample ``b`` draws items ``j_b = u_b[:n] mod n``, ``u_b = bits(fold_in(key, b))``,
    exactly as the single-device function, so the replicates and interval are the same;
    device ``d`` computes resamples ``b`` in its block of ``0..B-1``.

    Args:
      key: PRNG key (the same on every process).
      values: per-item values ``[..., N]`` (all items, the same on every process).
      num_resamples, confidence, statistic, batch_size: as :func:`encore_jax.metrics.bootstrap_ci`.
      mask: optional boolean ``[N]`` (shared by every row), ``True`` = item counted.
      mesh: a :func:`data_mesh` (default: every device).

    Returns:
      :class:`encore_jax.metrics.BootstrapCI`, replicated.
    """
    mesh = _mesh(mesh)
    num_resamples = _checks.check_positive_int("num_resamples", num_resamples)
    metrics._check_confidence(confidence)
    values = np.asarray(values)
    if values.dtype.kind not in "fiu" or values.ndim < 1 or values.shape[-1] == 0:
        raise ValueError(f"values must be real numbers [..., N] with N >= 1, got "
                         f"{values.dtype} {values.shape}")
    if values.dtype.kind != "f":
        values = values.astype(np.float32)
    _checks.check_finite("values", values)
    if isinstance(statistic, str):
        _checks.check_choice("statistic", statistic, ("mean",))
        statistic = metrics.masked_mean
    elif not callable(statistic):
        raise TypeError(f"statistic must be 'mean' or a callable, got {statistic!r}")
    n = values.shape[-1]
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_ or mask.shape != (n,):
            raise ValueError(f"mask must be boolean with shape ({n},), got {mask.dtype} "
                             f"{mask.shape}")
        if not mask.any():
            raise ValueError("mask counts no item; a statistic over zero items is undefined")
    if batch_size is None:
        batch_size = max(1, metrics._BOOTSTRAP_ELEMENTS_PER_STEP // n)
    batch_size = _checks.check_positive_int("batch_size", batch_size)
    devices = mesh.devices.size
    per_device = -(-num_resamples // devices)
    batch_size = min(batch_size, per_device)
    resamples = np.arange(per_device * devices, dtype=np.uint32)
    sharding = NamedSharding(mesh, P(DATA_AXIS))
    resamples = jax.make_array_from_callback(resamples.shape, sharding, lambda i: resamples[i])
    # An all-True mask draws exactly what no mask draws (positions 0..N-1, count N).
    counted = np.ones(n, bool) if mask is None else mask
    # A typed key travels as its raw data and is re-wrapped on the devices.
    typed = jnp.issubdtype(jnp.asarray(key).dtype, jax.dtypes.prng_key)
    key_impl = jax.random.key_impl(key) if typed else None
    key_data = _replicated(mesh, jax.random.key_data(key) if typed else key)
    values_r, mask_r = _replicated(mesh, values), _replicated(mesh, counted)
    program = _bootstrap_program(mesh, n, batch_size, statistic, key_impl)
    replicates = program(key_data, values_r, mask_r, resamples)[:num_resamples]
    replicates = jnp.moveaxis(replicates, 0, -1)
    estimate = _estimate(values_r, mask_r, n, statistic)
    low, high = metrics._percentile_interval(replicates, confidence)
    return metrics.BootstrapCI(estimate, low, high, replicates)


@functools.partial(jax.jit, static_argnames=("n", "statistic"))
def _estimate(values: jax.Array, mask: jax.Array, n: int, statistic: Callable) -> jax.Array:
    positions, count = metrics._counted_positions(mask, n)
    valid = jnp.arange(n, dtype=jnp.int32) < count
    return statistic(jnp.take(values, positions, axis=-1), valid)
