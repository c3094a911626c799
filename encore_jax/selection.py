"""Data-adaptive rule selection (RuleAdapter) and rule-based preference labels.

RuleAdapter (Li et al., arXiv 2501.15453) labels a response pair ``(A, B)`` with only the
``k`` rules that discriminate most between the two responses. For pair ``i`` and rule ``k``
with ratings ``a_ik`` (response A) and ``b_ik`` (response B), the selection score is

    s_ik = rho_ik + alpha * |a_ik - b_ik|

and the pair keeps the ``k`` rules with the largest ``s_ik``. The label prefers A when the
(optionally weighted) votes of the selected rules favour A:

    label_i = [ sum_k S_ik w_k v(a_ik - b_ik) > 0 ]     (ties: to ``tie_winner``)

with the vote ``v`` chosen by ``label_pairs(vote=...)``: ``"sum"`` (the default) takes the
difference itself, ``v(d) = d``, as the reference code sums the selected ratings;
``"sign"`` takes only its sign, ``v(d) = sign(d)``, so each selected rule casts one vote
(with unit weights: A iff more selected rules rate A higher than rate B higher). The
mutual-information theorem in ``encore_jax/theory/THEORY.md`` ("RuleAdapter") is about sign
votes: it covers ``vote="sign"``, not the default sum of magnitudes.

Paper symbol to argument: relevance ``rho`` -> ``relevance``, the discrepancy coefficient
-> ``alpha`` (0.5 in the reference code), the subset size -> ``k`` (5 of 100 rules in the
reference code), selection ``S`` -> ``selected``. The reference code labels by the
unweighted sum and gives ties to B, which are the defaults here (``weights=None``,
``vote="sum"``, ``tie_winner="b"``); ties of the margin are exact (see :func:`label_pairs`).
ENCORE weights (:func:`encore_jax.weights.encore_weights`) plug in as ``weights``, so both
methods run on one rating matrix.

Baselines: :func:`random_rule_selection` (``k`` rules uniformly at random per pair) and
:func:`all_rules`.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray, Real

from encore_jax import _checks
from encore_jax.compose import certified_margins

__all__ = ["all_rules", "label_pairs", "random_rule_selection", "select_rules"]

DEFAULT_ALPHA = 0.5
#: Values of ``label_pairs(tie_winner=...)``: which response wins a tied pair.
TIE_WINNERS = ("b", "a", "random")
#: Values of ``label_pairs(vote=...)``: what a selected rule contributes to the margin.
VOTES = ("sum", "sign")
# Up to this many indices per row, a mask is built by comparisons instead of a scatter.
_COMPARE_MAX_INDICES = 8


def _validated_pair_scores(
    scores_a: ArrayLike, scores_b: ArrayLike
) -> tuple[jax.Array, jax.Array]:
    scores_a = _checks.as_array("scores_a", scores_a)
    scores_b = _checks.as_array("scores_b", scores_b)
    for name, scores in (("scores_a", scores_a), ("scores_b", scores_b)):
        _checks.check_float_dtype(name, scores)
        _checks.check_ndim(name, scores, 2, "[N, K]")
    _checks.check_same_shape("scores_a", scores_a, "scores_b", scores_b)
    if scores_a.shape[1] < 1:
        raise ValueError(f"scores_a must have K >= 1 rules, got shape {scores_a.shape}")
    _checks.check_finite("scores_a", scores_a)
    _checks.check_finite("scores_b", scores_b)
    return scores_a, scores_b


def _check_k(k: Any, num_rules: int) -> int:
    k = _checks.check_positive_int("k", k)
    if k > num_rules:
        raise ValueError(f"k must be <= K = {num_rules} (the number of rules), got {k}")
    return k


def _check_alpha(alpha: Any, has_relevance: bool) -> None:
    _checks.check_scalar("alpha", alpha, at_least=0.0)
    if _checks.is_concrete(alpha) and float(np.asarray(alpha)) == 0.0 and not has_relevance:
        raise ValueError(
            "alpha=0 with relevance=None gives every rule the score 0, so the selection "
            "would be the first k rules; pass alpha > 0 or a relevance"
        )


def _mask_from_indices(indices: jax.Array, num_rules: int) -> jax.Array:
    """Boolean ``[N, K]`` with ``True`` at the (distinct) ``indices`` ``[N, m]`` of each row."""
    if indices.shape[-1] <= _COMPARE_MAX_INDICES:
        # m fused compare passes over [N, K]; cheaper than a scatter on CPU for small m.
        rules = jnp.arange(num_rules, dtype=indices.dtype)
        return jnp.any(indices[:, :, None] == rules[None, None, :], axis=1)
    rows = jnp.arange(indices.shape[0])[:, None]
    return jnp.zeros((indices.shape[0], num_rules), jnp.bool_).at[rows, indices].set(True)


def _canonical(score: jax.Array) -> jax.Array:
    """Maps NaN to -inf and -0.0 to +0.0, so top_k's total order agrees with ``==`` ties."""
    score = jnp.where(jnp.isnan(score), -jnp.inf, score)
    return jnp.where(score == 0, jnp.zeros((), score.dtype), score)


