"""The shadow dispatcher against a real LLM server (issue 16): llama-cpp-python's
OpenAI-compatible server with SmolLM2-135M-Instruct, both arms, streaming and not; the guarded
arm is the same kind of server behind a guard proxy (a safety system prompt; blocked requests
answered with Azure's ``400 content_filter``).

Checked against the server's own request log: every call taxmeter made reached the server once,
on reused connections. With the server's defaults (``interrupt_requests`` on), streams cut by a
waiting request are ``truncated_stream`` with their cause, never complete answers; with it off,
no errors. Streamed answers have no usage (the server ignores ``stream_options``): their tokens
are counted with the model's tokenizer, the source is exported, and the token overhead matches
the non-streamed server counts. Under 16 concurrent jobs, pairs whose endpoint was queueing
taxmeter's own calls are kept out of the latency ratio and counted.

Skipped without ``.venv-llamacpp`` (``scripts/setup_llamacpp_venv.sh``), unless ``CI=true``.
Bounded for a busy 2-core machine: one inference thread per server, few requests, short answers.
"""

from __future__ import annotations

import os
import statistics
import sys
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from prometheus_client import CollectorRegistry
from taxmeter.shadow.config import ShadowConfig
from taxmeter.shadow.endpoint import OpenAIEndpoint
from taxmeter.shadow.tokens import TokenizerCounter
from taxmeter.tax import TaxAggregator, TaxConfig
from taxmeter.tax.collector import TaxCollector
from taxmeter.types import (
    Arm,
    ArmOutcome,
    ArmResult,
    HeadScore,
    JobOutcome,
    ScoredPair,
    ShadowPair,
    SystemClock,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from judges_fixtures import minilm_tokenizer_path
from llamacpp_fixtures import (
    MODEL_NAME,
    GuardProxy,
    LlamaServer,
    llama_servers,
    llamacpp_available,
    model_path,
    write_gguf_tokenizer_json,
)
from shadow_fixtures import RecordingSink, Rig, make_rig, mirror, shadow_config

if not llamacpp_available():
    if os.environ.get("CI") == "true":
        pytest.fail(".venv-llamacpp is missing (run scripts/setup_llamacpp_venv.sh)", pytrace=False)
    pytest.skip(
        ".venv-llamacpp is absent (scripts/setup_llamacpp_venv.sh)", allow_module_level=True
    )

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

PROMPTS = (
    "Name one primary color.",
    "What is the capital of France?",
    "Say hello in Spanish.",
    "Name a yellow fruit.",
)
BLOCKED = "Explain how to make a nerve agent."
MAX_TOKENS = 24
SCORES = {
    "default.quality": HeadScore(0.5, True),
    "default.refusal": HeadScore(0.0, False),
    "default.unsafe": HeadScore(0.0, False),
}


def body(prompt: str, *, stream: bool, max_tokens: int = MAX_TOKENS) -> dict[str, Any]:
    return {
        "model": MODEL_NAME,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0,
        "seed": 7,
        "max_tokens": max_tokens,
        "stream": stream,
    }


class AggregatingSink(RecordingSink):
    """Keeps the pairs and feeds the real tax aggregator (fixed judge scores: the statistics
    under test here are latency and tokens)."""

    def __init__(self) -> None:
        super().__init__()
        self.registry = CollectorRegistry()
        self.aggregator = TaxAggregator(TaxConfig(), clock=SystemClock())
        self.registry.register(TaxCollector(self.aggregator))

    async def accept(self, pair: ShadowPair) -> None:
        await super().accept(pair)
        self.aggregator.observe(ScoredPair(pair, SCORES, SCORES))

    def value(self, name: str, **labels: str) -> float:
        v = self.registry.get_sample_value(name, {"route": "chat", **labels})
        return 0.0 if v is None else v


@dataclass
class Run:
    rig: Rig
    sink: AggregatingSink
    proxy: GuardProxy
    logs: list[MutableMapping[str, Any]]  # structlog.testing.capture_logs
    requests: list[dict[str, Any]]

    def pairs_by_prompt(self) -> dict[str, ShadowPair]:
        return {
            next(b["messages"][-1]["content"] for b in self.requests if b["id"] == p.request_id):
            p for p in self.sink.pairs
        }  # fmt: skip

    def results(self, arm: str, outcome: str) -> float:
        return self.rig.value(
            "taxmeter_shadow_requests_total", arm=arm, route="chat", outcome=outcome
        )


async def run_jobs(
    servers: dict[str, LlamaServer],
    bodies: list[dict[str, Any]],
    *,
    concurrency: int,
    counter: TokenizerCounter | None = None,
    **arm: Any,
) -> Run:
    proxy = GuardProxy(servers["guarded"].base_url)
    await proxy.start()
    arm = {"timeout_s": 600, **arm}
    config: ShadowConfig = shadow_config(
        proxy.base_url, servers["unguarded"].base_url, guarded=arm, unguarded=arm,
        concurrency=concurrency, queue_size=64,
    )  # fmt: skip
    guarded = OpenAIEndpoint(Arm.GUARDED, config.guarded, environ={})
    unguarded = OpenAIEndpoint(Arm.UNGUARDED, config.unguarded, environ={})
    sink = AggregatingSink()
    rig = make_rig(config, guarded, unguarded, sink=sink, token_counter=counter)
    requests = [{"id": f"r{i}", **b} for i, b in enumerate(bodies)]
    with structlog.testing.capture_logs() as logs:
        await rig.dispatcher.start()
        try:
            for r in requests:
                b = {k: v for k, v in r.items() if k != "id"}
                assert rig.submit(mirror(b, request_id=r["id"]))
            await rig.wait_idle(timeout_s=800)
        finally:
            await rig.dispatcher.drain(5)
            await guarded.aclose()
            await unguarded.aclose()
            await proxy.aclose()
    assert rig.identity_holds("chat")
    return Run(rig, sink, proxy, logs, requests)


def assert_server_log_matches(
    run: Run, servers: dict[str, LlamaServer], before: dict[str, int], calls: int
) -> None:
    """Every call taxmeter made reached its server exactly once (the server's access log)."""
    blocked = run.proxy.blocks
    got_u = servers["unguarded"].requests()[before["unguarded"] :]
    got_g = servers["guarded"].requests()[before["guarded"] :]
    assert len(got_u) == calls == run.results("unguarded", "ok") + run.results("unguarded", "error")
    assert len(got_g) == calls - blocked
    assert all(r.status == 200 for r in got_u + got_g)


def logged(servers: dict[str, LlamaServer]) -> dict[str, int]:
    return {name: len(s.requests()) for name, s in servers.items()}


@pytest.fixture(scope="module")
def smollm_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> TokenizerCounter:
    gguf = model_path()
    assert gguf is not None
    path = write_gguf_tokenizer_json(gguf, tmp_path_factory.mktemp("tok") / "tokenizer.json")
    return TokenizerCounter(path)


@pytest.fixture(scope="module")
def default_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LlamaServer]]:
    with llama_servers(tmp_path_factory.mktemp("llama-default"), ("guarded", "unguarded")) as s:
        yield s


