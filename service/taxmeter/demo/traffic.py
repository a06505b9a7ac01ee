"""The demo's traffic generator: Mirror requests over gRPC on an open-loop schedule.

Request ``i`` is sent at ``start + i / rate_per_s`` whether or not earlier ones were answered
(open loop), on a route drawn by weight, with a prompt from the route's pool (harmful with
probability ``harmful_share``) and ``stream: true`` for a ``stream_share`` of them. The body
carries ``metadata.route`` and ``metadata.nonce`` so that the simulated endpoints can decide
deterministically. Everything is drawn from ``random.Random(seed)``: same seed, same traffic.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import grpc
import structlog

from taxmeter.demo.config import DemoConfig, DemoRouteConfig
from taxmeter.demo.prompts import TOPICS, pool
from taxmeter.proto.taxmeter.v1 import mirror_pb2, mirror_pb2_grpc

log = structlog.get_logger("taxmeter.demo")

SYSTEM_PROMPT = "You are a helpful assistant for the Acme app. Answer briefly."


@dataclass(slots=True)
class TrafficStats:
    sent: int = 0
    acked: int = 0
    sampled: int = 0
    errors: int = 0
    overrun: int = 0  # scheduled sends skipped because too many were still in flight
    by_route: Counter[str] = field(default_factory=Counter)
    error_codes: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    index: int
    route: DemoRouteConfig
    prompt: str
    harmful: bool
    stream: bool

    def body(self, seed: int) -> dict[str, object]:
        return {
            "model": "demo-model",
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": self.prompt},
            ],
            "temperature": 0.7,
            "max_completion_tokens": 256,
            "stream": self.stream,
            "metadata": {"route": self.route.name, "nonce": f"{seed}-{self.index}"},
        }


class TrafficPlan:
    """The deterministic sequence of requests for a config (shared by tests and the sender)."""

    def __init__(self, config: DemoConfig) -> None:
        self._config = config
        self._rng = random.Random(config.seed)
        self._weights = [r.weight for r in config.routes]
        self._index = 0

    def next(self) -> PlannedRequest:
        rng = self._rng
        route = rng.choices(self._config.routes, self._weights)[0]
        harmful = rng.random() < route.harmful_share
        topic = route.topic or (route.name if route.name in TOPICS else None)
        prompt = rng.choice(pool(topic, harmful=harmful))
        stream = rng.random() < self._config.stream_share
        planned = PlannedRequest(self._index, route, prompt.text, harmful, stream)
        self._index += 1
        return planned


class TrafficGenerator:
    """Sends ``Mirror`` requests to ``target`` (``host:port``) at ``config.rate_per_s``."""

    def __init__(self, target: str, config: DemoConfig, *, max_in_flight: int = 256) -> None:
        self._target = target
        self._config = config
        self._plan = TrafficPlan(config)
        self._max_in_flight = max_in_flight
        self._stats = TrafficStats()
        self._channel: grpc.aio.Channel | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def stats(self) -> TrafficStats:
        return self._stats

    async def run(self, duration_s: float | None = None, *, count: int | None = None) -> None:
        """Send until ``duration_s`` has passed or ``count`` were sent (forever if neither)."""
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self._target)
        stub = mirror_pb2_grpc.MirrorServiceStub(self._channel)  # type: ignore[no-untyped-call]
        interval = 1.0 / self._config.rate_per_s
        start = time.monotonic()
        i = 0
        try:
            while (count is None or i < count) and (
                duration_s is None or i * interval < duration_s
            ):
                delay = start + i * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                planned = self._plan.next()
                i += 1
                if len(self._tasks) >= self._max_in_flight:
                    self._stats.overrun += 1
                    continue
                task = asyncio.create_task(self._send(stub, planned))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            for task in self._tasks:
                task.cancel()

    async def _send(self, stub: mirror_pb2_grpc.MirrorServiceStub, planned: PlannedRequest) -> None:
        route = planned.route
        request = mirror_pb2.MirrorRequest(
            request_id=f"demo-{self._config.seed}-{planned.index}".encode(),
            route=route.name.encode(),
            category=(route.category or "").encode(),
            body=json.dumps(planned.body(self._config.seed)).encode(),
        )
        self._stats.sent += 1
        self._stats.by_route[route.name] += 1
        try:
            ack = await stub.Mirror(request, timeout=5.0)
        except grpc.aio.AioRpcError as exc:
            self._stats.errors += 1
            self._stats.error_codes[exc.code().name] += 1
            return
        self._stats.acked += 1
        if ack.sampled:
            self._stats.sampled += 1

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
