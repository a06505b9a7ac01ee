"""The refusal lexicon of the default judge, matched in the ONNX graph on token ids.

A refusal is usually decided by the answer's first sentence, and a handful of phrases carry
most of that signal across models ("I cannot provide", "it is not appropriate", "I'm just an
AI"). The graph appends, per phrase, whether it occurs in the answer's opening and anywhere, plus
the mean of the opening's token states (the opening pool); the heads learn what each is worth.
Token ids in, so a remote KServe server runs the same graph without a tokenizer of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from onnx import TensorProto

__all__ = ["Lexicon", "lexicon_hits_graph", "lexicon_hits_numpy", "opening_mask_graph"]


class OpBuilder(Protocol):
    """What these functions need of the graph builder (``onnx_builder.GraphBuilder``)."""

    @property
    def onnx_dtype(self) -> int: ...

    def init(self, name: str, value: np.ndarray) -> str: ...

    def const_i64(self, name: str, values: Any) -> str: ...

    def op(self, op_type: str, inputs: Any, prefix: str, **attrs: Any) -> str: ...


@dataclass(frozen=True, slots=True)
class Lexicon:
    """Phrases as token-id sequences, matched in the graph on the response's ``input_ids``.

    ``phrases`` is ``[P, L]`` int64, each row one phrase padded with ``-1`` (matches any token).
    Two features per phrase: it occurs starting within the first ``opening_tokens`` positions
    (the ``[CLS]`` included), and it occurs anywhere. ``opening_tokens`` also bounds the
    opening pool: the mean of the response's first ``opening_tokens`` token states.
    """

    phrases: np.ndarray
    opening_tokens: int = 40

    def __post_init__(self) -> None:
        p = np.asarray(self.phrases)
        if p.ndim != 2 or p.shape[0] == 0 or p.dtype != np.int64:
            raise ValueError("Lexicon.phrases must be a non-empty [P, L] int64 array")
        if np.any(p[:, 0] < 0):
            raise ValueError("a phrase's first token cannot be a wildcard")
        if self.opening_tokens < 2:
            raise ValueError("Lexicon.opening_tokens must be >= 2")

    @property
    def size(self) -> int:
        return int(np.asarray(self.phrases).shape[0])


def lexicon_hits_numpy(
    input_ids: np.ndarray, attention_mask: np.ndarray, lexicon: Lexicon
) -> np.ndarray:
    """``[N, 2P]``: the graph's lexicon features (opening hits, then anywhere hits) in NumPy."""
    ids = np.where(np.asarray(attention_mask) > 0, np.asarray(input_ids), -2)
    n, t = ids.shape
    phrases = np.asarray(lexicon.phrases)
    length = phrases.shape[1]
    padded = np.concatenate([ids, np.full((n, length), -2, dtype=ids.dtype)], axis=1)
    hit = np.ones((n, t, phrases.shape[0]), dtype=bool)
    for k in range(length):
        tok = phrases[:, k]
        hit &= (padded[:, k : k + t, None] == tok[None, None, :]) | (tok < 0)[None, None, :]
    opening = hit[:, : lexicon.opening_tokens, :].any(axis=1)
    return np.concatenate([opening, hit.any(axis=1)], axis=1).astype(np.float64)


def lexicon_hits_graph(b: OpBuilder, lexicon: Lexicon) -> str:
    """``[B, 2P]`` float32: per phrase, a hit starting in the opening, and a hit anywhere."""
    p = "lexicon"
    phrases = np.asarray(lexicon.phrases)
    length = phrases.shape[1]
    ids = b.op(
        "Where",
        [
            b.op("Cast", ["response_attention_mask"], p, to=TensorProto.BOOL),
            "response_input_ids",
            b.const_i64("c.lex_none", -2),
        ],
        p,
    )
    # Pad the end with ``length`` never-matching tokens so every shift keeps the width T.
    padded = b.op(
        "Pad", [ids, b.const_i64("c.lex_pads", [0, 0, 0, length]), b.const_i64("c.lex_none", -2)], p
    )
    seq_len = b.op("Shape", [ids], p, start=1, end=2)
    axis1 = b.const_i64("c.axis1", [1])
    hit = ""
    for k in range(length):
        start = b.const_i64(f"c.lex_k{k}", [k])
        shifted = b.op("Slice", [padded, start, b.op("Add", [seq_len, start], p), axis1], p)
        shifted = b.op("Unsqueeze", [shifted, b.const_i64("c.axes_last", [-1])], p)
        tok = phrases[:, k]
        eq = b.op("Equal", [shifted, b.const_i64(f"c.lex_tok{k}", tok.tolist())], p)
        if np.any(tok < 0):
            eq = b.op("Or", [eq, b.init(f"c.lex_wild{k}", tok < 0)], p)
        hit = eq if not hit else b.op("And", [hit, eq], p)
    hitf = b.op("Cast", [hit], p, to=TensorProto.FLOAT)  # [B, T, P]
    anywhere = b.op("ReduceMax", [hitf], p, axes=[1], keepdims=0)
    opening_len = b.op("Min", [seq_len, b.const_i64("c.lex_open", [lexicon.opening_tokens])], p)
    opening = b.op("Slice", [hitf, b.const_i64("c.zero1", [0]), opening_len, axis1], p)
    opening = b.op("ReduceMax", [opening], p, axes=[1], keepdims=0)
    return b.op("Concat", [opening, anywhere], p, axis=1)


def opening_mask_graph(b: OpBuilder, maskf: str, lexicon: Lexicon) -> str:
    """The response mask with only its first ``opening_tokens`` positions kept."""
    p = "opening"
    seq_len = b.op("Shape", [maskf], p, start=1, end=2)
    positions = b.op(
        "Range",
        [b.const_i64("c.zero", 0), b.op("Squeeze", [seq_len], p), b.const_i64("c.one_i", 1)],
        p,
    )
    keep = b.op("Less", [positions, b.const_i64("c.lex_open_s", lexicon.opening_tokens)], p)
    keep = b.op("Cast", [keep], p, to=b.onnx_dtype)
    return b.op("Mul", [maskf, keep], p)
