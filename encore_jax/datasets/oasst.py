"""The OpenAssistant message-tree format: per-reply ratings and sibling-rank preference pairs.

OpenAssistant Conversations (OASST1; Köpf et al., arXiv:2304.07327) stores one JSON object per
message. The fields used here:

* ``message_id``, ``parent_id``, ``message_tree_id``: the tree. A reply's ``parent_id`` is the
  message it answers; sibling replies share it, so the parent id is the *group* (prompt) id.
* ``role``: ``"prompter"`` or ``"assistant"``.
* ``rank``: position of a reply among its ranked siblings, ``0`` = best, ``null`` = unranked.
* ``labels``: ``{"name": [...], "value": [...], "count": [...]}``; each value is the mean of
  ``count`` annotators' ratings, in ``[0, 1]``.

Derived here (all NumPy, no JAX):

* per-reply ratings ``[N, K]`` of the ``K`` chosen labels, *oriented* so that higher = better:
  the labels in ``negated`` become ``0 - value`` (:data:`NEGATED_LABELS` by default). A label a
  reply does not carry is missing: ``NaN`` in ``values`` and ``False`` in ``mask``, never a
  fill value; :attr:`ReplyRatings.mask` ``.sum(0)`` counts the observed ratings per label.
* preference pairs: every pair of ranked sibling assistant replies, the lower ``rank``
  preferred; the group of a pair is the parent id.
* integer levels ``0..L-1`` per label (:func:`dense_levels`): the dense rank of each distinct
  oriented value within its label, so the level map preserves order and distinctness.

Labels: the 13 in :data:`STANDARD_LABELS` by default. ``moral_judgement`` and
``political_content`` (:data:`RARE_LABELS`) were only asked on a few messages (in the English
validation split: two prompter messages, no assistant reply); they are left out by default and
:attr:`ReplyRatings.other_labels` counts how many selected messages carried each label that was
left out. Pass ``labels=STANDARD_LABELS + RARE_LABELS`` to keep them (they are then mostly
missing).
"""

from __future__ import annotations

import gzip
import itertools
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "NEGATED_LABELS",
    "RARE_LABELS",
    "STANDARD_LABELS",
    "PreferencePairs",
    "ReplyRatings",
    "dense_levels",
    "oasst_preference_pairs",
    "oasst_reply_ratings",
    "read_oasst_messages",
]

STANDARD_LABELS: tuple[str, ...] = (
    "spam", "fails_task", "lang_mismatch", "pii", "not_appropriate", "hate_speech",
    "sexual_content", "quality", "toxicity", "humor", "helpfulness", "creativity", "violence",
)
"""The 13 labels OASST1 asks for on (almost) every reply, in the data set's own order."""

RARE_LABELS: tuple[str, ...] = ("moral_judgement", "political_content")
"""Labels asked on only a few messages; not selected by default (see the module docstring)."""

NEGATED_LABELS: tuple[str, ...] = (
    "spam", "fails_task", "lang_mismatch", "pii", "not_appropriate", "hate_speech",
    "sexual_content", "toxicity", "violence",
)
"""Labels where a higher raw value is *worse* (a flag or a harm): oriented as ``0 - value`` so
that higher = better for every rule. ``quality``, ``humor``, ``helpfulness`` and
``creativity`` keep their sign. The rare labels are not oriented by default: pass ``negated``
to choose."""

_KNOWN_LABELS = frozenset(STANDARD_LABELS + RARE_LABELS)


class ReplyRatings(NamedTuple):
    """Oriented per-reply label ratings.

    Attributes:
      rule_names: the ``K`` label names, in column order.
      negated: boolean ``[K]``, ``True`` where the column holds ``0 - value``.
      message_ids: ``[N]`` message ids (strings), in file order.
      group_ids: ``[N]`` parent ids (the prompt each reply answers).
      tree_ids: ``[N]`` conversation tree ids.
      ranks: ``[N]`` ``int64`` sibling rank, ``-1`` where the reply is unranked.
      values: ``float64`` ``[N, K]`` oriented values; ``NaN`` where missing.
      mask: boolean ``[N, K]``, ``True`` = the reply carries the label.
      other_labels: label name -> number of these replies carrying it, for labels that were
        not selected (e.g. the rare ones).
    """

    rule_names: tuple[str, ...]
    negated: np.ndarray
    message_ids: np.ndarray
    group_ids: np.ndarray
    tree_ids: np.ndarray
    ranks: np.ndarray
    values: np.ndarray
    mask: np.ndarray
    other_labels: dict[str, int]

    def missing_counts(self) -> dict[str, int]:
        """Label name -> number of replies that do not carry it."""
        return {n: int(c) for n, c in zip(self.rule_names, (~self.mask).sum(0), strict=True)}


