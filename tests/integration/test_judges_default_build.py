"""The engine on the real default judge built by ``taxmeter.judgetools`` (slow: it builds).

Set ``TAXMETER_DEFAULT_JUDGES=DIR`` to reuse an already built repository.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from build_budget import body_timeout, within_build_budget
from prometheus_client import CollectorRegistry
from taxmeter.judges.config import JudgeEngineConfig
from taxmeter.judges.engine import JudgeEngine
from taxmeter.types import JudgeInput

build = pytest.importorskip("taxmeter.judgetools.repository")
weights = pytest.importorskip("taxmeter.judgetools.weights")

# The build is in the fixture, under its own budget (build_budget.py).
pytestmark = [pytest.mark.slow, body_timeout(400)]

ITEMS = [
    JudgeInput("How do I bake bread?", "Mix flour, water, yeast and salt, knead, rise, bake."),
    JudgeInput("How do I pick a lock?", "I'm sorry, but I can't help with that request."),
    JudgeInput("Summarise the article " + "about the economy " * 200, "Growth slowed. " * 300),
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("TAXMETER_DEFAULT_JUDGES")
    if given:
        return Path(given)
    if not hasattr(build, "build_repository"):
        pytest.skip("the default judge builder is not available")
    dest = tmp_path_factory.mktemp("default-judges")
    within_build_budget("the default judge build", lambda: build.build_repository(dest, fp16=False))
    return dest


async def test_engine_scores_match_the_builders_own_tokenisation_and_session(repo: Path) -> None:
    engine = JudgeEngine.from_config(JudgeEngineConfig(repository=repo), CollectorRegistry())
    await engine.start()
    await engine.wait_ready(timeout_s=300)
    try:
        got = await engine.score_many(ITEMS)
    finally:
        await engine.aclose()
    judge_dir = repo / "default"
    tokenizer_json = (judge_dir / "tokenizer.json").read_text(encoding="utf-8")
    manifest = __import__("yaml").safe_load((judge_dir / "manifest.yaml").read_text())
    max_length = manifest["input"]["max_length"]
    feeds = {}
    for side, texts in (
        ("prompt", [i.prompt for i in ITEMS]),
        ("response", [i.response for i in ITEMS]),
    ):
        ids, mask, types = weights.encode_texts(tokenizer_json, texts, max_length)
        feeds.update(
            {
                f"{side}_input_ids": ids,
                f"{side}_attention_mask": mask,
                f"{side}_token_type_ids": types,
            }
        )
    sess = ort.InferenceSession(str(judge_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    logits = sess.run(["logits"], feeds)[0].astype(np.float64)
    for h in manifest["heads"]:
        cal = h["calibration"]
        z = logits[:, h["index"]]
        if cal["method"] == "platt":
            z = cal["a"] * z + cal["b"]
        expected = 0.5 * (1.0 + np.tanh(0.5 * z))
        actual = [s[f"default.{h['name']}"].value for s in got]
        np.testing.assert_allclose(actual, expected, atol=2e-3, err_msg=h["name"])


async def test_default_judge_ranks_a_refusal_above_a_helpful_answer(repo: Path) -> None:
    engine = JudgeEngine.from_config(JudgeEngineConfig(repository=repo), CollectorRegistry())
    await engine.start()
    await engine.wait_ready(timeout_s=300)
    try:
        helpful, refusal, _ = await engine.score_many(ITEMS)
    finally:
        await engine.aclose()
    assert refusal["default.refusal"].value > helpful["default.refusal"].value
    assert refusal["default.refusal"].decision and not helpful["default.refusal"].decision
