"""The solvers behind :func:`encore_jax.fit_bt_weights`: the Bradley–Terry objective on fixed
data, an L-BFGS step and a damped Newton (IRLS) step, each a pure JAX function for use inside
the fit's ``lax.while_loop`` (so they run under ``jit``, ``vmap`` and on sharded inputs).

Symbols as in :mod:`encore_jax.bradley_terry`: ``diffs`` ``d`` ``[N, K]``, weights ``w``,
parameters ``theta`` (``w = theta`` free, ``softmax(theta)`` simplex), the objective
``J(theta) = L(w(theta)) + (ridge / 2) ||theta - center||^2``, where the fitter's ridge
``l2`` and prior ``(theta_0, s)`` on ``n`` included pairs combine as ``ridge = l2 + s / n``
and ``center = (s / n) theta_0 / ridge`` (``0`` when ``ridge = 0``): this equals
``(l2 / 2) ||theta||^2 + (s / (2 n)) ||theta - theta_0||^2`` up to a constant.

References: Nocedal & Wright, Numerical Optimization (2006), Algorithm 7.4 (L-BFGS two-loop
recursion) and 3.1 (backtracking); Hager & Zhang, SIAM J. Optim. 16 (2005) (approximate Wolfe).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

LBFGS_MEMORY_SIZE = 10
MAX_HALVINGS = 30


def loss_and_grad(
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


class Problem(NamedTuple):
    """The objective ``J(theta) = L(w(theta)) + (ridge / 2) ||theta - center||^2`` on fixed
    data (``ridge`` a scalar, ``center`` ``[K]``)."""

    diffs: jax.Array
    mask: jax.Array | None
    ridge: jax.Array
    center: jax.Array
    simplex: bool

    def weights(self, params: jax.Array) -> jax.Array:
        return jax.nn.softmax(params) if self.simplex else params

    def penalty(self, params: jax.Array) -> jax.Array:
        offset = params - self.center
        return 0.5 * self.ridge * jnp.sum(offset * offset)

    def penalty_grad(self, params: jax.Array) -> jax.Array:
        return self.ridge * (params - self.center)

    def value(self, params: jax.Array) -> jax.Array:
        return loss_and_grad(self.weights(params), self.diffs, self.mask)[0] + self.penalty(
            params
        )

    def evaluate(self, params: jax.Array) -> tuple[jax.Array, ...]:
        """``(w, L, dL/dw, J, dJ/dtheta)`` in one pass over the pairs."""
        weights = self.weights(params)
        loss, grad_w = loss_and_grad(weights, self.diffs, self.mask)
        # Chain rule through the softmax: J^T g = w * (g - w . g) (J is symmetric).
        grad_params = weights * (grad_w - jnp.dot(weights, grad_w)) if self.simplex else grad_w
        return (weights, loss, grad_w, loss + self.penalty(params),
                grad_params + self.penalty_grad(params))

    def value_and_grad(self, params: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.evaluate(params)[3:]

    def newton_direction(self, params: jax.Array, grad: jax.Array) -> jax.Array:
        """``H^-1 grad`` for the free parameterization, ``H = D^T diag(s (1 - s)) D / |M| +
        ridge I`` (IRLS), with a relative jitter so a rule with all-zero differences (a zero
        row and column of ``H``) gets a zero step instead of NaN."""
        margins = self.diffs @ params
        curvature = jax.nn.sigmoid(margins) * jax.nn.sigmoid(-margins)
        if self.mask is None:
            count = jnp.asarray(self.diffs.shape[0], params.dtype)
        else:
            curvature = jnp.where(self.mask, curvature, 0)
            count = jnp.sum(self.mask).astype(params.dtype)
        hessian = (self.diffs * (curvature / count)[:, None]).T @ self.diffs
        eye = jnp.eye(params.shape[0], dtype=params.dtype)
        # Cholesky's backward error is about K eps max|H|: a jitter of that size keeps a
        # rank-deficient H (more rules than pairs, l2 = 0) positive definite in float32.
        num_rules = params.shape[0]
        jitter = (4 * num_rules * jnp.finfo(params.dtype).eps
                  * jnp.maximum(jnp.max(jnp.diag(hessian)), 1))
        direction = jax.scipy.linalg.solve(hessian + (self.ridge + jitter) * eye, grad,
                                           assume_a="pos")
        # Should the factorisation still fail, fall back on the gradient (a descent step).
        usable = jnp.all(jnp.isfinite(direction)) & (jnp.dot(grad, direction) > 0)
        return jnp.where(usable, direction, grad)


def backtrack(
    problem: Problem, params: jax.Array, grad: jax.Array, direction: jax.Array,
    accepted: Callable[[jax.Array, jax.Array, jax.Array], jax.Array],
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Backtracking line search along ``-direction``: tries ``theta - a p`` with ``a = 1``,
    then halves ``a`` (at most ``MAX_HALVINGS`` times) until ``accepted(a, J, dJ/dtheta)``
    at the trial point; returns ``(params, J, dJ/dtheta)`` there."""

    def trial(scale):
        new = params - scale * direction
        return (new, *problem.value_and_grad(new))

    def rejected(carry):
        halvings, scale, _, new_value, new_grad = carry
        return (halvings < MAX_HALVINGS) & ~accepted(scale, new_value, new_grad)

    def halve(carry):
        halvings, scale, *_ = carry
        return (halvings + 1, 0.5 * scale, *trial(0.5 * scale))

    # Starts at "step 2, rejected" so that the pass over the pairs appears once in the
    # program (each copy costs compile time), the first trial being the full step.
    start = (jnp.int32(-1), jnp.asarray(2, params.dtype), params,
             jnp.asarray(jnp.inf, grad.dtype), grad)
    _, _, new, new_value, new_grad = jax.lax.while_loop(rejected, halve, start)
    return new, new_value, new_grad


