"""The jaxtyping shape annotations of the public API, checked at run time with beartype."""

import beartype
import jax
import numpy as np
from jaxtyping import jaxtyped

import encore_jax as ej


def checked(fn):
    return jaxtyped(typechecker=beartype.beartype)(fn)


def test_public_functions_honour_their_shape_annotations(rng):
    ratings = rng.integers(0, 5, size=(32, 6)).astype(np.int32)
    mask = rng.random((32, 6)) < 0.9
    mask[0] = True
    counts = checked(ej.rating_histogram)(ratings, 5, mask=mask)
    entropies = checked(ej.entropy_from_counts)(counts)
    checked(ej.rating_entropy)(ratings, 5, mask=mask)
    checked(ej.discretize)(rng.random((32, 6)), 5)
    weights = checked(ej.entropy_weights)(entropies)
    checked(ej.encore_weights)(ratings, 5, mask=mask)
    checked(ej.compose)(ratings, weights)
    margins = checked(ej.pair_margins)(ratings, ratings[::-1], weights)
    checked(ej.pairwise_accuracy)(margins, tie="half")
    checked(ej.lowest_entropy_weights)(entropies, 2)
    checked(ej.random_weights)(jax.random.key(0), 6)
    checked(ej.uniform_weights)(6)
    checked(ej.single_rule_weights)(6, 2)


def test_public_api_is_curated():
    assert sorted(ej.__all__) == ej.__all__
    for name in ej.__all__:
        assert callable(getattr(ej, name)), name
        assert getattr(ej, name).__doc__, f"{name} has no docstring"
