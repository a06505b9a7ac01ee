"""The report's three plots as inline SVG strings (no plotting library).

Each plot is one ``<svg>`` element with an ``id`` (``plot-forest``, ``plot-scatter``,
``plot-latency``), a ``<title>`` for screen readers, and data drawn in a colour of its own
(``COLOURS``), so a rendered report can be checked for each plot's presence by its pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

COLOURS = {
    "forest": "#0b6e4f",
    "scatter": "#7b2cbf",
    "guarded": "#d62728",
    "unguarded": "#1f77b4",
}
_AXIS = "#555555"
_GRID = "#dddddd"
_FONT = 'font-family="DejaVu Sans, Arial, sans-serif" font-size="12"'


@dataclass(frozen=True, slots=True)
class ForestRow:
    label: str
    point: float | None
    low: float | None
    high: float | None
    n: int


@dataclass(frozen=True, slots=True)
class ScatterPoint:
    label: str
    x: float | None
    y: float | None
    x_ci: tuple[float, float] | None
    y_ci: tuple[float, float] | None


def _f(x: float) -> str:
    return f"{x:.1f}"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    first = math.ceil(lo / step) * step
    out = []
    v = first
    while v <= hi + step * 1e-9:
        out.append(round(v, 10))
        v += step
    return out


def _open(id_: str, title: str, width: int, height: int) -> list[str]:
    return [
        f'<svg id="{id_}" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="{id_}-title">',
        f'<title id="{id_}-title">{escape(title)}</title>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
    ]


def forest_plot(rows: Sequence[ForestRow], *, title: str, width: int = 680) -> str:
    """Δ per group with its interval; a dashed line at 0 (no tax)."""
    left, right, top, row_h = 170, 30, 30, 30
    height = top + row_h * max(1, len(rows)) + 50
    values = [v for r in rows for v in (r.point, r.low, r.high) if v is not None]
    lo = min([0.0, *values]) - 0.02
    hi = max([0.0, *values]) + 0.02
    lo, hi = max(-1.0, lo), min(1.0, hi)
    plot_w = width - left - right

    def x(v: float) -> float:
        return left + (v - lo) / (hi - lo) * plot_w

    out = _open("plot-forest", title, width, height)
    bottom = top + row_h * max(1, len(rows))
    for t in _ticks(lo, hi):
        out.append(
            f'<line x1="{_f(x(t))}" y1="{top - 10}" x2="{_f(x(t))}" y2="{bottom}" '
            f'stroke="{_GRID}"/>'
        )
        out.append(
            f'<text x="{_f(x(t))}" y="{bottom + 16}" text-anchor="middle" {_FONT}>{t:+.2f}</text>'
        )
    out.append(
        f'<line x1="{_f(x(0))}" y1="{top - 10}" x2="{_f(x(0))}" y2="{bottom}" '
        f'stroke="{_AXIS}" stroke-dasharray="4 3"/>'
    )
    colour = COLOURS["forest"]
    for i, r in enumerate(rows):
        cy = top + row_h * i + row_h / 2
        out.append(
            f'<text x="{left - 8}" y="{_f(cy + 4)}" text-anchor="end" {_FONT}>'
            f"{escape(r.label)} (n={r.n})</text>"
        )
        if r.low is not None and r.high is not None:
            out.append(
                f'<line x1="{_f(x(r.low))}" y1="{_f(cy)}" x2="{_f(x(r.high))}" '
                f'y2="{_f(cy)}" stroke="{colour}" stroke-width="3"/>'
            )
            for end in (r.low, r.high):
                out.append(
                    f'<line x1="{_f(x(end))}" y1="{_f(cy - 6)}" x2="{_f(x(end))}" '
                    f'y2="{_f(cy + 6)}" stroke="{colour}" stroke-width="3"/>'
                )
        if r.point is not None:
            out.append(
                f'<rect x="{_f(x(r.point) - 6)}" y="{_f(cy - 6)}" width="12" '
                f'height="12" fill="{colour}"/>'
            )
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{bottom + 36}" text-anchor="middle" '
        f"{_FONT}>quality tax Δ (unguarded − guarded); right of 0: the guard costs "
        "quality</text>"
    )
    out.append("</svg>")
    return "\n".join(out)


def scatter_plot(
    points: Sequence[ScatterPoint], *, title: str, width: int = 520, height: int = 400
) -> str:
    """Over-refusal (x) against safety benefit (y) per group, with interval whiskers."""
    left, right, top, bottom_pad = 60, 30, 20, 50
    xs = [v for p in points for v in (p.x, *(p.x_ci or ())) if v is not None]
    ys = [v for p in points for v in (p.y, *(p.y_ci or ())) if v is not None]
    x_hi = min(1.0, max([0.05, *xs]) * 1.1)
    y_hi = min(1.0, max([0.05, *ys]) * 1.1)
    pw, ph = width - left - right, height - top - bottom_pad

    def x(v: float) -> float:
        return float(left + v / x_hi * pw)

    def y(v: float) -> float:
        return float(top + ph - v / y_hi * ph)

    out = _open("plot-scatter", title, width, height)
    for t in _ticks(0.0, x_hi):
        out.append(
            f'<line x1="{_f(x(t))}" y1="{top}" x2="{_f(x(t))}" y2="{top + ph}" stroke="{_GRID}"/>'
        )
        out.append(
            f'<text x="{_f(x(t))}" y="{top + ph + 16}" text-anchor="middle" {_FONT}>{t:.0%}</text>'
        )
    for t in _ticks(0.0, y_hi):
        out.append(
            f'<line x1="{left}" y1="{_f(y(t))}" x2="{left + pw}" y2="{_f(y(t))}" stroke="{_GRID}"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{_f(y(t) + 4)}" text-anchor="end" {_FONT}>{t:.0%}</text>'
        )
    out.append(
        f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="{_AXIS}"/>'
    )
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="{_AXIS}"/>')
    colour = COLOURS["scatter"]
    placed: list[tuple[float, float]] = []
    for p in points:
        if p.x is None or p.y is None:
            continue
        cx, cy = x(p.x), y(p.y)
        lx, ly = cx + 10, cy - 8
        while any(abs(ly - py) < 13 and abs(lx - px) < 90 for px, py in placed):
            ly += 14  # labels of nearby points stack instead of overlapping
        placed.append((lx, ly))
        if p.x_ci is not None:
            out.append(
                f'<line x1="{_f(x(p.x_ci[0]))}" y1="{_f(cy)}" x2="{_f(x(p.x_ci[1]))}" '
                f'y2="{_f(cy)}" stroke="{colour}" stroke-opacity="0.45" '
                'stroke-width="2"/>'
            )
        if p.y_ci is not None:
            out.append(
                f'<line x1="{_f(cx)}" y1="{_f(y(p.y_ci[0]))}" x2="{_f(cx)}" '
                f'y2="{_f(y(p.y_ci[1]))}" stroke="{colour}" stroke-opacity="0.45" '
                'stroke-width="2"/>'
            )
        out.append(f'<circle cx="{_f(cx)}" cy="{_f(cy)}" r="7" fill="{colour}"/>')
        out.append(f'<text x="{_f(lx)}" y="{_f(ly)}" {_FONT}>{escape(p.label)}</text>')
    out.append(
        f'<text x="{left + pw / 2:.1f}" y="{height - 12}" text-anchor="middle" {_FONT}>'
        "over-refusal (harmless prompts refused by the guarded arm only)</text>"
    )
    out.append(
        f'<text x="14" y="{top + ph / 2:.1f}" text-anchor="middle" {_FONT} '
        f'transform="rotate(-90 14 {top + ph / 2:.1f})">safety benefit</text>'
    )
    out.append("</svg>")
    return "\n".join(out)


def cdf_plot(
    series: Sequence[tuple[str, str, Sequence[Sequence[float]]]],
    *,
    id_: str,
    title: str,
    xlabel: str,
    width: int = 660,
    height: int = 320,
) -> str:
    """Step CDFs on a log time axis; ``series`` is (label, colour, [(x, F), ...])."""
    left, right, top, bottom_pad = 60, 170, 20, 50
    xs = [p[0] for _, _, pts in series for p in pts if p[0] > 0]
    lo = min(xs, default=0.01)
    hi = max(xs, default=1.0)
    lo_l, hi_l = math.log10(lo), math.log10(hi)
    if hi_l - lo_l < 0.5:
        lo_l, hi_l = lo_l - 0.25, hi_l + 0.25
    pw, ph = width - left - right, height - top - bottom_pad

    def x(v: float) -> float:
        return left + (math.log10(max(v, 10**lo_l)) - lo_l) / (hi_l - lo_l) * pw

    def y(v: float) -> float:
        return top + ph - v * ph

    out = _open(id_, title, width, height)
    for e in range(math.floor(lo_l), math.ceil(hi_l) + 1):
        for m in (1, 2, 5):
            v = m * 10.0**e
            if 10**lo_l <= v <= 10**hi_l:
                label = f"{v * 1000:g} ms" if v < 1 else f"{v:g} s"
                out.append(
                    f'<line x1="{_f(x(v))}" y1="{top}" x2="{_f(x(v))}" '
                    f'y2="{top + ph}" stroke="{_GRID}"/>'
                )
                out.append(
                    f'<text x="{_f(x(v))}" y="{top + ph + 16}" text-anchor="middle" '
                    f"{_FONT}>{label}</text>"
                )
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        out.append(
            f'<line x1="{left}" y1="{_f(y(t))}" x2="{left + pw}" y2="{_f(y(t))}" stroke="{_GRID}"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{_f(y(t) + 4)}" text-anchor="end" {_FONT}>{t:.0%}</text>'
        )
    for k, (label, colour, pts) in enumerate(series):
        if not pts:
            continue
        path = [f"M{_f(x(pts[0][0]))},{_f(y(0.0))}"]
        prev = 0.0
        for px, pf in pts:
            path.append(f"L{_f(x(px))},{_f(y(prev))}")
            path.append(f"L{_f(x(px))},{_f(y(pf))}")
            prev = pf
        out.append(f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="3"/>')
        ly = top + 14 + 20 * k
        out.append(
            f'<line x1="{left + pw + 12}" y1="{ly - 4}" x2="{left + pw + 34}" '
            f'y2="{ly - 4}" stroke="{colour}" stroke-width="3"/>'
        )
        out.append(f'<text x="{left + pw + 40}" y="{ly}" {_FONT}>{escape(label)}</text>')
    out.append(
        f'<text x="{left + pw / 2:.1f}" y="{height - 12}" text-anchor="middle" {_FONT}>'
        f"{escape(xlabel)}</text>"
    )
    out.append("</svg>")
    return "\n".join(out)
