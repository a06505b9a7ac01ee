"""Property-based fuzzing of KServe v2 responses: a real in-process KServe v2 gRPC server
answers ModelInfer with random outputs (names, datatypes, shapes, raw or typed contents, too
few or too many bytes, extra outputs) and the remote judge backend reads them through its
public ``infer``. Each response is decoded into arrays of the declared shape or refused with a
``JudgeInferenceError`` that says why; nothing else escapes. Fixed seed: tests/fuzz_fixtures.py.

Imports the backend from ``taxmeter.judges.remote`` like tests/integration/
test_remote_fake_server.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
import pytest
from fuzz_fixtures import LoopThread
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from taxmeter.errors import JudgeInferenceError
from taxmeter.judges.manifest import JudgeManifest
from taxmeter.judges.remote.backend import KServeBackend
from taxmeter.judges.remote.config import KServeBackendConfig
from taxmeter.judges.remote.metrics import KServeMetrics
from taxmeter.proto.inference import grpc_predict_v2_pb2 as pb
from taxmeter.proto.inference import grpc_predict_v2_pb2_grpc as pb_grpc

MANIFEST = JudgeManifest.model_validate(
    {
        "name": "j",
        "input": {"kind": "response"},
        "heads": [{"name": "refusal", "output": "logits", "index": 0}],
    }
)
DATATYPES = ["FP32", "FP16", "FP64", "INT64", "INT32", "BOOL", "BYTES", "UINT8", "BF16", "X"]


class Responder(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self) -> None:
        self.next: pb.ModelInferResponse | None = None

    async def ServerLive(self, request: Any, context: Any) -> Any:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:
        return pb.ServerReadyResponse(ready=True)

    async def ModelReady(self, request: Any, context: Any) -> Any:
        return pb.ModelReadyResponse(ready=True)

    async def ModelMetadata(self, request: Any, context: Any) -> Any:
        r = pb.ModelMetadataResponse(name=request.name, platform="onnxruntime_onnx")
        for name in ("input_ids", "attention_mask"):
            r.inputs.add(name=name, datatype="INT64", shape=[-1, -1])
        r.outputs.add(name="logits", datatype="FP32", shape=[-1, 2])
        return r

    async def ModelInfer(self, request: Any, context: Any) -> Any:
        assert self.next is not None
        resp = pb.ModelInferResponse()
        resp.CopyFrom(self.next)
        resp.model_name, resp.id = request.model_name, request.id
        return resp


@dataclass
class Remote:
    loop: LoopThread
    responder: Responder
    backend: KServeBackend


@pytest.fixture(scope="module")
def remote() -> Iterator[Remote]:
    loop = LoopThread()
    responder = Responder()

    async def serve() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server()
        # the generated *_pb2_grpc module has no annotations
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(responder, server)  # type: ignore[no-untyped-call]
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = loop.run(serve())
    cfg = KServeBackendConfig.model_validate(
        {
            "target": f"127.0.0.1:{port}",
            "health_interval_s": 30.0,
            "retry": {"max_attempts": 1},
            "breaker": {"failure_threshold": 10_000},
        }
    )
    backend = KServeBackend("j", MANIFEST, cfg, KServeMetrics(CollectorRegistry()))
    loop.run(backend.start())
    try:
        yield Remote(loop, responder, backend)
    finally:
        loop.run(backend.aclose())
        loop.run(server.stop(None))
        loop.close()


@st.composite
def responses(draw: st.DrawFn) -> pb.ModelInferResponse:
    resp = pb.ModelInferResponse()
    n = draw(st.integers(0, 3))
    raw = draw(st.booleans())
    for i in range(n):
        name = (
            "logits"
            if i == 0 and draw(st.booleans())
            else draw(st.sampled_from(["logits", "embedding", "", "x" * 40]))
        )
        shape = draw(st.lists(st.integers(-2, 5), max_size=3))
        out = resp.outputs.add(name=name, datatype=draw(st.sampled_from(DATATYPES)), shape=shape)
        if raw:
            resp.raw_output_contents.append(draw(st.binary(max_size=64)))
        else:
            kind = draw(st.sampled_from(["fp32", "int64", "bool", "bytes", "none"]))
            if kind == "fp32":
                out.contents.fp32_contents.extend(
                    draw(
                        st.lists(
                            st.floats(width=32, allow_nan=True, allow_infinity=True), max_size=12
                        )
                    )
                )
            elif kind == "int64":
                out.contents.int64_contents.extend(
                    draw(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=12))
                )
            elif kind == "bool":
                out.contents.bool_contents.extend(draw(st.lists(st.booleans(), max_size=12)))
            elif kind == "bytes":
                out.contents.bytes_contents.extend(
                    draw(st.lists(st.binary(max_size=8), max_size=4))
                )
    if raw and draw(st.booleans()):  # more raw buffers than outputs
        resp.raw_output_contents.append(draw(st.binary(max_size=16)))
    return resp


def _good(batch: int) -> pb.ModelInferResponse:
    resp = pb.ModelInferResponse()
    resp.outputs.add(name="logits", datatype="FP32", shape=[batch, 2])
    resp.raw_output_contents.append(np.zeros((batch, 2), "<f4").tobytes())
    return resp


@given(responses())
def test_any_kserve_response_decodes_to_the_declared_shape_or_is_a_clear_error(
    remote: Remote, response: pb.ModelInferResponse
) -> None:
    ids = np.arange(12, dtype=np.int64).reshape(3, 4)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    remote.responder.next = response
    try:
        out = remote.loop.run(remote.backend.infer(feeds))
    except JudgeInferenceError as exc:
        assert str(exc).strip()
    else:
        assert isinstance(out, dict) and "logits" in out
        assert isinstance(out["logits"], np.ndarray)
        assert out["logits"].shape[0] == 3
    # the backend still works with a well-formed answer
    remote.responder.next = _good(3)
    assert remote.loop.run(remote.backend.infer(feeds))["logits"].shape == (3, 2)


@pytest.mark.parametrize(
    "build",
    [
        # found by this fuzzing: both escaped the backend as a bare ValueError
        lambda r: (
            r.outputs.add(name="logits", datatype="FP32", shape=[3, 2]),
            r.raw_output_contents.append(b"\x00"),
        ),
        lambda r: (
            r.outputs.add(name="logits", datatype="FP32", shape=[-1, -2]),
            r.raw_output_contents.append(np.zeros(2, "<f4").tobytes()),
        ),
    ],
    ids=["raw-bytes-not-whole-elements", "negative-dimensions"],
)
def test_malformed_kserve_outputs_found_by_fuzzing_are_inference_errors(
    remote: Remote, build: Any
) -> None:
    response = pb.ModelInferResponse()
    build(response)
    remote.responder.next = response
    ids = np.arange(12, dtype=np.int64).reshape(3, 4)
    with pytest.raises(JudgeInferenceError, match="logits"):
        remote.loop.run(
            remote.backend.infer({"input_ids": ids, "attention_mask": np.ones_like(ids)})
        )