def _top_k_mask(score: jax.Array, k: int) -> jax.Array:
    """Boolean ``[N, K]`` mask of the ``k`` largest entries of each row; among equal scores
    the lower rule index wins. NaN ranks as ``-inf``: below every finite score.

    ``lax.top_k`` puts the lower index first among equal values, which is exactly this
    tie rule. For ``k > K / 2`` the complement is cheaper: the ``K - k`` *excluded* rules are
    the top ``K - k`` of ``-score`` with the rule axis reversed (reversal makes the higher
    original index lose first among ties, the mirror image of the rule above).
    """
    num_rules = score.shape[-1]
    if k == num_rules:
        return jnp.ones(score.shape, jnp.bool_)
    if 2 * k <= num_rules:
        return _mask_from_indices(jax.lax.top_k(_canonical(score), k)[1], num_rules)
    # NaN must be excluded first: canonicalise (NaN -> -inf) before negating (-> +inf).
    flipped = _canonical(-_canonical(score))[:, ::-1]
    excluded = (num_rules - 1) - jax.lax.top_k(flipped, num_rules - k)[1]
    return ~_mask_from_indices(excluded, num_rules)


@functools.partial(jax.jit, static_argnames="k")
def _select(
    scores_a: jax.Array,
    scores_b: jax.Array,
    relevance: jax.Array | None,
    alpha: jax.Array,
    k: int,
) -> jax.Array:
    arrays = (scores_a, scores_b) if relevance is None else (scores_a, scores_b, relevance)
    dtype = _checks.common_float_dtype(*arrays)
    # Difference in the float dtype: unsigned integer ratings would wrap around.
    discrepancy = jnp.abs(scores_a.astype(dtype) - scores_b.astype(dtype))
    score = jnp.asarray(alpha, dtype) * discrepancy
    if relevance is not None:
        rel = relevance.astype(dtype)
        if rel.ndim == 1:
            rel = jnp.broadcast_to(rel[None, :], score.shape)
        score = rel + score
    return _top_k_mask(score, k)


