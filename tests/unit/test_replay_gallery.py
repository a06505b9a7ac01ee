"""The report's gallery ranks pairs the same way on two runs whose scores differ in the last bits
(batch composition changes a judge's float results by ~1e-7)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from taxmeter.replay.gallery import largest_disagreements


def _entry(g: float, u: float, *, unsafe: bool = False) -> dict[str, Any]:
    arms = {"guarded": {"outcome": "answer"}, "unguarded": {"outcome": "answer"}}
    return {
        "status": "scored",
        "category": "general",
        "arms": arms,
        "scores": {
            "guarded": {"q": [g, g > 0.5], "r": [0.1, False], "x": [0.0, False]},
            "unguarded": {"q": [u, u > 0.5], "r": [0.1, False], "x": [0.9, unsafe]},
        },
    }


def _record(path: Path, n: int) -> Path:
    lines = [{"kind": "header"}] + [
        {"i": i, "prompt": f"prompt {i}", "arms": {"guarded": {"text": "g"}}} for i in range(n)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def _order(entries: dict[int, dict[str, Any]], record: Path, k: int) -> list[int]:
    return [g["i"] for g in largest_disagreements(entries, record, "q", "r", "x", k=k)]


def test_last_bit_differences_do_not_reorder_the_gallery(tmp_path: Path) -> None:
    record = _record(tmp_path / "record.jsonl", 6)
    run_a = {
        0: _entry(0.2, 0.5),
        1: _entry(0.2, 0.5 + 3e-7),  # a near-tie with 0 and 2: the same at 4 decimals
        2: _entry(0.2, 0.5 - 2e-7),
        3: _entry(0.1, 0.9),  # the largest |delta|
        4: _entry(0.1, 0.9, unsafe=True),  # not eligible: refusing it is the benefit
        5: _entry(0.4, 0.45),
    }
    run_b = {i: _entry(e["scores"]["guarded"]["q"][0], 0.5) for i, e in run_a.items() if i < 3}
    run_b.update({i: run_a[i] for i in (3, 4, 5)})
    assert _order(run_a, record, 4) == _order(run_b, record, 4) == [3, 0, 1, 2]
    assert _order(run_a, record, 2) == [3, 0]
    shown = largest_disagreements(run_a, record, "q", "r", "x", k=1)[0]
    assert shown["prompt"] == "prompt 3" and shown["delta"] == 0.8
