"""Manifest parsing, head transforms and calibration, and checks against the model tensors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from judges_fixtures import default_manifest
from taxmeter.errors import JudgeLoadError
from taxmeter.judges.backend import TensorSpec
from taxmeter.judges.manifest import (
    HeadSpec,
    JudgeManifest,
    load_manifest,
    validate_against_model,
)
from taxmeter.judgetools.graph import DUAL_INPUTS

GRAPH_INPUTS = [TensorSpec(n, "int64", (None, None)) for n in DUAL_INPUTS]
GRAPH_OUTPUTS = [
    TensorSpec("logits", "float32", (None, 3)),
    TensorSpec("embedding", "float32", (None, 16)),
]


def write_manifest(tmp_path: Path, data: Any, name: str = "default") -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "manifest.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return d


def test_contract_example_manifest_parses(tmp_path: Path) -> None:
    m = load_manifest(write_manifest(tmp_path, default_manifest()))
    assert m.input.kind == "dual" and m.input.max_length == 64
    assert [h.name for h in m.heads] == ["refusal", "unsafe", "quality"]
    assert m.heads[0].calibration.method == "platt"


def test_manifest_name_must_equal_folder_name(tmp_path: Path) -> None:
    with pytest.raises(JudgeLoadError, match="must equal the folder name 'other'"):
        load_manifest(write_manifest(tmp_path, default_manifest("default"), name="other"))


def test_invalid_manifest_names_the_judge_and_the_field(tmp_path: Path) -> None:
    data = default_manifest()
    data["heads"][1]["transform"] = "tanh"
    with pytest.raises(JudgeLoadError, match=r"judge 'default'.*heads\.1\.transform"):
        load_manifest(write_manifest(tmp_path, data))


def test_unknown_manifest_key_is_rejected(tmp_path: Path) -> None:
    data = default_manifest()
    data["hedas"] = []
    with pytest.raises(JudgeLoadError, match="hedas"):
        load_manifest(write_manifest(tmp_path, data))


def test_non_yaml_manifest_is_a_load_error(tmp_path: Path) -> None:
    d = tmp_path / "default"
    d.mkdir()
    (d / "manifest.yaml").write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(JudgeLoadError, match="not valid YAML"):
        load_manifest(d)


def test_missing_manifest_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "j").mkdir()
    with pytest.raises(JudgeLoadError, match=r"no manifest.yaml"):
        load_manifest(tmp_path / "j")


def test_input_role_not_valid_for_kind_is_rejected() -> None:
    data = default_manifest()
    data["input"]["kind"] = "response"
    with pytest.raises(ValueError, match="not valid for input kind 'response'"):
        JudgeManifest.model_validate(data)


def test_softmax_head_requires_softmax_index() -> None:
    with pytest.raises(ValueError, match="softmax_index"):
        HeadSpec(name="r", output="logits", transform="softmax")


def test_raw_head_requires_an_increasing_range() -> None:
    with pytest.raises(ValueError, match="range"):
        HeadSpec(name="q", output="reward", transform="raw")
    with pytest.raises(ValueError, match="hi > lo"):
        HeadSpec(name="q", output="reward", transform="raw", range=(2.0, 1.0))


def test_sigmoid_head_reads_its_index_column() -> None:
    head = HeadSpec(name="u", output="logits", index=1)
    out = np.array([[0.0, 0.0, 9.0], [5.0, -2.0, 0.0]], np.float32)
    np.testing.assert_allclose(head.scores(out), [0.5, 1 / (1 + np.exp(2.0))], rtol=1e-6)


def test_softmax_head_scores_the_chosen_class() -> None:
    head = HeadSpec(name="r", output="logits", transform="softmax", softmax_index=1)
    out = np.array([[0.0, np.log(3.0)]], np.float32)  # softmax = [0.25, 0.75]
    np.testing.assert_allclose(head.scores(out), [0.75], rtol=1e-6)


def test_raw_head_is_clipped_and_scaled_into_unit_range() -> None:
    head = HeadSpec(name="q", output="reward", transform="raw", range=(-2.0, 6.0))
    out = np.array([[-5.0], [2.0], [10.0]], np.float32)
    np.testing.assert_allclose(head.scores(out), [0.0, 0.5, 1.0])


def test_platt_calibration_shifts_the_logit() -> None:
    head = HeadSpec.model_validate(
        {
            "name": "r",
            "output": "logits",
            "index": 0,
            "calibration": {"method": "platt", "a": 2.0, "b": -1.0},
        }
    )
    # p = sigmoid(2 * logit(sigmoid(0.5)) - 1) = sigmoid(0.0) = 0.5
    np.testing.assert_allclose(head.scores(np.array([[0.5]])), [0.5], rtol=1e-6)


def test_isotonic_calibration_interpolates_between_points() -> None:
    head = HeadSpec.model_validate(
        {
            "name": "r",
            "output": "p",
            "transform": "raw",
            "range": [0.0, 1.0],
            "calibration": {"method": "isotonic", "x": [0.0, 0.5, 1.0], "y": [0.0, 0.2, 1.0]},
        }
    )
    np.testing.assert_allclose(head.scores(np.array([0.25, 0.75, 1.0])), [0.1, 0.6, 1.0])


def test_isotonic_calibration_rejects_decreasing_y() -> None:
    with pytest.raises(ValueError, match="non-decreasing"):
        HeadSpec.model_validate(
            {
                "name": "r",
                "output": "p",
                "calibration": {"method": "isotonic", "x": [0.0, 1.0], "y": [0.9, 0.1]},
            }
        )


def test_manifest_matching_the_model_resolves_every_role() -> None:
    m = JudgeManifest.model_validate(default_manifest())
    roles = validate_against_model(m, GRAPH_INPUTS, GRAPH_OUTPUTS)
    assert roles["response_token_type_ids"] == "response_token_type_ids"
    assert len(roles) == 6


def test_manifest_without_inputs_maps_roles_to_same_named_graph_inputs() -> None:
    m = JudgeManifest.model_validate(default_manifest(inputs=None))
    assert len(validate_against_model(m, GRAPH_INPUTS, GRAPH_OUTPUTS)) == 6


def test_input_named_by_the_manifest_but_absent_from_the_model_is_named() -> None:
    data = default_manifest()
    data["inputs"]["prompt_input_ids"] = "ids_of_prompt"
    m = JudgeManifest.model_validate(data)
    with pytest.raises(JudgeLoadError, match="'ids_of_prompt'"):
        validate_against_model(m, GRAPH_INPUTS, GRAPH_OUTPUTS)


def test_model_input_no_role_feeds_is_named() -> None:
    m = JudgeManifest.model_validate(default_manifest())
    extra = [*GRAPH_INPUTS, TensorSpec("position_ids", "int64", (None, None))]
    with pytest.raises(JudgeLoadError, match="position_ids"):
        validate_against_model(m, extra, GRAPH_OUTPUTS)


def test_non_int64_input_is_rejected() -> None:
    m = JudgeManifest.model_validate(default_manifest())
    bad = [
        TensorSpec(s.name, "int32" if s.name == "response_input_ids" else s.dtype, s.shape)
        for s in GRAPH_INPUTS
    ]
    with pytest.raises(JudgeLoadError, match="'response_input_ids' is int32"):
        validate_against_model(m, bad, GRAPH_OUTPUTS)


def test_head_reading_a_missing_output_is_named() -> None:
    data = default_manifest()
    data["heads"][2]["output"] = "quality_logits"
    m = JudgeManifest.model_validate(data)
    with pytest.raises(JudgeLoadError, match="head 'quality' reads output 'quality_logits'"):
        validate_against_model(m, GRAPH_INPUTS, GRAPH_OUTPUTS)


def test_head_index_beyond_the_output_width_is_rejected() -> None:
    data = default_manifest()
    data["heads"][2]["index"] = 3
    m = JudgeManifest.model_validate(data)
    with pytest.raises(JudgeLoadError, match="index 3 is out of range"):
        validate_against_model(m, GRAPH_INPUTS, GRAPH_OUTPUTS)


def test_missing_embedding_output_is_named() -> None:
    m = JudgeManifest.model_validate(default_manifest(embedding={"output": "pooled"}))
    with pytest.raises(JudgeLoadError, match="embedding output 'pooled'"):
        validate_against_model(m, GRAPH_INPUTS, GRAPH_OUTPUTS)
