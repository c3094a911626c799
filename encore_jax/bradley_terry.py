"""Bradley–Terry loss, per-rule gradients, and the weight fitter.

Symbols: pair ``i`` of ``N``, rule ``k`` of ``K``, rating differences
``d_ik = psi_k(chosen_i) - psi_k(rejected_i)`` (``diffs``), weights ``w`` ``[K]``, margins
``m_i = w . d_i``. The Bradley–Terry model says ``P(chosen preferred) = sigmoid(m_i)``; its
mean negative log-likelihood and gradient are

    L(w) = -(1/N) sum_i log sigmoid(m_i),      dL/dw_k = -(1/N) sum_i sigmoid(-m_i) d_ik.

Minimising ``L`` over real ``w`` is logistic regression without intercept on the symmetrised
pairs ``(d_i, 1), (-d_i, 0)``. ENCORE's Theorem 1 (see ``theory/THEORY.md``) is a statement
about this gradient and its minimiser for maximum-entropy rules. The minimiser does not
exist when the pairs are separable (:mod:`encore_jax.bt_separation`; ``BTFit.separable``);
a ridge ``l2`` or a prior (``prior``, ``prior_strength``: MAP toward a label-free weighting)
makes the penalised optimum finite.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Real

from encore_jax import _checks
from encore_jax._bt_solvers import (
    LBFGS_MEMORY_SIZE,
    LbfgsMemory,
    Problem,
    lbfgs_step,
    loss_and_grad,
    newton_step,
)
from encore_jax.bt_separation import (
    SEPARATION_LP_MAX_CELLS,
    fitted_weights_separate,
    pairs_separable,
)

__all__ = ["BTFit", "bt_gradient", "bt_loss", "fit_bt_weights"]

PARAMETERIZATIONS = ("free", "simplex")
OPTIMIZERS = ("lbfgs", "newton", "adam", "sgd")
SEPARABILITY_CHECKS = ("auto", "exact", "fit")
DEFAULT_OPTIMIZER = "lbfgs"
DEFAULT_TOL = 1e-5
DEFAULT_MAX_STEPS = 500
DEFAULT_LEARNING_RATE = 0.2


class BTFit(NamedTuple):
    """The result of :func:`fit_bt_weights`.

    ``S = ceil(max_steps / record_every) + 1`` history slots are allocated; the first
    ``num_records`` hold records and the rest repeat the final one, so ``history[-1]`` is
    always the final state.

    Attributes:
      weights: fitted ``w`` ``[K]`` (on the simplex for ``parameterization="simplex"``).
      loss_history: ``[S]`` Bradley–Terry loss ``L(w)`` (no penalty) at each recorded step.
      weight_history: ``[S, K]`` weights at each recorded step.
      grad_history: ``[S, K]`` gradient ``dL/dw`` of the Bradley–Terry loss with respect to
        the weights (not the logits, no penalty) at each recorded step.
      recorded_steps: ``int32 [S]``, the number of updates applied before each record:
        ``0, r, 2r, ...`` below ``steps_taken``, then ``steps_taken`` (the final weights,
        repeated in the padding).
      steps_taken: ``int32`` scalar, the number of updates applied (``<= max_steps``).
      converged: boolean scalar, ``grad_norm <= tol`` and a finite optimum: ``False`` when
        the fit stopped on ``max_steps``, on a non-finite gradient, or when ``separable``
        with free weights and no penalty (``l2 = 0``, ``prior_strength = 0``), where no
        finite minimiser exists and the weights' scale is set by ``tol``.
      grad_norm: final ``max_k |dJ/dtheta_k|`` of the fitted objective ``J`` (penalty
        included, with respect to the parameters ``theta``): the quantity ``tol`` bounds.
      num_records: ``int32`` scalar, the number of valid history slots.
      separable: boolean scalar, ``True`` when the included pairs are separable (some
        direction of free weights orders every pair weakly and one strictly; see
        :mod:`encore_jax.bt_separation`), decided as ``check_separable`` says. ``True`` is
        always a proof; with the "fit" certificate ``False`` is not.
    """

    weights: Float[Array, " K"]
    loss_history: Float[Array, " S"]
    weight_history: Float[Array, "S K"]
    grad_history: Float[Array, "S K"]
    recorded_steps: Int[Array, " S"]
    steps_taken: Int[Array, ""]
    converged: Bool[Array, ""]
    grad_norm: Float[Array, ""]
    num_records: Int[Array, ""]
    separable: Bool[Array, ""]


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
    if mask is not None:
        _checks.check_any("mask", mask, "mask selects no pair (all False); the loss is undefined")
    return mask


def _validated_rule_weights(name: str, weights: ArrayLike, num_rules: int) -> jax.Array:
    """A finite float weight vector ``[K]`` matching the ``K`` rules of ``diffs``."""
    weights = _checks.as_array(name, weights)
    if not jnp.issubdtype(weights.dtype, jnp.floating):
        raise TypeError(f"{name} must be a float array, got dtype {weights.dtype}")
    if weights.shape != (num_rules,):
        raise ValueError(
            f"{name} must have shape [K] = ({num_rules},) to match diffs, got {weights.shape}"
        )
    _checks.check_finite(name, weights)
    return weights


@jax.jit
def _bt_loss_and_grad(
    weights: jax.Array, diffs: jax.Array, mask: jax.Array | None
) -> tuple[jax.Array, jax.Array]:
    dtype = _checks.common_float_dtype(weights, diffs)
    return loss_and_grad(weights.astype(dtype), diffs.astype(dtype), mask)


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
    weights = _validated_rule_weights("weights", weights, diffs.shape[1])
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
    weights = _validated_rule_weights("weights", weights, diffs.shape[1])
    mask = _validated_pair_mask(mask, diffs.shape[0])
    return _bt_loss_and_grad(weights, diffs, mask)[1]


def _record_schedule(num_steps: int, record_every: int) -> np.ndarray:
    """Record steps of a fit that takes all ``num_steps`` updates (the buffer length)."""
    return np.array(sorted(set(range(0, num_steps, record_every)) | {num_steps}), np.int32)


def _named_optimizer(name: str, learning_rate: jax.Array) -> optax.GradientTransformation:
    maker = {"adam": optax.adam, "sgd": optax.sgd}[name]
    # inject_hyperparams keeps the learning rate in the state: a traced value, no recompile.
    return optax.inject_hyperparams(maker)(learning_rate=learning_rate)


def _stored_value_and_grad(state: Any) -> tuple[jax.Array, jax.Array] | None:
    """The objective value and gradient a line search left in ``state`` (at the new params),
    or ``None`` for optimizers that keep none."""
    value = optax.tree.get(state, "value", None)
    grad = optax.tree.get(state, "grad", None)
    return None if value is None or grad is None else (value, grad)


def _fit_impl(
    diffs: jax.Array,
    mask: jax.Array | None,
    init_params: jax.Array,
    l2: jax.Array,
    prior_params: jax.Array,
    prior_strength: jax.Array,
    tol: jax.Array,
    learning_rate: jax.Array,
    optimizer: str | optax.GradientTransformation,
    max_steps: int,
    record_every: int,
    parameterization: str,
) -> BTFit:
    dtype = init_params.dtype
    count = diffs.shape[0] if mask is None else jnp.maximum(jnp.sum(mask), 1)
    pull = prior_strength.astype(dtype) / jnp.asarray(count, dtype)  # s / n
    ridge = l2.astype(dtype) + pull
    # (l2/2)|theta|^2 + (s/2n)|theta - theta_0|^2 = (ridge/2)|theta - center|^2 + constant.
    center = jnp.where(ridge > 0, pull / jnp.where(ridge > 0, ridge, 1), 0) * prior_params.astype(
        dtype)
    problem = Problem(diffs.astype(dtype), mask, ridge, center, parameterization == "simplex")
    tol = tol.astype(dtype)
    num_records = _record_schedule(max_steps, record_every).shape[0]
    num_rules = init_params.shape[0]
    history = (
        jnp.zeros((num_records,), dtype),
        jnp.zeros((num_records, num_rules), dtype),
        jnp.zeros((num_records, num_rules), dtype),
    )

    newton, lbfgs = optimizer == "newton", optimizer == "lbfgs"
    if newton:
        opt_state = ()
    elif lbfgs:
        empty = jnp.zeros((LBFGS_MEMORY_SIZE, num_rules), dtype)
        opt_state = LbfgsMemory(empty, empty, jnp.zeros((LBFGS_MEMORY_SIZE,), dtype))
    else:
        if isinstance(optimizer, str):
            optimizer = _named_optimizer(optimizer, learning_rate.astype(dtype))
        solver = optax.with_extra_args_support(optimizer)
        # optax's own arithmetic (e.g. Adam's ``decay ** count`` with an int32 count) relies
        # on implicit promotion; allow it inside the optimizer only, whatever the caller's.
        with jax.numpy_dtype_promotion("standard"):
            opt_state = solver.init(init_params)
        reuse_line_search = _stored_value_and_grad(opt_state) is not None

    def state_at(params, value, grad):
        """``(w, L, dL/dw)``: read off ``J`` and its gradient for free weights; the softmax
        chain rule cannot be undone, so the simplex case evaluates again."""
        if problem.simplex:
            return problem.evaluate(params)[:3]
        return params, value - problem.penalty(params), grad - problem.penalty_grad(params)

    def record(history, slot, take, params, value, grad):
        def write(history):
            weights, loss, grad_w = state_at(params, value, grad)
            losses, weight_hist, grad_hist = history
            return (losses.at[slot].set(loss), weight_hist.at[slot].set(weights),
                    grad_hist.at[slot].set(grad_w))

        if problem.simplex:
            return jax.lax.cond(take, write, lambda history: history, history)
        weights, loss, grad_w = state_at(params, value, grad)
        losses, weight_hist, grad_hist = history
        return (losses.at[slot].set(jnp.where(take, loss, losses[slot])),
                weight_hist.at[slot].set(jnp.where(take, weights, weight_hist[slot])),
                grad_hist.at[slot].set(jnp.where(take, grad_w, grad_hist[slot])))

    def not_done(carry):
        t, _, _, _, grad, _ = carry
        # NaN compares False: a non-finite gradient stops the loop, unconverged.
        return (t < max_steps) & (jnp.max(jnp.abs(grad)) > tol)

    def step(carry):
        t, params, opt_state, value, grad, history = carry
        history = record(history, t // record_every, t % record_every == 0, params, value,
                         grad)
        if newton:
            params, value, grad = newton_step(problem, params, value, grad)
            return t + 1, params, opt_state, value, grad, history
        if lbfgs:
            params, opt_state, value, grad = lbfgs_step(problem, opt_state, params, value, grad)
            return t + 1, params, opt_state, value, grad, history
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = solver.update(grad, opt_state, params, value=value, grad=grad,
                                               value_fn=problem.value)
            params = optax.apply_updates(params, updates)
        if reuse_line_search:
            # The line search evaluated J and its gradient at the accepted point: reuse them
            # (what optax.value_and_grad_from_state does, without its cond on the first step).
            value, grad = _stored_value_and_grad(opt_state)
        else:
            value, grad = problem.value_and_grad(params)
        return t + 1, params, opt_state, value, grad, history

    value, grad = problem.value_and_grad(init_params)
    carry = (jnp.int32(0), init_params, opt_state, value, grad, history)
    steps, params, _, value, grad, history = jax.lax.while_loop(not_done, step, carry)
    grad_norm = jnp.max(jnp.abs(grad))

    # Final state into slot ceil(steps / r) and every slot after it (the padding).
    weights, loss, grad_w = state_at(params, value, grad)
    separable = fitted_weights_separate(problem.diffs, weights, mask)
    unbounded = separable & (ridge == 0) & (not problem.simplex)
    final_slot = (steps + record_every - 1) // record_every
    slots = jnp.arange(num_records, dtype=jnp.int32)
    pad = slots >= final_slot
    losses, weight_hist, grad_hist = history
    return BTFit(
        weights=weights,
        loss_history=jnp.where(pad, loss, losses),
        weight_history=jnp.where(pad[:, None], weights, weight_hist),
        grad_history=jnp.where(pad[:, None], grad_w, grad_hist),
        recorded_steps=jnp.where(pad, steps, slots * record_every),
        steps_taken=steps,
        converged=(grad_norm <= tol) & ~unbounded,
        grad_norm=grad_norm,
        num_records=final_slot + 1,
        separable=separable,
    )


_fit = jax.jit(
    _fit_impl,
    static_argnames=("optimizer", "max_steps", "record_every", "parameterization"),
)


def _initial_params(
    init: ArrayLike | None, num_rules: int, dtype: jnp.dtype, parameterization: str
) -> jax.Array:
    if init is None:
        return jnp.zeros((num_rules,), dtype)  # w = 0 (free) or uniform weights (simplex)
    init = _validated_rule_weights("init", init, num_rules).astype(dtype)
    if parameterization == "free":
        return init
    return _simplex_logits("init", init, "")


def _simplex_logits(name: str, weights: jax.Array, note: str) -> jax.Array:
    """``log(weights)``, the simplex parameters of ``weights``; concrete weights must be
    strictly positive and sum to 1 (an error naming ``name``, with ``note`` appended)."""
    if _checks.is_concrete(weights):
        host = np.asarray(weights, np.float64)
        if np.any(host <= 0) or abs(host.sum() - 1) > 1e-5:
            raise ValueError(
                f"{name} must be strictly positive weights summing to 1 for "
                f"parameterization='simplex'{note}, got {host.tolist()}"
            )
    return jnp.log(weights)


def _prior_params(
    prior: ArrayLike | None, prior_strength: Any, num_rules: int, dtype: jnp.dtype,
    parameterization: str,
) -> tuple[jax.Array, float]:
    """``(theta_0, s)``: the prior weights as parameters (``w_0`` free, ``log w_0`` simplex)
    and its strength; ``(0, 0)`` without a prior."""
    if prior is None:
        if prior_strength is not None:
            raise ValueError(
                "prior_strength needs prior (the weights to shrink toward); to shrink toward "
                "w = 0 use l2"
            )
        return jnp.zeros((num_rules,), dtype), 0.0
    if prior_strength is None:
        raise ValueError(
            "prior needs prior_strength >= 0 (s in the penalty (s/2) |w - prior|^2); pass "
            "e.g. prior_strength=1.0, or choose it by cross-validation"
        )
    _checks.check_scalar("prior_strength", prior_strength, at_least=0.0)
    prior = _validated_rule_weights("prior", prior, num_rules).astype(dtype)
    if parameterization == "free":
        return prior, prior_strength
    return _simplex_logits("prior", prior,
                           " (the penalty is on the logits log(prior))"), prior_strength


def _checked_optimizer(
    optimizer: Any, parameterization: str
) -> str | optax.GradientTransformation:
    if optimizer is None:
        return DEFAULT_OPTIMIZER
    if isinstance(optimizer, str):
        _checks.check_choice("optimizer", optimizer, OPTIMIZERS)
        if optimizer == "newton" and parameterization != "free":
            raise ValueError(
                "optimizer='newton' needs parameterization='free' (the softmax Hessian is "
                "singular); use optimizer='lbfgs' for parameterization='simplex'"
            )
        return optimizer
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"optimizer must be one of {OPTIMIZERS} or an optax.GradientTransformation, got "
            f"{type(optimizer).__name__}"
        )
    return optimizer


def _checked_max_steps(max_steps: Any) -> int:
    if max_steps is None:
        return DEFAULT_MAX_STEPS
    return _checks.check_positive_int("max_steps", max_steps)


def fit_bt_weights(
    diffs: Real[ArrayLike, "N K"],
    *,
    optimizer: str | optax.GradientTransformation | None = None,
    tol: float | None = None,
    max_steps: int | None = None,
    learning_rate: float | None = None,
    l2: float = 0.0,
    prior: Float[ArrayLike, " K"] | None = None,
    prior_strength: float | None = None,
    init: Float[ArrayLike, " K"] | None = None,
    parameterization: str = "free",
    record_every: int = 10,
    mask: Bool[ArrayLike, " N"] | None = None,
    check_separable: str = "auto",
) -> BTFit:
    """Fits Bradley–Terry rule weights until the gradient is below ``tol``, recording the
    trajectory.

    Minimises over parameters ``theta``

        J(theta) = L(w(theta)) + (l2 / 2) ||theta||^2 + (s / (2 n)) ||theta - theta_0||^2,
        w(theta) = theta (free)   or   softmax(theta) (simplex),

    with ``L`` as in :func:`bt_loss` (a mean over the ``n`` included pairs). ``"free"`` is the
    logistic-regression MLE; on the ``2N`` symmetrised rows ``(d_i, 1), (-d_i, 0)`` it is
    scikit-learn's ``LogisticRegression(fit_intercept=False, C=inf)``, and with ``l2 > 0`` the
    same with ``C = 1 / (2 N l2)``. ``"simplex"`` keeps ``w`` non-negative and summing to one,
    comparable to ENCORE's weights (there ``l2`` shrinks the logits toward uniform weights).

    A prior (``prior = w_0``, ``prior_strength = s``; few labels, issue 21) pulls the fit
    toward a label-free weighting ``w_0`` instead of toward 0: ``theta_0 = w_0`` (free;
    signed weights allowed, so a rule working against the preference can get a negative
    weight) or ``theta_0 = log w_0`` (simplex; ``w_0`` strictly positive, summing to one).
    Multiplied by ``n``, ``J`` is the summed negative log-likelihood plus
    ``(s / 2) ||theta - theta_0||^2``: the MAP estimate under the Gaussian prior
    ``theta ~ N(theta_0, I / s)``, so ``s`` is counted in pairs' worth of evidence and does
    not depend on ``n``. Hence the limits: ``s -> inf`` gives ``w_0`` (with no labels at all
    the answer is ``w_0`` itself; the fitter needs at least one pair), and ``n -> inf`` at
    fixed ``s``, or ``s = 0``, gives plain Bradley–Terry. The ridge is the per-pair special
    case ``w_0 = 0``: ``prior = 0, prior_strength = n l2`` gives the fit of ``l2``. Both may
    be given; the penalties add. The optimum satisfies ``theta - theta_0 = -(n / s) dL/dtheta``
    (free, ``l2 = 0``), so ``max_k |w_k - w_0k| <= (n / s) max_k |dL/dw_k|``.

    The fit is one compiled ``lax.while_loop`` that stops as soon as
    ``max_k |dJ/dtheta_k| <= tol`` (``converged = True``) or after ``max_steps`` updates
    (``converged = False``). Each step costs one fused pass over the pairs for ``J`` and its
    gradient (more only when the line search backtracks). The loop is pure JAX (no host
    callback), so it runs under an outer ``jit``, under ``vmap`` (many fits in one call: a
    batched loop runs until every member stops; stopped members are frozen) and on
    row-sharded ``diffs`` (XLA partitions each pass and sums the partial sums).

    Optimizers (``optimizer``):

    * ``"lbfgs"`` (default): L-BFGS (memory ``LBFGS_MEMORY_SIZE = 10``) with a backtracking
      line search whose accepted value and gradient start the next step. Written here rather
      than ``optax.lbfgs()`` because it compiles in less time at the same step count;
      ``benchmarks/bt_fit.py`` times it against scikit-learn and SciPy
      (``benchmarks/results/bt_fit_cpu.json``).
    * ``"newton"``: damped Newton / IRLS (``H = D^T diag(s (1 - s)) D / N + l2 I``, Armijo
      backtracking), free parameterization only. Fewer steps, but each costs
      ``O(N K^2)`` against L-BFGS's ``O(N K)``; L-BFGS is the default at every K (timings:
      ``benchmarks/bt_fit.py``).
    * ``"adam"``, ``"sgd"``: first-order steps of size ``learning_rate`` (default
      ``DEFAULT_LEARNING_RATE``); they need many steps to reach a small ``tol``.
    * any ``optax.GradientTransformation``, e.g. ``optax.lbfgs()``: it receives ``value``,
      ``grad`` and ``value_fn``; a line search that stores ``value`` and ``grad`` in its
      state (optax's zoom and backtracking searches) has them reused, as
      ``optax.value_and_grad_from_state`` does, instead of a new pass.

    What recompiles: the loop is compiled once per shape and dtype of ``diffs``, presence of
    ``mask``, ``optimizer`` (a name, or the *identity* of a GradientTransformation instance:
    a new ``optax.adam(0.1)`` object recompiles; pass the name with ``learning_rate``, or keep
    one instance), ``max_steps``, ``record_every`` and ``parameterization``. The values of
    ``diffs``, ``mask``, ``init``, ``l2``, ``tol`` and ``learning_rate`` are traced: changing
    them reuses the compiled loop (a learning-rate sweep compiles once).

    Args:
      diffs: ``d = chosen - rejected`` ``[N, K]``.
      optimizer: one of ``OPTIMIZERS`` or an ``optax.GradientTransformation``; default
        ``"lbfgs"``.
      tol: ``>= 0``, the stopping rule ``max_k |dJ/dtheta_k| <= tol``; default
        ``DEFAULT_TOL = 1e-5`` (nats per pair per unit weight; for unit-scale differences
        the loss is then within about ``K tol^2 / lambda_min(H)`` of its minimum, far below
        float32 resolution of ``L``). ``0`` runs every step unless the gradient is exactly 0.
      max_steps: ``>= 1``, the step limit; default ``DEFAULT_MAX_STEPS = 500``.
      learning_rate: ``> 0``, the step size of ``"adam"`` / ``"sgd"`` (ignored by the others).
      l2: ``lambda`` >= 0, the ridge penalty on ``theta``.
      prior: ``w_0`` ``[K]``, finite float weights the penalty ``(s / 2) ||theta - theta_0||^2``
        pulls toward (``None``: no prior). Needs ``prior_strength``.
      prior_strength: ``s >= 0``, the strength of that pull: the precision of the Gaussian
        prior on the summed log-likelihood scale (about ``s`` pairs' worth of evidence; the
        per-pair ridge it adds is ``s / n``). Required with ``prior``, refused without it.
        The stopping rule ``tol`` bounds ``|dJ/dtheta|``, whose curvature grows with
        ``s / n``: a very strong prior in float32 may stop on ``max_steps`` within rounding
        of ``w_0``.
      init: initial weights ``[K]``; default ``0`` (free) or uniform ``1/K`` (simplex, where
        ``init`` must be strictly positive and sum to one).
      parameterization: ``"free"`` or ``"simplex"``.
      record_every: ``r`` >= 1; history is recorded every ``r`` updates and at the end.
      mask: optional boolean ``[N]``, ``True`` = pair included (pad ragged data with it; under
        ``vmap`` a batch of masks fits samples of different sizes in one call).
      check_separable: how ``BTFit.separable`` is decided (:mod:`encore_jax.bt_separation`):
        ``"exact"``, the linear programme on the host (needs concrete inputs: not under
        ``jit`` / ``vmap``; its cost grows with ``N K``);
        ``"fit"``, the fitted weights' own certificate (pure JAX, free; may miss a
        quasi-complete separation); ``"auto"`` (default), exact when the inputs are concrete
        and ``N K <= SEPARATION_LP_MAX_CELLS = 1e6``, the certificate otherwise.

    Returns:
      A :class:`BTFit`: final weights, the history of the loss, weights and gradient
      ``dL/dw`` at ``recorded_steps``, ``steps_taken``, ``converged``, ``grad_norm`` and
      ``separable``.

    Raises:
      ValueError: bad arguments (each names itself), or, with concrete inputs, a fit that
        ended on non-finite weights (the message suggests ``l2``). Under an outer ``jit`` /
        ``vmap`` no error can be raised: such a fit has NaN weights and ``converged =
        False``.
    """
    _checks.check_choice("parameterization", parameterization, PARAMETERIZATIONS)
    _checks.check_choice("check_separable", check_separable, SEPARABILITY_CHECKS)
    optimizer = _checked_optimizer(optimizer, parameterization)
    max_steps = _checked_max_steps(max_steps)
    record_every = _checks.check_positive_int("record_every", record_every)
    tol = DEFAULT_TOL if tol is None else tol
    learning_rate = DEFAULT_LEARNING_RATE if learning_rate is None else learning_rate
    _checks.check_scalar("l2", l2, at_least=0.0)
    _checks.check_scalar("tol", tol, at_least=0.0)
    _checks.check_scalar("learning_rate", learning_rate, at_least=0.0)
    diffs = _validated_diffs(diffs)
    mask = _validated_pair_mask(mask, diffs.shape[0])
    dtype = _checks.common_float_dtype(diffs)
    params = _initial_params(init, diffs.shape[1], dtype, parameterization)
    prior_params, prior_strength = _prior_params(prior, prior_strength, diffs.shape[1], dtype,
                                                 parameterization)
    fit = _fit(
        diffs, mask, params, jnp.asarray(l2, dtype), prior_params,
        jnp.asarray(prior_strength, dtype), jnp.asarray(tol, dtype),
        jnp.asarray(learning_rate, dtype), optimizer=optimizer, max_steps=max_steps,
        record_every=record_every, parameterization=parameterization,
    )
    concrete = _checks.is_concrete(diffs) and (mask is None or _checks.is_concrete(mask))
    if concrete and _checks.is_concrete(fit.weights):
        _raise_if_not_finite_fit(fit, optimizer, l2, prior_strength)
    exact = check_separable == "exact" or (
        check_separable == "auto" and math.prod(diffs.shape) <= SEPARATION_LP_MAX_CELLS)
    if exact and not concrete:
        if check_separable == "exact":
            raise ValueError(
                "check_separable='exact' needs concrete diffs and mask (it solves a linear "
                "programme on the host); under jit / vmap use check_separable='fit'"
            )
        return fit
    if not exact:
        return fit
    separable = fit.separable | pairs_separable(diffs, mask)
    # jnp, not float(): l2 or prior_strength may be traced while diffs are concrete.
    unbounded = separable & (parameterization == "free") & (jnp.asarray(l2) == 0) & (
        jnp.asarray(prior_strength) == 0)
    return fit._replace(separable=separable, converged=fit.converged & ~unbounded)


def _raise_if_not_finite_fit(fit: BTFit, optimizer: Any, l2: Any, prior_strength: Any) -> None:
    if _checks.device_all(jnp.all(jnp.isfinite(fit.weights))):
        return
    name = optimizer if isinstance(optimizer, str) else type(optimizer).__name__
    raise ValueError(
        f"fit_bt_weights ended on non-finite weights (optimizer {name!r}, l2 = {l2}, "
        f"prior_strength = {prior_strength}, after {int(fit.steps_taken)} steps): the pairs "
        "may be separable or have more rules than pairs; pass l2 > 0 (e.g. l2=1e-3) or a "
        "prior, or use optimizer='lbfgs' (or, for adam / sgd, a smaller learning_rate)"
    )
