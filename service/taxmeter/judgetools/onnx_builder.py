"""A small builder of ONNX graphs with ``onnx.helper``: named initializers (each added once),
nodes with unique output names, and the two layers every encoder here is made of (a PyTorch-layout
linear layer, a layer normalisation). Used by ``graph`` (the default judge) and ``hf_graph``
(imported Hugging Face classifiers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

__all__ = ["OPSET", "GraphBuilder", "layer_norm", "linear"]

OPSET = 17


@dataclass(slots=True)
class GraphBuilder:
    dtype: str
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)
    _counter: int = 0

    @property
    def onnx_dtype(self) -> int:
        return TensorProto.FLOAT16 if self.dtype == "float16" else TensorProto.FLOAT

    def init(self, name: str, value: np.ndarray) -> str:
        if name not in self._names:
            self._names.add(name)
            self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def weight(self, name: str, value: np.ndarray) -> str:
        return self.init(name, np.asarray(value, dtype=np.float32).astype(self.dtype))

    def const_i64(self, name: str, values: Sequence[int] | int) -> str:
        return self.init(name, np.asarray(values, dtype=np.int64))

    def const_f(self, name: str, value: float, dtype: str | None = None) -> str:
        return self.init(name, np.asarray(value, dtype=dtype or self.dtype))

    def op(self, op_type: str, inputs: Sequence[str], prefix: str, **attrs: Any) -> str:
        self._counter += 1
        out = f"{prefix}/{op_type}_{self._counter}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, **attrs))
        return out


def linear(b: GraphBuilder, x: str, w: np.ndarray, bias: np.ndarray, name: str) -> str:
    """``x @ w.T + bias`` for a PyTorch-layout ``w`` ``[out, in]``."""
    wt = b.weight(f"{name}.weight_t", np.asarray(w).T)
    bb = b.weight(f"{name}.bias", bias)
    return b.op("Add", [b.op("MatMul", [x, wt], name), bb], name)


def layer_norm(b: GraphBuilder, x: str, name: str, w: Mapping[str, np.ndarray], eps: float) -> str:
    scale = b.weight(f"{name}.weight", w[f"{name}.weight"])
    bias = b.weight(f"{name}.bias", w[f"{name}.bias"])
    return b.op("LayerNormalization", [x, scale, bias], name, axis=-1, epsilon=eps)