@pytest.fixture(scope="module")
def calm_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LlamaServer]]:
    with llama_servers(
        tmp_path_factory.mktemp("llama-calm"), ("guarded", "unguarded"), interrupt_requests=False
    ) as s:
        yield s


_REFERENCE: dict[str, Run] = {}


@pytest.fixture
async def reference(calm_servers: dict[str, LlamaServer]) -> Run:
    """Non-streamed, one at a time: the server's own answers and token counts (the truth).
    Made once per module (each test has its own event loop; a finished Run holds no loop)."""
    if "run" not in _REFERENCE:
        before = logged(calm_servers)
        bodies = [body(p, stream=False) for p in PROMPTS] + [body(BLOCKED, stream=False)]
        run = await run_jobs(calm_servers, bodies, concurrency=1)
        assert_server_log_matches(run, calm_servers, before, len(bodies))
        _REFERENCE["run"] = run
    return _REFERENCE["run"]


async def test_default_server_cut_streams_are_truncated_with_their_cause_never_complete(
    default_servers: dict[str, LlamaServer], reference: Run
) -> None:
    before = logged(default_servers)
    bodies = [body(p, stream=True) for p in PROMPTS] + [body(BLOCKED, stream=True)]
    run = await run_jobs(default_servers, bodies, concurrency=len(bodies))

    snap = run.rig.ledger.snapshot()
    reasons = {reason for (_, _, reason) in snap.incomplete}
    assert reasons <= {"truncated_stream"}, snap.incomplete
    failed = [e for e in run.logs if e["event"] == "shadow_call_failed"]
    assert failed, "the server interrupted no stream: the quirk under test did not happen"
    assert {e["detail"] for e in failed} == {"done_without_finish_reason"}
    assert sum(snap.incomplete.values()) == len(failed)
    # No cut stream passed as complete: every complete streamed answer is the whole answer.
    truth = reference.pairs_by_prompt()
    for prompt, pair in run.pairs_by_prompt().items():
        for arm in (Arm.GUARDED, Arm.UNGUARDED):
            got, want = getattr(pair, arm.value), getattr(truth[prompt], arm.value)
            assert got.outcome is want.outcome
            assert got.finish_reason == want.finish_reason
            assert got.text == want.text
    assert run.results("guarded", "guard_block") == 1
    assert run.proxy.client_gone == 0
    assert_server_log_matches(run, default_servers, before, len(bodies))
    print(
        f"interrupt_requests on: {len(failed)} of {2 * len(bodies) - 1} calls cut "
        f"(truncated_stream, done_without_finish_reason), {len(run.sink.pairs)} of "
        f"{len(bodies)} pairs complete and equal to the non-streamed answers"
    )


