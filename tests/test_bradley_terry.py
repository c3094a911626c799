"""Bradley–Terry loss, gradient and fitter: NumPy and autodiff oracles, the scikit-learn and
SciPy oracles, the stopping rule, history bookkeeping, masks, vmapped fits, compilation
counts, sharded inputs, argument errors."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import optax
import pytest
import scipy.optimize
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from strategies import LBFGS

import encore_jax as ej
from encore_jax import bradley_terry, bt_separation
from encore_jax.simulate import RuleEnsemble

# Shared shapes and settings: the fit loop is compiled once per configuration.
NUM_PAIRS, NUM_RULES = 256, 4
TOL = bradley_terry.DEFAULT_TOL
SHORT = dict(optimizer="adam", tol=0.0, max_steps=25, record_every=10)  # runs all 25 steps


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


def gaussian_problem(seed, num_pairs=4096, num_rules=8):
    """Gaussian differences, half the rules informative, labels drawn from the BT model."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_pairs, num_rules))
    beta = np.where(np.arange(num_rules) < num_rules // 2, rng.normal(size=num_rules), 0.0)
    chosen_first = rng.random(num_pairs) < 1 / (1 + np.exp(-(x @ beta)))
    return np.where(chosen_first[:, None], x, -x).astype(np.float32)


def log_loss(diffs, weights):
    return float(np.mean(np.logaddexp(0.0, -(diffs.astype(np.float64) @ np.asarray(weights,
                                                                                   np.float64)))))


def hessian(diffs, weights):
    d = diffs.astype(np.float64)
    m = d @ np.asarray(weights, np.float64)
    s = 1 / (1 + np.exp(-m))
    return (d * (s * (1 - s))[:, None]).T @ d / len(d)


def weight_bound(diffs, weights, tol):
    """Distance to the optimum allowed by the stopping rule: ``|w - w*| <= |g|_2 / mu`` for a
    ``mu``-strongly convex loss, with ``|g|_2 <= sqrt(K) tol`` and ``mu`` the smallest
    Hessian eigenvalue at ``w`` halved (the curvature changes little over that distance)."""
    mu = np.linalg.eigvalsh(hessian(diffs, weights))[0] / 2
    return np.sqrt(diffs.shape[1]) * tol / mu


def scipy_optimum(diffs):
    d = diffs.astype(np.float64)

    def loss_and_grad(w):
        m = d @ w
        return np.mean(np.logaddexp(0.0, -m)), -(d.T @ (1 / (1 + np.exp(m)))) / len(d)

    res = scipy.optimize.minimize(loss_and_grad, np.zeros(d.shape[1]), jac=True,
                                  method="L-BFGS-B", options=dict(gtol=1e-12, ftol=0))
    return res.x


@pytest.mark.parametrize("seed", [0, 1])
def test_default_fit_reaches_the_sklearn_and_scipy_optimum(seed):
    diffs = gaussian_problem(seed)
    fit = ej.fit_bt_weights(diffs)
    assert bool(fit.converged) and float(fit.grad_norm) <= TOL
    assert 0 < int(fit.steps_taken) < bradley_terry.DEFAULT_MAX_STEPS
    sk = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-10, max_iter=10_000)
    for reference in (sk.fit(*symmetrised(diffs)).coef_[0], scipy_optimum(diffs)):
        ours, theirs = log_loss(diffs, fit.weights), log_loss(diffs, reference)
        assert ours - theirs <= 1e-5 * theirs
        bound = weight_bound(diffs, fit.weights, TOL) + weight_bound(diffs, reference, 1e-7)
        assert np.linalg.norm(np.asarray(fit.weights, np.float64) - reference) <= bound


@pytest.mark.parametrize("optimizer", ["newton", LBFGS, "adam"], ids=["newton", "optax", "adam"])
def test_other_optimizers_reach_the_same_optimum(optimizer):
    diffs = well_conditioned_problem()
    expected = scipy_optimum(diffs)
    max_steps = 5000 if optimizer == "adam" else 100
    fit = ej.fit_bt_weights(diffs, optimizer=optimizer, max_steps=max_steps, record_every=100,
                            learning_rate=0.05)
    assert bool(fit.converged)
    bound = weight_bound(diffs, fit.weights, TOL) + weight_bound(diffs, expected, 1e-7)
    assert np.linalg.norm(np.asarray(fit.weights, np.float64) - expected) <= bound


