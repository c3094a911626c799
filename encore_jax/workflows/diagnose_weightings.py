"""The weightings reported by the premise check, through the weighting extension point.

The extension point (``encore_jax.weightings``: ``WeightingData``, ``builtin_weightings``,
``unlabelled_pairs``, ``apply_weightings``) lets a researcher pass any function from the
calibration ratings (and the unlabelled pairs, never the preference labels) to ``[K]``
weights. Where that module is not installed, the two built-ins it always has (ENCORE
``softmax(-H / tau)`` and uniform) come from :mod:`encore_jax.weights` through the same
call shape, so user weightings plug in unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from encore_jax.entropy import rating_entropy
from encore_jax.weights import entropy_weights, uniform_weights

__all__ = ["evaluate_weightings"]


class _WeightingData(NamedTuple):
    """The fields of ``encore_jax.weightings.WeightingData`` (see that module)."""

    ratings: Any
    mask: Any
    num_levels: int
    pair_a: Any
    pair_b: Any
    pair_mask: Any


def _fallback_builtins(temperature: float) -> dict[str, Callable[[Any], jax.Array]]:
    return {
        "encore": lambda d: entropy_weights(rating_entropy(d.ratings, d.num_levels,
                                                           mask=d.mask), temperature),
        "uniform": lambda d: uniform_weights(d.ratings.shape[1]),
    }


def _fair_coin_pairs(key: jax.Array, chosen: Any, rejected: Any, rated: Any
                     ) -> tuple[jax.Array, jax.Array, jax.Array]:
    swap = jax.random.bernoulli(jax.random.fold_in(key, 7), 0.5, (chosen.shape[0], 1))
    return (jnp.where(swap, rejected, chosen), jnp.where(swap, chosen, rejected),
            jnp.asarray(rated))


def _apply(weightings: Mapping[str, Callable[[Any], Any]], data: Any, num_rules: int
           ) -> dict[str, np.ndarray]:
    out = {}
    for name, fn in weightings.items():
        w = np.asarray(fn(data), np.float64)
        if w.shape != (num_rules,) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"weighting {name!r} must return {num_rules} finite non-negative "
                             f"weights, got shape {w.shape}")
        out[name] = w
    return out


def evaluate_weightings(key: jax.Array, ratings: Any, mask: Any, num_levels: int,
                        chosen: Any, rejected: Any, rated: Any,
                        extra: Mapping[str, Any] | None, temperature: float, *,
                        num_rules: int | None = None) -> tuple[dict[str, np.ndarray], str]:
    """``(name -> [K] weights, description)`` of the built-in and ``extra`` weightings on the
    calibration ``ratings [M, K]`` (and the pairs, in a fair-coin order from ``key``).

    ``ratings=None`` (a streamed file without extra weightings): only uniform here; the
    caller adds ENCORE from its streamed entropies.
    """
    if ratings is None:
        return ({"uniform": np.asarray(uniform_weights(num_rules), np.float64)},
                "built-in: encore (from the reported entropies), uniform")
    try:
        from encore_jax import weightings as contract
    except ImportError:
        contract = None
    extra = dict(extra or {})
    if contract is not None:
        builtins = contract.builtin_weightings(temperature)
        extra = {n: contract.resolve_weighting(w) if isinstance(w, str) else w
                 for n, w in extra.items()}
    else:
        builtins = _fallback_builtins(temperature)
        if any(isinstance(w, str) for w in extra.values()):
            raise ValueError("weighting specs by name need encore_jax.weightings")
    clash = sorted(set(builtins) & set(extra))
    if clash:
        raise ValueError(f"weighting name(s) {clash} clash with the built-in weightings "
                         f"{sorted(builtins)}; rename them")
    everything = {**builtins, **extra}
    if contract is not None:
        pair_a, pair_b, pair_mask = contract.unlabelled_pairs(key, chosen, rejected, rated)
        data = contract.WeightingData(jnp.asarray(ratings), jnp.asarray(mask), num_levels,
                                      pair_a, pair_b, pair_mask)
        weights = {n: np.asarray(w, np.float64)
                   for n, w in contract.apply_weightings(everything, data).items()}
    else:
        pair_a, pair_b, pair_mask = _fair_coin_pairs(key, jnp.asarray(chosen),
                                                     jnp.asarray(rejected), rated)
        data = _WeightingData(jnp.asarray(ratings), jnp.asarray(mask), num_levels, pair_a,
                              pair_b, pair_mask)
        weights = _apply(everything, data, np.shape(ratings)[1])
    return weights, "built-in: " + ", ".join(builtins) + (
        "; extra: " + ", ".join(extra) if extra else "")
