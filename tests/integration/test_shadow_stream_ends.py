"""How real endpoints end answers (issue 16), against loopback servers: streams cut without a
finish reason or with one that says so are ``truncated_stream``, never answers; empty answers
say why; ``length`` answers are counted and can be left out; streams are read to the end of
the body so connections are reused; answers without usage are counted with a tokenizer.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from taxmeter.shadow.config import ShadowConfig
from taxmeter.shadow.endpoint import OpenAIEndpoint
from taxmeter.shadow.tokens import TokenizerCounter
from taxmeter.types import Arm, ArmOutcome, JobOutcome

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from judges_fixtures import minilm_tokenizer_path
from shadow_fixtures import FaultyEndpoint, Rig, chat_body, make_rig, mirror, shadow_config


@pytest.fixture
async def faulty() -> AsyncIterator[tuple[FaultyEndpoint, FaultyEndpoint]]:
    g, u = FaultyEndpoint(answer="guarded words"), FaultyEndpoint(answer="unguarded words here")
    await g.start()
    await u.start()
    yield g, u
    await g.aclose()
    await u.aclose()


async def run_jobs(
    config: ShadowConfig, bodies: list[dict[str, Any]], counter: TokenizerCounter | None = None
) -> Rig:
    guarded = OpenAIEndpoint(Arm.GUARDED, config.guarded, environ={})
    unguarded = OpenAIEndpoint(Arm.UNGUARDED, config.unguarded, environ={})
    rig = make_rig(config, guarded, unguarded, token_counter=counter)
    await rig.dispatcher.start()
    try:
        for i, body in enumerate(bodies):  # one at a time: each job ends before the next
            assert rig.submit(mirror(body, request_id=f"r{i}"))
            await rig.wait_idle()
    finally:
        await rig.dispatcher.drain(2)
        await guarded.aclose()
        await unguarded.aclose()
    assert rig.identity_holds("chat")
    return rig


@pytest.mark.parametrize(
    ("mode", "stream", "reason", "detail"),
    [
        ("done_without_finish", True, "truncated_stream", "done_without_finish_reason"),
        ("truncated_stream", True, "truncated_stream", "eof_without_done"),
        ("finish_abort", True, "truncated_stream", "finish_reason_abort"),
        ("finish_abort", False, "truncated_response", "finish_reason_abort"),
        ("role_only", True, "empty_role_only", None),
        ("role_only", False, "empty_content", None),
        ("filtered_empty", True, "empty_filtered", None),
        ("filtered_empty", False, "empty_filtered", None),
    ],
)
async def test_a_cut_or_empty_answer_is_never_complete_and_says_why(
    faulty: tuple[FaultyEndpoint, FaultyEndpoint],
    mode: str,
    stream: bool,
    reason: str,
    detail: str | None,
) -> None:
    g, u = faulty
    g.mode = mode
    with structlog.testing.capture_logs() as logs:
        rig = await run_jobs(shadow_config(g.base_url, u.base_url), [chat_body(stream=stream)])
    assert rig.sink.pairs == []
    assert rig.ledger.snapshot().incomplete == {("chat", "guarded", reason): 1}
    assert rig.value("taxmeter_shadow_errors_total", arm="guarded", route="chat", reason=reason)
    assert not rig.value(
        "taxmeter_shadow_requests_total", arm="guarded", route="chat", outcome="ok"
    )
    [failed] = [e for e in logs if e["event"] == "shadow_call_failed"]
    assert failed["reason"] == reason and failed["status"] == 200
    assert failed["detail"] == detail
    assert "guarded words" not in repr(logs)  # the answer text never reaches the log


async def test_length_answers_are_counted_and_kept_or_excluded_by_configuration(
    faulty: tuple[FaultyEndpoint, FaultyEndpoint],
) -> None:
    g, u = faulty
    g.mode = "length"
    for stream in (False, True):
        kept = await run_jobs(shadow_config(g.base_url, u.base_url), [chat_body(stream=stream)])
        [pair] = kept.sink.pairs
        assert pair.guarded.outcome is ArmOutcome.OK and pair.guarded.finish_reason == "length"
        assert (
            kept.value(
                "taxmeter_shadow_finish_reasons_total", arm="guarded", route="chat", reason="length"
            )
            == 1
        )
        cfg = shadow_config(g.base_url, u.base_url, length_answers="exclude")
        excluded = await run_jobs(cfg, [chat_body(stream=stream)])
        assert excluded.sink.pairs == []
        assert excluded.ledger.snapshot().shed == {("chat", "finish_length"): 1}
        assert excluded.jobs("chat", JobOutcome.SHED) == 1


@pytest.mark.parametrize("stream", [True, False])
async def test_calls_reuse_one_connection_per_arm_counted_at_the_server(
    faulty: tuple[FaultyEndpoint, FaultyEndpoint], stream: bool
) -> None:
    g, u = faulty
    g.done_tail_s = u.done_tail_s = 0.05  # the body ends a little after [DONE]
    rig = await run_jobs(shadow_config(g.base_url, u.base_url), [chat_body(stream=stream)] * 5)
    assert rig.jobs("chat", JobOutcome.COMPLETED) == 5
    assert len(g.requests) == len(u.requests) == 5
    assert g.connections() == 1
    assert u.connections() == 1


async def test_answers_without_server_usage_are_counted_with_the_tokenizer_and_labelled(
    faulty: tuple[FaultyEndpoint, FaultyEndpoint],
) -> None:
    g, u = faulty
    g.usage = False  # the guarded arm ignores stream_options.include_usage; the other obeys
    counter = TokenizerCounter(minilm_tokenizer_path())
    rig = await run_jobs(
        shadow_config(g.base_url, u.base_url), [chat_body(stream=True)] * 2, counter
    )
    assert len(rig.sink.pairs) == 2
    for pair in rig.sink.pairs:
        # One source per pair: the unguarded arm's server count was replaced by the tokenizer's.
        assert pair.guarded.tokens_source == pair.unguarded.tokens_source == "tokenizer"
        assert pair.guarded.completion_tokens == counter.count("guarded words ")
        assert pair.unguarded.completion_tokens == counter.count("unguarded words here ")
    count = rig.value
    assert (
        count("taxmeter_shadow_token_counts_total", arm="guarded", route="chat", source="tokenizer")
        == 2
    )
    assert (
        count("taxmeter_shadow_token_counts_total", arm="unguarded", route="chat", source="server")
        == 2
    )
    assert (
        count(
            "taxmeter_shadow_output_tokens_count", arm="guarded", route="chat", source="tokenizer"
        )
        == 2
    )

    without = await run_jobs(shadow_config(g.base_url, u.base_url), [chat_body(stream=True)])
    [pair] = without.sink.pairs
    assert pair.guarded.completion_tokens is None and pair.guarded.tokens_source is None
    assert (
        without.value(
            "taxmeter_shadow_token_counts_total", arm="guarded", route="chat", source="none"
        )
        == 1
    )
