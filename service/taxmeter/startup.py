"""What ``serve`` checks before it serves; ``check-config`` runs exactly the same code.

    load_config            the file: readable, YAML, every field valid (names the field)
    check_repository       the judge repository folder exists (``onnxruntime`` backend)
    App(config, env)       the composition root itself: judges loadable (manifests, model and
                           tokenizer files, backend blocks such as ``kserve:``, TLS and token
                           files), the heads the statistics read, the endpoints' keys
    check_ports            every listening port free (and no two the same)

``serve`` calls :func:`check_repository`, builds the ``App`` and calls :func:`check_ports`
before it starts anything; :func:`check_startup` (``check-config``) does the same and then
releases what it built without serving. ``check-config --probe`` goes one step further
(:func:`probe`): it asks both endpoints for ``GET {base_url}/models`` and loads and warms the
judges on their backend, and reports what answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from taxmeter.config import Config
from taxmeter.errors import ConfigError

if TYPE_CHECKING:
    from taxmeter.app import App

__all__ = [
    "ProbeResult",
    "StartupSummary",
    "check_ports",
    "check_repository",
    "check_startup",
    "listening_ports",
    "probe",
]


def check_repository(config: Config) -> None:
    """The ``onnxruntime`` backend's repository folder exists (serve never builds models)."""
    repo = Path(config.judges.repository)
    if config.judges.backend == "onnxruntime" and not repo.is_dir():
        raise ConfigError(
            "judges.repository",
            f"judge repository {repo} does not exist (build it with `taxmeter judges build "
            "DIR` or mount it; serve never builds models)",
        )


def listening_ports(config: Config) -> list[tuple[str, str, int]]:
    """``(field, host, port)`` of every socket ``serve`` listens on; port 0 is ephemeral."""
    ports = [("ingress.grpc_port", config.ingress.host, config.ingress.grpc_port)]
    if config.ingress.http_enabled:
        ports.append(("ingress.http_port", config.ingress.host, config.ingress.http_port))
    ports.append(
        ("telemetry.metrics_port", config.telemetry.metrics_host, config.telemetry.metrics_port)
    )
    return ports


def check_ports(config: Config) -> None:
    """Every listening port can be bound now (all at once, so two fields naming the same port
    are caught too). ``SO_REUSEADDR`` as the servers set it: a port in TIME_WAIT is free."""
    held: list[socket.socket] = []
    try:
        for field, host, port in listening_ports(config):
            if port == 0:
                continue
            try:
                infos = socket.getaddrinfo(
                    host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
                )
            except socket.gaierror as exc:
                raise ConfigError(field, f"cannot resolve host {host!r}: {exc}") from None
            family, kind, proto, _name, addr = infos[0]
            sock = socket.socket(family, kind, proto)
            held.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(addr)
                sock.listen(1)
            except OSError as exc:
                raise ConfigError(
                    field,
                    f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                    "(another process, or another field of this file, uses it)",
                ) from None
    finally:
        for sock in held:
            sock.close()


@dataclass(frozen=True, slots=True)
class StartupSummary:
    """What ``check_startup`` found loadable, for the OK line."""

    judges: tuple[str, ...]
    heads: tuple[str, ...]
    ports: tuple[int, ...]


async def build_checked_app(
    config: Config, env: Mapping[str, str], *, serve_metrics: bool = False
) -> App:
    """The startup sequence up to (not including) ``App.start``: what ``serve`` runs (with
    ``serve_metrics``) and ``check-config`` runs (without)."""
    from taxmeter.app import App

    check_repository(config)
    app = App(config, env=env, serve_metrics=serve_metrics)
    try:
        check_ports(config)
    except BaseException:
        await app.discard()
        raise
    return app


