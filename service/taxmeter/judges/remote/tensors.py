"""Tensors of the remote judge backend: KServe v2 datatypes, the tensors a judge expects
(from its local ``model.onnx`` or, without one, from its manifest), the check of the pool's
model metadata against them, and the encoding/decoding of ModelInfer messages.

Only this module and ``backend`` import the generated KServe v2 stubs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from taxmeter.errors import JudgeInferenceError, JudgeLoadError
from taxmeter.judges.backend import TensorSpec
from taxmeter.judges.manifest import INPUT_ROLES, JudgeManifest
from taxmeter.proto.inference import grpc_predict_v2_pb2 as pb

__all__ = [
    "KSERVE_TO_NUMPY",
    "NUMPY_TO_KSERVE",
    "check_remote_tensors",
    "checked_metadata",
    "decode_response",
    "encode_request",
    "manifest_specs",
    "onnx_specs",
    "remote_spec",
]

# KServe v2 datatype <-> numpy dtype name.
KSERVE_TO_NUMPY: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
}
NUMPY_TO_KSERVE = {v: k for k, v in KSERVE_TO_NUMPY.items()}
_FLOATS = frozenset({"float16", "float32", "float64"})
# ONNX TensorProto element types that a KServe v2 server can serve -> numpy dtype name (the
# KServe name, lower case, where numpy has none: such a tensor never matches a judge's).
_ONNX_TO_NUMPY: dict[int, str] = {
    1: "float32",
    2: "uint8",
    3: "int8",
    4: "uint16",
    5: "int16",
    6: "int32",
    7: "int64",
    8: "string",
    9: "bool",
    10: "float16",
    11: "float64",
    12: "uint32",
    13: "uint64",
    16: "bf16",
}


def onnx_specs(judge: str, path: Path) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """The local graph's real inputs (initializers left out) and outputs, in graph order."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError, ... for a bad file
        raise JudgeLoadError(judge, f"cannot read ONNX graph {path}: {exc}") from exc
    initializers = {init.name for init in model.graph.initializer}

    def spec(value_info: Any) -> TensorSpec:
        ttype = value_info.type.tensor_type
        dtype = _ONNX_TO_NUMPY.get(ttype.elem_type)
        if dtype is None:
            raise JudgeLoadError(
                judge,
                f"tensor {value_info.name!r} has ONNX element type {ttype.elem_type}, "
                "which a KServe v2 server cannot serve to judges",
            )
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in ttype.shape.dim)
        return TensorSpec(value_info.name, dtype, dims)

    inputs = tuple(spec(v) for v in model.graph.input if v.name not in initializers)
    return inputs, tuple(spec(v) for v in model.graph.output)


def manifest_specs(
    manifest: JudgeManifest,
) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """What the manifest alone says: the input names it maps, the outputs the heads read
    (dims unknown; the pool's metadata fills them in)."""
    required, optional = INPUT_ROLES[manifest.input.kind]
    mapping = manifest.inputs or {}
    names = [mapping.get(r, r) for r in required] + [mapping[r] for r in optional if r in mapping]
    inputs = tuple(TensorSpec(n, "int64", (None, None)) for n in names)
    outs: list[str] = []
    for head in manifest.heads:
        if head.output not in outs:
            outs.append(head.output)
    if manifest.embedding is not None and manifest.embedding.output not in outs:
        outs.append(manifest.embedding.output)
    return inputs, tuple(TensorSpec(n, "float32", (None, None)) for n in outs)


def remote_spec(judge: str, t: Any) -> TensorSpec:
    dtype = KSERVE_TO_NUMPY.get(t.datatype)
    if dtype is None:
        raise JudgeLoadError(
            judge, f"remote tensor {t.name!r} has datatype {t.datatype!r}, which judges cannot use"
        )
    return TensorSpec(t.name, dtype, tuple(None if d < 0 else int(d) for d in t.shape))


def check_remote_tensors(
    judge: str,
    kind: str,
    expected: Sequence[TensorSpec],
    remote: Sequence[TensorSpec],
    *,
    check_shapes: bool,
    exact_names: bool,
) -> None:
    """Raise ``JudgeLoadError`` naming the judge and the first tensor that does not match."""
    by_name = {t.name: t for t in remote}
    for want in expected:
        got = by_name.get(want.name)
        if got is None:
            raise JudgeLoadError(
                judge,
                f"remote model has no {kind} tensor {want.name!r} "
                f"(remote {kind}s: {sorted(by_name)})",
            )
        same_dtype = got.dtype == want.dtype or (got.dtype in _FLOATS and want.dtype in _FLOATS)
        if not same_dtype:
            raise JudgeLoadError(
                judge,
                f"remote {kind} tensor {want.name!r} is {got.dtype}, expected {want.dtype}",
            )
        if check_shapes:
            mismatch = len(got.shape) != len(want.shape) or any(
                a is not None and b is not None and a != b
                for a, b in zip(got.shape, want.shape, strict=False)
            )
            if mismatch:
                raise JudgeLoadError(
                    judge,
                    f"remote {kind} tensor {want.name!r} has shape "
                    f"{_shape_text(got.shape)}, expected {_shape_text(want.shape)}",
                )
    if exact_names:
        extra = sorted(set(by_name) - {t.name for t in expected})
        if extra:
            raise JudgeLoadError(
                judge, f"remote model has {kind} tensor(s) {extra} that this judge does not have"
            )


