"""Placing rows on a one-axis device mesh: the layer under every multi-device kernel.

* :func:`data_mesh`: a one-axis mesh (axis ``"data"``) over every device of every process;
* :func:`shard_rows`: a global row-sharded array from each process's own rows, ragged tails
  padded to whole shards, with a boolean ``valid`` row mask to pass as the function's mask;
* :func:`local_rows`: this process's rows of a row-sharded result (e.g. composite rewards);
* :func:`row_mesh` and :func:`replicated`: what the few kernels that run under
  :func:`jax.shard_map` (the blocked histogram, the bootstrap's resamples) read off an input's
  sharding.

Users import them from here too (``from encore_jax.mesh import data_mesh, shard_rows``).
Every core function (:func:`encore_jax.entropy.rating_histogram`,
:func:`~encore_jax.entropy.rating_entropy`,
:func:`encore_jax.compose.compose`, :func:`~encore_jax.compose.pair_margins`,
:func:`encore_jax.bradley_terry.bt_loss`, :func:`~encore_jax.bradley_terry.bt_gradient`,
:func:`~encore_jax.bradley_terry.fit_bt_weights`,
:func:`encore_jax.metrics.bootstrap.bootstrap_ci`) accepts the row-sharded arrays these place
and gives the single-device answer. On several hosts call :func:`jax.distributed.initialize`
first (README section "Scale"); value checks cannot read other processes' rows, so validate
each process's rows before :func:`shard_rows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import ArrayLike

__all__ = ["DATA_AXIS", "data_mesh", "local_rows", "replicated", "row_mesh", "shard_rows"]

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
