"""``taxmeter judges optimize``: fused, fp16 and int8 variants of a builder-shaped judge graph
(random weights, real ONNX Runtime sessions), their parity with the plain graph, the manifest
they are recorded in, and the engine running them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest
from judges_fixtures import write_judge
from prometheus_client import CollectorRegistry
from taxmeter.cli import main as cli_main
from taxmeter.judges.config import JudgeEngineConfig
from taxmeter.judges.engine import JudgeEngine
from taxmeter.judges.manifest import load_manifest
from taxmeter.judges.repository import load_repository, onnx_backend_factory
from taxmeter.judgetools.fusion import canonicalise_for_fusion, fused_graph
from taxmeter.judgetools.graph import (
    DenseLayer,
    EncoderConfig,
    build_judge_graph,
    feature_dim,
    random_encoder_weights,
)
from taxmeter.judgetools.optimize import (
    OPT_MAX_ABS,
    OPT_MIN_COSINE,
    PARITY_TEXTS,
    OptimizeError,
    OptimizeReport,
    optimize_judge,
    optimize_repository,
)

# MiniLM's vocabulary (the fixture tokenizer), a small encoder so the test stays quick
SMALL = EncoderConfig(
    hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64, max_position=128
)


def judge_graph(seed: int = 3) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    heads = [
        DenseLayer(
            (rng.standard_normal((feature_dim(SMALL.hidden_size), 3)) * 0.3).astype(np.float32),
            rng.standard_normal(3).astype(np.float32) * 0.1,
        )
    ]
    return build_judge_graph(random_encoder_weights(SMALL, seed=seed), heads, config=SMALL)


@pytest.fixture(scope="module")
def optimised(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, OptimizeReport]:
    repo = tmp_path_factory.mktemp("repo")
    d = write_judge(repo, "default", model=judge_graph())
    return d, optimize_judge(d)


def test_attention_is_fused_only_after_the_rewrites() -> None:
    from onnxruntime.transformers.optimizer import optimize_model

    plain = judge_graph()
    as_built = optimize_model(
        onnx.ModelProto.FromString(plain.SerializeToString()),
        model_type="bert",
        num_heads=4,
        hidden_size=32,
        opt_level=0,
    )
    # our builder's mask (cast, then unsqueeze) and Mul scaling defeat the BERT pattern
    assert as_built.get_fused_operator_statistics()["Attention"] == 0
    rewritten = onnx.ModelProto.FromString(plain.SerializeToString())
    assert canonicalise_for_fusion(rewritten) == {"mask": 2, "scale": 4}  # 2 sides x 2 layers
    opt, fused, rewrites = fused_graph(plain)
    assert fused["Attention"] == 4
    # each side's Attention packs the same Q/K/V weights: one copy is kept
    assert rewrites["shared_initializers"] >= 2
    packed = [i for i in opt.graph.initializer if len(i.dims) == 2 and i.dims[1] == 3 * 32]
    assert len(packed) == 2  # one per layer, not per layer and side
    assert fused["SkipLayerNormalization"] >= 8
    assert fused["BiasGelu"] == 4


def test_optimise_writes_checked_variants_and_records_them(
    optimised: tuple[Path, OptimizeReport],
) -> None:
    d, report = optimised
    manifest = load_manifest(d)
    assert manifest.variants == {
        "opt": "model.opt.onnx",
        "opt_fp16": "model.opt.fp16.onnx",
        "int8": "model.int8.onnx",
    }
    assert manifest.provider_variants["cpu"] == "opt"
    for file in manifest.variants.values():
        assert (d / file).is_file()
    assert (d / "model.onnx").read_bytes() == judge_graph().SerializeToString()  # reference kept
    parity = report.parity
    assert parity["opt"].max_abs <= OPT_MAX_ABS
    assert parity["opt"].min_cosine >= OPT_MIN_COSINE
    assert parity["opt"].flipped == 0
    assert parity["opt"].decisions == len(PARITY_TEXTS) * 3
    assert parity["opt_fp16"].min_cosine >= 0.999
    assert parity["int8"].min_cosine >= 0.99
    ops = {n.op_type for n in onnx.load(str(d / "model.int8.onnx")).graph.node}
    assert ops & {"QAttention", "MatMulInteger", "DynamicQuantizeMatMul"}
    half = onnx.load(str(d / "model.opt.fp16.onnx"))
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in half.graph.initializer)
    heads = [i for i in half.graph.initializer if i.name.startswith("heads.")]
    assert heads and all(i.data_type == onnx.TensorProto.FLOAT for i in heads)
    assert [i.type.tensor_type.elem_type for i in half.graph.output] == [
        onnx.TensorProto.FLOAT,
        onnx.TensorProto.FLOAT,
    ]


async def scores(repo: Path, **cfg: object) -> tuple[list[dict[str, float]], str]:
    config = JudgeEngineConfig(repository=repo, intra_op_threads=1, **cfg)
    engine = JudgeEngine.from_config(config, CollectorRegistry())
    await engine.start()
    await engine.wait_ready(timeout_s=60)
    try:
        results = await engine.score_many(list(PARITY_TEXTS))
        [judge] = engine._judges
        variant = str(getattr(judge.backend, "variant", "?"))
    finally:
        await engine.aclose()
    return [{k: v.value for k, v in r.items()} for r in results], variant


async def test_engine_runs_the_manifests_cpu_variant_with_the_plain_scores(
    optimised: tuple[Path, OptimizeReport],
) -> None:
    d, _ = optimised
    repo = d.parent
    auto, variant = await scores(repo)
    assert variant == "opt"
    plain, variant = await scores(repo, variant="plain")
    assert variant == "plain"
    int8, variant = await scores(repo, variant="int8")
    assert variant == "int8"
    for a, p, q in zip(auto, plain, int8, strict=True):
        assert a.keys() == p.keys()
        assert max(abs(a[k] - p[k]) for k in a) < 1e-4
        assert max(abs(q[k] - p[k]) for k in q) < 0.05


def test_a_missing_variant_file_stops_loading(tmp_path: Path) -> None:
    from taxmeter.errors import JudgeLoadError

    d = write_judge(tmp_path, "default", model=judge_graph())
    optimize_judge(d, fp16=False)
    (d / "model.int8.onnx").unlink()
    config = JudgeEngineConfig(repository=tmp_path)
    with (
        ThreadPoolExecutor(1) as pool,
        pytest.raises(JudgeLoadError, match=r"int8 variant .* does not exist"),
    ):
        load_repository(tmp_path, config, backend_factory=onnx_backend_factory(config, pool))


def test_cli_optimises_one_judge_and_names_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_judge(tmp_path, "a", model=judge_graph(1))
    write_judge(tmp_path, "b", model=judge_graph(2))
    assert (
        cli_main(
            [
                "judges",
                "optimize",
                str(tmp_path),
                "--judge",
                "b",
                "--no-fp16",
                "--cpu-variant",
                "int8",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "judge b: fused Attention 4" in out
    assert "provider_variants: cpu -> int8" in out
    assert load_manifest(tmp_path / "b").provider_variants == {"cpu": "int8"}
    assert load_manifest(tmp_path / "a").variants == {}
    assert cli_main(["judges", "optimize", str(tmp_path), "--judge", "c"]) == 2
    assert "judge 'c' not found" in capsys.readouterr().err
    assert (
        cli_main(["judges", "optimize", str(tmp_path), "--no-int8", "--cpu-variant", "int8"]) == 2
    )


def test_a_half_precision_model_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    heads = [
        DenseLayer(
            rng.standard_normal((feature_dim(32), 3)).astype(np.float32), np.zeros(3, np.float32)
        )
    ]
    half = build_judge_graph(random_encoder_weights(SMALL), heads, config=SMALL, dtype="float16")
    write_judge(tmp_path, "default", model=half)
    with pytest.raises(OptimizeError, match="not an fp32 graph"):
        optimize_repository(tmp_path)


@pytest.mark.slow
def test_minilm_shaped_graph_fuses_every_layer_and_keeps_its_outputs() -> None:
    """The default judge's shape (6 layers, hidden 384, 12 heads), random weights: every
    attention of both sides fuses, and the fused graph's logits and embeddings match."""
    import onnxruntime as ort

    cfg = EncoderConfig()
    rng = np.random.default_rng(5)
    heads = [
        DenseLayer(
            (rng.standard_normal((feature_dim(cfg.hidden_size), 3)) * 0.05).astype(np.float32),
            np.zeros(3, np.float32),
        )
    ]
    plain = build_judge_graph(random_encoder_weights(cfg, seed=5), heads)
    opt, fused, _ = fused_graph(plain)
    assert fused["Attention"] == 12
    assert fused["BiasGelu"] == 12
    lengths = [5, 17, 40, 3]
    ids = np.zeros((4, 40), np.int64)
    mask = np.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(1000, 30000, n)
        mask[i, :n] = 1
    feeds = {
        f"{side}_{name}": value
        for side in ("prompt", "response")
        for name, value in (
            ("input_ids", ids),
            ("attention_mask", mask),
            ("token_type_ids", np.zeros_like(ids)),
        )
    }
    feeds["response_input_ids"] = np.roll(ids, 1, axis=0)
    feeds["response_attention_mask"] = np.roll(mask, 1, axis=0)
    outs = []
    for model in (plain, opt):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(
            model.SerializeToString(), so, providers=["CPUExecutionProvider"]
        )
        outs.append(
            dict(
                zip(["logits", "embedding"], sess.run(["logits", "embedding"], feeds), strict=True)
            )
        )
    assert np.max(np.abs(outs[0]["logits"] - outs[1]["logits"])) < OPT_MAX_ABS
    a, b = outs[0]["embedding"], outs[1]["embedding"]
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert float(cos.min()) >= OPT_MIN_COSINE


