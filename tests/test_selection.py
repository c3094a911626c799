"""Data-adaptive rule selection and rule-based labels (encore_jax.selection).

Oracles are plain NumPy loops. Test data are integer ratings, dyadic relevances and dyadic
weights (multiples of 1/4 or 1/8), so every score and margin is exact in float32 and float64
alike: the oracle and the library must agree bit for bit, ties included.
"""

import itertools
import math

import beartype
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jaxtyping import jaxtyped

from encore_jax.compose import pair_margins
from encore_jax.selection import all_rules, label_pairs, random_rule_selection, select_rules

NUM_PAIRS = 32
# 24 rules reach the scatter branch (more than 8 indices on both sides of K / 2).
RULE_COUNTS = (1, 3, 8, 24)


@st.composite
def rated_pairs(draw, relevance_kinds=("none", "rule", "pair")):
    """(a, b [N, K] int32 levels, k, relevance or None, alpha) with many exact ties."""
    num_rules = draw(st.sampled_from(RULE_COUNTS))
    k = draw(st.integers(1, num_rules))
    num_levels = draw(st.sampled_from((2, 5)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = rng.integers(0, num_levels, (NUM_PAIRS, num_rules)).astype(np.int32)
    b = rng.integers(0, num_levels, (NUM_PAIRS, num_rules)).astype(np.int32)
    kind = draw(st.sampled_from(relevance_kinds))
    shape = {"none": None, "rule": (num_rules,), "pair": (NUM_PAIRS, num_rules)}[kind]
    relevance = None if shape is None else rng.integers(0, 5, shape).astype(np.float32) / 4
    alpha = draw(st.sampled_from((0.5, 1.0, 0.25) if relevance is None else (0.0, 0.5, 2.0)))
    return a, b, k, relevance, alpha


def reference_select(a, b, k, relevance=None, alpha=0.5):
    """Plain NumPy: score = relevance + alpha |a - b|; the k largest, lower index on ties."""
    score = alpha * np.abs(a.astype(np.float64) - b.astype(np.float64))
    if relevance is not None:
        score = score + np.broadcast_to(relevance, score.shape)
    mask = np.zeros(score.shape, bool)
    for i, row in enumerate(score):
        order = sorted(range(row.size), key=lambda j: (-row[j], j))
        mask[i, order[:k]] = True
    return mask


def reference_label(a, b, selected, weights=None, tie="b", vote="sum"):
    """Plain NumPy loop: A preferred iff sum over selected rules of w v(a - b) > 0, with
    v(d) = d (vote="sum") or v(d) = sign(d) (vote="sign")."""
    weights = np.ones(a.shape[1]) if weights is None else weights
    v = (lambda d: d) if vote == "sum" else (lambda d: float(np.sign(d)))
    labels = np.zeros(a.shape[0], bool)
    for i in range(a.shape[0]):
        margin = sum(weights[j] * v(float(a[i, j]) - float(b[i, j]))
                     for j in range(a.shape[1]) if selected[i, j])
        labels[i] = margin > 0 if margin != 0 else tie == "a"
    return labels


# --------------------------------------------------------------------------------------------
# Oracle tests
# --------------------------------------------------------------------------------------------


@given(rated_pairs())
def test_select_rules_matches_numpy_reference(case):
    a, b, k, relevance, alpha = case
    got = select_rules(a, b, k, relevance=relevance, alpha=alpha)
    assert got.dtype == jnp.bool_ and got.shape == a.shape
    np.testing.assert_array_equal(got, reference_select(a, b, k, relevance, alpha))


@given(rated_pairs(relevance_kinds=("none",)), st.sampled_from(("b", "a")), st.booleans(),
       st.sampled_from(("sum", "sign")))
def test_label_pairs_matches_numpy_reference(case, tie, weighted, vote):
    a, b, k, _, _ = case
    rng = np.random.default_rng(k)
    selected = rng.random(a.shape) < 0.5  # any number of rules per row, including none
    weights = rng.integers(1, 9, a.shape[1]).astype(np.float32) / 8 if weighted else None
    got = label_pairs(a, b, selected, weights=weights, vote=vote, tie_winner=tie)
    assert got.dtype == jnp.bool_ and got.shape == (a.shape[0],)
    np.testing.assert_array_equal(got, reference_label(a, b, selected, weights, tie, vote))


def test_reference_defaults_alpha_half_top_k_and_ties_to_b():
    # Pair 0: |d| = (3, 0, 2, 2): top 2 = rules 0 and 2 (2 ties with 3: lower index wins);
    # margins 3 + 2 > 0 -> A. Pair 1: identical responses -> a tie -> B (the reference).
    a = np.array([[3, 1, 2, 2], [1, 1, 1, 1]], np.int32)
    b = np.array([[0, 1, 0, 4], [1, 1, 1, 1]], np.int32)
    selected = select_rules(a, b, 2)
    np.testing.assert_array_equal(selected, [[1, 0, 1, 0], [1, 1, 0, 0]])
    np.testing.assert_array_equal(label_pairs(a, b, selected), [True, False])
    np.testing.assert_array_equal(label_pairs(a, b, selected, tie_winner="a"), [True, True])
    # relevance + 0.5 |d|: a relevance of 1.5 on rule 1 (|d| = 0) beats |d| = 2 (score 1).
    relevance = np.array([0.0, 1.5, 0.0, 0.0], np.float32)
    np.testing.assert_array_equal(select_rules(a, b, 2, relevance=relevance)[0], [1, 1, 0, 0])


def test_unsigned_levels_do_not_wrap_around():
    a = np.array([[0, 4, 2]], np.uint8)
    b = np.array([[4, 0, 2]], np.uint8)
    np.testing.assert_array_equal(select_rules(a, b, 2), [[True, True, False]])
    np.testing.assert_array_equal(label_pairs(a, b, np.array([[True, False, False]])),
                                  [False])


# --------------------------------------------------------------------------------------------
# Property tests
# --------------------------------------------------------------------------------------------


@given(rated_pairs())
def test_exactly_k_rules_per_row(case):
    a, b, k, relevance, alpha = case
    counts = np.asarray(select_rules(a, b, k, relevance=relevance, alpha=alpha)).sum(1)
    np.testing.assert_array_equal(counts, k)


@pytest.mark.parametrize("k", [1, 4, 5, 7, 8])  # Floyd's draw, k = K / 2, complement, k = K
def test_random_selection_has_exactly_k_rules_per_row(k):
    for seed in range(3):
        mask = np.asarray(random_rule_selection(jax.random.key(seed), NUM_PAIRS, 8, k))
        np.testing.assert_array_equal(mask.sum(1), k)


@given(st.sampled_from(RULE_COUNTS), st.integers(0, 2**32 - 1), st.randoms(use_true_random=False))
def test_permuting_rules_permutes_the_selection(num_rules, seed, random):
    # Continuous scores: distinct |a - b| almost surely, so the top-k set is unique and the
    # selection must permute exactly with the rules.
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((NUM_PAIRS, num_rules)).astype(np.float32)
    b = rng.standard_normal((NUM_PAIRS, num_rules)).astype(np.float32)
    k = random.randint(1, num_rules)
    perm = np.array(random.sample(range(num_rules), num_rules))
    selected = np.asarray(select_rules(a, b, k))
    np.testing.assert_array_equal(select_rules(a[:, perm], b[:, perm], k), selected[:, perm])
    np.testing.assert_array_equal(label_pairs(a[:, perm], b[:, perm], selected[:, perm]),
                                  label_pairs(a, b, selected))


@given(rated_pairs(), st.randoms(use_true_random=False))
def test_permuting_tied_rules_keeps_the_selected_scores(case, random):
    # With ties the index rule picks different (tied) rules after a permutation, but the
    # multiset of selected scores in each row cannot change.
    a, b, k, relevance, alpha = case
    num_rules = a.shape[1]
    perm = np.array(random.sample(range(num_rules), num_rules))
    rel_p = None if relevance is None else relevance[..., perm]
    score = alpha * np.abs(a - b).astype(np.float64)
    if relevance is not None:
        score = score + np.broadcast_to(relevance, score.shape)
    mask = np.asarray(select_rules(a, b, k, relevance=relevance, alpha=alpha))
    mask_p = np.asarray(select_rules(a[:, perm], b[:, perm], k, relevance=rel_p, alpha=alpha))
    for i in range(a.shape[0]):
        np.testing.assert_array_equal(np.sort(score[i][mask[i]]),
                                      np.sort(score[i, perm][mask_p[i]]))


@given(rated_pairs(relevance_kinds=("none", "pair")), st.sampled_from(("b", "a")))
def test_k_equal_to_num_rules_is_the_all_rules_label(case, tie):
    a, b, _, relevance, alpha = case
    num_pairs, num_rules = a.shape
    everything = all_rules(num_pairs, num_rules)
    selected = select_rules(a, b, num_rules, relevance=relevance, alpha=alpha)
    np.testing.assert_array_equal(selected, everything)
    np.testing.assert_array_equal(random_rule_selection(jax.random.key(0), *a.shape,
                                                           num_rules), everything)
    np.testing.assert_array_equal(label_pairs(a, b, selected, tie_winner=tie),
                                  label_pairs(a, b, everything, tie_winner=tie))
    # The all-rules label is the sign of the composite margin, ties to B, with unit weights
    # and with 1/K weights (not exact in float, but ties are exact: tests/test_exact_ties.py).
    exact = (a.astype(np.int64) - b).sum(axis=1)
    for weights in (np.ones(num_rules, np.float32), np.full(num_rules, 1 / num_rules,
                                                            np.float32)):
        margins = np.asarray(pair_margins(a, b, weights))
        np.testing.assert_array_equal(margins == 0, exact == 0)
        np.testing.assert_array_equal(label_pairs(a, b, everything, weights=weights),
                                      margins > 0)


def test_random_selection_is_uniform_over_subsets():
    # K = 4, k = 2: 6 subsets, each with probability 1/6. Over n = 6000 rows a subset's count
    # is Binomial(6000, 1/6): mean 1000, sd sqrt(6000 * 1/6 * 5/6) = 28.9. A bound of 5 sd
    # fails by chance with probability < 6 * 5.7e-7 (union bound over the 6 subsets).
    n, num_rules, k = 6000, 4, 2
    mask = np.asarray(random_rule_selection(jax.random.key(7), n, num_rules, k))
    codes = mask.astype(int) @ (2 ** np.arange(num_rules))
    subsets = [sum(2**j for j in s) for s in itertools.combinations(range(num_rules), k)]
    counts = np.array([np.sum(codes == s) for s in subsets])
    assert counts.sum() == n
    sd = math.sqrt(n / 6 * 5 / 6)
    assert np.all(np.abs(counts - n / 6) < 5 * sd), counts
    # The complement branch (k > K / 2): each rule is kept with probability 3/4.
    # Per rule, sd = sqrt(6000 * 3/16) = 33.5; 5 sd again.
    kept = np.asarray(random_rule_selection(jax.random.key(8), n, num_rules, 3)).sum(0)
    assert np.all(np.abs(kept - 0.75 * n) < 5 * math.sqrt(n * 3 / 16)), kept


def test_random_selection_depends_on_the_key_only():
    first = random_rule_selection(jax.random.key(1), NUM_PAIRS, 8, 3)
    np.testing.assert_array_equal(first, random_rule_selection(jax.random.key(1),
                                                                  NUM_PAIRS, 8, 3))
    assert not np.array_equal(first, random_rule_selection(jax.random.key(2), NUM_PAIRS, 8, 3))


def test_random_tie_policy_is_a_keyed_coin():
    a = np.zeros((NUM_PAIRS, 3), np.int32)  # every pair ties
    selected = all_rules(NUM_PAIRS, 3)
    first = label_pairs(a, a, selected, tie_winner="random", key=jax.random.key(3))
    np.testing.assert_array_equal(
        first, label_pairs(a, a, selected, tie_winner="random", key=jax.random.key(3)))
    # 32 fair coins: all equal with probability 2^-31.
    assert 0 < int(np.sum(first)) < NUM_PAIRS


def test_jit_and_eager_agree(maybe_jit, rng):
    a = rng.integers(0, 5, (NUM_PAIRS, 8)).astype(np.int32)
    b = rng.integers(0, 5, (NUM_PAIRS, 8)).astype(np.int32)
    relevance = rng.integers(0, 4, 8).astype(np.float32) / 4
    weights = np.full(8, 0.125, np.float32)

    def pipeline(a, b, relevance, weights):
        selected = select_rules(a, b, 3, relevance=relevance)
        return selected, label_pairs(a, b, selected, weights=weights)

    selected, labels = maybe_jit(pipeline)(a, b, relevance, weights)
    np.testing.assert_array_equal(selected, reference_select(a, b, 3, relevance))
    np.testing.assert_array_equal(labels, reference_label(a, b, np.asarray(selected), weights))


def test_vmap_over_batches_of_pair_sets(rng):
    a = rng.integers(0, 5, (2, NUM_PAIRS, 8)).astype(np.int32)
    b = rng.integers(0, 5, (2, NUM_PAIRS, 8)).astype(np.int32)
    got = jax.vmap(lambda a, b: select_rules(a, b, 3))(a, b)
    for i in range(2):
        np.testing.assert_array_equal(got[i], reference_select(a[i], b[i], 3))


def test_non_finite_scores_under_jit_rank_as_minus_infinity():
    # Concrete NaN raises (see the bad-input tests); under jit it cannot: NaN then ranks as
    # -inf (below every finite score, tied with -inf and broken by index), and rows keep
    # exactly k ones. With a == b the score is the relevance itself.
    relevance = jnp.array([[jnp.nan, 1.0, -jnp.inf, 0.5], [jnp.nan, jnp.nan, 2.0, jnp.nan]])
    zeros = jnp.zeros(relevance.shape)
    select = jax.jit(lambda rel, k: select_rules(zeros, zeros, k, relevance=rel),
                     static_argnums=1)
    np.testing.assert_array_equal(select(relevance, 1), [[0, 1, 0, 0], [0, 0, 1, 0]])
    np.testing.assert_array_equal(select(relevance, 2), [[0, 1, 0, 1], [1, 0, 1, 0]])
    # k = 3 > K / 2 takes the complement branch: NaN and -inf are excluded by index too.
    np.testing.assert_array_equal(select(relevance, 3), [[1, 1, 0, 1], [1, 1, 1, 0]])
    # |a - b| maps a = -inf to +inf: the largest discrepancy.
    a = jnp.array([[jnp.nan, 1.0, -jnp.inf, 0.5]])
    picked = jax.jit(lambda a: select_rules(a, jnp.zeros_like(a), 1))(a)
    np.testing.assert_array_equal(picked, [[0, 0, 1, 0]])


def test_shape_annotations_hold_at_run_time(rng):
    a = rng.integers(0, 5, (NUM_PAIRS, 8)).astype(np.int32)
    b = rng.integers(0, 5, (NUM_PAIRS, 8)).astype(np.int32)

    def checked(fn):
        return jaxtyped(typechecker=beartype.beartype)(fn)

    selected = checked(select_rules)(a, b, 3, relevance=np.zeros(8, np.float32))
    checked(label_pairs)(a, b, selected, weights=np.full(8, 0.125, np.float32))
    checked(random_rule_selection)(jax.random.key(0), NUM_PAIRS, 8, 3)
    checked(all_rules)(NUM_PAIRS, 8)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------

A = np.zeros((4, 3), np.int32)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"k": 4}, ValueError, "k must be <= K = 3"),
        ({"k": 0}, ValueError, "k must be >= 1"),
        ({"k": True}, TypeError, "k must be an int"),
        ({"k": 2.0}, TypeError, "k must be an int"),
        ({"scores_b": np.zeros((4, 2), np.int32)}, ValueError, "scores_a has shape"),
        ({"scores_a": np.zeros(3, np.int32), "scores_b": np.zeros(3, np.int32)}, ValueError,
         r"scores_a must have shape \[N, K\]"),
        ({"scores_a": np.array([[0.0, np.nan, 0.0]] * 4)}, ValueError, "scores_a contains nan"),
        ({"scores_b": np.array([[0.0, 0.0, np.inf]] * 4)}, ValueError, "scores_b contains inf"),
        ({"scores_a": np.array([["x"] * 3] * 4)}, TypeError, "scores_a must be numeric"),
        ({"relevance": np.zeros(4)}, ValueError, "relevance must have shape"),
        ({"relevance": np.array([0.0, np.nan, 0.0])}, ValueError, "relevance contains nan"),
        ({"alpha": -0.5}, ValueError, "alpha must be finite and >= 0"),
        ({"alpha": float("nan")}, ValueError, "alpha must be finite"),
        ({"alpha": np.ones(3)}, TypeError, "alpha must be a real scalar"),
        ({"alpha": 0.0}, ValueError, "alpha=0 with relevance=None"),
    ],
)
def test_select_rules_rejects_bad_input(kwargs, error, match):
    args = {"scores_a": A, "scores_b": A, "k": 2, **kwargs}
    with pytest.raises(error, match=match):
        select_rules(args.pop("scores_a"), args.pop("scores_b"), args.pop("k"), **args)


