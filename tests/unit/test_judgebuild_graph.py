"""The ONNX graph builder against the float64 NumPy reference, on a tiny random encoder."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from taxmeter.judgetools.graph import (
    DUAL_INPUTS,
    DenseLayer,
    EncoderConfig,
    build_judge_graph,
    feature_dim,
    random_encoder_weights,
)
from taxmeter.judgetools.reference import encode_reference, heads_reference

TINY = EncoderConfig(
    vocab_size=50, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64, max_position=40
)


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def _batch(rng: np.random.Generator, lengths: list[int]) -> tuple[np.ndarray, ...]:
    seq = max(lengths)
    ids = np.zeros((len(lengths), seq), dtype=np.int64)
    mask = np.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(1, TINY.vocab_size, n)
        mask[i, :n] = 1
    types = np.zeros_like(ids)
    types[:, 1::3] = 1
    types *= mask
    return ids, mask, types


def _heads(seed: int = 1) -> list[DenseLayer]:
    rng = np.random.default_rng(seed)
    f = feature_dim(TINY.hidden_size)
    return [
        DenseLayer(
            rng.standard_normal((f, 3)).astype(np.float32),
            rng.standard_normal(3).astype(np.float32),
        )
    ]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    result: np.ndarray = np.sum(a * b, axis=1) / (
        np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    )
    return result


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    return random_encoder_weights(TINY, seed=7)


def test_fp32_graph_matches_float64_reference_with_padding(
    weights: dict[str, np.ndarray],
) -> None:
    rng = np.random.default_rng(0)
    p = _batch(rng, [5, 12, 3, 9])
    r = _batch(rng, [17, 4, 11, 2])
    heads = _heads()
    out = _session(
        build_judge_graph(weights, heads, config=TINY, prompt_embedding_output=True)
    ).run(None, dict(zip(DUAL_INPUTS, (*p, *r), strict=True)))
    logits, emb, pemb = out
    ref_r = encode_reference(weights, *r, config=TINY)
    ref_p = encode_reference(weights, *p, config=TINY)
    assert _cos(emb, ref_r).min() >= 0.9999999
    assert _cos(pemb, ref_p).min() >= 0.9999999
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(logits, heads_reference(ref_p, ref_r, r[1], heads), atol=1e-3)


def test_padding_does_not_change_a_sequences_embedding(weights: dict[str, np.ndarray]) -> None:
    rng = np.random.default_rng(3)
    ids, mask, types = _batch(rng, [6])
    sess = _session(build_judge_graph(weights, _heads(), config=TINY))
    alone = sess.run(["embedding"], dict(zip(DUAL_INPUTS, (ids, mask, types) * 2, strict=True)))
    padded = [np.pad(a, ((0, 0), (0, 10))) for a in (ids, mask, types)]
    with_pad = sess.run(["embedding"], dict(zip(DUAL_INPUTS, padded * 2, strict=True)))
    np.testing.assert_allclose(alone[0], with_pad[0], atol=1e-6)


def test_fp16_graph_keeps_int64_inputs_float32_outputs_and_tracks_reference(
    weights: dict[str, np.ndarray],
) -> None:
    model = build_judge_graph(weights, _heads(), config=TINY, dtype="float16")
    assert {i.name: i.type.tensor_type.elem_type for i in model.graph.input} == {
        n: onnx.TensorProto.INT64 for n in DUAL_INPUTS
    }
    assert all(o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT for o in model.graph.output)
    encoder_inits = [
        t for t in model.graph.initializer if t.name.startswith(("embeddings.", "encoder."))
    ]
    assert encoder_inits
    assert all(t.data_type == onnx.TensorProto.FLOAT16 for t in encoder_inits)
    rng = np.random.default_rng(1)
    p, r = _batch(rng, [4, 8]), _batch(rng, [10, 3])
    logits, emb = _session(model).run(None, dict(zip(DUAL_INPUTS, (*p, *r), strict=True)))
    assert logits.dtype == np.float32
    assert _cos(emb, encode_reference(weights, *r, config=TINY)).min() >= 0.999


def test_graph_io_matches_the_dual_contract(weights: dict[str, np.ndarray]) -> None:
    model = build_judge_graph(weights, _heads(), config=TINY)
    inputs = {
        i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
        for i in model.graph.input
    }
    assert list(inputs) == list(DUAL_INPUTS)
    assert all(isinstance(d, str) and d for dims in inputs.values() for d in dims)
    outputs = {
        o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim]
        for o in model.graph.output
    }
    assert outputs == {"logits": ["batch", 3], "embedding": ["batch", TINY.hidden_size]}
    assert model.opset_import[0].version == 17


def test_same_weights_give_the_same_bytes(weights: dict[str, np.ndarray]) -> None:
    a = build_judge_graph(weights, _heads(), config=TINY).SerializeToString()
    b = build_judge_graph(weights, _heads(), config=TINY).SerializeToString()
    assert a == b


def test_encoder_only_graph_has_no_logits(weights: dict[str, np.ndarray]) -> None:
    model = build_judge_graph(weights, [], config=TINY)
    assert [o.name for o in model.graph.output] == ["embedding"]


def test_unknown_dtype_is_rejected(weights: dict[str, np.ndarray]) -> None:
    with pytest.raises(ValueError, match="bfloat16"):
        build_judge_graph(weights, [], config=TINY, dtype="bfloat16")


def _hits_by_loops(
    ids: np.ndarray, mask: np.ndarray, phrases: np.ndarray, opening: int
) -> np.ndarray:
    """Phrase hits written with plain loops (independent of the builder's NumPy version)."""
    out = np.zeros((len(ids), 2 * len(phrases)))
    for i in range(len(ids)):
        n = int(mask[i].sum())
        seq = [int(t) for t in ids[i, :n]]
        for j, row in enumerate(phrases):
            toks = [int(t) for t in row]
            for start in range(n):
                if all(
                    t < 0 or (start + k < n and seq[start + k] == t) for k, t in enumerate(toks)
                ):
                    out[i, len(phrases) + j] = 1
                    if start < opening:
                        out[i, j] = 1
    return out


def test_lexicon_and_opening_pool_features_match_independent_references(
    weights: dict[str, np.ndarray],
) -> None:
    from taxmeter.judgetools.graph import Lexicon, features_numpy, lexicon_hits_numpy

    rng = np.random.default_rng(3)
    p = _batch(rng, [5, 12, 3, 9, 6])
    r = _batch(rng, [17, 4, 11, 2, 20])
    # Plant phrases: one at the start of answer 0, one late in answer 4, one in padding only.
    r[0][0, 1:3] = [7, 8]
    r[0][4, 15:18] = [9, 10, 11]
    phrases = np.array(
        [[7, 8, -1], [9, 10, 11], [9, -1, 11], [0, 0, -1], [12, -1, -1]], dtype=np.int64
    )
    lex = Lexicon(phrases=phrases, opening_tokens=6)
    model = build_judge_graph(weights, [], config=TINY, lexicon=lex, features_output=True)
    feats = _session(model).run(["features"], dict(zip(DUAL_INPUTS, (*p, *r), strict=True)))[0]
    d = TINY.hidden_size
    assert feats.shape == (5, feature_dim(d, lex.size))
    hits = _hits_by_loops(r[0], r[1], phrases, 6)
    assert hits[0, 0] == 1 and hits[4, 5 + 1] == 1 and hits[4, 1] == 0
    assert hits[:, 3].sum() == 0  # [PAD] ids never match
    np.testing.assert_array_equal(feats[:, -2 * lex.size :], hits)
    np.testing.assert_array_equal(lexicon_hits_numpy(r[0], r[1], lex), hits)
    ref_p = encode_reference(weights, *p, config=TINY)
    ref_r = encode_reference(weights, *r, config=TINY)
    ref_o = encode_reference(weights, *r, config=TINY, pool_tokens=6)
    base = features_numpy(ref_p, ref_r, r[1].sum(axis=1))
    np.testing.assert_allclose(feats[:, : base.shape[1]], base, atol=1e-4)
    assert _cos(feats[:, base.shape[1] : base.shape[1] + d], ref_o).min() >= 0.999999
    fp16 = build_judge_graph(
        weights, [], config=TINY, lexicon=lex, features_output=True, dtype="float16"
    )
    f16 = _session(fp16).run(["features"], dict(zip(DUAL_INPUTS, (*p, *r), strict=True)))[0]
    np.testing.assert_array_equal(f16[:, -2 * lex.size :], hits)
    np.testing.assert_allclose(f16, feats, atol=2e-2)


def test_a_lexicon_must_be_int64_rows_that_start_with_a_token() -> None:
    from taxmeter.judgetools.graph import Lexicon

    with pytest.raises(ValueError, match="int64"):
        Lexicon(phrases=np.array([[1, 2]], dtype=np.int32))
    with pytest.raises(ValueError, match="wildcard"):
        Lexicon(phrases=np.array([[-1, 2]], dtype=np.int64))