def test_ridge_fit_matches_sklearn_with_matching_c():
    diffs = well_conditioned_problem()
    l2 = 0.05
    # sklearn: 0.5 |w|^2 + C sum over 2N rows of log-loss = 0.5 |w|^2 + 2 N C L(w).
    sk = LogisticRegression(fit_intercept=False, C=1 / (2 * len(diffs) * l2), tol=1e-10,
                            max_iter=10_000)
    expected = sk.fit(*symmetrised(diffs)).coef_[0]
    fit = ej.fit_bt_weights(diffs, l2=l2)
    assert bool(fit.converged)
    # J is (l2 + lambda_min(H))-strongly convex.
    mu = l2 + np.linalg.eigvalsh(hessian(diffs, fit.weights))[0] / 2
    bound = np.sqrt(NUM_RULES) * TOL / mu + 1e-6
    assert np.linalg.norm(np.asarray(fit.weights, np.float64) - expected) <= bound


def test_history_is_recorded_at_the_documented_steps():
    weights, diffs = random_problem(2, scale=0.3)
    init = np.full(NUM_RULES, 0.1, np.float32)
    fit = ej.fit_bt_weights(diffs, init=init, **SHORT)
    assert int(fit.steps_taken) == 25 and int(fit.num_records) == 4
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
    np.testing.assert_array_equal(bradley_terry._record_schedule(20, 10), [0, 10, 20])
    np.testing.assert_array_equal(bradley_terry._record_schedule(1, 10), [0, 1])


def test_converged_fit_pads_the_history_with_the_final_state():
    diffs = well_conditioned_problem()
    fit = ej.fit_bt_weights(diffs, max_steps=100, record_every=1)
    steps, records = int(fit.steps_taken), int(fit.num_records)
    assert bool(fit.converged) and 0 < steps < 100 and records == steps + 1
    assert fit.loss_history.shape == (101,)
    np.testing.assert_array_equal(fit.recorded_steps[:records], np.arange(records))
    np.testing.assert_array_equal(fit.recorded_steps[records:], steps)
    np.testing.assert_array_equal(fit.weight_history[records - 1:],
                                  np.broadcast_to(fit.weights, (101 - steps, NUM_RULES)))
    losses = np.asarray(fit.loss_history[:records])
    assert np.all(np.diff(losses) <= 1e-6)  # the zoom line search enforces decrease
    # grad_norm is the stopping quantity: max |dL/dw| of the final weights (free, l2 = 0).
    np.testing.assert_allclose(fit.grad_norm, np.abs(fit.grad_history[-1]).max(), rtol=1e-3,
                               atol=1e-7)
    assert float(fit.grad_norm) <= TOL < float(np.abs(fit.grad_history[records - 2]).max())


def test_step_limit_stops_unconverged():
    diffs = well_conditioned_problem()
    fit = ej.fit_bt_weights(diffs, max_steps=2, record_every=1)
    assert not bool(fit.converged) and int(fit.steps_taken) == 2
    assert float(fit.grad_norm) > TOL
    np.testing.assert_allclose(fit.grad_norm, np.abs(ej.bt_gradient(fit.weights, diffs)).max(),
                               rtol=1e-3)
    with pytest.raises(TypeError, match="num_steps"):  # the old name is gone (issue 24)
        bradley_terry.fit_bt_weights(diffs, num_steps=2)


def test_simplex_fit_stays_on_the_simplex_and_beats_uniform():
    diffs = well_conditioned_problem()
    fit = ej.fit_bt_weights(diffs, parameterization="simplex")
    assert bool(fit.converged)
    w = np.asarray(fit.weight_history)
    assert np.all(w >= 0)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(w[0], np.full(NUM_RULES, 1 / NUM_RULES))  # default: uniform
    assert fit.loss_history[-1] < ej.bt_loss(np.full(NUM_RULES, 0.25, np.float32), diffs)
    # Simplex optimality (KKT): every rule with weight has the smallest partial derivative.
    g = np.asarray(fit.grad_history[-1])
    assert g @ np.asarray(fit.weights) - g.min() < 1e-3
    for s in range(int(fit.num_records)):  # recorded gradients are dL/dw, not dJ/dtheta
        np.testing.assert_allclose(fit.grad_history[s], ej.bt_gradient(w[s], diffs),
                                   rtol=1e-4, atol=1e-6)


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