async def check_startup(config: Config, env: Mapping[str, str]) -> StartupSummary:
    """Everything ``serve`` checks before serving; raises the error ``serve`` would stop
    with (``ConfigError`` naming the field, ``JudgeLoadError``)."""
    app = await build_checked_app(config, env)
    try:
        return StartupSummary(
            judges=tuple(app.engine.judge_names),
            heads=tuple(h.key for h in app.engine.heads),
            ports=tuple(p for _f, _h, p in listening_ports(config)),
        )
    finally:
        await app.discard()


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One thing ``--probe`` reached (or did not)."""

    what: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"  {'ok  ' if self.ok else 'FAIL'} {self.what}: {self.detail}"


async def _probe_endpoint(
    config: Config, arm: str, env: Mapping[str, str], timeout_s: float
) -> ProbeResult:
    import aiohttp

    from taxmeter import __version__
    from taxmeter.shadow.endpoint import read_api_key

    endpoint = config.shadow.guarded if arm == "guarded" else config.shadow.unguarded
    url = str(endpoint.base_url).rstrip("/") + "/models"
    headers = {
        "Accept": "application/json",
        "User-Agent": f"taxmeter/{__version__}",
        **endpoint.headers,
    }
    key = read_api_key(endpoint, f"shadow.{arm}", env)
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    what = f"shadow.{arm} GET {url}"
    t0 = time.perf_counter()
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            ) as session,
            session.get(url, headers=headers) as resp,
        ):
            body = await resp.read()
            ms = (time.perf_counter() - t0) * 1000
            detail = f"HTTP {resp.status} in {ms:.0f} ms"
            models = _model_ids(body)
            if models:
                detail += f" (models: {', '.join(models[:5])})"
            if resp.status in (401, 403):
                detail += " (the key was refused)"
            return ProbeResult(what, 200 <= resp.status < 300, detail)
    except TimeoutError:
        return ProbeResult(what, False, f"no answer within {timeout_s:g} s")
    except aiohttp.ClientError as exc:
        return ProbeResult(what, False, f"did not answer ({type(exc).__name__}: {exc})")


def _model_ids(body: bytes) -> list[str]:
    import json

    try:
        doc = json.loads(body)
    except ValueError:
        return []
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list):
        return []
    return [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]


async def _probe_judges(
    config: Config, env: Mapping[str, str], timeout_s: float
) -> list[ProbeResult]:
    app = await build_checked_app(config, env)
    t0 = time.perf_counter()
    where = (
        f"kserve {config.judges.kserve.target}"
        if config.judges.backend == "kserve" and config.judges.kserve is not None
        else str(config.judges.repository)
    )
    try:
        try:
            await app.engine.wait_ready(timeout_s)
        except TimeoutError:
            reason = app.engine.not_ready_reason or "warming_up"
            return [
                ProbeResult(
                    f"judges ({where})", False, f"not ready within {timeout_s:g} s ({reason})"
                )
            ]
        except Exception as exc:  # the load error serve would shed on, reported
            return [ProbeResult(f"judges ({where})", False, f"{type(exc).__name__}: {exc}")]
        s = time.perf_counter() - t0
        return [
            ProbeResult(
                f"judge {name} ({where})",
                True,
                f"loaded and warmed on {app.engine.provider(name)} in {s:.1f} s",
            )
            for name in app.engine.judge_names
        ]
    finally:
        await app.discard()


async def probe(config: Config, env: Mapping[str, str], timeout_s: float) -> list[ProbeResult]:
    """Reach both endpoints and the judge backend; what answered, and how."""
    endpoints = asyncio.gather(
        _probe_endpoint(config, "guarded", env, timeout_s),
        _probe_endpoint(config, "unguarded", env, timeout_s),
    )
    judges = _probe_judges(config, env, timeout_s)
    ep, js = await asyncio.gather(endpoints, judges)
    return [*ep, *js]


async def serve(config: Config) -> int:
    """Run the sidecar until SIGTERM/SIGINT; drain; return the exit code. The startup checks
    are this module's, the ones ``check-config`` runs."""
    from taxmeter.app import handle_signals

    app = await build_checked_app(config, os.environ, serve_metrics=True)
    try:
        await app.start()
    except BaseException:
        # e.g. a port already in use: release what did start, then report the cause.
        with contextlib.suppress(Exception):
            await app.stop()
        raise
    with handle_signals(app):
        await app.wait_for_shutdown()
    await app.stop()
    return 0
