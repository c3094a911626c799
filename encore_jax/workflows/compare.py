"""ENCORE against its baselines on rated preference pairs, with honest uncertainty.

Symbols: ``N`` pairs, ``K`` rules, ``L`` rating levels. Pair ``i`` has integer ratings
``chosen_ik`` and ``rejected_ik``; a weighting ``w`` scores it by the composite margin
``m_i = sum_k w_k d_ik`` with ``d_ik = chosen_ik - rejected_ik`` and wins it when ``m_i > 0``.

The protocol of :func:`compare_methods`, stated once here:

* **One held-out evaluation split for every method.** The Bradley-Terry (BT) baseline is the
  only method that learns from preference labels, so it is fitted on a *train* split and every
  method, ENCORE included, is evaluated on the same disjoint *eval* split. Without an explicit
  ``train`` set the pairs are split at random (stratified by subset, ``test_fraction`` of
  each subset to eval); with one, all given pairs are eval pairs. With ``groups`` (e.g. the
  prompt of each pair) the split is by whole groups (``test_fraction`` of each subset's
  groups to eval): no group has pairs on both sides. ``test_fraction=1`` (only with
  ``fit_bt=False``) evaluates every method on all pairs: entropies and the label-free
  weightings then come from all pairs' ratings (no label), and the best single rule is
  picked on the same pairs (in-sample, labelled so).
* **Entropies never see eval labels.** ENCORE's entropies, and the lowest-entropy baseline,
  come from the calibration ratings when given, else from the train split's ratings (chosen
  and rejected pooled, so no label is used either way).
* **Selections are made on train.** "single rule (best)" is the rule with the highest train
  accuracy, then evaluated on eval; "single rule (mean)" averages the K single-rule accuracies.
* **Missing ratings** contribute nothing to a margin (``d_ik = 0`` when either rating is
  missing), which for accuracy is the same as renormalising the weights over the observed
  rules; a pair with no observed rule is a tie.
* **Exact ties.** Margins are certified (:func:`encore_jax.compose.certified_margins`): a
  margin that is zero in exact arithmetic is a tie whatever the summation order, so tie
  rates and ``tie="loss"`` accuracies are exact (for integer ratings with uniform weights,
  the integer count).
* **Ties count 1/2 by default** (``tie="half"``); ``tie="loss"`` gives RewardBench-compatible
  numbers. Every row reports its tie rate, and every paired difference is also reported
  under both rules (``encore_minus_by_tie``, ``uniform_minus_by_tie``): their gap is half
  the difference of the two rows' tie rates, the part of the difference the rule decides.
* **Every accuracy carries a percentile bootstrap interval** over eval pairs (over whole
  eval groups with ``groups``: the groups are the units, a replicate is the resampled
  groups' credit sum over their pair count; without groups the pairs are treated as
  independent units), per subset and overall; the reported ENCORE-minus-method and
  uniform-minus-method differences are bootstrapped as per-pair (per-group) differences
  (paired), so they have intervals too. The intervals
  are **conditional on the fit**: the weights (BT fit, entropies, best single rule, extra
  weightings) come from the train split and stay fixed while eval pairs are resampled. The
  RewardBench Safety aggregate resamples within each subset (a stratified bootstrap) and
  weights subsets by the named example-count table; with groups that cross subsets its
  interval is omitted (the subsets' resamples would not be independent).
  A percentile interval collapses to a point when every pair of a subset is won (or lost):
  read ``100.0 [100.0, 100.0]`` on 100 pairs as "no loss observed", not as certainty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, PRNGKeyArray

from encore_jax import _checks
from encore_jax.metrics.rewardbench import REWARDBENCH_SAFETY_SUBSETS
from encore_jax.metrics.summary import checked_rule_names, rule_summary
from encore_jax.weightings import Weighting
from encore_jax.workflows.compare_intervals import (
    correlation_report,
    floats,
    groups_nest_in,
    jsonable,
    row_interval,
    safety_intervals,
    tie_rule_differences,
)
from encore_jax.workflows.methods import (
    checked_weightings,
    extension_label,
    extension_weights,
    mean_credit,
    method_kind,
    method_values,
    rule_credits,
    weight_rows,
)
from encore_jax.workflows.protocol import (
    _checked_split,
    _rated_pairs,
    _unique_in_order,
    checked_groups,
    group_holdout_split,
    holdout_split,
)
from encore_jax.workflows.row_bootstrap import bootstrap_rows, paired_differences

__all__ = ["DEFAULT_TEMPERATURES", "ComparisonReport", "compare_methods"]

DEFAULT_TEMPERATURES = (0.5, 1.0, 2.0, 4.0, 8.0)


class ComparisonReport(NamedTuple):
    """The result of :func:`compare_methods`; ``to_dict()`` gives the JSON document.

    Attributes:
      num_pairs, num_train_pairs, num_eval_pairs, num_rules, num_levels: sizes.
      rule_names: the ``K`` rule names.
      protocol: how the split, entropies, ties and intervals were made (a JSON-able dict).
      entropies: ``H`` ``[K]`` as floats.
      methods, temperature_sweep: one dict per method row: ``name, label, kind, weights,
        accuracy {estimate, low, high}, tie_rate, subsets {name: {estimate, low, high,
        num_pairs}}, safety, encore_minus, uniform_minus`` (the paired differences
        ENCORE - method and uniform - method with their intervals) and
        ``encore_minus_by_tie, uniform_minus_by_tie`` (the same under ties 1/2 and ties as
        losses, ``{"half": ..., "loss": ...}``; ``None`` on the row itself).
      random_spread: ``num_seeds, std, min, max`` of the Dirichlet seeds' accuracies.
      single_best_rule: the rule picked on train and its train accuracy.
      bradley_terry: the BT fit (``fitted``, options, final loss, weights, ``steps_taken``,
        ``converged``, ``grad_norm``, ``separable``).
      rules: the per-rule summary rows (:meth:`RuleRow.to_dict` of each), with the joint
        bootstrap's accuracy intervals.
      correlation: the entropy-accuracy correlation (``available`` False with a reason when
        undefined).
      subsets: subset name -> number of eval pairs.
      rewardbench_safety: the count table used, or None without RewardBench's subsets.
      tie_effect: ENCORE - uniform under both tie rules, the two tie rates, and
        ``tie_rates_differ`` (whether any two method rows' tie rates differ).
    """

    num_pairs: int
    num_train_pairs: int
    num_eval_pairs: int
    num_rules: int
    num_levels: int
    rule_names: list[str]
    protocol: dict[str, Any]
    entropies: list[float]
    methods: list[dict[str, Any]]
    temperature_sweep: list[dict[str, Any]]
    random_spread: dict[str, Any]
    single_best_rule: dict[str, Any]
    bradley_terry: dict[str, Any]
    rules: list[dict[str, Any]]
    correlation: dict[str, Any]
    subsets: dict[str, int]
    rewardbench_safety: dict[str, Any] | None
    tie_effect: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-able dict keyed by field name."""
        return self._asdict()


def compare_methods(
    key: PRNGKeyArray,
    pairs: Any,
    num_levels: int,
    *,
    rule_names: Sequence[str] | None = None,
    train: Any | None = None,
    split: tuple[ArrayLike, ArrayLike] | None = None,
    test_fraction: float = 0.5,
    calibration: ArrayLike | None = None,
    calibration_mask: ArrayLike | None = None,
    temperature: float = 2.0,
    temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
    num_random: int = 20,
    top_k: int | None = None,
    fit_bt: bool = True,
    bt_options: Mapping[str, Any] | None = None,
    tie: str = "half",
    rule_tie: str = "half",
    num_resamples: int = 1000,
    confidence: float = 0.95,
    safety_counts: str | Mapping[str, int] = "v1",
    base: float | None = None,
    estimator: str = "plugin",
    disagreement: float = 0.5,
    weightings: Mapping[str, Weighting | str] | None = None,
    groups: ArrayLike | None = None,
    missing_groups: str = "error",
) -> ComparisonReport:
    """Evaluates ENCORE and its baselines on held-out pairs.

    Methods (each a weight vector ``w`` over the ``K`` rules, scored by eval accuracy
    ``acc(w) = mean_i s(m_i)`` with the per-pair credit ``s`` of the tie policy ``tie``):

    * ``encore``: ``softmax(-H / tau)`` at ``temperature`` (paper default 2), and the same at
      each of ``temperatures`` (the sweep);
    * ``uniform``: ``1 / K``;
    * ``random``: ``Dirichlet(1_K)`` draws, ``num_random`` seeds; the mean accuracy (its
      per-pair credits averaged over seeds) with an interval, and the spread over seeds;
    * ``single_mean`` / ``single_best``: one-hot weights; the mean over rules, and the rule
      with the best *train* accuracy;
    * ``lowest_entropy``: ``1 / k`` on the ``top_k`` lowest-entropy rules;
    * ``bradley_terry``: :func:`encore_jax.bradley_terry.fit_bt_weights` on the train diffs;
    * the research extensions of :func:`encore_jax.weightings.builtin_weightings`
      (``research_decisive_encore``, ``research_decisive_entropy``, and the signed
      ``research_agreement_dawid_skene``, ``research_agreement_bt``: label-free weightings
      beyond the ENCORE paper, labelled "research extension"), then each of ``weightings``.

    Extra weightings (the extension point, :mod:`encore_jax.weightings`) are functions of a
    :class:`~encore_jax.weightings.WeightingData`: the calibration ratings (else the train
    pairs' ratings, chosen and rejected pooled) and the train pairs with their sides swapped
    by a fair coin (:func:`~encore_jax.weightings.unlabelled_pairs`), never the labels. Each
    becomes a method row with its accuracy, interval and paired differences against ENCORE
    and uniform::

        from encore_jax.entropy import rating_entropy

        def inverse_entropy(data):  # w_k = 1 / (1 + H_k), from the calibration ratings
            return 1.0 / (1.0 + rating_entropy(data.ratings, data.num_levels, mask=data.mask))

        report = compare_methods(key, pairs, 5, weightings={"inverse_entropy": inverse_entropy})
        row = next(r for r in report.methods if r["name"] == "inverse_entropy")
        row["accuracy"], row["encore_minus"], row["uniform_minus"]

    Intervals are conditional on the weights fitted on the train split: the bootstrap
    resamples eval pairs (eval groups, with ``groups``) with every weighting (BT fit,
    entropies, best single rule, extra weightings) held fixed, so they do not include the
    variability of the fit itself.

    The split, entropy source and interval protocol are in this module's docstring. Key use
    (so that results are reproducible): ``fold_in(key, 0)`` the split (:func:`holdout_split`,
    or :func:`~encore_jax.workflows.protocol.group_holdout_split` with ``groups``),
    ``1`` the random weights, ``2`` random tie credits of the methods, ``3`` the bootstrap
    (methods and per-rule accuracies paired; ``fold_in(fold_in(key, 3), g + 1)`` for
    subset ``g``), ``4`` random tie credits of the rules, ``5`` the fair coins of the
    unlabelled pairs given to the extra weightings. With ``tie="random"`` the coins of
    chunk ``c`` of :data:`~encore_jax.workflows.methods.CHUNK_PAIRS` pairs are drawn from
    ``fold_in`` of that key with ``c``.

    Memory is bounded: per-pair work runs over chunks of pairs and the bootstrap over
    blocks of rows and resamples, so the peak holds the ratings and ``O((R + K) N)`` floats
    (``R`` reported rows), never ``[M, N]`` margins or ``[B, N]`` resamples.

    Args:
      key: PRNG key.
      pairs: the rated pairs (:class:`Pairs` or ``encore_jax.io.PairTable``); optional
        ``subset`` labels give per-subset results and, when RewardBench's five safety subsets
        are among them, its Safety aggregate.
      num_levels: ``L``; ratings in ``0..L-1``.
      rule_names: ``K`` names (default ``rule_0..``).
      train: optional separate training pairs (same rules) for BT, entropies and selections;
        all of ``pairs`` are then eval pairs.
      split: optional explicit ``(train_indices, eval_indices)`` into ``pairs``, disjoint
        (and, with ``groups``, no group on both sides).
      test_fraction: eval fraction of the random split (when neither ``train`` nor
        ``split``): of each subset's pairs, or of its groups with ``groups``; ``1`` (with
        ``fit_bt=False``) evaluates on all pairs (module docstring).
      calibration, calibration_mask: optional wide ratings ``[M, K]`` (and mask) for entropies.
      temperature: ``tau`` of the headline ENCORE row; ``temperatures``: the sweep.
      num_random: Dirichlet seeds. top_k: lowest-entropy rules kept (default ``min(3, K)``).
      fit_bt: fit and evaluate the BT baseline. bt_options: keyword arguments for
        ``fit_bt_weights`` (e.g. ``max_steps``, ``l2``, ``parameterization``).
      tie: tie policy of the composite accuracies: ``"half"`` (default, a tie counts 1/2),
        ``"loss"`` (RewardBench's) or ``"random"``.
      rule_tie: tie policy of the per-rule accuracies in ``rules`` / ``correlation``
        (``"half"``; see :func:`encore_jax.metrics.rule_summary`).
      num_resamples, confidence: of every bootstrap interval.
      safety_counts: RewardBench count table (``"v1"`` or ``"v1-xstest-swapped"``).
      base, estimator: of the entropies. disagreement: of the rule-rank flag.
      weightings: optional extra weightings, name -> function of ``WeightingData``
        returning ``[K]`` weights (non-negative unless marked by
        :func:`encore_jax.weightings.signed_weighting`), or an import spec ``"module:function"``;
        a name of a row compare always reports is an error.
      groups: optional group id per pair of ``pairs`` ``[N]`` (e.g. the prompt): the split
        and every interval use whole groups. With ``train`` the groups are those of
        ``pairs`` (all eval); keeping the train file's groups apart is the caller's duty.
      missing_groups: ``"error"`` (default: a missing id, ``None`` / NaN / empty, raises
        naming the rows) or ``"own"`` (each such pair is its own group, counted in
        ``protocol["groups"]``).

    Returns:
      A :class:`ComparisonReport` (``report.to_dict()`` is the JSON document). Each method
      row has ``name, label, weights, accuracy {estimate, low, high}, tie_rate, subsets
      {name: {estimate, low, high, num_pairs}}, safety``, ``encore_minus`` and
      ``uniform_minus`` (the paired differences ENCORE - method and uniform - method with
      their intervals; ``None`` on the row itself) and ``kind`` (``"encore"``,
      ``"baseline"``, ``"research extension"`` or ``"user"``).
    """
    from encore_jax.entropy import entropy_from_counts, rating_entropy, rating_histogram
    from encore_jax.weights import lowest_entropy_weights

    num_levels = _checks.check_num_levels(num_levels)
    _checks.check_scalar("temperature", temperature, above=0.0)
    _checks.check_choice("tie", tie, _checks.TIE_POLICIES)
    _checks.check_choice("rule_tie", rule_tie, _checks.TIE_POLICIES)
    num_random = _checks.check_positive_int("num_random", num_random)
    temperatures = tuple(float(t) for t in temperatures)
    for t in temperatures:
        _checks.check_scalar("temperatures", t, above=0.0)
    data = _rated_pairs(pairs, num_levels, "pairs")
    num_pairs, num_rules = data.chosen.shape
    names = checked_rule_names(rule_names, num_rules)
    top_k = min(3, num_rules) if top_k is None else _checks.check_positive_int("top_k", top_k)
    if top_k > num_rules:
        raise ValueError(f"top_k must be <= K = {num_rules}, got {top_k}")

    user_weightings = checked_weightings(weightings, temperature)
    keys = [jax.random.fold_in(key, i) for i in range(6)]
    if train is not None and split is not None:
        raise ValueError("give either train or split, not both")
    num_missing_groups = 0
    if groups is not None:
        codes, num_missing_groups = checked_groups(groups, num_pairs, missing=missing_groups)
        data = data._replace(groups=codes)
    in_sample = train is None and split is None and test_fraction == 1
    if in_sample and fit_bt:
        raise ValueError("test_fraction=1 evaluates on every pair, which leaves no pair to "
                         "fit Bradley-Terry on; pass fit_bt=False (CLI: --no-bt), or a "
                         "test_fraction below 1")
    if train is not None:
        train_data = _rated_pairs(train, num_levels, "train")
        if train_data.chosen.shape[1] != num_rules:
            raise ValueError(f"train has {train_data.chosen.shape[1]} rules, pairs have "
                             f"{num_rules}")
        eval_data = data
        protocol = "all given pairs are eval pairs; BT, entropies and selections use `train`"
    elif in_sample:
        train_data = eval_data = data
        protocol = ("every pair evaluated (test_fraction=1, no BT): entropies and label-free "
                    "weightings from all pairs' ratings (no label); the best single rule is "
                    "picked on the same pairs (in-sample)")
    else:
        if split is None and data.groups is not None:
            train_idx, eval_idx = group_holdout_split(keys[0], data.groups,
                                                      test_fraction=test_fraction,
                                                      strata=data.subset)
            protocol = (f"random holdout by group: {test_fraction:g} of each subset's groups "
                        "evaluated (no group on both sides), the rest used to fit BT, estimate "
                        "entropies and pick the best single rule")
        elif split is None:
            train_idx, eval_idx = holdout_split(keys[0], num_pairs, test_fraction=test_fraction,
                                                strata=data.subset)
            protocol = (f"random holdout: {test_fraction:g} of each subset evaluated, the rest "
                        "used to fit BT, estimate entropies and pick the best single rule")
        else:
            train_idx, eval_idx = _checked_split(split, num_pairs)
            protocol = "explicit split: BT, entropies and selections on train, all methods on eval"
            if data.groups is not None and np.intersect1d(data.groups[train_idx],
                                                          data.groups[eval_idx]).size:
                raise ValueError("split puts pairs of one group on both sides; with groups, "
                                 "every group must be wholly in train or wholly in eval")
        train_data, eval_data = data.take(train_idx), data.take(eval_idx)
    del data  # only the split copies are used from here on

    # Entropies from calibration ratings, else from the train pairs' ratings (labels unused).
    if calibration is not None:
        calibration = _checks.as_array("calibration", calibration)
        _checks.check_ndim("calibration", calibration, 2, "[M, K]")
        if calibration.shape[1] != num_rules:
            raise ValueError(f"calibration has {calibration.shape[1]} rules, pairs have "
                             f"{num_rules}")
        entropies = rating_entropy(calibration, num_levels, mask=calibration_mask, base=base,
                                   estimator=estimator)
        entropy_source = f"calibration set ({calibration.shape[0]} rated responses)"
    else:
        # Pooled counts are the sum of both sides' histograms (no [2N, K] copy), over the
        # pairs where the rule rated both responses: the same ratings as diagnose's.
        counts = (rating_histogram(train_data.chosen, num_levels, mask=train_data.observed)
                  + rating_histogram(train_data.rejected, num_levels,
                                     mask=train_data.observed))
        _checks.check_rules_observed(counts, "the train pairs' ratings")
        entropies = entropy_from_counts(counts, base=base, estimator=estimator)
        entropy_source = (f"train pairs' ratings ({train_data.chosen.shape[0]} pairs, chosen "
                          "and rejected pooled, where the rule rated both)")

    # Label-free extra weightings (research extensions, then the user's), before any fit.
    extra = extension_weights(keys[5], user_weightings, temperature, num_levels, train_data,
                               calibration, calibration_mask)

    # Weight rows: [encore, sweep..., uniform, random x S, single x K, lowest, (bt), extra].
    lowest_w = lowest_entropy_weights(entropies, top_k)
    bt_report: dict[str, Any] = {"fitted": False}
    bt_w = None
    if fit_bt:
        from encore_jax.bradley_terry import fit_bt_weights

        fit = fit_bt_weights(jnp.asarray(train_data.diffs, jnp.float32),
                             **dict(bt_options or {}))
        bt_w = jnp.asarray(fit.weights, jnp.float32)
        bt_report = {
            "fitted": True,
            "num_train_pairs": int(train_data.chosen.shape[0]),
            "options": {k: jsonable(v) for k, v in dict(bt_options or {}).items()},
            "final_loss": float(np.asarray(fit.loss_history)[-1]),
            "weights": floats(bt_w),
            "steps_taken": int(fit.steps_taken),
            "converged": bool(fit.converged),
            "grad_norm": float(fit.grad_norm),
            "separable": bool(fit.separable),
        }
    weights = weight_rows(entropies, jnp.asarray((temperature, *temperatures), jnp.float32),
                          lowest_w, keys[1], num_random, bt_w)  # [M, K]
    if extra:
        weights = jnp.concatenate(
            [weights, jnp.asarray(np.stack(list(extra.values())), jnp.float32)])
    host_weights = np.asarray(weights)

    # Best single rule on train (with the composite tie policy).
    train_rule_acc = mean_credit(train_data.diffs, jax.random.fold_in(keys[2], 1), tie)
    best_rule = int(np.argmax(train_rule_acc))

    # Reported rows as per-pair values: selector [R, M] picks or averages weight rows'
    # credits (random: mean over seeds; single: mean over rules), so each row's accuracy is
    # a mean over eval pairs and bootstraps directly.
    offsets = np.cumsum([0, 1, len(temperatures), 1, num_random, num_rules, 1, int(fit_bt),
                         len(extra)])
    at = dict(zip(("encore", "sweep", "uniform", "random", "single", "lowest", "bt", "extra"),
                  offsets[:-1].tolist(), strict=True))
    rows: list[tuple[str, str, dict[int, float], list[float] | None]] = [
        ("encore", f"ENCORE (tau={temperature:g})", {at["encore"]: 1.0},
         floats(host_weights[at["encore"]])),
        ("uniform", "uniform", {at["uniform"]: 1.0}, floats(host_weights[at["uniform"]])),
        ("random", f"random Dirichlet (mean of {num_random})",
         {at["random"] + s: 1.0 / num_random for s in range(num_random)}, None),
        ("single_mean", f"single rule (mean of {num_rules})",
         {at["single"] + k: 1.0 / num_rules for k in range(num_rules)}, None),
        ("single_best", f"single rule (best {'in-sample' if in_sample else 'on train'}: "
                        f"{names[best_rule]})",
         {at["single"] + best_rule: 1.0}, floats(host_weights[at["single"] + best_rule])),
        ("lowest_entropy", f"lowest-entropy top-{top_k}", {at["lowest"]: 1.0},
         floats(lowest_w)),
    ]
    if fit_bt:
        rows.append(("bradley_terry", "Bradley-Terry fit (on train pairs)", {at["bt"]: 1.0},
                     bt_report["weights"]))
    for j, name in enumerate(extra):
        rows.append((name, extension_label(name, name in user_weightings),
                     {at["extra"] + j: 1.0},
                     floats(host_weights[at["extra"] + j])))
    num_methods = len(rows)
    rows += [(f"encore_tau_{t:g}", f"ENCORE (tau={t:g})", {at["sweep"] + j: 1.0},
              floats(host_weights[at["sweep"] + j])) for j, t in enumerate(temperatures)]
    selector = np.zeros((len(rows), weights.shape[0]), np.float32)
    for r, (_, _, picks, _) in enumerate(rows):
        for m, share in picks.items():
            selector[r, m] = share
    method_key = jax.random.fold_in(keys[2], 0)
    values, tie_rate, seed_accuracy = method_values(
        eval_data.diffs, weights, jnp.asarray(selector), method_key, tie, at["random"],
        num_random)
    # The method rows' credits under the other deterministic tie rule(s), for the tie effect.
    by_tie = {rule: method_values(eval_data.diffs, weights, jnp.asarray(selector[:num_methods]),
                                  method_key, rule, at["random"], num_random)[0]
              for rule in ("half", "loss") if rule != tie}

    # Intervals, conditional on the weights fitted on the train split: eval pairs are
    # resampled, the weights are not refitted. Overall, the R reported rows and the K rules'
    # own credits (under rule_tie) are bootstrapped with one key (paired resamples); a rule
    # row counts the pairs where the rule rated both responses. Per subset (an independent
    # key each, stratified for the safety aggregate) only the reported rows.
    rule_credit = rule_credits(eval_data.diffs, jax.random.fold_in(keys[4], 0), rule_tie)
    rated = eval_data.observed_or_all().T  # [K, N_eval]
    # A rule that rated no eval pair: count all pairs (every one of its credits is a tie).
    rated = np.where(rated.any(axis=1)[:, None], rated, True)
    num_eval = values.shape[1]
    everything = np.ones((len(rows), num_eval), bool)
    clusters = None
    if eval_data.groups is not None:  # eval groups recoded 0..G_eval-1
        clusters = np.unique(eval_data.groups, return_inverse=True)[1].astype(np.int32)
    boot = dict(num_resamples=num_resamples, confidence=confidence, clusters=clusters)
    overall = bootstrap_rows(keys[3], values, everything, **boot)
    overall_rules = bootstrap_rows(keys[3], rule_credit, rated, **boot)
    del rule_credit
    # Paired: the differences are bootstrapped as per-pair (per-group) differences.
    encore_minus = paired_differences(keys[3], values, 0, **boot)
    uniform_minus = paired_differences(keys[3], values, 1, **boot)
    encore_by_tie = {tie: encore_minus} if tie != "random" else {}
    encore_by_tie.update(tie_rule_differences(keys[3], by_tie, 0, **boot))
    uniform_by_tie = {tie: uniform_minus} if tie != "random" else {}
    uniform_by_tie.update(tie_rule_differences(keys[3], by_tie, 1, **boot))
    del by_tie
    subset_names = [] if eval_data.subset is None else _unique_in_order(eval_data.subset)
    per_subset = {}
    for g, name in enumerate(subset_names):
        in_subset = eval_data.subset == name
        ci = bootstrap_rows(jax.random.fold_in(keys[3], g + 1), values,
                            np.broadcast_to(in_subset, values.shape), **boot)
        per_subset[name] = (ci, int(in_subset.sum()))
    del values
    safety_report = None
    safety: list[dict[str, float] | None] = [None] * len(rows)
    if set(REWARDBENCH_SAFETY_SUBSETS) <= set(subset_names):
        # Stratified bootstrap: subsets resample independently, then aggregate replicates.
        safety, safety_report = safety_intervals(
            per_subset, len(rows), safety_counts, confidence,
            resampled=groups_nest_in(eval_data.groups, eval_data.subset))

    def by_rule(cis: dict[str, Any], r: int, baseline: int) -> dict[str, Any] | None:
        if r == baseline or r >= num_methods:
            return None
        return {rule: row_interval(cis[rule], r) for rule in ("half", "loss")}

    def method_row(r: int) -> dict[str, Any]:
        name, label, _, w = rows[r]
        return {
            "name": name,
            "label": label,
            "weights": w,
            "accuracy": row_interval(overall, r),
            "tie_rate": float(tie_rate[r]),
            "subsets": {s: {**row_interval(ci, r), "num_pairs": n}
                        for s, (ci, n) in per_subset.items()},
            "safety": safety[r],
            "encore_minus": None if r == 0 else row_interval(encore_minus, r),
            "uniform_minus": None if r == 1 else row_interval(uniform_minus, r),
            "encore_minus_by_tie": by_rule(encore_by_tie, r, 0),
            "uniform_minus_by_tie": by_rule(uniform_by_tie, r, 1),
            "kind": method_kind(name, name in user_weightings),
        }
    rules = [row.to_dict() for row in rule_summary(
        eval_data.chosen, eval_data.rejected, num_levels, chosen_mask=eval_data.chosen_mask,
        rejected_mask=eval_data.rejected_mask, rule_names=names, entropies=entropies,
        temperature=temperature, bt_weights=None if not fit_bt else bt_report["weights"],
        tie="half" if rule_tie == "random" else rule_tie, disagreement=disagreement, base=base,
        estimator=estimator,
    )]
    for k, rule in enumerate(rules):  # accuracy and interval from the paired bootstrap above
        rule.update(accuracy=float(overall_rules.estimate[k]),
                    accuracy_low=float(overall_rules.low[k]),
                    accuracy_high=float(overall_rules.high[k]))
    return ComparisonReport(
        num_pairs=int(num_pairs),
        num_train_pairs=int(train_data.chosen.shape[0]),
        num_eval_pairs=int(eval_data.chosen.shape[0]),
        num_rules=int(num_rules),
        num_levels=num_levels,
        rule_names=names,
        protocol={
            "split": protocol,
            "entropy_source": entropy_source,
            "tie": tie,
            "rule_tie": rule_tie,
            "groups": _groups_protocol(train_data.groups, eval_data.groups, num_missing_groups,
                                       missing_groups, train is not None),
            "group_column": None,
            "interval": f"percentile bootstrap, {num_resamples} resamples of eval "
                        f"{'groups (whole groups)' if clusters is not None else 'pairs'}, "
                        f"confidence {confidence:g}; conditional on the weights fitted on "
                        "the train split (BT, entropies, best single rule and the extra "
                        "weightings are not refitted per resample)",
            "intervals_conditional_on_fit": True,
            "confidence": confidence,
            "num_resamples": num_resamples,
            "temperature": float(temperature),
            "log_base": "e" if base is None else base,
            "estimator": estimator,
            "pairs_without_ratings": 0 if eval_data.observed is None else int(
                (~eval_data.observed.any(axis=1)).sum()),
        },
        entropies=floats(entropies),
        methods=[method_row(r) for r in range(num_methods)],
        temperature_sweep=[method_row(r) for r in range(num_methods, len(rows))],
        random_spread={
            "num_seeds": num_random,
            "std": float(np.std(seed_accuracy, ddof=1)) if num_random > 1 else 0.0,
            "min": float(seed_accuracy.min()),
            "max": float(seed_accuracy.max()),
        },
        single_best_rule={"rule": names[best_rule],
                          "train_accuracy": float(train_rule_acc[best_rule])},
        bradley_terry=bt_report,
        rules=rules,
        correlation=correlation_report(entropies, rules, confidence),
        subsets={s: n for s, (_, n) in per_subset.items()},
        rewardbench_safety=safety_report,
        tie_effect={
            "tie": tie,
            "tie_rates_differ": bool(np.ptp(tie_rate[:num_methods]) > 0),
            "encore_tie_rate": float(tie_rate[0]),
            "uniform_tie_rate": float(tie_rate[1]),
            "encore_minus_uniform": by_rule(encore_by_tie, 1, 0),
            "explanation": "each paired difference under ties 1/2 exceeds the one under ties "
                           "as losses by half the difference of the two rows' tie rates",
        },
    )


def _groups_protocol(train_groups: np.ndarray | None, eval_groups: np.ndarray | None,
                     num_missing: int, missing: str, separate_train: bool) -> dict[str, Any]:
    """The resampling unit and group counts recorded in the protocol."""
    if eval_groups is None:
        return {"unit": "pair", "note": "no groups: pairs are treated as independent units "
                "(pass groups / --group-column when a prompt contributes several pairs)"}
    return {
        "unit": "group",
        "num_eval_groups": int(np.unique(eval_groups).size),
        "num_train_groups": None if separate_train else int(np.unique(train_groups).size),
        "missing_group_ids": num_missing,
        "missing_groups": missing,
        "note": (f"{num_missing} pair(s) without a group id, each its own group"
                 if num_missing else "every pair has a group id"),
    }
