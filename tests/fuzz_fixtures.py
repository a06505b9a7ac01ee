"""Shared settings and strategies of the property-based fuzzing suite (Hypothesis).

The ``ci`` profile (the default) is derandomized (a fixed seed: the same examples on every
run, so CI is reproducible and a failure is a failure of the code, not of luck), writes no
example database, and keeps a budget that fits the suite: ``TAXMETER_FUZZ_EXAMPLES`` examples
per property (default 150). ``TAXMETER_FUZZ_PROFILE=deep`` runs random, 20x longer searches
locally (add ``--timeout=0``: the per-test timeout is sized for the CI budget); a failing
example it finds becomes a regular test (tests/integration/test_fuzz_regressions.py).

Not a test module; import it as ``fuzz_fixtures``.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar, cast

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from taxmeter.proto.taxmeter.v1 import mirror_pb2

T = TypeVar("T")

_EXAMPLES = int(os.environ.get("TAXMETER_FUZZ_EXAMPLES", "150"))
_COMMON: dict[str, Any] = {
    "deadline": None,  # a busy shared machine; no timed assertions
    "database": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
}
settings.register_profile("ci", derandomize=True, max_examples=_EXAMPLES, **_COMMON)
settings.register_profile("deep", max_examples=_EXAMPLES * 20, **_COMMON)
settings.load_profile(os.environ.get("TAXMETER_FUZZ_PROFILE", "ci"))


# -- strategies ----------------------------------------------------------------------------

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)

content_parts = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "image_url", "input_audio"])},
        optional={"text": st.text(max_size=30), "x": json_values},
    ),
    max_size=3,
)
messages = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "role": st.sampled_from(["system", "user", "assistant", "tool", ""]) | json_values,
            "content": st.text(max_size=60) | content_parts | st.none() | json_values,
            "tool_calls": json_values,
        },
    ),
    max_size=6,
)
chat_bodies = st.fixed_dictionaries(
    {},
    optional={
        "messages": messages | json_values,
        "model": st.text(max_size=20) | json_values,
        "stream": st.booleans() | json_values,
        "temperature": json_values,
        "unknown_field": json_values,
    },
)


@st.composite
def body_bytes(draw: st.DrawFn) -> bytes:
    """Bytes a sender might send as a body: valid JSON bodies, bodies near-valid, nested
    deeply, invalid UTF-8, truncated, or random."""
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return json.dumps(draw(chat_bodies)).encode()
    if kind == 1:  # valid then cut anywhere
        raw = json.dumps(draw(chat_bodies)).encode()
        return raw[: draw(st.integers(0, len(raw)))]
    if kind == 2:  # deep nesting, past any recursion limit
        depth = draw(st.integers(1, 100_000))
        opener = draw(st.sampled_from(["[", '{"a":']))
        return ('{"messages":' + opener * depth).encode()
    if kind == 3:  # invalid UTF-8 inside an otherwise valid body
        raw = json.dumps({"messages": [{"role": "user", "content": "XX"}]}).encode()
        return raw.replace(b"XX", draw(st.binary(min_size=1, max_size=4)) + b"\xff")
    if kind == 4:  # large numbers and floats JSON allows but Python may not
        return (
            b'{"messages":[{"role":"user","content":"x"}],"n":'
            + b"9" * draw(st.integers(1, 6000))
            + b"}"
        )
    return draw(st.binary(max_size=200))


label_bytes = (
    st.binary(max_size=80)
    | st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | st.sampled_from([b"chat", b"coding", b"", b"\xff\xfe", b"a" * 1000])
)
extreme_floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, -1.0, 1e308, -1e308, 5e-324, math.nan, math.inf]
)


@st.composite
def mirror_messages(draw: st.DrawFn) -> bytes:
    msg = mirror_pb2.MirrorRequest(
        request_id=draw(label_bytes),
        route=draw(label_bytes),
        category=draw(label_bytes),
        body=draw(body_bytes()),
        force_sample=draw(st.booleans()),
    )
    if draw(st.booleans()):
        msg.production.text = draw(label_bytes | st.binary(max_size=300))
        msg.production.latency_s = draw(extreme_floats)
        msg.production.ttft_s = draw(extreme_floats)
        msg.production.prompt_tokens = draw(st.integers(0, 2**32 - 1))
        msg.production.completion_tokens = draw(st.integers(0, 2**32 - 1))
        # values outside the enum on purpose: the codec must reject or map unknown arms
        msg.production.arm = cast(mirror_pb2.Arm, draw(st.integers(-5, 5)))
        msg.production.finish_reason = draw(label_bytes)
    raw: bytes = msg.SerializeToString()
    if draw(st.booleans()):  # unknown fields: a varint (field 99) and a length-delimited (100)
        raw += b"\x98\x06" + bytes([draw(st.integers(0, 127))])
        extra = draw(st.binary(max_size=50))
        raw += b"\xa2\x06" + bytes([len(extra)]) + extra
    return raw


# -- a background event loop for real servers in sync Hypothesis tests ---------------------


class LoopThread:
    """An asyncio loop in a daemon thread: servers live there; ``run`` waits for a coroutine."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout_s)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
