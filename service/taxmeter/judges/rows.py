"""Per-batch bookkeeping of the judge engine, vectorised over the batch: which items of a
batch are distinct (encoded once), and the per-item head scores from the heads' columns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from taxmeter.errors import JudgeInferenceError
from taxmeter.types import HeadKey, HeadScore, JudgeInput

__all__ = ["first_of_each", "head_rows"]


def first_of_each(items: Sequence[JudgeInput], where: Sequence[int], n: int) -> list[JudgeInput]:
    """The first item of each distinct key, in order of first appearance."""
    unique: list[JudgeInput] = []
    for item, j in zip(items, where, strict=True):
        if j == len(unique):
            unique.append(item)
    assert len(unique) == n
    return unique


def head_rows(
    columns: Sequence[tuple[HeadKey, np.ndarray, float]], n: int
) -> list[dict[HeadKey, HeadScore]]:
    """Per-item head scores: thresholds and conversions once per head (NumPy), then one
    ``HeadScore`` per item and head."""
    keys: list[HeadKey] = []
    per_head: list[list[HeadScore]] = []
    for key, values, threshold in columns:
        if values.shape[0] != n:
            raise JudgeInferenceError(f"head {key} returned {values.shape[0]} scores for {n} items")
        keys.append(key)
        decisions = (values >= threshold).tolist()
        per_head.append(list(map(HeadScore, values.tolist(), decisions)))
    return [dict(zip(keys, row, strict=True)) for row in zip(*per_head, strict=True)]
