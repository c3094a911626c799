"""Bradley–Terry loss, per-rule gradients, and the optax weight fitter.

Symbols: pair ``i`` of ``N``, rule ``k`` of ``K``, rating differences
``d_ik = psi_k(chosen_i) - psi_k(rejected_i)`` (``diffs``), weights ``w`` ``[K]``, margins
``m_i = w . d_i``. The Bradley–Terry model says ``P(chosen preferred) = sigmoid(m_i)``; its
mean negative log-likelihood and gradient are

    L(w) = -(1/N) sum_i log sigmoid(m_i),      dL/dw_k = -(1/N) sum_i sigmoid(-m_i) d_ik.

Minimising ``L`` over real ``w`` is logistic regression without intercept on the symmetrised
pairs ``(d_i, 1), (-d_i, 0)``. ENCORE's Theorem 1 (see ``theory/THEORY.md``) is a statement
about this gradient and its minimiser for maximum-entropy rules.
"""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Real

from encore_jax import _checks

__all__ = ["BTFit", "bt_gradient", "bt_loss", "fit_bt_weights"]

PARAMETERIZATIONS = ("free", "simplex")
DEFAULT_LEARNING_RATE = 0.2


class BTFit(NamedTuple):
    """The result of :func:`fit_bt_weights`.

    Attributes:
      weights: fitted ``w`` ``[K]`` (on the simplex for ``parameterization="simplex"``).
      loss_history: ``[S]`` Bradley–Terry loss ``L(w)`` (no penalty) at each recorded step.
      weight_history: ``[S, K]`` weights at each recorded step.
      grad_history: ``[S, K]`` gradient ``dL/dw`` of the Bradley–Terry loss with respect to
        the weights (not the logits, no penalty) at each recorded step.
      recorded_steps: ``int32 [S]``, the number of optimizer updates applied before each
        record: ``0, r, 2r, ...`` below ``num_steps``, then ``num_steps`` (the final weights).
    """

    weights: Float[Array, " K"]
    loss_history: Float[Array, " S"]
    weight_history: Float[Array, "S K"]
    grad_history: Float[Array, "S K"]
    recorded_steps: Int[Array, " S"]


def _validated_diffs(diffs: ArrayLike) -> jax.Array:
    diffs = _checks.as_array("diffs", diffs)
    _checks.check_float_dtype("diffs", diffs)
    _checks.check_ndim("diffs", diffs, 2, "[N, K]")
    if diffs.shape[0] == 0 or diffs.shape[1] == 0:
        raise ValueError(f"diffs must have at least one pair and one rule, got shape {diffs.shape}")
    _checks.check_finite("diffs", diffs)
    return diffs


def _validated_pair_mask(mask: ArrayLike | None, num_pairs: int) -> jax.Array | None:
    mask = _checks.check_mask(mask, (num_pairs,))
    if mask is not None and _checks.is_concrete(mask) and not bool(np.any(np.asarray(mask))):
        raise ValueError("mask selects no pair (all False); the loss is undefined")
    return mask


def _validated_weights(name: str, weights: ArrayLike, num_rules: int) -> jax.Array:
    weights = _checks.as_array(name, weights)
    if not jnp.issubdtype(weights.dtype, jnp.floating):
        raise TypeError(f"{name} must be a float array, got dtype {weights.dtype}")
    if weights.shape != (num_rules,):
        raise ValueError(
            f"{name} must have shape [K] = ({num_rules},) to match diffs, got {weights.shape}"
        )
    _checks.check_finite(name, weights)
    return weights


