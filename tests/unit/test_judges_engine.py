"""The judge engine end to end on tiny random-weight ONNX judges (CPU), and with a fake
backend plugged in through the backend factory."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from pathlib import Path

import numpy as np
import pytest
import structlog
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from judges_fixtures import default_manifest, write_judge
from taxmeter.errors import JudgeInferenceError, JudgeNotReadyError
from taxmeter.judges.backend import InferenceBackend, InProcessHealth, TensorSpec
from taxmeter.judges.backends import BackendFactoryMaker
from taxmeter.judges.config import JudgeEngineConfig
from taxmeter.judges.engine import JudgeEngine
from taxmeter.judges.manifest import JudgeManifest
from taxmeter.judges.repository import BackendFactory
from taxmeter.types import JudgeInput

ITEMS = [JudgeInput(f"prompt number {i}", "answer " * (i % 7 + 1)) for i in range(24)]


def sample(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    return reg.get_sample_value(name, labels)


def _ready(engine: JudgeEngine) -> bool:
    """Read through a call: mypy keeps ``engine.ready`` narrowed by an earlier assert across
    the awaits that change it, and flags the next check unreachable."""
    return engine.ready


async def started(repo: Path, reg: CollectorRegistry, **cfg: object) -> JudgeEngine:
    config = JudgeEngineConfig(repository=repo, **cfg)
    engine = JudgeEngine.from_config(config, reg)
    await engine.start()
    await engine.wait_ready(timeout_s=60)
    return engine


async def test_scores_every_head_of_every_judge_in_unit_range(tmp_path: Path) -> None:
    write_judge(tmp_path, "default")
    write_judge(tmp_path, "mine", manifest=default_manifest("mine"))
    reg = CollectorRegistry()
    engine = await started(tmp_path, reg)
    scores = await engine.score(ITEMS[0])
    assert set(scores) == {
        f"{j}.{h}" for j in ("default", "mine") for h in ("refusal", "unsafe", "quality")
    }
    for s in scores.values():
        assert 0.0 <= s.value <= 1.0
        assert s.decision == (s.value >= 0.5)
    assert [h.key for h in engine.heads if h.role == "quality"] == [
        "default.quality",
        "mine.quality",
    ]
    await engine.aclose()


async def test_batched_scores_equal_one_at_a_time_scores(tmp_path: Path) -> None:
    write_judge(tmp_path, "default")
    reg = CollectorRegistry()
    engine = await started(tmp_path, reg, max_batch_size=8, max_queue_delay_ms=50)
    batched = await engine.score_many(ITEMS)
    single = [await engine.score(it) for it in ITEMS[:6]]
    for a, b in zip(batched[:6], single, strict=True):
        for key in a:
            assert a[key].value == pytest.approx(b[key].value, abs=1e-5)
    # different inputs give different scores (the graph is not constant)
    assert len({round(s["default.refusal"].value, 6) for s in batched}) > 3
    sizes = sample(reg, "taxmeter_judge_batch_size_sum", judge="default")
    count = sample(reg, "taxmeter_judge_batch_size_count", judge="default")
    assert sizes == 24 + 6 and count is not None and count < 24  # batching happened
    await engine.aclose()


async def test_score_before_warm_up_raises_not_ready(tmp_path: Path) -> None:
    write_judge(tmp_path, "default")
    reg = CollectorRegistry()
    engine = JudgeEngine.from_config(JudgeEngineConfig(repository=tmp_path), reg)
    assert not _ready(engine)
    with pytest.raises(JudgeNotReadyError) as info:
        await engine.score(ITEMS[0])
    assert info.value.reason == "warming_up"
    assert sample(reg, "taxmeter_judge_ready", judge="default") == 0.0
    await engine.start()
    await engine.wait_ready(timeout_s=60)
    assert _ready(engine)
    assert sample(reg, "taxmeter_judge_ready", judge="default") == 1.0
    await engine.aclose()
    assert not _ready(engine)
    with pytest.raises(JudgeNotReadyError, match="closed"):
        await engine.score(ITEMS[0])


async def test_cuda_request_falls_back_to_cpu_visibly(tmp_path: Path) -> None:
    write_judge(tmp_path, "default")
    reg = CollectorRegistry()
    with structlog.testing.capture_logs() as logs:
        engine = await started(tmp_path, reg, providers=["cuda", "cpu"])
    try:
        if engine.provider("default") == "cuda":  # pragma: no cover - GPU machine
            pytest.skip("CUDA is actually available here")
        fallback = [e for e in logs if e["event"] == "judge_provider_fallback"]
        assert fallback == [
            {
                "event": "judge_provider_fallback",
                "log_level": "warning",
                "judge": "default",
                "requested": "cuda",
                "active": "cpu",
            }
        ]
        assert (
            sample(
                reg, "taxmeter_judge_provider_info", judge="default", requested="cuda", active="cpu"
            )
            == 1.0
        )
        assert (await engine.score(ITEMS[0]))["default.refusal"].value >= 0.0
    finally:
        await engine.aclose()


async def test_cpu_request_reports_cpu_without_a_fallback_log(tmp_path: Path) -> None:
    write_judge(tmp_path, "default")
    reg = CollectorRegistry()
    with structlog.testing.capture_logs() as logs:
        engine = await started(tmp_path, reg)
    assert not [e for e in logs if e["event"] == "judge_provider_fallback"]
    assert (
        sample(reg, "taxmeter_judge_provider_info", judge="default", requested="cpu", active="cpu")
        == 1.0
    )
    assert (
        sample(reg, "taxmeter_judge_inference_seconds_count", judge="default", provider="cpu")
        == 1.0
    )  # the warm-up batch
    await engine.aclose()


async def test_load_error_in_background_is_reported_by_wait_ready(tmp_path: Path) -> None:
    manifest = default_manifest()
    manifest["embedding"] = {"output": "pooled"}
    write_judge(tmp_path, "default", manifest=manifest)
    reg = CollectorRegistry()
    engine = JudgeEngine.from_config(JudgeEngineConfig(repository=tmp_path), reg)
    await engine.start()
    with pytest.raises(Exception, match="embedding output 'pooled'"):
        await engine.wait_ready(timeout_s=60)
    with pytest.raises(JudgeNotReadyError) as info:
        await engine.score(ITEMS[0])
    assert info.value.reason == "load_failed"
    assert sample(reg, "taxmeter_judge_failures_total", judge="default", reason="load") == 1.0
    await engine.aclose()


class FakeBackend(InProcessHealth):
    """Returns logits from the first token count; fails batches containing a marker length.
    Health: the in-process defaults, but a failed batch is transient (like a remote pool)."""

    def __init__(self, fail_len: int | None = None) -> None:
        self.fail_len = fail_len
        self.batches: list[int] = []
        self._ready = False

    @property
    def provider(self) -> str:
        return "remote"

    @property
    def ready(self) -> bool:
        return self._ready

    async def start(self) -> None:
        self._ready = True

    def inputs(self) -> Sequence[TensorSpec]:
        names = (
            "prompt_input_ids",
            "prompt_attention_mask",
            "response_input_ids",
            "response_attention_mask",
        )
        return [TensorSpec(n, "int64", (None, None)) for n in names]

    def outputs(self) -> Sequence[TensorSpec]:
        return [TensorSpec("logits", "float32", (None, 3))]

    async def infer(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        n_tokens = feeds["response_attention_mask"].sum(axis=1)
        self.batches.append(len(n_tokens))
        if self.fail_len is not None and self.fail_len in n_tokens.tolist():
            raise JudgeInferenceError("remote said no")
        logits = np.stack([n_tokens - 4.0, np.zeros_like(n_tokens), -n_tokens], axis=1)
        return {"logits": logits.astype(np.float32)}

    async def aclose(self) -> None:
        self._ready = False

    @property
    def transient_failures(self) -> bool:
        return True


def fake_factory(backend: FakeBackend) -> BackendFactoryMaker:
    def maker(config: JudgeEngineConfig, executor: Executor) -> BackendFactory:
        def make(judge: str, judge_dir: Path, manifest: JudgeManifest) -> InferenceBackend:
            return backend

        return make

    return maker


async def test_injected_backend_gets_same_head_mapping_and_provider_label(tmp_path: Path) -> None:
    manifest = default_manifest(inputs=None, embedding=None)
    write_judge(tmp_path, "default", manifest=manifest)
    backend = FakeBackend()
    reg = CollectorRegistry()
    config = JudgeEngineConfig(repository=tmp_path)
    engine = JudgeEngine.from_config(config, reg, backend_factory=fake_factory(backend))
    await engine.start()
    await engine.wait_ready(timeout_s=10)
    assert engine.provider("default") == "remote"
    # "yes" → [CLS] yes [SEP] = 3 tokens → refusal logit -1 → sigmoid
    scores = await engine.score(JudgeInput("q", "yes"))
    assert scores["default.refusal"].value == pytest.approx(1 / (1 + np.e), rel=1e-6)
    assert scores["default.unsafe"].value == pytest.approx(0.5)
    assert scores["default.unsafe"].decision is True
    await engine.aclose()


async def test_failed_batch_fails_only_its_items_and_is_counted(tmp_path: Path) -> None:
    manifest = default_manifest(inputs=None, embedding=None)
    write_judge(tmp_path, "default", manifest=manifest)
    backend = FakeBackend(fail_len=5)  # a 3-word answer: [CLS] a b c [SEP]
    reg = CollectorRegistry()
    config = JudgeEngineConfig(repository=tmp_path, max_batch_size=1, max_queue_delay_ms=0)
    engine = JudgeEngine.from_config(config, reg, backend_factory=fake_factory(backend))
    await engine.start()
    await engine.wait_ready(timeout_s=10)
    results = await asyncio.gather(
        engine.score(JudgeInput("q", "one")),
        engine.score(JudgeInput("q", "one two three")),
        engine.score(JudgeInput("q", "one two")),
        return_exceptions=True,
    )
    assert isinstance(results[1], JudgeInferenceError)
    assert not isinstance(results[0], BaseException) and not isinstance(results[2], BaseException)
    assert sample(reg, "taxmeter_judge_failures_total", judge="default", reason="inference") == 1.0
    await engine.aclose()


async def test_queue_depth_is_exported_at_scrape_time(tmp_path: Path) -> None:
    write_judge(tmp_path, "default")
    reg = CollectorRegistry()
    engine = await started(tmp_path, reg)
    assert sample(reg, "taxmeter_judge_queue_depth", judge="default") == 0.0
    await engine.aclose()


def test_kserve_backend_without_its_config_block_names_the_field(tmp_path: Path) -> None:
    from taxmeter.errors import ConfigError

    write_judge(tmp_path, "default")
    config = JudgeEngineConfig(repository=tmp_path, backend="kserve")
    with pytest.raises(ConfigError) as info:
        JudgeEngine.from_config(config, CollectorRegistry())
    assert info.value.field == "judges.kserve"


async def test_identical_items_of_a_batch_are_encoded_once_and_each_gets_its_scores(
    tmp_path: Path,
) -> None:
    manifest = default_manifest(inputs=None, embedding=None)
    write_judge(tmp_path, "default", manifest=manifest)
    backend = FakeBackend()
    reg = CollectorRegistry()
    config = JudgeEngineConfig(repository=tmp_path, max_batch_size=8, max_queue_delay_ms=500)
    engine = JudgeEngine.from_config(config, reg, backend_factory=fake_factory(backend))
    await engine.start()
    await engine.wait_ready(timeout_s=10)
    backend.batches.clear()
    a, b, c = JudgeInput("q", "one"), JudgeInput("q", "one two three"), JudgeInput("p", "one")
    items = [a, b, a, c, b, a, JudgeInput("q", "one")]
    results = await asyncio.gather(*(engine.score(it) for it in items))
    assert sum(backend.batches) == 3  # a, b and c once each (c: another prompt)
    assert sample(reg, "taxmeter_judge_deduplicated_items_total", judge="default") == 4.0
    assert sample(reg, "taxmeter_judge_batch_size_sum", judge="default") == 7.0  # all counted
    # each item's scores are its own: "one" is 3 tokens, "one two three" 5 (refusal logit n-4)
    refusal = [r["default.refusal"].value for r in results]
    assert refusal[0] == refusal[2] == refusal[5] == refusal[6] == refusal[3]
    assert refusal[1] == refusal[4] == pytest.approx(1 / (1 + np.exp(-1.0)), rel=1e-6)
    assert refusal[0] == pytest.approx(1 / (1 + np.e), rel=1e-6)
    assert results[0] is not results[2]  # every caller gets its own mapping
    await engine.aclose()


async def test_response_judges_deduplicate_on_the_answer_alone(tmp_path: Path) -> None:
    from judges_fixtures import minilm_tokenizer_path
    from taxmeter.judges.tokenize import JudgeTokenizer, load_tokenizer

    tok = load_tokenizer("t", minilm_tokenizer_path())
    response = JudgeTokenizer(tok, kind="response", max_length=16)
    dual = JudgeTokenizer(tok, kind="dual", max_length=16)
    x, y = JudgeInput("one prompt", "same answer"), JudgeInput("another prompt", "same answer")
    assert response.dedup_key(x) == response.dedup_key(y)
    assert dual.dedup_key(x) != dual.dedup_key(y)
    # texts that differ only past the character cut encode identically, and share a key
    long_a = JudgeInput("p", "word " * 40 + "A")
    long_b = JudgeInput("p", "word " * 40 + "B")
    assert dual.dedup_key(long_a) == dual.dedup_key(long_b)
    fa, fb = dual.encode([long_a]), dual.encode([long_b])
    assert all(np.array_equal(fa[k], fb[k]) for k in fa)
