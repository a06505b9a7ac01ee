"""Failing examples found by the fuzzing suite and the canary test, kept as regular tests."""

from __future__ import annotations

import json
import logging
import sys

import aiohttp
from ingress_fixtures import RecordingIntake
from taxmeter.errors import InvalidRequestError
from taxmeter.ingress import HttpSink, IngressConfig, MirrorCodec, Rejection, RouteNormalizer
from taxmeter.telemetry.logging import _WithholdRequestData


async def test_a_body_whose_content_encoding_does_not_decode_is_a_counted_400() -> None:
    # was: an uncounted 500 (aiohttp's RequestPayloadError escaped the handler)
    intake = RecordingIntake()
    sink = HttpSink(
        IngressConfig(host="127.0.0.1", http_port=0), intake, RouteNormalizer(frozenset({"chat"}))
    )
    port = await sink.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{port}/mirror/chat/v1/chat/completions",
                data=b"this is not gzip",
                headers={"content-encoding": "gzip", "content-type": "application/json"},
            ) as resp,
        ):
            assert resp.status == 400
            assert (await resp.json())["error"]["field"] == "body"
    finally:
        await sink.stop()
    assert intake.calls == 1
    assert intake.rejected[0].route == "chat"


def test_an_invalid_role_is_not_echoed_in_the_error_message() -> None:
    # was: "required for role 'sk-...'" (the sender's text in an error message)
    codec = MirrorCodec(IngressConfig(), RouteNormalizer(frozenset()))
    secret = "sk-canary-role-0042"
    decoded = codec.decode_http(
        json.dumps({"messages": [{"role": secret}]}).encode(), {}, "/v1/chat/completions"
    )
    assert isinstance(decoded, Rejection)
    assert isinstance(decoded.error, InvalidRequestError)
    assert decoded.error.field == "body.messages[0].content"
    assert secret not in str(decoded.error)


def test_aiohttp_parser_errors_are_logged_without_the_request_bytes() -> None:
    # was: `BadHttpMessage: Data after Connection: close: b'<the prompt>'` at ERROR level
    secret = "sk-canary-aiohttp-0042"
    try:
        raise ValueError(f"Data after `Connection: close`: b'{secret}'")
    except ValueError:
        record = logging.LogRecord(
            "aiohttp.server",
            logging.ERROR,
            __file__,
            1,
            "Error handling request from %s",
            ("127.0.0.1",),
            sys.exc_info(),
        )
    assert _WithholdRequestData().filter(record)
    text = logging.Formatter().format(record)
    assert secret not in text
    assert "Error handling request from 127.0.0.1" in text
    assert "ValueError" in text and "withheld" in text
