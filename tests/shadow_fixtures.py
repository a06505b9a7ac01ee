"""Test helpers for the shadow dispatcher: a misbehaving OpenAI-compatible server, fakes, and a
builder that wires a dispatcher to a fresh registry, ledger and in-memory span exporter.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from taxmeter.errors import ShedError
from taxmeter.shadow.config import EndpointConfig, ShadowConfig
from taxmeter.shadow.dispatcher import ShadowDispatcher
from taxmeter.shadow.metrics import ShadowMetrics
from taxmeter.telemetry.ledger import Ledger
from taxmeter.types import (
    Arm,
    ArmOutcome,
    ArmResult,
    JobOutcome,
    MirrorOutcome,
    MirrorRequest,
    ShadowPair,
    SystemClock,
    Transport,
)

FAULT_MODES = (
    "ok",
    "http_500",
    "hang",
    "malformed_json",
    "truncated_stream",
    "disconnect",
    "filter_400",
    "azure_filter_400",
    "filter_finish",
    "bad_request_400",
    # issue 16: streams cut or empty in the ways real servers do it
    "done_without_finish",  # llama.cpp with interrupt_requests: [DONE] mid-answer
    "finish_abort",  # vLLM: finish_reason "abort"
    "role_only",  # a role chunk, a finish reason, no content
    "length",  # finish_reason "length" (an answer, cut at max_tokens)
    "filtered_empty",  # Azure-style content_filter_results filtered, empty content, "stop"
)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    body: bytes
    headers: dict[str, str]
    peer: tuple[str, int] | None = None


class LoopbackServer:
    """An aiohttp ``POST /v1/chat/completions`` server on 127.0.0.1, ephemeral port.

    Subclasses implement ``_handle``; ``start()`` returns the base URL (ending in ``/v1``).
    """

    base_url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}/v1"
        return self.base_url

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError


class FaultyEndpoint(LoopbackServer):
    """An OpenAI-compatible server that fails on demand (``mode``) and records every request."""

    def __init__(
        self, mode: str = "ok", *, answer: str = "A fine answer.", usage: bool = True
    ) -> None:
        assert mode in FAULT_MODES
        self.mode = mode
        self.answer = answer
        self.usage = usage  # False: no usage anywhere (stream_options.include_usage ignored)
        # Seconds between a stream's [DONE] and the end of its body (sse-starlette, proxies).
        self.done_tail_s = 0.0
        self.requests: list[RecordedRequest] = []

    def connections(self) -> int:
        """Distinct client connections (peer address and port) the requests came on."""
        return len({r.peer for r in self.requests})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.requests.append(
            RecordedRequest(raw, dict(request.headers), tuple(peer[:2]) if peer else None)
        )
        body = json.loads(raw)
        stream = body.get("stream") is True
        mode = self.mode
        if mode == "http_500":
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if mode == "bad_request_400":
            return web.json_response(
                {"error": {"message": "max_tokens is too large", "code": "invalid_value"}},
                status=400,
            )
        if mode == "filter_400":
            return web.json_response(
                {"error": {"message": "blocked", "type": None, "code": "content_filter"}},
                status=400,
            )
        if mode == "azure_filter_400":
            return web.json_response(
                {
                    "error": {
                        "message": "The response was filtered due to the prompt triggering "
                        "Azure OpenAI's content management policy.",
                        "type": None,
                        "param": "prompt",
                        "code": None,
                        "status": 400,
                        "innererror": {"code": "ResponsibleAIPolicyViolation"},
                    }
                },
                status=400,
            )
        if mode == "hang":
            await asyncio.sleep(3600)
        if mode == "malformed_json" and not stream:
            return web.Response(body=b'{"choices": [', content_type="application/json")
        finish = {"filter_finish": "content_filter", "finish_abort": "abort"}.get(mode, "stop")
        if mode == "length":
            finish = "length"
        text = "" if mode in ("filter_finish", "role_only", "filtered_empty") else self.answer
        usage = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
        filtered = {"hate": {"filtered": True, "severity": "high"}}
        if not stream:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
            }
            if mode == "filtered_empty":
                choice["content_filter_results"] = filtered
            payload: dict[str, Any] = {
                "id": "x",
                "object": "chat.completion",
                "model": body.get("model", "m"),
                "choices": [choice],
            }
            if self.usage:
                payload["usage"] = usage
            return web.json_response(payload)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        def event(payload: dict[str, Any]) -> bytes:
            return b"data: " + json.dumps(payload).encode() + b"\n\n"

        await resp.write(event({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}))
        if mode == "malformed_json":
            await resp.write(b"data: {not json\n\n")
        await asyncio.sleep(0.02)
        for word in text.split(" ") if text else []:
            await resp.write(event({"choices": [{"index": 0, "delta": {"content": word + " "}}]}))
        if mode == "disconnect":
            assert request.transport is not None
            request.transport.close()
            return resp
        if mode == "truncated_stream":
            await resp.write_eof()
            return resp
        if mode == "done_without_finish":
            await resp.write(b"data: [DONE]\n\n")
            await resp.write_eof()
            return resp
        last: dict[str, Any] = {"index": 0, "delta": {}, "finish_reason": finish}
        if mode == "filtered_empty":
            last["content_filter_results"] = filtered
        await resp.write(event({"choices": [last]}))
        options = body.get("stream_options") or {}
        if options.get("include_usage") and self.usage:
            await resp.write(event({"choices": [], "usage": usage}))
        await resp.write(b"data: [DONE]\n\n")
        if self.done_tail_s:
            await asyncio.sleep(self.done_tail_s)
        await resp.write_eof()
        return resp


# -- fakes ---------------------------------------------------------------------------------


class RecordingSink:
    """A ``PairSink`` that keeps pairs, or raises ``error`` for each."""

    def __init__(self, error: Exception | None = None) -> None:
        self.pairs: list[ShadowPair] = []
        self.error = error

    async def accept(self, pair: ShadowPair) -> None:
        if self.error is not None:
            raise self.error
        self.pairs.append(pair)


class ShedAllSink(RecordingSink):
    def __init__(self) -> None:
        super().__init__(ShedError("judges_not_ready"))


@dataclass
class FakeEndpoint:
    """A ``ModelEndpoint`` answering with a fixed outcome, optionally waiting on a gate."""

    arm: Arm
    outcome: ArmOutcome = ArmOutcome.OK
    text: str = "answer"
    gate: asyncio.Event | None = None
    calls: list[MirrorRequest] = field(default_factory=list)
    closed: bool = False

    async def complete(self, request: MirrorRequest) -> ArmResult:
        self.calls.append(request)
        if self.gate is not None:
            await self.gate.wait()
        answered = self.outcome.answered
        return ArmResult(
            arm=self.arm,
            outcome=self.outcome,
            text=self.text if answered else "",
            finish_reason="stop" if answered else None,
            latency_s=0.05,
            ttft_s=None,
            prompt_tokens=7,
            completion_tokens=5,
            error_reason=None if answered else "http_5xx",
            model="fake",
        )

    async def aclose(self) -> None:
        self.closed = True


# -- wiring --------------------------------------------------------------------------------


def shadow_config(
    guarded_url: str = "http://127.0.0.1:9/v1",
    unguarded_url: str = "http://127.0.0.1:9/v1",
    *,
    guarded: dict[str, Any] | None = None,
    unguarded: dict[str, Any] | None = None,
    **kwargs: Any,
) -> ShadowConfig:
    kwargs.setdefault("noise_floor_rate", 0.0)
    return ShadowConfig(
        guarded=EndpointConfig(base_url=guarded_url, **(guarded or {})),
        unguarded=EndpointConfig(base_url=unguarded_url, **(unguarded or {})),
        **kwargs,
    )


@dataclass
class Rig:
    dispatcher: ShadowDispatcher
    ledger: Ledger
    registry: CollectorRegistry
    spans: InMemorySpanExporter
    sink: RecordingSink

    def submit(self, request: MirrorRequest) -> bool:
        """What the sampler does: try_enqueue, then count the admission (same loop step)."""
        ok = self.dispatcher.try_enqueue(request)
        outcome = MirrorOutcome.SAMPLED if ok else MirrorOutcome.DROPPED_QUEUE_FULL
        self.ledger.admit(request.transport, request.route, outcome)
        return ok

    def value(self, name: str, **labels: str) -> float:
        v = self.registry.get_sample_value(name, labels)
        return 0.0 if v is None else v

    def jobs(self, route: str, outcome: JobOutcome) -> int:
        return self.ledger.snapshot().jobs.get((route, outcome.value), 0)

    def identity_holds(self, route: str) -> bool:
        s = self.ledger.snapshot()
        ended = sum(s.jobs.get((route, o.value), 0) for o in JobOutcome)
        still_open = s.open.get((route, "queued"), 0) + s.open.get((route, "in_flight"), 0)
        return s.sampled(route) == ended + still_open

    async def wait_idle(self, timeout_s: float = 10.0) -> None:
        # The ledger has no wake-up event to wait on; a bounded poll is fine in tests.
        async with asyncio.timeout(timeout_s):
            while self.ledger.open_jobs():  # noqa: ASYNC110
                await asyncio.sleep(0.01)


def make_rig(
    config: ShadowConfig,
    guarded: Any,
    unguarded: Any,
    *,
    sink: RecordingSink | None = None,
    seed: int = 1,
    token_counter: Any = None,
) -> Rig:
    registry = CollectorRegistry()
    ledger = Ledger(registry)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    the_sink = sink or RecordingSink()
    dispatcher = ShadowDispatcher(
        config,
        guarded,
        unguarded,
        the_sink,
        ledger,
        ShadowMetrics(registry),
        tracer=provider.get_tracer("test"),
        clock=SystemClock(),
        rng=random.Random(seed),
        token_counter=token_counter,
    )
    return Rig(dispatcher, ledger, registry, exporter, the_sink)


def mirror(
    body: dict[str, Any],
    *,
    route: str = "chat",
    request_id: str = "r1",
    raw: bytes | None = None,
    production: Any = None,
) -> MirrorRequest:
    return MirrorRequest(
        request_id=request_id,
        route=route,
        category=None,
        body=body,
        raw_body=raw if raw is not None else json.dumps(body).encode(),
        production=production,
        transport=Transport.GRPC,
    )


def chat_body(
    prompt: str = "What is a mutex?", *, stream: bool = False, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "prod-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": prompt},
        ],
        "temperature": 0.2,
        "stream": stream,
    }
    body.update(extra)
    return body


def all_attribute_values(spans: Sequence[Any]) -> list[str]:
    out: list[str] = []
    for span in spans:
        for value in (span.attributes or {}).values():
            out.extend(str(v) for v in (value if isinstance(value, tuple | list) else [value]))
    return out
