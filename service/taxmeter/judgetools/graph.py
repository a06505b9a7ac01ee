"""The ONNX graph of a BERT/MiniLM sentence encoder with fused judge heads, built with
``onnx.helper`` from plain NumPy weights.

This module imports nothing from taxmeter (only the standard library, NumPy and ``onnx``):
``bench/judges_gpu.py`` loads it by file path on machines without the package's dependencies.

Graph (kind ``dual``, opset 17, standard ops only)::

    prompt_*   ─▶ encoder ─▶ mean pool (attention mask) ─▶ L2 norm ─▶ e_p ─┐
    response_* ─▶ encoder ─▶ mean pool (attention mask) ─▶ L2 norm ─▶ e_r ─┼▶ features ─▶ heads
                                                                            │   ─▶ logits [B, H]
                                                          embedding [B, D] ◀┘

The two encoder branches share one set of initializers. ``features`` is
``[e_r, e_p, e_p*e_r, |e_p-e_r|, cos(e_p, e_r), log(n_r)]`` with ``n_r`` the response's token
count (the sum of its attention mask); see :func:`features_numpy`, the same thing in NumPy,
which training uses. The heads are dense layers with ReLU between them, run in float32.

``dtype="float16"`` builds the encoder in half precision: initializers and encoder compute are
float16, inputs stay int64 and pooling, normalisation and heads run in float32 (Cast at the
ends), so the outputs are float32 either way.

Weights use the Hugging Face ``BertModel`` names without the ``bert.`` prefix (as in
``model.safetensors``), with PyTorch ``Linear`` layout ``[out, in]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from taxmeter.judgetools.lexicon import (
    Lexicon,
    lexicon_hits_graph,
    lexicon_hits_numpy,
    opening_mask_graph,
)

__all__ = [
    "DUAL_INPUTS",
    "OPSET",
    "DenseLayer",
    "EncoderConfig",
    "Lexicon",
    "build_judge_graph",
    "feature_dim",
    "features_numpy",
    "lexicon_hits_numpy",
    "random_encoder_weights",
]

OPSET = 17
MASK_NEG = -10000.0
"""Additive attention mask for padded keys (finite, so it is safe in float16)."""
POOL_EPS = 1e-9
NORM_EPS = 1e-12

DUAL_INPUTS: tuple[str, ...] = (
    "prompt_input_ids",
    "prompt_attention_mask",
    "prompt_token_type_ids",
    "response_input_ids",
    "response_attention_mask",
    "response_token_type_ids",
)


@dataclass(frozen=True, slots=True)
class EncoderConfig:
    """Shape of a BERT encoder (defaults: MiniLM-L6-H384, as in ``all-MiniLM-L6-v2``)."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 12
    intermediate_size: int = 1536
    max_position: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads


@dataclass(frozen=True, slots=True)
class DenseLayer:
    """``y = x @ weight + bias`` with ``weight`` laid out ``[in, out]``."""

    weight: np.ndarray
    bias: np.ndarray


@dataclass(slots=True)
class _Builder:
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


def _linear(b: _Builder, x: str, w: np.ndarray, bias: np.ndarray, name: str) -> str:
    """``x @ w.T + bias`` for a PyTorch-layout ``w`` ``[out, in]``."""
    wt = b.weight(f"{name}.weight_t", np.asarray(w).T)
    bb = b.weight(f"{name}.bias", bias)
    return b.op("Add", [b.op("MatMul", [x, wt], name), bb], name)


def _layer_norm(b: _Builder, x: str, name: str, w: Mapping[str, np.ndarray], eps: float) -> str:
    scale = b.weight(f"{name}.weight", w[f"{name}.weight"])
    bias = b.weight(f"{name}.bias", w[f"{name}.bias"])
    return b.op("LayerNormalization", [x, scale, bias], name, axis=-1, epsilon=eps)