def assert_same_fit(batched, one, diffs, mask=None):
    """A vmapped fit and a separate fit both converged; the weights agree within the sum of
    their stopping-rule bounds."""
    assert bool(batched.converged) and bool(one.converged)
    d = diffs if mask is None else diffs[mask]
    bound = 2 * weight_bound(d, one.weights, TOL)
    assert np.linalg.norm(np.asarray(batched.weights) - np.asarray(one.weights)) <= bound


def test_vmapped_fits_equal_separate_fits():
    # Batches of two: the second member reuses the first one's shapes where possible, so the
    # separate fits compile few programs.
    seeds = np.stack([gaussian_problem(s, num_pairs=1024, num_rules=NUM_RULES) for s in (0, 1)])
    sizes = np.array([300, 1024])
    masks = np.arange(1024)[None, :] < sizes[:, None]
    rule_sets = np.array([[1, 0, 1, 0], [1, 1, 1, 1]], np.float32)

    fit_many = jax.jit(jax.vmap(lambda d, m: ej.fit_bt_weights(d, mask=m)))
    over_seeds = fit_many(seeds, np.ones_like(masks))
    over_sizes = fit_many(np.broadcast_to(seeds[0], seeds.shape), masks)
    over_rules = fit_many(seeds[0] * rule_sets[:, None, :], np.ones_like(masks))
    for b in range(2):
        pick = lambda fits, b=b: jax.tree.map(lambda x: x[b], fits)  # noqa: E731
        assert_same_fit(pick(over_seeds), ej.fit_bt_weights(seeds[b]), seeds[b])
        assert_same_fit(pick(over_sizes), ej.fit_bt_weights(seeds[0][: sizes[b]]), seeds[0],
                        masks[b])
        kept = rule_sets[b] > 0
        separate = ej.fit_bt_weights(seeds[0][:, kept])
        # A rule set is a 0/1 column scaling: dropped rules have zero gradient and stay at 0.
        np.testing.assert_array_equal(np.asarray(over_rules.weights[b])[~kept], 0.0)
        assert_same_fit(pick(over_rules)._replace(weights=over_rules.weights[b][kept]),
                        separate, seeds[0][:, kept])
    jitted = jax.jit(lambda d: ej.fit_bt_weights(d))(seeds[1])
    np.testing.assert_allclose(jitted.weights, ej.fit_bt_weights(seeds[1]).weights,
                               rtol=1e-5, atol=1e-6)


def test_repeated_and_retuned_calls_do_not_recompile():
    diffs = gaussian_problem(3, num_pairs=512, num_rules=3)
    settings = dict(max_steps=50, record_every=50)
    for optimizer in ("lbfgs", "adam"):
        ej.fit_bt_weights(diffs, optimizer=optimizer, **settings)
        before = bradley_terry._fit._cache_size()
        for l2, tol, learning_rate in [(0.0, 1e-5, 0.1), (0.1, 1e-4, 0.3), (0.01, 0.0, 0.05)]:
            ej.fit_bt_weights(diffs * 2, optimizer=optimizer, l2=l2, tol=tol,
                              learning_rate=learning_rate, init=np.ones(3, np.float32),
                              **settings)
        assert bradley_terry._fit._cache_size() == before
    # A new GradientTransformation instance is a new static argument: one compilation more.
    before = bradley_terry._fit._cache_size()
    ej.fit_bt_weights(diffs, optimizer=optax.sgd(0.1), **settings)
    assert bradley_terry._fit._cache_size() == before + 1


SHARDED_SCRIPT = textwrap.dedent("""
    import numpy as np, jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec
    from encore_jax import bradley_terry, bt_separation
    diffs = np.load(DIFFS)
    mask = np.arange(4096) < 4000
    mesh = Mesh(np.array(jax.devices()), ("data",))
    rows = NamedSharding(mesh, PartitionSpec("data"))
    sharded = bradley_terry.fit_bt_weights(jax.device_put(diffs, rows),
                                           mask=jax.device_put(mask, rows))
    single = bradley_terry.fit_bt_weights(diffs, mask=mask)
    print(len(jax.devices()), bool(sharded.converged), bool(single.converged))
    print(" ".join(str(float(w)) for w in np.asarray(sharded.weights)))
    print(" ".join(str(float(w)) for w in np.asarray(single.weights)))
""")