def checked_metadata(
    judge: str,
    meta: Any,
    expected: tuple[Sequence[TensorSpec], Sequence[TensorSpec]],
    *,
    check_shapes: bool,
) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """The pool's ModelMetadata checked against the ``expected`` (inputs, outputs): the remote
    inputs, and the remote outputs the judge reads. Raises ``JudgeLoadError`` naming the judge
    and the first tensor that does not match (inputs by exact name set)."""
    remote_in = tuple(remote_spec(judge, t) for t in meta.inputs)
    remote_out = tuple(remote_spec(judge, t) for t in meta.outputs)
    exp_in, exp_out = expected
    check_remote_tensors(
        judge, "input", exp_in, remote_in, check_shapes=check_shapes, exact_names=True
    )
    check_remote_tensors(
        judge, "output", exp_out, remote_out, check_shapes=check_shapes, exact_names=False
    )
    wanted = {t.name for t in exp_out}
    return remote_in, tuple(t for t in remote_out if t.name in wanted)


def _shape_text(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape) + "]"


def encode_request(
    judge: str,
    model: str,
    version: str,
    feeds: Mapping[str, np.ndarray],
    output_names: Sequence[str],
) -> tuple[Any, int]:
    """One ModelInfer request (inputs as little-endian ``raw_input_contents``) and its batch
    size; an input that cannot be sent raises ``JudgeInferenceError``."""
    request = pb.ModelInferRequest(model_name=model, model_version=version)
    batch = -1
    for name, value in feeds.items():
        arr = np.ascontiguousarray(value)
        datatype = NUMPY_TO_KSERVE.get(arr.dtype.name)
        if datatype is None or arr.ndim == 0:
            raise JudgeInferenceError(
                f"judge {judge!r}: input {name!r} of dtype {arr.dtype} / shape "
                f"{arr.shape} cannot be sent"
            )
        if batch < 0:
            batch = arr.shape[0]
        tensor = request.inputs.add()
        tensor.name = name
        tensor.datatype = datatype
        tensor.shape.extend(arr.shape)
        request.raw_input_contents.append(arr.astype(arr.dtype.newbyteorder("<")).tobytes())
    for name in output_names:
        request.outputs.add().name = name
    return request, batch


def decode_response(
    judge: str, response: Any, batch: int, output_names: Sequence[str]
) -> dict[str, np.ndarray]:
    """The output tensors of a ModelInferResponse, checked: every wanted output present, with
    the batch as its first axis. Raises ``JudgeInferenceError``."""
    raw = list(response.raw_output_contents)
    if raw and len(raw) != len(response.outputs):
        raise JudgeInferenceError(
            f"judge {judge!r}: response has {len(response.outputs)} outputs but "
            f"{len(raw)} raw contents"
        )
    out: dict[str, np.ndarray] = {}
    for i, tensor in enumerate(response.outputs):
        dtype_name = KSERVE_TO_NUMPY.get(tensor.datatype)
        if dtype_name is None:
            raise JudgeInferenceError(
                f"judge {judge!r}: output {tensor.name!r} has datatype {tensor.datatype!r}"
            )
        shape = tuple(int(d) for d in tensor.shape)
        dtype = np.dtype(dtype_name).newbyteorder("<")
        # found by fuzzing (both escaped as a ValueError): a negative dimension, a raw buffer
        # that is not a whole number of elements
        if any(d < 0 for d in shape):
            raise JudgeInferenceError(
                f"judge {judge!r}: output {tensor.name!r} has shape {list(shape)}"
            )
        if raw and len(raw[i]) % dtype.itemsize:
            raise JudgeInferenceError(
                f"judge {judge!r}: output {tensor.name!r} has {len(raw[i])} bytes, "
                f"not a multiple of {dtype.itemsize} ({tensor.datatype})"
            )
        flat = np.frombuffer(raw[i], dtype=dtype) if raw else typed_contents(tensor, dtype)
        if flat.size != int(np.prod(shape)):
            raise JudgeInferenceError(
                f"judge {judge!r}: output {tensor.name!r} has {flat.size} values for "
                f"shape {list(shape)}"
            )
        out[tensor.name] = flat.reshape(shape).astype(dtype_name, copy=False)
    for name in output_names:
        arr = out.get(name)
        if arr is None:
            raise JudgeInferenceError(f"judge {judge!r}: response lacks output {name!r}")
        if arr.ndim == 0 or arr.shape[0] != batch:
            raise JudgeInferenceError(
                f"judge {judge!r}: output {name!r} has shape {list(arr.shape)} for a "
                f"batch of {batch}"
            )
    return out


def typed_contents(tensor: Any, dtype: np.dtype[Any]) -> np.ndarray:
    c = tensor.contents
    kind = dtype.name
    if kind in ("float32",):
        values: Any = c.fp32_contents
    elif kind == "float64":
        values = c.fp64_contents
    elif kind == "int64":
        values = c.int64_contents
    elif kind in ("int8", "int16", "int32"):
        values = c.int_contents
    elif kind == "uint64":
        values = c.uint64_contents
    elif kind in ("uint8", "uint16", "uint32"):
        values = c.uint_contents
    elif kind == "bool":
        values = c.bool_contents
    else:  # FP16 has no typed field: it must come raw
        raise JudgeInferenceError(f"output {tensor.name!r} ({kind}) came without raw contents")
    return np.asarray(list(values), dtype=kind)
