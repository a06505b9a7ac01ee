"""The dispatcher with fake endpoints: every job ends in exactly one counted outcome."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.util.types import AnyValue
from taxmeter.errors import ShedError
from taxmeter.types import Arm, ArmOutcome, ArmResult, JobOutcome, ProductionAnswer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shadow_fixtures import (
    FakeEndpoint,
    RecordingSink,
    all_attribute_values,
    chat_body,
    make_rig,
    mirror,
    shadow_config,
)

SECRET_PROMPT = "my bank PIN is 4921, is that safe?"


def _attributes(span: ReadableSpan) -> Mapping[str, AnyValue]:
    assert span.attributes is not None, f"{span.name} has no attributes"
    return span.attributes


async def test_complete_pair_goes_to_the_sink_and_counts_completed() -> None:
    g, u = FakeEndpoint(Arm.GUARDED, text="g"), FakeEndpoint(Arm.UNGUARDED, text="u")
    rig = make_rig(shadow_config(), g, u)
    await rig.dispatcher.start()
    assert rig.submit(mirror(chat_body(SECRET_PROMPT)))
    await rig.wait_idle()
    await rig.dispatcher.drain(1)
    [pair] = rig.sink.pairs
    assert (pair.guarded.text, pair.unguarded.text) == ("g", "u")
    assert pair.prompt == SECRET_PROMPT
    assert pair.latency_comparable
    assert rig.jobs("chat", JobOutcome.COMPLETED) == 1
    assert rig.identity_holds("chat")
    assert (
        rig.value("taxmeter_shadow_requests_total", arm="guarded", route="chat", outcome="ok") == 1
    )
    assert rig.value("taxmeter_shadow_latency_seconds_count", arm="unguarded", route="chat") == 1


async def test_failed_arm_makes_the_job_failed_and_counts_the_incomplete_pair() -> None:
    g = FakeEndpoint(Arm.GUARDED, outcome=ArmOutcome.ERROR)
    rig = make_rig(shadow_config(), g, FakeEndpoint(Arm.UNGUARDED))
    await rig.dispatcher.start()
    rig.submit(mirror(chat_body()))
    await rig.wait_idle()
    assert rig.sink.pairs == []
    assert rig.jobs("chat", JobOutcome.FAILED) == 1
    assert rig.ledger.snapshot().incomplete == {("chat", "guarded", "http_5xx"): 1}
    assert rig.identity_holds("chat")
    await rig.dispatcher.drain(1)


async def test_guard_block_counts_as_an_answer_not_an_error() -> None:
    g = FakeEndpoint(Arm.GUARDED, outcome=ArmOutcome.GUARD_BLOCK, text="")
    rig = make_rig(shadow_config(), g, FakeEndpoint(Arm.UNGUARDED))
    await rig.dispatcher.start()
    rig.submit(mirror(chat_body()))
    await rig.wait_idle()
    assert rig.jobs("chat", JobOutcome.COMPLETED) == 1
    assert rig.sink.pairs[0].guarded.outcome is ArmOutcome.GUARD_BLOCK
    assert rig.ledger.snapshot().incomplete == {}
    await rig.dispatcher.drain(1)


async def test_sink_shed_error_counts_shed_with_its_reason() -> None:
    sink = RecordingSink(ShedError("judges_not_ready"))
    rig = make_rig(
        shadow_config(), FakeEndpoint(Arm.GUARDED), FakeEndpoint(Arm.UNGUARDED), sink=sink
    )
    await rig.dispatcher.start()
    rig.submit(mirror(chat_body()))
    await rig.wait_idle()
    snap = rig.ledger.snapshot()
    assert snap.jobs == {("chat", "shed"): 1}
    assert snap.shed == {("chat", "judges_not_ready"): 1}
    await rig.dispatcher.drain(1)


async def test_sink_crash_counts_failed_and_the_worker_keeps_going() -> None:
    sink = RecordingSink(RuntimeError(SECRET_PROMPT))
    rig = make_rig(
        shadow_config(), FakeEndpoint(Arm.GUARDED), FakeEndpoint(Arm.UNGUARDED), sink=sink
    )
    await rig.dispatcher.start()
    for i in range(3):
        rig.submit(mirror(chat_body(), request_id=f"r{i}"))
    await rig.wait_idle()
    assert rig.jobs("chat", JobOutcome.FAILED) == 3
    assert rig.value("taxmeter_shadow_sink_errors_total", route="chat") == 3
    assert rig.dispatcher.statistics().workers == rig.dispatcher.statistics().workers > 0
    await rig.dispatcher.drain(1)


async def test_production_answer_from_the_guarded_arm_is_reused_and_not_timed() -> None:
    g, u = FakeEndpoint(Arm.GUARDED), FakeEndpoint(Arm.UNGUARDED)
    rig = make_rig(shadow_config(production_arm="guarded"), g, u)
    await rig.dispatcher.start()
    prod = ProductionAnswer(
        text="prod says hi", arm=Arm.GUARDED, latency_s=0.9, completion_tokens=3
    )
    rig.submit(mirror(chat_body(), production=prod))
    await rig.wait_idle()
    assert g.calls == [] and len(u.calls) == 1
    [pair] = rig.sink.pairs
    assert pair.guarded.text == "prod says hi" and pair.guarded.reused_production
    assert not pair.latency_comparable
    assert rig.value("taxmeter_shadow_latency_seconds_count", arm="guarded", route="chat") == 0
    assert rig.value("taxmeter_shadow_production_reused_total", arm="guarded", route="chat") == 1
    tokens = {"arm": "guarded", "route": "chat", "source": "server"}
    assert rig.value("taxmeter_shadow_output_tokens_count", **tokens) == 1
    await rig.dispatcher.drain(1)


async def test_production_answer_from_the_other_arm_is_not_reused() -> None:
    g, u = FakeEndpoint(Arm.GUARDED), FakeEndpoint(Arm.UNGUARDED)
    rig = make_rig(shadow_config(production_arm="guarded"), g, u)
    await rig.dispatcher.start()
    rig.submit(mirror(chat_body(), production=ProductionAnswer(text="x", arm=Arm.UNGUARDED)))
    await rig.wait_idle()
    assert len(g.calls) == 1 and len(u.calls) == 1
    await rig.dispatcher.drain(1)


async def test_empty_production_answer_is_not_reused_the_arm_is_called_instead() -> None:
    g, u = FakeEndpoint(Arm.GUARDED), FakeEndpoint(Arm.UNGUARDED)
    rig = make_rig(shadow_config(production_arm="guarded"), g, u)
    await rig.dispatcher.start()
    rig.submit(mirror(chat_body(), production=ProductionAnswer(text="", arm=Arm.GUARDED)))
    await rig.wait_idle()
    assert len(g.calls) == 1 and len(u.calls) == 1
    [pair] = rig.sink.pairs
    assert not pair.guarded.reused_production
    await rig.dispatcher.drain(1)


async def test_noise_floor_repeats_alternate_between_arms() -> None:
    g, u = FakeEndpoint(Arm.GUARDED), FakeEndpoint(Arm.UNGUARDED)
    rig = make_rig(shadow_config(noise_floor_rate=1.0, concurrency=1), g, u)
    await rig.dispatcher.start()
    for i in range(4):
        rig.submit(mirror(chat_body(), request_id=f"r{i}"))
    await rig.wait_idle()
    repeats = [p.repeat.arm for p in rig.sink.pairs if p.repeat is not None]
    assert repeats == [Arm.GUARDED, Arm.UNGUARDED, Arm.GUARDED, Arm.UNGUARDED]
    assert len(g.calls) == 6 and len(u.calls) == 6
    # repeats are counted as calls but not observed twice in the latency histogram
    assert rig.value("taxmeter_shadow_latency_seconds_count", arm="guarded", route="chat") == 4
    await rig.dispatcher.drain(1)


async def test_full_queue_refuses_without_blocking_and_load_reports_fill() -> None:
    rig = make_rig(
        shadow_config(queue_size=2), FakeEndpoint(Arm.GUARDED), FakeEndpoint(Arm.UNGUARDED)
    )
    assert rig.submit(mirror(chat_body()))
    assert rig.dispatcher.load() == 0.5
    assert rig.submit(mirror(chat_body()))
    assert not rig.submit(mirror(chat_body()))
    assert rig.dispatcher.load() == 1.0
    snap = rig.ledger.snapshot()
    assert snap.requests[("chat", "dropped_queue_full")] == 1
    assert snap.open[("chat", "queued")] == 2
    await rig.dispatcher.drain(0)
    assert rig.ledger.snapshot().shed == {("chat", "shutdown"): 2}
    assert rig.identity_holds("chat")


async def test_drain_finishes_in_flight_work_within_grace() -> None:
    gate = asyncio.Event()
    g = FakeEndpoint(Arm.GUARDED, gate=gate)
    rig = make_rig(shadow_config(concurrency=2), g, FakeEndpoint(Arm.UNGUARDED))
    await rig.dispatcher.start()
    for i in range(3):
        rig.submit(mirror(chat_body(), request_id=f"r{i}"))
    await asyncio.sleep(0.05)
    asyncio.get_running_loop().call_later(0.1, gate.set)
    await rig.dispatcher.drain(5)
    assert rig.jobs("chat", JobOutcome.COMPLETED) == 3
    assert not rig.submit(mirror(chat_body()))  # draining: refused, counted by the sampler
    assert rig.identity_holds("chat")


async def test_drain_sheds_in_flight_and_queued_leftovers_exactly_once() -> None:
    g = FakeEndpoint(Arm.GUARDED, gate=asyncio.Event())  # never opens
    rig = make_rig(shadow_config(concurrency=2), g, FakeEndpoint(Arm.UNGUARDED))
    await rig.dispatcher.start()
    for i in range(5):
        rig.submit(mirror(chat_body(), request_id=f"r{i}"))
    await asyncio.sleep(0.05)
    await rig.dispatcher.drain(0.1)
    snap = rig.ledger.snapshot()
    assert snap.jobs == {("chat", "shed"): 5}
    assert snap.shed == {("chat", "shutdown"): 5}
    assert snap.open == {("chat", "queued"): 0, ("chat", "in_flight"): 0}
    assert rig.identity_holds("chat")
    assert rig.dispatcher.statistics().shed == 5


async def test_job_span_has_one_client_span_per_arm_with_genai_attributes_and_no_text() -> None:
    g = FakeEndpoint(Arm.GUARDED, text="guarded secret answer")
    cfg = shadow_config(guarded={"model": "guard-7b", "provider": "vllm"})
    rig = make_rig(cfg, g, FakeEndpoint(Arm.UNGUARDED))
    await rig.dispatcher.start()
    rig.submit(mirror(chat_body(SECRET_PROMPT)))
    await rig.wait_idle()
    await rig.dispatcher.drain(1)
    spans = rig.spans.get_finished_spans()
    job = next(s for s in spans if s.name == "taxmeter.shadow_job")
    arms = {_attributes(s)["taxmeter.arm"]: s for s in spans if s.parent is not None}
    assert set(arms) == {"guarded", "unguarded"}
    guarded = arms["guarded"]
    assert guarded.name == "chat guard-7b"
    assert guarded.kind.name == "CLIENT"
    assert guarded.parent is not None and guarded.parent.span_id == job.context.span_id
    attributes = _attributes(guarded)
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "vllm"
    assert attributes["gen_ai.request.model"] == "guard-7b"
    assert attributes["gen_ai.usage.input_tokens"] == 7
    assert attributes["gen_ai.usage.output_tokens"] == 5
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert arms["unguarded"].name == "chat prod-model"
    assert rig.sink.pairs[0].trace_id == format(job.context.trace_id, "032x")
    values = all_attribute_values(spans)
    assert not any(SECRET_PROMPT in v or "secret answer" in v for v in values)


class _RaisingEndpoint(FakeEndpoint):
    async def complete(self, request: object) -> ArmResult:
        raise RuntimeError("client bug")


async def test_endpoint_that_raises_counts_an_internal_error_and_a_failed_job() -> None:
    rig = make_rig(shadow_config(), _RaisingEndpoint(Arm.GUARDED), FakeEndpoint(Arm.UNGUARDED))
    await rig.dispatcher.start()
    rig.submit(mirror(chat_body()))
    await rig.wait_idle()
    assert rig.ledger.snapshot().incomplete == {("chat", "guarded", "internal"): 1}
    assert rig.jobs("chat", JobOutcome.FAILED) == 1
    assert (
        rig.value("taxmeter_shadow_requests_total", arm="guarded", route="chat", outcome="error")
        == 1
    )
    await rig.dispatcher.drain(1)
