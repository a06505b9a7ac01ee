"""``taxmeter judges export-triton``: a judge repository written as a Triton model repository.

For each judge ``<repo>/<judge>/`` this writes ``<out>/<judge>/config.pbtxt`` and
``<out>/<judge>/1/model.onnx`` (the fp16 variant with ``--fp16`` where the judge has one), so a
stock Triton server (ONNX Runtime backend) serves the judges unchanged and taxmeter's KServe v2
backend talks to it. The configuration is read off the ONNX graph itself: input and output
names, data types and dims (the leading batch axis left out, Triton's convention when
``max_batch_size > 0``); dynamic batching; one GPU instance group. The judge's manifest is not
needed by Triton (the sidecar keeps it, with the tokenizer, and maps the returned tensors to
scores exactly as in-process).

This module imports nothing heavy at import time (``onnx`` only inside the export), because the
CLI builds its parser eagerly.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taxmeter.errors import ConfigError, JudgeLoadError

__all__ = [
    "ExportedJudge",
    "TritonTensor",
    "export_triton_repository",
    "graph_tensors",
    "register",
    "render_config_pbtxt",
]

# onnx.TensorProto.DataType value -> Triton DataType name (model_config.proto).
_ONNX_TO_TRITON: dict[int, str] = {
    1: "TYPE_FP32",
    2: "TYPE_UINT8",
    3: "TYPE_INT8",
    4: "TYPE_UINT16",
    5: "TYPE_INT16",
    6: "TYPE_INT32",
    7: "TYPE_INT64",
    8: "TYPE_STRING",
    9: "TYPE_BOOL",
    10: "TYPE_FP16",
    11: "TYPE_FP64",
    12: "TYPE_UINT32",
    13: "TYPE_UINT64",
    16: "TYPE_BF16",
}


@dataclass(frozen=True, slots=True)
class TritonTensor:
    """A graph input or output as Triton's configuration names it."""

    name: str
    data_type: str
    """Triton ``DataType`` name, e.g. ``TYPE_INT64``."""
    dims: tuple[int, ...]
    """Full graph dims, batch axis included; ``-1`` for a dynamic axis."""


@dataclass(frozen=True, slots=True)
class ExportedJudge:
    name: str
    model_dir: Path
    source_model: Path
    precision: str


def graph_tensors(model_path: Path, judge: str) -> tuple[list[TritonTensor], list[TritonTensor]]:
    """The ONNX graph's real inputs (initializers left out) and outputs, in graph order."""
    import onnx

    try:
        model = onnx.load(str(model_path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError, ... for a bad file
        raise JudgeLoadError(judge, f"cannot read ONNX graph {model_path}: {exc}") from exc
    initializers = {init.name for init in model.graph.initializer}

    def convert(value_info: Any) -> TritonTensor:
        ttype = value_info.type.tensor_type
        dtype = _ONNX_TO_TRITON.get(ttype.elem_type)
        if dtype is None:
            raise JudgeLoadError(
                judge,
                f"tensor {value_info.name!r} has ONNX element type {ttype.elem_type}, "
                "which Triton cannot serve",
            )
        dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in ttype.shape.dim)
        return TritonTensor(value_info.name, dtype, dims)

    inputs = [convert(v) for v in model.graph.input if v.name not in initializers]
    outputs = [convert(v) for v in model.graph.output]
    return inputs, outputs


def _batched_dims(judge: str, tensor: TritonTensor, max_batch_size: int) -> tuple[int, ...]:
    if max_batch_size == 0:
        return tensor.dims
    if not tensor.dims or tensor.dims[0] != -1:
        raise JudgeLoadError(
            judge,
            f"tensor {tensor.name!r} has dims {list(tensor.dims)}: a batched Triton model needs "
            "a dynamic leading batch axis (or export with --max-batch-size 0)",
        )
    rest = tensor.dims[1:]
    # Triton needs at least one dim per tensor; a [batch] tensor is reshaped from [1].
    return rest


def _dims_text(dims: Sequence[int]) -> str:
    return "[ " + ", ".join(str(d) for d in dims) + " ]"


def render_config_pbtxt(
    name: str,
    inputs: Sequence[TritonTensor],
    outputs: Sequence[TritonTensor],
    *,
    max_batch_size: int,
    max_queue_delay_us: int,
    instance_count: int,
    instance_kind: str = "KIND_GPU",
    manifest_version: str = "",
) -> str:
    """Triton's ``config.pbtxt`` (protobuf text format of ``inference.ModelConfig``)."""
    lines = [
        f'name: "{name}"',
        'backend: "onnxruntime"',
        f"max_batch_size: {max_batch_size}",
        "version_policy: { latest: { num_versions: 1 } }",
    ]

    def tensor_block(kind: str, tensors: Sequence[TritonTensor]) -> None:
        lines.append(f"{kind} [")
        for i, t in enumerate(tensors):
            dims = _batched_dims(name, t, max_batch_size)
            reshape = ""
            if not dims:  # a [batch] tensor: Triton wants dims [1] and reshape to [] (scalar)
                dims, reshape = (1,), " reshape: { shape: [ ] }"
            sep = "," if i < len(tensors) - 1 else ""
            lines.append(
                f'  {{ name: "{t.name}" data_type: {t.data_type} dims: {_dims_text(dims)}'
                f"{reshape} }}{sep}"
            )
        lines.append("]")

    tensor_block("input", inputs)
    tensor_block("output", outputs)
    lines.append(f"instance_group [ {{ kind: {instance_kind} count: {instance_count} }} ]")
    if max_batch_size > 0:
        lines.append(f"dynamic_batching {{ max_queue_delay_microseconds: {max_queue_delay_us} }}")
    if manifest_version:
        lines.append(
            'parameters { key: "taxmeter_manifest_version" '
            f'value: {{ string_value: "{manifest_version}" }} }}'
        )
    return "\n".join(lines) + "\n"


def _external_data_files(model_path: Path) -> list[Path]:
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    files: set[Path] = set()
    for init in model.graph.initializer:
        for entry in init.external_data:
            if entry.key == "location":
                files.add(model_path.parent / entry.value)
    return sorted(files)


def export_triton_repository(
    judges_dir: Path,
    out_dir: Path,
    *,
    judges: Sequence[str] | None = None,
    fp16: bool = False,
    max_batch_size: int = 64,
    max_queue_delay_us: int = 2000,
    instance_count: int = 1,
    instance_kind: str = "KIND_GPU",
) -> list[ExportedJudge]:
    """Write the judges of ``judges_dir`` as a Triton model repository under ``out_dir``.

    Raises ``ConfigError`` for a bad argument and ``JudgeLoadError`` (naming the judge) for a
    judge that cannot be exported. ``fp16`` picks each judge's fp16 variant; a judge without
    one is an error (silently serving fp32 where fp16 was asked would change the cost story).
    """
    from taxmeter.judges.manifest import load_manifest

    if max_batch_size < 0:
        raise ConfigError("max_batch_size", "must be >= 0")
    if instance_count < 1:
        raise ConfigError("instance_count", "must be >= 1")
    if not judges_dir.is_dir():
        raise ConfigError("judges", f"judge repository {judges_dir} does not exist")
    available = sorted(p.name for p in judges_dir.iterdir() if (p / "manifest.yaml").is_file())
    names = list(judges) if judges else available
    if not names:
        raise ConfigError("judges", f"no judge (folder with manifest.yaml) in {judges_dir}")
    exported: list[ExportedJudge] = []
    for name in names:
        if name not in available:
            raise JudgeLoadError(name, f"not found in {judges_dir} (judges: {available})")
        judge_dir = judges_dir / name
        manifest = load_manifest(judge_dir)
        model_file = manifest.model
        precision = "fp32"
        if fp16:
            variant = manifest.variants.get("fp16")
            if variant is None:
                raise JudgeLoadError(name, "--fp16 asked, but the manifest has no fp16 variant")
            model_file, precision = variant, "fp16"
        source = judge_dir / model_file
        if not source.is_file():
            raise JudgeLoadError(name, f"model file {source} does not exist")
        inputs, outputs = graph_tensors(source, name)
        text = render_config_pbtxt(
            name,
            inputs,
            outputs,
            max_batch_size=max_batch_size,
            max_queue_delay_us=max_queue_delay_us,
            instance_count=instance_count,
            instance_kind=instance_kind,
            manifest_version=manifest.version,
        )
        model_dir = out_dir / name
        version_dir = model_dir / "1"
        version_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, version_dir / "model.onnx")
        for extra in _external_data_files(source):
            shutil.copyfile(extra, version_dir / extra.name)
        (model_dir / "config.pbtxt").write_text(text, encoding="utf-8")
        exported.append(ExportedJudge(name, model_dir, source, precision))
    return exported