def select_rules(
    scores_a: Real[ArrayLike, "N K"],
    scores_b: Real[ArrayLike, "N K"],
    k: int,
    *,
    relevance: Real[ArrayLike, "N K"] | Real[ArrayLike, " K"] | None = None,
    alpha: float | Real[ArrayLike, ""] = DEFAULT_ALPHA,
) -> Bool[Array, "N K"]:
    """Per-pair maximum-discrepancy selection of ``k`` rules (RuleAdapter).

        S_ik = 1  iff  rule k is among the k largest of  s_ik = rho_ik + alpha |a_ik - b_ik|

    Tie-breaking is deterministic: rules are ranked by ``s`` (largest first) and, among
    rules whose computed scores are exactly equal (float ``==``), by rule index (lowest
    first). So every row has exactly ``k`` ones, and with equal scores the first rules win.
    With ``relevance=None`` the score is ``alpha |a - b|``, which ranks rules exactly as the
    pure discrepancy ``|a - b|`` does for any ``alpha > 0``.

    Args:
      scores_a: ``a``, per-rule ratings or scores of response A ``[N, K]`` (integer levels
        or floats; differences are taken in floating point, so unsigned levels are safe).
      scores_b: ``b``, the same for response B ``[N, K]``.
      k: rules kept per pair, ``1 <= k <= K`` (static: one compilation per ``k``).
      relevance: ``rho``, optional relevance of each rule to each pair ``[N, K]``, or to
        every pair ``[K]``; ``None`` means pure maximum discrepancy.
      alpha: the discrepancy coefficient, finite and ``>= 0`` (reference code: 0.5); must
        be ``> 0`` when ``relevance`` is ``None``.

    Returns:
      Boolean mask ``S`` ``[N, K]``, ``True`` = rule selected for the pair; exactly ``k``
      ``True`` per row.

    Non-finite inputs raise ``ValueError`` when concrete. Under an outer ``jit`` they cannot
    raise: a NaN score then ranks as ``-inf``, below every finite score (the row still has
    ``k`` ones).

    References: arXiv:2501.15453 (RuleAdapter).
    """
    scores_a, scores_b = _validated_pair_scores(scores_a, scores_b)
    num_pairs, num_rules = scores_a.shape
    k = _check_k(k, num_rules)
    if relevance is not None:
        relevance = _checks.as_array("relevance", relevance)
        _checks.check_float_dtype("relevance", relevance)
        if relevance.shape not in ((num_rules,), (num_pairs, num_rules)):
            raise ValueError(
                f"relevance must have shape [K] = ({num_rules},) or [N, K] = "
                f"({num_pairs}, {num_rules}), got {relevance.shape}"
            )
        _checks.check_finite("relevance", relevance)
    _check_alpha(alpha, relevance is not None)
    return _select(scores_a, scores_b, relevance, jnp.asarray(alpha), k)


@functools.partial(jax.jit, static_argnames=("tie_winner", "vote"))
def _label(
    scores_a: jax.Array,
    scores_b: jax.Array,
    selected: jax.Array,
    weights: jax.Array | None,
    key: jax.Array | None,
    tie_winner: str,
    vote: str,
) -> jax.Array:
    arrays = (scores_a, scores_b) if weights is None else (scores_a, scores_b, weights)
    dtype = _checks.common_float_dtype(*arrays)
    # Difference in the float dtype: unsigned integer ratings would wrap around.
    diffs = jnp.where(selected, scores_a.astype(dtype) - scores_b.astype(dtype),
                      jnp.zeros((), dtype))
    if vote == "sign":
        diffs = jnp.sign(diffs)  # -1, 0 or +1: exact in any float dtype
    if weights is None:
        weights = jnp.ones(diffs.shape[-1], dtype)
    margin = certified_margins(diffs, weights)
    if tie_winner == "b":
        on_tie = jnp.zeros(margin.shape, jnp.bool_)
    elif tie_winner == "a":
        on_tie = jnp.ones(margin.shape, jnp.bool_)
    else:
        on_tie = jax.random.bernoulli(key, 0.5, margin.shape)
    return jnp.where(margin == 0, on_tie, margin > 0)