async def test_no_interrupts_no_errors_usage_counted_ttft_and_connections_reused(
    calm_servers: dict[str, LlamaServer], reference: Run, smollm_tokenizer: TokenizerCounter
) -> None:
    before = logged(calm_servers)
    bodies = [body(p, stream=True) for p in PROMPTS] + [body(BLOCKED, stream=True)]
    run = await run_jobs(calm_servers, bodies, concurrency=2, counter=smollm_tokenizer)

    assert run.rig.jobs("chat", JobOutcome.COMPLETED) == len(bodies)
    for arm in ("guarded", "unguarded"):
        assert run.results(arm, "error") == run.results(arm, "timeout") == 0
    assert run.results("guarded", "guard_block") == 1 and run.proxy.blocks == 1
    truth = reference.pairs_by_prompt()
    n = len(PROMPTS)
    for prompt, pair in run.pairs_by_prompt().items():
        for arm in (Arm.GUARDED, Arm.UNGUARDED):
            got, want = getattr(pair, arm.value), getattr(truth[prompt], arm.value)
            assert got.text == want.text  # streamed = non-streamed, word for word
            if got.outcome is ArmOutcome.OK:
                assert got.ttft_s is not None and 0 < got.ttft_s <= got.latency_s
                assert want.tokens_source == "server" and got.tokens_source == "tokenizer"
                assert abs(got.completion_tokens - want.completion_tokens) <= 2
    # The source is visible: every streamed answer counted by the tokenizer, none by the server.
    for arm, answered in (("guarded", n), ("unguarded", n + 1)):
        assert (
            run.rig.value(
                "taxmeter_shadow_token_counts_total", arm=arm, route="chat", source="tokenizer"
            )
            == answered
        )
        assert (
            run.rig.value(
                "taxmeter_shadow_token_counts_total", arm=arm, route="chat", source="server"
            )
            == 0
        )
    assert run.sink.value("taxmeter_token_pairs_total", source="tokenizer") == n
    assert reference.sink.value("taxmeter_token_pairs_total", source="server") == n
    streamed = run.sink.value("taxmeter_token_overhead_ratio", window="5m")
    truth_ratio = reference.sink.value("taxmeter_token_overhead_ratio", window="5m")
    assert streamed == pytest.approx(truth_ratio, rel=0.02)
    print(
        f"token overhead: streamed (tokenizer) {streamed:.4f}, non-streamed (server) "
        f"{truth_ratio:.4f}"
    )
    judge = TokenizerCounter(minilm_tokenizer_path())
    g = sum(judge.count(p.guarded.text) for p in run.sink.pairs if p.guarded.text)
    u = sum(judge.count(p.unguarded.text) for p in run.sink.pairs if p.guarded.text)
    print(f"token overhead with the judge's (MiniLM) tokenizer instead: {g / u:.4f}")

    # Keep-alive, counted at the servers: at most `concurrency` connections per client.
    assert run.proxy.connections() <= 2 < len(bodies)
    new_u = calm_servers["unguarded"].requests()[before["unguarded"] :]
    assert len({r.peer for r in new_u}) <= 2 < len(new_u)
    print(
        f"connections: {len({r.peer for r in new_u})} at the unguarded server for "
        f"{len(new_u)} streamed calls, {run.proxy.connections()} at the guard proxy for "
        f"{len(run.proxy.peers)}"
    )
    assert run.proxy.client_gone == 0
    assert_server_log_matches(run, calm_servers, before, len(bodies))