class PreferencePairs(NamedTuple):
    """Preference pairs of sibling replies, as indices into a :class:`ReplyRatings`.

    Attributes:
      chosen, rejected: ``int64`` ``[P]`` row indices of the preferred (lower ``rank``) and
        the other reply.
      group_ids: ``[P]`` the shared parent id of the two replies.
    """

    chosen: np.ndarray
    rejected: np.ndarray
    group_ids: np.ndarray


def read_oasst_messages(path: str | Path) -> list[dict[str, Any]]:
    """The messages of an OASST JSONL file, gzipped (detected by its magic bytes) or plain.

    Args:
      path: a ``.jsonl`` or ``.jsonl.gz`` file with one JSON object per line (blank lines
        are skipped).

    Returns:
      The message objects in file order.

    Raises:
      ValueError: a line that is not a JSON object, naming the file and line.
    """
    path = Path(path)
    with path.open("rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    messages = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}: line {number}: not JSON ({err.msg})") from None
            if not isinstance(message, dict):
                raise ValueError(f"{path}: line {number}: expected a JSON object per line")
            messages.append(message)
    return messages


def _field(message: Mapping[str, Any], key: str, index: int) -> Any:
    if key not in message:
        raise ValueError(f"message {index}: no field {key!r} (is this the OASST message format?)")
    return message[key]


def _check_label_names(labels: Sequence[str], negated: Iterable[str]) -> tuple[str, ...]:
    labels = tuple(labels)
    if not labels or isinstance(labels, str) or len(set(labels)) != len(labels):
        raise ValueError(f"labels must be distinct label names, got {labels!r}")
    negated = tuple(negated)
    unknown = [n for n in negated if n not in labels and n not in _KNOWN_LABELS]
    if unknown:
        raise ValueError(
            f"negated names {unknown} are neither in labels nor known OASST labels "
            f"({sorted(_KNOWN_LABELS)}); check the spelling")
    return labels


def _message_labels(message: Mapping[str, Any], index: int) -> dict[str, float]:
    """Label name -> raw value of one message, checked."""
    raw = message.get("labels")
    if raw is None:
        return {}
    names, values = raw.get("name"), raw.get("value")
    where = f"message {message.get('message_id', index)!r}"
    if not isinstance(names, list) or not isinstance(values, list) or len(names) != len(values):
        raise ValueError(f"{where}: 'labels' needs equal-length lists 'name' and 'value'")
    if len(set(names)) != len(names):
        raise ValueError(f"{where}: a label name appears twice in {names}")
    out = {}
    for name, value in zip(names, values, strict=True):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"{where}: label {name!r} has value {value!r}, expected [0, 1]")
        out[name] = float(value)
    return out


