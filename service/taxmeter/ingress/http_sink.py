"""The HTTP mirror sink: where Envoy ``request_mirror_policies`` or an Istio ``mirror`` route
sends a copy of each chat-completions request.

``POST /v1/chat/completions`` and ``POST {prefix}{route}/v1/chat/completions`` take an OpenAI
chat-completions body and answer **202** at once with a small JSON ack; invalid input gets 400
(413 when over ``max_body_bytes``) with ``{"error": {"message", "field"}}``, counted as
rejected. The mirror's response is discarded by the mesh; the app's headers are never kept
(credential headers are dropped before anything is read, and no header is forwarded to an arm).
Envoy appends ``-shadow`` to the Host/authority of a mirrored request; the sink ignores Host.

``GET /healthz``: the process is up. ``GET /readyz``: the sink is up, not draining, and the
app's readiness callback agrees (judges warming up do not gate it).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from typing import Final

import aiohttp
import structlog
from aiohttp import web

from taxmeter.errors import InvalidRequestError, RequestTooLargeError
from taxmeter.ingress.auth import UNAUTHENTICATED, BearerAuth
from taxmeter.ingress.codec import MirrorCodec, Rejection
from taxmeter.ingress.config import IngressConfig
from taxmeter.ingress.labels import RouteNormalizer
from taxmeter.ingress.tls import ServerTls
from taxmeter.types import MirrorIntake, Transport

CHAT_PATH: Final = "/v1/chat/completions"

_log = structlog.get_logger("taxmeter.ingress")
_JSON: Final = "application/json"


class HttpSink:
    """Receives mirrored chat-completions requests over HTTP; one intake call per request."""

    def __init__(
        self,
        config: IngressConfig,
        intake: MirrorIntake,
        normalizer: RouteNormalizer,
        *,
        readiness: Callable[[], bool] = lambda: True,
        tls: ServerTls | None = None,
        auth: BearerAuth | None = None,
    ) -> None:
        self._config = config
        self._tls = tls
        self._auth = auth
        self._intake = intake
        self._codec = MirrorCodec(config, normalizer)
        self._readiness = readiness
        self._runner: web.AppRunner | None = None
        self._draining = False
        self._port: int | None = None

    @property
    def port(self) -> int | None:
        return self._port

    def make_app(self) -> web.Application:
        cfg = self._config
        app = web.Application(client_max_size=cfg.max_body_bytes)
        app.router.add_post(CHAT_PATH, self._mirror)
        if cfg.http_route_path_prefix:
            app.router.add_post(f"{cfg.http_route_path_prefix}{{route}}{CHAT_PATH}", self._mirror)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        return app

    async def start(self) -> int:
        """Binds and serves; returns the bound port."""
        if self._runner is not None:
            raise RuntimeError("HttpSink already started")
        cfg = self._config
        runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await runner.setup()
        host = cfg.http_host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, cfg.http_port))
            except OSError as exc:
                raise OSError(
                    exc.errno,
                    f"cannot bind the HTTP sink on {host}:{cfg.http_port} "
                    f"(ingress.http_port: {exc.strerror or exc})",
                ) from exc
            sock.listen(1024)
            sock.setblocking(False)
            ssl_context = self._tls.ssl_context() if self._tls is not None else None
            site = web.SockSite(runner, sock, ssl_context=ssl_context)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner, self._draining = runner, False
        self._port = int(sock.getsockname()[1])
        _log.info(
            "http_sink_started",
            host=host,
            port=self._port,
            tls=self._tls is not None,
            mtls=self._tls is not None and self._tls.mutual,
            token=self._auth is not None,
        )
        return self._port

    def set_draining(self) -> None:
        """``/readyz`` answers 503 from now on; requests are still accepted until stop()."""
        self._draining = True

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._draining = True
        await self._runner.cleanup()
        self._runner = None
        _log.info("http_sink_stopped")

    # -- handlers --------------------------------------------------------------------------

    async def _mirror(self, request: web.Request) -> web.Response:
        cfg = self._config
        if self._auth is not None and not self._auth.check(
            Transport.HTTP, request.headers.get("authorization")
        ):
            # Before the body is read; no detail (which part was wrong) is given.
            return web.Response(
                status=401,
                content_type=_JSON,
                headers={"www-authenticate": "Bearer"},
                text=json.dumps({"error": {"message": UNAUTHENTICATED}}),
            )
        length = request.content_length
        try:
            if length is not None and length > cfg.max_body_bytes:
                raise RequestTooLargeError(
                    "body", f"{length} bytes, over the limit of {cfg.max_body_bytes}"
                )
            async with asyncio.timeout(cfg.http_body_timeout_s):
                body = await request.read()
        except TimeoutError:
            return self._reject_early(
                request,
                BodyTimeoutError(
                    "body",
                    f"not received within {cfg.http_body_timeout_s:g} s (http_body_timeout_s)",
                ),
            )
        except web.HTTPRequestEntityTooLarge:
            return self._reject_early(
                request,
                RequestTooLargeError("body", f"over the limit of {cfg.max_body_bytes} bytes"),
            )
        except RequestTooLargeError as exc:
            return self._reject_early(request, exc)
        except web.RequestPayloadError:
            # A Content-Encoding (gzip, deflate, br) whose bytes do not decode: found by fuzzing
            # (it was an uncounted 500).
            return self._reject_early(
                request, InvalidRequestError("body", "cannot decode the Content-Encoding")
            )
        except (aiohttp.ClientPayloadError, ConnectionError, asyncio.IncompleteReadError):
            # The sender went away mid-body: still one received request, counted as rejected.
            return self._reject_early(
                request, InvalidRequestError("body", "connection closed before the body ended")
            )
        decoded = self._codec.decode_http(body, request.headers, request.path)
        if isinstance(decoded, Rejection):
            self._intake.reject(Transport.HTTP, decoded.route, decoded.error)
            return _error_response(decoded.error)
        admission = self._intake.submit(decoded)
        return web.Response(
            status=202,
            content_type=_JSON,
            text=json.dumps(
                {
                    "request_id": admission.request_id,
                    "sampled": admission.sampled,
                    "decision": admission.outcome.value,
                    "reason": admission.reason,
                }
            ),
        )

    def _reject_early(self, request: web.Request, error: InvalidRequestError) -> web.Response:
        """A body refused before decoding: counted under the route the path or header names."""
        route = self._codec.http_route(self._codec.safe_headers(request.headers), request.path)
        self._intake.reject(Transport.HTTP, route, error)
        return _error_response(error)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(status=200, content_type=_JSON, text='{"status":"ok"}')

    async def _readyz(self, request: web.Request) -> web.Response:
        if self._runner is not None and not self._draining and self._readiness():
            return web.Response(status=200, content_type=_JSON, text='{"status":"ready"}')
        return web.Response(status=503, content_type=_JSON, text='{"status":"not ready"}')


class BodyTimeoutError(InvalidRequestError):
    """The sender did not finish its body within ``http_body_timeout_s``."""


def _error_response(error: InvalidRequestError) -> web.Response:
    if isinstance(error, BodyTimeoutError):
        status = 408
    elif isinstance(error, RequestTooLargeError) and error.field == "body":
        status = 413
    else:
        status = 400
    return web.Response(
        status=status,
        content_type=_JSON,
        text=json.dumps({"error": {"message": str(error), "field": error.field}}),
    )
