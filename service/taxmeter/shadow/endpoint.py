"""OpenAI-compatible chat-completions clients, one per arm.

``OpenAIEndpoint.complete`` never raises for an endpoint failure: every call ends in an
``ArmResult`` whose ``outcome`` is ``ok``, ``guard_block`` (a refusal by a guard: HTTP 400 with a
content-filter error, or ``finish_reason: content_filter``), ``timeout`` or ``error``, with a
bounded ``error_reason`` (see ``ERROR_REASONS``). Only cancellation propagates.

A stream is complete only with a finish reason that does not say it was cut: a ``[DONE]``
without any finish reason (llama.cpp's server ends streams so when ``interrupt_requests`` is on
and another request waits), an end of body without ``[DONE]`` and without a finish reason, or a
finish reason such as ``abort`` is ``truncated_stream``, never an answer. An empty 200 answer is
an error whose reason says why (``empty_role_only``, ``empty_content``...). Streams are read
to the end of the HTTP body, past ``[DONE]``, so that the connection goes back to the pool.

The body is the production request: forwarded byte-for-byte when the arm changes nothing,
otherwise re-serialized from a copy with the arm's model/overrides/strip/stream settings.
No header of the application is ever forwarded (ingress stripped them); the arm sends its own
``headers`` and, when configured, ``Authorization: Bearer <key>``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
import structlog

from taxmeter import __version__
from taxmeter.credentials import Secret, SecretSource, load_secret, read_secret
from taxmeter.shadow.config import EndpointConfig, ShadowConfig
from taxmeter.shadow.prompt import content_text
from taxmeter.types import Arm, ArmOutcome, ArmResult, MirrorRequest

log = structlog.get_logger("taxmeter.shadow")

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


class ModelEndpoint(Protocol):
    """One arm as the dispatcher sees it."""

    async def complete(self, request: MirrorRequest) -> ArmResult: ...

    async def aclose(self) -> None: ...


def _key_source(config: EndpointConfig, field_path: str) -> SecretSource:
    return SecretSource(
        env=config.api_key_env,
        file=config.api_key_file,
        env_field=f"{field_path}.api_key_env",
        file_field=f"{field_path}.api_key_file",
    )


def read_api_key(
    config: EndpointConfig, field_path: str, environ: Mapping[str, str] | None = None
) -> str | None:
    """The arm's key from its env var or file, or None; a missing source is a ``ConfigError``."""
    return read_secret(_key_source(config, field_path), os.environ if environ is None else environ)


def load_api_key(
    config: EndpointConfig, field_path: str, environ: Mapping[str, str] | None = None
) -> Secret | None:
    """Like ``read_api_key``, as a ``Secret``: a key file is re-read when it changes."""
    return load_secret(_key_source(config, field_path), os.environ if environ is None else environ)


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


def request_model(config: EndpointConfig, request: MirrorRequest) -> str | None:
    """The model name this arm is asked for (its override, else the body's)."""
    if config.model is not None:
        return config.model
    model = request.body.get("model")
    return model if isinstance(model, str) else None


def build_body(config: EndpointConfig, request: MirrorRequest) -> tuple[bytes, bool]:
    """The bytes to send and whether the call streams."""
    body = request.body
    asked = body.get("stream") is True
    stream = {"as_request": asked, "always": True, "never": False}[config.stream]
    options = body.get("stream_options")
    has_usage = isinstance(options, dict) and options.get("include_usage") is True
    add_usage = stream and config.include_usage and not has_usage
    if not (config.rewrites_body or stream != asked or add_usage):
        return request.raw_body, stream
    out = dict(body)
    for name in config.strip:
        out.pop(name, None)
    for name, value in config.overrides.items():
        out[name] = copy.deepcopy(value)
    if config.model is not None:
        out["model"] = config.model
    if stream:
        out["stream"] = True
        if add_usage:
            opts = dict(options) if isinstance(options, dict) else {}
            opts["include_usage"] = True
            out["stream_options"] = opts
    else:
        if "stream" in out:
            out["stream"] = False
        out.pop("stream_options", None)
    # ensure_ascii: an unpaired surrogate escape ("\ud800") in the app's JSON stays an escape
    # instead of failing to encode as UTF-8.
    return json.dumps(out, ensure_ascii=True, separators=(",", ":")).encode(), stream