def test_alpha_zero_with_relevance_is_pure_relevance():
    relevance = np.array([0.0, 2.0, 1.0], np.float32)
    np.testing.assert_array_equal(select_rules(A, A + 3, 2, relevance=relevance, alpha=0.0),
                                  np.tile([False, True, True], (4, 1)))


def test_sign_and_sum_votes_differ_where_magnitudes_outvote_counts():
    # Rule 0 says A by 3 levels, rules 1 and 2 say B by 1 level each: the sum (+1) prefers A,
    # the sign vote (1 for A, 2 for B) prefers B; with one rule each, both agree.
    a = np.array([[3, 0, 0], [1, 0, 0]], np.int32)
    b = np.array([[0, 1, 1], [0, 0, 0]], np.int32)
    selected = np.array([[True, True, True], [True, False, False]])
    np.testing.assert_array_equal(label_pairs(a, b, selected), [True, True])
    np.testing.assert_array_equal(label_pairs(a, b, selected, vote="sign"), [False, True])


def test_sign_vote_is_the_majority_of_the_votes_cast():
    """vote="sign", unit weights, tie_winner="b": A iff #(d > 0) > #(d < 0) among the selected
    rules, enumerated over every difference pattern in {-2, 0, 1}^4 and every selection."""
    d = np.array(list(itertools.product((-2, 0, 1), repeat=4)), np.int32)  # [81, 4]
    masks = np.array(list(itertools.product((False, True), repeat=4)))  # [16, 4]
    diffs = np.repeat(d, len(masks), axis=0)
    selected = np.tile(masks, (len(d), 1))
    zeros = np.zeros_like(diffs)
    got = np.asarray(label_pairs(diffs, zeros, selected, vote="sign"))
    votes_a = np.sum(selected & (diffs > 0), axis=1)
    votes_b = np.sum(selected & (diffs < 0), axis=1)
    np.testing.assert_array_equal(got, votes_a > votes_b)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"tie_winner": "B"}, ValueError, "tie_winner must be one of"),
        ({"vote": "majority"}, ValueError, "vote must be one of"),
        ({"tie": "a"}, TypeError, "unexpected keyword argument 'tie'"),
        ({"tie_winner": "loss"}, ValueError, "tie_winner must be one of"),
        ({"tie_winner": "random"}, ValueError, "key is required with tie_winner='random'"),
        ({"key": jax.random.key(0)}, ValueError, "key is required with tie_winner='random'"),
        ({"selected": np.ones((4, 3), np.int32)}, TypeError, "selected must be boolean"),
        ({"selected": np.ones((4, 2), bool)}, ValueError, "selected has shape"),
        ({"scores_b": np.zeros((3, 3), np.int32)}, ValueError, "scores_a has shape"),
        ({"weights": np.ones(2, np.float32)}, ValueError, "weights has shape"),
        ({"weights": np.ones(3, np.int32)}, TypeError, "weights must be a float array"),
        ({"weights": np.array([1.0, np.nan, 1.0])}, ValueError, "weights contains nan"),
        ({"scores_a": np.full((4, 3), np.nan)}, ValueError, "scores_a contains nan"),
    ],
)
def test_label_pairs_rejects_bad_input(kwargs, error, match):
    args = {"scores_a": A, "scores_b": A, "selected": np.ones((4, 3), bool), **kwargs}
    with pytest.raises(error, match=match):
        label_pairs(args.pop("scores_a"), args.pop("scores_b"), args.pop("selected"), **args)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((4, 3, 4), ValueError, "k must be <= K = 3"),
        ((4, 3, 0), ValueError, "k must be >= 1"),
        ((0, 3, 1), ValueError, "num_pairs must be >= 1"),
        ((4, 0, 1), ValueError, "num_rules must be >= 1"),
        ((4.0, 3, 1), TypeError, "num_pairs must be an int"),
    ],
)
def test_random_rule_selection_rejects_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        random_rule_selection(jax.random.key(0), *args)


def test_all_rules_rejects_bad_input():
    with pytest.raises(ValueError, match="num_rules must be >= 1"):
        all_rules(4, 0)
    with pytest.raises(TypeError, match="num_pairs must be an int"):
        all_rules("4", 3)
