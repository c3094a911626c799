"""Accuracies of the learning curve from per-group credit sums, and their bootstrap.

Symbols: ``R`` draws, ``M`` methods, ``G`` groups, ``B`` resamples. ``sums [R, M, G]`` holds,
for draw ``r`` and method ``m``, the summed credits of the pairs of group ``g`` (0 for a
group not evaluated in that draw) and ``counts [R, G]`` the number of pairs of group ``g``
evaluated in draw ``r``. A draw's accuracy is ``sum_g sums / sum_g counts``.

The bootstrap resamples draws and groups at once: replicate ``b`` gives group ``g`` the
multiplicity ``u_bg`` (``G`` groups drawn with replacement, shared by every draw and method,
so differences between methods are paired) and draw ``r`` the multiplicity ``v_br`` (``R``
draws with replacement); its value is ``sum_r v_br acc_r(u_b) / sum_r v_br`` over the draws
whose resampled held-out groups hold a pair.
"""

from __future__ import annotations

import jax
import numpy as np

__all__ = ["bootstrap_counts", "draw_accuracies", "interval", "replicate_accuracies"]


def draw_accuracies(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Accuracy of each draw and method ``[R, M]``."""
    return sums.sum(axis=-1) / counts.sum(axis=-1)[:, None]


def bootstrap_counts(key: jax.Array, num_groups: int, num_draws: int,
                     num_resamples: int) -> tuple[np.ndarray, np.ndarray]:
    """``(u [B, G], v [B, R])``: multiplicities of groups and draws in each resample."""
    seed = np.asarray(jax.random.key_data(key)).astype(np.uint64)
    rng = np.random.default_rng(seed)
    u = rng.multinomial(num_groups, np.full(num_groups, 1.0 / num_groups), size=num_resamples)
    v = rng.multinomial(num_draws, np.full(num_draws, 1.0 / num_draws), size=num_resamples)
    return u.astype(np.float64), v.astype(np.float64)


def replicate_accuracies(sums: np.ndarray, counts: np.ndarray, u: np.ndarray,
                         v: np.ndarray) -> np.ndarray:
    """Bootstrap replicates ``[B, M]`` of the mean accuracy over draws (module docstring)."""
    num_draws, num_methods, num_groups = sums.shape
    num = (sums.reshape(-1, num_groups) @ u.T).reshape(num_draws, num_methods, -1)  # [R, M, B]
    den = counts @ u.T  # [R, B]
    ok = den > 0
    acc = np.where(ok[:, None, :], num / np.where(ok, den, 1.0)[:, None, :], 0.0)
    weight = v.T * ok  # [R, B]
    total = weight.sum(axis=0)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("rmb,rb->bm", acc, weight) / total  # NaN: no draw defined


def interval(replicates: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    """The percentile interval of ``replicates [B]`` at ``confidence``, over the replicates
    that are defined (a resample can miss every held-out group of every drawn draw, which
    only happens with a handful of held-out groups); ``(None, None)`` when none is."""
    tail = (1.0 - confidence) / 2.0
    defined = replicates[np.isfinite(replicates)]
    if defined.size == 0:
        return None, None
    low, high = np.quantile(defined, [tail, 1.0 - tail])
    return float(low), float(high)
