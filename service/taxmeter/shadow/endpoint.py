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
otherwise re-serialized from a copy with the arm's model/overrides/strip/stream settings
(``shadow/body.py``). The answer is read by ``shadow/answer.py`` (JSON body or SSE events,
the failure reasons); this module holds the HTTP side: pool, headers, bounds, timeouts.
The names of both are re-exported here. No header of the application is ever forwarded
(ingress stripped them); the arm sends its own ``headers`` and, when configured,
``Authorization: Bearer <key>``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp
import structlog

from taxmeter import __version__
from taxmeter.credentials import Secret, SecretSource, load_secret, read_secret
from taxmeter.shadow.answer import (
    CUT_FINISH_REASONS,
    EMPTY_REASONS,
    ERROR_REASONS,
    Answer,
    CallFailure,
    is_content_filter_error,
    parse_completion,
    stream_event,
)
from taxmeter.shadow.body import build_body, request_model
from taxmeter.shadow.config import EndpointConfig, ShadowConfig
from taxmeter.types import Arm, ArmOutcome, ArmResult, MirrorRequest

__all__ = [
    "CUT_FINISH_REASONS",
    "EMPTY_REASONS",
    "ERROR_REASONS",
    "ModelEndpoint",
    "OpenAIEndpoint",
    "build_body",
    "build_endpoints",
    "is_content_filter_error",
    "load_api_key",
    "read_api_key",
    "request_model",
]

log = structlog.get_logger("taxmeter.shadow")


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
        answer = Answer()
        start = time.perf_counter()
        outcome = ArmOutcome.OK
        reason: str | None = None
        detail: str | None = None
        try:
            async with asyncio.timeout(self.config.timeout_s):
                await self._call(data, stream, answer, start)
        except CallFailure as failure:
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

    async def _call(self, data: bytes, stream: bool, answer: Answer, start: float) -> None:
        session = self._get_session()
        async with session.post(
            self.config.chat_url, data=data, headers=self._headers(stream)
        ) as resp:
            answer.status_code = resp.status
            if resp.status >= 400:
                payload = await self._read_json_or_none(resp)
                if resp.status == 400 and is_content_filter_error(payload):
                    answer.finish_reason = "content_filter"
                    raise CallFailure(ArmOutcome.GUARD_BLOCK, None)
                status_class = "http_5xx" if resp.status >= 500 else "http_4xx"
                raise CallFailure(ArmOutcome.ERROR, status_class)
            content_type = resp.headers.get("Content-Type", "")
            if stream and "text/event-stream" in content_type:
                await self._read_stream(resp, answer, start)
            else:
                parse_completion(await self._read_json(resp), answer)

    async def _read_bounded(self, resp: aiohttp.ClientResponse) -> bytes:
        limit = self.config.max_response_bytes
        if resp.content_length is not None and resp.content_length > limit:
            raise CallFailure(ArmOutcome.ERROR, "response_too_large")
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise CallFailure(ArmOutcome.ERROR, "response_too_large")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _read_json(self, resp: aiohttp.ClientResponse) -> Any:
        raw = await self._read_bounded(resp)
        try:
            return json.loads(raw)
        except ValueError:
            raise CallFailure(ArmOutcome.ERROR, "malformed_json") from None

    async def _read_json_or_none(self, resp: aiohttp.ClientResponse) -> Any:
        try:
            return await self._read_json(resp)
        except CallFailure:
            return None

    async def _read_stream(
        self, resp: aiohttp.ClientResponse, answer: Answer, start: float
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
                raise CallFailure(ArmOutcome.ERROR, "response_too_large")
            if done:
                continue
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                line = line.rstrip(b"\r")
                if line.startswith(b"data:"):
                    data_lines.append(line[5:].lstrip(b" "))
                elif not line and data_lines:
                    done = stream_event(b"\n".join(data_lines), answer, start)
                    data_lines = []
                    if done:
                        break
        if data_lines and not done:  # last event without its blank line
            done = stream_event(b"\n".join(data_lines), answer, start)
        finish = answer.finish_reason
        if finish is None:
            cause = "done_without_finish_reason" if done else "eof_without_done"
            raise CallFailure(ArmOutcome.ERROR, "truncated_stream", cause)
        if finish in CUT_FINISH_REASONS:
            raise CallFailure(ArmOutcome.ERROR, "truncated_stream", f"finish_reason_{finish}")


def build_endpoints(
    config: ShadowConfig, environ: Mapping[str, str] | None = None
) -> tuple[OpenAIEndpoint, OpenAIEndpoint]:
    """Both arms' clients (guarded, unguarded); reads their keys now (``ConfigError`` if absent)."""
    return (
        OpenAIEndpoint(Arm.GUARDED, config.guarded, environ=environ),
        OpenAIEndpoint(Arm.UNGUARDED, config.unguarded, environ=environ),
    )
