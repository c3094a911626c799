"""The core functions on row-sharded arrays equal the single-device ones: tests/sharded_checks.py
runs them on 8 forced CPU devices in one subprocess (JAX fixes the device count at start-up,
and one process pays the start-up once) and tests/multihost_checks.py in two processes; the
placement helpers' errors and the deprecated ``sharded_*`` aliases are checked here on one
device."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from jax.sharding import Mesh

from encore_jax import sharding

SCRIPT = Path(__file__).with_name("sharded_checks.py")
MULTIHOST_SCRIPT = Path(__file__).with_name("multihost_checks.py")


def cpu_env(devices):
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={devices}"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    return env


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def two_processes():
    """Starts the two-process jax.distributed run early, so that it overlaps the 8-device
    run (each pays JAX start-up and compilation)."""
    port = str(free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, str(MULTIHOST_SCRIPT), str(i), "2", port], env=cpu_env(2),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for i in range(2)
    ]
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sharded_results_equal_single_device_on_8_cpu_devices(two_processes):
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], env=cpu_env(8), capture_output=True, text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok ") >= 9


def test_two_processes_each_get_the_single_process_results(two_processes):
    outputs = []
    for proc in two_processes:
        try:
            output, _ = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        assert proc.returncode == 0, output
        outputs.append(json.loads(output.strip().splitlines()[-1]))
    # Each process asserted equality with the single-process results; both report the same.
    assert [o.pop("process") for o in outputs] == [0, 1]
    assert outputs[0] == outputs[1]


def test_mesh_must_have_the_data_axis():
    import jax

    with pytest.raises(ValueError, match="single axis 'data'"):
        sharding.shard_rows(np.zeros((4, 2), np.int32),
                            Mesh(np.asarray(jax.devices()), ("rows",)))
    with pytest.raises(ValueError, match="devices is empty"):
        sharding.data_mesh([])
    with pytest.raises(ValueError, match="row axis"):
        sharding.shard_rows(np.float32(1.0))


def test_one_device_placement_is_the_plain_path():
    placed, valid = sharding.shard_rows(np.arange(6, dtype=np.int32).reshape(3, 2))
    assert sharding.row_mesh(placed) is None  # one device: nothing to split
    np.testing.assert_array_equal(sharding.local_rows(placed, 3), np.arange(6).reshape(3, 2))
    assert np.asarray(valid).all()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: sharding.sharded_rating_histogram(np.zeros((4, 2)), 3), TypeError, "integer"),
        (lambda: sharding.sharded_rating_histogram(np.zeros((4, 2), np.int32), 3,
                                                   mask=np.ones((4, 3), bool)),
         ValueError, "mask has shape"),
        (lambda: sharding.sharded_rating_entropy(np.zeros((4, 2), np.int32), 3,
                                                 mask=np.zeros((4, 2), bool)),
         ValueError, "no observed ratings"),
        (lambda: sharding.sharded_compose(np.zeros((4, 2)), np.ones(3)), ValueError,
         "2 rules but weights has 3|weights"),
        (lambda: sharding.sharded_bt_loss(np.ones(2, np.float32), np.zeros((4, 2)),
                                          mask=np.zeros(4, bool)),
         ValueError, "selects no pair"),
        (lambda: sharding.sharded_bootstrap_ci(None, np.array([np.nan, 1.0])), ValueError,
         "nan"),
    ],
)
def test_deprecated_aliases_warn_and_reject_bad_arguments(call, error, match):
    with pytest.deprecated_call(), pytest.raises(error, match=match):
        call()


def test_deprecated_aliases_give_the_core_results():
    import encore_jax as ej

    rng = np.random.default_rng(0)
    ratings = rng.integers(0, 4, size=(9, 3)).astype(np.int32)
    scores = rng.normal(size=(9, 3)).astype(np.float32)
    weights = np.full(3, 1 / 3, np.float32)
    with pytest.deprecated_call():
        np.testing.assert_array_equal(sharding.sharded_rating_entropy(ratings, 4),
                                      ej.rating_entropy(ratings, 4))
    with pytest.deprecated_call():
        np.testing.assert_array_equal(sharding.sharded_compose(scores, weights),
                                      ej.compose(scores, weights))
    with pytest.deprecated_call():
        np.testing.assert_allclose(sharding.sharded_bt_loss(weights, scores),
                                   ej.bt_loss(weights, scores), rtol=1e-6)
