"""The core functions on row-sharded arrays (8 forced CPU devices) against the same
functions on the same global arrays on one device.

Run by tests/test_sharding.py in a subprocess (the device count is fixed when JAX starts):

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python tests/sharded_checks.py

Each check prints ``ok <name>``; a failing check prints its traceback and the script exits 1.
Integer results (counts) and computations that run the same float program per row or per
resample (entropy from equal counts, composite rewards, bootstrap replicates) must be
bitwise equal; sums over rows split across devices are compared within the floating-point
summation bound derived in each check.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings

import jax
import numpy as np
import optax

from encore_jax import entropy
from encore_jax.bradley_terry import bt_gradient, bt_loss, fit_bt_weights
from encore_jax.compose import compose, pair_margins
from encore_jax.entropy import rating_entropy, rating_histogram
from encore_jax.mesh import data_mesh, local_rows, row_mesh, shard_rows
from encore_jax.metrics import bootstrap
from encore_jax.metrics.bootstrap import bootstrap_ci

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")
warnings.simplefilter("error")

U = 2.0**-24  # float32 unit roundoff
RNG = np.random.default_rng(2024)
CHECKS = []


def rows(x, fill=0):
    """``x``'s rows spread over the 8 devices (padded to whole shards) and the valid mask."""
    return shard_rows(x, data_mesh(), fill=fill)


def padded(x, fill=0):
    """The same global array on the host: rows padded as shard_rows pads them."""
    global_x, valid = rows(x, fill)
    return np.asarray(global_x), np.asarray(valid)


def check(fn):
    CHECKS.append(fn)
    return fn


@check
def device_count():
    assert jax.device_count() == 8, jax.devices()


@check
def shard_rows_pads_to_whole_shards():
    x, valid = rows(np.arange(1003))
    assert x.shape == (1008,) and len(x.sharding.device_set) == 8
    np.testing.assert_array_equal(np.asarray(x)[:1003], np.arange(1003))
    assert np.asarray(valid).sum() == 1003 and not np.asarray(valid)[1003:].any()


@check
def histogram_and_entropy_equal_single_device():
    ratings = RNG.integers(0, 7, size=(1003, 5)).astype(np.int32)
    mask = RNG.random(ratings.shape) < 0.8
    sharded_ratings, valid = rows(ratings)
    sharded_mask, _ = rows(mask, fill=False)
    assert row_mesh(sharded_ratings) is not None
    np.testing.assert_array_equal(
        rating_histogram(sharded_ratings, 7, mask=sharded_mask),
        rating_histogram(ratings, 7, mask=mask),
    )
    # without a mask every row counts, padding included: the host array padded the same way
    np.testing.assert_array_equal(rating_histogram(sharded_ratings, 7),
                                  rating_histogram(padded(ratings)[0], 7))
    for estimator, base in (("plugin", None), ("miller_madow", 2)):
        np.testing.assert_array_equal(
            rating_entropy(sharded_ratings, 7, mask=sharded_mask, estimator=estimator,
                              base=base),
            rating_entropy(ratings, 7, mask=mask, estimator=estimator, base=base),
        )


