"""Placing rows on many devices and hosts; the core functions do the rest.

Every core function (:func:`encore_jax.rating_histogram`, :func:`~encore_jax.rating_entropy`,
:func:`~encore_jax.compose`, :func:`~encore_jax.pair_margins`, :func:`~encore_jax.bt_loss`,
:func:`~encore_jax.bt_gradient`, :func:`~encore_jax.fit_bt_weights`,
:func:`~encore_jax.bootstrap_ci`) accepts row-sharded :class:`jax.Array` inputs
(:class:`~jax.sharding.NamedSharding` over a one-axis :class:`~jax.sharding.Mesh`) and gives
the single-device answer for the same global array. ``jit`` partitions most of them (GSPMD:
each device reduces its rows, the partial sums are added across devices); the kernels that
GSPMD would partition badly (the blocked histogram, the bootstrap's resamples) run under
:func:`jax.shard_map` inside the kernel, chosen from the input's sharding.

This module only *places* data:

* :func:`data_mesh`: a one-axis mesh (axis ``"data"``) over every device of every process;
* :func:`shard_rows`: a global row-sharded array from each process's own rows, ragged tails
  padded to whole shards, with a boolean ``valid`` row mask to pass as the function's mask;
* :func:`local_rows`: this process's rows of a row-sharded result (e.g. composite rewards).

On several hosts call :func:`jax.distributed.initialize` first (README section "Scale").
Value checks (ranges, finiteness) run on inputs this process can read; on a multi-host global
array they are skipped as under ``jit`` (see :func:`encore_jax._checks.is_concrete`), so
validate each process's rows before :func:`shard_rows` (the ``sharded_*`` aliases do).

The ``sharded_*`` functions are deprecated aliases (one release) that shard process-local
rows and call the core function.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import ArrayLike

from encore_jax import _checks

__all__ = [
    "DATA_AXIS",
    "data_mesh",
    "local_rows",
    "replicated",
    "row_mesh",
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


def row_mesh(x: Any, axis: int = 0) -> tuple[Mesh, tuple[str, ...]] | None:
    """``(mesh, mesh axes)`` when ``x`` is a :class:`jax.Array` whose ``axis`` is split over
    mesh axes of a :class:`NamedSharding` on more than one device; else ``None`` (a host
    array, a tracer, a single-device or a replicated array)."""
    if not isinstance(x, jax.Array) or isinstance(x, jax.core.Tracer):
        return None
    sharding = x.sharding
    if not isinstance(sharding, NamedSharding) or len(sharding.device_set) < 2:
        return None
    spec = tuple(sharding.spec) + (None,) * (x.ndim - len(sharding.spec))
    names = spec[axis % x.ndim] if x.ndim else None
    if names is None:
        return None
    names = (names,) if isinstance(names, str) else tuple(names)
    if int(np.prod([sharding.mesh.shape[a] for a in names])) < 2:
        return None
    return sharding.mesh, names


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
      ``(global array [R, ...], valid [R])`` sharded along rows, ``valid`` marking real rows
      (pass it, or ``mask & valid[:, None]``, as the core function's mask); ``R`` is the
      padded row count summed over processes.
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


def replicated(mesh: Mesh, x: Any) -> jax.Array:
    """``x`` (the same host value on every process) on every device of ``mesh``; built shard
    by shard, as ``device_put`` cannot address other hosts' devices."""
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, NamedSharding(mesh, P()),
                                        lambda index: host[index])


def local_rows(x: jax.Array, rows: int) -> jax.Array:
    """This process's first ``rows`` rows of a row-sharded global array (its shards in
    order, padding dropped): the inverse of :func:`shard_rows` for per-row results."""
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
# Deprecated aliases (one release): process-local rows in, core function on sharded rows.
# ------------------------------------------------------------------------------------------


def _deprecated(name: str, replacement: str) -> None:
    warnings.warn(
        f"encore_jax.sharding.{name} is deprecated; call {replacement} on arrays placed with "
        "encore_jax.sharding.shard_rows (the core functions accept sharded arrays)",
        DeprecationWarning, stacklevel=3,
    )


def _sharded_ratings(
    ratings: ArrayLike, num_levels: int, mask: ArrayLike | None, mesh: Mesh | None
) -> tuple[jax.Array, jax.Array]:
    """Validates this process's rows, then places ratings and ``mask & valid``."""
    from encore_jax.entropy import _validated_ratings

    mesh = _mesh(mesh)
    num_levels = _checks.check_num_levels(num_levels)
    ratings, mask = _validated_ratings(np.asarray(ratings), num_levels,
                                       None if mask is None else np.asarray(mask))
    observed = np.ones(ratings.shape, bool) if mask is None else np.asarray(mask)
    global_ratings, _ = shard_rows(np.asarray(ratings), mesh)
    global_mask, _ = shard_rows(observed, mesh, fill=False)
    return global_ratings, global_mask


def sharded_rating_histogram(ratings: ArrayLike, num_levels: int, *,
                             mask: ArrayLike | None = None, mesh: Mesh | None = None
                             ) -> jax.Array:
    """Deprecated: :func:`encore_jax.rating_histogram` on :func:`shard_rows` output."""
    from encore_jax.entropy import rating_histogram

    _deprecated("sharded_rating_histogram", "encore_jax.rating_histogram")
    global_ratings, global_mask = _sharded_ratings(ratings, num_levels, mask, mesh)
    return rating_histogram(global_ratings, num_levels, mask=global_mask)


