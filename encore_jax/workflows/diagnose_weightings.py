"""The weightings reported by the premise check, through the weighting extension point.

Built-in weightings (:func:`encore_jax.weightings.builtin_weightings`) are computed from
their sufficient statistics (:mod:`encore_jax.weighting_stats`), which the premise check
sums over pairs chunk by chunk: a streamed file reports them in bounded memory, with the
values the in-memory path gives. The statistics are taken on ``(chosen, rejected)``; the
weightings see only the fair-coin order of :func:`encore_jax.weightings.unlabelled_pairs`,
whose tie and decisive counts are the same (both are symmetric in the two sides).

Extra (user) weightings are functions of a whole ``WeightingData`` (the calibration
ratings, else the pooled pair ratings, and the unlabelled pairs): with any, the caller
holds those arrays in memory. They are validated by
:func:`encore_jax.weightings.apply_weightings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import encore_jax.weightings as ext
from encore_jax.weighting_stats import (
    BuiltinStats,
    builtin_weights_from_stats,
    tie_rates_from_counts,
)

__all__ = ["builtin_weights", "describe_weightings", "extra_weights", "resolve_extra"]


def resolve_extra(extra: Mapping[str, Any] | None, temperature: float
                  ) -> dict[str, ext.Weighting]:
    """``extra`` with spec strings resolved (:func:`encore_jax.weightings.resolve_weighting`).

    Raises:
      ValueError: a name that clashes with a built-in weighting, or a bad spec.
    """
    extra = {name: ext.resolve_weighting(w, temperature=temperature) if isinstance(w, str)
             else w for name, w in (extra or {}).items()}
    builtins = ext.builtin_weightings(temperature)
    clash = sorted(set(builtins) & set(extra))
    if clash:
        raise ValueError(f"weighting name(s) {clash} clash with the built-in weightings "
                         f"{sorted(builtins)}; rename them")
    return extra


def builtin_weights(counts: np.ndarray, ties: np.ndarray, rated: np.ndarray,
                    decisive_counts: np.ndarray, temperature: float,
                    vote_patterns: tuple[np.ndarray, np.ndarray] | None = None
                    ) -> dict[str, np.ndarray]:
    """name -> ``[K]`` weights of every built-in weighting, from the summed statistics.

    Args:
      counts: ``[K, L]`` level counts of the calibration (or pooled pair) ratings.
      ties, rated: ``[K]`` tied and rated pairs per rule.
      decisive_counts: ``[K, L]`` level counts of the pooled ratings of the decided pairs.
      temperature: ``tau``.
      vote_patterns: the summed vote-pattern table of the agreement weightings
        (:func:`encore_jax.agreement.vote_patterns`); ``None`` leaves them out.
    """
    stats = BuiltinStats(counts, tie_rates_from_counts(ties, rated), decisive_counts,
                         vote_patterns)
    return {name: np.asarray(w, np.float64)
            for name, w in builtin_weights_from_stats(stats, temperature).items()}


def extra_weights(key: jax.Array, ratings: np.ndarray, mask: np.ndarray, num_levels: int,
                  chosen: np.ndarray, rejected: np.ndarray, rated: np.ndarray,
                  extra: Mapping[str, ext.Weighting]) -> dict[str, np.ndarray]:
    """name -> ``[K]`` weights of the ``extra`` weightings on the calibration ``ratings``
    ``[M, K]`` (with ``mask``) and the pairs in a fair-coin order drawn from ``key``."""
    if not extra:
        return {}
    pair_a, pair_b, pair_mask = ext.unlabelled_pairs(key, chosen, rejected, rated)
    data = ext.WeightingData(jnp.asarray(ratings), jnp.asarray(mask), num_levels, pair_a,
                             pair_b, pair_mask)
    return {name: np.asarray(w, np.float64)
            for name, w in ext.apply_weightings(extra, data).items()}


def describe_weightings(extra: Mapping[str, Any]) -> str:
    """The protocol text: which weightings, computed how."""
    text = ("built-in: " + ", ".join(ext.builtin_weightings()) + " (from sums over the "
            "pairs, streamed; plug-in entropies in nats, whatever base / estimator the "
            "entropy column uses)")
    if extra:
        text += ("; extra: " + ", ".join(extra) + " (functions of whole arrays: their "
                 "ratings and pairs are held in memory)")
    return text
