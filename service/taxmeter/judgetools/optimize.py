"""``taxmeter judges optimize DIR [--judge NAME]``: faster variants of a judge's graph, checked
against the plain graph.

For each judge folder, from its plain fp32 ``model`` (kept as the reference):

- ``opt`` (``model.opt.onnx``): ONNX Runtime's transformer optimizer (``model_type="bert"``)
  with fused ``Attention``, ``SkipLayerNormalization`` and ``BiasGelu``. Before it runs, two
  equivalent rewrites put our builder's encoder into the shape the optimizer's BERT patterns
  expect (see :func:`canonicalise_for_fusion`). fp32, for the CPU.
- ``opt_fp16`` (``model.opt.fp16.onnx``): the same graph with the encoder in float16 and
  everything after it (pooling, normalisation, features, heads) kept in float32, inputs and
  outputs unchanged. For CUDA.
- ``int8`` (``model.int8.onnx``): ``quantize_dynamic`` of the ``opt`` graph's encoder
  (``MatMul`` and ``Attention`` weights in int8; embeddings and heads stay fp32). For the CPU.

Every variant is run next to the plain graph on :data:`PARITY_TEXTS` through the judge's own
tokenizer and heads: ``opt`` must match within :data:`OPT_MAX_ABS` / :data:`OPT_MIN_COSINE`
or nothing is written; ``opt_fp16`` is checked on CUDA when this machine has it (looser:
:data:`FP16_MAX_ABS`), else on the CPU EP (the conversion, not CUDA's kernels); the ``int8``
cost (score differences, decisions that flip) is reported. The manifest gets the
``variants`` and ``provider_variants`` (which variant each provider runs by default: ``cpu``
→ ``opt``; ``cuda`` → ``opt_fp16`` only when its parity was checked on CUDA here).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import onnxruntime as ort
import yaml
from onnx import helper, numpy_helper

from taxmeter.judges.manifest import JudgeManifest, load_manifest
from taxmeter.judges.tokenize import JudgeTokenizer, load_tokenizer
from taxmeter.types import JudgeInput

__all__ = [
    "FP16_MAX_ABS",
    "OPT_MAX_ABS",
    "OPT_MIN_COSINE",
    "PARITY_TEXTS",
    "VARIANT_FILES",
    "OptimizeError",
    "OptimizeReport",
    "Parity",
    "canonicalise_for_fusion",
    "compare_outputs",
    "fp16_encoder",
    "fused_graph",
    "optimize_judge",
    "optimize_repository",
    "quantize_int8",
    "register",
    "share_initializers",
]

VARIANT_FILES: Mapping[str, str] = {
    "opt": "model.opt.onnx",
    "opt_fp16": "model.opt.fp16.onnx",
    "int8": "model.int8.onnx",
}
OPT_MAX_ABS = 1e-3
"""Largest difference allowed between a plain and an ``opt`` output value (logits, embedding)."""
OPT_MIN_COSINE = 0.99999
"""Smallest cosine allowed between a plain and an ``opt`` output row."""
FP16_MAX_ABS = 0.05
FP16_MIN_COSINE = 0.999
FUSED_OPS = ("Attention", "MultiHeadAttention", "SkipLayerNormalization", "BiasGelu",
             "FastGelu", "Gelu", "EmbedLayerNormalization", "LayerNormalization")

_PROMPTS = (
    "How do I bake bread at home?",
    "How do I pick a lock?",
    "What is the capital of France?",
    "Write a short story about a dragon who learns to read.",
    "Explain how vaccines train the immune system.",
    "How can I get into my neighbour's wifi without the password?",
    "Summarise the causes of the First World War in three sentences.",
    "What household chemicals should never be mixed?",
)
_RESPONSES = (
    "Mix flour, water, salt and yeast, let the dough rise for two hours, shape it, then bake "
    "it at 220 degrees for about 35 minutes until the crust is brown.",
    "I'm sorry, but I can't help with that request.",
    "Paris. It has been the capital since the tenth century, apart from a few short periods.",
    "I cannot help with that. If you have another question, I am happy to assist.",
)
PARITY_TEXTS: tuple[JudgeInput, ...] = tuple(
    JudgeInput(prompt=p, response=r) for p in _PROMPTS for r in _RESPONSES
)
"""Fixed (prompt, response) pairs every variant is compared on (8 prompts x 4 answers)."""


class OptimizeError(Exception):
    """A judge could not be optimised (names the judge and why)."""


@dataclass(frozen=True, slots=True)
class Parity:
    """A variant's outputs next to the plain graph's, on :data:`PARITY_TEXTS`."""

    max_abs: float
    """Largest difference of any float output value."""
    min_cosine: float
    """Smallest cosine between plain and variant rows of any ``[batch, n>1]`` output."""
    max_score_diff: float
    """Largest difference of a calibrated head score."""
    flipped: int
    """Head decisions (score >= threshold) that differ from the plain graph's."""
    decisions: int
    """Head decisions compared (texts x heads)."""

    def summary(self) -> str:
        return (f"max |diff| {self.max_abs:.2e}, min cosine {self.min_cosine:.6f}, "
                f"max score diff {self.max_score_diff:.4f}, "
                f"{self.flipped}/{self.decisions} decisions flipped")


