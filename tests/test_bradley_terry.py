"""Bradley–Terry loss, gradient and fitter: NumPy and autodiff oracles, the scikit-learn
logistic-regression oracle, history bookkeeping, masks, jit / vmap, argument errors."""

import jax
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from strategies import LBFGS

import encore_jax as ej

# Shared shapes and optimizer instances: the fit loop is compiled once per configuration.
NUM_PAIRS, NUM_RULES = 256, 4
LBFGS_STEPS = 40
SHORT = dict(num_steps=25, record_every=10)  # one compiled loop for the short fits below


def random_problem(seed, scale=1.0, num_pairs=NUM_PAIRS):
    rng = np.random.default_rng(seed)
    diffs = rng.integers(-4, 5, size=(num_pairs, NUM_RULES)).astype(np.float32)
    weights = (scale * rng.normal(size=NUM_RULES)).astype(np.float32)
    return weights, diffs


def numpy_loss_and_grad(weights, diffs, mask=None):
    w, d = weights.astype(np.float64), diffs.astype(np.float64)
    if mask is not None:
        d = d[mask]
    m = d @ w
    loss = np.mean(np.logaddexp(0.0, -m))
    grad = -np.mean((1.0 / (1.0 + np.exp(m)))[:, None] * d, axis=0)
    return loss, grad


@given(st.integers(0, 2**32 - 1), st.sampled_from((0.0, 0.3, 3.0, 30.0)), st.booleans())
def test_loss_and_gradient_match_numpy(seed, scale, masked):
    weights, diffs = random_problem(seed, scale)
    mask = np.random.default_rng(seed + 1).random(NUM_PAIRS) < 0.7 if masked else None
    loss, grad = numpy_loss_and_grad(weights, diffs, mask)
    np.testing.assert_allclose(ej.bt_loss(weights, diffs, mask=mask), loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ej.bt_gradient(weights, diffs, mask=mask), grad, rtol=1e-4,
                               atol=1e-6)


def test_gradient_is_the_autodiff_gradient_of_the_loss(maybe_jit):
    weights, diffs = random_problem(0)
    autodiff = jax.grad(lambda w: ej.bt_loss(w, diffs))(weights)
    np.testing.assert_allclose(
        maybe_jit(lambda w: ej.bt_gradient(w, diffs))(weights), autodiff, rtol=1e-5, atol=1e-7
    )


def test_loss_is_finite_for_huge_margins():
    diffs = np.array([[1.0], [-1.0]], np.float32)
    loss = ej.bt_loss(np.array([1e4], np.float32), diffs)
    np.testing.assert_allclose(loss, 0.5e4, rtol=1e-6)  # softplus(-1e4)=0, softplus(1e4)=1e4
    assert np.all(np.isfinite(ej.bt_gradient(np.array([1e4], np.float32), diffs)))


def test_gradient_at_zero_is_minus_half_the_mean_difference():
    _, diffs = random_problem(1)
    np.testing.assert_allclose(
        ej.bt_gradient(np.zeros(NUM_RULES, np.float32), diffs), -diffs.mean(0) / 2, rtol=1e-6
    )


def symmetrised(diffs):
    x = np.concatenate([diffs, -diffs]).astype(np.float64)
    y = np.concatenate([np.ones(len(diffs)), np.zeros(len(diffs))])
    return x, y


def well_conditioned_problem():
    ens = ej.simulate_rule_ensemble(
        jax.random.key(7), 4096, informativeness=[0.0, 1.0, 0.5, 0.3],
        spread=[np.inf, np.inf, 2.0, 1.0],
    )
    return np.asarray(ens.chosen - ens.rejected, np.float32)


@pytest.mark.parametrize("optimizer", [None, LBFGS], ids=["adam-default", "lbfgs"])
def test_free_fit_matches_sklearn_logistic_regression(optimizer):
    diffs = well_conditioned_problem()
    sk = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-10, max_iter=10_000)
    expected = sk.fit(*symmetrised(diffs)).coef_[0]
    num_steps = 500 if optimizer is None else LBFGS_STEPS
    fit = ej.fit_bt_weights(diffs, optimizer=optimizer, num_steps=num_steps)
    np.testing.assert_allclose(fit.weights, expected, atol=1e-4)


