"""The weightings reported by the premise check, through the weighting extension point.

Built-in weightings (:func:`encore_jax.weightings.builtin_weightings`) are computed from
their sufficient statistics (:mod:`encore_jax.weighting_stats`), which the premise check
sums over pairs chunk by chunk: a streamed file reports them in bounded memory, with the
values the in-memory path gives. The statistics are taken on ``(chosen, rejected)``; the
weightings see only label-free data (:func:`encore_jax.workflows.methods.label_free_data`:
fair-coin sides, permuted pairs), whose tie and decisive counts are the same (both are
symmetric in the two sides).

Extra (user) weightings are functions of a whole ``WeightingData`` (the calibration
ratings, else the pooled label-free pair ratings, and the unlabelled pairs): with any, the
caller holds those arrays in memory. They are validated by
:func:`encore_jax.weightings.apply_weightings`; an exception inside one is a
:class:`~encore_jax.workflows.methods.WeightingError` naming it. A built-in asked for by its
own name (``--weighting uniform``) selects it (it is reported anyway) instead of clashing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

import encore_jax.weightings as ext
from encore_jax.weighting_stats import (
    BuiltinStats,
    builtin_weights_from_stats,
    tie_rates_from_counts,
)
from encore_jax.workflows.methods import applied_weightings, is_builtin_selection, label_free_data

__all__ = ["builtin_weights", "describe_weightings", "extra_weights", "resolve_extra"]


def resolve_extra(extra: Mapping[str, Any] | None, temperature: float
                  ) -> dict[str, ext.Weighting]:
    """``extra`` with spec strings resolved (:func:`encore_jax.weightings.resolve_weighting`).

    Raises:
      ValueError: a name that clashes with a built-in weighting (other than the built-in
        itself, which is dropped: it is reported anyway), or a bad spec.
    """
    extra = {name: ext.resolve_weighting(w, temperature=temperature) if isinstance(w, str)
             else w for name, w in (extra or {}).items()
             if not is_builtin_selection(name, w, temperature)}
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


def extra_weights(key: jax.Array, ratings: np.ndarray | None, mask: np.ndarray | None,
                  num_levels: int, chosen: np.ndarray, rejected: np.ndarray, rated: np.ndarray,
                  extra: Mapping[str, ext.Weighting]) -> dict[str, np.ndarray]:
    """name -> ``[K]`` weights of the ``extra`` weightings on the label-free data of the pairs
    (:func:`~encore_jax.workflows.methods.label_free_data` from ``key``): the calibration
    ``ratings [M, K]`` (with ``mask``), or, when ``ratings`` is None, the pairs' own ratings
    pooled in the fair-coin, permuted order."""
    if not extra:
        return {}
    data = label_free_data(key, chosen, rejected, rated, num_levels, calibration=ratings,
                           calibration_mask=mask)
    return applied_weightings(extra, data)


def describe_weightings(extra: Mapping[str, Any]) -> str:
    """The protocol text: which weightings, computed how."""
    text = ("built-in: " + ", ".join(ext.builtin_weightings()) + " (from sums over the "
            "pairs, streamed; plug-in entropies in nats, whatever base / estimator the "
            "entropy column uses)")
    if extra:
        text += ("; extra: " + ", ".join(extra) + " (functions of whole arrays: their "
                 "ratings and pairs are held in memory)")
    return text
