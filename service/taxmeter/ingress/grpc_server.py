"""The gRPC edge: ``taxmeter.v1.MirrorService`` on grpc.aio, with health and reflection.

The Mirror methods are registered through a generic handler that receives **raw bytes**
(no request deserializer): protobuf decoding happens in :class:`MirrorCodec`, so a message that
does not parse, or carries invalid UTF-8, is a counted ``INVALID_ARGUMENT`` naming the field
rather than an ``UNKNOWN`` that grpc.aio would answer before any handler runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Final

import grpc
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from taxmeter.errors import RequestTooLargeError
from taxmeter.ingress.auth import UNAUTHENTICATED, BearerAuth
from taxmeter.ingress.codec import MirrorCodec, Rejection
from taxmeter.ingress.config import IngressConfig
from taxmeter.ingress.labels import RouteNormalizer
from taxmeter.ingress.tls import ServerTls
from taxmeter.types import MirrorIntake, MirrorOutcome, MirrorRequest, Transport

SERVICE_NAME: Final = "taxmeter.v1.MirrorService"
MIRROR_METHOD: Final = f"/{SERVICE_NAME}/Mirror"
MIRROR_STREAM_METHOD: Final = f"/{SERVICE_NAME}/MirrorStream"

_log = structlog.get_logger("taxmeter.ingress")
_DROPPED: Final = frozenset({MirrorOutcome.DROPPED_QUEUE_FULL, MirrorOutcome.DROPPED_BUDGET})


class GrpcIngress:
    """Receives mirrors over gRPC and hands each to the intake exactly once."""

    def __init__(
        self,
        config: IngressConfig,
        intake: MirrorIntake,
        normalizer: RouteNormalizer,
        *,
        tls: ServerTls | None = None,
        auth: BearerAuth | None = None,
    ) -> None:
        self._config = config
        self._intake = intake
        self._tls = tls
        self._auth = auth
        self._codec = MirrorCodec(config, normalizer)
        self._health = HealthServicer()
        self._server: grpc.aio.Server | None = None
        self._port: int | None = None
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int | None:
        return self._port

    async def start(self) -> int:
        """Binds, starts serving and reports SERVING; returns the bound port."""
        if self._server is not None:
            raise RuntimeError("GrpcIngress already started")
        cfg = self._config
        # Leave room over max_body_bytes for the envelope and a production answer, so that an
        # oversized body reaches the codec and is counted, not refused by the transport.
        max_message = 2 * cfg.max_body_bytes + 64 * 1024
        server = grpc.aio.server(
            maximum_concurrent_rpcs=cfg.max_concurrent_rpcs,
            options=[
                ("grpc.max_receive_message_length", max_message),
                ("grpc.so_reuseport", 0),
            ],
        )
        server.add_generic_rpc_handlers((self._handler(),))
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            (
                SERVICE_NAME,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
        )
        try:
            address = f"{cfg.host}:{cfg.grpc_port}"
            port = (
                server.add_secure_port(address, self._tls.grpc_credentials())
                if self._tls is not None
                else server.add_insecure_port(address)
            )
        except RuntimeError as exc:  # grpc reports a failed bind as a RuntimeError
            raise OSError(
                f"cannot bind the gRPC ingress on {cfg.host}:{cfg.grpc_port} "
                "(ingress.grpc_port: address in use or not permitted)"
            ) from exc
        if port == 0:
            raise OSError(f"cannot bind gRPC ingress on {cfg.host}:{cfg.grpc_port}")
        await server.start()
        self._server, self._port = server, port
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        _log.info(
            "grpc_ingress_started",
            host=cfg.host,
            port=port,
            tls=self._tls is not None,
            mtls=self._tls is not None and self._tls.mutual,
            token=self._auth is not None,
        )
        return int(port)

    def set_serving(self, serving: bool) -> asyncio.Task[None]:
        """Sets the health status of the server and of ``taxmeter.v1.MirrorService``.

        Callable from sync code on the event loop; await the returned task to know it is done.
        """
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        task = asyncio.get_running_loop().create_task(self._set_health(status))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def _set_health(self, status: int) -> None:
        for service in ("", SERVICE_NAME):
            await self._health.set(service, status)

    async def stop(self, grace_s: float) -> None:
        """NOT_SERVING, then stop accepting; in-flight RPCs get ``grace_s`` to finish."""
        if self._server is None:
            return
        if self._pending:
            await asyncio.gather(*self._pending)
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace_s)
        self._server = None
        _log.info("grpc_ingress_stopped")

    # -- handlers --------------------------------------------------------------------------

    def _handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE_NAME,
            {
                "Mirror": grpc.unary_unary_rpc_method_handler(self._mirror),
                "MirrorStream": grpc.stream_unary_rpc_method_handler(self._mirror_stream),
            },
        )

    async def _authenticate(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if self._auth is None:
            return
        token = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization" and isinstance(value, str):
                token = value
                break
        if not self._auth.check(Transport.GRPC, token):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED)

    async def _mirror(self, raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        await self._authenticate(context)
        decoded = self._codec.decode_grpc(raw)
        if isinstance(decoded, Rejection):
            self._intake.reject(Transport.GRPC, decoded.route, decoded.error)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(decoded.error))
            raise AssertionError("unreachable: context.abort raises")  # pragma: no cover
        return self._codec.encode_ack(self._intake.submit(decoded))

    async def _mirror_stream(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> bytes:
        await self._authenticate(context)
        cfg = self._config
        received = sampled = not_sampled = dropped = rejected = 0
        errors: list[str] = []
        async for raw in requests:
            received += 1
            decoded = (
                self._codec.decode_grpc(raw)
                if received <= cfg.max_stream_items
                else Rejection(
                    self._codec.decode_route_only(raw),
                    RequestTooLargeError(
                        "stream", f"more than {cfg.max_stream_items} items on one stream"
                    ),
                )
            )
            if isinstance(decoded, MirrorRequest):
                outcome = self._intake.submit(decoded).outcome
                if outcome is MirrorOutcome.SAMPLED:
                    sampled += 1
                elif outcome in _DROPPED:
                    dropped += 1
                else:
                    not_sampled += 1
                continue
            self._intake.reject(Transport.GRPC, decoded.route, decoded.error)
            rejected += 1
            if len(errors) < cfg.max_stream_errors:
                errors.append(f"item {received - 1}: {decoded.error}")
        return self._codec.encode_summary(
            received=received,
            sampled=sampled,
            not_sampled=not_sampled,
            dropped=dropped,
            rejected=rejected,
            errors=errors,
        )
