"""The jaxtyping shape annotations of the public API, checked at run time with beartype."""

import beartype
import jax
import numpy as np
from jaxtyping import jaxtyped

import encore_jax as ej
from encore_jax.compose import compose, pair_margins
from encore_jax.entropy import discretize, entropy_from_counts, rating_entropy, rating_histogram
from encore_jax.metrics.accuracy import pairwise_accuracy
from encore_jax.weights import (
    encore_weights,
    entropy_weights,
    lowest_entropy_weights,
    random_weights,
    single_rule_weights,
    uniform_weights,
)


def checked(fn):
    return jaxtyped(typechecker=beartype.beartype)(fn)


def test_public_functions_honour_their_shape_annotations(rng):
    ratings = rng.integers(0, 5, size=(32, 6)).astype(np.int32)
    mask = rng.random((32, 6)) < 0.9
    mask[0] = True
    counts = checked(rating_histogram)(ratings, 5, mask=mask)
    entropies = checked(entropy_from_counts)(counts)
    checked(rating_entropy)(ratings, 5, mask=mask)
    checked(discretize)(rng.random((32, 6)), 5)
    weights = checked(entropy_weights)(entropies)
    checked(encore_weights)(ratings, 5, mask=mask)
    checked(compose)(ratings, weights)
    margins = checked(pair_margins)(ratings, ratings[::-1], weights)
    checked(pairwise_accuracy)(margins, tie="half")
    checked(lowest_entropy_weights)(entropies, 2)
    checked(random_weights)(jax.random.key(0), 6)
    checked(uniform_weights)(6)
    checked(single_rule_weights)(6, 2)


def test_public_api_is_curated():
    assert sorted(ej.__all__) == ej.__all__
    for name in ej.__all__:
        assert callable(getattr(ej, name)), name
        assert getattr(ej, name).__doc__, f"{name} has no docstring"