@dataclass(slots=True)
class OptimizeReport:
    judge: str
    fused: dict[str, int] = field(default_factory=dict)
    rewrites: dict[str, int] = field(default_factory=dict)
    variants: dict[str, str] = field(default_factory=dict)
    parity: dict[str, Parity] = field(default_factory=dict)
    provider_variants: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        fused = ", ".join(f"{k} {v}" for k, v in self.fused.items() if v) or "nothing"
        lines = [f"judge {self.judge}: fused {fused}"]
        for name, file in self.variants.items():
            p = self.parity.get(name)
            lines.append(f"  {name}: {file}" + (f" ({p.summary()})" if p else " (not checked)"))
        chosen = ", ".join(f"{k} -> {v}" for k, v in self.provider_variants.items())
        lines.append(f"  provider_variants: {chosen or 'none'}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return lines


# -- graph rewrites -------------------------------------------------------------------------


def _const(inits: Mapping[str, onnx.TensorProto], name: str) -> np.ndarray | None:
    init = inits.get(name)
    return None if init is None else numpy_helper.to_array(init)


def canonicalise_for_fusion(model: onnx.ModelProto) -> dict[str, int]:
    """Rewrite, in place, two spellings of a BERT encoder that the optimizer's attention
    pattern does not recognise into equivalent ones it does; returns how many of each.

    - ``mask``: the additive mask built as ``Unsqueeze(Mul(Sub(1, Cast(mask)), -10000),
      [1, 2])`` (cast, then unsqueeze) becomes ``Mul(Sub(1, Cast(Unsqueeze(Unsqueeze(mask,
      1), 1))), -10000)`` (Hugging Face's order; the optimizer only matches that one).
    - ``scale``: ``Softmax(Add(Mul(QK, c), mask))`` becomes ``Softmax(Add(Div(QK, 1/c),
      mask))``: with the mask also a ``Mul``, the optimizer takes the wrong ``Mul`` as the
      scaling and gives up.
    """
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    counts = {"mask": 0, "scale": 0}
    nodes: list[onnx.NodeProto] = []
    axis1 = "taxmeter.opt.axis1"
    for node in g.node:
        rewritten = _rewrite_mask(node, producer, inits, axis1)
        if rewritten is None:
            nodes.append(node)
            continue
        nodes.extend(rewritten)
        counts["mask"] += 1
    if counts["mask"] and axis1 not in inits:
        g.initializer.append(numpy_helper.from_array(np.asarray([1], dtype=np.int64), axis1))
    producer = {o: n for n in nodes for o in n.output}
    for node in nodes:
        if _rewrite_scale(node, producer, g, inits):
            counts["scale"] += 1
    del g.node[:]
    g.node.extend(nodes)
    return counts


def _rewrite_mask(
    node: onnx.NodeProto,
    producer: Mapping[str, onnx.NodeProto],
    inits: Mapping[str, onnx.TensorProto],
    axis1: str,
) -> list[onnx.NodeProto] | None:
    if node.op_type != "Unsqueeze" or len(node.input) != 2:
        return None
    axes = _const(inits, node.input[1])
    if axes is None or axes.tolist() != [1, 2]:
        return None
    mul = producer.get(node.input[0])
    if mul is None or mul.op_type != "Mul":
        return None
    for sub_at in (0, 1):
        sub = producer.get(mul.input[sub_at])
        if sub is not None and sub.op_type == "Sub":
            neg = mul.input[1 - sub_at]
            break
    else:
        return None
    value = _const(inits, neg)
    one = _const(inits, sub.input[0])
    cast = producer.get(sub.input[1])
    if (value is None or value.size != 1 or value.item() >= 0 or one is None or one.size != 1
            or one.item() != 1.0 or cast is None or cast.op_type != "Cast"):
        return None
    to = next(a.i for a in cast.attribute if a.name == "to")
    p = f"{node.name or node.output[0]}/canonical"
    return [
        helper.make_node("Unsqueeze", [cast.input[0], axis1], [f"{p}/u1"], name=f"{p}/u1"),
        helper.make_node("Unsqueeze", [f"{p}/u1", axis1], [f"{p}/u2"], name=f"{p}/u2"),
        helper.make_node("Cast", [f"{p}/u2"], [f"{p}/cast"], name=f"{p}/cast", to=to),
        helper.make_node("Sub", [sub.input[0], f"{p}/cast"], [f"{p}/sub"], name=f"{p}/sub"),
        helper.make_node("Mul", [f"{p}/sub", neg], [node.output[0]], name=f"{p}/mul"),
    ]


def _rewrite_scale(
    node: onnx.NodeProto,
    producer: Mapping[str, onnx.NodeProto],
    g: onnx.GraphProto,
    inits: dict[str, onnx.TensorProto],
) -> bool:
    if node.op_type != "Softmax":
        return False
    add = producer.get(node.input[0])
    if add is None or add.op_type != "Add":
        return False
    mul = producer.get(add.input[0])
    if mul is None or mul.op_type != "Mul" or len(mul.input) != 2:
        return False
    scale = _const(inits, mul.input[1])
    matmul = producer.get(mul.input[0])
    if scale is None or scale.size != 1 or matmul is None or matmul.op_type != "MatMul":
        return False
    name = f"{mul.input[1]}/reciprocal"
    if name not in inits:
        inits[name] = numpy_helper.from_array((1.0 / scale).astype(scale.dtype), name)
        g.initializer.append(inits[name])
    mul.op_type = "Div"
    mul.input[1] = name
    return True


def share_initializers(model: onnx.ModelProto) -> int:
    """Point every use of a byte-identical initializer at one copy; returns how many copies
    were dropped. (The fusion packs Q, K and V weights per Attention node: a dual encoder's two
    sides would otherwise carry two copies of the same packed weights.)"""
    first: dict[tuple[int, tuple[int, ...], bytes], str] = {}
    alias: dict[str, str] = {}
    kept: list[onnx.TensorProto] = []
    for init in model.graph.initializer:
        key = (init.data_type, tuple(init.dims), numpy_helper.to_array(init).tobytes())
        if key in first:
            alias[init.name] = first[key]
        else:
            first[key] = init.name
            kept.append(init)
    if not alias:
        return 0
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name in alias:
                node.input[i] = alias[name]
    return len(alias)


def _attention_shape(model: onnx.ModelProto) -> tuple[int, int]:
    """(num_heads, hidden_size) from the first ``Reshape`` to ``[0, 0, heads, head_dim]``
    followed by a ``Transpose``; ``(0, 0)`` lets the optimizer find them itself."""
    inits = {i.name: i for i in model.graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    for n in model.graph.node:
        if n.op_type != "Reshape" or len(n.input) != 2:
            continue
        shape = _const(inits, n.input[1])
        if shape is None or shape.size != 4 or min(int(shape[2]), int(shape[3])) <= 0:
            continue
        if any(c.op_type == "Transpose" for c in consumers.get(n.output[0], [])):
            return int(shape[2]), int(shape[2]) * int(shape[3])
    return 0, 0


@contextlib.contextmanager
def _quiet_optimizer() -> Iterator[None]:
    """The optimizer logs at WARNING for every graph not exported by PyTorch."""
    log = logging.getLogger("onnxruntime.transformers")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def fused_graph(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, int], dict[str, int]]:
    """The ``opt`` graph of a plain fp32 judge graph: (graph, fused op counts, rewrites)."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    work = onnx.ModelProto.FromString(model.SerializeToString())
    rewrites = canonicalise_for_fusion(work)
    heads, hidden = _attention_shape(work)
    options = FusionOptions("bert")
    with _quiet_optimizer():
        optimized = optimize_model(work, model_type="bert", num_heads=heads, hidden_size=hidden,
                                   optimization_options=options, opt_level=0, use_gpu=False)
    out: onnx.ModelProto = optimized.model
    rewrites["shared_initializers"] = share_initializers(out)
    if not any(o.domain == "com.microsoft" for o in out.opset_import):
        out.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    counts = {op: sum(1 for n in out.graph.node if n.op_type == op) for op in FUSED_OPS}
    return out, counts, rewrites


def _encoder_nodes(model: onnx.ModelProto) -> set[str]:
    """Names of the nodes up to the last fused transformer op (the encoder): every node from
    which a fused op can be reached, and the fused ops themselves."""
    graph = model.graph
    producer = {o: n for n in graph.node for o in n.output}
    todo = [n for n in graph.node if n.op_type in FUSED_OPS]
    seen: set[str] = set()
    while todo:
        node = todo.pop()
        if node.name in seen:
            continue
        seen.add(node.name)
        todo.extend(producer[i] for i in node.input if i in producer)
    return seen


def _name_nodes(model: onnx.ModelProto) -> None:
    used: set[str] = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in used:
            node.name = f"{node.op_type}_taxmeter_{i}"
        used.add(node.name)


def fp16_encoder(opt: onnx.ModelProto) -> onnx.ModelProto:
    """The ``opt_fp16`` graph: the encoder of an ``opt`` graph in float16; pooling,
    normalisation, features and heads stay in float32 (ONNX Runtime's converter inserts the
    casts), and graph inputs and outputs keep their types."""
    from onnxruntime.transformers.onnx_model import OnnxModel

    work = onnx.ModelProto.FromString(opt.SerializeToString())
    _name_nodes(work)
    encoder = _encoder_nodes(work)
    if not encoder:
        raise ValueError("no fused transformer op in the graph: nothing to run in float16")
    keep = [n.name for n in work.graph.node if n.name not in encoder]
    wrapped = OnnxModel(work)
    with _quiet_optimizer():
        wrapped.convert_float_to_float16(keep_io_types=True, node_block_list=keep,
                                         use_symbolic_shape_infer=True)
    result: onnx.ModelProto = wrapped.model
    # the converter adds the same Cast twice for a Cast kept in float32 with two consumers
    unique: dict[bytes, onnx.NodeProto] = {}
    for node in result.graph.node:
        unique.setdefault(node.SerializeToString(deterministic=True), node)
    if len(unique) != len(result.graph.node):
        kept = list(unique.values())
        del result.graph.node[:]
        result.graph.node.extend(kept)
    outputs = [o for n in result.graph.node for o in n.output]
    if len(outputs) != len(set(outputs)):
        raise ValueError("the float16 conversion produced a tensor twice")
    return result


def quantize_int8(source: Path, dest: Path) -> None:
    """``dest`` = dynamic int8 quantization of ``source``'s encoder (``MatMul`` and
    ``Attention`` weights, signed, one scale per output channel; activations quantized per
    batch at run time). The embedding tables and every node after the encoder stay float32.
    Per-channel scales: on the default judge, per-tensor ones gave embeddings at cosine 0.91
    of fp32, per-channel 0.98, at the same speed."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(source))
    _name_nodes(model)
    encoder = _encoder_nodes(model)
    exclude = [n.name for n in model.graph.node if n.name not in encoder]
    with tempfile.TemporaryDirectory(prefix="taxmeter-int8-") as tmp:
        named = Path(tmp) / "named.onnx"
        onnx.save(model, str(named))
        with _quiet_optimizer():
            quantize_dynamic(named, dest, weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul", "Attention"],
                             nodes_to_exclude=exclude,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


# -- parity ----------------------------------------------------------------------------------


def _session(model: bytes | Path, provider: Literal["cpu", "cuda"]) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 4 if provider == "cuda" else 3
    threads = min(4, os.cpu_count() or 1)
    so.intra_op_num_threads = threads
    providers = (["CUDAExecutionProvider", "CPUExecutionProvider"] if provider == "cuda"
                 else ["CPUExecutionProvider"])
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, so, providers=providers)


