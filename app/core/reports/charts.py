"""Vector charts for the PDF reports (reportlab graphics: crisp at any zoom, no matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from reportlab.graphics.shapes import Drawing, Line, PolyLine, Rect, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth

from app.core.reports.layout import ACCENT, FONT, FONT_BOLD, INK, MUTED, RULE
from app.core.reports.numbers import format_percent, round_probability

BAR_BG = colors.HexColor("#e7ebf0")
BAR = colors.HexColor("#9fb3c8")


def probability_chart(labels: Sequence[str], probabilities: Sequence[float], *,
                      highlight: int | None, width: float, bar_height: float = 4.2 * mm) -> Drawing:
    """Horizontal bars, one per class, value printed at the end (the CSV's rounding)."""
    widest = max((stringWidth(str(label), FONT_BOLD, 8.5) for label in labels), default=0.0)
    label_w, value_w, gap = max(26 * mm, widest + 3 * mm), 17 * mm, 2.2 * mm
    bar_w = width - label_w - value_w
    height = len(labels) * (bar_height + gap)
    d = Drawing(width, height)
    for i, (label, p) in enumerate(zip(labels, probabilities)):
        y = height - (i + 1) * (bar_height + gap) + gap / 2
        strong = i == highlight
        value = round_probability(p) or 0.0
        d.add(String(0, y + bar_height * 0.28, label, fontName=FONT_BOLD if strong else FONT,
                     fontSize=8.5, fillColor=INK))
        d.add(Rect(label_w, y, bar_w, bar_height, fillColor=BAR_BG, strokeColor=None))
        if value > 0:
            d.add(Rect(label_w, y, max(bar_w * value, 0.6), bar_height,
                       fillColor=ACCENT if strong else BAR, strokeColor=None))
        d.add(String(width, y + bar_height * 0.28, format_percent(p), textAnchor="end",
                     fontName=FONT_BOLD if strong else FONT, fontSize=8.5, fillColor=INK))
    return d


def colour_bar(rgb_ramp: np.ndarray, *, width: float, caption_low: str, caption_high: str,
               height: float = 2.6 * mm) -> Drawing:
    """The colour map as a strip (``rgb_ramp``: N x 3 uint8, low to high) with end captions."""
    d = Drawing(width, height + 4 * mm)
    n = len(rgb_ramp)
    step = width / n
    for i, (r, g, b) in enumerate(np.asarray(rgb_ramp, dtype=float) / 255.0):
        d.add(Rect(i * step, 4 * mm, step + 0.3, height, fillColor=colors.Color(r, g, b),
                   strokeColor=None))
    d.add(String(0, 0.8 * mm, caption_low, fontName=FONT, fontSize=7, fillColor=MUTED))
    d.add(String(width, 0.8 * mm, caption_high, textAnchor="end", fontName=FONT, fontSize=7,
                 fillColor=MUTED))
    return d


def slice_profile(values: Sequence[float | None], *, width: float, height: float = 36 * mm,
                  marks: Sequence[int] = (), title: str = "P(tumour) by slice") -> Drawing:
    """A line of one probability per slice (0..1), key slices marked with dots."""
    left, bottom, top_pad = 11 * mm, 6 * mm, 9 * mm
    plot_w, plot_h = width - left - 2 * mm, height - bottom - top_pad
    d = Drawing(width, height)
    d.add(String(left, height - 3.2 * mm, title, fontName=FONT_BOLD, fontSize=8, fillColor=INK))
    for level in (0.0, 0.5, 1.0):
        y = bottom + plot_h * level
        d.add(Line(left, y, left + plot_w, y, strokeColor=RULE, strokeWidth=0.5))
        d.add(String(left - 1.5 * mm, y - 1.2, f"{int(level * 100)} %", textAnchor="end",
                     fontName=FONT, fontSize=6.5, fillColor=MUTED))
    n = len(values)

    def x_of(i: int) -> float:
        return left + (plot_w * (i / (n - 1)) if n > 1 else plot_w / 2)

    points: list[float] = []
    for i, v in enumerate(values):
        if v is not None:
            points += [x_of(i), bottom + plot_h * float(v)]
    if len(points) >= 4:
        d.add(PolyLine(points, strokeColor=ACCENT, strokeWidth=1.2))
    for i in marks:
        value = values[i] if 0 <= i < n else None
        if value is not None:
            cx, cy = x_of(i), bottom + plot_h * float(value)
            d.add(Rect(cx - 1.3, cy - 1.3, 2.6, 2.6, fillColor=colors.HexColor("#a4262c"),
                       strokeColor=None))
            d.add(String(cx, cy + 2.2 * mm, str(i + 1), textAnchor="middle", fontName=FONT_BOLD,
                         fontSize=6.5, fillColor=INK))
    for i in sorted({0, n - 1}):
        if n:
            d.add(String(x_of(i), 1.5 * mm, f"slice {i + 1}", textAnchor="middle", fontName=FONT,
                         fontSize=6.5, fillColor=MUTED))
    return d
