"""Reward functions for TRL's ``GRPOTrainer`` built from a saved weights JSON.

TRL calls every reward function as ``reward_func(prompts=..., completions=..., **kwargs)``
and expects one float per completion: ``prompts`` and ``completions`` are lists of the same
length (strings, or, for conversational data, lists of ``{"role", "content"}`` messages) and
``kwargs`` holds the dataset's other columns as lists aligned with ``completions`` (plus
TRL's own keys such as ``completion_ids`` or ``trainer_state``, which are ignored here).

The composite reward of completion ``i`` is the ENCORE composition

    phi_i = sum_k w_k psi_k(prompt_i, completion_i)

with ``w`` the weights of the JSON written by ``encore-jax weights --out`` or ``fit-bt --out``
(rules ``k`` in its order) and ``psi_k`` the score of rule ``k``, taken from

1. ``rule_scorers[name](prompts=..., completions=..., **kwargs)`` (your rule head), or else
2. the dataset column ``name`` in ``kwargs`` (a list aligned with the completions), or, for
   a rule named ``column[j]`` (a list-valued column read by encore-jax), element ``j`` of
   each row of the list column ``column``.

A rule score that is absent, ``None``, NaN or infinite is an error naming the rule (and the
row) and the fix: composites are never computed from a silently filled-in score.

Neither TRL nor JAX is imported: this module needs NumPy only.

References:
  ENCORE entropy-penalised composition of rule heads: arXiv 2503.20995.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["completion_texts", "composite_reward_func", "rule_reward_funcs"]

RuleScorer = Callable[..., Sequence[float]]
_LIST_ELEMENT = re.compile(r"^(?P<column>.+)\[(?P<index>\d+)\]$")


def completion_texts(completions: Sequence[Any]) -> list[str]:
    """The text of each completion: a string as is; a conversational completion (a list
    of ``{"role", "content"}`` messages, as TRL passes them) as its last message's
    content."""
    texts = []
    for i, completion in enumerate(completions):
        if isinstance(completion, str):
            texts.append(completion)
        elif (isinstance(completion, Sequence) and completion
              and isinstance(completion[-1], Mapping) and "content" in completion[-1]):
            texts.append(str(completion[-1]["content"]))
        else:
            raise TypeError(f"completions[{i}] is {type(completion).__name__}; expected a "
                            "string or a list of {'role', 'content'} messages")
    return texts


def _load(weights: Any) -> tuple[tuple[str, ...], np.ndarray]:
    from encore_jax.io.writers import read_weights_json

    if isinstance(weights, str | Path):
        loaded = read_weights_json(weights)
        return loaded.rule_names, loaded.weights
    if hasattr(weights, "rule_names") and hasattr(weights, "weights"):  # a WeightsFile
        return tuple(weights.rule_names), np.asarray(weights.weights, np.float64)
    raise TypeError(f"weights must be the path of a weights JSON (from `encore-jax weights "
                    f"--out`) or a WeightsFile, got {type(weights).__name__}")


def _check_scorers(rule_scorers: Mapping[str, RuleScorer] | None,
                   rule_names: Sequence[str]) -> dict[str, RuleScorer]:
    scorers = dict(rule_scorers or {})
    unknown = sorted(set(scorers) - set(rule_names))
    if unknown:
        raise ValueError(f"rule_scorers names {unknown}, which are not rules of the weights "
                         f"file (its rules: {list(rule_names)})")
    for name, scorer in scorers.items():
        if not callable(scorer):
            raise TypeError(f"rule_scorers[{name!r}] must be callable, got "
                            f"{type(scorer).__name__}")
    return scorers


def _column(name: str, kwargs: Mapping[str, Any]) -> Any:
    """The dataset column holding rule ``name`` (``None``: there is none)."""
    if name in kwargs:
        return kwargs[name]
    match = _LIST_ELEMENT.match(name)
    if match and match["column"] in kwargs:
        index = int(match["index"])
        rows = kwargs[match["column"]]
        out = []
        for i, row in enumerate(rows):
            if row is None or isinstance(row, str) or not isinstance(row, Sequence):
                raise ValueError(f"rule {name!r}: column {match['column']!r} row {i} is "
                                 f"{row!r}, not a list of rule scores")
            if index >= len(row):
                raise ValueError(f"rule {name!r}: column {match['column']!r} row {i} has "
                                 f"{len(row)} scores, no element {index}")
            out.append(row[index])
        return out
    return None


def _rule_scores(name: str, scorer: RuleScorer | None, prompts: Sequence[Any],
                 completions: Sequence[Any], kwargs: Mapping[str, Any]) -> np.ndarray:
    """``psi_k`` ``float64 [n]`` of rule ``name`` for the ``n`` completions."""
    n = len(completions)
    if scorer is not None:
        values, origin = scorer(prompts=prompts, completions=completions, **kwargs), \
            f"rule_scorers[{name!r}]"
    else:
        values, origin = _column(name, kwargs), f"dataset column {name!r}"
        if values is None:
            raise KeyError(
                f"no score for rule {name!r}: pass rule_scorers={{{name!r}: f}} with "
                f"f(prompts, completions, **kwargs) -> list of floats, or keep a dataset "
                f"column {name!r} of per-completion scores (TRL passes the dataset's extra "
                f"columns as keyword arguments; columns given: {sorted(kwargs)})")
    values = list(values)
    if len(values) != n:
        raise ValueError(f"{origin} gave {len(values)} scores for {n} completions")
    for i, value in enumerate(values):
        if value is None or isinstance(value, bool) or not isinstance(
                value, int | float | np.integer | np.floating):
            raise ValueError(f"{origin}: completion {i} has score {value!r} for rule "
                             f"{name!r}; every rule needs a real score per completion (fill "
                             "it upstream, or drop such rows from the dataset)")
    scores = np.asarray(values, dtype=np.float64)
    if not np.isfinite(scores).all():
        i = int(np.argmin(np.isfinite(scores)))
        raise ValueError(f"{origin}: completion {i} has score {scores[i]} for rule {name!r}; "
                         "scores must be finite")
    return scores


def composite_reward_func(weights: Any, rule_scorers: Mapping[str, RuleScorer] | None = None,
                          ) -> Callable[..., list[float]]:
    """One TRL reward function for the composite ``phi = sum_k w_k psi_k``.

    Args:
      weights: the path of a weights JSON (``encore-jax weights --out``, ``fit-bt --out``),
        or a :class:`encore_jax.io.WeightsFile`; gives the rules ``k`` and weights ``w_k``.
      rule_scorers: optional ``{rule name: f}``, ``f(prompts=..., completions=..., **kwargs)
        -> K`` floats (one per completion); a rule without a scorer is read from the dataset
        column of its name (see the module docstring).

    Returns:
      ``reward_func(prompts, completions, **kwargs) -> list[float]``, named
      ``encore_composite``; pass it as ``GRPOTrainer(reward_funcs=[reward_func])`` without
      ``reward_weights`` (the weights are inside).

    Raises:
      DataError: an unreadable weights file; ``ValueError`` / ``TypeError``: scorers for
        unknown rules or not callable. Calls raise ``KeyError`` for a rule with neither a
        scorer nor a column, ``ValueError`` for a missing or non-finite score.

    References:
      ENCORE: arXiv 2503.20995.
    """
    rule_names, w = _load(weights)
    scorers = _check_scorers(rule_scorers, rule_names)

    def encore_composite(prompts: Sequence[Any], completions: Sequence[Any],
                         **kwargs: Any) -> list[float]:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        psi = np.stack([_rule_scores(name, scorers.get(name), prompts, completions, kwargs)
                        for name in rule_names], axis=1)  # [n, K]
        return [float(v) for v in psi @ w]

    return encore_composite


def rule_reward_funcs(weights: Any, rule_scorers: Mapping[str, RuleScorer] | None = None,
                      ) -> tuple[list[Callable[..., list[float]]], list[float]]:
    """Per-rule TRL reward functions and their weights, for
    ``GRPOTrainer(reward_funcs=funcs, args=GRPOConfig(reward_weights=weights))`` (TRL then
    logs each rule's reward separately; the weighted sum is the same composite).

    Args and scores as :func:`composite_reward_func`; function ``k`` is named after rule
    ``k`` (TRL logs rewards under the function's ``__name__``).
    """
    rule_names, w = _load(weights)
    scorers = _check_scorers(rule_scorers, rule_names)

    def one(name: str) -> Callable[..., list[float]]:
        def reward(prompts: Sequence[Any], completions: Sequence[Any],
                   **kwargs: Any) -> list[float]:
            return [float(v) for v in _rule_scores(name, scorers.get(name), prompts,
                                                   completions, kwargs)]

        reward.__name__ = reward.__qualname__ = name
        return reward

    return [one(name) for name in rule_names], [float(v) for v in w]
