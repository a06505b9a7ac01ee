"""The gRPC edge against a real grpc.aio server on loopback (ephemeral port)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from taxmeter.errors import InvalidRequestError, RequestTooLargeError
from taxmeter.ingress import GrpcIngress, IngressConfig, RouteNormalizer
from taxmeter.proto.taxmeter.v1 import mirror_pb2
from taxmeter.types import Arm, MirrorOutcome, Transport

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ingress_fixtures import RecordingIntake

BODY = {"model": "prod-model", "messages": [{"role": "user", "content": "hello"}]}


def body(**extra: Any) -> bytes:
    return json.dumps({**BODY, **extra}).encode()


class Harness:
    def __init__(self, ingress: GrpcIngress, intake: RecordingIntake, port: int) -> None:
        self.ingress, self.intake, self.port = ingress, intake, port
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self.mirror = self.channel.unary_unary(
            "/taxmeter.v1.MirrorService/Mirror",
            request_serializer=None,
            response_deserializer=mirror_pb2.MirrorAck.FromString,
        )
        self.stream = self.channel.stream_unary(
            "/taxmeter.v1.MirrorService/MirrorStream",
            request_serializer=None,
            response_deserializer=mirror_pb2.MirrorStreamSummary.FromString,
        )


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    intake = RecordingIntake()
    config = IngressConfig(
        host="127.0.0.1", grpc_port=0, max_body_bytes=4096, max_messages=4, max_stream_errors=2
    )
    ingress = GrpcIngress(config, intake, RouteNormalizer(frozenset({"chat", "search"})))
    port = await ingress.start()
    h = Harness(ingress, intake, port)
    try:
        yield h
    finally:
        await h.channel.close()
        await ingress.stop(0.5)


def req(**kw: Any) -> bytes:
    kw.setdefault("body", body())
    data: bytes = mirror_pb2.MirrorRequest(**kw).SerializeToString()
    return data


async def test_valid_mirror_reaches_intake_unchanged_and_ack_says_sampled(harness: Harness) -> None:
    raw_body = body(tools=[{"type": "function", "function": {"name": "f"}}], x_unknown=1)
    ack = await harness.mirror(req(request_id=b"r-1", route=b"chat", category=b"qa", body=raw_body))
    assert (ack.request_id, ack.sampled) == ("r-1", True)
    assert ack.decision == mirror_pb2.MirrorAck.SAMPLED
    [got] = harness.intake.submitted
    assert got.raw_body == raw_body
    assert got.body["x_unknown"] == 1
    assert (got.route, got.transport, got.request_id) == ("chat", Transport.GRPC, "r-1")
    assert got.category == "other"  # no category allowlist configured
    assert harness.intake.rejected == []


async def test_ack_says_why_not_sampled(harness: Harness) -> None:
    harness.intake.decide = lambda _r: MirrorOutcome.DROPPED_QUEUE_FULL
    ack = await harness.mirror(req(route=b"chat"))
    assert not ack.sampled
    assert ack.decision == mirror_pb2.MirrorAck.DROPPED_QUEUE_FULL
    assert ack.reason == "fake: dropped_queue_full"


async def test_missing_request_id_is_generated_and_acked(harness: Harness) -> None:
    ack = await harness.mirror(req())
    assert len(ack.request_id) == 32
    assert harness.intake.submitted[0].request_id == ack.request_id
    assert harness.intake.submitted[0].route == "default"


async def test_route_outside_allowlist_becomes_other(harness: Harness) -> None:
    await harness.mirror(req(route=b"user-1234"))
    assert harness.intake.submitted[0].route == "other"


async def test_production_answer_is_decoded(harness: Harness) -> None:
    production = mirror_pb2.ProductionAnswer(
        text=b"Sure.",
        latency_s=1.5,
        completion_tokens=7,
        finish_reason=b"stop",
        arm=mirror_pb2.ARM_GUARDED,
    )
    await harness.mirror(req(route=b"chat", production=production, force_sample=True))
    got = harness.intake.submitted[0]
    assert got.force_sample
    assert got.production is not None
    assert (got.production.text, got.production.arm) == ("Sure.", Arm.GUARDED)
    assert (got.production.latency_s, got.production.completion_tokens) == (1.5, 7)
    assert got.production.ttft_s is None


async def _expect_invalid(harness: Harness, raw: bytes) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await harness.mirror(raw)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = info.value.details()
    assert isinstance(details, str)
    return details


async def test_invalid_utf8_route_is_a_counted_invalid_argument(harness: Harness) -> None:
    details = await _expect_invalid(harness, req(route=b"ch\xffat"))
    assert details.startswith("route: not valid UTF-8")
    [rej] = harness.intake.rejected
    assert (rej.transport, rej.route) == (Transport.GRPC, "unknown")
    assert isinstance(rej.error, InvalidRequestError) and rej.error.field == "route"
    assert harness.intake.submitted == []


async def test_invalid_utf8_in_production_text_names_the_field(harness: Harness) -> None:
    prod = mirror_pb2.ProductionAnswer(text=b"\xc3\x28", arm=mirror_pb2.ARM_GUARDED)
    details = await _expect_invalid(harness, req(route=b"chat", production=prod))
    assert details.startswith("production.text:")
    assert harness.intake.rejected[0].route == "chat"  # route was readable: counted under it


async def test_invalid_utf8_in_body_is_invalid_argument(harness: Harness) -> None:
    details = await _expect_invalid(harness, req(body=b'{"messages": "\xff"}'))
    assert details.startswith("body: not valid UTF-8")


async def test_bytes_that_are_not_a_protobuf_message_are_counted(harness: Harness) -> None:
    details = await _expect_invalid(harness, b"\xff\xff\xff\xff")
    assert details.startswith("request: not a MirrorRequest")
    assert harness.intake.rejected[0].route == "unknown"


@pytest.mark.parametrize(
    ("raw_body", "field"),
    [
        (b"not json", "body"),
        (b"", "body"),
        (b"[1, 2]", "body"),
        (b'{"model": "m"}', "body.messages"),
        (b'{"messages": []}', "body.messages"),
        (b'{"messages": {"role": "user"}}', "body.messages"),
        (b'{"messages": ["hi"]}', "body.messages[0]"),
        (b'{"messages": [{"content": "hi"}]}', "body.messages[0].role"),
        (b'{"messages": [{"role": "user", "content": 3}]}', "body.messages[0].content"),
        (
            b'{"messages": [{"role": "user", "content": [{"text": "x"}]}]}',
            "body.messages[0].content[0]",
        ),
        (b'{"messages": [{"role": "user", "content": "a"}], "model": 4}', "body.model"),
        (b'{"messages": [{"role": "user", "content": "a"}], "stream": "yes"}', "body.stream"),
        (
            json.dumps({"messages": [{"role": "user", "content": "a"}] * 5}).encode(),
            "body.messages",
        ),
        (json.dumps({"messages": [{"role": "user", "content": "a" * 5000}]}).encode(), "body"),
    ],
)
async def test_invalid_body_is_invalid_argument_naming_the_field(
    harness: Harness, raw_body: bytes, field: str
) -> None:
    details = await _expect_invalid(harness, req(route=b"search", body=raw_body))
    assert details.startswith(f"{field}: ")
    [rej] = harness.intake.rejected
    assert rej.route == "search"
    assert isinstance(rej.error, InvalidRequestError) and rej.error.field == field


async def test_too_many_messages_and_oversized_body_are_too_large_errors(
    harness: Harness,
) -> None:
    many = json.dumps({"messages": [{"role": "user", "content": "a"}] * 5}).encode()
    await _expect_invalid(harness, req(body=many))
    await _expect_invalid(harness, req(body=b'{"messages":[]}' + b" " * 5000))
    assert all(isinstance(r.error, RequestTooLargeError) for r in harness.intake.rejected)


async def test_mirror_stream_counts_every_item_and_lists_bounded_errors(harness: Harness) -> None:
    decisions = iter(
        [
            MirrorOutcome.SAMPLED,
            MirrorOutcome.NOT_SAMPLED,
            MirrorOutcome.DROPPED_BUDGET,
            MirrorOutcome.SAMPLED,
        ]
    )
    harness.intake.decide = lambda _r: next(decisions)
    items = [
        req(route=b"chat"),
        req(route=b"\xff"),
        req(route=b"chat"),
        req(body=b"nope"),
        req(route=b"search"),
        req(body=b"{}"),
        req(route=b"chat"),
    ]

    async def gen() -> AsyncIterator[bytes]:
        for item in items:
            yield item

    summary = await harness.stream(gen())
    assert (
        summary.received,
        summary.sampled,
        summary.not_sampled,
        summary.dropped,
        summary.rejected,
    ) == (7, 2, 1, 1, 3)
    assert list(summary.errors) == [
        "item 1: route: not valid UTF-8 (byte 0)",
        "item 3: body: not valid JSON: Expecting value at line 1 column 1",
    ]
    assert harness.intake.calls == 7
    assert [r.route for r in harness.intake.rejected] == ["unknown", "default", "default"]


async def test_health_reports_serving_and_not_serving_on_stop(harness: Harness) -> None:
    stub = health_pb2_grpc.HealthStub(harness.channel)
    for service in ("", "taxmeter.v1.MirrorService"):
        resp = await stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
    await harness.ingress.set_serving(False)
    resp = await stub.Check(health_pb2.HealthCheckRequest(service="taxmeter.v1.MirrorService"))
    assert resp.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_reflection_lists_the_mirror_service(harness: Harness) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(harness.channel)

    async def one() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    names: list[str] = []
    async for resp in stub.ServerReflectionInfo(one()):
        names += [s.name for s in resp.list_services_response.service]
    assert "taxmeter.v1.MirrorService" in names
    assert "grpc.health.v1.Health" in names


async def test_generated_stub_client_works_against_raw_bytes_handler(harness: Harness) -> None:
    from taxmeter.proto.taxmeter.v1 import mirror_pb2_grpc

    stub = mirror_pb2_grpc.MirrorServiceStub(harness.channel)  # type: ignore[no-untyped-call]
    ack = await stub.Mirror(mirror_pb2.MirrorRequest(route=b"chat", body=body()))
    assert ack.sampled