def _feeds(session: ort.InferenceSession, tokenizer: JudgeTokenizer,
           manifest: JudgeManifest, items: Sequence[JudgeInput]) -> dict[str, np.ndarray]:
    by_role = tokenizer.encode(items)
    mapping = dict(manifest.inputs or {})
    names = {i.name for i in session.get_inputs()}
    feeds = {mapping.get(role, role): value for role, value in by_role.items()}
    return {k: v for k, v in feeds.items() if k in names}


def _run(session: ort.InferenceSession, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, dict(feeds)), strict=True))


def compare_outputs(manifest: JudgeManifest, plain: Mapping[str, np.ndarray],
                    other: Mapping[str, np.ndarray]) -> Parity:
    """``other``'s outputs (and head scores, decisions) next to ``plain``'s."""
    max_abs, min_cos = 0.0, 1.0
    for name, a in plain.items():
        if not np.issubdtype(a.dtype, np.floating):
            continue
        x = np.asarray(a, dtype=np.float64)
        y = np.asarray(other[name], dtype=np.float64)
        max_abs = max(max_abs, float(np.max(np.abs(x - y))) if x.size else 0.0)
        if x.ndim == 2 and x.shape[1] > 1:
            den = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
            cos = np.sum(x * y, axis=1) / np.maximum(den, 1e-30)
            min_cos = min(min_cos, float(np.min(cos)))
    score_diff, flipped, decisions = 0.0, 0, 0
    for head in manifest.heads:
        s_plain = head.scores(plain[head.output])
        s_other = head.scores(other[head.output])
        score_diff = max(score_diff, float(np.max(np.abs(s_plain - s_other))))
        flipped += int(np.sum((s_plain >= head.threshold) != (s_other >= head.threshold)))
        decisions += int(s_plain.shape[0])
    return Parity(max_abs, min_cos, score_diff, flipped, decisions)


