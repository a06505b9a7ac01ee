"""The ingress codec and its configuration, without any server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError
from taxmeter.errors import InvalidRequestError, RequestTooLargeError
from taxmeter.ingress import IngressConfig, MirrorCodec, Rejection, RouteNormalizer
from taxmeter.proto.taxmeter.v1 import mirror_pb2
from taxmeter.types import Admission, MirrorOutcome, MirrorRequest, Transport

CONFIG = IngressConfig(max_body_bytes=2048, max_messages=3)
CODEC = MirrorCodec(CONFIG, RouteNormalizer(frozenset({"chat"}), frozenset({"coding"})))


def ok(raw: bytes) -> MirrorRequest:
    decoded = CODEC.decode_grpc(raw)
    assert isinstance(decoded, MirrorRequest), decoded
    return decoded


def grpc_bytes(**kw: Any) -> bytes:
    data: bytes = mirror_pb2.MirrorRequest(**kw).SerializeToString()
    return data


def test_route_normalizer_keeps_allowlisted_names_and_maps_the_rest_to_other() -> None:
    norm = RouteNormalizer(frozenset({"a"}), frozenset({"c"}))
    assert [norm.route("a"), norm.route("b"), norm.route(""), norm.route(None)] == [
        "a",
        "other",
        None,
        None,
    ]
    assert [norm.category("c"), norm.category("a"), norm.category(None)] == ["c", "other", None]


def test_body_with_tool_calls_content_parts_and_unknown_fields_is_kept_untouched() -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "x"},
                    {"type": "input_audio", "input_audio": {}},
                ],
            },
            {"role": "assistant", "tool_calls": [{"id": "1"}]},
            {"role": "tool", "content": "42", "tool_call_id": "1"},
        ],
        "response_format": {"type": "json_object"},
        "max_completion_tokens": 5,
        "logit_bias": {"50256": -100},
        "seed": 7,
    }
    raw = json.dumps(body, indent=1).encode()
    got = ok(grpc_bytes(body=raw, category=b"coding"))
    assert got.body == body and got.raw_body == raw and got.category == "coding"


@pytest.mark.parametrize(
    ("raw", "field", "too_large"),
    [
        (b"\xef\xbb\xbf{}", "body", False),  # BOM: not what an OpenAI client sends
        (b"1" * 3000, "body", True),
        (
            json.dumps({"messages": [{"role": "u", "content": "x"}] * 4}).encode(),
            "body.messages",
            True,
        ),
        (
            b'{"messages": [{"role": "user", "content": "x"}, {"role": "system"}]}',
            "body.messages[1].content",
            False,
        ),
        (b'{"messages": [{"role": "", "content": "x"}]}', "body.messages[0].role", False),
        (
            b'{"messages": [{"role": "user", "content": ["x"]}]}',
            "body.messages[0].content[0]",
            False,
        ),
    ],
)
def test_invalid_bodies_name_the_field(raw: bytes, field: str, too_large: bool) -> None:
    with pytest.raises(InvalidRequestError) as info:
        CODEC.validate_body(raw)
    assert info.value.field == field
    assert isinstance(info.value, RequestTooLargeError) == too_large


def test_deeply_nested_json_is_rejected_not_crashing() -> None:
    raw = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(InvalidRequestError) as info:
        MirrorCodec(
            IngressConfig(max_body_bytes=1 << 20), RouteNormalizer(frozenset())
        ).validate_body(raw)
    assert info.value.field == "body"


def test_request_id_with_control_characters_or_too_long_is_rejected_under_its_route() -> None:
    bad = CODEC.decode_grpc(grpc_bytes(route=b"chat", request_id=b"a\nb", body=b"{}"))
    assert isinstance(bad, Rejection) and bad.route == "chat" and bad.error.field == "request_id"
    long = CODEC.decode_grpc(grpc_bytes(route=b"chat", request_id=b"x" * 200, body=b"{}"))
    assert isinstance(long, Rejection) and isinstance(long.error, RequestTooLargeError)


def test_production_answer_without_arm_is_rejected() -> None:
    raw = grpc_bytes(
        body=b'{"messages":[{"role":"user","content":"x"}]}',
        production=mirror_pb2.ProductionAnswer(text=b"hi"),
    )
    bad = CODEC.decode_grpc(raw)
    assert isinstance(bad, Rejection) and bad.error.field == "production.arm"


def test_http_route_prefers_path_then_header_then_default_and_drops_credentials() -> None:
    body = b'{"messages":[{"role":"user","content":"x"}]}'
    headers = {
        "X-Taxmeter-Route": "chat",
        "Authorization": "Bearer s3cret",
        "X-Taxmeter-Force-Sample": "true",
        "X-Request-Id": "abc",
    }
    got = CODEC.decode_http(body, headers, "/mirror/zzz/v1/chat/completions")
    assert isinstance(got, MirrorRequest)
    assert (got.route, got.force_sample, got.request_id, got.transport) == (
        "other",
        True,
        "abc",
        Transport.HTTP,
    )
    got = CODEC.decode_http(body, headers, "/v1/chat/completions")
    assert isinstance(got, MirrorRequest) and got.route == "chat"
    got = CODEC.decode_http(body, {}, "/v1/chat/completions")
    assert isinstance(got, MirrorRequest) and got.route == "default" and not got.force_sample
    assert CODEC.safe_headers(headers).keys() == {
        "x-taxmeter-route",
        "x-taxmeter-force-sample",
        "x-request-id",
    }


def test_ack_encodes_decision_and_reason() -> None:
    ack = mirror_pb2.MirrorAck.FromString(
        MirrorCodec.encode_ack(Admission("r", MirrorOutcome.DROPPED_BUDGET, "budget"))
    )
    assert (ack.request_id, ack.sampled, ack.decision, ack.reason) == (
        "r",
        False,
        mirror_pb2.MirrorAck.DROPPED_BUDGET,
        "budget",
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"grpc_port": 70000}, "grpc_port"),
        ({"max_body_bytes": 10}, "max_body_bytes"),
        ({"http_route_path_prefix": "mirror"}, "http_route_path_prefix"),
        ({"max_messages": 0}, "max_messages"),
        ({"routes": ["a"]}, "routes"),
    ],
)
def test_bad_config_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        IngressConfig(**kwargs)
    assert info.value.errors()[0]["loc"] == (field,)


def test_config_lowercases_header_names() -> None:
    cfg = IngressConfig(http_route_header="X-Route", strip_headers=("Authorization", " "))
    assert (cfg.http_route_header, cfg.strip_headers) == ("x-route", ("authorization",))


def test_integer_over_the_digit_limit_is_a_counted_invalid_argument_not_a_crash() -> None:
    codec = MirrorCodec(IngressConfig(), RouteNormalizer(frozenset({"chat"})))
    body = b'{"messages": [{"role": "user", "content": "x"}], "seed": ' + b"9" * 5000 + b"}"
    decoded = codec.decode_grpc(grpc_bytes(route=b"chat", body=body))
    assert isinstance(decoded, Rejection)
    assert decoded.error.field == "body"
    assert "not valid JSON" in str(decoded.error)


def test_production_text_larger_than_the_body_limit_is_rejected_naming_the_field() -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "x"}]}).encode()
    prod = mirror_pb2.ProductionAnswer(
        text=b"a" * (CONFIG.max_body_bytes + 1), arm=mirror_pb2.ARM_GUARDED
    )
    decoded = CODEC.decode_grpc(grpc_bytes(route=b"chat", body=body, production=prod))
    assert isinstance(decoded, Rejection)
    assert decoded.error.field == "production.text"
