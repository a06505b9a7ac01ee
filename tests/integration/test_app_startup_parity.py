"""One configuration truth: every error ``serve`` stops with at startup, ``check-config``
reports first, with the same message (both run ``taxmeter.startup``).

Each case below is one way startup fails, one per check in ``taxmeter.startup``'s docstring:
the file itself, the repository folder, what ``App`` loads (judges, backend blocks, files,
heads, keys) and the ports. For each, ``check-config`` must exit 2 naming the field, and
``serve`` (the real command, in-process) must then stop with that same message.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from app_fixtures import app_document, tiny_judges
from taxmeter import cli


@pytest.fixture(scope="module")
def judges(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_judges(tmp_path_factory.mktemp("judges"))


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import os

    for name in list(os.environ):
        if name.startswith("TAXMETER"):
            monkeypatch.delenv(name)
    yield
    structlog.reset_defaults()  # serve configured logging in this process


@pytest.fixture
def busy_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock.getsockname()[1]
    sock.close()


@dataclass
class Ctx:
    tmp: Path
    judges: Path
    busy_port: int
    monkeypatch: pytest.MonkeyPatch


Setup = Callable[[dict[str, Any], Ctx], None]


def _missing_repository(doc: dict[str, Any], c: Ctx) -> None:
    doc["judges"]["repository"] = str(c.tmp / "no-such-judges")


def _unset_key_env(doc: dict[str, Any], c: Ctx) -> None:
    doc["shadow"]["guarded"]["api_key_env"] = "TAXMETER_TEST_GUARDED_KEY"


def _unreadable_key_file(doc: dict[str, Any], c: Ctx) -> None:
    doc["shadow"]["unguarded"]["api_key_file"] = str(c.tmp / "no-such-key")


def _empty_key_file(doc: dict[str, Any], c: Ctx) -> None:
    (c.tmp / "empty-key").write_text("\n")
    doc["shadow"]["unguarded"]["api_key_file"] = str(c.tmp / "empty-key")


def _missing_head(doc: dict[str, Any], c: Ctx) -> None:
    doc["tax"] = {"quality_heads": ["nope.quality"]}


def _kserve_without_block(doc: dict[str, Any], c: Ctx) -> None:
    doc["judges"]["backend"] = "kserve"


def _kserve_token_file_missing(doc: dict[str, Any], c: Ctx) -> None:
    doc["judges"]["backend"] = "kserve"
    doc["judges"]["kserve"] = {
        "target": "127.0.0.1:9",
        "auth": {"token_file": str(c.tmp / "no-token")},
    }


def _kserve_ca_file_missing(doc: dict[str, Any], c: Ctx) -> None:
    doc["judges"]["backend"] = "kserve"
    doc["judges"]["kserve"] = {"target": "127.0.0.1:9", "tls": {"ca_file": str(c.tmp / "no-ca")}}


def _broken_manifest(doc: dict[str, Any], c: Ctx) -> None:
    import shutil

    repo = c.tmp / "judges-broken"
    shutil.copytree(c.judges, repo)
    manifest = next(repo.glob("*/manifest.yaml"))
    (manifest.parent / yaml.safe_load(manifest.read_text())["model"]).unlink()
    doc["judges"]["repository"] = str(repo)


def _port_in_use(doc: dict[str, Any], c: Ctx) -> None:
    doc["ingress"]["grpc_port"] = c.busy_port


def _metrics_port_in_use(doc: dict[str, Any], c: Ctx) -> None:
    doc["telemetry"]["metrics_port"] = c.busy_port


def _two_fields_one_port(doc: dict[str, Any], c: Ctx) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    doc["ingress"]["http_port"] = port
    doc["telemetry"]["metrics_port"] = port


def _bad_field(doc: dict[str, Any], c: Ctx) -> None:
    doc["sampling"]["rate"] = 2


def _kserve_from_the_environment(doc: dict[str, Any], c: Ctx) -> None:
    c.monkeypatch.setenv("TAXMETER__JUDGES__BACKEND", "kserve")


CASES: list[tuple[str, Setup, str]] = [
    ("missing judge repository", _missing_repository, "judges.repository"),
    ("api key env var unset", _unset_key_env, "shadow.guarded.api_key_env"),
    ("api key file unreadable", _unreadable_key_file, "shadow.unguarded.api_key_file"),
    ("api key file empty", _empty_key_file, "shadow.unguarded.api_key_file"),
    ("head the statistics read is missing", _missing_head, "tax.quality_heads[0]"),
    ("backend kserve without a kserve block", _kserve_without_block, "judges.kserve"),
    ("kserve token file missing", _kserve_token_file_missing, "judges.kserve.auth.token_file"),
    ("kserve CA file missing", _kserve_ca_file_missing, "judges.kserve.tls.ca_file"),
    ("judge model file missing", _broken_manifest, "model"),
    ("gRPC port in use", _port_in_use, "ingress.grpc_port"),
    ("metrics port in use", _metrics_port_in_use, "telemetry.metrics_port"),
    ("two fields, one port", _two_fields_one_port, "telemetry.metrics_port"),
    ("field out of range", _bad_field, "sampling.rate"),
    ("kserve from the environment, no block", _kserve_from_the_environment, "judges.kserve"),
]


@pytest.mark.parametrize(
    ("setup", "field"), [(s, f) for _n, s, f in CASES], ids=[n for n, _s, _f in CASES]
)
def test_check_config_reports_every_error_serve_stops_with(
    setup: Setup,
    field: str,
    judges: Path,
    tmp_path: Path,
    busy_port: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = app_document("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1", judges)
    setup(doc, Ctx(tmp_path, judges, busy_port, monkeypatch))
    path = tmp_path / "taxmeter.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")

    assert cli.main(["check-config", str(path)]) == 2
    checked = capsys.readouterr()
    assert field in checked.err and "OK" not in checked.out, checked

    # serve stops with the same message (never starts serving: check-config failed first)
    assert cli.main(["serve", "--config", str(path)]) == 2
    served = capsys.readouterr()
    message = served.err.strip().split(" error: ", 1)[1]
    assert field in message
    assert message in checked.err, (message, checked.err)


def test_check_config_passes_what_serve_accepts(
    judges: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    doc = app_document("http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1", judges)
    path = tmp_path / "taxmeter.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert cli.main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "default.refusal" in out and "ports 0, 0, 0 free" in out


# -- check-config --probe: real loopback servers, the real command in a subprocess ----------


class ModelsEndpoint:
    """``GET /v1/models`` on loopback: answers ``status``, records the Authorization header."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.auth: list[str | None] = []
        self._runner: Any = None

    async def start(self) -> str:
        from aiohttp import web

        async def models(request: web.Request) -> web.Response:
            self.auth.append(request.headers.get("Authorization"))
            if self.status != 200:
                return web.json_response({"error": {"message": "no"}}, status=self.status)
            return web.json_response(
                {"object": "list", "data": [{"id": "tiny-chat", "object": "model"}]}
            )

        app = web.Application()
        app.router.add_get("/v1/models", models)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}/v1"

    async def aclose(self) -> None:
        await self._runner.cleanup()