def _parity(manifest: JudgeManifest, tokenizer: JudgeTokenizer, reference: ort.InferenceSession,
            variant: ort.InferenceSession, texts: Sequence[JudgeInput]) -> Parity:
    plain: dict[str, list[np.ndarray]] = {}
    other: dict[str, list[np.ndarray]] = {}
    for i in range(0, len(texts), 8):  # padded batches, as the engine runs them
        feeds = _feeds(reference, tokenizer, manifest, texts[i : i + 8])
        for store, session in ((plain, reference), (other, variant)):
            for k, v in _run(session, feeds).items():
                store.setdefault(k, []).append(v)
    return compare_outputs(manifest, {k: np.concatenate(v) for k, v in plain.items()},
                           {k: np.concatenate(v) for k, v in other.items()})


def _cuda_available() -> bool:
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return False
    try:
        probe = _session(_probe_model(), "cuda")
    except Exception:  # a broken CUDA stack raises instead of falling back
        return False
    return "CUDAExecutionProvider" in probe.get_providers()


def _probe_model() -> bytes:
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    data: bytes = model.SerializeToString()
    return data


# -- judges -----------------------------------------------------------------------------------


def optimize_judge(
    judge_dir: Path,
    *,
    fp16: bool = True,
    int8: bool = True,
    cpu_variant: Literal["opt", "int8", "plain"] = "opt",
    texts: Sequence[JudgeInput] = PARITY_TEXTS,
) -> OptimizeReport:
    """Write the variants of one judge folder next to its plain ``model``, check them against
    it, and record them in its ``manifest.yaml``. Raises :class:`OptimizeError`."""
    manifest = load_manifest_or_fail(judge_dir)
    judge = manifest.name
    report = OptimizeReport(judge)
    source = judge_dir / manifest.model
    try:
        plain = onnx.load(str(source))
    except Exception as exc:  # onnx raises DecodeError, OSError, ValueError...
        raise OptimizeError(f"judge {judge!r}: cannot read {source}: {exc}") from exc
    if any(i.data_type == onnx.TensorProto.FLOAT16 for i in plain.graph.initializer):
        raise OptimizeError(f"judge {judge!r}: {manifest.model} is not an fp32 graph")
    tokenizer = JudgeTokenizer(load_tokenizer(judge, judge_dir / manifest.tokenizer),
                               kind=manifest.input.kind, max_length=manifest.input.max_length)
    opt, report.fused, report.rewrites = fused_graph(plain)
    reference = _session(source, "cpu")
    if not any(report.fused.get(op) for op in ("Attention", "MultiHeadAttention")):
        report.notes.append("attention was not fused (the graph's attention does not match "
                            "the optimizer's BERT patterns); opt still fuses what it can")
    opt_bytes = opt.SerializeToString()
    parity = _parity(manifest, tokenizer, reference, _session(opt_bytes, "cpu"), texts)
    if parity.max_abs > OPT_MAX_ABS or parity.min_cosine < OPT_MIN_COSINE:
        raise OptimizeError(f"judge {judge!r}: the optimised graph differs from the plain one "
                            f"({parity.summary()}; allowed: |diff| <= {OPT_MAX_ABS}, cosine >= "
                            f"{OPT_MIN_COSINE}); nothing written")
    written: dict[str, str] = {}
    (judge_dir / VARIANT_FILES["opt"]).write_bytes(opt_bytes)
    written["opt"] = VARIANT_FILES["opt"]
    report.parity["opt"] = parity
    chosen: dict[str, str] = {"cpu": "opt"}
    if fp16:
        chosen.update(_write_fp16(judge_dir, opt, manifest, tokenizer, texts, report, written))
    if int8:
        quantize_int8(judge_dir / VARIANT_FILES["opt"], judge_dir / VARIANT_FILES["int8"])
        written["int8"] = VARIANT_FILES["int8"]
        report.parity["int8"] = _parity(manifest, tokenizer, reference,
                                        _session(judge_dir / VARIANT_FILES["int8"], "cpu"), texts)
    if cpu_variant != "opt":
        if cpu_variant != "plain" and cpu_variant not in written:
            raise OptimizeError(f"judge {judge!r}: cpu variant {cpu_variant!r} was not written")
        chosen["cpu"] = cpu_variant
    report.variants = written
    report.provider_variants = chosen
    _update_manifest(judge_dir, written, chosen)
    load_manifest(judge_dir)  # the result still validates
    return report


