"""Bar charts as SVG drawn on the server: no script, no external asset, readable as a table.

The chart is data for the template (bars with their geometry), so the template writes the
SVG elements and every label goes through autoescaping like any other text.
"""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 640
BAR_HEIGHT = 22
GAP = 6
LABEL_WIDTH = 220
VALUE_WIDTH = 90


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    shown: str  # the value as people read it (localised)
    y: int
    width: float


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    width: int
    height: int
    label_width: int
    plot_width: int


def bar_chart(items: list[tuple[str, float, str]]) -> BarChart:
    """Horizontal bars for (label, value, shown value), scaled to the largest value."""
    plot_width = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    largest = max((value for _, value, _ in items), default=0.0)
    bars = [
        Bar(
            label=label,
            value=value,
            shown=shown,
            y=i * (BAR_HEIGHT + GAP),
            width=round(plot_width * value / largest, 1) if largest > 0 else 0.0,
        )
        for i, (label, value, shown) in enumerate(items)
    ]
    height = max(1, len(bars)) * (BAR_HEIGHT + GAP)
    return BarChart(bars=bars, width=WIDTH, height=height, label_width=LABEL_WIDTH, plot_width=plot_width)
