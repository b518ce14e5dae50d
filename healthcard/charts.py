"""Server-rendered SVG charts for the statistics page: no JavaScript, CJK labels in
the fonts the project installs, a <title> and <desc> for screen readers (each chart
also has its data table beside it). Pure functions of their data: no database."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

FONT = "'Noto Sans CJK SC','Noto Sans SC','WenQuanYi Zen Hei',sans-serif"
# Colour-blind-safe (Okabe-Ito), one per series.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
WIDTH = 680


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # None: no bar, `note` says why
    text: str  # what is written at the end of the bar
    note: str = ""


def _svg(title: str, desc: str, height: int, body: list[str], uid: str) -> SafeString:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" '
        f'aria-labelledby="{uid}-t {uid}-d" font-family="{FONT}" font-size="12">'
        f'<title id="{uid}-t">{escape(title)}</title><desc id="{uid}-d">{escape(desc)}</desc>'
        f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>'
        f'<text x="8" y="18" font-size="14" font-weight="bold">{escape(title)}</text>'
    )
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 - every text escaped


def _nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 × 10ⁿ at or above `value` (at least 1)."""
    if value <= 1:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def line_chart(
    title: str, desc: str, x_labels: Sequence[str], series: dict[str, Sequence[int]], uid: str
) -> SafeString:
    """One line per series over the x labels (days), a legend, a y axis from 0."""
    left, right, top, plot_h = 56, 16, 56, 200
    height = top + plot_h + 48
    plot_w = WIDTH - left - right
    # At least 4, so that the five grid lines fall on whole numbers.
    top_value = max(4, _nice_max(max((max(v, default=0) for v in series.values()), default=0)))
    n = len(x_labels)
    body: list[str] = []
    for i, label in enumerate(series):
        x = left + i * 140
        colour = COLOURS[i % len(COLOURS)]
        body.append(
            f'<rect x="{x}" y="28" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16}" y="38">{escape(label)}</text>'
        )
    for k in range(5):
        value = top_value * k / 4
        y = top + plot_h - plot_h * k / 4
        body.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>'
        )

    def x_at(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    every = max(1, (n + 7) // 8)
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == n - 1:
            body.append(
                f'<text x="{x_at(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
                f"{escape(label[5:] if len(label) == 10 else label)}</text>"
            )
    for i, values in enumerate(series.values()):
        colour = COLOURS[i % len(COLOURS)]
        points = " ".join(
            f"{x_at(j):.1f},{top + plot_h - plot_h * v / top_value:.1f}"
            for j, v in enumerate(values)
        )
        body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        if n <= 31:
            for j, v in enumerate(values):
                y = top + plot_h - plot_h * v / top_value
                body.append(f'<circle cx="{x_at(j):.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
    return _svg(title, desc, height, body, uid)


def bar_chart(
    title: str,
    desc: str,
    bars: Sequence[Bar],
    uid: str,
    *,
    maximum: float | None = None,
    target: float | None = None,
    target_label: str = "",
) -> SafeString:
    """Horizontal bars, one per item, with an optional vertical target line (the
    visit-share target, readiness's 100 %). A bar without a value shows its note."""
    left, right, top, row = 170, 200, 40, 26
    height = top + max(len(bars), 1) * row + (30 if target is not None else 12)
    plot_w = WIDTH - left - right
    top_value = maximum or _nice_max(max((b.value or 0 for b in bars), default=0))
    body: list[str] = []
    for i, bar in enumerate(bars):
        y = top + i * row
        body.append(
            f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{escape(bar.label[:14])}</text>'
        )
        if bar.value is None:
            body.append(f'<text x="{left + 4}" y="{y + 16}" fill="#666">{escape(bar.note)}</text>')
            continue
        w = plot_w * min(bar.value, top_value) / top_value
        colour = COLOURS[0]
        if target is not None and bar.value < target:
            colour = COLOURS[5]
        # The figure goes after the bar, and after the target line when the bar ends
        # just short of it, so that the dashed line never crosses the text.
        text_x = left + w + 6
        if target is not None:
            line_x = left + plot_w * target / top_value
            if line_x - 60 < left + w < line_x + 6:
                text_x = line_x + 6
        body.append(
            f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="{colour}"/>'
            f'<text x="{text_x:.1f}" y="{y + 16}">{escape(bar.text)}</text>'
        )
    if target is not None:
        x = left + plot_w * target / top_value
        bottom = top + len(bars) * row
        body.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{bottom + 4}" '
            f'stroke="#000" stroke-width="1.5" stroke-dasharray="5 3"/>'
            f'<text x="{x:.1f}" y="{bottom + 20}" text-anchor="middle">'
            f"{escape(target_label)}</text>"
        )
    return _svg(title, desc, height, body, uid)