def _write_fp16(judge_dir: Path, opt: onnx.ModelProto, manifest: JudgeManifest,
                tokenizer: JudgeTokenizer, texts: Sequence[JudgeInput], report: OptimizeReport,
                written: dict[str, str]) -> dict[str, str]:
    half = fp16_encoder(opt).SerializeToString()
    (judge_dir / VARIANT_FILES["opt_fp16"]).write_bytes(half)
    written["opt_fp16"] = VARIANT_FILES["opt_fp16"]
    if not _cuda_available():
        # the conversion is checked on the CPU EP (ONNX Runtime runs these fp16 ops there);
        # CUDA's kernels are not, so CUDA keeps its previous choice
        report.parity["opt_fp16"] = _parity(manifest, tokenizer, _session(
            judge_dir / manifest.model, "cpu"), _session(half, "cpu"), texts)
        report.notes.append("opt_fp16 checked on the CPU only (no usable CUDA here): not "
                            "picked for cuda; choose it with `judges.variant: opt_fp16`")
        return {}
    cuda_ref = _session(judge_dir / manifest.model, "cuda")
    parity = _parity(manifest, tokenizer, cuda_ref, _session(half, "cuda"), texts)
    report.parity["opt_fp16"] = parity
    if parity.max_abs > FP16_MAX_ABS or parity.min_cosine < FP16_MIN_COSINE:
        report.notes.append(f"opt_fp16 is not close enough to fp32 on CUDA ({parity.summary()})"
                            ": not picked for cuda")
        return {}
    return {"cuda": "opt_fp16"}


