"""A small MLServer custom runtime that serves an exported ONNX judge with ONNX Runtime.

Runs inside ``.venv-mlserver`` (MLServer 1.7), never imported by taxmeter itself. It loads the
model file named by ``parameters.uri`` in ``model-settings.json`` (the ``1/model.onnx`` that
``taxmeter judges export-triton`` writes), reports the graph's real tensors as the model
metadata (as Triton does from config.pbtxt), and runs each ModelInfer batch on the CPU.

Settings and test hooks, in ``parameters.extra``:
- ``intra_op_threads``: ONNX Runtime intra-op threads (default 1);
- ``delay_file``: path of a file holding a delay in seconds, read on every request, slept
  before answering (so a test can make the server slow, then fast again, without restarting).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import (
    InferenceRequest,
    InferenceResponse,
    MetadataModelResponse,
    MetadataTensor,
)
from mlserver.utils import get_model_uri

_ORT_TO_KSERVE = {
    "tensor(int64)": "INT64",
    "tensor(int32)": "INT32",
    "tensor(float)": "FP32",
    "tensor(float16)": "FP16",
    "tensor(double)": "FP64",
    "tensor(bool)": "BOOL",
}


def _shape(dims: list[object]) -> list[int]:
    return [d if isinstance(d, int) else -1 for d in dims]


# MLModel is Any to mypy: mlserver is installed only in .venv-mlserver, not the dev venv.
class OnnxJudgeRuntime(MLModel):  # type: ignore[misc]
    async def load(self) -> bool:
        uri = await get_model_uri(self._settings)
        extra = (self._settings.parameters.extra if self._settings.parameters else None) or {}
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(extra.get("intra_op_threads", 1))
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            uri, sess_options=options, providers=["CPUExecutionProvider"]
        )
        delay_file = extra.get("delay_file")
        self._delay_file = Path(delay_file) if delay_file else None
        self._inputs_meta = [
            MetadataTensor(name=i.name, datatype=_ORT_TO_KSERVE[i.type], shape=_shape(i.shape))
            for i in self._session.get_inputs()
        ]
        self._outputs_meta = [
            MetadataTensor(name=o.name, datatype=_ORT_TO_KSERVE[o.type], shape=_shape(o.shape))
            for o in self._session.get_outputs()
        ]
        return True

    async def metadata(self) -> MetadataModelResponse:
        return MetadataModelResponse(
            name=self.name,
            platform="onnxruntime_onnx",
            versions=[self.version] if self.version else [],
            inputs=self._inputs_meta,
            outputs=self._outputs_meta,
        )

    def _delay_s(self) -> float:
        if self._delay_file is None:
            return 0.0
        try:
            return float(self._delay_file.read_text().strip() or 0.0)
        except (OSError, ValueError):
            return 0.0

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        delay = self._delay_s()
        if delay > 0:
            await asyncio.sleep(delay)
        feeds = {
            inp.name: np.ascontiguousarray(NumpyCodec.decode_input(inp), dtype=np.int64)
            for inp in payload.inputs
        }
        wanted = [o.name for o in payload.outputs] if payload.outputs else None
        names = wanted or [o.name for o in self._session.get_outputs()]
        # in a thread, as a real server does: health and metadata calls keep being answered
        results = await asyncio.to_thread(self._session.run, names, feeds)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            id=payload.id,
            outputs=[
                NumpyCodec.encode_output(name, np.asarray(value))
                for name, value in zip(names, results, strict=True)
            ],
        )
