"""Label-free rule reliability from agreement between rules (research extension).

Each rule votes on each unlabelled pair: ``v_ik = sign(a_ik - b_ik)`` in ``{+1, -1}``, or
``0`` (abstains) when it ties or did not rate both responses. Two latent-class models of
the votes estimate, without labels, each rule's accuracy ``p_k``: the probability that its
vote, when it votes, agrees with the (hidden) preferred side.

* **One-coin Dawid–Skene** (:func:`dawid_skene_one_coin`). Pair ``i`` has a hidden side
  ``y_i`` in ``{+1, -1}`` with ``P(y_i = +1) = 1/2`` (the pairs a weighting receives are
  coin-flipped, :func:`encore_jax.weightings.unlabelled_pairs`, so the class prior is
  exactly 1/2 and is not fitted). Given ``y_i``, the votes are independent; a voting rule
  ``k`` votes ``y_i`` with probability ``p_k`` (one coin per rule, the same for both
  classes), and whether it abstains does not depend on ``y_i``.
* **Noisy Bradley–Terry skills** (:func:`noisy_bt_skills`). Pair ``i`` has a hidden margin
  ``z_i ~ N(0, 1)`` (the preferred side is ``sign(z_i)``); given ``z_i`` the votes are
  independent and ``P(v_ik = +1 | z_i) = sigmoid(s_k z_i)`` for a voting rule, with skill
  ``s_k`` (any real number; ``s_k < 0`` is a rule that votes against the preference). Easy
  pairs (``|z_i|`` large) are voted correctly more often than hard ones: this is the GLAD
  idea with a continuous difficulty. The rule's accuracy is
  ``p_k = E_z[sigmoid(s_k |z|)]``. The integral over ``z`` uses ``num_nodes``
  Gauss–Hermite nodes of ``N(0, 1)``.

Both are fitted by (generalised) EM with a stopping rule fixed in advance: at most
``max_iterations`` iterations, stopping early once no accuracy moves by more than
``tolerance`` in an iteration. Both start from "every rule better than chance"
(``p_k = init_accuracy``, ``s_k = init_skill``): the likelihood of either model is
unchanged when every ``p_k`` is replaced by ``1 - p_k`` (every ``s_k`` by ``-s_k``), and the
start picks the mode where the rules are, on average, better than chance.

``prior_count`` ``c`` pseudo-votes per rule, half right and half wrong, keep the estimates
inside ``(0, 1)`` (finite log-odds for a rule that never disagrees with the others): for
Dawid–Skene a ``Beta(1 + c, 1 + c)`` prior on ``p_k`` (MAP-EM); for the skill model ``c``
correct and ``c`` wrong votes at the prior's margins, a penalty
``c E_z[log sigmoid(s |z|) + log sigmoid(-s |z|)]``. ``c = 0`` is plain maximum likelihood.

The weights derived from the fit (:func:`accuracy_log_odds`) are ``log(p_k / (1 - p_k))``,
the Bayes-optimal weights of independent voters under the one-coin model; negative for a
rule found worse than chance. Assumptions and what breaks them (families of near-duplicate
rules that agree with each other because they share errors):
``encore_jax/theory/extensions.md``.

Symbols: ``N`` pairs, ``P`` distinct vote patterns, ``K`` rules, ``Q`` quadrature nodes.

References:
  Dawid and Skene (1979), Maximum likelihood estimation of observer error-rates using the EM
  algorithm, Applied Statistics 28(1); Whitehill et al. (2009), Whose vote should count
  more (GLAD), NeurIPS. Not from the ENCORE paper (arXiv:2503.20995).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Integer

from encore_jax import _checks

__all__ = [
    "DEFAULT_INIT_ACCURACY",
    "DEFAULT_INIT_SKILL",
    "DEFAULT_MAX_ITERATIONS",
    "DEFAULT_NUM_NODES",
    "DEFAULT_PRIOR_COUNT",
    "DEFAULT_TOLERANCE",
    "AgreementFit",
    "accuracy_log_odds",
    "dawid_skene_one_coin",
    "merge_vote_patterns",
    "noisy_bt_skills",
    "rule_votes",
    "vote_patterns",
]

DEFAULT_MAX_ITERATIONS = 500
"""The fits stop after this many EM iterations at most."""
DEFAULT_TOLERANCE = 1e-6
"""...or once no rule's accuracy moved by more than this in one iteration."""
DEFAULT_PRIOR_COUNT = 1.0
"""``c``: pseudo-votes per rule, half right, half wrong (``Beta(1 + c, 1 + c)`` for DS)."""
DEFAULT_INIT_ACCURACY = 0.75
"""Dawid–Skene's starting accuracy of every rule (picks the better-than-chance mode)."""
DEFAULT_INIT_SKILL = 1.0
"""The skill model's starting skill of every rule (accuracy about 0.70)."""
DEFAULT_NUM_NODES = 24
"""Gauss–Hermite nodes for the skill model's integral over the latent margin."""
_MIN_ROWS = 64  # vote tables are padded to a power of two >= this: one compile per size class
_RULE_BLOCK = 8  # ... and to a multiple of this many rules