@check
def histogram_on_the_blocked_cpu_kernel_per_shard():
    # 8194 rows x 16 rules x 11 levels per device: above _SMALL_COMPARES, so the blocked
    # kernel's chunk loop plus a ragged tail.
    n = 8 * entropy._CHUNK_ROWS + 16
    assert (n // 8) * 16 * 11 > entropy._SMALL_COMPARES
    ratings = RNG.integers(0, 11, size=(n, 16)).astype(np.int8)
    sharded_ratings, _ = rows(ratings)
    np.testing.assert_array_equal(
        rating_histogram(sharded_ratings, 11), rating_histogram(ratings, 11)
    )
    # the per-shard kernel ran under shard_map, not a GSPMD-partitioned global kernel
    assert entropy._row_sharded_counts_program.cache_info().currsize >= 1


@check
def out_of_range_level_is_an_error():
    ratings = np.zeros((24, 2), np.int32)
    ratings[13, 1] = 9
    try:
        rating_entropy(rows(ratings)[0], 5)
    except ValueError as err:
        assert "index (13, 1)" in str(err), err
    else:
        raise AssertionError("no error for level 9 with num_levels=5")


@check
def compose_and_margins_equal_single_device():
    scores = RNG.normal(size=(1003, 6)).astype(np.float32)
    weights = RNG.dirichlet(np.ones(6)).astype(np.float32)
    sharded_scores, _ = rows(scores)
    got = compose(sharded_scores, weights)
    assert got.shape == (1008,) and row_mesh(got) is not None  # stays row-sharded
    np.testing.assert_array_equal(got, compose(padded(scores)[0], weights))
    np.testing.assert_array_equal(local_rows(got, 1003), compose(scores, weights))
    rejected = RNG.normal(size=(1003, 6)).astype(np.float32)
    np.testing.assert_array_equal(
        pair_margins(sharded_scores, rows(rejected)[0], weights),
        pair_margins(padded(scores)[0], padded(rejected)[0], weights),
    )


def bt_problem(n=1003, k=5):
    diffs = (RNG.normal(size=(n, k)) + np.linspace(-0.5, 1.0, k)).astype(np.float32)
    mask = RNG.random(n) < 0.9
    return diffs, mask


def summation_bounds(weights, diffs, mask):
    """Bounds on |sharded - single| for the loss and each gradient entry (float64).

    Both results are float32 sums of the same terms in different orders. For a sum of n
    terms any order errs by at most (n - 1) u sum|x_i| (Higham, Accuracy and Stability,
    eq. 4.4), so two orders differ by at most twice that. Margins m_i (K-term dot products)
    may round differently too, by at most 2 K u sum_k |w_k d_ik|; softplus is 1-Lipschitz
    and sigmoid 1/4-Lipschitz, which carries that into each term. The final division adds
    2 u |result|.
    """
    d = diffs[mask].astype(np.float64)
    w = weights.astype(np.float64)
    n, k = d.shape
    m = d @ w
    dm = 2 * k * U * (np.abs(d) * np.abs(w)).sum(axis=1)
    terms = np.logaddexp(0, -m)
    loss = terms.mean()
    residual = 1 / (1 + np.exp(m))
    grad = -(residual[:, None] * d).mean(axis=0)
    loss_bound = 2 * (n - 1) * U * terms.mean() + dm.mean() + 2 * U * abs(loss)
    grad_bound = (2 * (n - 1) * U * np.abs(residual[:, None] * d).mean(axis=0)
                  + (np.abs(d) * dm[:, None] / 4).mean(axis=0) + 2 * U * np.abs(grad))
    return loss_bound, grad_bound


@check
def bt_loss_and_gradient_within_the_summation_bound():
    diffs, mask = bt_problem()
    weights = RNG.normal(size=diffs.shape[1]).astype(np.float32)
    loss_bound, grad_bound = summation_bounds(weights, diffs, mask)
    sharded_diffs, sharded_mask = rows(diffs)[0], rows(mask, fill=False)[0]
    loss = bt_loss(weights, sharded_diffs, mask=sharded_mask)
    expected = bt_loss(weights, diffs, mask=mask)
    assert abs(float(loss) - float(expected)) <= loss_bound, (loss, expected, loss_bound)
    grad = np.asarray(bt_gradient(weights, sharded_diffs, mask=sharded_mask), np.float64)
    expected = np.asarray(bt_gradient(weights, diffs, mask=mask), np.float64)
    assert np.all(np.abs(grad - expected) <= grad_bound), (grad - expected, grad_bound)


def sgd_step(diffs, mask):
    """eta = 1 / L for the BT loss: convex, Hessian (1/n) sum s_i (1 - s_i) d_i d_i^T <=
    D^T D / (4 n), so L = lambda_max(D^T D) / (4 n) bounds its smoothness and gradient descent
    with step 1 / L is non-expansive: per-step gradient differences add up, never grow."""
    d = diffs[mask].astype(np.float64)
    return 4 * d.shape[0] / np.linalg.eigvalsh(d.T @ d).max()


def fit_gap_bound(weights, diffs, mask, eta, steps):
    """Bound on ||w_sharded - w_single|| after ``steps`` SGD steps: the gradient-difference
    bound at weights up to twice the final size, times eta, per step, plus the rounding of
    each update (2 u |w|)."""
    w = np.asarray(weights, np.float64)
    _, grad_bound = summation_bounds((2 * np.abs(w)).astype(np.float32), diffs, mask)
    return steps * (eta * np.linalg.norm(grad_bound) + 2 * U * np.linalg.norm(2 * w))


@check
def bt_fit_within_the_accumulated_bound():
    diffs, mask = bt_problem()
    eta, steps = sgd_step(diffs, mask), 40
    optimizer = optax.sgd(eta)
    got = fit_bt_weights(rows(diffs)[0], mask=rows(mask, fill=False)[0], optimizer=optimizer,
                            max_steps=steps, record_every=steps)
    expected = fit_bt_weights(diffs, mask=mask, optimizer=optimizer, max_steps=steps,
                                 record_every=steps)
    gap = np.linalg.norm(np.asarray(got.weights, np.float64) - np.asarray(expected.weights))
    bound = fit_gap_bound(expected.weights, diffs, mask, eta, steps)
    assert gap <= bound, (gap, bound)


@check
def bootstrap_replicates_equal_single_device():
    key = jax.random.key(11)
    values = RNG.random(1003).astype(np.float32)
    counted = RNG.random(1003) < 0.6
    host_values, valid = padded(values)
    host_counted = padded(counted, fill=False)[0]
    for host_mask in (None, valid, host_counted):
        mask = None if host_mask is None else rows(host_mask[:1003], fill=False)[0]
        got = bootstrap_ci(key, rows(values)[0], num_resamples=50, mask=mask)
        expected = bootstrap_ci(key, host_values, num_resamples=50, mask=host_mask)
        # The resamples draw the same items and run the same per-resample program: the same
        # bits. The estimate is the mean of the counted values, summed in another order by
        # the sharded program (its items gathered, then reduced) than by the single-device
        # one; two orders of an n-term float32 sum differ by at most 2 (n - 1) u sum|x|
        # (Higham eq. 4.4), and the division adds 2 u |mean|.
        for name in ("low", "high", "replicates"):
            np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
        # Without a mask the padding rows (zeros) are items too, on both sides.
        counted_values = (host_values if host_mask is None
                          else host_values[host_mask]).astype(np.float64)
        n = counted_values.size
        bound = (2 * (n - 1) * U * np.abs(counted_values).mean()
                 + 2 * U * abs(counted_values.mean()))
        assert abs(float(got.estimate) - float(expected.estimate)) <= bound, (
            float(got.estimate), float(expected.estimate), bound)
    assert bootstrap._resample_program.cache_info().currsize == 2  # resamples split


@check
def sharded_results_are_deterministic():
    """Same inputs and key, same bits, run after run (issue 9); another key, other draws.

    Summation order is fixed by the program, not by thread timing: the psum over devices and
    each device's reductions must give the same float bits every time."""
    # The shapes of the checks above, so that nothing new compiles but the default-Adam fit.
    ratings, _ = rows(RNG.integers(0, 7, size=(1003, 5)).astype(np.int32))
    mask, _ = rows(RNG.random((1003, 5)) < 0.8, fill=False)
    diffs_host, pair_mask_host = bt_problem()
    diffs, pair_mask = rows(diffs_host)[0], rows(pair_mask_host, fill=False)[0]
    weights = RNG.dirichlet(np.ones(5)).astype(np.float32)
    values = rows(RNG.random(1003).astype(np.float32))[0]
    calls = {
        "entropy": lambda key: rating_entropy(ratings, 7, mask=mask),
        "compose": lambda key: compose(diffs, weights),
        "gradient": lambda key: bt_gradient(weights, diffs, mask=pair_mask),
        "fit": lambda key: fit_bt_weights(diffs, mask=pair_mask, max_steps=5,
                                             record_every=5).weights,
        "bootstrap": lambda key: bootstrap_ci(key, values, num_resamples=50,
                                                 mask=pair_mask).replicates,
    }
    for name, call in calls.items():
        first, again = call(jax.random.key(5)), call(jax.random.key(5))
        assert np.array_equal(np.asarray(first), np.asarray(again)), name
    other = calls["bootstrap"](jax.random.key(6))
    assert not np.array_equal(np.asarray(other), np.asarray(calls["bootstrap"](jax.random.key(5))))


def main() -> int:
    failed = []
    for fn in CHECKS:
        try:
            fn()
        except Exception:
            failed.append(fn.__name__)
            print(f"FAILED {fn.__name__}", flush=True)
            traceback.print_exc()
        else:
            print(f"ok {fn.__name__}", flush=True)
    if failed:
        print(f"{len(failed)} of {len(CHECKS)} sharded checks failed: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    assert "xla_force_host_platform_device_count=8" in os.environ.get("XLA_FLAGS", "")
    sys.exit(main())
