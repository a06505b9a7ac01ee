"""Reading a local Hugging Face sequence-classification checkpoint without torch:
``config.json``, ``model.safetensors`` (or a sharded ``model.safetensors.index.json``) and
``tokenizer.json`` → a :class:`Checkpoint` with the weights under ``hf_graph``'s names.

Supported: ``BertForSequenceClassification``, ``RobertaForSequenceClassification``,
``XLMRobertaForSequenceClassification`` (DistilRoBERTa is a 6-layer RoBERTa) and
``DistilBertForSequenceClassification``. Everything else, and every missing file, tensor or
config field, raises :class:`CheckpointError` with one line naming it.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from taxmeter.errors import JudgeLoadError
from taxmeter.judgetools.hf_graph import Activation, ClassifierShape

__all__ = [
    "SUPPORTED_ARCHITECTURES",
    "Checkpoint",
    "CheckpointError",
    "load_checkpoint",
]

SUPPORTED_ARCHITECTURES: Mapping[str, str] = {
    "BertForSequenceClassification": "bert",
    "RobertaForSequenceClassification": "roberta",
    "XLMRobertaForSequenceClassification": "roberta",
    "DistilBertForSequenceClassification": "distilbert",
}
"""Architecture → family (weight layout)."""
_MODEL_TYPES: Mapping[str, tuple[str, ...]] = {
    "bert": ("bert",),
    "roberta": ("roberta", "xlm-roberta"),
    "distilbert": ("distilbert",),
}
_PREFIX = {"bert": "bert.", "roberta": "roberta.", "distilbert": "distilbert."}
_ACTIVATIONS: Mapping[str, Activation] = {
    "gelu": "gelu",
    "gelu_new": "gelu_tanh",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_fast": "gelu_tanh",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
    "quick_gelu": "quick_gelu",
}
_SAFETENSORS_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16}


class CheckpointError(JudgeLoadError):
    """The checkpoint cannot be imported; the one-line message names what is unsupported or
    missing. ``judge`` is the name the judge would have had."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A checkpoint ready for ``hf_graph.build_classifier_graph``."""

    path: Path
    architecture: str
    model_type: str
    shape: ClassifierShape
    weights: dict[str, np.ndarray]
    """float32, under ``hf_graph``'s names."""
    labels: tuple[str, ...]
    """``id2label`` in index order (``LABEL_i`` where the config has none)."""
    multi_label: bool
    """``problem_type: multi_label_classification``: labels are independent sigmoids."""
    max_positions: int
    """The longest input (special tokens included) the position table allows."""
    vocab_size: int
    weight_files: tuple[str, ...]


