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

This module only *places* data (the helpers live in :mod:`encore_jax.mesh`, under the core
kernels that read them; they are re-exported here):

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
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jaxtyping import ArrayLike

from encore_jax import _checks
from encore_jax.mesh import (  # the placement helpers, re-exported
    DATA_AXIS,
    _mesh,
    data_mesh,
    local_rows,
    replicated,
    row_mesh,
    shard_rows,
)

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