def _loss_and_grad(
    weights: jax.Array, diffs: jax.Array, mask: jax.Array | None
) -> tuple[jax.Array, jax.Array]:
    """``(L(w), dL/dw)`` in one pass over the pairs (both in ``weights.dtype``)."""
    margins = diffs @ weights
    # -log sigmoid(m) = softplus(-m): finite for any m (log(sigmoid(m)) underflows for m << 0).
    nll = jax.nn.softplus(-margins)
    residual = jax.nn.sigmoid(-margins)
    if mask is None:
        count = jnp.asarray(diffs.shape[0], weights.dtype)
    else:
        nll = jnp.where(mask, nll, 0)
        residual = jnp.where(mask, residual, 0)
        count = jnp.sum(mask).astype(weights.dtype)
    return jnp.sum(nll) / count, -(residual @ diffs) / count


@jax.jit
def _bt_loss_and_grad(
    weights: jax.Array, diffs: jax.Array, mask: jax.Array | None
) -> tuple[jax.Array, jax.Array]:
    dtype = _checks.common_float_dtype(weights, diffs)
    return _loss_and_grad(weights.astype(dtype), diffs.astype(dtype), mask)


def bt_loss(
    weights: Float[ArrayLike, " K"],
    diffs: Real[ArrayLike, "N K"],
    *,
    mask: Bool[ArrayLike, " N"] | None = None,
) -> Float[Array, ""]:
    """Mean Bradley–Terry negative log-likelihood of the chosen responses.

        L(w) = -(1/|M|) sum_{i in M} log sigmoid(sum_k w_k d_ik)

    computed as ``softplus(-m)`` so that large negative margins stay finite.

    Args:
      weights: ``w`` ``[K]``.
      diffs: ``d = chosen - rejected`` ``[N, K]`` (integer ratings are converted to float).
      mask: optional boolean ``[N]``, ``True`` = pair included (the set ``M``; all pairs by
        default). Use it to pad ragged batches to a static shape. An all-``False`` mask raises
        (under an outer ``jit`` it gives NaN).

    Returns:
      The scalar loss (nats per pair).
    """
    diffs = _validated_diffs(diffs)
    weights = _validated_weights("weights", weights, diffs.shape[1])
    mask = _validated_pair_mask(mask, diffs.shape[0])
    return _bt_loss_and_grad(weights, diffs, mask)[0]


def bt_gradient(
    weights: Float[ArrayLike, " K"],
    diffs: Real[ArrayLike, "N K"],
    *,
    mask: Bool[ArrayLike, " N"] | None = None,
) -> Float[Array, " K"]:
    """Per-rule gradient of the Bradley–Terry loss.

        dL/dw_k = -(1/|M|) sum_{i in M} sigmoid(-m_i) d_ik,    m_i = sum_j w_j d_ij.

    At ``w = 0`` this is ``-mean_i(d_ik) / 2``: a rule whose differences are symmetric
    about zero (a maximum-entropy rule independent of the preference) has zero population
    gradient there (ENCORE's Theorem 1).

    Args:
      weights: ``w`` ``[K]``.
      diffs: ``d = chosen - rejected`` ``[N, K]``.
      mask: optional boolean ``[N]``, ``True`` = pair included.

    Returns:
      The gradient ``[K]``.
    """
    diffs = _validated_diffs(diffs)
    weights = _validated_weights("weights", weights, diffs.shape[1])
    mask = _validated_pair_mask(mask, diffs.shape[0])
    return _bt_loss_and_grad(weights, diffs, mask)[1]


def _record_schedule(num_steps: int, record_every: int) -> np.ndarray:
    return np.array(sorted(set(range(0, num_steps, record_every)) | {num_steps}), np.int32)


@functools.cache
def _default_optimizer() -> optax.GradientTransformation:
    # One cached instance: the optimizer is a static argument of the compiled fit loop, so a
    # fresh instance per call would recompile every time.
    return optax.adam(DEFAULT_LEARNING_RATE)


