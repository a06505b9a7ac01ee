"""``taxmeter judges export-triton``: the written config.pbtxt parses as Triton's ModelConfig
(protobuf text format, against the subset of Triton's model_config.proto in protos/triton/)
and its tensors match the ONNX graph's."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import onnx
import pytest
from google.protobuf import text_format

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from remote_fixtures.tiny_judge import write_tiny_judge
from taxmeter.errors import JudgeLoadError
from taxmeter.judgetools.triton_export import (
    export_triton_repository,
    register,
)
from taxmeter.proto.triton import model_config_pb2 as mc

_ONNX_TO_TRITON: dict[int, int] = {
    onnx.TensorProto.INT64: mc.TYPE_INT64,
    onnx.TensorProto.FLOAT: mc.TYPE_FP32,
    onnx.TensorProto.FLOAT16: mc.TYPE_FP16,
}


def _parse(path: Path) -> mc.ModelConfig:
    config = mc.ModelConfig()
    text_format.Parse(path.read_text(encoding="utf-8"), config)  # fills config in place
    return config


Tensors = list[tuple[str, int, list[int]]]


def _graph_io(path: Path) -> tuple[Tensors, Tensors]:
    model = onnx.load(str(path))
    inits = {i.name for i in model.graph.initializer}

    def conv(v: onnx.ValueInfoProto) -> tuple[str, int, list[int]]:
        t = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
        return v.name, _ONNX_TO_TRITON[t.elem_type], dims

    return (
        [conv(v) for v in model.graph.input if v.name not in inits],
        [conv(v) for v in model.graph.output],
    )


@pytest.fixture
def judges(tmp_path: Path) -> Path:
    repo = tmp_path / "judges"
    write_tiny_judge(repo)
    write_tiny_judge(repo, name="other", n_logits=5, embed_dim=16)
    return repo


@pytest.mark.parametrize("fp16", [False, True])
def test_exported_config_parses_as_triton_model_config_with_graph_tensors(
    judges: Path, tmp_path: Path, fp16: bool
) -> None:
    out = tmp_path / "triton"
    exported = export_triton_repository(judges, out, fp16=fp16, max_batch_size=32)
    assert [e.name for e in exported] == ["default", "other"]
    for judge in exported:
        config = _parse(out / judge.name / "config.pbtxt")
        model_file = out / judge.name / "1" / "model.onnx"
        assert model_file.read_bytes() == judge.source_model.read_bytes()
        assert judge.source_model.name == ("model.fp16.onnx" if fp16 else "model.onnx")
        assert config.name == judge.name
        assert config.backend == "onnxruntime"
        assert config.max_batch_size == 32
        assert config.WhichOneof("scheduling_choice") == "dynamic_batching"
        assert config.dynamic_batching.max_queue_delay_microseconds == 2000
        assert [(g.kind, g.count) for g in config.instance_group] == [
            (mc.ModelInstanceGroup.KIND_GPU, 1)
        ]
        graph_in, graph_out = _graph_io(model_file)
        # Triton leaves the batch axis out of dims when max_batch_size > 0
        assert [(t.name, t.data_type, [-1, *t.dims]) for t in config.input] == graph_in
        assert [(t.name, t.data_type, [-1, *t.dims]) for t in config.output] == graph_out
    other = _parse(out / "other" / "config.pbtxt")
    assert [(t.name, list(t.dims)) for t in other.output] == [("logits", [5]), ("embedding", [16])]


def test_export_without_batching_keeps_full_dims_and_no_dynamic_batching(
    judges: Path, tmp_path: Path
) -> None:
    export_triton_repository(judges, tmp_path / "t", judges=["default"], max_batch_size=0)
    config = _parse(tmp_path / "t" / "default" / "config.pbtxt")
    assert config.max_batch_size == 0
    assert config.WhichOneof("scheduling_choice") is None
    assert list(config.output[0].dims) == [-1, 3]
    assert not (tmp_path / "t" / "other").exists()


def test_export_fp16_of_a_judge_without_variant_is_an_error_naming_it(
    judges: Path, tmp_path: Path
) -> None:
    manifest = judges / "other" / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("variants: {fp16: model.fp16.onnx}\n", ""))
    with pytest.raises(JudgeLoadError) as info:
        export_triton_repository(judges, tmp_path / "t", fp16=True)
    assert info.value.judge == "other" and "fp16" in str(info.value)


def test_export_of_unknown_judge_is_an_error(judges: Path, tmp_path: Path) -> None:
    with pytest.raises(JudgeLoadError, match="nope"):
        export_triton_repository(judges, tmp_path / "t", judges=["nope"])


def test_export_triton_command_writes_the_repository(
    judges: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    out = tmp_path / "pool"
    args = parser.parse_args(
        [
            "export-triton",
            str(out),
            "--judges",
            str(judges),
            "--fp16",
            "--max-batch-size",
            "8",
            "--only",
            "default",
        ]
    )
    assert args.func(args) == 0
    config = _parse(out / "default" / "config.pbtxt")
    assert config.max_batch_size == 8
    assert [t.data_type for t in config.output] == [mc.TYPE_FP32, mc.TYPE_FP32]
    assert "default" in capsys.readouterr().out
