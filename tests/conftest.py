"""Strict test configuration shared by the whole suite.

* JAX: strict dtype promotion and rank promotion errors, so that an implicit conversion in
  the library fails loudly here (pytest also turns every warning into an error).
* Hypothesis: the ``ci`` profile (the default, so the README's ``make test`` and CI run the
  same examples) draws few, derandomized examples to keep the whole suite within a few minutes
  on 2 CPU cores; ``HYPOTHESIS_PROFILE=dev`` draws more, fresh random examples each run, for
  exploring. ``deadline=None`` because the first call of each shape compiles.
* JAX's in-memory caches (traced and compiled programs) are cleared after each test module:
  a module's programs are rarely reused by the next (shapes differ), and without this the
  suite's resident memory grows with every program compiled since it started.
* The CLI's persistent compilation cache is off (``ENCORE_JAX_COMPILE_CACHE=0``, inherited by
  the CLI subprocesses tests start), so tests never write to the user's cache directory; a
  test of the cache points it into its ``tmp_path``.
"""

import os

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, settings

os.environ["ENCORE_JAX_COMPILE_CACHE"] = "0"

jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

settings.register_profile(
    "ci",
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True, scope="module")
def _clear_jax_caches_after_the_module():
    """Frees the module's traced and compiled programs when it ends (peak memory)."""
    yield
    jax.clear_caches()


@pytest.fixture(params=["eager", "jit"])
def maybe_jit(request):
    """Runs a test body twice: calling the function directly, and under ``jax.jit``.

    Usage: ``maybe_jit(lambda x: f(x, static_arg))(x)``; non-array arguments are closed over.
    """
    if request.param == "jit":
        return jax.jit
    return lambda fn: fn


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