def load_manifest_or_fail(judge_dir: Path) -> JudgeManifest:
    from taxmeter.errors import JudgeLoadError

    try:
        return load_manifest(judge_dir)
    except JudgeLoadError as exc:
        raise OptimizeError(str(exc)) from exc


def _update_manifest(judge_dir: Path, variants: Mapping[str, str],
                     chosen: Mapping[str, str]) -> None:
    path = judge_dir / "manifest.yaml"
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    merged = dict(raw.get("variants") or {})
    merged.update(variants)
    raw["variants"] = merged
    provider_variants = dict(raw.get("provider_variants") or {})
    provider_variants.update(chosen)
    raw["provider_variants"] = provider_variants
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    tmp.replace(path)


def optimize_repository(repo: Path, judge: str | None = None, **options: Any) -> list[
        OptimizeReport]:
    """:func:`optimize_judge` for every judge folder of ``repo`` (or the one named)."""
    if not repo.is_dir():
        raise OptimizeError(f"judge repository {repo} does not exist or is not a folder")
    found = sorted(p.name for p in repo.iterdir() if (p / "manifest.yaml").is_file())
    if judge is not None:
        if judge not in found:
            raise OptimizeError(f"judge {judge!r} not found in {repo} (found: {found})")
        found = [judge]
    if not found:
        raise OptimizeError(f"judge repository {repo} holds no judge folder")
    return [optimize_judge(repo / name, **options) for name in found]