class AgreementFit(NamedTuple):
    """A fitted agreement model.

    Attributes:
      accuracy: ``[K]`` estimated ``p_k`` (``1/2`` for a rule that never votes).
      log_odds: ``[K]`` ``log(p_k / (1 - p_k))``, the weights (0 for a rule that never votes).
      skill: ``[K]`` skills ``s_k`` of the noisy Bradley–Terry model; for Dawid–Skene the
        log-odds again (its "skill" on the votes' log-likelihood-ratio scale).
      log_likelihood: the marginal log-likelihood of the votes at the fit (without the
        prior's pseudo-votes), summed over pairs.
      iterations: EM iterations run.
      converged: ``True`` if the fit stopped on ``tolerance`` before ``max_iterations``.
    """

    accuracy: Float[Array, " K"]
    log_odds: Float[Array, " K"]
    skill: Float[Array, " K"]
    log_likelihood: Float[Array, ""]
    iterations: Int[Array, ""]
    converged: Bool[Array, ""]


def rule_votes(
    pair_a: Integer[ArrayLike, "N K"], pair_b: Integer[ArrayLike, "N K"],
    pair_mask: Bool[ArrayLike, "N K"] | None = None,
) -> Int[Array, "N K"]:
    """Votes ``v_ik = sign(a_ik - b_ik)`` (int8): ``+1`` rule ``k`` prefers side a of pair
    ``i``, ``-1`` side b, ``0`` a tie or a rule that did not rate both sides (``pair_mask``
    ``False``; ``None`` = all rated)."""
    pair_a, pair_b = jnp.asarray(pair_a), jnp.asarray(pair_b)
    _checks.check_ndim("pair_a", pair_a, 2, "[N, K]")
    _checks.check_same_shape("pair_a", pair_a, "pair_b", pair_b)
    votes = jnp.sign(pair_a.astype(jnp.int32) - pair_b.astype(jnp.int32)).astype(jnp.int8)
    if pair_mask is not None:
        votes = jnp.where(jnp.asarray(pair_mask), votes, jnp.int8(0))
    return votes


