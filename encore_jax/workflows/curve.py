"""A learning curve: which weighting to use with no labels, or with a few, on the user's pairs.

Symbols: ``N`` pairs in ``G`` groups (e.g. prompts; ``groups``), ``K`` rules, ``L`` levels;
``d_i = chosen_i - rejected_i`` (``0`` where a rule did not rate both sides); a weighting
``w`` scores pair ``i`` by the certified margin ``m_i = w . d_i``
(:func:`encore_jax.compose.certified_margins`: exact ties are exactly ``0``) and earns the
credit ``1`` when ``m_i > 0``, ``1/2`` on a tie (``tie="half"``; ``0`` with ``tie="loss"``).

The protocol of :func:`learning_curve`, fixed before any result was read:

* **Budgets.** For each budget ``n`` (labelled groups; ``"all"`` = ``floor(all_fraction * G)``,
  the most a held-out evaluation leaves room for), ``R`` = ``num_repeats`` random draws of
  ``n`` groups whose pairs' labels are revealed; the other ``G - n`` groups are held out and
  split at random into two halves, *choice* (``A``) and *report* (``B``).
* **Methods.** Label-free: ``uniform``, ``encore`` and every built-in research weighting
  (:data:`encore_jax.weightings.EXTENSION_NAMES`). They see every pair's ratings with its
  sides swapped by a fair coin (:func:`encore_jax.weightings.unlabelled_pairs`) and the
  pooled ratings as calibration, never a label, so they are the same in every draw.
  ``bt``: Bradley–Terry (free weights, no penalty) fitted on the ``n`` labelled groups'
  pairs (``n > 0`` only). ``bt_prior``: Bradley–Terry with the penalty
  ``(s / 2) ||w - w0||^2`` toward a label-free weighting ``w0`` (``fit_bt_weights(...,
  prior=w0, prior_strength=s)``): ``w0`` is the label-free weighting with the best accuracy
  on the labelled pairs (ties to the simpler, earlier one in the order above); with no
  labels there is nothing to choose by, so ``w0`` is ``zero_label_centre`` (``"uniform"``,
  the simplest) and ``bt_prior`` is ``w0`` itself (the penalised fit's minimiser without
  data). The strength ``s`` is chosen by ``cv_folds``-fold cross-validation over the
  labelled groups only (pooled accuracy of the held-out folds, same tie credit; ties to the
  larger ``s``, nearer the label-free prior) on the grid :data:`PRIOR_STRENGTHS` (in
  pseudo-pairs: ``s / n_pairs`` is the per-pair ridge). ``w0`` enters at its own scale (the
  label-free weightings sum to 1); accuracy depends only on the direction of ``w``.
* **Accuracy** of a method in a draw: its credits pooled over the pairs of the held-out
  groups. The curve's value is the mean over draws; its ``confidence`` interval is a
  percentile bootstrap that resamples the draws (``R`` with replacement) and the groups
  (``G`` with replacement, the same multiplicities for every draw and method, so method
  differences are paired), ``num_resamples`` times.
* **Recommendation** (:data:`RECOMMENDATION_RULE`), per budget, nested: the choice is made
  on the choice halves ``A`` only, and the accuracy reported with it comes from the report
  halves ``B``, so it is not optimistic. Among the methods available at that budget, the
  best mean accuracy on ``A`` (ties to the simpler); if that method needs labels and the
  interval of its difference with ``uniform`` on ``A`` contains 0, the best label-free
  method on ``A`` instead.

Key use: ``fold_in(key, 0)`` the coins of the unlabelled pairs, ``fold_in(key, 1)`` the
draws (``fold_in`` again with the budget's index), ``fold_in(key, 2)`` the bootstrap.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, PRNGKeyArray

from encore_jax import _checks
from encore_jax.compose import certified_margins
from encore_jax.metrics.summary import checked_rule_names
from encore_jax.weightings import (
    EXTENSION_NAMES,
    WeightingData,
    apply_weightings,
    builtin_weightings,
    unlabelled_pairs,
)
from encore_jax.workflows.curve_stats import (
    bootstrap_counts,
    draw_accuracies,
    interval,
    replicate_accuracies,
)

__all__ = ["ALL_FRACTION", "CV_FOLDS", "DEFAULT_BUDGETS", "PRIOR_STRENGTHS",
           "RECOMMENDATION_RULE", "LearningCurve", "learning_curve"]

DEFAULT_BUDGETS: tuple[int | str, ...] = (0, 16, 32, 64, 128, 256, "all")
"""Labelled-group budgets of ``encore-jax curve`` (``--labels``)."""

ALL_FRACTION = 0.8
"""The budget ``"all"`` labels ``floor(0.8 G)`` groups: the rest (20 %) are held out."""

PRIOR_STRENGTHS: tuple[float, ...] = (0.25, 1.0, 4.0, 16.0, 64.0, 256.0, 1024.0)
"""The grid of ``prior_strength`` (pseudo-pairs) cross-validated for ``bt_prior``: from
almost plain BT (a ridge of 1/4 pair) to almost ``w0`` (1024 pairs), by factors of 4."""

CV_FOLDS = 5
"""Folds of the cross-validation of the prior strength (fewer when fewer groups)."""

RECOMMENDATION_RULE = (
    "on the choice half of the held-out groups: the method with the best mean accuracy "
    "(ties to the simpler: label-free before bt before bt_prior); if it needs labels and the "
    "interval of its difference with uniform contains 0, the best label-free method instead; "
    "its accuracy is reported on the other half")

LABEL_FREE_BASE = ("uniform", "encore")
TIE_CREDITS = {"half": 0.5, "loss": 0.0}


class LearningCurve(NamedTuple):
    """The result of :func:`learning_curve`; ``to_dict()`` is the JSON document.

    Attributes:
      curve: one row per budget and method: ``labels`` (``n``), ``method``, ``accuracy``
        (mean over draws of the held-out accuracy), ``low``, ``high`` (its interval).
      recommendation: one row per budget: ``labels``, ``method``, ``reason``, and the
        method's ``accuracy``, ``low``, ``high`` on the report halves (not the halves it
        was chosen on).
      protocol: how it was computed (a JSON-able dict).
      label_free_weights: name -> ``[K]`` weights of the label-free methods.
      bt_prior_choices: per budget, how often each centre ``w0`` and strength ``s`` was
        chosen over the draws.
    """

    curve: list[dict[str, Any]]
    recommendation: list[dict[str, Any]]
    protocol: dict[str, Any]
    label_free_weights: dict[str, list[float]]
    bt_prior_choices: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-able dict keyed by field name."""
        return self._asdict()


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def _missing_id(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def group_codes(groups: Any, num_pairs: int) -> tuple[np.ndarray, int]:
    """``(codes [N] in 0..G-1, G)`` from one group id per pair.

    Raises:
      ValueError: a wrong length, or pairs without a group id (the message names them).
    """
    ids = np.asarray(groups, dtype=object)
    if ids.ndim != 1 or ids.shape[0] != num_pairs:
        raise ValueError(f"groups must hold one id per pair ({num_pairs}), got shape "
                         f"{ids.shape}")
    missing = [i for i, v in enumerate(ids.tolist()) if _missing_id(v)]
    if missing:
        shown = ", ".join(str(i) for i in missing[:10]) + (", ..." if len(missing) > 10 else "")
        raise ValueError(f"groups: {len(missing)} pair(s) have no group id (0-based pairs "
                         f"{shown}); fill the group column or drop those pairs")
    _, codes = np.unique(ids.astype(str), return_inverse=True)
    return codes.astype(np.int32), int(codes.max()) + 1


def resolved_budgets(budgets: Sequence[int | str], num_groups: int,
                     all_fraction: float) -> list[int]:
    """Budgets as numbers of labelled groups (``"all"`` = ``floor(all_fraction G)``).

    Raises:
      ValueError: an unknown entry, a budget of 1 (too few groups to cross-validate), one
        that leaves fewer than 2 held-out groups, or a repeated budget.
    """
    if isinstance(budgets, str) or not budgets:
        raise ValueError("budgets must be a non-empty list of group counts or 'all'")
    largest = num_groups - 2
    out = []
    for b in budgets:
        if b == "all":
            n = int(math.floor(all_fraction * num_groups))
        elif isinstance(b, int | np.integer) and not isinstance(b, bool) and b >= 0:
            n = int(b)
        else:
            raise ValueError(f"budget {b!r} is not a number of groups >= 0 or 'all'")
        if n == 1:
            raise ValueError("budget 1 leaves nothing to cross-validate the prior strength "
                             "on; use 0 or at least 2 labelled groups")
        if n > largest:
            raise ValueError(f"budget {b!r} = {n} labelled groups is more than the {largest} "
                             f"available: {num_groups} groups, and at least 2 must stay held "
                             "out (one per half); lower it")
        if n in out:
            raise ValueError(f"budget {b!r} = {n} groups is given twice (after resolving "
                             f"'all' = {int(math.floor(all_fraction * num_groups))})")
        out.append(n)
    return out


def _label_free(key: jax.Array, chosen: np.ndarray, rejected: np.ndarray,
                observed: np.ndarray | None, num_levels: int, temperature: float
                ) -> dict[str, np.ndarray]:
    """The label-free weightings on the coin-flipped pairs, in the documented order."""
    builtins = builtin_weightings(temperature)
    names = [*LABEL_FREE_BASE, *EXTENSION_NAMES]
    ratings = np.concatenate([chosen, rejected])
    mask = None if observed is None else np.concatenate([observed, observed])
    pair_a, pair_b, pair_mask = unlabelled_pairs(
        key, jnp.asarray(chosen), jnp.asarray(rejected),
        None if observed is None else jnp.asarray(observed))
    data = WeightingData(jnp.asarray(ratings), None if mask is None else jnp.asarray(mask),
                         num_levels, pair_a, pair_b, pair_mask)
    weights = apply_weightings({name: builtins[name] for name in names}, data)
    return {name: np.asarray(w, np.float32) for name, w in weights.items()}


# --------------------------------------------------------------------------------------------
# Compiled kernels: credits and batched Bradley–Terry fits
# --------------------------------------------------------------------------------------------


@jax.jit
def _credits(diffs: jax.Array, weights: jax.Array, tie_credit: jax.Array) -> jax.Array:
    """Per-pair credit ``[M, N]`` of ``weights [M, K]`` on ``diffs [N, K]`` (exact ties)."""
    margins = certified_margins(diffs, weights)
    return jnp.where(margins > 0, 1.0, jnp.where(margins == 0, tie_credit, 0.0))


FIT_CHUNK = 128
"""Bradley–Terry fits per compiled call (one batch shape for every budget)."""


@functools.partial(jax.jit, static_argnames="max_steps")
def _fit_chunk(diffs: jax.Array, rows: jax.Array, masks: jax.Array, priors: jax.Array,
               strengths: jax.Array, max_steps: int) -> jax.Array:
    """Weights ``[C, K]`` of ``C`` Bradley–Terry fits: fit ``c`` uses the pairs
    ``diffs[rows[c]]`` (``diffs [R, P, K]``) kept by ``masks [C, P]``, with the prior
    ``priors [C, K]`` at ``strengths [C]`` (0 with a zero prior = plain BT)."""
    from encore_jax.bradley_terry import fit_bt_weights

    def one(row, mask, prior, strength):
        return fit_bt_weights(diffs[row], mask=mask, prior=prior, prior_strength=strength,
                              max_steps=max_steps).weights

    return jax.vmap(one)(rows, masks, priors, strengths)


def _fit_many(diffs: jax.Array, rows: np.ndarray, masks: np.ndarray, priors: np.ndarray,
              strengths: np.ndarray, max_steps: int) -> np.ndarray:
    """:func:`_fit_chunk` over any number of fits, padded to whole chunks."""
    total = rows.shape[0]
    pad = -total % FIT_CHUNK
    rows = np.pad(rows, (0, pad))
    masks = np.pad(masks, [(0, pad), (0, 0)])
    masks[total:, 0] = True  # padding fits see one pair, so they stay finite
    priors = np.pad(priors, [(0, pad), (0, 0)]).astype(np.float32)
    strengths = np.pad(strengths, (0, pad), constant_values=1.0).astype(np.float32)
    out = [np.asarray(_fit_chunk(diffs, jnp.asarray(rows[i:i + FIT_CHUNK]),
                                 jnp.asarray(masks[i:i + FIT_CHUNK]),
                                 jnp.asarray(priors[i:i + FIT_CHUNK]),
                                 jnp.asarray(strengths[i:i + FIT_CHUNK]), max_steps))
           for i in range(0, rows.shape[0], FIT_CHUNK)]
    return np.concatenate(out)[:total]


def _gathered(diffs: np.ndarray, labelled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each draw's labelled pairs ``[R, P, K]`` (zero rows after the last) and their indices
    ``[R, P]`` (``-1`` on padding); ``P`` = the smallest ``256 * 4^j`` that holds every
    draw, so few shapes compile (each costs seconds)."""
    most = int(labelled.sum(axis=1).max())
    size = 256
    while size < most:
        size *= 4
    index = np.full((labelled.shape[0], size), -1, np.int64)
    for r, row in enumerate(labelled):
        chosen = np.flatnonzero(row)
        index[r, :chosen.size] = chosen
    gathered = np.where((index >= 0)[..., None], diffs[np.maximum(index, 0)], 0.0)
    return gathered.astype(np.float32), index


# --------------------------------------------------------------------------------------------
# One budget
# --------------------------------------------------------------------------------------------


class _Draws(NamedTuple):
    labelled: np.ndarray  # [R, G] bool
    choice: np.ndarray    # [R, G] bool, half A of the held-out groups
    report: np.ndarray    # [R, G] bool, half B
    fold: np.ndarray      # [R, G] int, CV fold of each labelled group (-1 elsewhere)


def _draws(key: jax.Array, num_groups: int, n: int, repeats: int, folds: int) -> _Draws:
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).astype(np.uint64))
    perms = np.stack([rng.permutation(num_groups) for _ in range(repeats)])
    rank = np.empty_like(perms)
    np.put_along_axis(rank, perms, np.arange(num_groups)[None, :].repeat(repeats, 0), axis=1)
    half = n + (num_groups - n) // 2
    fold = np.where(rank < n, rank % max(folds, 1), -1)
    return _Draws(rank < n, (rank >= n) & (rank < half), rank >= half, fold)


def _bt_prior(diffs: np.ndarray, codes: np.ndarray, draws: _Draws, free_credit: np.ndarray,
              free_weights: np.ndarray, tie_credit: jax.Array, folds: int,
              strengths: np.ndarray, max_steps: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(bt weights [R, K], bt_prior weights [R, K], (centre index, strength index) [R, 2])``."""
    labelled = draws.labelled[:, codes]  # [R, N]
    repeats, num_rules = labelled.shape[0], free_weights.shape[1]
    # Centre: the label-free weighting most accurate on the labelled pairs (ties: earliest).
    centre = np.argmax(labelled.astype(np.float64) @ free_credit.T.astype(np.float64), axis=1)
    priors = free_weights[centre]  # [R, K]
    local, index = _gathered(diffs, labelled)  # [R, P, K], [R, P]
    local_j = jnp.asarray(local)
    valid = index >= 0
    pair_fold = np.where(valid, draws.fold[np.arange(repeats)[:, None],
                                           codes[np.maximum(index, 0)]], -1)
    # Cross-validation, fits ordered [S, R, F] (a compiled chunk runs until its slowest fit
    # stops, and fits of one strength take similar numbers of steps): train on the folds
    # other than f, score on fold f.
    test = np.stack([pair_fold == f for f in range(folds)], axis=1)  # [R, F, P]
    train = valid[:, None, :] & ~test
    num_s, size = strengths.shape[0], train.shape[-1]
    shape = (num_s, repeats, folds)
    cv_weights = _fit_many(
        local_j, np.broadcast_to(np.arange(repeats)[None, :, None], shape).reshape(-1),
        np.broadcast_to(train[None], (*shape, size)).reshape(-1, size),
        np.broadcast_to(priors[None, :, None, :], (*shape, num_rules)).reshape(-1, num_rules),
        np.broadcast_to(strengths[:, None, None], shape).reshape(-1), max_steps)
    by_draw = cv_weights.reshape(num_s, repeats, folds, num_rules).transpose(1, 2, 0, 3)
    credit = np.asarray(_local_credits(local_j, jnp.asarray(by_draw.reshape(
        repeats, folds * num_s, num_rules)), tie_credit)).reshape(repeats, folds, num_s, -1)
    cv_score = np.einsum("rfsp,rfp->rs", credit.astype(np.float64), test.astype(np.float64))
    best_s = num_s - 1 - np.argmax(cv_score[:, ::-1], axis=1)  # ties: the larger strength
    rows = np.arange(repeats)
    final = _fit_many(local_j, np.concatenate([rows, rows]), np.concatenate([valid, valid]),
                      np.concatenate([np.zeros_like(priors), priors]),
                      np.concatenate([np.zeros(repeats), strengths[best_s]]), max_steps)
    return final[:repeats], final[repeats:], np.stack([centre, best_s], axis=1)


@jax.jit
def _local_credits(local: jax.Array, weights: jax.Array, tie_credit: jax.Array) -> jax.Array:
    """Credits ``[R, W, P]`` of ``weights [R, W, K]`` on each draw's pairs ``local [R, P, K]``."""
    return jax.vmap(_credits, in_axes=(0, 0, None))(local, weights, tie_credit)


def _group_sums(credit: np.ndarray, codes: np.ndarray, num_groups: int) -> np.ndarray:
    """Sums of ``credit [..., N]`` per group: ``[..., G]``."""
    onehot = np.zeros((codes.shape[0], num_groups))
    onehot[np.arange(codes.shape[0]), codes] = 1.0
    return credit.astype(np.float64) @ onehot


def _recommend(n: int, names: list[str], needs_labels: list[bool], sums: np.ndarray,
               pair_counts: np.ndarray, draws: _Draws, boot: tuple[np.ndarray, np.ndarray],
               confidence: float) -> dict[str, Any]:
    """The nested recommendation at one budget (:data:`RECOMMENDATION_RULE`)."""
    uniform = names.index("uniform")

    def half_stats(half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s, c = sums * half[:, None, :], pair_counts[None, :] * half
        return draw_accuracies(s, c).mean(axis=0), replicate_accuracies(s, c, *boot)

    choice_mean, choice_reps = half_stats(draws.choice)
    best = int(np.argmax(choice_mean))  # ties: the earliest (simplest)
    low, high = interval(choice_reps[:, best] - choice_reps[:, uniform], confidence)
    diff = choice_mean[best] - choice_mean[uniform]
    pick = best
    contains_zero = low is None or low <= 0 <= high  # undefined: as uninformative as 0
    if needs_labels[best] and contains_zero:
        free = [i for i, needs in enumerate(needs_labels) if not needs]
        pick = free[int(np.argmax(choice_mean[free]))]
        reason = (f"{names[best]} had the best mean accuracy on the choice halves "
                  f"({choice_mean[best]:.4f}) but needs labels and its difference with uniform "
                  f"{diff:+.4f} {_bounds(low, high)} contains 0, so the best label-free "
                  f"method, {names[pick]} ({choice_mean[pick]:.4f}), is recommended")
    elif names[best] == "uniform":
        reason = (f"uniform had the best mean accuracy on the choice halves "
                  f"({choice_mean[best]:.4f})")
    else:
        reason = (f"{names[best]} had the best mean accuracy on the choice halves "
                  f"({choice_mean[best]:.4f}); difference with uniform {diff:+.4f} "
                  f"{_bounds(low, high)}")
        if contains_zero:
            reason += (": the interval contains 0, so it is not distinguishable from uniform "
                       "here; it needs no labels, so it costs nothing to use")
    report_mean, report_reps = half_stats(draws.report)
    r_low, r_high = interval(report_reps[:, pick], confidence)
    return {"labels": n, "method": names[pick], "reason": reason,
            "accuracy": float(report_mean[pick]), "low": r_low, "high": r_high}


def learning_curve(
    key: PRNGKeyArray,
    chosen: ArrayLike,
    rejected: ArrayLike,
    num_levels: int,
    groups: Any,
    *,
    mask: ArrayLike | None = None,
    budgets: Sequence[int | str] = DEFAULT_BUDGETS,
    num_repeats: int = 20,
    temperature: float = 2.0,
    tie: str = "half",
    confidence: float = 0.95,
    num_resamples: int = 1000,
    all_fraction: float = ALL_FRACTION,
    prior_strengths: Sequence[float] = PRIOR_STRENGTHS,
    cv_folds: int = CV_FOLDS,
    zero_label_centre: str = "uniform",
    bt_max_steps: int = 200,
    rule_names: Sequence[str] | None = None,
) -> LearningCurve:
    """Held-out accuracy of label-free, few-label and supervised weightings against the
    number of labelled groups, and a recommendation per budget (protocol: module docstring).

    Args:
      key: PRNG key (its uses are listed in the module docstring).
      chosen, rejected: integer ratings ``[N, K]`` in ``0..L-1``.
      num_levels: ``L``.
      groups: one group id per pair ``[N]`` (e.g. the prompt); draws label whole groups.
      mask: optional boolean ``[N, K]``, ``True`` = the rule rated both responses.
      budgets: labelled-group counts, and ``"all"`` (``floor(all_fraction G)``).
      num_repeats: ``R``, random draws per budget.
      temperature: ``tau`` of ENCORE and the research weightings.
      tie: tie credit, ``"half"`` (1/2, default) or ``"loss"`` (0).
      confidence, num_resamples: of every interval (draws and groups resampled).
      all_fraction: in ``(0, 1)``, the labelled share of the budget ``"all"``.
      prior_strengths: the cross-validated grid of ``bt_prior``'s ``prior_strength``.
      cv_folds: folds of that cross-validation (``min(cv_folds, n)`` at budget ``n``).
      zero_label_centre: the label-free weighting ``bt_prior`` is at ``n = 0``.
      bt_max_steps: step limit of every Bradley–Terry fit (L-BFGS; an unpenalised fit on
        separable pairs stops here, its direction, which is all accuracy uses, settled).
      rule_names: ``K`` names, for the protocol.

    Returns:
      A :class:`LearningCurve`.
    """
    num_levels = _checks.check_num_levels(num_levels)
    _checks.check_choice("tie", tie, tuple(TIE_CREDITS))
    _checks.check_scalar("temperature", temperature, above=0.0)
    _checks.check_scalar("confidence", confidence, above=0.0, below=1.0)
    _checks.check_scalar("all_fraction", all_fraction, above=0.0, below=1.0)
    num_repeats = _checks.check_positive_int("num_repeats", num_repeats)
    num_resamples = _checks.check_positive_int("num_resamples", num_resamples)
    cv_folds = _checks.check_positive_int("cv_folds", cv_folds)
    bt_max_steps = _checks.check_positive_int("bt_max_steps", bt_max_steps)
    if cv_folds < 2:
        raise ValueError(f"cv_folds must be >= 2, got {cv_folds}")
    strengths = np.asarray(prior_strengths, np.float32)
    if strengths.ndim != 1 or strengths.size == 0 or not np.all(np.isfinite(strengths)) \
            or np.any(strengths < 0):
        raise ValueError(f"prior_strengths must be a non-empty list of finite values >= 0, "
                         f"got {list(prior_strengths)}")
    chosen, rejected, observed = _checks.validated_pairs(chosen, rejected, num_levels, mask,
                                                         mask)
    chosen, rejected = np.asarray(chosen), np.asarray(rejected)
    observed = None if observed is None else np.asarray(observed)
    num_pairs, num_rules = chosen.shape
    names_k = checked_rule_names(rule_names, num_rules)
    codes, num_groups = group_codes(groups, num_pairs)
    ns = resolved_budgets(budgets, num_groups, all_fraction)

    diffs = (chosen.astype(np.float32) - rejected.astype(np.float32))
    if observed is not None:
        diffs = np.where(observed, diffs, 0.0).astype(np.float32)
    diffs_j = jnp.asarray(diffs)
    tie_credit = jnp.asarray(TIE_CREDITS[tie], jnp.float32)
    free = _label_free(jax.random.fold_in(key, 0), chosen, rejected, observed, num_levels,
                       temperature)
    free_names = list(free)
    if zero_label_centre not in free:
        raise ValueError(f"zero_label_centre must be one of {free_names}, got "
                         f"{zero_label_centre!r}")
    free_weights = np.stack([free[name] for name in free_names])
    free_credit = np.asarray(_credits(diffs_j, jnp.asarray(free_weights), tie_credit))
    pair_counts = np.bincount(codes, minlength=num_groups).astype(np.float64)
    boot_key = jax.random.fold_in(key, 2)

    curve, recommendation, choices = [], [], []
    for b, n in enumerate(ns):
        folds = min(cv_folds, n)
        draws = _draws(jax.random.fold_in(jax.random.fold_in(key, 1), b), num_groups, n,
                       num_repeats, folds)
        held = draws.choice | draws.report
        names = [*free_names, "bt_prior"] if n == 0 else [*free_names, "bt", "bt_prior"]
        needs = [False] * len(free_names) + ([False] if n == 0 else [True, True])
        free_sums = _group_sums(free_credit, codes, num_groups)  # [F, G]
        if n == 0:
            centre = free_names.index(zero_label_centre)
            learned = free_sums[centre][None, None, :].repeat(num_repeats, 0)
            choices.append({"labels": 0, "centres": {zero_label_centre: num_repeats},
                            "strengths": {"inf (no labels)": num_repeats}})
        else:
            bt_w, prior_w, picked = _bt_prior(diffs, codes, draws, free_credit, free_weights,
                                              tie_credit, folds, strengths, bt_max_steps)
            learned_credit = np.asarray(_credits(diffs_j, jnp.asarray(
                np.concatenate([bt_w, prior_w])), tie_credit))
            learned = _group_sums(learned_credit, codes, num_groups).reshape(
                2, num_repeats, num_groups).transpose(1, 0, 2)
            choices.append({
                "labels": n,
                "centres": _counts([free_names[i] for i in picked[:, 0]]),
                "strengths": _counts([f"{strengths[i]:g}" for i in picked[:, 1]]),
            })
        sums = np.concatenate([free_sums[None].repeat(num_repeats, 0), learned], axis=1)
        sums = sums * held[:, None, :]  # [R, M, G], held-out groups only
        counts = pair_counts[None, :] * held
        boot = bootstrap_counts(jax.random.fold_in(boot_key, b), num_groups, num_repeats,
                                num_resamples)
        means = draw_accuracies(sums, counts).mean(axis=0)
        reps = replicate_accuracies(sums, counts, *boot)
        for m, name in enumerate(names):
            low, high = interval(reps[:, m], confidence)
            curve.append({"labels": n, "method": name, "accuracy": float(means[m]),
                          "low": low, "high": high})
        recommendation.append(_recommend(n, names, needs, sums, pair_counts, draws, boot,
                                         confidence))

    protocol = {
        "num_pairs": num_pairs, "num_groups": num_groups, "num_rules": num_rules,
        "num_levels": num_levels, "rule_names": names_k,
        "budgets": [{"requested": b if isinstance(b, str) else int(b), "labels": n}
                    for b, n in zip(budgets, ns, strict=True)],
        "num_repeats": num_repeats, "all_fraction": all_fraction, "tie": tie,
        "temperature": temperature, "confidence": confidence, "num_resamples": num_resamples,
        "label_free": "uniform, encore and every research weighting on all pairs' ratings "
                      "with coin-flipped sides (no label)",
        "bt": "Bradley-Terry, free weights, no penalty, on the labelled groups' pairs "
              f"(L-BFGS, at most {bt_max_steps} steps)",
        "bt_prior": "Bradley-Terry with (s/2)||w - w0||^2 toward the label-free weighting most "
                    "accurate on the labelled pairs; s by "
                    f"{cv_folds}-fold cross-validation over labelled groups on the grid "
                    f"{[float(s) for s in strengths]}; at 0 labels w0 = {zero_label_centre}",
        "evaluation": "held-out groups (those not labelled), split at random into a choice "
                      "half and a report half",
        "interval": f"percentile bootstrap, {num_resamples} resamples of the draws and of the "
                    "groups (paired across methods)",
        "recommendation_rule": RECOMMENDATION_RULE,
    }
    return LearningCurve(curve, recommendation, protocol,
                         {name: [float(x) for x in w] for name, w in free.items()}, choices)


def _bounds(low: float | None, high: float | None) -> str:
    return "[undefined]" if low is None else f"[{low:+.4f}, {high:+.4f}]"


def _counts(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out