def label_pairs(
    scores_a: Real[ArrayLike, "N K"],
    scores_b: Real[ArrayLike, "N K"],
    selected: Bool[ArrayLike, "N K"],
    *,
    weights: Float[ArrayLike, " K"] | None = None,
    vote: str = "sum",
    tie_winner: str = "b",
    key: PRNGKeyArray | None = None,
) -> Bool[Array, " N"]:
    """Rule-based preference labels from the selected rules of each pair (RuleAdapter).

        m_i = sum_k S_ik w_k v(a_ik - b_ik),   label_i = [m_i > 0]  (A preferred)

    with ``w_k = 1`` when ``weights`` is ``None``, and the vote ``v`` set by ``vote``:

    * ``vote="sum"``: ``v(d) = d``, the (weighted) sum of the selected differences, as the
      reference code sums the selected ratings (the default);
    * ``vote="sign"``: ``v(d) = sign(d)`` in ``{-1, 0, +1}``: each selected rule votes for
      the response it rates higher, and a rule that rates both alike (``d = 0``) abstains.
      With unit weights the label is A iff more selected rules vote A than vote B. This is
      the labeller of the RuleAdapter theorem in ``encore_jax/theory/THEORY.md``: its
      majority-vote corollary is about this rule when every selected rule votes (no
      selected ``d = 0``); the default ``"sum"`` is outside the theorem.

    A pair with ``m_i = 0`` (including a row with no rule selected) is a tie, and
    ``tie_winner`` says which response wins it:

    * ``tie_winner="b"``: B is preferred (``False``), as in the reference code (the default);
    * ``tie_winner="a"``: A is preferred (``True``);
    * ``tie_winner="random"``: a fair coin per pair drawn from ``key``.

    (The name differs from :func:`encore_jax.metrics.accuracy.pairwise_accuracy`'s
    ``tie=``, which is the *credit* a tied margin earns, ``"loss" | "half" | "random"``;
    here a tie must still produce a label.)

    Ties are exact: ``m_i`` is computed by the kernel of
    :func:`encore_jax.compose.pair_margins` on the masked votes ``S_ik v(a_ik - b_ik)``, so a
    margin that is zero in exact arithmetic is a tie whatever the rule order (integer
    ratings with equal weights included), and a decided label always has the sign of the
    exact margin. A true margin within the float rounding bound
    ``~ 2 (K + 1) u sum_k S_ik |w_k v(a_ik - b_ik)|`` is a tie too; for integer ratings (or
    sign votes) without weights that never happens (every non-zero margin is an integer).
    The bound and its conditions are in the :mod:`encore_jax.compose` module docstring.

    Args:
      scores_a: ``a``, ratings or scores of response A ``[N, K]``.
      scores_b: ``b``, ratings or scores of response B ``[N, K]``.
      selected: ``S``, boolean ``[N, K]`` (e.g. from :func:`select_rules`,
        :func:`random_rule_selection` or :func:`all_rules`); rows may keep any number of
        rules.
      weights: optional ``w`` ``[K]``, finite (e.g. ENCORE weights from
        :func:`encore_jax.weights.encore_weights`).
      vote: ``"sum"`` (default: the differences) or ``"sign"`` (their signs; the rule the
        RuleAdapter theorem covers).
      tie_winner: the response that wins a tie: ``"b"``, ``"a"`` or ``"random"``.
      key: PRNG key, required with ``tie_winner="random"`` and only then.

    Returns:
      Boolean labels ``[N]``, ``True`` = A preferred.

    References: arXiv:2501.15453 (RuleAdapter).
    """
    _checks.check_choice("vote", vote, VOTES)
    _checks.check_choice("tie_winner", tie_winner, TIE_WINNERS)
    if (tie_winner == "random") != (key is not None):
        raise ValueError("key is required with tie_winner='random' and only then")
    scores_a, scores_b = _validated_pair_scores(scores_a, scores_b)
    selected = _checks.as_array("selected", selected)
    if selected.dtype != jnp.bool_:
        raise TypeError(f"selected must be boolean (True = rule selected), got {selected.dtype}")
    if selected.shape != scores_a.shape:
        raise ValueError(
            f"selected has shape {selected.shape} but scores_a has shape {scores_a.shape}"
        )
    if weights is not None:
        weights = _checks.as_array("weights", weights)
        if not jnp.issubdtype(weights.dtype, jnp.floating):
            raise TypeError(f"weights must be a float array, got dtype {weights.dtype}")
        _checks.check_ndim("weights", weights, 1, "[K]")
        if weights.shape[0] != scores_a.shape[1]:
            raise ValueError(
                f"weights has shape {weights.shape} but there are K = {scores_a.shape[1]} rules"
            )
        _checks.check_finite("weights", weights)
    return _label(scores_a, scores_b, selected, weights, key, tie_winner, vote)


