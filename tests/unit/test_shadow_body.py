"""What each arm is sent, the judge prompt, and content-filter detection."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from taxmeter.shadow.config import EndpointConfig
from taxmeter.shadow.endpoint import build_body, is_content_filter_error
from taxmeter.shadow.prompt import judge_prompt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from shadow_fixtures import chat_body, mirror

PLAIN = EndpointConfig(base_url="http://a/v1")


def test_arm_without_changes_forwards_the_raw_bytes_unchanged() -> None:
    raw = b'{"model":"m",  "messages":[{"role":"user","content":"hi"}], "x_unknown": 1.50}'
    request = mirror(json.loads(raw), raw=raw)
    data, stream = build_body(PLAIN, request)
    assert data is raw
    assert stream is False


def test_overrides_strip_and_model_change_only_those_fields() -> None:
    body = chat_body(user="u-123", response_format={"type": "json_object"}, seed=4)
    cfg = EndpointConfig(
        base_url="http://a/v1", model="guard-7b", overrides={"temperature": 0}, strip=["user"]
    )
    data, _ = build_body(cfg, mirror(body))
    sent = json.loads(data)
    assert sent["model"] == "guard-7b"
    assert sent["temperature"] == 0
    assert "user" not in sent
    assert sent["messages"] == body["messages"]
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["seed"] == 4


def test_streaming_request_gets_include_usage_added() -> None:
    body = chat_body(stream=True)
    data, stream = build_body(PLAIN, mirror(body))
    assert stream is True
    assert json.loads(data)["stream_options"] == {"include_usage": True}


def test_streaming_request_that_already_asks_for_usage_is_forwarded_raw() -> None:
    body = chat_body(stream=True, stream_options={"include_usage": True})
    request = mirror(body)
    data, stream = build_body(PLAIN, request)
    assert stream is True
    assert data is request.raw_body


def test_stream_never_turns_streaming_off_and_drops_stream_options() -> None:
    body = chat_body(stream=True, stream_options={"include_usage": True})
    cfg = EndpointConfig(base_url="http://a/v1", stream="never")
    data, stream = build_body(cfg, mirror(body))
    sent = json.loads(data)
    assert stream is False
    assert sent["stream"] is False
    assert "stream_options" not in sent


def test_stream_always_streams_a_non_streaming_request() -> None:
    cfg = EndpointConfig(base_url="http://a/v1", stream="always", include_usage=False)
    data, stream = build_body(cfg, mirror(chat_body()))
    assert stream is True
    assert json.loads(data)["stream"] is True
    assert "stream_options" not in json.loads(data)


def test_judge_prompt_is_the_last_user_message_with_parts_flattened() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "data:..."}},
                ],
            },
        ]
    }
    assert judge_prompt(body) == "What is in this picture?\n[image]"


def test_judge_prompt_falls_back_to_the_last_message_with_text() -> None:
    assert judge_prompt({"messages": [{"role": "system", "content": "sys"}]}) == "sys"
    assert judge_prompt({"messages": "nope"}) == ""


def test_content_filter_errors_are_recognised_in_openai_and_azure_shapes() -> None:
    assert is_content_filter_error({"error": {"code": "content_filter", "message": "x"}})
    assert is_content_filter_error(
        {"error": {"code": None, "innererror": {"code": "ResponsibleAIPolicyViolation"}}}
    )
    assert is_content_filter_error(
        {"error": {"message": "filtered by Azure OpenAI's content management policy"}}
    )
    assert not is_content_filter_error({"error": {"code": "invalid_value", "message": "bad"}})
    assert not is_content_filter_error(None)


def test_rewritten_body_keeps_an_unpaired_surrogate_escape_instead_of_failing() -> None:
    raw = b'{"model": "m", "messages": [{"role": "user", "content": "a \\ud800 b"}]}'
    req = mirror(json.loads(raw), raw=raw)
    out, _ = build_body(EndpointConfig(base_url="http://x/v1", model="other-model"), req)
    parsed = json.loads(out)
    assert parsed["model"] == "other-model"
    assert parsed["messages"][0]["content"] == "a \ud800 b"
