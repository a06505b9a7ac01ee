"""Real Prometheus and Alertmanager processes and a webhook receiver, on loopback ports."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from .tools import ALERTMANAGER_SHARE, require_tool


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http_ok(url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last_error = str(exc)
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout_s}s: {last_error}")


@contextmanager
def process(
    args: list[str], log_path: Path, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Runs ``args`` with output to ``log_path``; terminates it (then kills) on exit."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@dataclass
class Prometheus:
    url: str

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query; the result vector (raises on a query error)."""
        params = urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{params}", timeout=10) as resp:
            body = json.load(resp)
        if body.get("status") != "success":
            raise AssertionError(f"query failed: {expr}: {body}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v1/alerts", timeout=10) as resp:
            alerts: list[dict[str, Any]] = json.load(resp)["data"]["alerts"]
            return alerts


@contextmanager
def run_prometheus(
    workdir: Path,
    *,
    scrape_targets: list[str],
    rule_file: Path,
    alertmanager_port: int,
    interval: str = "1s",
) -> Iterator[Prometheus]:
    binary = require_tool("prometheus")
    port = free_port()
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rule_file)],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
        },
        "scrape_configs": [
            {
                "job_name": "taxmeter",
                "static_configs": [{"targets": scrape_targets, "labels": {"namespace": "e2e"}}],
            }
        ],
    }
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    args = [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={workdir / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--rules.alert.resend-delay=1s",
        "--log.level=warn",
    ]
    with process(args, workdir / "prometheus.log") as proc:
        wait_http_ok(f"http://127.0.0.1:{port}/-/ready", 30, proc)
        yield Prometheus(url=f"http://127.0.0.1:{port}")


@contextmanager
def run_alertmanager(workdir: Path, *, webhook_url: str, port: int) -> Iterator[str]:
    binary = require_tool("prometheus-alertmanager", "alertmanager")
    config = {
        "route": {
            "receiver": "test-webhook",
            "group_by": ["alertname", "route"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "test-webhook",
                "webhook_configs": [{"url": webhook_url, "send_resolved": False}],
            }
        ],
    }
    config_path = workdir / "alertmanager.yml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    args = [
        binary,
        f"--config.file={config_path}",
        f"--storage.path={workdir / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    # The unpacked Debian binary reads its default template from this relative path (patched by
    # scripts/install_ops_tools.sh; an installed package reads /usr/share and ignores it).
    shared = workdir / "alertmanager-shared-for-the-test"
    if not shared.exists():
        shared.symlink_to(ALERTMANAGER_SHARE.resolve(), target_is_directory=True)
    with process(args, workdir / "alertmanager.log", cwd=workdir) as proc:
        wait_http_ok(f"http://127.0.0.1:{port}/-/ready", 30, proc)
        yield f"http://127.0.0.1:{port}"


class WebhookReceiver:
    """An aiohttp server, in its own thread and event loop, collecting the alerts that
    Alertmanager's webhook notifications carry (status, labels, annotations)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._alerts: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stopped = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self.url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            self._alerts.extend(body.get("alerts", []))
        return web.Response(text="ok")

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/alerts", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        self.url = f"http://127.0.0.1:{port}/alerts"
        self._ready.set()
        await self._stopped.wait()
        await runner.cleanup()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        if not self._ready.wait(10):
            raise TimeoutError("webhook receiver did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stopped.set)
        self._thread.join(10)

    def alerts(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._alerts)

    def firing(self, alertname: str) -> list[dict[str, Any]]:
        return [
            a
            for a in self.alerts()
            if a.get("status") == "firing" and a["labels"].get("alertname") == alertname
        ]
