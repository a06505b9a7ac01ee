"""Simulated OpenAI-compatible chat-completions endpoints for the demo (aiohttp server).

Two personas answer ``POST /v1/chat/completions``, streaming (SSE, ``data: [DONE]``, usage in a
last chunk when ``stream_options.include_usage``) or not:

- ``unguarded`` answers every prompt helpfully from the built-in set (a schematic
  "compliant" answer to harmful ones), in 40–120 ms.
- ``guarded`` refuses harmful prompts (a share as an HTTP 400 content-filter error, a share as
  ``finish_reason: content_filter``), refuses ``guarded_refusal_share`` of benign prompts in
  varied wording, answers ``guarded_quality_drop`` of them worse, adds
  ``guarded_added_latency_ms`` and sometimes streams slower.

The route comes from the body's ``metadata.route``. Every decision is a function of a hash of
(seed, prompt, ``metadata.nonce``): ``decide()`` gives the expected behaviour for a request,
so tests know what to expect.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from taxmeter.demo.config import DemoRouteConfig
from taxmeter.demo.prompts import (
    BENIGN_REFUSALS,
    BY_TEXT,
    GENERIC_ANSWER,
    HARMFUL_REFUSALS,
    poor_answer,
    refusal_text,
)
from taxmeter.shadow.prompt import content_text, judge_prompt

Persona = Literal["guarded", "unguarded"]
Kind = Literal["answer", "poor", "refusal", "filter_block", "filter_finish", "harmful_comply"]

_BLOCK_SHARE = 0.3  # of harmful prompts the guarded persona blocks with HTTP 400
_FILTER_FINISH_SHARE = 0.2  # ... or with finish_reason: content_filter
_SLOW_STREAM_SHARE = 0.25  # guarded streams at half speed this often


def unit(seed: int, *parts: str) -> float:
    """A uniform number in [0, 1) from a hash of the seed and ``parts``."""
    key = "\x1f".join((str(seed), *parts))
    h = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


@dataclass(frozen=True, slots=True)
class Decision:
    """What a persona does with one request."""

    kind: Kind
    text: str
    finish_reason: str
    latency_ms: float
    ttft_ms: float
    chunk_delay_ms: float

    @property
    def refusal(self) -> bool:
        return self.kind in ("refusal", "filter_block", "filter_finish")


def decide(
    persona: Persona,
    route: DemoRouteConfig | None,
    prompt: str,
    nonce: str,
    seed: int,
    *,
    latency_scale: float = 1.0,
) -> Decision:
    """The deterministic behaviour of ``persona`` for one request."""
    known = BY_TEXT.get(prompt)
    harmful = known is not None and known.harmful
    answer = known.answer if known is not None else GENERIC_ANSWER
    topic = known.topic if known is not None else None

    def u(purpose: str) -> float:
        return unit(seed, purpose, prompt, nonce)

    base_ms = 40 + 80 * u("latency")
    slow = False
    kind: Kind
    if persona == "unguarded":
        kind, text = ("harmful_comply" if harmful else "answer"), answer
    else:
        base_ms += route.guarded_added_latency_ms if route is not None else 0.0
        slow = u("slow") < _SLOW_STREAM_SHARE
        pick = int(u("wording") * 1_000_000)
        if harmful:
            r = u("block")
            if r < _BLOCK_SHARE:
                kind, text = "filter_block", ""
            elif r < _BLOCK_SHARE + _FILTER_FINISH_SHARE:
                kind, text = "filter_finish", ""
            else:
                style = HARMFUL_REFUSALS[pick % len(HARMFUL_REFUSALS)]
                kind, text = "refusal", refusal_text(style, prompt, topic)
        elif route is not None and u("refuse") < route.guarded_refusal_share:
            style = BENIGN_REFUSALS[pick % len(BENIGN_REFUSALS)]
            kind, text = "refusal", refusal_text(style, prompt, topic)
        elif route is not None and u("quality") < route.guarded_quality_drop:
            kind, text = "poor", poor_answer(answer, pick)
        else:
            kind, text = "answer", answer
    finish = "content_filter" if kind in ("filter_block", "filter_finish") else "stop"
    latency_ms = base_ms * latency_scale
    ttft_ms = latency_ms * 0.35
    chunks = max(1, len(_chunks(text)))
    chunk_delay_ms = (latency_ms - ttft_ms) / chunks * (2.0 if slow else 1.0)
    return Decision(kind, text, finish, latency_ms, ttft_ms, chunk_delay_ms)


def _chunks(text: str, words_per_chunk: int = 3) -> list[str]:
    words = text.split(" ")
    return [
        (" " if i else "") + " ".join(words[i : i + words_per_chunk])
        for i in range(0, len(words), words_per_chunk)
        if text
    ]


def _count_tokens(text: str) -> int:
    return max(1, round(len(text.split()) * 1.3)) if text else 0


class SimulatedEndpoint:
    """An in-process OpenAI-compatible server for one persona.

    ``await start()`` binds (port 0: an ephemeral port) and returns the base URL (ending in
    ``/v1``); ``await aclose()`` stops it. ``stats()`` counts requests by route and decision.
    """

    def __init__(
        self,
        persona: Persona,
        routes: Iterable[DemoRouteConfig] | Mapping[str, DemoRouteConfig],
        seed: int,
        *,
        latency_scale: float = 1.0,
        model: str | None = None,
    ) -> None:
        self.persona = persona
        values = routes.values() if isinstance(routes, Mapping) else routes
        self._routes = {r.name: r for r in values}
        self._seed = seed
        self._latency_scale = latency_scale
        self._model = model or f"demo-{persona}"
        self._runner: web.AppRunner | None = None
        self.requests_by_route: Counter[str] = Counter()
        self.decisions: Counter[str] = Counter()
        self.bodies: list[bytes] = []
        self.keep_bodies = False
        self.base_url = ""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_get("/v1/models", self._models)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_host, bound_port = self._runner.addresses[0][:2]
        self.base_url = f"http://{bound_host}:{bound_port}/v1"
        return self.base_url

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def stats(self) -> dict[str, Any]:
        return {
            "requests": sum(self.requests_by_route.values()),
            "by_route": dict(self.requests_by_route),
            "decisions": dict(self.decisions),
        }

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self._model}]})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "invalid_request_error", "body is not JSON")
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return _error(400, "invalid_request_error", "messages: required, a non-empty list")
        if self.keep_bodies:
            self.bodies.append(raw)
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        route_name = str(metadata.get("route", ""))
        nonce = str(metadata.get("nonce", ""))
        prompt = judge_prompt(body)
        decision = decide(
            self.persona,
            self._routes.get(route_name),
            prompt,
            nonce,
            self._seed,
            latency_scale=self._latency_scale,
        )
        self.requests_by_route[route_name or "-"] += 1
        self.decisions[decision.kind] += 1
        model = body.get("model") if isinstance(body.get("model"), str) else self._model
        prompt_tokens = sum(
            _count_tokens(content_text(m.get("content"))) for m in messages if isinstance(m, dict)
        )
        if decision.kind == "filter_block":
            await asyncio.sleep(decision.latency_ms * 0.5 / 1000)
            return web.json_response(
                {
                    "error": {
                        "message": "The request was blocked because it violates the content "
                        "policy of this deployment.",
                        "type": "invalid_request_error",
                        "param": "prompt",
                        "code": "content_filter",
                    }
                },
                status=400,
            )
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": _count_tokens(decision.text),
            "total_tokens": prompt_tokens + _count_tokens(decision.text),
        }
        ident = f"chatcmpl-{unit(self._seed, 'id', prompt, nonce):.12f}"[:28]
        if body.get("stream") is True:
            options = body.get("stream_options")
            with_usage = isinstance(options, dict) and options.get("include_usage") is True
            return await self._stream(
                request, decision, ident, model, usage if with_usage else None
            )
        await asyncio.sleep(decision.latency_ms / 1000)
        return web.json_response(
            {
                "id": ident,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": decision.text},
                        "finish_reason": decision.finish_reason,
                    }
                ],
                "usage": usage,
            }
        )

    async def _stream(
        self,
        request: web.Request,
        decision: Decision,
        ident: str,
        model: str,
        usage: dict[str, int] | None,
    ) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        created = int(time.time())

        def event(choices: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> bytes:
            chunk = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **(extra or {}),
            }
            return b"data: " + json.dumps(chunk).encode() + b"\n\n"

        await resp.write(event([{"index": 0, "delta": {"role": "assistant", "content": ""}}]))
        await asyncio.sleep(decision.ttft_ms / 1000)
        for i, piece in enumerate(_chunks(decision.text)):
            if i:
                await asyncio.sleep(decision.chunk_delay_ms / 1000)
            await resp.write(event([{"index": 0, "delta": {"content": piece}}]))
        await resp.write(
            event([{"index": 0, "delta": {}, "finish_reason": decision.finish_reason}])
        )
        if usage is not None:
            await resp.write(event([], {"usage": usage}))
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": None, "code": None}}, status=status
    )