def test_fit_on_row_sharded_diffs_gives_the_single_device_answer(tmp_path):
    diffs = gaussian_problem(5, num_rules=NUM_RULES)
    np.save(tmp_path / "diffs.npy", diffs)
    script = SHARDED_SCRIPT.replace("DIFFS", repr(str(tmp_path / "diffs.npy")))
    env = dict(os.environ, XLA_FLAGS=os.environ.get("XLA_FLAGS", "")
               + " --xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=300, check=True).stdout.split("\n")
    assert out[0] == "4 True True"
    sharded, single = (np.array(line.split(), np.float64) for line in out[1:3])
    assert np.linalg.norm(sharded - single) <= 2 * weight_bound(diffs[:4000], single, TOL)


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
        (dict(max_steps=0), ValueError, "max_steps"),
        (dict(check_separable="lp"), ValueError, "check_separable"),
        (dict(record_every=0), ValueError, "record_every"),
        (dict(l2=-1.0), ValueError, "l2"),
        (dict(l2=np.nan), ValueError, "l2"),
        (dict(tol=-1e-3), ValueError, "tol"),
        (dict(learning_rate=np.inf), ValueError, "learning_rate"),
        (dict(optimizer="adamw"), ValueError, "optimizer"),
        (dict(optimizer="newton", parameterization="simplex"), ValueError, "newton"),
        (dict(optimizer=0.1), TypeError, "optax.GradientTransformation"),
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
    assert isinstance(ens, RuleEnsemble)


# --- Bradley–Terry with a prior (issue 21 item 2) -----------------------------------------

PRIOR = np.array([0.3, -1.0, 2.0, 0.0], np.float32)  # signed: a rule may work against


def scipy_prior_optimum(diffs, prior, strength, l2=0.0, simplex=False):
    """The documented objective, in float64 by SciPy: mean log-loss + (l2/2)|theta|^2 +
    (s/(2n))|theta - theta_0|^2, theta_0 = prior (free) or log(prior) (simplex)."""
    d = diffs.astype(np.float64)
    n = len(d)
    center = np.log(prior.astype(np.float64)) if simplex else prior.astype(np.float64)

    def objective(theta):
        w = np.exp(theta - theta.max()) / np.exp(theta - theta.max()).sum() if simplex else theta
        m = d @ w
        grad_w = -(d.T @ (1 / (1 + np.exp(m)))) / n
        grad = w * (grad_w - w @ grad_w) if simplex else grad_w
        value = np.mean(np.logaddexp(0.0, -m)) + l2 / 2 * theta @ theta + strength / (2 * n) * (
            theta - center) @ (theta - center)
        return value, grad + l2 * theta + strength / n * (theta - center)

    res = scipy.optimize.minimize(objective, np.zeros(d.shape[1]), jac=True, method="L-BFGS-B",
                                  options=dict(gtol=1e-13, ftol=0, maxiter=10_000))
    theta = res.x
    return np.exp(theta) / np.exp(theta).sum() if simplex else theta


@pytest.mark.parametrize("optimizer", ["lbfgs", "newton", LBFGS, "adam"],
                         ids=["lbfgs", "newton", "optax", "adam"])
@pytest.mark.parametrize("strength", [40.0, 4000.0])
def test_prior_fit_matches_scipy_on_the_same_objective(optimizer, strength):
    diffs = well_conditioned_problem()
    n = len(diffs)
    expected = scipy_prior_optimum(diffs, PRIOR, strength)
    fit = bradley_terry.fit_bt_weights(
        diffs, prior=PRIOR, prior_strength=strength, optimizer=optimizer,
        max_steps=5000 if optimizer == "adam" else 100, record_every=100, learning_rate=0.05)
    assert bool(fit.converged)
    # J is (s / n + lambda_min(H))-strongly convex: |w - w*| <= |grad J|_2 / mu.
    mu = strength / n + np.linalg.eigvalsh(hessian(diffs, fit.weights))[0] / 2
    bound = np.sqrt(NUM_RULES) * TOL / mu + 1e-6
    assert np.linalg.norm(np.asarray(fit.weights, np.float64) - expected) <= bound
    # The recorded gradient is dL/dw without the penalty: the optimality condition
    # s/n (w - w_0) = -dL/dw holds at the fit.
    np.testing.assert_allclose(strength / n * (np.asarray(fit.weights) - PRIOR),
                               -np.asarray(fit.grad_history[-1]), atol=2 * TOL)


def test_prior_fit_on_the_simplex_matches_scipy():
    diffs = well_conditioned_problem()
    prior = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    expected = scipy_prior_optimum(diffs, prior, 400.0, simplex=True)
    fit = bradley_terry.fit_bt_weights(diffs, prior=prior, prior_strength=400.0,
                            parameterization="simplex")
    assert bool(fit.converged)
    np.testing.assert_allclose(fit.weights, expected, atol=1e-4)
    np.testing.assert_allclose(np.sum(fit.weights), 1.0, rtol=1e-6)


def test_prior_limits_and_its_relation_to_l2():
    diffs = well_conditioned_problem()
    n = len(diffs)
    plain = bradley_terry.fit_bt_weights(diffs)
    # s = 0: plain Bradley–Terry, the same computation.
    zero = bradley_terry.fit_bt_weights(diffs, prior=PRIOR, prior_strength=0.0)
    np.testing.assert_array_equal(zero.weights, plain.weights)
    # Strong prior: theta - theta_0 = -(n / s) dL/dw, so |w - w_0| <= (n/s) max|dL/dw(w)|,
    # and |dL/dw| <= mean_i |d_ik| / 1 (the residual sigmoid(-m) is below 1).
    strength = 100.0 * n
    strong = bradley_terry.fit_bt_weights(diffs, prior=PRIOR, prior_strength=strength)
    assert bool(strong.converged)
    bound = n / strength * np.abs(diffs).mean(axis=0).max()
    assert np.max(np.abs(np.asarray(strong.weights) - PRIOR)) <= bound
    # Many labels at fixed s: the prior's per-pair pull s/n vanishes; on n pairs the fit is
    # within (s/n) |w_bt - w_0| / mu of plain BT (mu the smallest curvature of L).
    mu = np.linalg.eigvalsh(hessian(diffs, plain.weights))[0] / 2
    weak = bradley_terry.fit_bt_weights(diffs, prior=PRIOR, prior_strength=4.0)
    gap = np.linalg.norm(np.asarray(weak.weights) - np.asarray(plain.weights))
    assert gap <= 4.0 / n * np.linalg.norm(np.asarray(plain.weights) - PRIOR) / mu + 1e-5
    # l2 is the special case w_0 = 0 with s = n l2.
    ridge = bradley_terry.fit_bt_weights(diffs, l2=0.05)
    as_prior = bradley_terry.fit_bt_weights(diffs, prior=np.zeros(NUM_RULES, np.float32),
                                 prior_strength=0.05 * n)
    np.testing.assert_allclose(as_prior.weights, ridge.weights, rtol=1e-5, atol=1e-6)


def test_prior_strength_is_per_included_pair_under_a_mask():
    _, diffs = random_problem(8)
    mask = np.arange(NUM_PAIRS) < 100
    masked = bradley_terry.fit_bt_weights(diffs, mask=mask, prior=PRIOR, prior_strength=50.0)
    # s / n with n = 100 included pairs, not N = 256.
    np.testing.assert_allclose(masked.weights, scipy_prior_optimum(diffs[:100], PRIOR, 50.0),
                               atol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(prior=PRIOR), "prior_strength"),
        (dict(prior_strength=1.0), "needs prior"),
        (dict(prior=PRIOR, prior_strength=-1.0), "prior_strength"),
        (dict(prior=PRIOR, prior_strength=np.inf), "prior_strength"),
        (dict(prior=PRIOR[:3], prior_strength=1.0), r"prior must have shape \[K\]"),
        (dict(prior=np.array([np.nan, 0, 0, 0], np.float32), prior_strength=1.0), "prior"),
        (dict(prior=PRIOR, prior_strength=1.0, parameterization="simplex"), "strictly positive"),
    ],
)
def test_prior_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bradley_terry.fit_bt_weights(np.ones((8, 4), np.float32), **kwargs)