async def test_a_cuda_request_that_lands_on_the_cpu_runs_the_cpus_variant(
    optimised: tuple[Path, OptimizeReport],
    tmp_path: Path,
) -> None:
    import shutil

    import yaml

    d, _ = optimised
    copy = tmp_path / "repo" / "default"
    shutil.copytree(d, copy)
    raw = yaml.safe_load((copy / "manifest.yaml").read_text(encoding="utf-8"))
    raw["provider_variants"] = {"cpu": "opt", "cuda": "opt_fp16"}
    (copy / "manifest.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    (copy / "model.opt.fp16.onnx").write_bytes(b"not a model: loading it here would fail")
    config = JudgeEngineConfig(repository=copy.parent, providers=["cuda", "cpu"])
    with ThreadPoolExecutor(1) as pool:
        [judge] = load_repository(
            copy.parent, config, backend_factory=onnx_backend_factory(config, pool)
        )
        await judge.start()
        if judge.backend.provider == "cuda":  # pragma: no cover - GPU machine
            pytest.skip("CUDA is actually available here")
        assert getattr(judge.backend, "variant", None) == "opt"
        assert getattr(judge.backend, "precision", None) == "fp32"
        await judge.backend.aclose()


@pytest.mark.parametrize("family", ["bert", "roberta", "distilbert"])
def test_imported_classifiers_fuse_and_keep_their_scores(tmp_path: Path, family: str) -> None:
    """``taxmeter judges import`` graphs (response judges) go through the same steps."""
    from hf_fixtures import write_checkpoint
    from taxmeter.judgetools.hf_import import ImportOptions, import_checkpoint

    write_checkpoint(tmp_path / "hf", family)
    import_checkpoint(tmp_path / "hf", tmp_path / "repo", ImportOptions(name="j"))
    report = optimize_judge(tmp_path / "repo" / "j", fp16=False)
    assert report.fused["Attention"] == 2  # the tiny checkpoints have 2 layers
    assert report.parity["opt"].max_abs <= OPT_MAX_ABS
    assert report.parity["opt"].flipped == 0
    assert report.parity["int8"].decisions == len(PARITY_TEXTS)