def _encoder(
    b: _Builder, side: str, w: Mapping[str, np.ndarray], cfg: EncoderConfig
) -> tuple[str, str]:
    """Token states ``[B, S, D]`` (in ``b.dtype``) and the float mask ``[B, S]`` (``b.dtype``)."""
    ids, mask, types = f"{side}_input_ids", f"{side}_attention_mask", f"{side}_token_type_ids"
    p = f"{side}/embeddings"
    word = b.op(
        "Gather",
        [
            b.weight("embeddings.word_embeddings.weight", w["embeddings.word_embeddings.weight"]),
            ids,
        ],
        p,
    )
    # Positions 0..S-1: the first S rows of the position table (Slice, [S, D]).
    seq_len = b.op("Shape", [ids], p, start=1, end=2)
    pos = b.op(
        "Slice",
        [
            b.weight(
                "embeddings.position_embeddings.weight", w["embeddings.position_embeddings.weight"]
            ),
            b.const_i64("c.zero1", [0]),
            seq_len,
            b.const_i64("c.zero1", [0]),
        ],
        p,
    )
    typ = b.op(
        "Gather",
        [
            b.weight(
                "embeddings.token_type_embeddings.weight",
                w["embeddings.token_type_embeddings.weight"],
            ),
            types,
        ],
        p,
    )
    x = b.op("Add", [b.op("Add", [word, pos], p), typ], p)
    x = b.op(
        "LayerNormalization",
        [
            x,
            b.weight("embeddings.LayerNorm.weight", w["embeddings.LayerNorm.weight"]),
            b.weight("embeddings.LayerNorm.bias", w["embeddings.LayerNorm.bias"]),
        ],
        p,
        axis=-1,
        epsilon=cfg.layer_norm_eps,
    )

    pm = f"{side}/mask"
    maskf = b.op("Cast", [mask], pm, to=b.onnx_dtype)
    # (1 - mask) * MASK_NEG, shaped [B, 1, 1, S] to broadcast over heads and queries.
    additive = b.op(
        "Mul",
        [b.op("Sub", [b.const_f("c.one", 1.0), maskf], pm), b.const_f("c.mask_neg", MASK_NEG)],
        pm,
    )
    additive = b.op("Unsqueeze", [additive, b.const_i64("c.axes12", [1, 2])], pm)

    heads, dh = cfg.num_heads, cfg.head_dim
    split_shape = b.const_i64("c.split_heads", [0, 0, heads, dh])
    merge_shape = b.const_i64("c.merge_heads", [0, 0, cfg.hidden_size])
    scale = b.const_f("c.attn_scale", 1.0 / math.sqrt(dh))
    sqrt2 = b.const_f("c.sqrt2", math.sqrt(2.0))
    half = b.const_f("c.half", 0.5)
    one = b.const_f("c.one", 1.0)
    for i in range(cfg.num_layers):
        n = f"encoder.layer.{i}"
        pl = f"{side}/layer{i}"
        q = _linear(
            b,
            x,
            w[f"{n}.attention.self.query.weight"],
            w[f"{n}.attention.self.query.bias"],
            f"{n}.attention.self.query",
        )
        k = _linear(
            b,
            x,
            w[f"{n}.attention.self.key.weight"],
            w[f"{n}.attention.self.key.bias"],
            f"{n}.attention.self.key",
        )
        v = _linear(
            b,
            x,
            w[f"{n}.attention.self.value.weight"],
            w[f"{n}.attention.self.value.bias"],
            f"{n}.attention.self.value",
        )
        q = b.op("Transpose", [b.op("Reshape", [q, split_shape], pl)], pl, perm=[0, 2, 1, 3])
        k = b.op("Transpose", [b.op("Reshape", [k, split_shape], pl)], pl, perm=[0, 2, 3, 1])
        v = b.op("Transpose", [b.op("Reshape", [v, split_shape], pl)], pl, perm=[0, 2, 1, 3])
        scores = b.op("Mul", [b.op("MatMul", [q, k], pl), scale], pl)
        probs = b.op("Softmax", [b.op("Add", [scores, additive], pl)], pl, axis=-1)
        ctx = b.op("Transpose", [b.op("MatMul", [probs, v], pl)], pl, perm=[0, 2, 1, 3])
        ctx = b.op("Reshape", [ctx, merge_shape], pl)
        attn = _linear(
            b,
            ctx,
            w[f"{n}.attention.output.dense.weight"],
            w[f"{n}.attention.output.dense.bias"],
            f"{n}.attention.output.dense",
        )
        x = _layer_norm(
            b, b.op("Add", [attn, x], pl), f"{n}.attention.output.LayerNorm", w, cfg.layer_norm_eps
        )
        h = _linear(
            b,
            x,
            w[f"{n}.intermediate.dense.weight"],
            w[f"{n}.intermediate.dense.bias"],
            f"{n}.intermediate.dense",
        )
        # GELU (erf form): 0.5 * h * (1 + erf(h / sqrt(2)))
        erf = b.op("Erf", [b.op("Div", [h, sqrt2], pl)], pl)
        h = b.op("Mul", [b.op("Mul", [h, half], pl), b.op("Add", [erf, one], pl)], pl)
        out = _linear(
            b, h, w[f"{n}.output.dense.weight"], w[f"{n}.output.dense.bias"], f"{n}.output.dense"
        )
        x = _layer_norm(
            b, b.op("Add", [out, x], pl), f"{n}.output.LayerNorm", w, cfg.layer_norm_eps
        )
    return x, maskf