def newton_step(
    problem: Problem, params: jax.Array, value: jax.Array, grad: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One Newton step with Armijo backtracking (halve the step until ``J`` decreases by at
    least ``1e-4 * step * grad . direction``); returns ``(params, J, dJ/dtheta)`` there."""
    direction = problem.newton_direction(params, grad)
    slope = jnp.dot(grad, direction)

    def accepted(scale, new_value, new_grad):
        return new_value <= value - 1e-4 * scale * slope

    return backtrack(problem, params, grad, direction, accepted)


class LbfgsMemory(NamedTuple):
    """The last ``m`` steps ``s = theta' - theta`` and gradient changes ``y``, newest first,
    with ``rho = 1 / (s . y)`` (0 marks an empty slot)."""

    s: jax.Array
    y: jax.Array
    rho: jax.Array


def lbfgs_direction(memory: LbfgsMemory, grad: jax.Array) -> jax.Array:
    """``H grad`` by the two-loop recursion (Nocedal & Wright, Algorithm 7.4), with
    ``H_0 = (s . y) / (y . y) I`` from the newest pair, or ``I / ||grad||`` (a unit-length
    first step) while the memory is empty."""

    def newest_first(q, pair):
        s, y, rho = pair
        alpha = rho * jnp.dot(s, q)
        return q - alpha * y, alpha

    q, alphas = jax.lax.scan(newest_first, grad, memory)
    newest_sy = jnp.dot(memory.s[0], memory.y[0])
    newest_yy = jnp.dot(memory.y[0], memory.y[0])
    first = memory.rho[0] == 0
    gamma = jnp.where(first, 1 / jnp.maximum(jnp.linalg.norm(grad), jnp.finfo(grad.dtype).tiny),
                      newest_sy / jnp.where(first, 1, newest_yy))

    def oldest_first(r, pair):
        s, y, rho, alpha = pair
        return r + s * (alpha - rho * jnp.dot(y, r)), None

    r, _ = jax.lax.scan(oldest_first, gamma * q, (*memory, alphas), reverse=True)
    return r


def lbfgs_step(
    problem: Problem, memory: LbfgsMemory, params: jax.Array, value: jax.Array,
    grad: jax.Array,
) -> tuple[jax.Array, LbfgsMemory, jax.Array, jax.Array]:
    """One L-BFGS step with a backtracking line search on the fused value and gradient.

    A trial step ``theta - a p`` is accepted when ``J`` decreases by at least
    ``1e-4 a grad . p`` (Armijo), or, near the optimum where that decrease is below the
    rounding of ``J``, when ``J`` did not grow beyond its rounding and the slope along ``p``
    shrank in magnitude (the approximate Wolfe test of Hager & Zhang, 2005). Otherwise ``a``
    is halved, at most ``MAX_HALVINGS`` times. The value and gradient of the accepted
    point are returned for the next step (one pass over the pairs per accepted first trial).
    """
    direction = lbfgs_direction(memory, grad)
    slope = jnp.dot(grad, direction)
    # Not a descent direction (numerically): restart from the scaled gradient.
    direction = jnp.where(slope > 0, direction, grad / jnp.linalg.norm(grad))
    slope = jnp.dot(grad, direction)
    rounding = 8 * jnp.finfo(value.dtype).eps * jnp.abs(value)

    def accepted(scale, new_value, new_grad):
        armijo = new_value <= value - 1e-4 * scale * slope
        approx_wolfe = (new_value <= value + rounding) & (
            jnp.abs(jnp.dot(new_grad, direction)) <= 0.9 * slope)
        return armijo | approx_wolfe

    new, new_value, new_grad = backtrack(problem, params, grad, direction, accepted)
    s, y = new - params, new_grad - grad
    sy = jnp.dot(s, y)
    # Keep only pairs of positive curvature (always true for a convex J, up to rounding).
    keep = sy > jnp.finfo(sy.dtype).eps * jnp.dot(y, y)
    pushed = LbfgsMemory(
        jnp.concatenate([s[None], memory.s[:-1]]), jnp.concatenate([y[None], memory.y[:-1]]),
        jnp.concatenate([(1 / jnp.where(keep, sy, 1))[None], memory.rho[:-1]]),
    )
    memory = jax.tree.map(lambda a, b: jnp.where(keep, a, b), pushed, memory)
    return new, memory, new_value, new_grad