def _read_json(judge: str, path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise CheckpointError(judge, f"missing file {path.name} in {path.parent}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(judge, f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise CheckpointError(judge, f"{path} must hold a JSON object")
    return data


def _field(judge: str, config: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        if name in config:
            return config[name]
    if default is not None:
        return default
    raise CheckpointError(judge, f"config.json has no {names[0]!r}")


def _int(judge: str, config: Mapping[str, Any], *names: str, default: int | None = None) -> int:
    value = _field(judge, config, *names, default=default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CheckpointError(judge, f"config.json {names[0]!r} must be a non-negative integer")
    return value


def _architecture(judge: str, config: Mapping[str, Any]) -> tuple[str, str]:
    archs = config.get("architectures")
    model_type = str(config.get("model_type", "?"))
    supported = ", ".join(SUPPORTED_ARCHITECTURES)
    if not isinstance(archs, list) or len(archs) != 1 or not isinstance(archs[0], str):
        raise CheckpointError(
            judge,
            f"config.json 'architectures' must name one architecture, got {archs!r} "
            f"(supported: {supported})",
        )
    arch = archs[0]
    family = SUPPORTED_ARCHITECTURES.get(arch)
    if family is None:
        raise CheckpointError(
            judge,
            f"unsupported architecture {arch} (model_type {model_type}); supported: {supported}",
        )
    if model_type not in _MODEL_TYPES[family]:
        raise CheckpointError(
            judge,
            f"unsupported model_type {model_type!r} for {arch} "
            f"(expected {' or '.join(_MODEL_TYPES[family])})",
        )
    for flag in ("is_decoder", "add_cross_attention"):
        if config.get(flag):
            raise CheckpointError(judge, f"unsupported config: {flag} is true")
    pos_type = config.get("position_embedding_type", "absolute")
    if pos_type != "absolute":
        raise CheckpointError(
            judge, f"unsupported position_embedding_type {pos_type!r} (only 'absolute')"
        )
    return arch, family


def _labels(judge: str, config: Mapping[str, Any]) -> tuple[tuple[str, ...], bool]:
    raw = config.get("id2label")
    if isinstance(raw, dict) and raw:
        try:
            by_index = {int(k): str(v) for k, v in raw.items()}
        except ValueError as exc:
            raise CheckpointError(judge, "config.json id2label keys must be integers") from exc
        n = len(by_index)
        if sorted(by_index) != list(range(n)):
            raise CheckpointError(judge, f"config.json id2label keys must be 0..{n - 1}")
        labels = tuple(by_index[i] for i in range(n))
    else:
        n = _int(judge, config, "num_labels", default=2)
        labels = tuple(f"LABEL_{i}" for i in range(n))
    problem = config.get("problem_type")
    if problem == "regression" or (problem is None and len(labels) == 1):
        raise CheckpointError(
            judge, "unsupported problem_type regression (one output, no label probabilities)"
        )
    if problem not in (None, "single_label_classification", "multi_label_classification"):
        raise CheckpointError(judge, f"unsupported problem_type {problem!r}")
    return labels, problem == "multi_label_classification"


def _shape(
    judge: str, family: str, config: Mapping[str, Any], n_labels: int
) -> tuple[ClassifierShape, int, int]:
    """(shape, vocab size, max positions)."""
    d = _int(judge, config, "hidden_size", "dim")
    heads = _int(judge, config, "num_attention_heads", "n_heads")
    if heads == 0 or d % heads:
        raise CheckpointError(judge, f"hidden size {d} is not divisible by {heads} heads")
    act_name = str(_field(judge, config, "hidden_act", "activation"))
    activation = _ACTIVATIONS.get(act_name)
    if activation is None:
        raise CheckpointError(
            judge, f"unsupported hidden_act {act_name!r} (supported: {', '.join(_ACTIVATIONS)})"
        )
    max_pos = _int(judge, config, "max_position_embeddings")
    padding_idx: int | None = None
    if family == "roberta":
        padding_idx = _int(judge, config, "pad_token_id", default=1)
        max_len = max_pos - padding_idx - 1
    else:
        max_len = max_pos
    if family == "distilbert":
        eps, types, head_act = 1e-12, 0, "relu"
    else:
        eps = float(_field(judge, config, "layer_norm_eps", default=1e-12))
        types = _int(judge, config, "type_vocab_size", default=2)
        head_act = "tanh"
        if types == 0:
            raise CheckpointError(judge, "config.json type_vocab_size must be at least 1")
    shape = ClassifierShape(
        num_layers=_int(judge, config, "num_hidden_layers", "n_layers"),
        num_heads=heads,
        hidden_size=d,
        num_labels=n_labels,
        layer_norm_eps=eps,
        activation=activation,
        type_vocab_size=types,
        position_padding_idx=padding_idx,
        head_activation="relu" if head_act == "relu" else "tanh",
    )
    return shape, _int(judge, config, "vocab_size"), max_len


def _expected(
    family: str, shape: ClassifierShape, ffn: int, vocab: int, max_pos: int
) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Canonical name → (checkpoint name, shape)."""
    d, p = shape.hidden_size, _PREFIX[family]
    out: dict[str, tuple[str, tuple[int, ...]]] = {
        "embeddings.word_embeddings.weight": (f"{p}embeddings.word_embeddings.weight", (vocab, d)),
        "embeddings.position_embeddings.weight": (
            f"{p}embeddings.position_embeddings.weight",
            (max_pos, d),
        ),
        "embeddings.LayerNorm.weight": (f"{p}embeddings.LayerNorm.weight", (d,)),
        "embeddings.LayerNorm.bias": (f"{p}embeddings.LayerNorm.bias", (d,)),
    }
    if shape.type_vocab_size:
        out["embeddings.token_type_embeddings.weight"] = (
            f"{p}embeddings.token_type_embeddings.weight",
            (shape.type_vocab_size, d),
        )
    if family == "distilbert":
        parts = {
            "attention.self.query": ("attention.q_lin", (d, d)),
            "attention.self.key": ("attention.k_lin", (d, d)),
            "attention.self.value": ("attention.v_lin", (d, d)),
            "attention.output.dense": ("attention.out_lin", (d, d)),
            "attention.output.LayerNorm": ("sa_layer_norm", (d,)),
            "intermediate.dense": ("ffn.lin1", (ffn, d)),
            "output.dense": ("ffn.lin2", (d, ffn)),
            "output.LayerNorm": ("output_layer_norm", (d,)),
        }
        layer_prefix = f"{p}transformer.layer"
    else:
        parts = {
            name: (name, s)
            for name, s in (
                ("attention.self.query", (d, d)),
                ("attention.self.key", (d, d)),
                ("attention.self.value", (d, d)),
                ("attention.output.dense", (d, d)),
                ("attention.output.LayerNorm", (d,)),
                ("intermediate.dense", (ffn, d)),
                ("output.dense", (d, ffn)),
                ("output.LayerNorm", (d,)),
            )
        }
        layer_prefix = f"{p}encoder.layer"
    for i in range(shape.num_layers):
        for canon, (src, s) in parts.items():
            out[f"encoder.layer.{i}.{canon}.weight"] = (f"{layer_prefix}.{i}.{src}.weight", s)
            out[f"encoder.layer.{i}.{canon}.bias"] = (f"{layer_prefix}.{i}.{src}.bias", s[:1])
    head = {
        "bert": (f"{p}pooler.dense", "classifier"),
        "roberta": ("classifier.dense", "classifier.out_proj"),
        "distilbert": ("pre_classifier", "classifier"),
    }[family]
    n = shape.num_labels
    out["head.dense.weight"] = (f"{head[0]}.weight", (d, d))
    out["head.dense.bias"] = (f"{head[0]}.bias", (d,))
    out["head.out.weight"] = (f"{head[1]}.weight", (n, d))
    out["head.out.bias"] = (f"{head[1]}.bias", (n,))
    return out


def _read_safetensors(judge: str, path: Path) -> dict[str, np.ndarray]:
    """Every tensor of one file as float32 (F64/F32/F16/BF16; others are skipped, e.g. the
    int64 ``position_ids`` buffer). Read through a memory map: one copy, as float32."""
    try:
        raw = np.memmap(path, dtype=np.uint8, mode="r")
        (n,) = struct.unpack("<Q", raw[:8].tobytes())
        header = json.loads(raw[8 : 8 + n].tobytes())
    except (OSError, ValueError, struct.error, UnicodeDecodeError) as exc:
        raise CheckpointError(judge, f"{path.name} is not a safetensors file: {exc}") from exc
    if not isinstance(header, dict):
        raise CheckpointError(judge, f"{path.name} is not a safetensors file: bad header")
    base = 8 + n
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape = info["dtype"], tuple(int(d) for d in info["shape"])
            start, end = (int(o) for o in info["data_offsets"])
        except (TypeError, ValueError, KeyError) as exc:
            raise CheckpointError(
                judge, f"{path.name}: bad header entry for tensor {name}"
            ) from exc
        if base + end > raw.size or not 0 <= start <= end:
            raise CheckpointError(judge, f"{path.name}: tensor {name} lies outside the file")
        buf = raw[base + start : base + end]
        if dtype == "BF16":
            arr = (buf.view("<u2").astype(np.uint32) << 16).view(np.float32)
        elif dtype in _SAFETENSORS_DTYPES:
            arr = buf.view(np.dtype(_SAFETENSORS_DTYPES[dtype]).newbyteorder("<"))
        else:
            continue
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            raise CheckpointError(
                judge, f"{path.name}: tensor {name} has {arr.size} values for shape {list(shape)}"
            )
        out[name] = np.array(arr, dtype=np.float32).reshape(shape)  # a copy, not a map
    del raw
    return out


def _weight_files(judge: str, root: Path) -> list[Path]:
    single = root / "model.safetensors"
    if single.is_file():
        return [single]
    index = root / "model.safetensors.index.json"
    if index.is_file():
        weight_map = _read_json(judge, index).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(judge, f"{index.name} has no weight_map")
        files = [root / str(f) for f in sorted(set(weight_map.values()))]
        for f in files:
            if not f.is_file():
                raise CheckpointError(judge, f"missing file {f.name} (listed in {index.name})")
        return files
    hint = (
        " (pytorch_model.bin is not read: convert it to safetensors)"
        if (root / "pytorch_model.bin").is_file()
        else ""
    )
    raise CheckpointError(judge, f"missing file model.safetensors in {root}{hint}")


def load_checkpoint(root: Path, judge: str) -> Checkpoint:
    """Read and check ``root``; raises :class:`CheckpointError` (one line) on any problem."""
    if not root.is_dir():
        raise CheckpointError(judge, f"checkpoint folder {root} does not exist")
    config = _read_json(judge, root / "config.json")
    arch, family = _architecture(judge, config)
    if not (root / "tokenizer.json").is_file():
        raise CheckpointError(
            judge,
            f"missing file tokenizer.json in {root} (save the fast tokenizer: "
            "AutoTokenizer.from_pretrained(...).save_pretrained(dir))",
        )
    labels, multi = _labels(judge, config)
    shape, vocab, max_len = _shape(judge, family, config, len(labels))
    ffn = _int(judge, config, "intermediate_size", "hidden_dim")
    max_pos = _int(judge, config, "max_position_embeddings")
    files = _weight_files(judge, root)
    tensors: dict[str, np.ndarray] = {}
    for f in files:
        tensors.update(_read_safetensors(judge, f))
    tensors = {
        k.replace("LayerNorm.gamma", "LayerNorm.weight").replace(
            "LayerNorm.beta", "LayerNorm.bias"
        ): v
        for k, v in tensors.items()
    }
    weights: dict[str, np.ndarray] = {}
    expected = _expected(family, shape, ffn, vocab, max_pos)
    missing = [src for src, _ in expected.values() if src not in tensors]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise CheckpointError(judge, f"the weights lack tensor {missing[0]}{more}")
    for canon, (src, want) in expected.items():
        got = tensors[src]
        if got.shape != want:
            raise CheckpointError(
                judge, f"tensor {src} has shape {list(got.shape)}, config.json implies {list(want)}"
            )
        weights[canon] = got
    return Checkpoint(
        path=root,
        architecture=arch,
        model_type=str(config["model_type"]),
        shape=shape,
        weights=weights,
        labels=labels,
        multi_label=multi,
        max_positions=max_len,
        vocab_size=vocab,
        weight_files=tuple(f.name for f in files),
    )
