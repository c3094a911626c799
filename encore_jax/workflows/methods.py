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
)

__all__ = ["CHUNK_PAIRS", "WeightingError", "applied_weightings", "checked_weightings",
           "extension_label", "extension_weights", "is_builtin_selection", "label_free_data",
           "mean_credit", "method_credits", "method_kind", "method_values", "rule_credits",
           "weight_rows"]

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


def score_pairs(diffs: jax.Array, weights: jax.Array, key: jax.Array | None, tie: str
                ) -> tuple[jax.Array, jax.Array]:
    """THE scoring of weightings on pairs, shared by ``compare`` and ``diagnose`` (traceable).

    ``diffs [n, K]`` are ``chosen - rejected`` per rule with a missing rating as 0 (it adds
    nothing to the margin), ``weights [M, K]``. Returns ``(credit [M, n], tied [M, n])``: the
    certified margin ``m = sum_k w_k d_k`` (:func:`encore_jax.compose.certified_margins`: a
    margin that is zero in exact arithmetic is exactly 0) scores 1 when ``m > 0``, 0 when
    ``m < 0`` and the tie credit of ``tie`` when ``m == 0`` (``"half"``: 1/2).
    """
    margins = certified_margins(diffs.astype(jnp.float32), weights)  # [M, n]
    return _credit(margins, key, tie), margins == 0


@functools.partial(jax.jit, static_argnames="tie")
def _method_chunk(diffs: jax.Array, valid: jax.Array, weights: jax.Array, selector: jax.Array,
                  key: jax.Array | None, tie: str
                  ) -> tuple[jax.Array, jax.Array, jax.Array]:
    credit, tied = score_pairs(diffs, weights, key, tie)
    ties = jnp.sum((tied & valid[None, :]).astype(jnp.float32), axis=-1)
    credit_sums = jnp.sum(jnp.where(valid[None, :], credit, 0.0), axis=-1)
    return selector @ credit, ties, credit_sums


@functools.partial(jax.jit, static_argnames="tie")
def _credit_chunk(diffs: jax.Array, weights: jax.Array, key: jax.Array | None, tie: str
                  ) -> tuple[jax.Array, jax.Array]:
    return score_pairs(diffs, weights, key, tie)


def method_credits(diffs: np.ndarray, weights: Any, key: jax.Array | None = None,
                   tie: str = "half") -> tuple[np.ndarray, np.ndarray]:
    """Per-pair credits ``[M, n]`` (host float32) and tie flags ``[M, n]`` (bool) of the
    weight rows ``weights [M, K]`` on ``diffs [n, K]`` (missing entries 0), chunk by chunk
    through :func:`score_pairs` (the scoring ``compare`` uses). ``key`` is needed only for
    ``tie="random"``."""
    if tie == "random" and key is None:
        raise ValueError('method_credits: tie="random" needs a key')
    weights = jnp.asarray(weights, jnp.float32)
    num_pairs = diffs.shape[0]
    size = min(CHUNK_PAIRS, num_pairs)
    credits = np.empty((weights.shape[0], num_pairs), np.float32)
    tied = np.empty((weights.shape[0], num_pairs), bool)
    for c, start, stop in _chunks(num_pairs):
        block, _ = _padded(diffs, start, stop, size)
        credit, tie_flags = _credit_chunk(block, weights,
                                          None if key is None else _chunk_key(key, c, tie), tie)
        credits[:, start:stop] = np.asarray(credit)[:, :stop - start]
        tied[:, start:stop] = np.asarray(tie_flags)[:, :stop - start]
    return credits, tied


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


class WeightingError(ValueError):
    """An exception raised inside a weighting function, re-raised with the weighting's name
    and the original message on one line (the original is the ``__cause__``)."""


def _identity(weighting: Any) -> tuple[Any, Any, Any]:
    return (getattr(weighting, "func", weighting), getattr(weighting, "args", ()),
            getattr(weighting, "keywords", {}))


def is_builtin_selection(name: str, weighting: Any, temperature: float) -> bool:
    """True when ``name`` is a built-in weighting (:func:`builtin_weightings`) and
    ``weighting`` is that same built-in (its name as a spec string, or what
    :func:`resolve_weighting` returns for it): the row is reported anyway, so asking for it
    (``--weighting research_decisive_encore``) selects it instead of clashing."""
    builtins = builtin_weightings(temperature)
    if name not in builtins:
        return False
    return weighting == name or _identity(weighting) == _identity(builtins[name])


def checked_weightings(weightings: Mapping[str, Weighting | str] | None,
                        temperature: float) -> dict[str, Weighting]:
    """User weightings by name (a spec string is resolved with :func:`resolve_weighting`).

    A built-in asked for by its own name (:func:`is_builtin_selection`) is dropped: its row is
    reported anyway. Any other name that is already a reported row is an error.
    """
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
        if is_builtin_selection(name, weighting, temperature):
            continue
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