def sharded_rating_entropy(ratings: ArrayLike, num_levels: int, *,
                           mask: ArrayLike | None = None, base: float | None = None,
                           estimator: str = "plugin", mesh: Mesh | None = None) -> jax.Array:
    """Deprecated: :func:`encore_jax.rating_entropy` on :func:`shard_rows` output."""
    from encore_jax.entropy import rating_entropy

    _deprecated("sharded_rating_entropy", "encore_jax.rating_entropy")
    _checks.check_base(base)
    _checks.check_choice("estimator", estimator, _checks.ESTIMATORS)
    global_ratings, global_mask = _sharded_ratings(ratings, num_levels, mask, mesh)
    return rating_entropy(global_ratings, num_levels, mask=global_mask, base=base,
                          estimator=estimator)


def sharded_compose(scores: ArrayLike, weights: ArrayLike, *, mesh: Mesh | None = None
                    ) -> jax.Array:
    """Deprecated: :func:`encore_jax.compose` on :func:`shard_rows` output; returns this
    process's rows."""
    from encore_jax.compose import compose

    _deprecated("sharded_compose", "encore_jax.compose")
    mesh = _mesh(mesh)
    scores = np.asarray(scores)
    _checks.check_ndim("scores", scores, 2, "[N, K]")  # this process's rows, before placement
    _checks.check_float_dtype("scores", scores)
    _checks.check_finite("scores", jnp.asarray(scores))
    global_scores, _ = shard_rows(scores, mesh)
    return local_rows(compose(global_scores, replicated(mesh, weights)), scores.shape[0])


def _sharded_pairs(diffs: ArrayLike, mask: ArrayLike | None, mesh: Mesh | None
                   ) -> tuple[jax.Array, jax.Array]:
    mesh = _mesh(mesh)
    diffs = np.asarray(diffs)
    _checks.check_ndim("diffs", diffs, 2, "[N, K]")
    _checks.check_float_dtype("diffs", diffs)
    _checks.check_finite("diffs", jnp.asarray(diffs))
    included = np.ones(diffs.shape[0], bool) if mask is None else np.asarray(mask)
    if included.dtype != np.bool_ or included.shape != (diffs.shape[0],):
        raise ValueError(f"mask must be boolean with shape ({diffs.shape[0]},), got "
                         f"{included.dtype} {included.shape}")
    if jax.process_count() == 1 and not included.any():
        raise ValueError("mask selects no pair (all False) or diffs has no rows; the loss "
                         "is undefined")
    global_diffs, _ = shard_rows(diffs, mesh)
    global_mask, _ = shard_rows(included, mesh, fill=False)
    return global_diffs, global_mask


def sharded_bt_loss(weights: ArrayLike, diffs: ArrayLike, *, mask: ArrayLike | None = None,
                    mesh: Mesh | None = None) -> jax.Array:
    """Deprecated: :func:`encore_jax.bt_loss` on :func:`shard_rows` output."""
    from encore_jax.bradley_terry import bt_loss

    _deprecated("sharded_bt_loss", "encore_jax.bt_loss")
    global_diffs, global_mask = _sharded_pairs(diffs, mask, mesh)
    return bt_loss(weights, global_diffs, mask=global_mask)


def sharded_bt_gradient(weights: ArrayLike, diffs: ArrayLike, *,
                        mask: ArrayLike | None = None, mesh: Mesh | None = None) -> jax.Array:
    """Deprecated: :func:`encore_jax.bt_gradient` on :func:`shard_rows` output."""
    from encore_jax.bradley_terry import bt_gradient

    _deprecated("sharded_bt_gradient", "encore_jax.bt_gradient")
    global_diffs, global_mask = _sharded_pairs(diffs, mask, mesh)
    return bt_gradient(weights, global_diffs, mask=global_mask)


def sharded_fit_bt_weights(diffs: ArrayLike, *, mask: ArrayLike | None = None,
                           mesh: Mesh | None = None, **fit_options: Any) -> Any:
    """Deprecated: :func:`encore_jax.fit_bt_weights` on :func:`shard_rows` output."""
    from encore_jax.bradley_terry import fit_bt_weights

    _deprecated("sharded_fit_bt_weights", "encore_jax.fit_bt_weights")
    global_diffs, global_mask = _sharded_pairs(diffs, mask, mesh)
    return fit_bt_weights(global_diffs, mask=global_mask, **fit_options)


def sharded_bootstrap_ci(key: Any, values: ArrayLike, *, mesh: Mesh | None = None,
                         **options: Any) -> Any:
    """Deprecated: :func:`encore_jax.bootstrap_ci` (``values`` are every item, the same on
    every process). To split the resamples over devices pass row-sharded values instead."""
    from encore_jax.metrics.bootstrap import bootstrap_ci

    _deprecated("sharded_bootstrap_ci", "encore_jax.bootstrap_ci")
    _mesh(mesh)
    return bootstrap_ci(key, values, **options)

