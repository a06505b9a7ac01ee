"""The ONNX graph of a Hugging Face sequence classifier (BERT, RoBERTa/XLM-R, DistilBERT),
built with ``onnx.helper`` from NumPy weights, for ``taxmeter judges import``.

Like ``graph.py`` (whose op builder it reuses) it imports nothing from taxmeter outside
``judgetools.graph``, only NumPy and ``onnx``. Graph (opset 17, standard ops only)::

    input_ids, attention_mask[, token_type_ids]  (int64 [batch, seq])
      ─▶ word + position + token-type embeddings ─▶ LayerNorm
      ─▶ N post-LN encoder layers (self-attention, masked; feed-forward with ``activation``)
      ─▶ first token ([CLS] / <s>) ─▶ dense ─▶ tanh (BERT pooler, RoBERTa head) or ReLU
         (DistilBERT pre-classifier) ─▶ dense ─▶ logits (float32 [batch, num_labels])

Positions are ``0..S-1`` (BERT, DistilBERT), or for RoBERTa-style models
``cumsum(mask) * mask + padding_idx`` along the sequence, which is Hugging Face's
``create_position_ids_from_input_ids`` computed from the attention mask instead of from
``input_ids != padding_idx`` (the same for right-padded batches; taxmeter pads on the right).
A model with ``type_vocab_size == 1`` has no ``token_type_ids`` input: row 0 is added as a
constant. ``dtype="float16"`` runs the embeddings and the encoder in half precision; the
inputs stay int64 and the classification head and ``logits`` are float32 (a Cast on the
first token), as in ``graph.py``.

Weights use the ``BertModel`` names without a prefix (``embeddings.word_embeddings.weight``,
``encoder.layer.0.attention.self.query.weight``, ...) plus ``head.dense.{weight,bias}`` and
``head.out.{weight,bias}``, PyTorch ``Linear`` layout ``[out, in]``; ``hf_checkpoint`` maps
each family's names onto these.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper

from taxmeter.judgetools.onnx_builder import OPSET, GraphBuilder, layer_norm, linear

__all__ = [
    "ACTIVATIONS",
    "ClassifierShape",
    "build_classifier_graph",
    "graph_input_names",
]

Activation = Literal["gelu", "gelu_tanh", "relu", "silu", "quick_gelu"]
ACTIVATIONS: tuple[str, ...] = ("gelu", "gelu_tanh", "relu", "silu", "quick_gelu")
"""Feed-forward activations the graph implements (``hf_checkpoint`` maps ``hidden_act``)."""
MASK_NEG = -10000.0
"""Additive attention mask for padded keys (finite, so it is safe in float16)."""


@dataclass(frozen=True, slots=True)
class ClassifierShape:
    """What the graph needs to know about a checkpoint besides its weights."""

    num_layers: int
    num_heads: int
    hidden_size: int
    num_labels: int
    layer_norm_eps: float
    activation: Activation
    type_vocab_size: int
    """0: no token-type embeddings (DistilBERT); 1: a constant row; >1: a ``token_type_ids``
    input."""
    position_padding_idx: int | None
    """``None``: positions 0..S-1; else RoBERTa-style positions offset by ``padding_idx + 1``."""
    head_activation: Literal["tanh", "relu"]

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


def graph_input_names(shape: ClassifierShape) -> tuple[str, ...]:
    """The graph's inputs, in order (the manifest's ``inputs`` roles have the same names)."""
    base = ("input_ids", "attention_mask")
    return (*base, "token_type_ids") if shape.type_vocab_size > 1 else base


def _embeddings(b: GraphBuilder, w: Mapping[str, np.ndarray], shape: ClassifierShape) -> str:
    p = "embeddings"
    ids, mask = "input_ids", "attention_mask"
    x = b.op(
        "Gather",
        [
            b.weight("embeddings.word_embeddings.weight", w["embeddings.word_embeddings.weight"]),
            ids,
        ],
        p,
    )
    table = b.weight(
        "embeddings.position_embeddings.weight", w["embeddings.position_embeddings.weight"]
    )
    if shape.position_padding_idx is None:
        seq_len = b.op("Shape", [ids], p, start=1, end=2)
        zero = b.const_i64("c.zero1", [0])
        pos = b.op("Slice", [table, zero, seq_len, zero], p)
    else:
        running = b.op("CumSum", [mask, b.const_i64("c.axis1", [1])], p)
        pos_ids = b.op(
            "Add",
            [
                b.op("Mul", [running, mask], p),
                b.const_i64("c.padding_idx", shape.position_padding_idx),
            ],
            p,
        )
        pos = b.op("Gather", [table, pos_ids], p)
    x = b.op("Add", [x, pos], p)
    if shape.type_vocab_size > 1:
        types = b.weight(
            "embeddings.token_type_embeddings.weight", w["embeddings.token_type_embeddings.weight"]
        )
        x = b.op("Add", [x, b.op("Gather", [types, "token_type_ids"], p)], p)
    elif shape.type_vocab_size == 1:
        row = np.asarray(w["embeddings.token_type_embeddings.weight"])[0]
        x = b.op("Add", [x, b.weight("embeddings.token_type_embeddings.row0", row)], p)
    return layer_norm(b, x, "embeddings.LayerNorm", w, shape.layer_norm_eps)


def _activation(b: GraphBuilder, h: str, kind: Activation, p: str) -> str:
    if kind == "gelu":  # 0.5 h (1 + erf(h / sqrt 2))
        erf = b.op("Erf", [b.op("Div", [h, b.const_f("c.sqrt2", math.sqrt(2.0))], p)], p)
        return b.op(
            "Mul",
            [
                b.op("Mul", [h, b.const_f("c.half", 0.5)], p),
                b.op("Add", [erf, b.const_f("c.one", 1.0)], p),
            ],
            p,
        )
    if kind == "gelu_tanh":  # 0.5 h (1 + tanh(sqrt(2/pi) (h + 0.044715 h^3)))
        cube = b.op("Mul", [b.op("Mul", [h, h], p), h], p)
        inner = b.op("Add", [h, b.op("Mul", [cube, b.const_f("c.gelu_c", 0.044715)], p)], p)
        t = b.op(
            "Tanh", [b.op("Mul", [inner, b.const_f("c.gelu_k", math.sqrt(2.0 / math.pi))], p)], p
        )
        return b.op(
            "Mul",
            [
                b.op("Mul", [h, b.const_f("c.half", 0.5)], p),
                b.op("Add", [t, b.const_f("c.one", 1.0)], p),
            ],
            p,
        )
    if kind == "relu":
        return b.op("Relu", [h], p)
    if kind == "silu":
        return b.op("Mul", [h, b.op("Sigmoid", [h], p)], p)
    if kind == "quick_gelu":  # h * sigmoid(1.702 h)
        return b.op(
            "Mul", [h, b.op("Sigmoid", [b.op("Mul", [h, b.const_f("c.qg", 1.702)], p)], p)], p
        )
    raise ValueError(f"unknown activation {kind!r}")


def _encoder(b: GraphBuilder, x: str, w: Mapping[str, np.ndarray], shape: ClassifierShape) -> str:
    pm = "mask"
    maskf = b.op("Cast", ["attention_mask"], pm, to=b.onnx_dtype)
    additive = b.op(
        "Mul",
        [b.op("Sub", [b.const_f("c.one", 1.0), maskf], pm), b.const_f("c.mask_neg", MASK_NEG)],
        pm,
    )
    additive = b.op("Unsqueeze", [additive, b.const_i64("c.axes12", [1, 2])], pm)
    heads, dh = shape.num_heads, shape.head_dim
    split_shape = b.const_i64("c.split_heads", [0, 0, heads, dh])
    merge_shape = b.const_i64("c.merge_heads", [0, 0, shape.hidden_size])
    scale = b.const_f("c.attn_scale", 1.0 / math.sqrt(dh))
    eps = shape.layer_norm_eps

    def lin(inp: str, name: str) -> str:
        return linear(b, inp, w[f"{name}.weight"], w[f"{name}.bias"], name)

    for i in range(shape.num_layers):
        n = f"encoder.layer.{i}"
        pl = f"layer{i}"
        q = lin(x, f"{n}.attention.self.query")
        k = lin(x, f"{n}.attention.self.key")
        v = lin(x, f"{n}.attention.self.value")
        q = b.op("Transpose", [b.op("Reshape", [q, split_shape], pl)], pl, perm=[0, 2, 1, 3])
        k = b.op("Transpose", [b.op("Reshape", [k, split_shape], pl)], pl, perm=[0, 2, 3, 1])
        v = b.op("Transpose", [b.op("Reshape", [v, split_shape], pl)], pl, perm=[0, 2, 1, 3])
        scores = b.op("Mul", [b.op("MatMul", [q, k], pl), scale], pl)
        probs = b.op("Softmax", [b.op("Add", [scores, additive], pl)], pl, axis=-1)
        ctx = b.op("Transpose", [b.op("MatMul", [probs, v], pl)], pl, perm=[0, 2, 1, 3])
        ctx = b.op("Reshape", [ctx, merge_shape], pl)
        attn = lin(ctx, f"{n}.attention.output.dense")
        x = layer_norm(b, b.op("Add", [attn, x], pl), f"{n}.attention.output.LayerNorm", w, eps)
        h = _activation(b, lin(x, f"{n}.intermediate.dense"), shape.activation, pl)
        out = lin(h, f"{n}.output.dense")
        x = layer_norm(b, b.op("Add", [out, x], pl), f"{n}.output.LayerNorm", w, eps)
    return x


def _head(b: GraphBuilder, x: str, w: Mapping[str, np.ndarray], shape: ClassifierShape) -> str:
    """First token, then dense, tanh/ReLU, dense; float32."""
    p = "head"
    # (the builder stores constants with at least one axis: gather [0], then squeeze it)
    first = b.op("Gather", [x, b.const_i64("c.zero1", [0])], p, axis=1)
    first = b.op("Squeeze", [first, b.const_i64("c.axis1", [1])], p)
    if b.dtype != "float32":
        first = b.op("Cast", [first], p, to=TensorProto.FLOAT)

    def dense(inp: str, name: str) -> str:
        wt = b.init(f"{name}.weight_t", np.asarray(w[f"{name}.weight"], np.float32).T)
        bias = b.init(f"{name}.bias", np.asarray(w[f"{name}.bias"], np.float32))
        return b.op("Add", [b.op("MatMul", [inp, wt], p), bias], p)

    h = dense(first, "head.dense")
    h = b.op("Tanh" if shape.head_activation == "tanh" else "Relu", [h], p)
    return dense(h, "head.out")


def build_classifier_graph(
    weights: Mapping[str, np.ndarray],
    shape: ClassifierShape,
    *,
    dtype: str = "float32",
    graph_name: str = "taxmeter_imported_classifier",
) -> onnx.ModelProto:
    """The classifier graph: inputs :func:`graph_input_names`, output ``logits``."""
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be float32 or float16, not {dtype!r}")
    b = GraphBuilder(dtype=dtype)
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "seq"])
        for name in graph_input_names(shape)
    ]
    x = _encoder(b, _embeddings(b, weights, shape), weights, shape)
    logits = _head(b, x, weights, shape)
    b.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="logits"))
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", shape.num_labels])
    ]
    graph = helper.make_graph(b.nodes, graph_name, inputs, outputs, initializer=b.inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="taxmeter.judgetools",
        ir_version=8,
    )
    onnx.checker.check_model(model, full_check=False)
    return model
