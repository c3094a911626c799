"""The weighting extension point: user-defined rule weightings next to ENCORE and uniform.

A *weighting* is a function from :class:`WeightingData` (what a weighting may look at: the
calibration ratings and, if the caller has them, unlabelled pairs) to ``K`` finite weights,
one per rule: non-negative, unless the weighting declares that it may return signed weights
(:func:`signed_weighting`, checked by :func:`returns_signed_weights`). It never sees the
preference labels: the pairs it gets carry their two responses in an order decided by a
fair coin (:func:`unlabelled_pairs`).
The workflows :func:`~encore_jax.compare_methods` and :func:`~encore_jax.diagnose_premise` /
:func:`~encore_jax.diagnose_file` (and the CLI's ``--weighting SPEC``) accept extra
weightings and report them against every built-in one.

Symbols: ``M`` calibration responses, ``N`` unlabelled pairs, ``K`` rules, ``L`` rating
levels ``0..L-1``; ``H_k`` the plug-in rating entropy of rule ``k`` (nats), ``t_k`` its tie
rate (the share of unlabelled pairs whose two responses it rates equal), ``tau`` the
temperature (``temperature``).

Example, a user-defined weighting (a function of :class:`WeightingData` returning ``[K]``
weights) passed to the workflows by object or, on the command line, by import path::

    import jax.numpy as jnp
    from encore_jax.entropy import rating_entropy

    def inverse_entropy(data):
        # w_k = 1 / (1 + H_k): a gentler entropy penalty than ENCORE's softmax.
        entropy = rating_entropy(data.ratings, data.num_levels, mask=data.mask)
        return 1.0 / (1.0 + entropy)

    compare_methods(key, pairs, num_levels, weightings={"inverse_entropy": inverse_entropy})
    diagnose_premise(key, chosen, rejected, num_levels,
                     weightings={"inverse_entropy": inverse_entropy})
    # encore-jax compare ... --weighting mypackage.mymodule:inverse_entropy

Built-ins (:func:`builtin_weightings`): ``"encore"`` (ENCORE, arXiv 2503.20995),
``"uniform"``, and two research extensions, not from the ENCORE paper, robust to the base
rate of rare flags (rationale and simulation study in ``encore_jax/theory/extensions.md``):
``"research_decisive_encore"`` (:func:`decisive_encore_weights`, ENCORE times the decisive
share ``1 - t_k``) and ``"research_decisive_entropy"`` (:func:`decisive_entropy_weights`,
ENCORE on the entropy of the ratings of the pairs each rule decides); and two label-free
agreement models that estimate each rule's accuracy ``p_k`` from how the rules' votes agree
on the unlabelled pairs (:mod:`encore_jax.agreement`), weighting it by the log-odds
``log(p_k / (1 - p_k))`` (signed: negative for a rule found worse than chance):
``"research_agreement_dawid_skene"`` (:func:`agreement_dawid_skene_weights`, one-coin
Dawid–Skene) and ``"research_agreement_bt"`` (:func:`agreement_bt_weights`, noisy
Bradley–Terry skills). These two need unlabelled pairs.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, Integer, PRNGKeyArray

from encore_jax import _checks
from encore_jax.agreement import rule_votes, vote_patterns
from encore_jax.entropy import entropy_from_counts, rating_histogram
from encore_jax.weighting_stats import (
    BuiltinStats,
    agreement_bt_from_patterns,
    agreement_dawid_skene_from_patterns,
    builtin_weights_from_stats,
    collision_tie_rates,
    decisive_encore_from_stats,
    decisive_entropies_from_counts,
    decisive_entropy_from_counts,
    encore_from_counts,
    independent_draw_decisive_counts,
    pair_decisive_counts,
    pair_tie_counts,
    tie_rates_from_counts,
)
from encore_jax.weights import DEFAULT_TEMPERATURE, uniform_weights

__all__ = [
    "EXTENSION_NAMES",
    "AGREEMENT_NAMES",
    "BuiltinStats",
    "Weighting",
    "WeightingData",
    "agreement_bt_weights",
    "agreement_dawid_skene_weights",
    "apply_weightings",
    "builtin_stats",
    "builtin_weightings",
    "builtin_weights_from_stats",
    "collision_tie_rates",
    "decisive_counts",
    "decisive_encore_weights",
    "decisive_encore_from_stats",
    "decisive_entropies",
    "decisive_entropies_from_counts",
    "decisive_entropy_from_counts",
    "decisive_entropy_weights",
    "encore_from_counts",
    "independent_draw_decisive_counts",
    "pair_decisive_counts",
    "pair_tie_counts",
    "resolve_weighting",
    "returns_signed_weights",
    "signed_weighting",
    "tie_rates",
    "tie_rates_from_counts",
    "unlabelled_pairs",
    "vote_table",
]


class WeightingData(NamedTuple):
    """What a weighting may look at: never the preference labels.

    Attributes:
      ratings: integer levels ``[M, K]`` in ``0..L-1`` on the calibration responses.
      mask: boolean ``[M, K]``, ``True`` = observed; ``None`` = all observed.
      num_levels: ``L`` (a Python ``int``).
      pair_a, pair_b: integer levels ``[N, K]`` of the two responses of ``N`` unlabelled
        pairs, in an order that carries no label (:func:`unlabelled_pairs` swaps each pair's
        sides by a fair coin); ``None`` when the caller has no pairs.
      pair_mask: boolean ``[N, K]``, ``True`` = the rule rated both responses; ``None`` = all.
    """

    ratings: Int[Array, "M K"]
    mask: Bool[Array, "M K"] | None
    num_levels: int
    pair_a: Int[Array, "N K"] | None = None
    pair_b: Int[Array, "N K"] | None = None
    pair_mask: Bool[Array, "N K"] | None = None

    @property
    def num_rules(self) -> int:
        """``K``, the number of rules (columns of ``ratings``)."""
        return int(self.ratings.shape[1])


Weighting = Callable[[WeightingData], Float[Array, " K"]]
"""A function ``WeightingData -> [K]`` finite weights, non-negative unless the function is
marked by :func:`signed_weighting` (any scale: callers use them as given, and a composite's
pairwise accuracy depends only on their direction)."""

EXTENSION_NAMES: tuple[str, ...] = (
    "research_decisive_encore", "research_decisive_entropy",
    "research_agreement_dawid_skene", "research_agreement_bt")
"""Names of the built-in research extensions (not from the ENCORE paper)."""

AGREEMENT_NAMES: tuple[str, ...] = ("research_agreement_dawid_skene", "research_agreement_bt")
"""The agreement built-ins: they need unlabelled pairs, and may return negative weights (a
rule found worse than chance; both are marked by :func:`signed_weighting`)."""

_SIGNED_ATTRIBUTE = "signed_weights"


def signed_weighting(weighting: Weighting) -> Weighting:
    """Marks ``weighting`` as one that may return negative weights and returns it.

    :func:`apply_weightings` rejects a negative weight from any weighting not so marked
    (a negative weight reverses a rule: it must be a declared intention, not a bug). Use as
    a decorator, or on a ``functools.partial``; sets the attribute ``signed_weights = True``.
    """
    if not callable(weighting):
        raise TypeError(f"signed_weighting needs a callable, got {type(weighting).__name__}")
    setattr(weighting, _SIGNED_ATTRIBUTE, True)
    return weighting


def returns_signed_weights(weighting: Weighting) -> bool:
    """``True`` if ``weighting`` was marked by :func:`signed_weighting`."""
    return getattr(weighting, _SIGNED_ATTRIBUTE, False) is True


def unlabelled_pairs(
    key: PRNGKeyArray,
    chosen: Integer[Array, "N K"],
    rejected: Integer[Array, "N K"],
    mask: Bool[Array, "N K"] | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array | None]:
    """Hides the labels of preference pairs: each pair's sides are swapped by a fair coin.

    Args:
      key: PRNG key; coin ``i`` decides pair ``i``.
      chosen, rejected: ``[N, K]`` ratings of the preferred and of the other response.
      mask: optional boolean ``[N, K]``, ``True`` = the rule rated both responses.

    Returns:
      ``(pair_a, pair_b, pair_mask)``: ``pair_a`` is ``chosen`` where the coin is heads and
      ``rejected`` otherwise, ``pair_b`` the other side; ``pair_mask`` is ``mask`` (``None``
      stays ``None``). Swapping ``chosen`` and ``rejected`` under the same key gives the same
      pairs with their sides exchanged, which a side-symmetric weighting cannot tell apart.
    """
    chosen = _checks.as_array("chosen", chosen)
    rejected = _checks.as_array("rejected", rejected)
    _checks.check_ndim("chosen", chosen, 2, "[N, K]")
    _checks.check_same_shape("chosen", chosen, "rejected", rejected)
    mask = _checks.check_mask(mask, chosen.shape)
    heads = jax.random.bernoulli(key, 0.5, (chosen.shape[0],))[:, None]
    return jnp.where(heads, chosen, rejected), jnp.where(heads, rejected, chosen), mask


def _validated_data(data: WeightingData) -> WeightingData:
    """Checks shapes, dtypes and levels of ``data``; the error names the field."""
    if not isinstance(data, WeightingData):
        raise TypeError(f"data must be a WeightingData, got {type(data).__name__}")
    ratings = _checks.as_array("ratings", data.ratings)
    _checks.check_ndim("ratings", ratings, 2, "[M, K]")
    _checks.check_integer_dtype("ratings", ratings)
    if ratings.shape[1] == 0:
        raise ValueError("ratings has no rules (shape [M, 0]); at least one rule is needed")
    num_levels = _checks.check_num_levels(data.num_levels)
    mask = _checks.check_mask(data.mask, ratings.shape)
    _checks.check_levels_in_range("ratings", ratings, num_levels, mask)
    if (data.pair_a is None) != (data.pair_b is None):
        raise ValueError("pair_a and pair_b must both be given or both be None")
    pair_a = pair_b = pair_mask = None
    if data.pair_a is not None:
        pair_a = _checks.as_array("pair_a", data.pair_a)
        pair_b = _checks.as_array("pair_b", data.pair_b)
        _checks.check_ndim("pair_a", pair_a, 2, "[N, K]")
        _checks.check_integer_dtype("pair_a", pair_a)
        _checks.check_integer_dtype("pair_b", pair_b)
        _checks.check_same_shape("pair_a", pair_a, "pair_b", pair_b)
        if pair_a.shape[1] != ratings.shape[1]:
            raise ValueError(
                f"pair_a has K = {pair_a.shape[1]} rules but ratings has K = "
                f"{ratings.shape[1]}; both must hold the same rules in the same order")
        if data.pair_mask is not None:
            pair_mask = _checks.as_array("pair_mask", data.pair_mask)
            if pair_mask.dtype != jnp.bool_ or pair_mask.shape != pair_a.shape:
                raise ValueError(
                    f"pair_mask must be boolean with the shape of pair_a {pair_a.shape}, got "
                    f"{pair_mask.dtype} {pair_mask.shape}")
        _checks.check_levels_in_range("pair_a", pair_a, num_levels, pair_mask)
        _checks.check_levels_in_range("pair_b", pair_b, num_levels, pair_mask)
    return WeightingData(ratings, mask, num_levels, pair_a, pair_b, pair_mask)


# --------------------------------------------------------------------------------------------
# The built-ins on WeightingData (each through its statistics above)
# --------------------------------------------------------------------------------------------


def _calibration_counts(data: WeightingData) -> jax.Array:
    counts = rating_histogram(data.ratings, data.num_levels, mask=data.mask)
    _checks.check_rules_observed(counts, "ratings")
    return counts


def tie_rates(data: WeightingData) -> Float[Array, " K"]:
    """Tie rate ``t_k`` of each rule, from unlabelled information only.

    With unlabelled pairs: ``t_k`` = the share of the pairs rated by rule ``k`` on both sides
    (``pair_mask``) whose two ratings are equal (:func:`pair_tie_counts`,
    :func:`tie_rates_from_counts`). Without pairs: the tie probability of two independent
    draws from the rule's calibration rating distribution (:func:`collision_tie_rates`).
    Both are symmetric in the two sides of a pair.

    Raises:
      ValueError: a rule rated on neither side of any pair, or never observed.
    """
    data = _validated_data(data)
    if data.pair_a is None:
        return collision_tie_rates(_calibration_counts(data))
    return tie_rates_from_counts(*pair_tie_counts(data.pair_a, data.pair_b, data.pair_mask))


def decisive_counts(data: WeightingData) -> Float[Array, "K L"]:
    """The decisive level counts of ``data`` (float32): :func:`pair_decisive_counts` with
    unlabelled pairs, :func:`independent_draw_decisive_counts` of the calibration counts
    without."""
    data = _validated_data(data)
    if data.pair_a is None:
        return independent_draw_decisive_counts(_calibration_counts(data))
    return pair_decisive_counts(data.pair_a, data.pair_b, data.pair_mask,
                                data.num_levels).astype(jnp.float32)


def builtin_stats(data: WeightingData) -> BuiltinStats:
    """The :class:`BuiltinStats` of ``data`` (``vote_patterns`` is ``None`` without pairs)."""
    data = _validated_data(data)
    votes = None if data.pair_a is None else vote_table(data)
    return BuiltinStats(_calibration_counts(data), tie_rates(data), decisive_counts(data),
                        votes)


def decisive_encore_weights(
    data: WeightingData, temperature: float = DEFAULT_TEMPERATURE
) -> Float[Array, " K"]:
    """Decisiveness-weighted ENCORE (research extension, not from the ENCORE paper).

        w_k ∝ (1 - t_k) exp(-H_k / tau),   normalised to sum to 1,

    with ``H_k`` the plug-in entropy (nats) of rule ``k``'s calibration ratings (ENCORE's),
    ``t_k`` its tie rate (:func:`tie_rates`: from the unlabelled pairs, or the collision
    probability of its ratings without pairs) and ``tau`` = ``temperature``. ``1 - t_k`` is
    the rule's decisive share: the population Bradley–Terry gradient of rule ``k`` at
    ``w = 0`` is ``(1/2) E[d_k] = (1/2)(1 - t_k) E[d_k | d_k != 0]``, so a rule's expected
    contribution scales with the share of pairs it decides; ENCORE's ``exp(-H/tau)`` stands
    in for the per-decision signal. A rare flag (0 on almost every response) has a low
    entropy *because* it is rare; here its weight shrinks with its decisive share instead.

    Guarantees (label-free, exact): a rule that ties on every pair gets weight exactly 0;
    the weights do not depend on which side of a pair is which, nor on the labels; rules
    with equal tie rates keep ENCORE's ratios. If every rule ties on every pair, every
    weight is 0 (every composite then ties). Rationale, assumptions and limits:
    ``encore_jax/theory/extensions.md``. Computed by :func:`decisive_encore_from_stats`.

    Args:
      data: :class:`WeightingData`.
      temperature: ``tau`` > 0 (ENCORE's default 2).

    Returns:
      Weights ``[K]``, non-negative, summing to 1 (or all 0).
    """
    _checks.check_temperature(temperature)
    data = _validated_data(data)
    entropies = entropy_from_counts(jnp.asarray(_calibration_counts(data), jnp.float32))
    return decisive_encore_from_stats(entropies, tie_rates(data), temperature)


def decisive_entropies(data: WeightingData) -> tuple[jax.Array, jax.Array]:
    """Entropy of each rule's ratings on the pairs it decides: ``(H_dec [K], decides [K])``.

    With unlabelled pairs: ``H_dec_k`` is the plug-in entropy (nats) of the pooled ratings of
    both responses of the pairs rated by rule ``k`` on both sides with ``a_k != b_k``. Without
    pairs: the same for two independent draws from the calibration distribution ``q_k``,
    whose decisive-pair rating distribution is ``q_kl (1 - q_kl) / sum_m q_km (1 - q_km)``.
    ``decides[k]`` is ``False`` for a rule that decides no pair (one level only); its
    ``H_dec`` is then a placeholder (``log L``) and must not be used.

    For a rare flag (level "not fired" with probability ``1 - p``, fired levels ``p r_l``),
    half of the decisive ratings are "not fired" as ``p -> 0``: ``H_dec -> log 2 + H(r) / 2``,
    whatever the base rate, where the pooled entropy ``-> 0``.
    """
    return decisive_entropies_from_counts(decisive_counts(data))


def decisive_entropy_weights(
    data: WeightingData, temperature: float = DEFAULT_TEMPERATURE
) -> Float[Array, " K"]:
    """ENCORE on decisive-pair entropies (research extension, not from the ENCORE paper).

        w_k ∝ exp(-H_dec_k / tau)  for rules that decide at least one pair,  w_k = 0 otherwise,

    normalised to sum to 1, with ``H_dec_k`` from :func:`decisive_entropies` (the entropy of
    the ratings on the pairs rule ``k`` decides) and ``tau`` = ``temperature``. ENCORE's
    premise (consistent raters, low entropy) is applied where the rule can move a margin:
    a rare flag's low pooled entropy comes from its base rate and disappears here, while a
    graded rule that rarely ties keeps nearly its ENCORE entropy. Unlike
    :func:`decisive_encore_weights`, a reliable rare flag is not discounted for being rare.

    Guarantees (label-free, exact): a rule that decides no pair gets weight exactly 0; the
    weights depend neither on which side of a pair is which nor on the labels; they lie in
    ``[0, 1]`` and sum to 1 unless no rule decides any pair (then all are 0). Rationale and
    limits: ``encore_jax/theory/extensions.md``. Computed by
    :func:`decisive_entropy_from_counts`.

    Args:
      data: :class:`WeightingData`.
      temperature: ``tau`` > 0 (ENCORE's default 2).

    Returns:
      Weights ``[K]``.
    """
    _checks.check_temperature(temperature)
    return decisive_entropy_from_counts(decisive_counts(data), temperature)


def vote_table(data: WeightingData) -> tuple[np.ndarray, np.ndarray]:
    """The agreement models' statistic of ``data``: the distinct vote patterns of the
    unlabelled pairs up to a global sign, with counts
    (:func:`encore_jax.agreement.vote_patterns` of :func:`encore_jax.agreement.rule_votes`;
    ties and unrated rules abstain).

    Raises:
      ValueError: ``data`` has no unlabelled pairs (``pair_a`` is ``None``).
    """
    data = _validated_data(data)
    if data.pair_a is None:
        raise ValueError(
            "the agreement weightings (research_agreement_*) need unlabelled pairs: "
            "WeightingData.pair_a / pair_b are None; pass pairs (unlabelled_pairs) or leave "
            "these weightings out")
    return vote_patterns(rule_votes(data.pair_a, data.pair_b, data.pair_mask))


@signed_weighting
def agreement_dawid_skene_weights(data: WeightingData) -> Float[Array, " K"]:
    """Log-odds of each rule's accuracy under one-coin Dawid–Skene (research extension).

        w_k = log(p_k / (1 - p_k)),

    with ``p_k`` the MAP-EM accuracy of rule ``k``'s votes ``sign(a_k - b_k)`` on the
    unlabelled pairs (ties and unrated sides abstain) under the one-coin model with class
    prior 1/2 (:func:`encore_jax.agreement.dawid_skene_one_coin`, default stopping rule and
    ``Beta(2, 2)`` prior). These are the Bayes-optimal weights for voters that err
    independently given the preferred side. Signed: a rule found worse than chance gets a
    negative weight; a rule that never votes gets 0. Label-free: the votes' pattern table is
    the same for either side order. Assumptions and limits (near-duplicate rules):
    ``encore_jax/theory/extensions.md``.

    Raises:
      ValueError: ``data`` has no unlabelled pairs.
    """
    return agreement_dawid_skene_from_patterns(*vote_table(data))


@signed_weighting
def agreement_bt_weights(data: WeightingData) -> Float[Array, " K"]:
    """Log-odds of each rule's accuracy under noisy Bradley–Terry skills (research
    extension): ``w_k = log(p_k / (1 - p_k))`` with ``p_k = E_z[sigmoid(s_k |z|)]`` and the
    skills ``s_k`` fitted by :func:`encore_jax.agreement.noisy_bt_skills` on the rules' votes
    on the unlabelled pairs (latent margin ``z ~ N(0, 1)``, defaults of that function).
    Signed, label-free, as :func:`agreement_dawid_skene_weights`.

    Raises:
      ValueError: ``data`` has no unlabelled pairs.
    """
    return agreement_bt_from_patterns(*vote_table(data))


def _encore(data: WeightingData, temperature: float) -> jax.Array:
    return encore_from_counts(_calibration_counts(_validated_data(data)), temperature)


def _uniform(data: WeightingData) -> jax.Array:
    return uniform_weights(_validated_data(data).num_rules)


def builtin_weightings(temperature: float = DEFAULT_TEMPERATURE) -> dict[str, Weighting]:
    """The built-in weightings at temperature ``tau`` = ``temperature``.

    Returns:
      ``{"encore": ENCORE softmax(-H / tau) (arXiv 2503.20995), "uniform": 1 / K,
      "research_decisive_encore": decisive_encore_weights,
      "research_decisive_entropy": decisive_entropy_weights,
      "research_agreement_dawid_skene": agreement_dawid_skene_weights,
      "research_agreement_bt": agreement_bt_weights}`` (names in :data:`EXTENSION_NAMES`
      are research extensions, not from the ENCORE paper; the two agreement weightings need
      unlabelled pairs, ignore ``temperature`` and are marked by :func:`signed_weighting`).
    """
    _checks.check_temperature(temperature)
    return {
        "encore": functools.partial(_encore, temperature=temperature),
        "uniform": _uniform,
        "research_decisive_encore": functools.partial(
            decisive_encore_weights, temperature=temperature),
        "research_decisive_entropy": functools.partial(
            decisive_entropy_weights, temperature=temperature),
        "research_agreement_dawid_skene": agreement_dawid_skene_weights,
        "research_agreement_bt": agreement_bt_weights,
    }


def resolve_weighting(spec: str, *, temperature: float = DEFAULT_TEMPERATURE) -> Weighting:
    """The weighting named by ``spec`` (the CLI's ``--weighting SPEC``).

    Args:
      spec: the name of a built-in (:func:`builtin_weightings`), or an import path
        ``"package.module:function"`` of a :data:`Weighting`.
      temperature: ``tau`` of the built-ins.

    Raises:
      ValueError: an unknown name, a module that does not import, a missing attribute, or
        an attribute that is not callable; the message names ``spec`` and the fix.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"weighting spec must be a non-empty string, got {spec!r}")
    builtins = builtin_weightings(temperature)
    if spec in builtins:
        return builtins[spec]
    if ":" not in spec:
        raise ValueError(
            f"unknown weighting spec {spec!r}: use a built-in name ({', '.join(sorted(builtins))}) "
            "or an import path 'package.module:function'")
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(
            f"weighting spec {spec!r} must have the form 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(
            f"weighting spec {spec!r}: module {module_name!r} does not import ({error}); check the "
            "name and that its package is on PYTHONPATH") from error
    try:
        function = functools.reduce(getattr, attribute.split("."), module)
    except AttributeError as error:
        raise ValueError(
            f"weighting spec {spec!r}: module {module_name!r} has no attribute {attribute!r}"
        ) from error
    if not callable(function):
        raise ValueError(
            f"weighting spec {spec!r} is a {type(function).__name__}, not a function of "
            "WeightingData returning [K] weights")
    return function


def _validated_weights(name: str, weights: object, num_rules: int, signed: bool = False
                       ) -> jax.Array:
    """Checks one weighting's output; every message names the weighting and the fix."""
    try:
        weights = jnp.asarray(weights)
    except TypeError as error:
        raise TypeError(
            f"weighting {name!r} returned {type(weights).__name__}, not an array; return "
            f"[K] = [{num_rules}] weights") from error
    if weights.dtype == jnp.bool_ or not (
        jnp.issubdtype(weights.dtype, jnp.floating) or jnp.issubdtype(weights.dtype, jnp.integer)
    ):
        raise TypeError(
            f"weighting {name!r} returned dtype {weights.dtype}; return real (float) weights")
    if weights.shape != (num_rules,):
        raise ValueError(
            f"weighting {name!r} returned shape {weights.shape}; it must return [K] = "
            f"[{num_rules}] weights, one per rule (column of ratings)")
    host = np.asarray(weights, dtype=np.float64)
    bad = ~np.isfinite(host)
    if bad.any():
        index = int(np.argmax(bad))
        raise ValueError(
            f"weighting {name!r} returned {host[index]} for rule {index}; weights must be "
            "finite (look for 0 / 0, log 0 or an overflowing exp)")
    if not signed and (host < 0).any():
        index = int(np.argmax(host < 0))
        raise ValueError(
            f"weighting {name!r} returned {host[index]} for rule {index}; weights must be "
            ">= 0 (orient the rule so that higher = better, or mark a weighting meant to "
            "reverse rules with encore_jax.weightings.signed_weighting)")
    return weights if jnp.issubdtype(weights.dtype, jnp.floating) else weights.astype(
        jnp.float32)


def apply_weightings(
    weightings: Mapping[str, Weighting], data: WeightingData
) -> dict[str, jax.Array]:
    """Runs each weighting on ``data`` and validates what it returns.

    Args:
      weightings: name -> :data:`Weighting`.
      data: :class:`WeightingData` (validated once, before any weighting runs).

    Returns:
      name -> weights ``[K]`` (in the input order of ``weightings``).

    Raises:
      TypeError / ValueError: a weighting returned something other than ``K`` finite real
        weights, or a negative weight without being marked by :func:`signed_weighting`;
        the message names the weighting. An exception raised
        inside a weighting propagates with a note naming it.
    """
    data = _validated_data(data)
    results = {}
    for name, weighting in weightings.items():
        if not callable(weighting):
            raise TypeError(f"weighting {name!r} is a {type(weighting).__name__}, not callable")
        try:
            raw = weighting(data)
        except Exception as error:
            error.add_note(f"raised by weighting {name!r}")
            raise
        results[name] = _validated_weights(name, raw, data.num_rules,
                                           returns_signed_weights(weighting))
    return results
