"""Test helpers for ``taxmeter replay``: running the command in-process, prompt files from the
demo's prompt set, a comparison of reports that tolerates float noise, and a small PNG reader
(for checking Chromium's screenshots without an imaging library).

Not a test module; import it as ``replay_fixtures`` (``tests`` is on ``sys.path``).
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from taxmeter.cli import build_parser
from taxmeter.demo.config import DemoConfig
from taxmeter.replay.command import run_replay
from taxmeter.replay.prompts import PromptItem

DEMO_CATEGORIES = ["support", "coding", "health", "writing"]


def fixed_run_info() -> dict[str, Any]:
    """The ``run`` section of a report built in a unit test (fixed, not from a real run)."""
    return {
        "prompts_source": "x",
        "prompts_digest": "d",
        "from_record": False,
        "arms": {
            "guarded": {"base_url": "http://g", "model": None},
            "unguarded": {"base_url": "http://u", "model": "m"},
        },
        "concurrency": 4,
        "rate_per_s": None,
        "started": "s",
        "finished": "f",
        "retries": 0,
    }


def fixed_judges_info() -> list[dict[str, Any]]:
    """The ``judges`` section of a report built in a unit test."""
    return [
        {"name": "default", "version": "1", "description": "", "build_report": False, "heads": []}
    ]


def write_prompts(path: Path, items: Iterable[PromptItem]) -> Path:
    """A JSONL prompt file: each item's chat body with ``route`` and ``category`` added."""
    with path.open("w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps({**it.body, "route": it.route, "category": it.category}) + "\n")
    return path


def replay_document(
    guarded_url: str,
    unguarded_url: str,
    judges: Path,
    demo: DemoConfig | None = None,
    **shadow: Any,
) -> dict[str, Any]:
    """A configuration for replays against the demo's simulated endpoints."""
    demo = demo or DemoConfig()
    return {
        "routes": [r.name for r in demo.routes],
        "categories": list(DEMO_CATEGORIES),
        "shadow": {
            "guarded": {"base_url": guarded_url, "timeout_s": 20},
            "unguarded": {"base_url": unguarded_url, "timeout_s": 20},
            "concurrency": 4,
            "noise_floor_rate": 0.0,
            **shadow,
        },
        "judges": {"repository": str(judges), "providers": ["cpu"], "intra_op_threads": 1},
        "telemetry": {"log_level": "warning"},
    }


def write_config(path: Path, doc: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(doc)), encoding="utf-8")
    return path


async def replay(*argv: str) -> int:
    """``taxmeter replay ARGV`` in this event loop (the CLI would start its own)."""
    args = build_parser().parse_args(["replay", *argv, "--progress", "none"])
    return await run_replay(args)


def assert_same(a: Any, b: Any, *, tol: float = 1e-5, path: str = "$") -> None:
    """Equal structure and values; floats within ``tol`` (judge scores may differ in the last
    bits between batch compositions; the report rounds them to 6 decimals)."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        assert a == b, f"{path}: {a!r} != {b!r}"
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if isinstance(a, int) and isinstance(b, int):
            assert a == b, f"{path}: {a} != {b}"
        else:
            assert math.isclose(a, b, abs_tol=tol), f"{path}: {a} != {b}"
    elif isinstance(a, Mapping) and isinstance(b, Mapping):
        assert set(a) == set(b), f"{path}: keys {sorted(set(a) ^ set(b))} differ"
        for k in a:
            assert_same(a[k], b[k], tol=tol, path=f"{path}.{k}")
    elif isinstance(a, Sequence) and isinstance(b, Sequence) and not isinstance(a, str):
        assert len(a) == len(b), f"{path}: lengths {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, tol=tol, path=f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


# -- PNG -----------------------------------------------------------------------------------


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB bytes) of an 8-bit RGB or RGBA, non-interlaced PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = colour = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunk = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and colour in (2, 6) and interlace == 0, "unsupported PNG"
        elif kind == b"IDAT":
            idat += chunk
    bpp = 4 if colour == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        cur = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).copy()
        if ftype == 1:  # Sub: a running sum per channel
            summed = np.cumsum(cur.reshape(width, bpp).astype(np.int64), axis=0) & 0xFF
            cur = summed.astype(np.uint8).reshape(stride)
        elif ftype == 2:  # Up
            cur = cur + prev
        elif ftype in (3, 4):  # Average, Paeth: sequential along the row
            line = bytearray(cur.tobytes())
            up = prev.tobytes()
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = up[i]
                if ftype == 3:
                    line[i] = (line[i] + (a + b) // 2) & 0xFF
                    continue
                c = up[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
            cur = np.frombuffer(bytes(line), np.uint8).copy()
        prev = cur
        rgb = cur if bpp == 3 else cur.reshape(width, 4)[:, :3].reshape(width * 3)
        rows.append(rgb.tobytes())
    return width, height, rows


def colour_rows(rows: Sequence[bytes], rgb: tuple[int, int, int], tol: int = 24) -> list[int]:
    """The y of every row holding at least 3 pixels within ``tol`` of ``rgb``."""
    target = np.array(rgb, dtype=np.int16)
    out = []
    for y, row in enumerate(rows):
        px = np.frombuffer(row, np.uint8).reshape(-1, 3).astype(np.int16)
        if int((np.abs(px - target) <= tol).all(axis=1).sum()) >= 3:
            out.append(y)
    return out


def hex_rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
