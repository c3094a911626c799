"""The core functions on row-sharded arrays equal the single-device ones: tests/sharded_checks.py
runs them on 8 forced CPU devices in one subprocess (JAX fixes the device count at start-up,
and one process pays the start-up once) and tests/multihost_checks.py in two processes; the
placement helpers' errors are checked here on one device."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from jax.sharding import Mesh

from encore_jax.mesh import data_mesh, local_rows, row_mesh, shard_rows

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
        shard_rows(np.zeros((4, 2), np.int32),
                            Mesh(np.asarray(jax.devices()), ("rows",)))
    with pytest.raises(ValueError, match="devices is empty"):
        data_mesh([])
    with pytest.raises(ValueError, match="row axis"):
        shard_rows(np.float32(1.0))


def test_one_device_placement_is_the_plain_path():
    placed, valid = shard_rows(np.arange(6, dtype=np.int32).reshape(3, 2))
    assert row_mesh(placed) is None  # one device: nothing to split
    np.testing.assert_array_equal(local_rows(placed, 3), np.arange(6).reshape(3, 2))
    assert np.asarray(valid).all()
