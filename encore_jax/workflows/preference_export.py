"""A preference dataset for reward-model training from rule-based labels.

TRL's ``RewardTrainer`` and ``DPOTrainer`` read a *preference* dataset with the text columns
``prompt``, ``chosen`` and ``rejected`` (explicit-prompt standard format). Given pairs of
responses ``(A_i, B_i)`` with a rule-based label (``True`` = A preferred) and its margin
``m_i`` (exactly ``0`` on a tie, see :func:`encore_jax.label_pairs`):

* ``m_i > 0``: ``chosen = A_i``, ``rejected = B_i``;
* ``m_i < 0``: swapped, ``chosen = B_i``, ``rejected = A_i``;
* ``m_i == 0`` (a tie): by ``ties``: ``"drop"`` leaves the pair out, ``"keep-order"`` keeps
  ``chosen = A_i`` (the input's order); ``None`` makes a tie an error (never silent);
* an unlabelled pair (a missing rating) is left out and counted.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["TIE_HANDLING", "PreferenceExport", "preference_columns"]

TIE_HANDLING = ("drop", "keep-order")


class PreferenceExport(NamedTuple):
    """The export's columns and what went into it.

    Attributes:
      columns: ``{"prompt", "chosen", "rejected"}`` -> ``[n]`` strings.
      rows: pairs written.
      swapped: pairs whose label preferred B (texts swapped).
      ties: pairs with a tied margin (dropped or kept in order, by ``ties``).
      ties_policy: the ``ties`` option.
      unlabelled: pairs left out for a missing rating.
    """

    columns: dict[str, np.ndarray]
    rows: int
    swapped: int
    ties: int
    ties_policy: str | None
    unlabelled: int

    def summary(self) -> dict[str, Any]:
        return {"rows": self.rows, "swapped": self.swapped, "ties": self.ties,
                "ties_policy": self.ties_policy, "unlabelled_left_out": self.unlabelled}


def preference_columns(prompt: np.ndarray, text_a: np.ndarray, text_b: np.ndarray,
                       margin: np.ndarray, labelled: np.ndarray, *,
                       ties: str | None) -> PreferenceExport:
    """The ``prompt`` / ``chosen`` / ``rejected`` columns (module docstring).

    Args:
      prompt, text_a, text_b: ``[N]`` strings (the prompt, response A, response B).
      margin: ``[N]`` label margins (``> 0``: A preferred; ``== 0``: tie); ignored where
        not ``labelled``.
      labelled: boolean ``[N]``, ``False`` for pairs without a label.
      ties: ``"drop"``, ``"keep-order"`` or ``None`` (a tie is then a ``ValueError``).

    Raises:
      ValueError: a tie with ``ties=None`` (naming the first tied row), or an unknown
        ``ties``.
    """
    if ties is not None and ties not in TIE_HANDLING:
        raise ValueError(f"ties must be one of {TIE_HANDLING} or None, got {ties!r}")
    margin = np.where(labelled, np.asarray(margin, np.float64), np.nan)
    tied = labelled & (margin == 0)
    n_ties = int(tied.sum())
    if n_ties and ties is None:
        raise ValueError(f"{n_ties} labelled pairs tie (margin exactly 0, first at row "
                         f"{int(np.argmax(tied))}); choose --ties drop (leave them out) or "
                         "--ties keep-order (keep the input's chosen first)")
    keep = labelled & ~(tied if ties == "drop" else np.zeros_like(tied))
    swap = keep & (margin < 0)
    text_a, text_b = np.asarray(text_a, str), np.asarray(text_b, str)
    columns = {"prompt": np.asarray(prompt, str)[keep],
               "chosen": np.where(swap, text_b, text_a)[keep],
               "rejected": np.where(swap, text_a, text_b)[keep]}
    return PreferenceExport(columns, int(keep.sum()), int(swap.sum()), n_ties, ties,
                            int((~labelled).sum()))
