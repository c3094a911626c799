"""Hypothesis strategies shared by the tests; shapes come from small fixed sets so that JAX
compiles each kernel a handful of times, not once per example."""

import numpy as np
import optax
from hypothesis import strategies as st

NUM_ROWS = (16, 64)
NUM_RULES = (1, 3, 8)
NUM_LEVELS = (2, 5, 11)
# One optimizer instance for every test file: it is a static argument of the compiled fit
# loop, so sharing it lets fits of the same shape reuse one compilation.
LBFGS = optax.lbfgs()


@st.composite
def rating_matrices(draw, with_mask=False):
    """(ratings [N, K] int32 in 0..L-1, L, mask or None) with every rule observed."""
    n = draw(st.sampled_from(NUM_ROWS))
    k = draw(st.sampled_from(NUM_RULES))
    num_levels = draw(st.sampled_from(NUM_LEVELS))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # A per-rule Dirichlet profile spans near-deterministic to near-uniform rules.
    concentration = draw(st.sampled_from((0.05, 0.5, 5.0)))
    probs = rng.dirichlet(np.full(num_levels, concentration), size=k)
    ratings = np.stack([rng.choice(num_levels, size=n, p=p) for p in probs], axis=1)
    mask = None
    if with_mask:
        mask = rng.random((n, k)) < draw(st.sampled_from((0.3, 0.8, 1.0)))
        mask[0] = True  # every rule keeps at least one observation
    return ratings.astype(np.int32), num_levels, mask
