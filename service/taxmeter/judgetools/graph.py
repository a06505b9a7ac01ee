"""The ONNX graph of a BERT/MiniLM sentence encoder with fused judge heads, built with
``onnx.helper`` from plain NumPy weights.

The encoder itself (``EncoderConfig``, the layers, pooling, ``random_encoder_weights``) is in
``encoder_graph``, the ONNX builder in ``onnx_builder``, the lexicon features in ``lexicon``;
this module re-exports the names its callers use.

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

Weights: see ``encoder_graph`` (Hugging Face ``BertModel`` names, PyTorch layout).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from taxmeter.judgetools.encoder_graph import (
    EncoderConfig,
    bert_encoder,
    pool_normalise,
    random_encoder_weights,
)
from taxmeter.judgetools.lexicon import (
    Lexicon,
    lexicon_hits_graph,
    lexicon_hits_numpy,
    opening_mask_graph,
)
from taxmeter.judgetools.onnx_builder import OPSET, GraphBuilder

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

DUAL_INPUTS: tuple[str, ...] = (
    "prompt_input_ids",
    "prompt_attention_mask",
    "prompt_token_type_ids",
    "response_input_ids",
    "response_attention_mask",
    "response_token_type_ids",
)


@dataclass(frozen=True, slots=True)
class DenseLayer:
    """``y = x @ weight + bias`` with ``weight`` laid out ``[in, out]``."""

    weight: np.ndarray
    bias: np.ndarray


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


def _features(b: GraphBuilder, ep: str, er: str, response_mask: str) -> str:
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
    b = GraphBuilder(dtype=dtype)
    inputs = [
        helper.make_tensor_value_info(
            name, TensorProto.INT64, ["batch", f"{name.split('_')[0]}_seq"]
        )
        for name in DUAL_INPUTS
    ]
    x_p, m_p = bert_encoder(b, "prompt", weights, cfg)
    x_r, m_r = bert_encoder(b, "response", weights, cfg)
    e_p = pool_normalise(b, "prompt", x_p, m_p)
    e_r = pool_normalise(b, "response", x_r, m_r)
    outputs = []
    b.nodes.append(helper.make_node("Identity", [e_r], ["embedding"], name="embedding"))
    feats = ""
    if heads or features_output:
        feats = _features(b, e_p, e_r, "response_attention_mask")
        if lexicon is not None:
            e_o = pool_normalise(b, "opening", x_r, opening_mask_graph(b, m_r, lexicon))
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