# --- Separable pairs (issue 19 item 5) -----------------------------------------------------

def stiemke_feasible(diffs):
    """Independent oracle (the dual of the separation LP): the pairs are NOT separable iff
    some y > 0 has D^T y = 0 (Stiemke's theorem); scaled, y >= 1. A feasibility LP."""
    d = diffs.astype(np.float64)
    res = scipy.optimize.linprog(np.zeros(len(d)), A_eq=d.T, b_eq=np.zeros(d.shape[1]),
                                 bounds=[(1, None)] * len(d), method="highs")
    assert res.status in (0, 2)
    return res.status == 0


@given(st.integers(0, 2**32 - 1), st.integers(1, 12), st.integers(1, 4),
       st.sampled_from((1, 2, 6)))
def test_exact_separability_matches_the_stiemke_dual(seed, num_pairs, num_rules, levels):
    rng = np.random.default_rng(seed)
    diffs = rng.integers(-levels, levels + 1, size=(num_pairs, num_rules)).astype(np.float32)
    assert bt_separation.pairs_separable(diffs) == (not stiemke_feasible(diffs))


def separated_problem(seed, num_pairs=NUM_PAIRS):
    """Gaussian differences oriented by the sign of a fixed direction: completely separable."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_pairs, NUM_RULES))
    beta = np.array([1.0, -0.5, 0.25, 0.0])
    return np.where((x @ beta > 0)[:, None], x, -x).astype(np.float32)


@pytest.mark.parametrize("optimizer", ["lbfgs", "newton"])
def test_separable_pairs_are_reported_and_never_converged_without_a_penalty(optimizer):
    diffs = separated_problem(0)
    assert not stiemke_feasible(diffs)
    fit = bradley_terry.fit_bt_weights(diffs, optimizer=optimizer)
    assert bool(fit.separable) and not bool(fit.converged)
    assert np.all(np.isfinite(np.asarray(fit.weights)))
    # The fit's own certificate (pure JAX, what jit / vmap get) finds the complete
    # separation too.
    by_fit = bradley_terry.fit_bt_weights(diffs, optimizer=optimizer, check_separable="fit")
    assert bool(by_fit.separable) and not bool(by_fit.converged)
    # A ridge makes the optimum finite: converged, still reported separable.
    ridge = bradley_terry.fit_bt_weights(diffs, optimizer=optimizer, l2=1e-2)
    assert bool(ridge.separable) and bool(ridge.converged)
    prior = bradley_terry.fit_bt_weights(diffs, optimizer=optimizer, prior=PRIOR,
                                         prior_strength=10.0)
    assert bool(prior.separable) and bool(prior.converged)


def test_quasi_complete_separation_needs_the_exact_check():
    # Rule 0 is never against the chosen side and favours it on some pairs: u = e_0
    # separates quasi-completely, while the other rules keep the rest of the fit finite.
    _, diffs = random_problem(9)
    diffs[:, 0] = np.abs(diffs[:, 0])
    assert not stiemke_feasible(diffs)
    fit = bradley_terry.fit_bt_weights(diffs)
    assert bool(fit.separable) and not bool(fit.converged)
    assert bt_separation.pairs_separable(diffs)


def test_non_separable_pairs_converge_and_are_not_flagged():
    diffs = well_conditioned_problem()
    assert stiemke_feasible(diffs)
    for check in ("auto", "exact", "fit"):
        fit = bradley_terry.fit_bt_weights(diffs, check_separable=check)
        assert not bool(fit.separable) and bool(fit.converged)
    # Zero rows order nothing; an all-zero rule is a flat direction, not a separation.
    padded = np.concatenate([diffs[:64], np.zeros((8, NUM_RULES), np.float32)])
    padded[:, 3] = 0.0
    assert stiemke_feasible(padded[:64, :3]) == (not bt_separation.pairs_separable(padded))


def test_separability_respects_the_mask():
    diffs = well_conditioned_problem()[:NUM_PAIRS]
    mask = diffs[:, 1] > 0  # keeps only pairs that rule 1 orders the chosen way
    fit = bradley_terry.fit_bt_weights(diffs, mask=mask)
    assert bool(fit.separable) and not bool(fit.converged)
    assert not bool(bradley_terry.fit_bt_weights(diffs).separable)


def test_more_rules_than_pairs_gives_finite_newton_weights_or_an_error():
    rng = np.random.default_rng(10)
    diffs = rng.integers(-3, 4, size=(20, 40)).astype(np.float32)  # NaN before the jitter
    fit = bradley_terry.fit_bt_weights(diffs, optimizer="newton")
    assert np.all(np.isfinite(np.asarray(fit.weights)))
    assert bool(fit.separable) and not bool(fit.converged)
    ridge = bradley_terry.fit_bt_weights(diffs, optimizer="newton", l2=0.1)
    assert bool(ridge.converged)
    # Weights that overflow are an error naming the remedy, never NaN returned silently.
    with pytest.raises(ValueError, match="non-finite weights.*l2"):
        bradley_terry.fit_bt_weights(random_problem(10)[1], learning_rate=3e38,
                                     init=np.full(NUM_RULES, 3e38, np.float32), **SHORT)


def test_exact_check_needs_concrete_inputs():
    diffs = well_conditioned_problem()[:NUM_PAIRS]
    with pytest.raises(ValueError, match="check_separable='fit'"):
        jax.jit(lambda d: bradley_terry.fit_bt_weights(d, check_separable="exact"))(diffs)