def vote_patterns(votes: Integer[ArrayLike, "N K"]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct vote patterns up to a global sign, with their counts (host NumPy).

    Both models give a pattern ``v`` and its mirror ``-v`` the same likelihood (their class
    prior is symmetric), so each row is replaced by its canonical sign (first non-zero vote
    ``+1``) and equal rows are counted once. The result is therefore the same for a pair
    and for the pair with its sides swapped: the patterns of ``(chosen, rejected)`` equal
    those of any fair-coin order of them. Rows where every rule abstains carry no
    information about any rule and are dropped. The table is additive over chunks of pairs
    (:func:`merge_vote_patterns`); its size is at most ``min(N, (3^K - 1) / 2)`` rows.

    Returns:
      ``(patterns [P, K] int8, counts [P] int64)``, patterns in lexicographic order.
    """
    votes = np.asarray(votes, np.int8)
    if votes.ndim != 2:
        raise ValueError(f"votes must be [N, K], got shape {votes.shape}")
    nonzero = votes != 0
    first = np.argmax(nonzero, axis=1)
    sign = votes[np.arange(votes.shape[0]), first]
    keep = nonzero.any(axis=1)
    canonical = votes[keep] * sign[keep, None]
    if canonical.shape[0] == 0:
        return np.zeros((0, votes.shape[1]), np.int8), np.zeros(0, np.int64)
    patterns, counts = np.unique(canonical, axis=0, return_counts=True)
    return patterns.astype(np.int8), counts.astype(np.int64)


def merge_vote_patterns(*tables: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Sums pattern tables of :func:`vote_patterns` (chunks of one set of pairs)."""
    if not tables:
        raise ValueError("merge_vote_patterns needs at least one (patterns, counts) table")
    patterns = np.concatenate([np.asarray(p, np.int8) for p, _ in tables])
    counts = np.concatenate([np.asarray(c, np.int64) for _, c in tables])
    if patterns.shape[0] == 0:
        return patterns, counts
    unique, inverse = np.unique(patterns, axis=0, return_inverse=True)
    return unique, np.bincount(inverse.reshape(-1), weights=counts).astype(np.int64)


def _padded(votes: ArrayLike, counts: ArrayLike | None) -> tuple[jax.Array, jax.Array]:
    """float32 votes and counts padded with zero-count rows to a power of two."""
    votes = np.asarray(votes)
    if votes.ndim != 2 or votes.shape[1] == 0:
        raise ValueError(f"votes must be [N, K] with K >= 1, got shape {votes.shape}")
    if not np.isin(votes, (-1, 0, 1)).all():
        raise ValueError("votes must hold only -1, 0 and +1 (use rule_votes to build them)")
    counts = np.ones(votes.shape[0]) if counts is None else np.asarray(counts, np.float64)
    if counts.shape != (votes.shape[0],) or not np.all(np.isfinite(counts)) or (counts < 0).any():
        raise ValueError(f"counts must be [N] = [{votes.shape[0]}] finite non-negative "
                         f"numbers, got shape {counts.shape}")
    rows = max(_MIN_ROWS, 1 << int(np.ceil(np.log2(max(votes.shape[0], 1)))))
    # Rules that never vote change no other rule's estimate (their abstentions contribute
    # nothing to any E- or M-step sum): padding K to a multiple of 8 is exact.
    columns = -(-votes.shape[1] // _RULE_BLOCK) * _RULE_BLOCK
    padded_votes = np.zeros((rows, columns), np.float32)
    padded_votes[:votes.shape[0], :votes.shape[1]] = votes
    padded_counts = np.zeros(rows, np.float32)
    padded_counts[:votes.shape[0]] = counts
    return jnp.asarray(padded_votes), jnp.asarray(padded_counts)


def _check_options(prior_count: float, max_iterations: int, tolerance: float) -> None:
    _checks.check_scalar("prior_count", prior_count, at_least=0.0)
    if not isinstance(max_iterations, int | np.integer) or max_iterations < 1:
        raise ValueError(f"max_iterations must be an int >= 1, got {max_iterations!r}")
    _checks.check_scalar("tolerance", tolerance, at_least=0.0)


def accuracy_log_odds(accuracy: Float[ArrayLike, " K"]) -> Float[Array, " K"]:
    """``log(p / (1 - p))``, the Bayes-optimal weight of an independent voter of accuracy
    ``p`` (``log1p`` keeps it accurate near ``p = 1``)."""
    accuracy = jnp.asarray(accuracy, jnp.float32)
    return jnp.log(accuracy) - jnp.log1p(-accuracy)


@functools.partial(jax.jit, static_argnames=("max_iterations",))
def _dawid_skene(votes, counts, prior_count, tolerance, init, max_iterations):
    weighted_pos = jnp.where(votes > 0, 1.0, 0.0) * counts[:, None]
    weighted_neg = jnp.where(votes < 0, 1.0, 0.0) * counts[:, None]
    voted = jnp.sum(weighted_pos + weighted_neg, axis=0)
    denominator = voted + 2.0 * prior_count

    def posterior(p):  # q_i = P(y_i = +1 | v_i) = sigmoid(sum_k v_ik lambda_k)
        return jax.nn.sigmoid(votes @ accuracy_log_odds(p))

    def update(p):  # expected correct votes (plus c pseudo) over expected votes (plus 2c)
        q = posterior(p)
        correct = q @ weighted_pos + (1.0 - q) @ weighted_neg
        return jnp.where(denominator > 0, (correct + prior_count)
                         / jnp.where(denominator > 0, denominator, 1.0), 0.5)

    def cond(state):
        i, _, delta = state
        return (i < max_iterations) & (delta > tolerance)

    def body(state):
        i, p, _ = state
        new = update(p)
        return i + 1, new, jnp.max(jnp.abs(new - p))

    p0 = jnp.where(voted > 0, init, 0.5).astype(jnp.float32)
    iterations, p, delta = jax.lax.while_loop(cond, body, (0, p0, jnp.float32(jnp.inf)))
    log_p, log_q = jnp.log(p), jnp.log1p(-p)
    plus = jnp.where(votes > 0, 1.0, 0.0) @ log_p + jnp.where(votes < 0, 1.0, 0.0) @ log_q
    minus = jnp.where(votes < 0, 1.0, 0.0) @ log_p + jnp.where(votes > 0, 1.0, 0.0) @ log_q
    log_likelihood = jnp.sum(counts * (jnp.logaddexp(plus, minus) - jnp.log(2.0)))
    return p, log_likelihood, iterations, delta <= tolerance


def dawid_skene_one_coin(
    votes: Integer[ArrayLike, "N K"],
    counts: Float[ArrayLike, " N"] | None = None,
    *,
    prior_count: float = DEFAULT_PRIOR_COUNT,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    tolerance: float = DEFAULT_TOLERANCE,
    init_accuracy: float = DEFAULT_INIT_ACCURACY,
) -> AgreementFit:
    """One-coin Dawid–Skene with a symmetric class prior, fitted by (MAP) EM.

    Model (module docstring): ``P(y_i = +1) = 1/2``; a voting rule ``k`` votes ``y_i``
    with probability ``p_k``; abstentions (``v_ik = 0``, ties) carry no information. EM:

        E:  q_i = sigmoid(sum_k v_ik lambda_k),   lambda_k = log(p_k / (1 - p_k))
        M:  p_k = (c + sum_i n_i [q_i [v_ik = +1] + (1 - q_i) [v_ik = -1]])
                  / (2 c + sum_i n_i [v_ik != 0])

    with ``n_i`` the row counts (``counts``) and ``c`` = ``prior_count``; a rule that never
    votes keeps ``p_k = 1/2``. Stops after ``max_iterations`` iterations or when
    ``max_k |p_k(new) - p_k(old)| <= tolerance``, whichever comes first. Runs under
    ``jax.jit`` (a ``lax.while_loop``); one compile per padded size (rows are padded to a
    power of two, at least 64, with zero counts; rules to a multiple of 8 with rules that
    never vote, which changes no estimate) and ``max_iterations``.

    Args:
      votes: ``[N, K]`` in ``{-1, 0, +1}`` (:func:`rule_votes`), or distinct patterns
        (:func:`vote_patterns`) with their ``counts``.
      counts: ``[N]`` non-negative row counts (``None`` = 1 each).
      prior_count: ``c >= 0`` (``Beta(1 + c, 1 + c)`` on each ``p_k``; 0 = maximum
        likelihood, where a rule that never disagrees gets ``p_k = 1`` and infinite
        log-odds).
      max_iterations, tolerance: the stopping rule.
      init_accuracy: ``p_k`` at the start, in ``(1/2, 1)``.

    Returns:
      :class:`AgreementFit` (``skill`` = ``log_odds``).
    """
    _check_options(prior_count, max_iterations, tolerance)
    _checks.check_scalar("init_accuracy", init_accuracy, above=0.5, below=1.0)
    padded_votes, padded_counts = _padded(votes, counts)
    p, log_likelihood, iterations, converged = _dawid_skene(
        padded_votes, padded_counts, jnp.float32(prior_count), jnp.float32(tolerance),
        jnp.float32(init_accuracy), int(max_iterations))
    p = p[:np.shape(votes)[1]]
    log_odds = accuracy_log_odds(p)
    return AgreementFit(p, log_odds, log_odds, log_likelihood, iterations, converged)


def gauss_hermite_normal(num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (summing to 1) of ``num_nodes``-point Gauss–Hermite quadrature
    for ``E[f(z)]``, ``z ~ N(0, 1)``."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(num_nodes)
    return nodes, weights / weights.sum()


def _log_sigmoid_votes(skill, nodes, votes):
    """``[N, Q]``: ``sum_k |v_ik| log sigmoid(s_k z_q v_ik)`` (abstentions add 0)."""
    pos = jnp.where(votes > 0, 1.0, 0.0)
    neg = jnp.where(votes < 0, 1.0, 0.0)
    arg = skill[:, None] * nodes[None, :]  # [K, Q]
    return pos @ jax.nn.log_sigmoid(arg) + neg @ jax.nn.log_sigmoid(-arg)


@functools.partial(jax.jit, static_argnames=("max_iterations",))
def _bt_skills(votes, counts, nodes, node_weights, prior_count, tolerance, init,
               max_iterations):
    pos = jnp.where(votes > 0, 1.0, 0.0) * counts[:, None]
    neg = jnp.where(votes < 0, 1.0, 0.0) * counts[:, None]
    abs_nodes = jnp.abs(nodes)

    def accuracy(skill):
        return jax.nn.sigmoid(skill[:, None] * abs_nodes[None, :]) @ node_weights

    def newton(skill, a, b):
        # Maximises sum_q a_kq log sig(s z_q) + b_kq log sig(-s z_q)
        #   + c sum_q pi_q (log sig(s |z_q|) + log sig(-s |z_q|))   (concave in s).
        sig = jax.nn.sigmoid(skill[:, None] * nodes[None, :])
        sig_abs = jax.nn.sigmoid(skill[:, None] * abs_nodes[None, :])
        z, pi, z_abs = nodes[None, :], node_weights[None, :], abs_nodes[None, :]
        grad = jnp.sum(z * (a * (1.0 - sig) - b * sig), axis=1) + prior_count * jnp.sum(
            pi * z_abs * (1.0 - 2.0 * sig_abs), axis=1)
        curvature = jnp.sum(z ** 2 * sig * (1.0 - sig) * (a + b), axis=1) + (
            2.0 * prior_count * jnp.sum(pi * z_abs ** 2 * sig_abs * (1.0 - sig_abs), axis=1))
        step = grad / jnp.maximum(curvature, jnp.finfo(jnp.float32).tiny)
        # Trust region: a Newton step of a logistic objective can overshoot far from the
        # optimum; |step| <= 1 keeps each update in the region where the model is accurate.
        return skill + jnp.clip(step, -1.0, 1.0)

    def update(skill):
        log_post = _log_sigmoid_votes(skill, nodes, votes) + jnp.log(node_weights)[None, :]
        post = jax.nn.softmax(log_post, axis=1)  # [N, Q] posterior over the margin nodes
        a, b = pos.T @ post, neg.T @ post  # [K, Q] expected votes for / against z_q > 0
        for _ in range(3):  # three Newton steps on the concave M-step objective
            skill = newton(skill, a, b)
        return skill

    def cond(state):
        i, _, delta = state
        return (i < max_iterations) & (delta > tolerance)

    def body(state):
        i, skill, _ = state
        new = update(skill)
        return i + 1, new, jnp.max(jnp.abs(accuracy(new) - accuracy(skill)))

    voted = jnp.sum(pos + neg, axis=0)
    s0 = jnp.where(voted > 0, init, 0.0).astype(jnp.float32)
    iterations, skill, delta = jax.lax.while_loop(cond, body, (0, s0, jnp.float32(jnp.inf)))
    log_marginal = jax.nn.logsumexp(
        _log_sigmoid_votes(skill, nodes, votes) + jnp.log(node_weights)[None, :], axis=1)
    return skill, accuracy(skill), jnp.sum(counts * log_marginal), iterations, \
        delta <= tolerance


def noisy_bt_skills(
    votes: Integer[ArrayLike, "N K"],
    counts: Float[ArrayLike, " N"] | None = None,
    *,
    prior_count: float = DEFAULT_PRIOR_COUNT,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    tolerance: float = DEFAULT_TOLERANCE,
    init_skill: float = DEFAULT_INIT_SKILL,
    num_nodes: int = DEFAULT_NUM_NODES,
) -> AgreementFit:
    """Noisy Bradley–Terry skills of the rules, fitted by generalised EM.

    Model (module docstring): ``z_i ~ N(0, 1)``; given ``z_i`` a voting rule ``k`` votes
    ``+1`` with probability ``sigmoid(s_k z_i)``, independently of the other rules;
    abstentions carry no information. The marginal likelihood of the votes of pair ``i`` is

        P(v_i) = E_z[ prod_{k : v_ik != 0} sigmoid(s_k z v_ik) ]

    with the expectation over ``z ~ N(0, 1)`` by ``num_nodes``-point Gauss–Hermite
    quadrature (nodes ``z_q``, weights ``pi_q``). E-step: the posterior ``r_iq`` of node
    ``q`` given ``v_i``. M-step: for each rule, three Newton steps (each at most 1 in
    absolute value) on the concave objective
    ``sum_i n_i sum_q r_iq |v_ik| log sigmoid(s_k z_q v_ik)`` plus the pseudo-vote penalty
    ``c sum_q pi_q [log sigmoid(s_k |z_q|) + log sigmoid(-s_k |z_q|)]``. Accuracy
    ``p_k = sum_q pi_q sigmoid(s_k |z_q|)`` (the probability that a vote agrees with
    ``sign(z)``). Stops after ``max_iterations`` iterations or when no ``p_k`` moved by more
    than ``tolerance``. Runs under ``jax.jit``; one compile per padded size and option set.

    Args:
      votes, counts, prior_count, max_iterations, tolerance: as
        :func:`dawid_skene_one_coin`.
      init_skill: ``s_k`` at the start, ``> 0``.
      num_nodes: quadrature nodes ``Q`` (>= 2).

    Returns:
      :class:`AgreementFit` with ``skill`` = ``s``; a rule that never votes has ``s = 0``,
      ``p = 1/2``.
    """
    _check_options(prior_count, max_iterations, tolerance)
    _checks.check_scalar("init_skill", init_skill, above=0.0)
    if not isinstance(num_nodes, int | np.integer) or num_nodes < 2:
        raise ValueError(f"num_nodes must be an int >= 2, got {num_nodes!r}")
    padded_votes, padded_counts = _padded(votes, counts)
    nodes, node_weights = gauss_hermite_normal(int(num_nodes))
    skill, p, log_likelihood, iterations, converged = _bt_skills(
        padded_votes, padded_counts, jnp.asarray(nodes, jnp.float32),
        jnp.asarray(node_weights, jnp.float32), jnp.float32(prior_count),
        jnp.float32(tolerance), jnp.float32(init_skill), int(max_iterations))
    skill, p = skill[:np.shape(votes)[1]], p[:np.shape(votes)[1]]
    return AgreementFit(p, accuracy_log_odds(p), skill, log_likelihood, iterations, converged)
