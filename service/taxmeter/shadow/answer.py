"""Reading an arm's answer: the JSON body or the SSE events of a chat completion, into an
``Answer``, and the bounded reasons a call can fail for.

No I/O here: ``OpenAIEndpoint`` (``shadow/endpoint.py``) reads the HTTP response and hands
each JSON body or SSE event to ``parse_completion`` / ``stream_event``; a ``CallFailure``
raised by either ends the call with its outcome and reason.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from taxmeter.shadow.prompt import content_text
from taxmeter.types import ArmOutcome

EMPTY_REASONS = (
    "empty_no_choices",
    "empty_role_only",
    "empty_content",
    "empty_filtered",
    "empty_length",
    "empty_reasoning_only",
)
ERROR_REASONS = (
    "http_4xx",
    "http_5xx",
    "connect",
    "connect_timeout",
    "timeout",
    "malformed_json",
    "truncated_stream",
    "truncated_response",
    "response_too_large",
    "stream_error",
    *EMPTY_REASONS,
    "internal",
)
"""Every ``error_reason`` (a bounded label value); ``internal``: the client itself raised.

Empty 200 answers, by why they are empty: ``empty_no_choices`` (a body, or every chunk of a
stream, without a choice), ``empty_role_only`` (a stream whose only delta was the role; a
stream that also lacks a finish reason is ``truncated_stream``), ``empty_content`` (content
chunks or a message, all empty), ``empty_filtered`` (content withheld by a filter annotation,
without a ``content_filter`` finish reason), ``empty_length`` (``finish_reason: length`` before
any content: max tokens spent, e.g. on reasoning), ``empty_reasoning_only`` (reasoning text
but no answer).
"""

CUT_FINISH_REASONS = frozenset(
    {"abort", "aborted", "cancelled", "canceled", "interrupted", "error", "timeout"}
)
"""Finish reasons that say the answer was cut (vLLM ``abort``, gateways' ``error``...)."""

_FILTER_CODES = frozenset({"content_filter", "content_policy_violation"})
_FILTER_INNER_CODES = frozenset({"ResponsibleAIPolicyViolation"})
_FILTER_PHRASES = ("content management policy", "content filter", "content_filter")


def is_content_filter_error(payload: Any) -> bool:
    """Whether an error body (OpenAI or Azure shape) says a content filter blocked the call."""
    if not isinstance(payload, dict):
        return False
    err = payload.get("error", payload)
    if not isinstance(err, dict):
        return False
    for key in ("code", "type"):
        value = err.get(key)
        if isinstance(value, str) and value.lower() in _FILTER_CODES:
            return True
    inner = err.get("innererror") or err.get("inner_error")
    if isinstance(inner, dict) and inner.get("code") in _FILTER_INNER_CODES:
        return True
    message = err.get("message")
    return isinstance(message, str) and any(p in message.lower() for p in _FILTER_PHRASES)


class CallFailure(Exception):
    """Ends a call early with an outcome (caught by ``OpenAIEndpoint.complete``)."""

    def __init__(self, outcome: ArmOutcome, reason: str | None, detail: str | None = None) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Answer:
    """One call's answer as it is read (text pieces, tool calls, usage, finish reason)."""

    text_parts: list[str] = field(default_factory=list)
    tool_calls: dict[int, dict[str, str]] = field(default_factory=dict)
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_s: float | None = None
    status_code: int | None = None
    # What the answer was made of, to say why an empty one is empty.
    choice_chunks: int = 0
    role_seen: bool = False
    content_chunks: int = 0
    filtered: bool = False
    reasoning: bool = False

    def empty_reason(self, stream: bool) -> str:
        if self.finish_reason == "length":
            return "empty_length"
        if self.filtered:
            return "empty_filtered"
        if self.reasoning:
            return "empty_reasoning_only"
        if self.choice_chunks == 0:
            return "empty_no_choices"
        if stream and self.content_chunks == 0 and self.role_seen:
            return "empty_role_only"
        return "empty_content"

    def saw_choice(self, choice: dict[str, Any], message: Any) -> None:
        """Record what a choice (or a stream chunk's choice) carried besides text."""
        self.choice_chunks += 1
        if isinstance(message, dict):
            if message.get("role") is not None:
                self.role_seen = True  # (vLLM's role chunk carries content "": not content)
            elif message.get("content") is not None:
                self.content_chunks += 1
            for key in ("reasoning_content", "reasoning"):
                if isinstance(message.get(key), str) and message[key]:
                    self.reasoning = True
        results = choice.get("content_filter_results")
        if isinstance(results, dict) and any(
            isinstance(v, dict) and v.get("filtered") is True for v in results.values()
        ):
            self.filtered = True

    def text(self) -> str:
        text = "".join(self.text_parts)
        calls = [
            f"[tool call: {c.get('name', '')}({c.get('arguments', '')})]"
            for _, c in sorted(self.tool_calls.items())
        ]
        return "\n".join(p for p in [text, *calls] if p)

    def usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            p, c = usage.get("prompt_tokens"), usage.get("completion_tokens")
            if isinstance(p, int) and not isinstance(p, bool):
                self.prompt_tokens = p
            if isinstance(c, int) and not isinstance(c, bool):
                self.completion_tokens = c

    def tool_call_delta(self, calls: Any) -> None:
        if not isinstance(calls, list):
            return
        for i, call in enumerate(calls):
            if not isinstance(call, dict):
                continue
            index = call.get("index", i)
            slot = self.tool_calls.setdefault(index if isinstance(index, int) else i, {})
            fn = call.get("function")
            if isinstance(fn, dict):
                for key in ("name", "arguments"):
                    piece = fn.get(key)
                    if isinstance(piece, str):
                        slot[key] = slot.get(key, "") + piece


def parse_completion(payload: Any, answer: Answer) -> None:
    """Apply a non-streamed chat-completion body."""
    if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
        raise CallFailure(ArmOutcome.ERROR, "malformed_json")
    answer.usage(payload.get("usage"))
    choices = payload["choices"]
    if not choices or not isinstance(choices[0], dict):
        raise CallFailure(ArmOutcome.ERROR, "empty_no_choices")
    choice = choices[0]
    finish = choice.get("finish_reason")
    answer.finish_reason = finish if isinstance(finish, str) else None
    if answer.finish_reason in CUT_FINISH_REASONS:
        raise CallFailure(
            ArmOutcome.ERROR, "truncated_response", f"finish_reason_{answer.finish_reason}"
        )
    message = choice.get("message")
    answer.saw_choice(choice, message)
    if not isinstance(message, dict):
        if answer.finish_reason == "content_filter":
            return
        raise CallFailure(ArmOutcome.ERROR, "malformed_json")
    text = content_text(message.get("content"))
    refusal = message.get("refusal")
    if not text and isinstance(refusal, str):
        text = refusal
    answer.text_parts.append(text)
    answer.tool_call_delta(message.get("tool_calls"))


def stream_event(data: bytes, answer: Answer, start: float) -> bool:
    """Apply one SSE event; True on ``[DONE]``."""
    if data.strip() == b"[DONE]":
        return True
    try:
        event = json.loads(data)
    except ValueError:
        raise CallFailure(ArmOutcome.ERROR, "malformed_json") from None
    if not isinstance(event, dict):
        raise CallFailure(ArmOutcome.ERROR, "malformed_json")
    if "error" in event:
        if is_content_filter_error(event):
            answer.finish_reason = "content_filter"
            return True
        raise CallFailure(ArmOutcome.ERROR, "stream_error")
    answer.usage(event.get("usage"))
    choices = event.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return False
    choice = choices[0]
    delta = choice.get("delta")
    answer.saw_choice(choice, delta)
    if isinstance(delta, dict):
        piece = delta.get("content")
        if not isinstance(piece, str) or not piece:
            piece = delta.get("refusal")
        if isinstance(piece, str) and piece:
            if answer.ttft_s is None:
                answer.ttft_s = time.perf_counter() - start
            answer.text_parts.append(piece)
        answer.tool_call_delta(delta.get("tool_calls"))
    finish = choice.get("finish_reason")
    if isinstance(finish, str):
        answer.finish_reason = finish
    return False
