"""The KServe v2 backend against an in-process KServe v2 server (grpc.aio, loopback, port 0)
whose behaviour each test scripts: auth headers, mutual TLS, retries within the budget,
errors that must not trip the breaker, malformed responses."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from taxmeter.errors import JudgeInferenceError
from taxmeter.judges.manifest import JudgeManifest
from taxmeter.judges.remote.backend import KServeBackend
from taxmeter.judges.remote.config import KServeBackendConfig
from taxmeter.judges.remote.credentials import load_tls_credentials
from taxmeter.judges.remote.factory import kserve_backend_factory
from taxmeter.judges.remote.metrics import KServeMetrics
from taxmeter.judges.remote.resilience import BreakerState
from taxmeter.proto.inference import grpc_predict_v2_pb2 as pb
from taxmeter.proto.inference import grpc_predict_v2_pb2_grpc as pb_grpc

MANIFEST = JudgeManifest.model_validate(
    {
        "name": "j",
        "input": {"kind": "response"},
        "heads": [{"name": "refusal", "output": "logits", "index": 0}],
    }
)


@dataclass
class Script:
    """What the fake server does; tests change it between calls."""

    fail_codes: list[grpc.StatusCode] = field(default_factory=list)
    """Abort the next ModelInfer calls with these codes, in order."""
    mutate: Callable[[Any], None] | None = None
    seen_metadata: list[dict[str, str]] = field(default_factory=list)
    infer_calls: int = 0
    delay_s: float = 0.0


class FakeKServe(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, script: Script) -> None:
        self.script = script

    async def ServerLive(self, request: Any, context: Any) -> Any:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:
        return pb.ServerReadyResponse(ready=True)

    async def ModelReady(self, request: Any, context: Any) -> Any:
        self.script.seen_metadata.append(dict(context.invocation_metadata()))
        return pb.ModelReadyResponse(ready=request.name == "j")

    async def ModelMetadata(self, request: Any, context: Any) -> Any:
        r = pb.ModelMetadataResponse(name=request.name, platform="onnxruntime_onnx")
        for name in ("input_ids", "attention_mask"):
            r.inputs.add(name=name, datatype="INT64", shape=[-1, -1])
        r.outputs.add(name="logits", datatype="FP32", shape=[-1, 2])
        return r

    async def ModelInfer(self, request: Any, context: Any) -> Any:
        self.script.infer_calls += 1
        self.script.seen_metadata.append(dict(context.invocation_metadata()))
        if self.script.fail_codes:
            await context.abort(self.script.fail_codes.pop(0), "scripted failure")
        if self.script.delay_s:
            await asyncio.sleep(self.script.delay_s)
        ids = np.frombuffer(request.raw_input_contents[0], dtype="<i8").reshape(
            tuple(request.inputs[0].shape)
        )
        logits = np.stack([ids.sum(axis=1), ids.max(axis=1)], axis=1).astype(np.float32)
        resp = pb.ModelInferResponse(model_name=request.model_name, id=request.id)
        out = resp.outputs.add(name="logits", datatype="FP32", shape=list(logits.shape))
        del out
        resp.raw_output_contents.append(logits.astype("<f4").tobytes())
        if self.script.mutate is not None:
            self.script.mutate(resp)
        return resp


async def _serve(
    script: Script, credentials: grpc.ServerCredentials | None = None
) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server()
    # the generated *_pb2_grpc module has no annotations
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(FakeKServe(script), server)  # type: ignore[no-untyped-call]
    if credentials is None:
        port = server.add_insecure_port("127.0.0.1:0")
    else:
        port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    return server, port


def _breaker_state(b: KServeBackend) -> BreakerState:
    """Read through a call: mypy keeps ``b.breaker_state`` (and ``b.ready``) narrowed by an
    earlier assert across the awaits that change them, and flags the next check unreachable."""
    return b.breaker_state


def _ready(b: KServeBackend) -> bool:
    return b.ready


def _feeds(batch: int = 3) -> dict[str, np.ndarray]:
    ids = np.arange(batch * 4, dtype=np.int64).reshape(batch, 4)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids)}


@pytest.fixture
async def fake() -> AsyncIterator[tuple[Script, int]]:
    script = Script()
    server, port = await _serve(script)
    yield script, port
    await server.stop(grace=None)


def _config(port: int, **kw: object) -> KServeBackendConfig:
    base: dict[str, object] = {"target": f"127.0.0.1:{port}", "health_interval_s": 30.0}
    base.update(kw)
    return KServeBackendConfig.model_validate(base)


async def test_infer_sends_raw_tensors_and_decodes_raw_outputs(
    fake: tuple[Script, int],
) -> None:
    _script, port = fake
    b = KServeBackend("j", MANIFEST, _config(port), KServeMetrics(CollectorRegistry()))
    await b.start()
    try:
        assert _ready(b) and b.provider == "remote"
        assert [t.name for t in b.inputs()] == ["input_ids", "attention_mask"]
        assert b.outputs()[0].shape == (None, 2)
        out = await b.infer(_feeds(3))
        ids = _feeds(3)["input_ids"]
        np.testing.assert_array_equal(out["logits"][:, 0], ids.sum(axis=1).astype(np.float32))
        np.testing.assert_array_equal(out["logits"][:, 1], ids.max(axis=1).astype(np.float32))
    finally:
        await b.aclose()
    assert not _ready(b) and b.not_ready_reason == "closed"


async def test_auth_header_from_env_is_sent_on_every_call(fake: tuple[Script, int]) -> None:
    script, port = fake
    cfg = _config(port, auth={"token_env": "JUDGE_POOL_TOKEN"})
    make = kserve_backend_factory(cfg, CollectorRegistry(), environ={"JUDGE_POOL_TOKEN": "t0k"})
    b = make("j", Path("/nonexistent"), MANIFEST)
    await b.start()
    try:
        await b.infer(_feeds())
    finally:
        await b.aclose()
    assert script.seen_metadata
    assert all(md.get("authorization") == "Bearer t0k" for md in script.seen_metadata)


async def test_unavailable_is_retried_within_budget_and_counted(
    fake: tuple[Script, int],
) -> None:
    script, port = fake
    reg = CollectorRegistry()
    cfg = _config(port, retry={"max_attempts": 3, "backoff_initial_s": 0.01})
    b = KServeBackend("j", MANIFEST, cfg, KServeMetrics(reg))
    await b.start()
    try:
        script.fail_codes = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]
        out = await b.infer(_feeds())
        assert out["logits"].shape == (3, 2)
        assert script.infer_calls == 3
        # a non-retryable error is not retried
        script.fail_codes = [grpc.StatusCode.INTERNAL]
        with pytest.raises(JudgeInferenceError, match="INTERNAL"):
            await b.infer(_feeds())
        assert script.infer_calls == 4
    finally:
        await b.aclose()
    assert reg.get_sample_value("taxmeter_judge_backend_retries_total", {"judge": "j"}) == 2
    assert (
        reg.get_sample_value(
            "taxmeter_judge_backend_requests_total", {"judge": "j", "outcome": "ok"}
        )
        == 1
    )
    assert (
        reg.get_sample_value(
            "taxmeter_judge_backend_requests_total", {"judge": "j", "outcome": "error"}
        )
        == 1
    )


async def test_invalid_argument_does_not_trip_the_breaker(fake: tuple[Script, int]) -> None:
    script, port = fake
    cfg = _config(port, breaker={"failure_threshold": 2})
    b = KServeBackend("j", MANIFEST, cfg, KServeMetrics(CollectorRegistry()))
    await b.start()
    try:
        script.fail_codes = [grpc.StatusCode.INVALID_ARGUMENT] * 3
        for _ in range(3):
            with pytest.raises(JudgeInferenceError, match="INVALID_ARGUMENT"):
                await b.infer(_feeds())
        assert _breaker_state(b) is BreakerState.CLOSED and _ready(b)
    finally:
        await b.aclose()


async def test_cancelled_half_open_probe_frees_its_slot(fake: tuple[Script, int]) -> None:
    script, port = fake
    cfg = _config(port, breaker={"failure_threshold": 1, "open_s": 0.2})
    b = KServeBackend("j", MANIFEST, cfg, KServeMetrics(CollectorRegistry()))
    await b.start()
    try:
        script.fail_codes = [grpc.StatusCode.INTERNAL]
        with pytest.raises(JudgeInferenceError):
            await b.infer(_feeds())
        assert _breaker_state(b) is BreakerState.OPEN
        await asyncio.sleep(0.25)
        script.delay_s = 5.0
        probe = asyncio.create_task(b.infer(_feeds()))
        await asyncio.sleep(0.1)
        probe.cancel()  # e.g. the engine shutting down mid-batch
        with pytest.raises(asyncio.CancelledError):
            await probe
        script.delay_s = 0.0
        assert _breaker_state(b) is BreakerState.HALF_OPEN
        assert (await b.infer(_feeds()))["logits"].shape == (3, 2)
        assert _breaker_state(b) is BreakerState.CLOSED
    finally:
        await b.aclose()


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: r.raw_output_contents.__setitem__(0, b"\x00" * 4), "values for shape"),
        (lambda r: r.outputs[0].__setattr__("name", "other"), "lacks output 'logits'"),
        (lambda r: r.outputs[0].__setattr__("datatype", "BYTES"), "datatype 'BYTES'"),
        (lambda r: r.raw_output_contents.append(b""), "raw contents"),
    ],
)
async def test_malformed_response_is_an_inference_error_and_a_breaker_failure(
    fake: tuple[Script, int], mutate: Callable[[Any], None], needle: str
) -> None:
    script, port = fake
    cfg = _config(port, breaker={"failure_threshold": 1})
    b = KServeBackend("j", MANIFEST, cfg, KServeMetrics(CollectorRegistry()))
    await b.start()
    try:
        script.mutate = mutate
        with pytest.raises(JudgeInferenceError, match=needle):
            await b.infer(_feeds())
        assert _breaker_state(b) is BreakerState.OPEN
    finally:
        await b.aclose()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    if shutil.which("openssl") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("openssl is needed for the TLS test")
        pytest.skip("openssl is absent")
    d = tmp_path / "pki"
    d.mkdir()
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        cwd=d,
    )
    (d / "san.ext").write_text("subjectAltName=DNS:judges.pool.test\n")
    for name in ("server", "client"):
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=d,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "san.ext",
            "-out",
            f"{name}.pem",
            cwd=d,
        )
    return d


async def test_mutual_tls_with_ca_and_client_certificate(pki: Path) -> None:
    server_creds = grpc.ssl_server_credentials(
        [((pki / "server.key").read_bytes(), (pki / "server.pem").read_bytes())],
        root_certificates=(pki / "ca.pem").read_bytes(),
        require_client_auth=True,
    )
    script = Script()
    server, port = await _serve(script, server_creds)
    try:
        tls = {
            "ca_file": str(pki / "ca.pem"),
            "client_cert_file": str(pki / "client.pem"),
            "client_key_file": str(pki / "client.key"),
            "server_name_override": "judges.pool.test",
        }
        cfg = _config(port, tls=tls)
        b = KServeBackend(
            "j",
            MANIFEST,
            cfg,
            KServeMetrics(CollectorRegistry()),
            credentials=load_tls_credentials(cfg.tls),
        )
        await b.start()
        try:
            assert _ready(b)
            assert (await b.infer(_feeds()))["logits"].shape == (3, 2)
        finally:
            await b.aclose()
        # without the client certificate the server refuses: the backend starts not ready
        no_cert = _config(
            port,
            tls={"ca_file": str(pki / "ca.pem"), "server_name_override": "judges.pool.test"},
            connect_timeout_s=1.0,
        )
        b2 = KServeBackend(
            "j",
            MANIFEST,
            no_cert,
            KServeMetrics(CollectorRegistry()),
            credentials=load_tls_credentials(no_cert.tls),
        )
        await b2.start()
        try:
            assert not _ready(b2) and b2.not_ready_reason == "backend_unavailable"
        finally:
            await b2.aclose()
    finally:
        await server.stop(grace=None)