@functools.partial(
    jax.jit, static_argnames=("optimizer", "num_steps", "record_every", "parameterization")
)
def _fit(
    diffs: jax.Array,
    mask: jax.Array | None,
    init_params: jax.Array,
    l2: jax.Array,
    tol: jax.Array,
    optimizer: optax.GradientTransformation,
    num_steps: int,
    record_every: int,
    parameterization: str,
) -> BTFit:
    dtype = init_params.dtype
    diffs = diffs.astype(dtype)
    l2 = l2.astype(dtype)
    tol = tol.astype(dtype)
    solver = optax.with_extra_args_support(optimizer)
    simplex = parameterization == "simplex"

    def to_weights(params):
        return jax.nn.softmax(params) if simplex else params

    def objective(params):
        loss, _ = _loss_and_grad(to_weights(params), diffs, mask)
        return loss + 0.5 * l2 * jnp.sum(params * params)

    def evaluate(params):
        weights = to_weights(params)
        loss, grad_w = _loss_and_grad(weights, diffs, mask)
        # Chain rule through the softmax: J^T g = w * (g - w . g) (J is symmetric).
        grad_params = weights * (grad_w - jnp.dot(weights, grad_w)) if simplex else grad_w
        value = loss + 0.5 * l2 * jnp.sum(params * params)
        return weights, loss, grad_w, value, grad_params + l2 * params

    steps = _record_schedule(num_steps, record_every)
    num_records = steps.shape[0]
    num_rules = diffs.shape[1]
    history = (
        jnp.zeros((num_records,), dtype),
        jnp.zeros((num_records, num_rules), dtype),
        jnp.zeros((num_records, num_rules), dtype),
    )

    def record(history, slot, take, weights, loss, grad_w):
        losses, weight_hist, grad_hist = history
        return (
            losses.at[slot].set(jnp.where(take, loss, losses[slot])),
            weight_hist.at[slot].set(jnp.where(take, weights, weight_hist[slot])),
            grad_hist.at[slot].set(jnp.where(take, grad_w, grad_hist[slot])),
        )

    def step(carry, t):
        params, state, history = carry
        weights, loss, grad_w, value, grad_params = evaluate(params)
        history = record(history, t // record_every, t % record_every == 0, weights, loss, grad_w)

        def update(operands):
            params, state = operands
            # optax's own arithmetic (e.g. Adam's ``decay ** count`` with an int32 count) relies
            # on implicit promotion; allow it inside the optimizer only, whatever the caller's.
            with jax.numpy_dtype_promotion("standard"):
                updates, state = solver.update(
                    grad_params, state, params, value=value, grad=grad_params, value_fn=objective
                )
                return optax.apply_updates(params, updates), state

        # Once converged, skip the update: a line search at a float-precision optimum can spend
        # its whole budget of function evaluations failing to find a decrease.
        converged = jnp.max(jnp.abs(grad_params)) <= tol
        params, state = jax.lax.cond(converged, lambda ops: ops, update, (params, state))
        return (params, state, history), None

    with jax.numpy_dtype_promotion("standard"):
        state = solver.init(init_params)
    carry = (init_params, state, history)
    (params, _, history), _ = jax.lax.scan(step, carry, jnp.arange(num_steps, dtype=jnp.int32))
    weights, loss, grad_w, _, _ = evaluate(params)
    history = record(history, num_records - 1, jnp.bool_(True), weights, loss, grad_w)
    return BTFit(weights, *history, jnp.asarray(steps))


def _check_nonnegative(name: str, x: Any) -> None:
    if not _checks.is_concrete(x):
        return
    value = np.asarray(x)
    if value.ndim != 0 or value.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real scalar, got {x!r}")
    if not (math.isfinite(float(value)) and float(value) >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {float(value)}")


def _initial_params(
    init: ArrayLike | None, num_rules: int, dtype: jnp.dtype, parameterization: str
) -> jax.Array:
    if init is None:
        return jnp.zeros((num_rules,), dtype)  # w = 0 (free) or uniform weights (simplex)
    init = _validated_weights("init", init, num_rules).astype(dtype)
    if parameterization == "free":
        return init
    if _checks.is_concrete(init):
        host = np.asarray(init, np.float64)
        if np.any(host <= 0) or abs(host.sum() - 1) > 1e-5:
            raise ValueError(
                f"init must be strictly positive weights summing to 1 for "
                f"parameterization='simplex', got {host.tolist()}"
            )
    return jnp.log(init)


def fit_bt_weights(
    diffs: Real[ArrayLike, "N K"],
    *,
    optimizer: optax.GradientTransformation | None = None,
    num_steps: int = 500,
    l2: float = 0.0,
    init: Float[ArrayLike, " K"] | None = None,
    parameterization: str = "free",
    record_every: int = 10,
    mask: Bool[ArrayLike, " N"] | None = None,
    tol: float = 0.0,
) -> BTFit:
    """Fits Bradley–Terry rule weights with an optax optimizer, recording the trajectory.

    Minimises over parameters ``theta``

        J(theta) = L(w(theta)) + (l2 / 2) ||theta||^2,
        w(theta) = theta (free)   or   softmax(theta) (simplex),

    with ``L`` as in :func:`bt_loss`. ``"free"`` is the logistic-regression MLE; on the ``2N``
    symmetrised rows ``(d_i, 1), (-d_i, 0)`` it is scikit-learn's
    ``LogisticRegression(fit_intercept=False, C=inf)``, and with ``l2 > 0`` the same with
    ``C = 1 / (2 N l2)``. ``"simplex"`` keeps ``w`` non-negative and summing to one, comparable to
    ENCORE's weights (there ``l2`` shrinks the logits toward uniform weights). The loop runs
    ``num_steps`` updates inside one compiled ``lax.scan``.

    Args:
      diffs: ``d = chosen - rejected`` ``[N, K]``.
      optimizer: any ``optax.GradientTransformation``; default ``optax.adam(0.2)``. Line-search
        methods such as ``optax.lbfgs()`` work too (they receive ``value``, ``grad`` and
        ``value_fn``). Pass the same instance again to reuse the compiled loop. A fixed
        Adam step can stop short of the MLE when weights are large (nearly separable rules);
        ``optax.lbfgs()`` reaches it to float precision in a few dozen steps.
      num_steps: number of optimizer updates (>= 1).
      l2: ``lambda`` >= 0, the ridge penalty on ``theta``.
      init: initial weights ``[K]``; default ``0`` (free) or uniform ``1/K`` (simplex, where
        ``init`` must be strictly positive and sum to one).
      parameterization: ``"free"`` or ``"simplex"``.
      record_every: ``r`` >= 1; history is recorded every ``r`` updates and at the end.
      mask: optional boolean ``[N]``, ``True`` = pair included (pad ragged data with it).
      tol: >= 0; once ``max_k |dJ/dtheta_k| <= tol`` the remaining steps leave the weights
        unchanged (and cost one gradient evaluation each). ``0`` runs every update unless the
        gradient is exactly zero; ``1e-6`` suits L-BFGS in float32.

    Returns:
      A :class:`BTFit`: final weights and the history of the loss, weights and gradient
      ``dL/dw`` at ``recorded_steps``.
    """
    _checks.check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    num_steps = _checks.check_positive_int("num_steps", num_steps)
    record_every = _checks.check_positive_int("record_every", record_every)
    if optimizer is None:
        optimizer = _default_optimizer()
    elif not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"optimizer must be an optax.GradientTransformation, got {type(optimizer).__name__}"
        )
    _check_nonnegative("l2", l2)
    _check_nonnegative("tol", tol)
    diffs = _validated_diffs(diffs)
    mask = _validated_pair_mask(mask, diffs.shape[0])
    dtype = _checks.common_float_dtype(diffs)
    params = _initial_params(init, diffs.shape[1], dtype, parameterization)
    return _fit(
        diffs, mask, params, jnp.asarray(l2, dtype), jnp.asarray(tol, dtype), optimizer,
        num_steps, record_every, parameterization,
    )
