"""The weightings compared by :func:`~encore_jax.workflows.compare.compare_methods`, as rows of
one ``[M, K]`` weight matrix, and the per-pair credits of the reported rows.

Rows, in order: ENCORE ``softmax(-H / tau)`` at the headline temperature then at each sweep
temperature, uniform ``1 / K``, ``num_random`` Dirichlet(1_K) draws, one-hot per rule, the
lowest-entropy weights, (optionally) the Bradley-Terry weights, then the weightings of the
extension point (:mod:`encore_jax.weightings`: research extensions and user weightings).

Memory is bounded: the per-pair work runs over chunks of at most :data:`CHUNK_PAIRS` pairs,
so no ``[M, N]`` margin or credit array is ever materialised; only the ``[R, N]`` credits of
the reported rows (and the ``[K, N]`` per-rule credits) are kept, on the host. Margins are
certified (:func:`encore_jax.compose.certified_margins`): a margin that is zero in exact
arithmetic is a tie whatever the summation order. With ``tie="random"`` chunk ``c`` draws
its tie coins from ``fold_in(key, c)``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from encore_jax.compose import certified_margins
from encore_jax.metrics.accuracy import _credit
from encore_jax.weightings import (
    EXTENSION_NAMES,
    Weighting,
    WeightingData,
    apply_weightings,
    builtin_weightings,
    resolve_weighting,
    unlabelled_pairs,
)

__all__ = ["CHUNK_PAIRS", "checked_weightings", "extension_label", "extension_weights",
           "mean_credit", "method_kind", "method_values", "rule_credits", "weight_rows"]

CHUNK_PAIRS = 8192
"""Pairs per compiled chunk: with ``M`` = 130 weight rows the ``[M, chunk]`` margins, their
error bounds and credits stay at a few MB each."""


@functools.partial(jax.jit, static_argnames="num_random")
def weight_rows(
    entropies: jax.Array,
    temperatures: jax.Array,
    lowest: jax.Array,
    key: jax.Array,
    num_random: int,
    bt: jax.Array | None,
) -> jax.Array:
    """``[M, K]`` rows: ``softmax(-H / tau)`` per ``tau`` in ``temperatures`` (the headline
    temperature first, then the sweep), uniform, the Dirichlet draws, one-hot per rule, the
    lowest-entropy weights and the BT weights (when given)."""
    num_rules = entropies.shape[0]
    h = entropies.astype(jnp.float32)
    sweep = jax.nn.softmax(-h[None, :] / temperatures[:, None], axis=-1)
    # Dirichlet(1_K), uniform on the simplex, is exactly normalised i.i.d. Exponential(1)
    # draws; this avoids compiling the general gamma sampler (seconds on CPU).
    draws = jax.random.exponential(key, (num_random, num_rules), jnp.float32)
    rows = [
        sweep,
        jnp.full((1, num_rules), 1.0 / num_rules, jnp.float32),
        draws / jnp.sum(draws, axis=-1, keepdims=True),
        jnp.eye(num_rules, dtype=jnp.float32),
        lowest.astype(jnp.float32)[None, :],
    ]
    if bt is not None:
        rows.append(bt[None, :])
    return jnp.concatenate(rows, axis=0)


def _chunks(num_pairs: int) -> Iterator[tuple[int, int, int]]:
    """``(chunk index, start, stop)`` over ``range(num_pairs)``."""
    size = min(CHUNK_PAIRS, num_pairs)
    for c, start in enumerate(range(0, num_pairs, size)):
        yield c, start, min(start + size, num_pairs)


def _padded(diffs: np.ndarray, start: int, stop: int, size: int) -> tuple[jax.Array, jax.Array]:
    """Rows ``start:stop`` of ``diffs`` padded with zero rows to ``size`` (one compiled shape)
    and the valid mask."""
    block = diffs[start:stop]
    pad = size - (stop - start)
    valid = np.arange(size) < stop - start
    return jnp.asarray(np.pad(block, [(0, pad), (0, 0)])), jnp.asarray(valid)


def _chunk_key(key: jax.Array, chunk: int, tie: str) -> jax.Array | None:
    return jax.random.fold_in(key, chunk) if tie == "random" else None


@functools.partial(jax.jit, static_argnames="tie")
def _rule_credit_chunk(diffs: jax.Array, key: jax.Array | None, tie: str) -> jax.Array:
    return _credit(diffs.astype(jnp.float32).T, key, tie)


def rule_credits(diffs: np.ndarray, key: jax.Array, tie: str) -> np.ndarray:
    """Per-pair credit of each single rule ``[K, N]`` (host float32) from differences
    ``diffs [N, K]`` (missing entries 0), computed chunk by chunk."""
    num_pairs, num_rules = diffs.shape
    out = np.empty((num_rules, num_pairs), np.float32)
    for c, start, stop in _chunks(num_pairs):
        block, _ = _padded(diffs, start, stop, min(CHUNK_PAIRS, num_pairs))
        out[:, start:stop] = np.asarray(
            _rule_credit_chunk(block, _chunk_key(key, c, tie), tie))[:, :stop - start]
    return out


def mean_credit(diffs: np.ndarray, key: jax.Array, tie: str) -> np.ndarray:
    """Accuracy of each single rule ``[K]`` on the pairs ``diffs [N, K]``."""
    return rule_credits(diffs, key, tie).mean(axis=1, dtype=np.float64).astype(np.float32)


@functools.partial(jax.jit, static_argnames="tie")
def _method_chunk(diffs: jax.Array, valid: jax.Array, weights: jax.Array, selector: jax.Array,
                  key: jax.Array | None, tie: str
                  ) -> tuple[jax.Array, jax.Array, jax.Array]:
    margins = certified_margins(diffs.astype(jnp.float32), weights)  # [M, chunk]
    credit = _credit(margins, key, tie)
    ties = jnp.sum(((margins == 0) & valid[None, :]).astype(jnp.float32), axis=-1)
    credit_sums = jnp.sum(jnp.where(valid[None, :], credit, 0.0), axis=-1)
    return selector @ credit, ties, credit_sums


def method_values(
    diffs: np.ndarray,
    weights: jax.Array,
    selector: jax.Array,
    key: jax.Array,
    tie: str,
    random_start: int,
    num_random: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pair credits of the reported rows ``[R, N]`` (host float32), their tie rates
    ``[R]`` and the accuracy of each Dirichlet seed ``[S]``.

    ``diffs [N, K]`` are the differences (missing entries 0), ``weights [M, K]`` the weight
    rows and ``selector [R, M]`` picks or averages rows' credits into reported rows. Margins
    are certified (exact ties, :func:`encore_jax.compose.certified_margins`) and computed
    over chunks of :data:`CHUNK_PAIRS` pairs.
    """
    num_pairs = diffs.shape[0]
    size = min(CHUNK_PAIRS, num_pairs)
    values = np.empty((selector.shape[0], num_pairs), np.float32)
    ties = np.zeros(weights.shape[0])
    credit_sums = np.zeros(weights.shape[0])
    for c, start, stop in _chunks(num_pairs):
        block, valid = _padded(diffs, start, stop, size)
        chunk_values, chunk_ties, chunk_sums = _method_chunk(
            block, valid, weights, selector, _chunk_key(key, c, tie), tie)
        values[:, start:stop] = np.asarray(chunk_values)[:, :stop - start]
        ties += np.asarray(chunk_ties, np.float64)
        credit_sums += np.asarray(chunk_sums, np.float64)
    tie_rate = np.asarray(selector, np.float64) @ (ties / num_pairs)
    seeds = credit_sums[random_start:random_start + num_random] / num_pairs
    return values, tie_rate, seeds


