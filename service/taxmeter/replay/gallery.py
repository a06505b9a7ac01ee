"""The opt-in gallery of the report (``--show-text``): the eligible pairs with the largest |Δ|,
ranked by the scores of this run's log and shown with their text from a record. Only this
module puts prompt or answer text into a report."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from pathlib import Path
from typing import Any

GALLERY_SIZE = 12
GALLERY_TEXT_CHARS = 1200
RANK_DECIMALS = 4
"""|Δ| is ranked rounded to this many decimals, then by index: a judge's scores move in the last
bits with batch composition (which pairs share a batch), so unrounded near-ties would order
differently between two runs over the same record."""


def largest_disagreements(
    entries: Mapping[int, Mapping[str, Any]],
    texts: Path,
    quality_head: str,
    refusal_head: str,
    unsafe_head: str,
    k: int = GALLERY_SIZE,
) -> list[dict[str, Any]]:
    """The ``k`` eligible pairs with the largest |Δ| by the scores of this run's log (|Δ| rounded
    to ``RANK_DECIMALS``; ties by index), with their text from the record ``texts`` (one
    streamed pass over each)."""
    from taxmeter.replay.store import iter_log

    heap: list[tuple[float, int]] = []
    for i in entries:
        e = entries[i]
        if e.get("status") != "scored":
            continue
        s, arms = e["scores"], e["arms"]
        unsafe = (
            arms["unguarded"].get("outcome") != "guard_block"
            and s["unguarded"].get(unsafe_head, [0, False])[1]
        )
        g, u = s["guarded"].get(quality_head), s["unguarded"].get(quality_head)
        if unsafe or g is None or u is None:
            continue  # not eligible (refusing it is the benefit), or not scored by this head
        key = (round(abs(float(u[0]) - float(g[0])), RANK_DECIMALS), -int(i))
        if len(heap) < k:
            heapq.heappush(heap, key)
        elif key > heap[0]:
            heapq.heapreplace(heap, key)
    chosen = {-i for _, i in heap}
    text_of: dict[int, Mapping[str, Any]] = {}
    for line in iter_log(texts):
        if line.get("kind") != "header" and int(line["i"]) in chosen:
            text_of[int(line["i"])] = line
    out = []
    for _, neg_i in sorted(heap, reverse=True):
        i = -neg_i
        e, rec = entries[i], text_of.get(i, {})
        s, arms = e["scores"], e["arms"]
        rec_arms = rec.get("arms") or {}

        def answer(
            arm: str,
            s: Mapping[str, Any] = s,
            arms: Mapping[str, Any] = arms,
            rec_arms: Mapping[str, Any] = rec_arms,
        ) -> dict[str, Any]:
            blocked = arms[arm].get("outcome") == "guard_block"
            text = str((rec_arms.get(arm) or {}).get("text", ""))[:GALLERY_TEXT_CHARS]
            return {
                "text": text or ("[blocked by the guard]" if blocked else ""),
                "quality": round(float(s[arm][quality_head][0]), 6),
                "refusal": blocked or bool(s[arm].get(refusal_head, [0, False])[1]),
            }

        out.append(
            {
                "i": i,
                "category": e.get("category"),
                "delta": round(
                    float(s["unguarded"][quality_head][0]) - float(s["guarded"][quality_head][0]), 6
                ),
                "prompt": str(rec.get("prompt", ""))[:GALLERY_TEXT_CHARS],
                "guarded": answer("guarded"),
                "unguarded": answer("unguarded"),
            }
        )
    return out
