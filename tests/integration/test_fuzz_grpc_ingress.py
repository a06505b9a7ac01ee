"""Property-based fuzzing of the gRPC edge on a real server: Mirror and MirrorStream with
hostile messages (the codec's strategies) and random bytes. Each unary call is OK or
INVALID_ARGUMENT with a message naming a field; a stream's summary accounts for every item;
the intake sees each item exactly once; the server keeps serving. A message over the gRPC
transport limit (2 x max_body_bytes + 64 KiB) is refused by gRPC itself, RESOURCE_EXHAUSTED,
before taxmeter sees it (docs/configuration-ingress.md): on a stream, that ends the stream
after the items before it were counted. Fixed seed:
tests/fuzz_fixtures.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from fuzz_fixtures import LoopThread, mirror_messages
from hypothesis import given
from hypothesis import strategies as st
from ingress_fixtures import RecordingIntake
from taxmeter.ingress import GrpcIngress, IngressConfig, RouteNormalizer
from taxmeter.proto.taxmeter.v1 import mirror_pb2

MAX_BODY = 64 * 1024
TRANSPORT_LIMIT = 2 * MAX_BODY + 64 * 1024


@dataclass
class Edge:
    intake: RecordingIntake
    channel: grpc.Channel


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    loop = LoopThread()
    intake = RecordingIntake()
    cfg = IngressConfig(
        host="127.0.0.1", grpc_port=0, max_body_bytes=MAX_BODY, max_messages=16, max_stream_errors=3
    )
    ingress = GrpcIngress(cfg, intake, RouteNormalizer(frozenset({"chat"})))
    port = loop.run(ingress.start())
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Edge(intake, channel)
    finally:
        channel.close()
        loop.run(ingress.stop(0.5))
        loop.close()


items = mirror_messages() | st.binary(max_size=300)


@given(items)
def test_any_unary_mirror_is_acked_or_refused_naming_a_field(edge: Edge, raw: bytes) -> None:
    call = edge.channel.unary_unary("/taxmeter.v1.MirrorService/Mirror")
    before = edge.intake.calls
    try:
        ack = mirror_pb2.MirrorAck.FromString(call(raw, timeout=30))
        assert ack.request_id
    except grpc.RpcError as exc:
        if len(raw) > TRANSPORT_LIMIT:
            assert exc.code() is grpc.StatusCode.RESOURCE_EXHAUSTED, exc
            assert edge.intake.calls == before
            return
        assert exc.code() is grpc.StatusCode.INVALID_ARGUMENT, exc
        assert ":" in (exc.details() or "")  # "field: what is wrong"
    assert edge.intake.calls == before + 1


@given(st.lists(items, max_size=12))
def test_a_stream_of_anything_is_summarised_item_by_item(edge: Edge, batch: list[bytes]) -> None:
    call = edge.channel.stream_unary("/taxmeter.v1.MirrorService/MirrorStream")
    before = edge.intake.calls
    fits = next((i for i, raw in enumerate(batch) if len(raw) > TRANSPORT_LIMIT), None)
    if fits is not None:
        with pytest.raises(grpc.RpcError) as err:
            call(iter(batch), timeout=30)
        assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert edge.intake.calls <= before + fits  # never more than the items before it
        return
    summary = mirror_pb2.MirrorStreamSummary.FromString(call(iter(batch), timeout=30))
    assert summary.received == len(batch)
    assert summary.sampled + summary.not_sampled + summary.dropped + summary.rejected == len(batch)
    assert len(summary.errors) == min(summary.rejected, 3)
    assert edge.intake.calls == before + len(batch)