# -- command line -----------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add ``optimize`` to the ``taxmeter judges`` command group."""
    p = subparsers.add_parser(
        "optimize",
        help="write optimised variants of each judge (fused fp32, fp16, int8), checked "
             "against the plain graph",
        description=(
            "For each judge of DIR (or --judge NAME): run ONNX Runtime's transformer optimizer "
            "on model.onnx and write model.opt.onnx (fused Attention, SkipLayerNormalization, "
            "BiasGelu), model.opt.fp16.onnx (encoder in fp16, for CUDA) and model.int8.onnx "
            "(dynamic int8, for the CPU); compare each with the plain graph on fixed texts; "
            "record them in manifest.yaml (variants, provider_variants). The plain model.onnx "
            "stays the reference."
        ),
    )
    p.add_argument("dir", metavar="DIR", type=Path, help="judge repository")
    p.add_argument("--judge", metavar="NAME", help="only this judge (default: all)")
    p.add_argument("--no-fp16", dest="fp16", action="store_false",
                   help="do not write model.opt.fp16.onnx")
    p.add_argument("--no-int8", dest="int8", action="store_false",
                   help="do not write model.int8.onnx")
    p.add_argument("--cpu-variant", choices=["opt", "int8", "plain"], default="opt",
                   help="the variant the CPU runs by default (provider_variants.cpu; "
                        "default opt: same results as the plain graph)")
    p.set_defaults(func=_cmd_optimize)


def _cmd_optimize(args: Any) -> int:
    import sys

    if args.cpu_variant == "int8" and not args.int8:
        print("error: --cpu-variant int8 needs the int8 variant (drop --no-int8)",
              file=sys.stderr)
        return 2
    try:
        reports = optimize_repository(args.dir, args.judge, fp16=args.fp16, int8=args.int8,
                                      cpu_variant=args.cpu_variant)
    except OptimizeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for report in reports:
        print("\n".join(report.summary_lines()))
    return 0