async def _check_config(path: Path, *args: str, env: dict[str, str]) -> tuple[int, str, str]:
    import asyncio
    import os
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith("TAXMETER")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "taxmeter",
        "check-config",
        str(path),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**base, **env},
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_probe_reports_what_answered_endpoints_and_judges(
    judges: Path,
    tmp_path: Path,
) -> None:
    guarded, unguarded = ModelsEndpoint(200), ModelsEndpoint(401)
    g_url, u_url = await guarded.start(), await unguarded.start()
    try:
        doc = app_document(g_url, u_url, judges)
        doc["shadow"]["guarded"]["api_key_env"] = "TAXMETER_TEST_PROBE_KEY"
        path = tmp_path / "taxmeter.yaml"
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        code, out, err = await _check_config(
            path, "--probe", "--probe-timeout-s", "120", env={"TAXMETER_TEST_PROBE_KEY": "sk-probe"}
        )
    finally:
        await guarded.aclose()
        await unguarded.aclose()
    assert code == 1, (out, err)  # the unguarded endpoint refused the probe
    lines = out.splitlines()
    assert any(
        ln.startswith("  ok   shadow.guarded GET " + g_url + "/models: HTTP 200")
        and "(models: tiny-chat)" in ln
        for ln in lines
    ), out
    assert any(
        ln.startswith("  FAIL shadow.unguarded GET " + u_url + "/models: HTTP 401")
        and "the key was refused" in ln
        for ln in lines
    ), out
    assert any(
        ln.startswith("  ok   judge default (") and "loaded and warmed on cpu" in ln for ln in lines
    ), out
    assert guarded.auth == ["Bearer sk-probe"] and unguarded.auth == [None]
    assert "sk-probe" not in out + err


async def test_probe_says_when_nothing_answers(judges: Path, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    doc = app_document(f"http://127.0.0.1:{dead}/v1", f"http://127.0.0.1:{dead}/v1", judges)
    doc["judges"]["backend"] = "kserve"
    doc["judges"]["kserve"] = {"target": f"127.0.0.1:{dead}", "connect_timeout_s": 0.5}
    path = tmp_path / "taxmeter.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    code, out, err = await _check_config(path, "--probe", "--probe-timeout-s", "3", env={})
    assert code == 1, (out, err)
    assert f"FAIL shadow.guarded GET http://127.0.0.1:{dead}/v1/models: did not answer" in out
    assert f"FAIL judges (kserve 127.0.0.1:{dead}): not ready within 3 s" in out, out


# -- taxmeter init: a starting point that check-config accepts once the keys are set ---------


def test_init_writes_a_config_that_check_config_accepts_with_the_keys_set(
    judges: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "taxmeter.yaml"
    assert cli.main(["init", str(path), "--judges", str(judges)]) == 0
    assert "EDIT" in path.read_text() and str(judges) in path.read_text()
    assert cli.main(["init", str(path)]) == 2  # never overwrites silently
    capsys.readouterr()
    # The fixed ports may be taken on a shared machine: ephemeral ones, through the env.
    for name in ("INGRESS__GRPC_PORT", "INGRESS__HTTP_PORT", "TELEMETRY__METRICS_PORT"):
        monkeypatch.setenv(f"TAXMETER__{name}", "0")
    assert cli.main(["check-config", str(path)]) == 2  # the keys are not set yet
    assert "shadow.guarded.api_key_env" in capsys.readouterr().err
    monkeypatch.setenv("TAXMETER_GUARDED_API_KEY", "k1")
    monkeypatch.setenv("TAXMETER_UNGUARDED_API_KEY", "k2")
    assert cli.main(["check-config", str(path)]) == 0, capsys.readouterr().err
    assert "OK (1 routes" in capsys.readouterr().out