def _cmd_export_triton(args: argparse.Namespace) -> int:
    exported = export_triton_repository(
        Path(args.judges),
        Path(args.dir),
        judges=args.only or None,
        fp16=args.fp16,
        max_batch_size=args.max_batch_size,
        max_queue_delay_us=args.max_queue_delay_us,
        instance_count=args.instance_count,
        instance_kind="KIND_CPU" if args.cpu else "KIND_GPU",
    )
    for judge in exported:
        print(f"{judge.name}: {judge.model_dir} ({judge.precision}, from {judge.source_model})")
    print(
        f"wrote a Triton model repository with {len(exported)} judge(s) to {args.dir}",
        file=sys.stderr,
    )
    return 0


def register(subparsers: Any) -> None:
    """Add ``export-triton`` to the ``taxmeter judges`` command group."""
    p = subparsers.add_parser(
        "export-triton",
        help="write the judge repository as a Triton model repository",
        description=(
            "Write each judge as <DIR>/<judge>/config.pbtxt + <DIR>/<judge>/1/model.onnx for a "
            "stock Triton server (ONNX Runtime backend, dynamic batching, GPU instance group)."
        ),
    )
    p.add_argument("dir", metavar="DIR", help="output folder (the Triton model repository)")
    p.add_argument(
        "--judges",
        default="judges",
        metavar="REPO",
        help="judge repository to export (default: ./judges)",
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="JUDGE",
        help="export only this judge (repeatable; default: all)",
    )
    p.add_argument("--fp16", action="store_true", help="export each judge's fp16 variant")
    p.add_argument(
        "--max-batch-size",
        type=int,
        default=64,
        metavar="N",
        help="Triton max_batch_size (default 64; 0 disables batching)",
    )
    p.add_argument(
        "--max-queue-delay-us",
        type=int,
        default=2000,
        metavar="US",
        help="dynamic batching max queue delay in microseconds (default 2000)",
    )
    p.add_argument(
        "--instance-count",
        type=int,
        default=1,
        metavar="N",
        help="model instances per GPU (default 1)",
    )
    p.add_argument(
        "--cpu",
        action="store_true",
        help="KIND_CPU instance group instead of KIND_GPU (for a CPU-only Triton)",
    )
    func: Callable[[argparse.Namespace], int] = _cmd_export_triton
    p.set_defaults(func=func)
