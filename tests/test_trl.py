"""encore_jax.integrations.trl: reward functions called exactly as TRL's GRPOTrainer calls
them (keyword prompts / completions, dataset columns as extra keyword lists, TRL's own
keys), checked against NumPy. TRL itself is not needed."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from encore_jax.integrations.trl import (
    completion_texts,
    composite_reward_func,
    rule_reward_funcs,
)
from encore_jax.io import DataError, write_weights_json

RULES = ("harmless", "honest", "helpful")
W = np.array([0.5, 0.3, 0.2])


@pytest.fixture
def weights_path(tmp_path):
    path = tmp_path / "w.json"
    write_weights_json(path, RULES, W, method="encore")
    return path


def trl_call(func, prompts, completions, **columns):
    """As TRL's GRPOTrainer._calculate_rewards: keywords, plus its own extra keys."""
    return func(prompts=prompts, completions=completions,
                completion_ids=[[1, 2]] * len(completions), trainer_state=None, **columns)


PROMPTS = ["p0", "p0", "p1", "p1"]
TEXT = ["a", "bb", "ccc", ""]
CHAT = [[{"role": "assistant", "content": t}] for t in TEXT]


def length_scorer(prompts, completions, **kwargs):
    return [float(len(t)) for t in completion_texts(completions)]


@pytest.mark.parametrize("completions", [TEXT, CHAT], ids=["standard", "conversational"])
def test_composite_from_scorers_and_columns(weights_path, completions):
    honest = [0.1, 0.9, 0.4, 0.0]
    helpful = [[0.2, 1.0], [0.3, 0.5], [0.7, 0.25], [0.0, 1.0]]
    func = composite_reward_func(weights_path, {"harmless": length_scorer})
    rewards = trl_call(func, PROMPTS, completions, honest=honest, helpful=[1, 2, 3, 4],
                       extra=helpful)
    psi = np.column_stack([[len(t) for t in TEXT], honest, [1, 2, 3, 4]]).astype(float)
    assert isinstance(rewards, list) and all(type(r) is float for r in rewards)
    np.testing.assert_allclose(rewards, psi @ W, rtol=1e-15)
    assert func.__name__ == "encore_composite"


def test_list_column_elements_and_rule_funcs(tmp_path):
    path = tmp_path / "w.json"
    write_weights_json(path, ("scores[0]", "scores[1]"), [0.25, 0.75], method="encore")
    lists = [[0.2, 1.0], [0.3, 0.5], [0.7, 0.25], [0.0, 1.0]]
    rewards = trl_call(composite_reward_func(path), PROMPTS, TEXT, scores=lists)
    np.testing.assert_allclose(rewards, np.array(lists) @ [0.25, 0.75], rtol=1e-15)
    funcs, weights = rule_reward_funcs(path)
    assert [f.__name__ for f in funcs] == ["scores[0]", "scores[1]"] and weights == [0.25, 0.75]
    per_rule = np.array([trl_call(f, PROMPTS, TEXT, scores=lists) for f in funcs])
    np.testing.assert_allclose(weights @ per_rule, rewards, rtol=1e-15)


def test_missing_rule_scores_are_errors_naming_the_rule_and_fix(weights_path):
    func = composite_reward_func(weights_path, {"harmless": length_scorer})
    with pytest.raises(KeyError, match=r"rule 'helpful'.*rule_scorers=.*dataset column"):
        trl_call(func, PROMPTS, TEXT, honest=[0.0] * 4)
    with pytest.raises(ValueError, match=r"completion 2 has score None for rule 'honest'"):
        trl_call(func, PROMPTS, TEXT, honest=[0.0, 1.0, None, 0.0], helpful=[0.0] * 4)
    with pytest.raises(ValueError, match=r"completion 1 has score nan for rule 'honest'"):
        trl_call(func, PROMPTS, TEXT, honest=[0.0, float("nan"), 1, 0], helpful=[0.0] * 4)
    with pytest.raises(ValueError, match=r"gave 3 scores for 4 completions"):
        trl_call(func, PROMPTS, TEXT, honest=[0.0] * 3, helpful=[0.0] * 4)
    with pytest.raises(ValueError, match=r"not rules of the weights file"):
        composite_reward_func(weights_path, {"kind": length_scorer})
    with pytest.raises(TypeError, match=r"must be callable"):
        composite_reward_func(weights_path, {"honest": 1.0})


def test_bad_weights_file(tmp_path):
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"rules": ["a"], "weights": [1, 2]}))
    with pytest.raises(DataError, match="1 rules but 2 weights"):
        composite_reward_func(path)
    with pytest.raises(TypeError, match="path of a weights JSON"):
        composite_reward_func({"a": 1.0})


def test_import_needs_neither_trl_nor_jax():
    code = ("import sys, encore_jax.integrations.trl; "
            "print(sorted(m for m in ('jax', 'trl', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
