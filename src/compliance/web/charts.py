"""Small server-rendered SVG charts: one rule's value over the periods against its target (no JS)."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["ChartPoint", "line_chart"]

WIDTH, HEIGHT = 320, 120
_LEFT, _RIGHT, _TOP, _BOTTOM = 54, 10, 10, 22


@dataclass(frozen=True)
class ChartPoint:
    """One period: its label, the figure (None when not reported) and the target in force."""

    label: str
    value: float | None
    target: float | None = None
    passed: bool | None = None  # None: no verdict for this period (no figure, or no target)
    value_text: str = ""
    target_text: str = ""


def _fmt(n: float) -> str:
    return f"{n:.1f}".rstrip("0").rstrip(".")


def line_chart(
    points: list[ChartPoint], *, title: str, axis: list[tuple[float, str]] | None = None
) -> Markup:
    """An inline <svg>: the value as a line with dots (green reached, red missed), the target dashed.

    `axis` gives the y ticks as (value, text); without it the chart uses the data's range.
    """
    values = [p.value for p in points if p.value is not None] + [
        p.target for p in points if p.target is not None
    ]
    if axis:
        values += [v for v, _ in axis]
    lo = min(values, default=0.0)
    hi = max(values, default=1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM
    n = len(points)

    def x(i: int) -> float:
        return _LEFT + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y(v: float) -> float:
        return _TOP + plot_h * (1 - (v - lo) / (hi - lo))

    parts: list[str] = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{WIDTH - _RIGHT}" y2="{_TOP + plot_h}" stroke="#9aa5b1" stroke-width="1"/>',
    ]
    for value, text in axis or []:
        parts.append(
            f'<line x1="{_LEFT}" y1="{_fmt(y(value))}" x2="{WIDTH - _RIGHT}" y2="{_fmt(y(value))}" '
            'stroke="#e4e7eb" stroke-width="1"/>'
            f'<text x="{_LEFT - 4}" y="{_fmt(y(value) + 3)}" text-anchor="end" font-size="9" fill="#52606d">'
            f"{escape(text)}</text>"
        )
    # The target as a step line: a ramp changes it between periods.
    for i, p in enumerate(points):
        if p.target is None:
            continue
        x0 = x(i) - (plot_w / (2 * (n - 1)) if n > 1 and i > 0 else 0)
        x1 = x(i) + (plot_w / (2 * (n - 1)) if n > 1 and i < n - 1 else 0)
        if n == 1:
            x0, x1 = _LEFT, WIDTH - _RIGHT
        parts.append(
            f'<line x1="{_fmt(x0)}" y1="{_fmt(y(p.target))}" x2="{_fmt(x1)}" y2="{_fmt(y(p.target))}" '
            'stroke="#b44d12" stroke-width="1.5" stroke-dasharray="4 3"/>'
        )
    segment: list[str] = []
    for i, p in enumerate(points):
        if p.value is None:
            if len(segment) > 1:
                parts.append(
                    f'<polyline points="{" ".join(segment)}" fill="none" stroke="#1f4e8c" stroke-width="2"/>'
                )
            segment = []
            continue
        segment.append(f"{_fmt(x(i))},{_fmt(y(p.value))}")
    if len(segment) > 1:
        parts.append(
            f'<polyline points="{" ".join(segment)}" fill="none" stroke="#1f4e8c" stroke-width="2"/>'
        )
    for i, p in enumerate(points):
        if p.value is None:
            continue
        colour = "#1f4e8c" if p.passed is None else ("#2f855a" if p.passed else "#c53030")
        tip = f"{p.label}: {p.value_text}" + (f" (chỉ tiêu {p.target_text})" if p.target_text else "")
        parts.append(
            f'<circle cx="{_fmt(x(i))}" cy="{_fmt(y(p.value))}" r="3.5" fill="{colour}">'
            f"<title>{escape(tip)}</title></circle>"
        )
    if n:
        shown = {0, n - 1} if n > 2 else set(range(n))
        for i in sorted(shown):
            anchor = "start" if i == 0 and n > 1 else ("end" if i == n - 1 and n > 1 else "middle")
            parts.append(
                f'<text x="{_fmt(x(i))}" y="{HEIGHT - 6}" text-anchor="{anchor}" font-size="9" fill="#52606d">'
                f"{escape(points[i].label)}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))
