"""The BERT/MiniLM sentence encoder of the default judge graph: token embeddings, the
transformer layers, then mean pooling over the attention mask and L2 normalisation
(:func:`bert_encoder`, :func:`pool_normalise`), in float32 or float16 (``GraphBuilder.dtype``;
pooling always runs in float32). :func:`random_encoder_weights` makes seeded weights of the same
shapes for tests and benchmarks.

Weights use the Hugging Face ``BertModel`` names without the ``bert.`` prefix (as in
``model.safetensors``), with PyTorch ``Linear`` layout ``[out, in]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from onnx import TensorProto

from taxmeter.judgetools.onnx_builder import GraphBuilder, layer_norm, linear

__all__ = [
    "EncoderConfig",
    "bert_encoder",
    "pool_normalise",
    "random_encoder_weights",
]

MASK_NEG = -10000.0
"""Additive attention mask for padded keys (finite, so it is safe in float16)."""
POOL_EPS = 1e-9
NORM_EPS = 1e-12


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


def bert_encoder(
    b: GraphBuilder, side: str, w: Mapping[str, np.ndarray], cfg: EncoderConfig
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
        q = linear(
            b,
            x,
            w[f"{n}.attention.self.query.weight"],
            w[f"{n}.attention.self.query.bias"],
            f"{n}.attention.self.query",
        )
        k = linear(
            b,
            x,
            w[f"{n}.attention.self.key.weight"],
            w[f"{n}.attention.self.key.bias"],
            f"{n}.attention.self.key",
        )
        v = linear(
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
        attn = linear(
            b,
            ctx,
            w[f"{n}.attention.output.dense.weight"],
            w[f"{n}.attention.output.dense.bias"],
            f"{n}.attention.output.dense",
        )
        x = layer_norm(
            b, b.op("Add", [attn, x], pl), f"{n}.attention.output.LayerNorm", w, cfg.layer_norm_eps
        )
        h = linear(
            b,
            x,
            w[f"{n}.intermediate.dense.weight"],
            w[f"{n}.intermediate.dense.bias"],
            f"{n}.intermediate.dense",
        )
        # GELU (erf form): 0.5 * h * (1 + erf(h / sqrt(2)))
        erf = b.op("Erf", [b.op("Div", [h, sqrt2], pl)], pl)
        h = b.op("Mul", [b.op("Mul", [h, half], pl), b.op("Add", [erf, one], pl)], pl)
        out = linear(
            b, h, w[f"{n}.output.dense.weight"], w[f"{n}.output.dense.bias"], f"{n}.output.dense"
        )
        x = layer_norm(b, b.op("Add", [out, x], pl), f"{n}.output.LayerNorm", w, cfg.layer_norm_eps)
    return x, maskf


def pool_normalise(b: GraphBuilder, side: str, x: str, maskf: str) -> str:
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
