"""The HTTP mirror sink against a real aiohttp server on loopback (ephemeral port)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from taxmeter.errors import InvalidRequestError, RequestTooLargeError
from taxmeter.ingress import HttpSink, IngressConfig, RouteNormalizer
from taxmeter.types import MirrorOutcome, Transport

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ingress_fixtures import RecordingIntake

# A realistic OpenAI chat-completions body: tools, content parts (text + image), a tool-calling
# assistant turn with null content, a tool result, response_format, max_completion_tokens and a
# field nobody knows about.
OPENAI_BODY: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image, and what's the weather in Paris?"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                },
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ],
    "tool_choice": "auto",
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
    },
    "max_completion_tokens": 300,
    "temperature": 0.2,
    "stream": True,
    "stream_options": {"include_usage": True},
    "x_vendor_extension": {"keep": "me"},
}

SECRET = "sk-live-THIS-MUST-NEVER-LEAVE-INGRESS"


class Sink:
    def __init__(
        self, sink: HttpSink, intake: RecordingIntake, base: str, session: aiohttp.ClientSession
    ) -> None:
        self.sink, self.intake, self.base, self.session = sink, intake, base, session
        self.ready = True

    async def post(
        self, path: str, data: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        async with self.session.post(self.base + path, data=data, headers=headers) as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    intake = RecordingIntake()
    config = IngressConfig(host="127.0.0.1", http_port=0, max_body_bytes=8192, max_messages=8)
    holder: list[Sink] = []
    normalizer = RouteNormalizer(frozenset({"chat", "search"}), frozenset({"coding"}))
    http = HttpSink(config, intake, normalizer, readiness=lambda: holder[0].ready)
    port = await http.start()
    async with aiohttp.ClientSession() as session:
        s = Sink(http, intake, f"http://127.0.0.1:{port}", session)
        holder.append(s)
        try:
            yield s
        finally:
            await http.stop()


async def test_real_openai_body_is_accepted_with_202_and_kept_byte_for_byte(sink: Sink) -> None:
    raw = json.dumps(OPENAI_BODY).encode()
    status, ack = await sink.post(
        "/v1/chat/completions",
        raw,
        {
            "x-request-id": "req-9",
            "x-taxmeter-route": "chat",
            "x-taxmeter-category": "coding",
            "content-type": "application/json",
        },
    )
    assert status == 202
    assert ack == {"request_id": "req-9", "sampled": True, "decision": "sampled", "reason": ""}
    [got] = sink.intake.submitted
    assert got.raw_body == raw
    assert got.body == OPENAI_BODY
    assert (got.route, got.category, got.transport) == ("chat", "coding", Transport.HTTP)


async def test_credential_headers_never_reach_the_intake(sink: Sink) -> None:
    headers = {
        "Authorization": f"Bearer {SECRET}",
        "Cookie": f"session={SECRET}",
        "X-Api-Key": SECRET,
        "api-key": SECRET,
        "OpenAI-Organization": SECRET,
        "Proxy-Authorization": SECRET,
        "x-taxmeter-route": "chat",
    }
    status, _ = await sink.post("/v1/chat/completions", json.dumps(OPENAI_BODY).encode(), headers)
    assert status == 202
    [got] = sink.intake.submitted
    assert SECRET not in repr(got)
    assert SECRET.encode() not in got.raw_body


async def test_credential_header_configured_as_route_header_is_still_stripped() -> None:
    intake = RecordingIntake()
    config = IngressConfig(host="127.0.0.1", http_port=0, http_route_header="authorization")
    http = HttpSink(config, intake, RouteNormalizer(frozenset({SECRET})))
    port = await http.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                data=json.dumps(OPENAI_BODY),
                headers={"Authorization": SECRET},
            ) as resp,
        ):
            assert resp.status == 202
    finally:
        await http.stop()
    assert intake.submitted[0].route == "default"


async def test_route_is_taken_from_the_path(sink: Sink) -> None:
    status, _ = await sink.post(
        "/mirror/search/v1/chat/completions",
        json.dumps(OPENAI_BODY).encode(),
        {"x-taxmeter-route": "chat"},
    )
    assert status == 202
    assert sink.intake.submitted[0].route == "search"


async def test_route_from_header_outside_allowlist_is_other_and_absent_is_default(
    sink: Sink,
) -> None:
    await sink.post(
        "/v1/chat/completions", json.dumps(OPENAI_BODY).encode(), {"x-taxmeter-route": "tenant-42"}
    )
    await sink.post("/v1/chat/completions", json.dumps(OPENAI_BODY).encode())
    assert [r.route for r in sink.intake.submitted] == ["other", "default"]
    assert len(sink.intake.submitted[1].request_id) == 32


async def test_ack_reports_not_sampled_with_reason(sink: Sink) -> None:
    sink.intake.decide = lambda _r: MirrorOutcome.NOT_SAMPLED
    status, ack = await sink.post("/v1/chat/completions", json.dumps(OPENAI_BODY).encode())
    assert status == 202
    assert (ack["sampled"], ack["decision"], ack["reason"]) == (
        False,
        "not_sampled",
        "fake: not_sampled",
    )


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", "body"),
        (b'"a string"', "body"),
        (b'{"model": "m"}', "body.messages"),
        (b'{"messages": [{"role": "user", "content": {"a": 1}}]}', "body.messages[0].content"),
        (b'{"messages": [{"role": "user", "content": null}]}', "body.messages[0].content"),
        (b'{"messages": [{"role": 1, "content": "x"}]}', "body.messages[0].role"),
        (b'{"messages": [{"role": "user", "content": "x"}], "stream": 1}', "body.stream"),
        (
            json.dumps({"messages": [{"role": "user", "content": "x"}] * 9}).encode(),
            "body.messages",
        ),
        (b'{"messages": [{"role": "user", "content": "\xff"}]}', "body"),
    ],
)
async def test_invalid_body_gets_400_naming_the_field_and_is_counted(
    sink: Sink, raw: bytes, field: str
) -> None:
    status, err = await sink.post("/mirror/chat/v1/chat/completions", raw)
    assert status == 400
    assert err["error"]["field"] == field
    assert err["error"]["message"].startswith(f"{field}: ")
    [rej] = sink.intake.rejected
    assert (rej.transport, rej.route) == (Transport.HTTP, "chat")
    assert isinstance(rej.error, InvalidRequestError) and rej.error.field == field
    assert sink.intake.submitted == []


async def test_oversized_body_gets_413_and_is_counted(sink: Sink) -> None:
    raw = json.dumps({"messages": [{"role": "user", "content": "x" * 9000}]}).encode()
    status, err = await sink.post("/v1/chat/completions", raw, {"x-taxmeter-route": "search"})
    assert status == 413
    assert err["error"]["field"] == "body"
    [rej] = sink.intake.rejected
    assert rej.route == "search" and isinstance(rej.error, RequestTooLargeError)


async def test_oversized_chunked_body_without_length_gets_413_and_is_counted(sink: Sink) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 1000

    async with sink.session.post(sink.base + "/v1/chat/completions", data=chunks()) as resp:
        assert resp.status == 413
    assert len(sink.intake.rejected) == 1


async def test_healthz_and_readyz_follow_readiness_and_drain(sink: Sink) -> None:
    async with sink.session.get(sink.base + "/healthz") as resp:
        assert resp.status == 200
    async with sink.session.get(sink.base + "/readyz") as resp:
        assert resp.status == 200
    sink.ready = False
    async with sink.session.get(sink.base + "/readyz") as resp:
        assert resp.status == 503
    sink.ready = True
    sink.sink.set_draining()
    async with sink.session.get(sink.base + "/readyz") as resp:
        assert resp.status == 503
    async with sink.session.get(sink.base + "/healthz") as resp:
        assert resp.status == 200


async def test_unknown_path_is_not_a_mirror_and_not_counted(sink: Sink) -> None:
    async with sink.session.post(sink.base + "/v1/completions", data=b"{}") as resp:
        assert resp.status == 404
    assert sink.intake.calls == 0


async def test_client_that_disconnects_mid_body_is_counted_as_rejected(sink: Sink) -> None:
    import asyncio

    host, port = sink.base.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-taxmeter-route: chat\r\n"
        b'Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"messa'
    )
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    for _ in range(100):
        if sink.intake.calls:
            break
        await asyncio.sleep(0.02)
    assert sink.intake.submitted == []
    [rejected] = sink.intake.rejected
    assert (rejected.transport, rejected.route) == (Transport.HTTP, "chat")
    assert isinstance(rejected.error, InvalidRequestError)
    assert rejected.error.field == "body"


async def test_a_sender_that_stalls_mid_body_gets_408_and_is_counted() -> None:
    """A slow or stalled body (slowloris) cannot hold a handler open: after
    ``http_body_timeout_s`` the sink answers 408 and counts one rejected request."""
    import asyncio

    intake = RecordingIntake()
    config = IngressConfig(host="127.0.0.1", http_port=0, http_body_timeout_s=0.3)
    http = HttpSink(config, intake, RouteNormalizer(frozenset({"chat"})))
    port = await http.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nx-taxmeter-route: chat\r\n"
            b'Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"messa'
        )
        await writer.drain()
        # the sender stays connected and sends nothing more; the answer comes from the sink's
        # own timeout (no deadline here: on a loaded machine it may take longer than 0.3 s)
        head = await reader.readuntil(b"\r\n\r\n")
        writer.close()
        assert head.startswith(b"HTTP/1.1 408 "), head
    finally:
        await http.stop()
    assert intake.submitted == []
    [rejected] = intake.rejected
    assert (rejected.transport, rejected.route) == (Transport.HTTP, "chat")
    assert isinstance(rejected.error, InvalidRequestError)
    assert rejected.error.field == "body"
    assert "http_body_timeout_s" in str(rejected.error)