_RESERVED_NAMES = ("random", "single_mean", "single_best", "lowest_entropy", "bradley_terry")


def checked_weightings(weightings: Mapping[str, Weighting | str] | None,
                        temperature: float) -> dict[str, Weighting]:
    """User weightings by name (a spec string is resolved with :func:`resolve_weighting`);
    a name that is already a reported row is an error."""
    if weightings is None:
        return {}
    if not isinstance(weightings, Mapping):
        raise TypeError("weightings must be a mapping name -> weighting function (or spec), "
                        f"got {type(weightings).__name__}")
    taken = set(builtin_weightings(temperature)) | set(_RESERVED_NAMES)
    resolved = {}
    for name, weighting in weightings.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"weighting names must be non-empty strings, got {name!r}")
        if name in taken or name.startswith("encore_tau_"):
            raise ValueError(
                f"weighting name {name!r} clashes with a row compare always reports "
                f"({', '.join(sorted(taken))}, encore_tau_*); rename it")
        if isinstance(weighting, str):
            weighting = resolve_weighting(weighting, temperature=temperature)
        if not callable(weighting):
            raise TypeError(f"weighting {name!r} is a {type(weighting).__name__}, not a "
                            "function of WeightingData returning [K] weights")
        resolved[name] = weighting
    return resolved


def extension_weights(key: jax.Array, user: Mapping[str, Weighting], temperature: float,
                       num_levels: int, train: Any, calibration: Any, calibration_mask: Any
                       ) -> dict[str, np.ndarray]:
    """``name -> [K]`` weights of the built-in research extensions and the user weightings,
    computed from label-free data only: the calibration ratings (else the train pairs'
    ratings, chosen and rejected pooled) and the train pairs with their sides swapped by a
    fair coin from ``key`` (:func:`encore_jax.weightings.unlabelled_pairs`)."""
    builtins = builtin_weightings(temperature)
    weightings = {**{name: builtins[name] for name in EXTENSION_NAMES}, **user}
    if calibration is not None:
        ratings, mask = calibration, calibration_mask
    else:
        ratings = np.concatenate([train.chosen, train.rejected])
        mask = None if train.observed is None else np.concatenate(
            [train.mask_or_all(train.chosen_mask), train.mask_or_all(train.rejected_mask)])
    pair_a, pair_b, pair_mask = unlabelled_pairs(key, train.chosen, train.rejected,
                                                 train.observed)
    data = WeightingData(jnp.asarray(ratings), None if mask is None else jnp.asarray(mask),
                         num_levels, pair_a, pair_b, pair_mask)
    return {name: np.asarray(w, np.float32)
            for name, w in apply_weightings(weightings, data).items()}


def method_kind(name: str, user: bool) -> str:
    """What a method row is: ``encore``, ``baseline``, ``research extension`` or ``user``."""
    if user:
        return "user"
    if name in EXTENSION_NAMES:
        return "research extension"
    return "encore" if name == "encore" or name.startswith("encore_tau_") else "baseline"


def extension_label(name: str, user: bool) -> str:
    """The table label of an extra weighting row."""
    return f"{name} (user weighting)" if user else f"{name} (research extension)"