def label_free_data(key: jax.Array, chosen: np.ndarray, rejected: np.ndarray,
                    rated: np.ndarray | None, num_levels: int, *,
                    side_masks: tuple[np.ndarray | None, np.ndarray | None] | None = None,
                    calibration: Any = None, calibration_mask: Any = None) -> WeightingData:
    """What every weighting receives: data that carries no trace of which side was chosen.

    Pair ``i``'s two sides are swapped by a fair coin ``s_i`` (``bernoulli(fold_in(key, 0))``,
    as :func:`encore_jax.weightings.unlabelled_pairs`), then the pairs are put in the order of a
    uniformly random permutation ``pi`` drawn from ``fold_in(key, 1)``:
    ``pair_a[j] = side s_{pi(j)}`` of pair ``pi(j)``, ``pair_b[j]`` its other side and
    ``pair_mask[j] = rated[pi(j)]`` (True = the rule rated both sides; symmetric in the
    sides). Without ``calibration`` the pooled ratings are ``[pair_a; pair_b]`` (``[2N, K]``)
    with each side's own mask moved by the same coin and permutation, so neither the row
    order, nor the pair order, nor a mask, nor a count depends on the labels. With
    ``calibration`` (``[M, K]``, e.g. one row per response) it is passed as given.

    Args:
      key: PRNG key of the coins and the permutation.
      chosen, rejected: levels ``[N, K]`` of the preferred and of the other response.
      rated: boolean ``[N, K]`` (None = all rated).
      num_levels: ``L``.
      side_masks: ``(chosen_mask, rejected_mask)``, each side's own observed mask ``[N, K]``
        (None in the tuple = all observed); default: ``rated`` for both sides.
      calibration, calibration_mask: separate ratings for the entropies and their mask.
    """
    chosen, rejected = np.asarray(chosen), np.asarray(rejected)
    n = chosen.shape[0]
    heads = np.asarray(jax.random.bernoulli(jax.random.fold_in(key, 0), 0.5, (n,)))[:, None]
    order = np.asarray(jax.random.permutation(jax.random.fold_in(key, 1), n))

    def sides(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.where(heads, x, y)[order], np.where(heads, y, x)[order]

    pair_a, pair_b = sides(chosen, rejected)
    pair_mask = None if rated is None else np.asarray(rated)[order]
    if calibration is not None:
        ratings = np.asarray(calibration)
        mask = None if calibration_mask is None else np.asarray(calibration_mask)
    else:
        ratings = np.concatenate([pair_a, pair_b])
        own = (rated, rated) if side_masks is None else side_masks
        mask = None if own[0] is None and own[1] is None else np.concatenate(sides(
            *(np.ones(chosen.shape, bool) if m is None else np.asarray(m) for m in own)))
    return WeightingData(jnp.asarray(ratings), None if mask is None else jnp.asarray(mask),
                         num_levels, jnp.asarray(pair_a), jnp.asarray(pair_b),
                         None if pair_mask is None else jnp.asarray(pair_mask))


def _guarded(name: str, weighting: Weighting) -> Weighting:
    @functools.wraps(weighting)  # keeps the signed_weighting mark (the function's __dict__)
    def call(data: WeightingData) -> Any:
        try:
            return weighting(data)
        except Exception as error:
            message = " ".join(str(error).split()) or "(no message)"
            raise WeightingError(f"weighting {name!r} raised {type(error).__name__}: "
                                 f"{message}") from error
    return call


def applied_weightings(weightings: Mapping[str, Weighting], data: WeightingData
                       ) -> dict[str, np.ndarray]:
    """``name -> [K]`` float64 weights of each weighting on ``data``
    (:func:`encore_jax.weightings.apply_weightings` validates what it returns). An exception
    raised inside a weighting becomes a :class:`WeightingError` naming the weighting, with
    the original message on one line."""
    guarded = {name: _guarded(name, w) for name, w in weightings.items()}
    return {name: np.asarray(w, np.float64)
            for name, w in apply_weightings(guarded, data).items()}


def extension_weights(key: jax.Array, user: Mapping[str, Weighting], temperature: float,
                       num_levels: int, train: Any, calibration: Any, calibration_mask: Any
                       ) -> dict[str, np.ndarray]:
    """``name -> [K]`` weights of the built-in research extensions and the user weightings,
    computed from label-free data only (:func:`label_free_data` of the train pairs: the
    calibration ratings, else the train pairs' ratings pooled in the fair-coin, permuted
    order)."""
    builtins = builtin_weightings(temperature)
    weightings = {**{name: builtins[name] for name in EXTENSION_NAMES}, **user}
    data = label_free_data(key, train.chosen, train.rejected, train.observed, num_levels,
                           calibration=calibration, calibration_mask=calibration_mask)
    return {name: w.astype(np.float32) for name, w in applied_weightings(weightings,
                                                                          data).items()}


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
