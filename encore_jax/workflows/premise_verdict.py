"""The premise check's verdict and the sentences that explain it, each with its strength.

Verdict rule (:data:`VERDICT_RULE`): ``premise_holds`` is True iff there are at least 3 rules,
at least 2 bootstrap units (groups, else pairs), and the whole ``confidence`` bootstrap
intervals of Pearson ``r(entropy, accuracy)`` AND of Spearman ``rho`` lie below 0. The
verdict is about these rules on these pairs (the bootstrap holds the rules fixed); how far
it reaches beyond them is what the permutation test across the rules says, and the first
reason adds it whenever ``p > 1 - confidence`` ("the order could be chance").

Reasons, most important first; each says what it is about ("over these K rules, resampling
G groups") and gives its interval:

* the direction of the correlation, stated only when Pearson and Spearman agree (same sign,
  and both intervals exclude 0 or both contain it); otherwise "the trend is unclear". With
  fewer than two units there is no interval and no direction;
* the permutation test across the rules; below :data:`FEW_RULES` rules, that a correlation
  over so few rules is fragile;
* the rare-flag reading (rules among the lower-entropy half that tie on more than
  ``rare_tie_rate`` of their pairs, with their share of the ENCORE weight);
* rules without a decisive pair, and rules with fewer than :data:`MIN_DECIDED_PAIRS` decided
  pairs (their decisive accuracy enters no reason);
* the decisive view (entropy against decisive accuracy), with the same agreement rule;
* candidates for reversal: rules with at least :data:`MIN_DECIDED_PAIRS` decided pairs whose
  decisive-accuracy interval lies below 1/2;
* resamples where the correlation was undefined.

The rules and correlations are those of :mod:`encore_jax.workflows.diagnose`
(``RuleDiagnosis``) and :mod:`encore_jax.workflows.premise_correlation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["FEW_RULES", "MIN_DECIDED_PAIRS", "VERDICT_RULE", "verdict_and_reasons"]

VERDICT_RULE = ("premise_holds iff K >= 3, at least 2 bootstrap units, and the whole "
                "{confidence:.0%} bootstrap intervals of Pearson r and Spearman rho "
                "(entropy, accuracy) lie below 0")

MIN_DECIDED_PAIRS = 20
"""Decided (not tied) pairs a rule needs before its decisive accuracy enters a reason or the
decisive correlation: at 20 the standard error of a decisive accuracy is at most
``0.5 / sqrt(20) = 0.11``, so one rule cannot swing the reading on a handful of pairs."""

FEW_RULES = 10
"""Below this many rules a reason says the correlation across rules is fragile (one rule
can move it a lot; the ENCORE paper's correlations are over 10 rules)."""


def _names(rules: Sequence[str]) -> str:
    shown = ", ".join(rules[:6])
    return shown + (f" and {len(rules) - 6} more" if len(rules) > 6 else "")


def _interval_text(c: Any) -> str:
    return f"{c.estimate:+.2f} [{c.low:+.2f}, {c.high:+.2f}]"


def _side(c: Any) -> int:
    """-1 / +1 when the interval lies below / above 0, 0 when it contains 0."""
    return -1 if c.high < 0 else 1 if c.low > 0 else 0


def _permutation_text(test: Any, k: int) -> str:
    how = (f"exact over all {k}! orders" if test.exact
           else f"Monte Carlo, {test.num_permutations} random orders")
    return f"permutation test across the {k} rules: p = {test.pvalue:.3g} ({how})"


def _direction(what: str, c: Any, level: str, scope: str, perm_p: float,
               alpha: float) -> tuple[int, str]:
    """``(direction, sentence)`` of one correlation view (``c``: PremiseCorrelation); the
    direction is -1 / +1 only when Pearson and Spearman agree and both intervals exclude 0."""
    p, s = c.pearson, c.spearman
    numbers = (f"Pearson r = {_interval_text(p)}, Spearman rho = {_interval_text(s)} "
               f"({level} intervals {scope})")
    sign_p, sign_s = np.sign(p.estimate), np.sign(s.estimate)
    if sign_p != sign_s or _side(p) != _side(s):
        why = ("disagree in sign" if sign_p != sign_s
               else "disagree: one interval contains 0 and the other does not")
        return 0, f"{what}: the trend is unclear: {numbers} {why}"
    side = _side(p)
    if side == 0:
        return 0, (f"{what}: inconclusive: {numbers} contain 0; more pairs (or groups) "
                   f"would narrow them (Pearson width {p.high - p.low:.2f})")
    trend = "accuracy falls as entropy rises" if side < 0 else "accuracy rises with entropy"
    where = "below" if side < 0 else "above"
    text = f"{what}: {trend}: {numbers} lie {where} 0"
    if side > 0:
        text += ", the opposite of ENCORE's premise"
    if perm_p > alpha:
        text += (f"; but across the rules the order could be chance (permutation p = "
                 f"{perm_p:.3g} > {alpha:.2g})")
    return side, text


def verdict_and_reasons(rules: Sequence[Any], corr: Any, decisive: Any, confidence: float,
                        rare_tie_rate: float, num_units: int, unit: str
                        ) -> tuple[bool, list[str]]:
    """``(premise_holds, reasons)`` from the per-rule numbers ``rules`` (``RuleDiagnosis``),
    the correlation ``corr`` and its ``decisive`` view (``PremiseCorrelation`` or None),
    over ``num_units`` bootstrap units named ``unit`` (``"pairs"`` or ``"groups"``)."""
    k = len(rules)
    if k < 3:
        return False, [f"only {k} rule(s): a correlation across rules needs at least 3, so "
                       "there is no verdict (premise_holds is false by rule)"]
    if corr is None:
        return False, ["entropy or accuracy is the same for every rule: the correlation is "
                       "undefined, so there is no verdict (premise_holds is false by rule)"]
    level = f"{confidence:.0%}"
    alpha = 1.0 - confidence
    with_interval = num_units >= 2
    reasons: list[str] = []
    if not with_interval:
        holds = False
        reasons.append(
            f"only {num_units} {unit[:-1]}: resampling it cannot measure uncertainty, so there "
            f"is no interval and no direction (Pearson r = {corr.pearson.estimate:+.2f} over "
            f"these {k} rules; premise_holds is false by rule)")
    else:
        scope = f"over these {k} rules, resampling {num_units} {unit}"
        side, text = _direction("entropy vs accuracy", corr, level, scope,
                                corr.pearson_permutation.pvalue, alpha)
        holds = side < 0
        reasons.append(text)
    reasons.append(_permutation_text(corr.pearson_permutation, k) + " for Pearson r, p = "
                   f"{corr.spearman_permutation.pvalue:.3g} for Spearman rho")
    if k < FEW_RULES:
        reasons.append(f"a correlation over only {k} rules is fragile: one rule can move it a "
                       f"lot (fewer than {FEW_RULES} rules)")
    order = np.argsort([x.entropy for x in rules], kind="stable")
    lower_half = [rules[i] for i in order[: k // 2]]
    rare = [x for x in lower_half if x.tie_rate > rare_tie_rate]
    if rare:
        lowest = {rules[i].rule for i in order[: len(rare)]}
        which = (f"the {len(rare)} lowest-entropy rules" if lowest == {x.rule for x in rare}
                 else f"{len(rare)} of the {len(lower_half)} lower-entropy rules")
        share = sum(x.encore_weight for x in rare)
        reasons.append(
            f"{which} ({_names([x.rule for x in rare])}) tie on more than "
            f"{rare_tie_rate:.0%} of their pairs: their low entropy comes from rare flags, "
            f"not from consistent raters, yet they get {share:.0%} of the ENCORE weight")
    undecided = [x.rule for x in rules if x.decisive_accuracy is None]
    if undecided:
        reasons.append(f"{_names(undecided)} tie(s) on every pair rated: no decisive accuracy; "
                       "such a rule cannot order any pair")
    few = [x.rule for x in rules if 0 < x.num_decided < MIN_DECIDED_PAIRS]
    if few:
        reasons.append(f"{_names(few)} decide(s) fewer than {MIN_DECIDED_PAIRS} pairs: "
                       "their decisive accuracy is left out of the decisive view and of every "
                       "reason")
    if decisive is not None and with_interval:
        kd = len(decisive.rules)
        scope = f"over the {kd} rules with at least {MIN_DECIDED_PAIRS} decided pairs, " \
                f"resampling {num_units} {unit}"
        _, text = _direction("on the pairs each rule does not tie", decisive, level, scope,
                             decisive.pearson_permutation.pvalue, alpha)
        reasons.append(text)
    reverse = [x for x in rules if x.num_decided >= MIN_DECIDED_PAIRS
               and x.decisive_high is not None and x.decisive_high < 0.5]
    if reverse:
        listed = "; ".join(
            f"{x.rule} {x.decisive_accuracy:.3f} [{x.decisive_low:.3f}, {x.decisive_high:.3f}] "
            f"over {x.num_decided} decided pairs" for x in reverse[:6])
        reasons.append(
            f"candidates for reversal: decisive accuracy below 1/2 ({level} interval, "
            f"resampling {num_units} {unit}): {listed}"
            + (f" and {len(reverse) - 6} more" if len(reverse) > 6 else "")
            + "; these rules prefer the rejected response more often than not")
    if with_interval and corr.num_valid_resamples < len(corr.pearson_replicates):
        reasons.append(f"{len(corr.pearson_replicates) - corr.num_valid_resamples} of "
                       f"{len(corr.pearson_replicates)} resamples left the correlation "
                       "undefined (a rule without pairs); the interval uses the others")
    return holds, reasons
