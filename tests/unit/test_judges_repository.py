"""Loading a judge repository: every load problem is a JudgeLoadError naming the judge."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from judges_fixtures import default_manifest, make_judge_graph, write_judge
from taxmeter.errors import ConfigError, JudgeLoadError
from taxmeter.judges.config import JudgeEngineConfig
from taxmeter.judges.repository import (
    LoadedJudge,
    load_repository,
    onnx_backend_factory,
)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    p = ThreadPoolExecutor(1)
    yield p
    p.shutdown()


def load(repo: Path, pool: ThreadPoolExecutor, **cfg: object) -> list[LoadedJudge]:
    config = JudgeEngineConfig(repository=repo, **cfg)
    return load_repository(repo, config, backend_factory=onnx_backend_factory(config, pool))


def test_missing_repository_folder_is_an_error_naming_the_path(
    tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    missing = tmp_path / "no-such-repo"
    with pytest.raises(ConfigError, match=str(missing)) as info:
        load(missing, pool)
    assert info.value.field == "judges.repository"


def test_empty_repository_is_an_error(tmp_path: Path, pool: ThreadPoolExecutor) -> None:
    with pytest.raises(ConfigError, match="holds no judge"):
        load(tmp_path, pool)


def test_judges_are_loaded_in_name_order_and_can_be_subset(
    tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    for name in ("zeta", "alpha", "mid"):
        write_judge(tmp_path, name)
    assert [j.name for j in load(tmp_path, pool)] == ["alpha", "mid", "zeta"]
    assert [j.name for j in load(tmp_path, pool, judges=["zeta", "alpha"])] == ["alpha", "zeta"]
    with pytest.raises(ConfigError, match=r"\['nope'\] not found"):
        load(tmp_path, pool, judges=["nope"])


def test_manifest_error_stops_loading(tmp_path: Path, pool: ThreadPoolExecutor) -> None:
    manifest = default_manifest()
    del manifest["heads"]
    write_judge(tmp_path, "default", manifest=manifest)
    with pytest.raises(JudgeLoadError, match=r"judge 'default'.*heads: Field required"):
        load(tmp_path, pool)


def test_missing_model_file_is_named(tmp_path: Path, pool: ThreadPoolExecutor) -> None:
    d = write_judge(tmp_path, "default")
    (d / "model.onnx").unlink()
    with pytest.raises(JudgeLoadError, match=r"model file .*model\.onnx does not exist"):
        load(tmp_path, pool)


def test_corrupt_onnx_file_is_a_load_error(tmp_path: Path, pool: ThreadPoolExecutor) -> None:
    good = make_judge_graph().SerializeToString()
    write_judge(tmp_path, "default", model=good[: len(good) // 3] + b"\xff\x00garbage")
    with pytest.raises(JudgeLoadError, match=r"judge 'default': model.onnx is not a valid ONNX"):
        load(tmp_path, pool)


def test_tokenizer_larger_than_the_embedding_table_is_rejected(
    tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    write_judge(tmp_path, "default", model=make_judge_graph(vocab_size=1000))
    with pytest.raises(JudgeLoadError, match=r"30522 tokens but .* embedding table has 1000"):
        load(tmp_path, pool)


def test_garbled_tokenizer_json_is_a_load_error(tmp_path: Path, pool: ThreadPoolExecutor) -> None:
    write_judge(tmp_path, "default", tokenizer='{"version": "1.0", "model": 42}')
    with pytest.raises(JudgeLoadError, match=r"judge 'default': tokenizer file .* not be read"):
        load(tmp_path, pool)


def test_missing_tokenizer_json_is_a_load_error(tmp_path: Path, pool: ThreadPoolExecutor) -> None:
    d = write_judge(tmp_path, "default")
    (d / "tokenizer.json").unlink()
    with pytest.raises(JudgeLoadError, match=r"tokenizer file .* does not exist"):
        load(tmp_path, pool)


async def test_model_tensors_not_matching_the_manifest_stop_loading(
    tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    manifest = default_manifest()
    manifest["heads"][0]["output"] = "refusal_logits"
    write_judge(tmp_path, "default", manifest=manifest)
    [judge] = load(tmp_path, pool)
    with pytest.raises(JudgeLoadError, match=r"judge 'default'.*'refusal_logits'"):
        await judge.start()


async def test_started_judge_reports_real_tensor_specs(
    tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    write_judge(tmp_path, "default")
    [judge] = load(tmp_path, pool)
    await judge.start()
    specs = {s.name: s for s in judge.backend.outputs()}
    assert specs["logits"].dtype == "float32"
    assert specs["logits"].shape == (None, 3)
    assert judge.feed_names["prompt_input_ids"] == "prompt_input_ids"
    assert judge.backend.provider == "cpu"
    await judge.backend.aclose()


async def test_auto_precision_on_cpu_fallback_reloads_the_fp32_model(
    tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    d = write_judge(
        tmp_path, "default", manifest=default_manifest(variants={"fp16": "model.fp16.onnx"})
    )
    (d / "model.fp16.onnx").write_bytes(b"not a model: loading it on the CPU would fail")
    [judge] = load(tmp_path, pool, providers=["cuda", "cpu"], precision="auto")
    await judge.start()
    if judge.backend.provider == "cuda":  # pragma: no cover - GPU machine
        pytest.skip("CUDA is actually available here")
    assert getattr(judge.backend, "precision", None) == "fp32"
    await judge.backend.aclose()


async def test_fp16_precision_without_a_variant_is_a_load_error(
    tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    write_judge(tmp_path, "default")
    [judge] = load(tmp_path, pool, precision="fp16")
    with pytest.raises(JudgeLoadError, match="no fp16 variant"):
        await judge.start()