def _pool_normalise(b: _Builder, side: str, x: str, maskf: str) -> str:
    """Mean over unmasked tokens, then L2 normalisation; float32 ``[B, D]``."""
    p = f"{side}/pool"
    if b.dtype != "float32":
        x = b.op("Cast", [x], p, to=TensorProto.FLOAT)
        maskf = b.op("Cast", [maskf], p, to=TensorProto.FLOAT)
    m3 = b.op("Unsqueeze", [maskf, b.const_i64("c.axes_last", [-1])], p)
    axis1 = b.const_i64("c.axis1", [1])
    summed = b.op("ReduceSum", [b.op("Mul", [x, m3], p), axis1], p, keepdims=0)
    count = b.op("ReduceSum", [maskf, axis1], p, keepdims=1)
    count = b.op("Max", [count, b.const_f("c.pool_eps", POOL_EPS, "float32")], p)
    mean = b.op("Div", [summed, count], p)
    norm = b.op("ReduceL2", [mean], p, axes=[1], keepdims=1)  # axes attr before opset 18
    norm = b.op("Max", [norm, b.const_f("c.norm_eps", NORM_EPS, "float32")], p)
    return b.op("Div", [mean, norm], p)


def feature_dim(hidden_size: int, lexicon_size: int | None = None) -> int:
    """Width of the head features for an encoder of ``hidden_size`` (with a lexicon of
    ``lexicon_size`` phrases: the opening pool and two hit columns per phrase follow)."""
    base = 4 * hidden_size + 2
    return base if lexicon_size is None else base + hidden_size + 2 * lexicon_size


def features_numpy(
    e_prompt: np.ndarray, e_response: np.ndarray, response_tokens: np.ndarray
) -> np.ndarray:
    """Head features ``[e_r, e_p, e_p*e_r, |e_p-e_r|, cos, log(n_r)]`` for unit-norm embeddings
    ``[N, D]`` and the responses' token counts ``[N]`` (attention-mask sums, >= 1)."""
    cos = np.sum(e_prompt * e_response, axis=1, keepdims=True)
    log_len = np.log(np.maximum(np.asarray(response_tokens, dtype=np.float64), 1.0))[:, None]
    return np.concatenate(
        [e_response, e_prompt, e_prompt * e_response, np.abs(e_prompt - e_response), cos, log_len],
        axis=1,
    )


def _features(b: _Builder, ep: str, er: str, response_mask: str) -> str:
    p = "features"
    axis1 = b.const_i64("c.axis1", [1])
    prod = b.op("Mul", [ep, er], p)
    cos = b.op("ReduceSum", [prod, axis1], p, keepdims=1)
    diff = b.op("Abs", [b.op("Sub", [ep, er], p)], p)
    tokens = b.op(
        "ReduceSum", [b.op("Cast", [response_mask], p, to=TensorProto.FLOAT), axis1], p, keepdims=1
    )
    log_len = b.op("Log", [b.op("Max", [tokens, b.const_f("c.one_f32", 1.0, "float32")], p)], p)
    return b.op("Concat", [er, ep, prod, diff, cos, log_len], p, axis=1)