class _Failure(Exception):
    """Internal: ends a call early with an outcome."""

    def __init__(self, outcome: ArmOutcome, reason: str | None, detail: str | None = None) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class _Answer:
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


class OpenAIEndpoint:
    """Implements ``ModelEndpoint`` over aiohttp, with one connection pool per arm.

    The session is created on first use, on the running loop; ``aclose()`` closes it.
    """

    def __init__(
        self,
        arm: Arm,
        config: EndpointConfig,
        *,
        field_path: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.arm = arm
        self.config = config
        self._api_key = load_api_key(config, field_path or f"shadow.{arm.value}", environ)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _headers(self, stream: bool) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream" if stream else "application/json",
            "User-Agent": f"taxmeter/{__version__}",
        }
        headers.update(self.config.headers)
        if self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key.value()}"
        return headers

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("endpoint is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.config.max_connections, limit_per_host=self.config.max_connections
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.config.connect_timeout_s
                ),
                # The arm's own headers only: no cookies, no environment proxies or netrc.
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._session

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def complete(self, request: MirrorRequest) -> ArmResult:
        data, stream = build_body(self.config, request)
        model = request_model(self.config, request)
        answer = _Answer()
        start = time.perf_counter()
        outcome = ArmOutcome.OK
        reason: str | None = None
        detail: str | None = None
        try:
            async with asyncio.timeout(self.config.timeout_s):
                await self._call(data, stream, answer, start)
        except _Failure as failure:
            outcome, reason, detail = failure.outcome, failure.reason, failure.detail
        except aiohttp.ConnectionTimeoutError:
            outcome, reason = ArmOutcome.TIMEOUT, "connect_timeout"
        except TimeoutError:
            outcome, reason = ArmOutcome.TIMEOUT, "timeout"
        except aiohttp.ClientPayloadError:
            outcome = ArmOutcome.ERROR
            reason = "truncated_stream" if stream else "truncated_response"
            detail = "connection_lost"
        except (aiohttp.ClientError, OSError):
            outcome, reason = ArmOutcome.ERROR, "connect"
        latency = time.perf_counter() - start

        if outcome is ArmOutcome.OK:
            if answer.finish_reason == "content_filter":
                outcome = ArmOutcome.GUARD_BLOCK
            elif not answer.text():
                outcome, reason = ArmOutcome.ERROR, answer.empty_reason(stream)
        answered = outcome.answered
        if not answered:
            log.info(
                "shadow_call_failed",
                arm=self.arm.value,
                route=request.route,
                outcome=outcome.value,
                reason=reason,
                detail=detail,
                status=answer.status_code,
                stream=stream,
                finish_reason=answer.finish_reason,
            )
        return ArmResult(
            arm=self.arm,
            outcome=outcome,
            text=answer.text() if answered else "",
            finish_reason=answer.finish_reason,
            latency_s=latency,
            ttft_s=answer.ttft_s if answered else None,
            prompt_tokens=answer.prompt_tokens,
            completion_tokens=answer.completion_tokens,
            status_code=answer.status_code,
            error_reason=None if answered else reason,
            model=model,
            tokens_source="server" if answer.completion_tokens is not None else None,
        )

    async def _call(self, data: bytes, stream: bool, answer: _Answer, start: float) -> None:
        session = self._get_session()
        async with session.post(
            self.config.chat_url, data=data, headers=self._headers(stream)
        ) as resp:
            answer.status_code = resp.status
            if resp.status >= 400:
                payload = await self._read_json_or_none(resp)
                if resp.status == 400 and is_content_filter_error(payload):
                    answer.finish_reason = "content_filter"
                    raise _Failure(ArmOutcome.GUARD_BLOCK, None)
                raise _Failure(ArmOutcome.ERROR, "http_5xx" if resp.status >= 500 else "http_4xx")
            content_type = resp.headers.get("Content-Type", "")
            if stream and "text/event-stream" in content_type:
                await self._read_stream(resp, answer, start)
            else:
                self._parse_completion(await self._read_json(resp), answer)

    async def _read_bounded(self, resp: aiohttp.ClientResponse) -> bytes:
        limit = self.config.max_response_bytes
        if resp.content_length is not None and resp.content_length > limit:
            raise _Failure(ArmOutcome.ERROR, "response_too_large")
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise _Failure(ArmOutcome.ERROR, "response_too_large")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _read_json(self, resp: aiohttp.ClientResponse) -> Any:
        raw = await self._read_bounded(resp)
        try:
            return json.loads(raw)
        except ValueError:
            raise _Failure(ArmOutcome.ERROR, "malformed_json") from None

    async def _read_json_or_none(self, resp: aiohttp.ClientResponse) -> Any:
        try:
            return await self._read_json(resp)
        except _Failure:
            return None

    @staticmethod
    def _parse_completion(payload: Any, answer: _Answer) -> None:
        if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
            raise _Failure(ArmOutcome.ERROR, "malformed_json")
        answer.usage(payload.get("usage"))
        choices = payload["choices"]
        if not choices or not isinstance(choices[0], dict):
            raise _Failure(ArmOutcome.ERROR, "empty_no_choices")
        choice = choices[0]
        finish = choice.get("finish_reason")
        answer.finish_reason = finish if isinstance(finish, str) else None
        if answer.finish_reason in CUT_FINISH_REASONS:
            raise _Failure(
                ArmOutcome.ERROR, "truncated_response", f"finish_reason_{answer.finish_reason}"
            )
        message = choice.get("message")
        answer.saw_choice(choice, message)
        if not isinstance(message, dict):
            if answer.finish_reason == "content_filter":
                return
            raise _Failure(ArmOutcome.ERROR, "malformed_json")
        text = content_text(message.get("content"))
        refusal = message.get("refusal")
        if not text and isinstance(refusal, str):
            text = refusal
        answer.text_parts.append(text)
        answer.tool_call_delta(message.get("tool_calls"))

    async def _read_stream(
        self, resp: aiohttp.ClientResponse, answer: _Answer, start: float
    ) -> None:
        limit = self.config.max_response_bytes
        size = 0
        buffer = b""
        data_lines: list[bytes] = []
        done = False
        # Read to the end of the body even after [DONE] (or a filter event): a response left
        # unread closes its connection instead of returning it to the pool, and the server (or a
        # gateway in between) sees a client that went away mid-response.
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise _Failure(ArmOutcome.ERROR, "response_too_large")
            if done:
                continue
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                line = line.rstrip(b"\r")
                if line.startswith(b"data:"):
                    data_lines.append(line[5:].lstrip(b" "))
                elif not line and data_lines:
                    done = self._stream_event(b"\n".join(data_lines), answer, start)
                    data_lines = []
                    if done:
                        break
        if data_lines and not done:  # last event without its blank line
            done = self._stream_event(b"\n".join(data_lines), answer, start)
        finish = answer.finish_reason
        if finish is None:
            cause = "done_without_finish_reason" if done else "eof_without_done"
            raise _Failure(ArmOutcome.ERROR, "truncated_stream", cause)
        if finish in CUT_FINISH_REASONS:
            raise _Failure(ArmOutcome.ERROR, "truncated_stream", f"finish_reason_{finish}")

    @staticmethod
    def _stream_event(data: bytes, answer: _Answer, start: float) -> bool:
        """Apply one SSE event; True on ``[DONE]``."""
        if data.strip() == b"[DONE]":
            return True
        try:
            event = json.loads(data)
        except ValueError:
            raise _Failure(ArmOutcome.ERROR, "malformed_json") from None
        if not isinstance(event, dict):
            raise _Failure(ArmOutcome.ERROR, "malformed_json")
        if "error" in event:
            if is_content_filter_error(event):
                answer.finish_reason = "content_filter"
                return True
            raise _Failure(ArmOutcome.ERROR, "stream_error")
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


def build_endpoints(
    config: ShadowConfig, environ: Mapping[str, str] | None = None
) -> tuple[OpenAIEndpoint, OpenAIEndpoint]:
    """Both arms' clients (guarded, unguarded); reads their keys now (``ConfigError`` if absent)."""
    return (
        OpenAIEndpoint(Arm.GUARDED, config.guarded, environ=environ),
        OpenAIEndpoint(Arm.UNGUARDED, config.unguarded, environ=environ),
    )
