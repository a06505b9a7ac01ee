"""A float64 NumPy implementation of the same BERT encoder, pooling and heads as ``graph.py``.

It is the check on the ONNX graph: written from the BERT definition, not from the graph, so a
wrong transpose, mask or LayerNorm in either shows up as a parity failure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from taxmeter.judgetools.graph import DenseLayer, EncoderConfig, features_numpy

__all__ = ["encode_reference", "heads_reference"]


def _erf(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.vectorize(math.erf, otypes=[np.float64])(x)
    return out


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: np.ndarray = (x - mean) / np.sqrt(var + eps) * weight + bias
    return out


def encode_reference(
    weights: Mapping[str, np.ndarray],
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    token_type_ids: np.ndarray | None = None,
    *,
    config: EncoderConfig | None = None,
    pool_tokens: int | None = None,
) -> np.ndarray:
    """L2-normalised mean-pooled sentence embeddings ``[B, D]`` (float64); with
    ``pool_tokens``, the mean covers only the first ``pool_tokens`` positions (the opening
    pool), while attention still sees the whole sequence."""
    cfg = config or EncoderConfig()
    w = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    ids = np.asarray(input_ids, dtype=np.int64)
    mask = np.asarray(attention_mask, dtype=np.float64)
    types = np.zeros_like(ids) if token_type_ids is None else np.asarray(token_type_ids)
    batch, seq = ids.shape
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][np.arange(seq)][None, :, :]
        + w["embeddings.token_type_embeddings.weight"][types]
    )
    eps = cfg.layer_norm_eps
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    heads, dh = cfg.num_heads, cfg.head_dim

    def lin(h: np.ndarray, name: str) -> np.ndarray:
        out: np.ndarray = h @ w[f"{name}.weight"].T + w[f"{name}.bias"]
        return out

    def split(h: np.ndarray) -> np.ndarray:
        return h.reshape(batch, seq, heads, dh).transpose(0, 2, 1, 3)

    neg = np.where(mask > 0, 0.0, -np.inf)[:, None, None, :]
    for i in range(cfg.num_layers):
        n = f"encoder.layer.{i}"
        q = split(lin(x, f"{n}.attention.self.query"))
        k = split(lin(x, f"{n}.attention.self.key"))
        v = split(lin(x, f"{n}.attention.self.value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dh) + neg
        scores = scores - scores.max(axis=-1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, cfg.hidden_size)
        attn = lin(ctx, f"{n}.attention.output.dense")
        x = _layer_norm(
            attn + x,
            w[f"{n}.attention.output.LayerNorm.weight"],
            w[f"{n}.attention.output.LayerNorm.bias"],
            eps,
        )
        h = lin(x, f"{n}.intermediate.dense")
        h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)))
        out = lin(h, f"{n}.output.dense")
        x = _layer_norm(
            out + x, w[f"{n}.output.LayerNorm.weight"], w[f"{n}.output.LayerNorm.bias"], eps
        )
    if pool_tokens is not None:
        mask = mask * (np.arange(seq) < pool_tokens)[None, :]
    pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
    norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    result: np.ndarray = pooled / norms
    return result


def heads_reference(
    e_prompt: np.ndarray,
    e_response: np.ndarray,
    response_mask: np.ndarray,
    heads: Sequence[DenseLayer],
) -> np.ndarray:
    """The head network on the features of two embeddings and the response's attention mask
    ``[N, S]`` (float64 logits)."""
    h = features_numpy(
        np.asarray(e_prompt, np.float64),
        np.asarray(e_response, np.float64),
        np.asarray(response_mask).sum(axis=1),
    )
    for i, layer in enumerate(heads):
        h = h @ np.asarray(layer.weight, np.float64) + np.asarray(layer.bias, np.float64)
        if i < len(heads) - 1:
            h = np.maximum(h, 0.0)
    return h
