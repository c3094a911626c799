"""Separable preference pairs: when the Bradley–Terry weights do not exist.

Symbols as in :mod:`encore_jax.bradley_terry`: differences ``d_i`` (rows of ``D``,
``[N, K]``), weights ``w``, margins ``m_i = w . d_i``. The unpenalised Bradley–Terry loss
``L(w) = mean_i log(1 + exp(-m_i))`` has a finite minimiser unless the pairs are
*separable*: some direction ``u`` orders every pair weakly the right way and at least one
strictly,

    D u >= 0   and   D u != 0.

Then ``L(w + t u)`` decreases for ever as ``t -> inf`` (each strictly ordered pair's term
goes to 0), so any fit returns weights whose scale is set by the stopping rule, not the data
(Albert & Anderson, Biometrika 71, 1984: complete and quasi-complete separation). Otherwise,
by Stiemke's theorem, some ``y > 0`` has ``D^T y = 0`` and ``L`` is coercive on the
complement of the null space of ``D``: the minimiser exists. Pairs with ``d_i = 0`` (every
rule tied) order nothing and never prevent separation. A ridge ``l2 > 0`` or a prior
``prior_strength > 0`` makes the penalised optimum finite either way.

Two checks, both sound in the direction that matters (``True`` means separable):

* :func:`pairs_separable` (exact; "exact" in the fitter): the linear programme
  ``max 1^T D' u  s.t.  D' u >= 0, -1 <= u_k <= 1`` on the distinct non-zero rows ``D'`` of
  ``D``, each scaled to ``max_k |d_ik| = 1`` (scaling a row by a positive number leaves its
  constraint unchanged), solved by HiGHS through :func:`scipy.optimize.linprog`. Its optimum
  is 0 exactly when the pairs are not separable. HiGHS meets constraints to a feasibility
  tolerance of ``1e-7`` per scaled row, so the optimum is compared with
  ``SEPARATION_TOL = 1e-6`` times the number of rows: a direction whose mean scaled margin
  is below that (a separation at the level of rounding) is not reported. Cost: measured on
  this project's 2-core CPU, 1.1 s at 38,000 x 13 Gaussian pairs and 94 s at 200,000 x 100
  (the LP is ``O(N K)`` in memory; its time grows faster); integer ratings on few levels
  have few distinct rows and cost far less.
* :func:`fitted_weights_separate` (the fit's certificate; "fit" in the fitter): the fitted
  weights themselves separate: every certified margin
  (:func:`encore_jax.compose.certified_margins`, exact sign) is ``>= 0`` and one is
  ``> 0``. Pure JAX (runs under ``jit`` / ``vmap`` / sharding). An unpenalised fit on
  completely separated pairs ends on such weights, since a gradient below ``tol`` needs every
  margin large; a quasi-complete separation (some pairs tied by every separating direction)
  can leave negative margins on those pairs, so ``False`` here does not prove the pairs
  non-separable.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike

from encore_jax.compose import certified_margins

__all__ = ["SEPARATION_LP_MAX_CELLS", "SEPARATION_TOL", "fitted_weights_separate",
           "pairs_separable"]

SEPARATION_TOL = 1e-6
# "auto" in the fitter runs the exact LP up to this many cells N x K (about 1 s at
# 38,000 x 13 = 5e5 cells on 2 CPU cores), the fit's certificate above it.
SEPARATION_LP_MAX_CELLS = 1_000_000


def _distinct_scaled_rows(diffs: np.ndarray) -> np.ndarray:
    """The distinct non-zero rows of ``diffs`` (float64), each divided by its max |entry|."""
    scale = np.max(np.abs(diffs), axis=1)
    rows = diffs[scale > 0] / scale[scale > 0, None]
    return np.unique(rows, axis=0) if len(rows) else rows


def pairs_separable(diffs: ArrayLike, mask: ArrayLike | None = None) -> bool:
    """Exact check that the (included) pairs are separable (see the module docstring).

    Args:
      diffs: ``d = chosen - rejected`` ``[N, K]`` (host or concrete device array; finite).
      mask: optional boolean ``[N]``, ``True`` = pair included.

    Returns:
      ``True`` when some direction ``u`` has ``d_i . u >= 0`` for every included pair and
      ``> 0`` for one (the Bradley–Terry maximum-likelihood weights do not exist).

    Raises:
      ValueError: ``diffs`` is not ``[N, K]`` or not finite, or ``mask`` not ``[N]``.
      RuntimeError: the LP solver failed (its message is included).
    """
    import scipy.optimize

    d = np.asarray(jax.device_get(diffs), np.float64)
    if d.ndim != 2:
        raise ValueError(f"diffs must have shape [N, K], got {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("diffs contains a non-finite value; separability is undefined")
    if mask is not None:
        mask = np.asarray(jax.device_get(mask), bool)
        if mask.shape != d.shape[:1]:
            raise ValueError(f"mask must have shape [N] = ({d.shape[0]},), got {mask.shape}")
        d = d[mask]
    rows = _distinct_scaled_rows(d)
    if len(rows) == 0:
        return False
    result = scipy.optimize.linprog(
        -rows.sum(axis=0), A_ub=-rows, b_ub=np.zeros(len(rows)),
        bounds=[(-1.0, 1.0)] * rows.shape[1], method="highs",
    )
    if result.status != 0:
        raise RuntimeError(f"separability LP failed (HiGHS status {result.status}: "
                           f"{result.message})")
    return bool(-result.fun > SEPARATION_TOL * len(rows))


def fitted_weights_separate(
    diffs: jax.Array, weights: jax.Array, mask: jax.Array | None = None
) -> jax.Array:
    """``True`` when ``weights`` themselves separate the included pairs: every certified
    margin ``>= 0`` and one ``> 0`` (a proof of separability; traceable, no input checks).

    Args:
      diffs: ``[N, K]`` float. weights: ``[K]``. mask: optional boolean ``[N]``.

    Returns:
      A boolean scalar array.
    """
    margins = certified_margins(diffs, weights)
    included = jnp.ones(margins.shape, bool) if mask is None else mask
    against = jnp.any(included & (margins < 0))
    ordered = jnp.any(included & (margins > 0))
    return ordered & ~against