def test_ridge_fit_matches_sklearn_with_matching_c():
    diffs = well_conditioned_problem()
    l2 = 0.05
    # sklearn: 0.5 |w|^2 + C sum over 2N rows of log-loss = 0.5 |w|^2 + 2 N C L(w).
    sk = LogisticRegression(fit_intercept=False, C=1 / (2 * len(diffs) * l2), tol=1e-10,
                            max_iter=10_000)
    expected = sk.fit(*symmetrised(diffs)).coef_[0]
    fit = ej.fit_bt_weights(diffs, optimizer=LBFGS, num_steps=LBFGS_STEPS, l2=l2)
    np.testing.assert_allclose(fit.weights, expected, atol=1e-4)


def test_history_is_recorded_at_the_documented_steps():
    weights, diffs = random_problem(2, scale=0.3)
    init = np.full(NUM_RULES, 0.1, np.float32)
    fit = ej.fit_bt_weights(diffs, init=init, **SHORT)
    np.testing.assert_array_equal(fit.recorded_steps, [0, 10, 20, 25])
    assert fit.loss_history.shape == (4,) and fit.weight_history.shape == (4, NUM_RULES)
    assert fit.grad_history.shape == (4, NUM_RULES)
    np.testing.assert_allclose(fit.weight_history[0], init)
    np.testing.assert_allclose(fit.weight_history[-1], fit.weights)
    for s in range(4):
        w = np.asarray(fit.weight_history[s])
        np.testing.assert_allclose(fit.loss_history[s], ej.bt_loss(w, diffs), rtol=1e-5)
        np.testing.assert_allclose(fit.grad_history[s], ej.bt_gradient(w, diffs), rtol=1e-4,
                                   atol=1e-6)
    # Exactly divisible: the last scheduled record is the final state, not a duplicate.
    from encore_jax.bradley_terry import _record_schedule

    np.testing.assert_array_equal(_record_schedule(20, 10), [0, 10, 20])
    np.testing.assert_array_equal(_record_schedule(1, 10), [0, 1])


def test_lbfgs_decreases_the_loss_and_reaches_a_stationary_point():
    diffs = well_conditioned_problem()
    fit = ej.fit_bt_weights(diffs, optimizer=LBFGS, num_steps=LBFGS_STEPS)
    losses = np.asarray(fit.loss_history)
    assert np.all(np.diff(losses) <= 1e-6)  # the zoom line search enforces decrease
    assert np.max(np.abs(fit.grad_history[-1])) < 1e-5


def test_tolerance_freezes_the_weights_once_converged():
    diffs = well_conditioned_problem()
    fit = ej.fit_bt_weights(diffs, optimizer=LBFGS, num_steps=LBFGS_STEPS, tol=1e-4)
    grads = np.abs(np.asarray(fit.grad_history)).max(axis=1)
    first = int(np.argmax(grads <= 1e-4))  # records every 10 steps: 0, 10, ..., 40
    assert 0 < first < len(grads) - 1
    np.testing.assert_array_equal(fit.weight_history[first:],
                                  np.broadcast_to(fit.weight_history[first],
                                                  fit.weight_history[first:].shape))


def test_simplex_fit_stays_on_the_simplex_and_beats_uniform():
    diffs = well_conditioned_problem()
    fit = ej.fit_bt_weights(diffs, parameterization="simplex")
    w = np.asarray(fit.weight_history)
    assert np.all(w >= 0)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(w[0], np.full(NUM_RULES, 1 / NUM_RULES))  # default: uniform
    assert fit.loss_history[-1] < ej.bt_loss(np.full(NUM_RULES, 0.25, np.float32), diffs)
    # Simplex optimality (KKT): every rule with weight has the smallest partial derivative.
    g = np.asarray(fit.grad_history[-1])
    assert g @ np.asarray(fit.weights) - g.min() < 1e-3


def test_simplex_init_is_respected():
    diffs = well_conditioned_problem()
    init = np.array([0.7, 0.1, 0.1, 0.1], np.float32)
    fit = ej.fit_bt_weights(diffs, parameterization="simplex", init=init)
    np.testing.assert_allclose(fit.weight_history[0], init, rtol=1e-6)


def test_masked_fit_ignores_the_padding():
    _, diffs = random_problem(4)
    mask = np.arange(NUM_PAIRS) < 200
    padded = [diffs.copy(), diffs.copy()]
    padded[0][~mask], padded[1][~mask] = 1e3, -7.0  # garbage in the padding must not matter
    fits = [ej.fit_bt_weights(p, mask=mask, **SHORT) for p in padded]
    np.testing.assert_array_equal(fits[0].weights, fits[1].weights)
    # ... and the recorded losses and gradients are those of the 200 real pairs.
    for s, w in enumerate(np.asarray(fits[0].weight_history)):
        np.testing.assert_allclose(fits[0].loss_history[s], ej.bt_loss(w, diffs[:200]),
                                   rtol=1e-5)
        np.testing.assert_allclose(fits[0].grad_history[s], ej.bt_gradient(w, diffs[:200]),
                                   rtol=1e-4, atol=1e-6)


