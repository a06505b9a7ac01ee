"""Property-based fuzzing of what an endpoint can answer: JSON completions with random and
wrong shapes, SSE streams with random events, truncation, garbage and odd content types,
served by a real loopback server and read through the public client (``build_endpoints`` /
``complete``; the parsing inside ``shadow/`` is not touched). Every answer ends as one
``ArmResult``: answered with text, or a failure with a bounded reason; nothing raises.
Fixed seed: tests/fuzz_fixtures.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from fuzz_fixtures import LoopThread, json_values
from hypothesis import given
from hypothesis import strategies as st
from shadow_fixtures import LoopbackServer
from taxmeter.shadow.config import ShadowConfig
from taxmeter.shadow.endpoint import ERROR_REASONS, OpenAIEndpoint, build_endpoints
from taxmeter.types import ArmOutcome, ArmResult, MirrorRequest, Transport

# The documented bound (issue 16 split the empty answers by cause): nothing outside it.
REASONS = {None, *ERROR_REASONS}


@dataclass
class Scripted:
    status: int = 200
    content_type: str = "application/json"
    chunks: list[bytes] = field(default_factory=list)


class ScriptServer(LoopbackServer):
    def __init__(self) -> None:
        self.next = Scripted()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        plan = self.next
        resp = web.StreamResponse(status=plan.status, headers={"Content-Type": plan.content_type})
        await resp.prepare(request)
        for chunk in plan.chunks:
            await resp.write(chunk)
        await resp.write_eof()
        return resp


@dataclass
class Harness:
    loop: LoopThread
    server: ScriptServer
    endpoint: OpenAIEndpoint


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    loop = LoopThread()
    server = ScriptServer()
    url = loop.run(server.start())
    config = ShadowConfig.model_validate(
        {
            "guarded": {"base_url": url, "timeout_s": 10},
            "unguarded": {"base_url": url, "timeout_s": 10},
        }
    )
    guarded, _unguarded = build_endpoints(config, {})
    try:
        yield Harness(loop, server, guarded)
    finally:
        loop.run(guarded.aclose())
        loop.run(_unguarded.aclose())
        loop.run(server.aclose())
        loop.close()


choice = st.fixed_dictionaries(
    {},
    optional={
        "index": json_values,
        "message": st.fixed_dictionaries(
            {},
            optional={
                "role": json_values,
                "content": st.text(max_size=30) | json_values,
                "tool_calls": json_values,
            },
        )
        | json_values,
        "delta": st.fixed_dictionaries(
            {}, optional={"content": st.text(max_size=30) | json_values, "tool_calls": json_values}
        )
        | json_values,
        "finish_reason": st.sampled_from(["stop", "length", "content_filter", None]) | json_values,
    },
)
completion = st.fixed_dictionaries(
    {},
    optional={
        "choices": st.lists(choice, max_size=3) | json_values,
        "usage": st.fixed_dictionaries(
            {}, optional={"prompt_tokens": json_values, "completion_tokens": json_values}
        )
        | json_values,
        "error": json_values,
        "model": json_values,
    },
)


@st.composite
def scripts(draw: st.DrawFn) -> tuple[Scripted, bool]:
    stream = draw(st.booleans())
    status = draw(st.sampled_from([200, 200, 200, 400, 429, 500, 503, 204]))
    if not stream:
        raw = draw(
            st.one_of(
                completion.map(lambda c: json.dumps(c).encode()),
                st.binary(max_size=200),
                completion.map(lambda c: json.dumps(c).encode()[:-3]),
            )
        )
        ctype = draw(st.sampled_from(["application/json", "text/plain", "text/event-stream"]))
        return Scripted(status, ctype, [raw]), False
    events: list[bytes] = []
    for payload in draw(st.lists(completion, max_size=6)):
        line = b"data: " + json.dumps(payload).encode()
        events.append(line + draw(st.sampled_from([b"\n\n", b"\r\n\r\n", b"\n"])))
    if draw(st.booleans()):
        events.append(
            draw(
                st.sampled_from(
                    [
                        b"data: [DONE]\n\n",
                        b"data: {not json\n\n",
                        b": comment\n\n",
                        b"event: error\ndata: {}\n\n",
                        b"data: \xff\xfe\n\n",
                    ]
                )
            )
        )
    if draw(st.booleans()) and events:  # cut the stream anywhere
        joined = b"".join(events)
        events = [joined[: draw(st.integers(0, len(joined)))]]
    ctype = draw(st.sampled_from(["text/event-stream", "application/json"]))
    return Scripted(status, ctype, events), True


def _request(stream: bool) -> MirrorRequest:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return MirrorRequest(
        request_id="r",
        route="chat",
        category=None,
        body=body,
        raw_body=json.dumps(body).encode(),
        transport=Transport.GRPC,
    )


@given(scripts())
def test_any_endpoint_answer_ends_as_one_result_with_a_bounded_reason(
    harness: Harness, script: tuple[Scripted, bool]
) -> None:
    plan, stream = script
    harness.server.next = plan
    result = harness.loop.run(harness.endpoint.complete(_request(stream)))
    assert isinstance(result, ArmResult)
    assert isinstance(result.outcome, ArmOutcome)
    if result.answered:
        assert isinstance(result.text, str)
        assert result.error_reason is None
    else:
        assert result.error_reason in REASONS, result.error_reason
        assert result.text == ""
    for tokens in (result.prompt_tokens, result.completion_tokens):
        assert tokens is None or (isinstance(tokens, int) and tokens >= 0)