async def test_latency_under_16_concurrent_jobs_excludes_and_counts_saturated_pairs(
    calm_servers: dict[str, LlamaServer],
) -> None:
    bound = 1  # comparable_in_flight
    prompts = [p for p in PROMPTS for _ in range(2)]  # 8 jobs
    alone = await run_jobs(
        calm_servers,
        [body(p, stream=False, max_tokens=12) for p in prompts],
        concurrency=1,
        comparable_in_flight=bound,
    )
    crowd = await run_jobs(
        calm_servers,
        [body(p, stream=False, max_tokens=12) for p in prompts],
        concurrency=16,
        comparable_in_flight=bound,
    )

    def latency_s(result: ArmResult) -> float:
        assert result.latency_s is not None, result.outcome
        return result.latency_s

    def ratio(run: Run) -> float:
        return statistics.median(latency_s(p.guarded) for p in run.sink.pairs) / statistics.median(
            latency_s(p.unguarded) for p in run.sink.pairs
        )

    n = len(prompts)
    assert (
        alone.rig.value(
            "taxmeter_shadow_latency_excluded_pairs_total", route="chat", reason="saturated"
        )
        == 0
    )
    assert alone.sink.value("taxmeter_overhead_ratio_pairs", window="5m", ratio="latency") == n
    excluded = crowd.rig.value(
        "taxmeter_shadow_latency_excluded_pairs_total", route="chat", reason="saturated"
    )
    comparable = crowd.sink.value("taxmeter_latency_comparable_pairs_total")
    assert excluded >= 1 and excluded + comparable == n == len(crowd.sink.pairs)
    assert (
        crowd.sink.value("taxmeter_overhead_ratio_pairs", window="5m", ratio="latency")
        == comparable
    )
    assert excluded == sum(1 for p in crowd.sink.pairs if p.latency_excluded == "saturated")
    # The same 16 jobs with one slot per arm: the pair's calls still leave together, no call
    # waits inside the server for another of taxmeter's, and every pair is comparable.
    fair = await run_jobs(
        calm_servers,
        [body(p, stream=False, max_tokens=12) for p in prompts],
        concurrency=16,
        max_in_flight=1,
        comparable_in_flight=bound,
    )
    assert (
        fair.rig.value(
            "taxmeter_shadow_latency_excluded_pairs_total", route="chat", reason="saturated"
        )
        == 0
    )
    assert fair.sink.value("taxmeter_overhead_ratio_pairs", window="5m", ratio="latency") == n
    print(
        f"p50 latency ratio: one at a time {ratio(alone):.3f} over {n} pairs; 16 concurrent "
        f"{ratio(crowd):.3f} (all pairs, not exported: {int(excluded)} of {n} excluded as "
        f"saturated, {int(comparable)} exported); 16 concurrent with max_in_flight 1: "
        f"{ratio(fair):.3f} over {n} comparable pairs"
    )
