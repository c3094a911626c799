"""The premise check's verdict and the sentences that explain it, from its numbers.

Verdict rule (:data:`VERDICT_RULE`): ``premise_holds`` is True iff there are at least 3
rules and the whole ``confidence`` interval of Pearson ``r(entropy, accuracy)`` lies below 0.
Reasons, most important first: the sign and interval of ``r``; the rare-flag reading (rules
among the lower-entropy half that tie on more than ``rare_tie_rate`` of their pairs, with
their share of the ENCORE weight); rules without a decisive pair; the decisive view; the
resamples where the correlation was undefined. The rules and correlations are those of
:mod:`encore_jax.workflows.diagnose` (``RuleDiagnosis``, ``PremiseCorrelation``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["VERDICT_RULE", "verdict_and_reasons"]

VERDICT_RULE = ("premise_holds iff K >= 3 and the whole {confidence:.0%} bootstrap interval of "
                "Pearson r(entropy, accuracy) lies below 0")


def _names(rules: Sequence[str]) -> str:
    shown = ", ".join(rules[:6])
    return shown + (f" and {len(rules) - 6} more" if len(rules) > 6 else "")


def _interval_text(c: Any) -> str:
    return f"{c.estimate:+.2f} [{c.low:+.2f}, {c.high:+.2f}]"


def verdict_and_reasons(rules: Sequence[Any], corr: Any, decisive: Any, confidence: float,
                        rare_tie_rate: float, num_units: int, unit: str
                        ) -> tuple[bool, list[str]]:
    """``(premise_holds, reasons)`` from the per-rule numbers ``rules`` (``RuleDiagnosis``),
    the correlation ``corr`` and its ``decisive`` view (``PremiseCorrelation`` or None),
    over ``num_units`` bootstrap units named ``unit`` (``"pairs"`` or ``"groups"``)."""
    k = len(rules)
    reasons: list[str] = []
    if k < 3:
        return False, [f"only {k} rule(s): a correlation across rules needs at least 3, so "
                       "there is no verdict (premise_holds is false by rule)"]
    if corr is None:
        return False, ["entropy or accuracy is the same for every rule: the correlation is "
                       "undefined, so there is no verdict (premise_holds is false by rule)"]
    r = corr.pearson
    level = f"{confidence:.0%}"
    holds = bool(r.high < 0)
    if holds:
        reasons.append(f"accuracy falls as entropy rises: Pearson r = {_interval_text(r)} "
                       f"({level} interval over {num_units} {unit}) lies below 0")
    elif r.low > 0:
        reasons.append(f"accuracy rises with entropy, the opposite of ENCORE's premise: "
                       f"Pearson r = {_interval_text(r)} ({level} interval over {num_units} "
                       f"{unit}) lies above 0")
    else:
        reasons.append(f"inconclusive: Pearson r = {_interval_text(r)} ({level} interval over "
                       f"{num_units} {unit}) contains 0; more pairs (or groups) would narrow "
                       f"it (width {r.high - r.low:.2f})")
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
    if decisive is not None:
        d = decisive.pearson
        direction = ("falls" if d.high < 0 else "rises" if d.low > 0 else "shows no clear "
                     "trend")
        reasons.append(f"on the pairs each rule does not tie, accuracy {direction} with "
                       f"entropy: Pearson r = {_interval_text(d)} over "
                       f"{len(decisive.rules)} rules")
    if corr.num_valid_resamples < len(corr.pearson_replicates):
        reasons.append(f"{len(corr.pearson_replicates) - corr.num_valid_resamples} of "
                       f"{len(corr.pearson_replicates)} resamples left the correlation "
                       "undefined (a rule without pairs); the interval uses the others")
    return holds, reasons
