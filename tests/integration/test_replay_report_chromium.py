"""The replay's HTML report in a real headless Chromium (Debian's ``chromium``, installed by
scripts/install_chromium.sh): the DOM holds the three plots, the screenshot shows each of them
(their colours, in the order of the page), and the same page without its plots shows none of
those colours (so the check can fail). The report loads nothing from anywhere.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import pytest
from app_fixtures import tiny_judges
from ops_fixtures.tools import require_tool
from replay_fixtures import (
    colour_rows,
    hex_rgb,
    read_png,
    replay,
    replay_document,
    write_config,
    write_prompts,
)
from taxmeter.demo.config import DemoConfig
from taxmeter.demo.endpoints import SimulatedEndpoint
from taxmeter.replay.prompts import builtin_demo
from taxmeter.replay.svg import COLOURS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

WIDTH, HEIGHT = 1200, 3000


async def _make_report(tmp: Path) -> Path:
    demo = DemoConfig()
    g = SimulatedEndpoint("guarded", demo.routes, demo.seed, latency_scale=0.2)
    u = SimulatedEndpoint("unguarded", demo.routes, demo.seed, latency_scale=0.2)
    await g.start()
    await u.start()
    try:
        prompts = write_prompts(tmp / "prompts.jsonl", builtin_demo(80))
        cfg = write_config(
            tmp / "taxmeter.yaml",
            replay_document(g.base_url, u.base_url, tiny_judges(tmp), concurrency=8),
        )
        assert (
            await replay(str(prompts), "-c", str(cfg), "--report", str(tmp / "out" / "report.html"))
            == 0
        )
    finally:
        await g.aclose()
        await u.aclose()
    return tmp / "out" / "report.html"


def _chromium(chromium: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={tmp / 'profile'}",
            f"--window-size={WIDTH},{HEIGHT}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def _bands(shot: Path) -> dict[str, list[int]]:
    width, height, rows = read_png(shot)
    assert (width, height) == (WIDTH, HEIGHT)
    assert len({r for r in rows}) > 50, "a blank screenshot"
    return {name: colour_rows(rows, hex_rgb(c)) for name, c in COLOURS.items()}


def test_the_html_report_renders_its_plots_in_headless_chromium(tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    html = asyncio.run(_make_report(tmp_path))
    text = html.read_text(encoding="utf-8")
    # Self-contained: nothing to fetch, nothing to run.
    assert not re.search(r"<script|<link|<img|<iframe|src=|@import|url\(", text)

    dom = _chromium(chromium, tmp_path, "--dump-dom", html.as_uri()).stdout
    for plot in ("plot-forest", "plot-scatter", "plot-latency"):
        assert f'id="{plot}"' in dom
    forest = dom[dom.index('id="plot-forest"') : dom.index("</svg>", dom.index('id="plot-forest"'))]
    assert forest.count("<rect") - 1 == 5  # background + overall and four categories

    shot = tmp_path / "report.png"
    _chromium(chromium, tmp_path, f"--screenshot={shot}", html.as_uri())
    bands = _bands(shot)
    for name, ys in bands.items():
        assert len(ys) >= 10, f"{name} colour barely on the page: {len(ys)} rows"
    forest_ys, scatter_ys = bands["forest"], bands["scatter"]
    cdf_ys = bands["guarded"] + bands["unguarded"]
    # Page order: the forest plot, then the scatter, then the latency CDFs (each one block).
    assert max(forest_ys) < min(scatter_ys) < max(scatter_ys) < min(cdf_ys)
    assert max(forest_ys) - min(forest_ys) < 400
    assert max(scatter_ys) - min(scatter_ys) < 450

    # The same page without its plots has none of their colours.
    bare = html.with_name("bare.html")
    start = text.index('<div class="plots">')
    end = text.index("<h2>Latency and time to first token")
    bare.write_text(text[:start] + text[end:], encoding="utf-8")
    bare_shot = tmp_path / "bare.png"
    _chromium(chromium, tmp_path, f"--screenshot={bare_shot}", bare.as_uri())
    assert all(not ys for ys in _bands(bare_shot).values())