def test_fit_works_under_jit_and_vmap():
    _, diffs = random_problem(5)
    batch = np.stack([diffs, diffs[::-1] * 0.5, -diffs])
    fits = jax.vmap(lambda d: ej.fit_bt_weights(d, **SHORT))(batch)
    for b in range(3):
        one = ej.fit_bt_weights(batch[b], **SHORT)
        np.testing.assert_allclose(fits.weights[b], one.weights, rtol=1e-5, atol=1e-6)
    jitted = jax.jit(lambda d: ej.fit_bt_weights(d, **SHORT))(diffs)
    np.testing.assert_allclose(jitted.weights, ej.fit_bt_weights(diffs, **SHORT).weights,
                               rtol=1e-5, atol=1e-6)


def test_integer_diffs_are_accepted():
    _, diffs = random_problem(6)
    np.testing.assert_allclose(
        ej.bt_loss(np.ones(NUM_RULES, np.float32), diffs.astype(np.int32)),
        ej.bt_loss(np.ones(NUM_RULES, np.float32), diffs),
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(parameterization="softmax"), ValueError, "parameterization"),
        (dict(num_steps=0), ValueError, "num_steps"),
        (dict(record_every=0), ValueError, "record_every"),
        (dict(l2=-1.0), ValueError, "l2"),
        (dict(l2=np.nan), ValueError, "l2"),
        (dict(tol=-1e-3), ValueError, "tol"),
        (dict(optimizer="adam"), TypeError, "optimizer"),
        (dict(init=np.zeros(3, np.float32)), ValueError, "init"),
        (dict(init=np.zeros(4, np.float32), parameterization="simplex"), ValueError, "init"),
        (dict(mask=np.zeros(8, bool)), ValueError, "mask"),
        (dict(mask=np.ones(7, bool)), ValueError, "mask"),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, error, match):
    diffs = np.ones((8, 4), np.float32)
    with pytest.raises(error, match=match):
        ej.fit_bt_weights(diffs, **kwargs)


def test_loss_rejects_bad_arguments():
    with pytest.raises(ValueError, match="shape"):
        ej.bt_loss(np.ones(3, np.float32), np.ones((8, 4), np.float32))
    with pytest.raises(ValueError, match="diffs contains"):
        ej.bt_loss(np.ones(1, np.float32), np.array([[np.inf]], np.float32))
    with pytest.raises(ValueError, match=r"\[N, K\]"):
        ej.bt_gradient(np.ones(1, np.float32), np.ones(4, np.float32))
    with pytest.raises(TypeError, match="weights"):
        ej.bt_gradient(np.ones(1, np.int32), np.ones((2, 1), np.float32))
    with pytest.raises(ValueError, match="at least one"):
        ej.bt_loss(np.ones(1, np.float32), np.ones((0, 1), np.float32))


def test_default_optimizer_is_reused():
    # The default optimizer is one cached instance, so repeated fits hit the jit cache.
    from encore_jax.bradley_terry import _default_optimizer

    assert _default_optimizer() is _default_optimizer()
    assert isinstance(_default_optimizer(), optax.GradientTransformation)


def test_shape_annotations_hold_at_run_time():
    import beartype
    from jaxtyping import jaxtyped

    def checked(fn):
        return jaxtyped(typechecker=beartype.beartype)(fn)

    weights, diffs = random_problem(7)
    checked(ej.bt_loss)(weights, diffs)
    checked(ej.bt_gradient)(weights, diffs.astype(np.int32), mask=np.ones(NUM_PAIRS, bool))
    fit = checked(ej.fit_bt_weights)(diffs, init=np.full(NUM_RULES, 0.1, np.float32), **SHORT)
    assert isinstance(fit, ej.BTFit)
    ens = checked(ej.simulate_rule_ensemble)(
        jax.random.key(0), 4096, informativeness=np.array([1.0, 0.0, 1.0, 2.0], np.float32),
        spread=np.array([1.0, np.inf, 1.0, 1.0], np.float32),
    )
    assert isinstance(ens, ej.RuleEnsemble)
