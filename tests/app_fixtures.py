"""Test helpers for whole-app tests: a slow, scriptable OpenAI-compatible endpoint that counts
its requests, a configuration builder, a /metrics scraper/parser, and senders for both
transports.

Not a test module; import it as ``app_fixtures`` (``tests`` is on ``sys.path``).
"""

from __future__ import annotations

import asyncio
import json
import math
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web
from judges_fixtures import write_judge
from prometheus_client.parser import text_string_to_metric_families
from shadow_fixtures import LoopbackServer
from taxmeter.proto.taxmeter.v1 import mirror_pb2, mirror_pb2_grpc

FAIL_MARKER = "please-fail-this-call"
"""A prompt containing this makes a ``ScriptedEndpoint`` with ``fail_marked=True`` answer 500."""
BLOCK_MARKER = "please-block-this-call"
"""A prompt containing this makes a ``ScriptedEndpoint`` with ``block_marked=True`` answer with
an HTTP 400 content-filter error (a guard block: a refusal, not an error)."""


def _user_text(body: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
    return "\n".join(parts)


class ScriptedEndpoint(LoopbackServer):
    """An OpenAI-compatible chat-completions server on loopback (port 0).

    Answers after ``latency_s`` (streaming when the body asks), counts every request it got
    (``count``, also those it fails), and fails or blocks prompts carrying the markers above.
    """

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        answer: str = "Here is a careful, helpful answer.",
        fail_marked: bool = False,
        block_marked: bool = False,
    ) -> None:
        self.latency_s = latency_s
        self.answer = answer
        self.fail_marked = fail_marked
        self.block_marked = block_marked
        self.count = 0
        self.streamed = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.count += 1
        body = json.loads(await request.read())
        text = _user_text(body)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.fail_marked and FAIL_MARKER in text:
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if self.block_marked and BLOCK_MARKER in text:
            return web.json_response(
                {"error": {"message": "blocked", "type": None, "code": "content_filter"}},
                status=400,
            )
        usage = {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
        if body.get("stream") is not True:
            return web.json_response(
                {
                    "id": "cmpl-1",
                    "object": "chat.completion",
                    "model": body.get("model", "m"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": self.answer},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                }
            )
        self.streamed += 1
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        def event(payload: dict[str, Any]) -> bytes:
            return b"data: " + json.dumps(payload).encode() + b"\n\n"

        await resp.write(event({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}))
        for word in self.answer.split(" "):
            await resp.write(event({"choices": [{"index": 0, "delta": {"content": word + " "}}]}))
        await resp.write(event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        if (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(event({"choices": [], "usage": usage}))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


# -- configuration -------------------------------------------------------------------------


def tiny_judges(root: Path) -> Path:
    """A judge repository with one tiny random-weight judge (fast to load and run)."""
    repo = root / "judges"
    write_judge(repo)
    return repo


def app_document(
    guarded_url: str,
    unguarded_url: str,
    judges: Path,
    **sections: Mapping[str, Any],
) -> dict[str, Any]:
    """A configuration document on loopback ephemeral ports; ``sections`` are merged over."""
    doc: dict[str, Any] = {
        "routes": ["chat", "search"],
        "ingress": {"host": "127.0.0.1", "grpc_port": 0, "http_port": 0},
        "sampling": {
            "rate": 0.5,
            "salt": "app-tests",
            "max_shadows_per_s": 10_000,
            "burst_shadows": 10_000,
            "adaptive": False,
        },
        "shadow": {
            "guarded": {"base_url": guarded_url, "timeout_s": 10},
            "unguarded": {"base_url": unguarded_url, "timeout_s": 10},
            "queue_size": 1000,
            "concurrency": 8,
            "noise_floor_rate": 0.0,
            "drain_grace_s": 5,
        },
        "judges": {"repository": str(judges), "providers": ["cpu"], "intra_op_threads": 1},
        "telemetry": {"metrics_host": "127.0.0.1", "metrics_port": 0, "log_level": "warning"},
    }
    for name, over in sections.items():
        base = doc.get(name)
        doc[name] = {**base, **over} if isinstance(base, dict) else dict(over)
    return doc


# -- /metrics --------------------------------------------------------------------------------


def fetch_metrics(port: int, timeout_s: float = 5.0) -> str:
    """GET /metrics (blocking; call through ``asyncio.to_thread`` from async code)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as resp:
        text: str = resp.read().decode("utf-8")
        return text


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass
class Exposition:
    """A parsed Prometheus text exposition."""

    text: str
    families: dict[str, str] = field(default_factory=dict)  # family name -> type
    samples: list[Sample] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Exposition:
        out = cls(text)
        for family in text_string_to_metric_families(text):
            out.families[family.name] = family.type
            for s in family.samples:
                out.samples.append(Sample(s.name, dict(s.labels), float(s.value)))
        return out

    def total(self, name: str, **labels: str) -> float:
        """Sum of the samples named ``name`` whose labels include ``labels``."""
        return sum(
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def label_values(self, name: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.samples if s.name == name and label in s.labels}

    def has_nan(self) -> list[Sample]:
        return [s for s in self.samples if math.isnan(s.value)]


async def scrape(port: int) -> Exposition:
    return Exposition.parse(await asyncio.to_thread(fetch_metrics, port))


# -- senders ---------------------------------------------------------------------------------


def chat_body(prompt: str, *, stream: bool = False) -> dict[str, Any]:
    return {
        "model": "prod-model",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": prompt},
        ],
        "temperature": 0.2,
        "stream": stream,
    }


def mirror_message(
    request_id: str,
    route: str,
    body: Mapping[str, Any] | bytes,
    *,
    force_sample: bool = False,
) -> mirror_pb2.MirrorRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return mirror_pb2.MirrorRequest(
        request_id=request_id.encode(),
        route=route.encode(),
        body=raw,
        force_sample=force_sample,
    )


@dataclass
class SenderTally:
    """What the sender saw: requests sent and acks/summaries received, per transport."""

    sent: dict[str, int] = field(default_factory=lambda: {"grpc": 0, "http": 0})
    sampled: int = 0
    rejected: int = 0
    accepted: int = 0


async def send_grpc_unary(
    stub: mirror_pb2_grpc.MirrorServiceStub,
    tally: SenderTally,
    message: mirror_pb2.MirrorRequest,
) -> None:
    tally.sent["grpc"] += 1
    try:
        ack = await stub.Mirror(message, timeout=10)
    except grpc.aio.AioRpcError as exc:
        assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT, exc
        tally.rejected += 1
        return
    tally.accepted += 1
    tally.sampled += int(ack.sampled)


async def send_grpc_stream(
    channel: grpc.aio.Channel,
    tally: SenderTally,
    items: list[mirror_pb2.MirrorRequest | bytes],
) -> mirror_pb2.MirrorStreamSummary:
    """One MirrorStream call; raw ``bytes`` items are sent as they are (invalid on purpose)."""

    async def gen() -> AsyncIterator[mirror_pb2.MirrorRequest | bytes]:
        for item in items:
            yield item

    tally.sent["grpc"] += len(items)
    summary: mirror_pb2.MirrorStreamSummary = await raw_stream_method(channel)(gen(), timeout=10)
    tally.accepted += int(summary.received - summary.rejected)
    tally.rejected += int(summary.rejected)
    tally.sampled += int(summary.sampled)
    return summary


def raw_stream_method(channel: grpc.aio.Channel) -> Any:
    """MirrorStream taking already-serialized items (so that invalid bytes can be sent)."""
    return channel.stream_unary(
        "/taxmeter.v1.MirrorService/MirrorStream",
        request_serializer=lambda b: b if isinstance(b, bytes) else b.SerializeToString(),
        response_deserializer=mirror_pb2.MirrorStreamSummary.FromString,
    )


async def send_http(
    session: Any,
    port: int,
    tally: SenderTally,
    body: Mapping[str, Any] | bytes,
    *,
    route: str,
    request_id: str,
    force_sample: bool = False,
) -> int:
    """POST one mirror to the HTTP sink (an ``aiohttp.ClientSession``); returns the status."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {
        "content-type": "application/json",
        "x-taxmeter-route": route,
        "x-request-id": request_id,
        "authorization": "Bearer production-secret",
    }
    if force_sample:
        headers["x-taxmeter-force-sample"] = "true"
    tally.sent["http"] += 1
    async with session.post(
        f"http://127.0.0.1:{port}/v1/chat/completions", data=raw, headers=headers
    ) as resp:
        payload = await resp.json()
        if resp.status == 202:
            tally.accepted += 1
            tally.sampled += int(payload["sampled"])
        else:
            assert resp.status in (400, 413), (resp.status, payload)
            tally.rejected += 1
        return int(resp.status)


def never_ready_judges(root: Path) -> Path:
    """A judge repository that loads (valid ONNX, right inputs and outputs) but whose every
    run fails, so its warm-up never succeeds and the engine never becomes ready: the state
    of judges whose backend is down, held for as long as a test needs."""
    import numpy as np
    import onnx
    from judges_fixtures import OPSET, ORT_IR_VERSION
    from onnx import TensorProto, helper, numpy_helper
    from taxmeter.judgetools.graph import DUAL_INPUTS

    hidden = 4
    impossible = numpy_helper.from_array(np.array([1_000_003, 3], np.int64), "impossible")
    emb_shape = numpy_helper.from_array(np.array([-1, hidden], np.int64), "emb_shape")
    nodes = [
        helper.make_node("Cast", ["response_input_ids"], ["ids_f"], to=TensorProto.FLOAT),
        # fails at run time for any input that is not exactly 3,000,009 tokens
        helper.make_node("Reshape", ["ids_f", "impossible"], ["logits"]),
        helper.make_node("Reshape", ["ids_f", "emb_shape"], ["embedding"]),
    ]
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq_" + n[:1]])
        for n in DUAL_INPUTS
    ]
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3]),
        helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden]),
    ]
    graph = helper.make_graph(nodes, "broken", inputs, outputs, initializer=[impossible, emb_shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = ORT_IR_VERSION
    onnx.checker.check_model(model)
    repo = root / "broken-judges"
    write_judge(repo, model=model)
    return repo
