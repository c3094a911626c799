"""One process of a two-process (``jax.distributed``) run on this machine: 2 CPU devices per
process, 4 in the mesh, gloo collectives. Each process passes only its own rows (an uneven
split); every process must get the single-process results for all rows.

Run by tests/test_sharding.py (which starts both processes):

    XLA_FLAGS=--xla_force_host_platform_device_count=2 \
        python tests/multihost_checks.py PROCESS_ID NUM_PROCESSES PORT
"""

from __future__ import annotations

import json
import sys

import jax

jax.config.update("jax_cpu_collectives_implementation", "gloo")
PROCESS, PROCESSES, PORT = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
jax.distributed.initialize(coordinator_address=f"127.0.0.1:{PORT}",
                           num_processes=PROCESSES, process_id=PROCESS)

import numpy as np  # noqa: E402
import optax  # noqa: E402
from sharded_checks import fit_gap_bound, sgd_step, summation_bounds  # noqa: E402

from encore_jax.bradley_terry import bt_gradient, bt_loss, fit_bt_weights  # noqa: E402
from encore_jax.compose import compose  # noqa: E402
from encore_jax.entropy import rating_entropy, rating_histogram  # noqa: E402
from encore_jax.mesh import data_mesh, local_rows, shard_rows  # noqa: E402
from encore_jax.metrics.bootstrap import bootstrap_ci  # noqa: E402


def main() -> None:
    assert jax.process_count() == PROCESSES and jax.device_count() == 2 * PROCESSES
    rng = np.random.default_rng(5)
    rows = 1001
    mine = np.array_split(np.arange(rows), PROCESSES)[PROCESS]  # 501 and 500 rows
    mesh = data_mesh()

    def place(x, fill=0):
        """This process's rows of ``x`` as a global row-sharded array (core API input)."""
        return shard_rows(x[mine], mesh, fill=fill)[0]

    def global_host(x, fill=0):
        """The same global array on one host: every process's rows, each padded to 502."""
        parts = np.array_split(x, PROCESSES)
        pad = [np.full((502 - len(p), *x.shape[1:]), fill, x.dtype) for p in parts]
        return np.concatenate([a for part in zip(parts, pad, strict=True) for a in part])

    ratings = rng.integers(0, 7, size=(rows, 5)).astype(np.int32)
    mask = rng.random(ratings.shape) < 0.8
    counts = rating_histogram(place(ratings), 7, mask=place(mask, False))
    np.testing.assert_array_equal(counts, rating_histogram(ratings, 7, mask=mask))
    entropies = rating_entropy(place(ratings), 7, mask=place(mask, False))
    np.testing.assert_array_equal(entropies, rating_entropy(ratings, 7, mask=mask))

    scores = rng.normal(size=(rows, 5)).astype(np.float32)
    weights = rng.dirichlet(np.ones(5)).astype(np.float32)
    composite = local_rows(compose(place(scores), weights), len(mine))
    np.testing.assert_array_equal(composite, compose(scores, weights)[mine])

    diffs = (rng.normal(size=(rows, 5)) + 0.2).astype(np.float32)
    pairs = np.ones(rows, bool)
    loss_bound, grad_bound = summation_bounds(weights, diffs, pairs)  # derived there
    included = place(pairs, False)
    loss = bt_loss(weights, place(diffs), mask=included)
    assert abs(float(loss) - float(bt_loss(weights, diffs))) <= loss_bound
    grad = np.asarray(bt_gradient(weights, place(diffs), mask=included))
    assert np.all(np.abs(grad - np.asarray(bt_gradient(weights, diffs))) <= grad_bound)
    eta, steps = sgd_step(diffs, pairs), 20
    optimizer = optax.sgd(eta)
    fit = fit_bt_weights(place(diffs), mask=included, optimizer=optimizer, max_steps=steps)
    expected = fit_bt_weights(diffs, optimizer=optimizer, max_steps=steps)
    gap = np.linalg.norm(np.asarray(fit.weights, np.float64) - np.asarray(expected.weights))
    assert gap <= fit_gap_bound(expected.weights, diffs, pairs, eta, steps)

    key = jax.random.key(3)
    credit = (rng.random(rows) < 0.6).astype(np.float32)
    ci = bootstrap_ci(key, place(credit), num_resamples=30, mask=included)
    reference = bootstrap_ci(key, global_host(credit), num_resamples=30,
                                mask=global_host(pairs, False))
    np.testing.assert_array_equal(ci.replicates, reference.replicates)

    print(json.dumps({"process": PROCESS, "entropies": np.asarray(entropies).tolist(),
                      "fit": np.asarray(fit.weights).tolist(), "low": float(ci.low)}))


if __name__ == "__main__":
    main()