def oasst_reply_ratings(
    messages: Sequence[Mapping[str, Any]],
    *,
    labels: Sequence[str] = STANDARD_LABELS,
    negated: Iterable[str] = NEGATED_LABELS,
    role: str = "assistant",
) -> ReplyRatings:
    """Oriented label ratings of every message of ``role``.

    Args:
      messages: OASST message objects (:func:`read_oasst_messages`).
      labels: the label names to keep, in column order (``K`` rules).
      negated: label names oriented as ``0 - value`` so that higher = better; names not in
        ``labels`` are ignored, unknown names raise (a typo would silently change a sign).
      role: which messages are the rated replies (``"assistant"``; ``"prompter"`` to study
        prompts).

    Returns:
      A :class:`ReplyRatings`; a reply without labels is kept with an all-``False`` mask row.
    """
    labels = _check_label_names(labels, negated)
    negate = np.array([name in set(negated) for name in labels])
    column = {name: k for k, name in enumerate(labels)}
    rows = [(i, m) for i, m in enumerate(messages) if _field(m, "role", i) == role]
    ids = [_field(m, "message_id", i) for i, m in rows]
    duplicated = [key for key, count in Counter(ids).items() if count > 1]
    if duplicated:
        raise ValueError(f"message id {duplicated[0]!r} appears more than once")
    values = np.full((len(rows), len(labels)), np.nan)
    other: Counter[str] = Counter()
    for row, (i, message) in enumerate(rows):
        for name, value in _message_labels(message, i).items():
            if name in column:
                values[row, column[name]] = value
            else:
                other[name] += 1
    values = np.where(negate, np.subtract(0.0, values), values)  # 0 - 0.0 is +0.0, not -0.0
    ranks = [_field(m, "rank", i) for i, m in rows]
    return ReplyRatings(
        rule_names=labels,
        negated=negate,
        message_ids=np.array(ids, dtype=str),
        group_ids=np.array([str(_field(m, "parent_id", i)) for i, m in rows], dtype=str),
        tree_ids=np.array([_field(m, "message_tree_id", i) for i, m in rows], dtype=str),
        ranks=np.array([-1 if r is None else int(r) for r in ranks], dtype=np.int64),
        values=values,
        mask=~np.isnan(values),
        other_labels=dict(sorted(other.items())),
    )


def oasst_preference_pairs(ratings: ReplyRatings) -> PreferencePairs:
    """Every pair of ranked sibling replies, the lower ``rank`` preferred (``0`` = best).

    Args:
      ratings: the replies (:func:`oasst_reply_ratings`); unranked ones (``rank == -1``)
        take part in no pair.

    Returns:
      :class:`PreferencePairs` ordered by the first appearance of the parent, then by the
      file order of the two replies, as :func:`itertools.combinations` yields them.

    Raises:
      ValueError: two siblings share a rank (the preference would be undefined).
    """
    siblings: dict[str, list[int]] = {}
    for row in np.flatnonzero(ratings.ranks >= 0):
        siblings.setdefault(str(ratings.group_ids[row]), []).append(int(row))
    chosen, rejected, groups = [], [], []
    for parent, rows in siblings.items():
        for a, b in itertools.combinations(rows, 2):
            rank_a, rank_b = ratings.ranks[a], ratings.ranks[b]
            if rank_a == rank_b:
                raise ValueError(
                    f"replies {ratings.message_ids[a]!r} and {ratings.message_ids[b]!r} to "
                    f"{parent!r} share rank {rank_a}; a preference pair needs distinct ranks")
            chosen.append(a if rank_a < rank_b else b)
            rejected.append(b if rank_a < rank_b else a)
            groups.append(parent)
    return PreferencePairs(
        np.array(chosen, dtype=np.int64), np.array(rejected, dtype=np.int64),
        np.array(groups, dtype=str))


def dense_levels(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Integer levels: the dense rank of each observed value among its column's distinct values.

    Level ``0`` is the lowest (worst, once oriented) value of a column, level ``j`` its
    ``j``-th smallest distinct value. The map is strictly increasing, so comparisons between
    two replies (wins, ties) and the plug-in entropy with each distinct value a level are the
    same on levels as on values. Sums of levels across labels are *not* sums of values.

    Args:
      values: ``float64`` ``[N, K]``.
      mask: boolean ``[N, K]``, ``True`` = observed; unobserved entries get level 0.

    Returns:
      ``(levels, level_values)``: ``int32`` ``[N, K]``, and for each column the sorted
      distinct observed values (``level_values[k][j]`` is the value of level ``j``).
      The number of levels to declare is ``max(len(v) for v in level_values)``.
    """
    levels = np.zeros(values.shape, dtype=np.int32)
    table = []
    for k in range(values.shape[1]):
        distinct, inverse = np.unique(values[mask[:, k], k], return_inverse=True)
        levels[mask[:, k], k] = inverse
        table.append(distinct)
    return levels, table