def _floyd_subset(key: jax.Array, num_pairs: int, num_rules: int, size: int) -> jax.Array:
    """A uniformly random ``size``-subset of the ``K`` rules per row (Floyd's algorithm).

    For ``j = K - size, ..., K - 1``: draw ``t`` uniform on ``0..j``; add ``t`` unless it is
    already in, else add ``j``. Each of the ``C(K, size)`` subsets has probability
    ``1 / C(K, size)``; ``size`` (>= 1) passes over ``[N, K]`` and no sort.
    """
    rules = jnp.arange(num_rules, dtype=jnp.int32)

    def add_one(step: jax.Array, subset: jax.Array) -> jax.Array:
        # int32 throughout: the loop index is int64 under jax_enable_x64, and the rule
        # indices must compare with the draws in one dtype.
        j = (num_rules - size + step).astype(jnp.int32)
        t = jax.random.randint(jax.random.fold_in(key, step), (num_pairs, 1), 0, j + 1,
                               dtype=jnp.int32)
        taken = jnp.any(subset & (rules[None, :] == t), axis=1, keepdims=True)
        return subset | (rules[None, :] == jnp.where(taken, j, t))

    # Step 0 cannot collide, so it starts the loop (and avoids XLA constant-folding a
    # reduction over an all-False constant mask).
    first = jax.random.randint(jax.random.fold_in(key, 0), (num_pairs, 1), 0, num_rules - size + 1,
                               dtype=jnp.int32)
    return jax.lax.fori_loop(1, size, add_one, rules[None, :] == first)


@functools.partial(jax.jit, static_argnames=("num_pairs", "num_rules", "k"))
def _random_selection(key: jax.Array, num_pairs: int, num_rules: int, k: int) -> jax.Array:
    # The complement of a uniform (K - k)-subset is a uniform k-subset: draw the smaller one.
    if k == num_rules:
        return jnp.ones((num_pairs, num_rules), jnp.bool_)
    if 2 * k <= num_rules:
        return _floyd_subset(key, num_pairs, num_rules, k)
    return ~_floyd_subset(key, num_pairs, num_rules, num_rules - k)


def random_rule_selection(
    key: PRNGKeyArray, num_pairs: int, num_rules: int, k: int
) -> Bool[Array, "N K"]:
    """The random-k baseline: for each pair, ``k`` of the ``K`` rules uniformly at random.

    Rows are independent; each row is a uniformly random ``k``-subset (every subset has
    probability ``1 / C(K, k)``), so each row has exactly ``k`` ones.

    Args:
      key: PRNG key.
      num_pairs: ``N`` >= 1.
      num_rules: ``K`` >= 1.
      k: rules kept per pair, ``1 <= k <= K``.

    Returns:
      Boolean mask ``[N, K]``.
    """
    num_pairs = _checks.check_positive_int("num_pairs", num_pairs)
    num_rules = _checks.check_positive_int("num_rules", num_rules)
    k = _check_k(k, num_rules)
    return _random_selection(key, num_pairs, num_rules, k)


def all_rules(num_pairs: int, num_rules: int) -> Bool[Array, "N K"]:
    """The all-rules baseline: every rule selected for every pair, ``S_ik = 1``.

    Args:
      num_pairs: ``N`` >= 1.
      num_rules: ``K`` >= 1.

    Returns:
      Boolean mask ``[N, K]`` of ``True``.
    """
    num_pairs = _checks.check_positive_int("num_pairs", num_pairs)
    num_rules = _checks.check_positive_int("num_rules", num_rules)
    return jnp.ones((num_pairs, num_rules), jnp.bool_)