def build_judge_graph(
    weights: Mapping[str, np.ndarray],
    heads: Sequence[DenseLayer],
    *,
    config: EncoderConfig | None = None,
    dtype: str = "float32",
    prompt_embedding_output: bool = False,
    lexicon: Lexicon | None = None,
    features_output: bool = False,
    graph_name: str = "taxmeter_default_judge",
) -> onnx.ModelProto:
    """The dual-encoder judge graph.

    ``heads`` is the head network on the features: dense layers, ReLU between them, the last
    one's width is the number of logits (empty: no ``logits`` output, encoder only).
    ``prompt_embedding_output`` adds a ``prompt_embedding`` output (used by training).
    ``lexicon`` appends the opening pool and the lexicon hits to the features (see
    :class:`Lexicon`); ``features_output`` adds a ``features`` output (used by training).
    """
    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be float32 or float16, not {dtype!r}")
    cfg = config or EncoderConfig()
    b = _Builder(dtype=dtype)
    inputs = [
        helper.make_tensor_value_info(
            name, TensorProto.INT64, ["batch", f"{name.split('_')[0]}_seq"]
        )
        for name in DUAL_INPUTS
    ]
    x_p, m_p = _encoder(b, "prompt", weights, cfg)
    x_r, m_r = _encoder(b, "response", weights, cfg)
    e_p = _pool_normalise(b, "prompt", x_p, m_p)
    e_r = _pool_normalise(b, "response", x_r, m_r)
    outputs = []
    b.nodes.append(helper.make_node("Identity", [e_r], ["embedding"], name="embedding"))
    feats = ""
    if heads or features_output:
        feats = _features(b, e_p, e_r, "response_attention_mask")
        if lexicon is not None:
            e_o = _pool_normalise(b, "opening", x_r, opening_mask_graph(b, m_r, lexicon))
            feats = b.op("Concat", [feats, e_o, lexicon_hits_graph(b, lexicon)], "features", axis=1)
    if heads:
        h = feats
        for i, layer in enumerate(heads):
            wname = b.init(f"heads.{i}.weight", np.asarray(layer.weight, dtype=np.float32))
            bname = b.init(f"heads.{i}.bias", np.asarray(layer.bias, dtype=np.float32))
            h = b.op("Add", [b.op("MatMul", [h, wname], f"heads/{i}"), bname], f"heads/{i}")
            if i < len(heads) - 1:
                h = b.op("Relu", [h], f"heads/{i}")
        b.nodes.append(helper.make_node("Identity", [h], ["logits"], name="logits"))
        n_out = int(np.asarray(heads[-1].weight).shape[1])
        outputs.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n_out]))
    outputs.append(
        helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", cfg.hidden_size])
    )
    if features_output:
        b.nodes.append(helper.make_node("Identity", [feats], ["features"], name="features"))
        width = feature_dim(cfg.hidden_size, None if lexicon is None else lexicon.size)
        outputs.append(
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", width])
        )
    if prompt_embedding_output:
        b.nodes.append(
            helper.make_node("Identity", [e_p], ["prompt_embedding"], name="prompt_embedding")
        )
        outputs.append(
            helper.make_tensor_value_info(
                "prompt_embedding", TensorProto.FLOAT, ["batch", cfg.hidden_size]
            )
        )
    graph = helper.make_graph(b.nodes, graph_name, inputs, outputs, initializer=b.inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="taxmeter.judgetools",
        ir_version=8,
    )
    onnx.checker.check_model(model, full_check=False)
    return model


def random_encoder_weights(config: EncoderConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random weights with the shapes (and roughly the scales) of a trained encoder."""
    rng = np.random.default_rng(seed)
    d, f = config.hidden_size, config.intermediate_size

    def normal(*shape: int, std: float = 0.02) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    w: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": normal(config.vocab_size, d, std=0.05),
        "embeddings.position_embeddings.weight": normal(config.max_position, d, std=0.05),
        "embeddings.token_type_embeddings.weight": normal(config.type_vocab_size, d, std=0.05),
        "embeddings.LayerNorm.weight": 1.0 + normal(d, std=0.05),
        "embeddings.LayerNorm.bias": normal(d),
    }
    for i in range(config.num_layers):
        n = f"encoder.layer.{i}"
        for part in ("query", "key", "value"):
            w[f"{n}.attention.self.{part}.weight"] = normal(d, d, std=0.08)
            w[f"{n}.attention.self.{part}.bias"] = normal(d)
        w[f"{n}.attention.output.dense.weight"] = normal(d, d, std=0.05)
        w[f"{n}.attention.output.dense.bias"] = normal(d)
        w[f"{n}.attention.output.LayerNorm.weight"] = 1.0 + normal(d, std=0.05)
        w[f"{n}.attention.output.LayerNorm.bias"] = normal(d)
        w[f"{n}.intermediate.dense.weight"] = normal(f, d, std=0.05)
        w[f"{n}.intermediate.dense.bias"] = normal(f)
        w[f"{n}.output.dense.weight"] = normal(d, f, std=0.03)
        w[f"{n}.output.dense.bias"] = normal(d)
        w[f"{n}.output.LayerNorm.weight"] = 1.0 + normal(d, std=0.05)
        w[f"{n}.output.LayerNorm.bias"] = normal(d)
    return w
