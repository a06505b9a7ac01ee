"""The development-time fine-tuning tool (tools/judges/finetune.py) on a tiny random encoder.

Its JAX transformer layers must be the BERT the graph builds (checked against the float64
NumPy reference, which is written from the BERT definition), its low-rank updates must act as
``W + A @ B``, and its training must learn: otherwise a measurement made with it would say
nothing about the shipped encoder. Needs jax (a dev extra): skips without it, fails in CI.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from taxmeter.judgetools.graph import EncoderConfig, random_encoder_weights
from taxmeter.judgetools.reference import encode_reference

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools/judges"))

if os.environ.get("CI") != "true":
    pytest.importorskip("jax")

import finetune as ft  # noqa: E402

TINY = EncoderConfig(
    vocab_size=50, hidden_size=32, num_layers=3, num_heads=4, intermediate_size=64, max_position=40
)


def _batch(rng: np.random.Generator, lengths: list[int]) -> tuple[np.ndarray, np.ndarray]:
    seq = max(lengths)
    ids = np.zeros((len(lengths), seq), dtype=np.int32)
    mask = np.zeros((len(lengths), seq), dtype=np.float32)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(1, TINY.vocab_size, n)
        mask[i, :n] = 1.0
    return ids, mask


def _emb(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        "word": w["embeddings.word_embeddings.weight"],
        "pos": w["embeddings.position_embeddings.weight"],
        "type": w["embeddings.token_type_embeddings.weight"],
        "ln_g": w["embeddings.LayerNorm.weight"],
        "ln_b": w["embeddings.LayerNorm.bias"],
    }


def _pool(states: Any, mask: np.ndarray) -> np.ndarray:
    x = np.asarray(states, dtype=np.float64)
    pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
    out: np.ndarray = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    return out


def test_the_jax_layers_are_the_bert_the_graph_builds() -> None:
    w = random_encoder_weights(TINY, seed=3)
    ids, mask = _batch(np.random.default_rng(0), [7, 3, 12, 1])
    frozen, _, _ = ft.make_fns(TINY.num_heads)
    layers = [ft.layer_params(w, i) for i in range(TINY.num_layers)]
    got = _pool(frozen(_emb(w), layers, ids, mask), mask)
    ref = encode_reference(w, ids.astype(np.int64), mask.astype(np.int64), config=TINY)
    assert np.min(np.sum(got * ref, axis=1)) >= 0.99999


def test_low_rank_updates_act_as_w_plus_a_times_b() -> None:
    w = random_encoder_weights(TINY, seed=4)
    ids, mask = _batch(np.random.default_rng(1), [5, 9])
    rng = np.random.default_rng(2)
    frozen, _, _ = ft.make_fns(TINY.num_heads)
    base = [ft.layer_params(w, i) for i in range(TINY.num_layers)]
    lora = [dict(p) for p in base]
    merged = {k: v.copy() for k, v in w.items()}
    for i, p in enumerate(lora):
        for short, long in (("q", "attention.self.query"), ("i", "intermediate.dense")):
            a = rng.standard_normal((p[f"{short}_w"].shape[0], 2)).astype(np.float32) * 0.1
            b = rng.standard_normal((2, p[f"{short}_w"].shape[1])).astype(np.float32) * 0.1
            p[f"{short}_A"], p[f"{short}_B"] = a, b
            # HF layout is [out, in]: the update enters transposed.
            merged[f"encoder.layer.{i}.{long}.weight"] += (a @ b).T
    got = _pool(frozen(_emb(w), lora, ids, mask), mask)
    ref = encode_reference(merged, ids.astype(np.int64), mask.astype(np.int64), config=TINY)
    unchanged = _pool(frozen(_emb(w), base, ids, mask), mask)
    assert np.min(np.sum(got * ref, axis=1)) >= 0.99999
    assert np.min(np.sum(got * unchanged, axis=1)) < 0.9999  # the update did something


@pytest.mark.parametrize("lora", [0, 2])
def test_training_learns_a_token_the_frozen_layers_pass_on(lora: int) -> None:
    """Label = whether token 7 occurs in the first positions; the tuned layers must find it."""
    w = random_encoder_weights(TINY, seed=5)
    rng = np.random.default_rng(6)
    n, seq = 256, 10
    ids = rng.integers(8, TINY.vocab_size, (n, seq)).astype(np.int32)
    y = (rng.random(n) < 0.5).astype(np.float32)
    ids[y == 1, rng.integers(0, seq, int(y.sum()))] = 7
    mask = np.ones((n, seq), np.float32)
    frozen, _, _ = ft.make_fns(TINY.num_heads)
    states = np.asarray(frozen(_emb(w), [ft.layer_params(w, 0)], ids, mask))
    side = np.zeros((n, 1), np.float32)
    params = ft.train_branch(
        [ft.layer_params(w, i) for i in (1, 2)],
        TINY.num_heads,
        states[:192],
        mask[:192],
        side[:192],
        y[:192],
        np.ones(192, np.float32),
        epochs=30,
        lr=3e-3,
        head_lr=3e-2,
        batch=32,
        seed=0,
        lora=lora,
        progress=False,
    )
    z = ft.predict(params, states[192:], mask[192:], side[192:], heads=TINY.num_heads)
    assert ft.auc(z, y[192:]) >= 0.95
