"""Real human-rated data shipped with encore-jax, and loaders for its source formats.

* :func:`load_oasst1`: the English validation split of OpenAssistant Conversations (OASST1;
  Köpf et al., arXiv:2304.07327; Apache-2.0): 1,243 assistant replies rated on 13 labels,
  1,026 sibling-rank preference pairs over 418 prompts. :func:`oasst1_path` gives the shipped
  CSV files for the command line (``oasst1_path("pairs")``, ``"pairs_levels"``,
  ``"ratings"``, ``"ratings_levels"``).
* :func:`read_oasst_messages`, :func:`oasst_reply_ratings`, :func:`oasst_preference_pairs`:
  the OpenAssistant message-tree format in general (any OASST export).

NumPy only: importing this package does not import JAX.
"""

from encore_jax.datasets.oasst import (
    NEGATED_LABELS,
    RARE_LABELS,
    STANDARD_LABELS,
    PreferencePairs,
    ReplyRatings,
    dense_levels,
    oasst_preference_pairs,
    oasst_reply_ratings,
    read_oasst_messages,
)
from encore_jax.datasets.oasst1_data import (
    OASST1_ATTRIBUTION,
    OASST1_FILES,
    OASST1_NUM_LEVELS,
    OASST1_SOURCE_SHA256,
    Oasst1,
    build_oasst1_files,
    derive_oasst1,
    load_oasst1,
    oasst1_path,
)

__all__ = [
    "NEGATED_LABELS",
    "OASST1_ATTRIBUTION",
    "OASST1_FILES",
    "OASST1_NUM_LEVELS",
    "OASST1_SOURCE_SHA256",
    "RARE_LABELS",
    "STANDARD_LABELS",
    "Oasst1",
    "PreferencePairs",
    "ReplyRatings",
    "build_oasst1_files",
    "dense_levels",
    "derive_oasst1",
    "load_oasst1",
    "oasst1_path",
    "oasst_preference_pairs",
    "oasst_reply_ratings",
    "read_oasst_messages",
]
