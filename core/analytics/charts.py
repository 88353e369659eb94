"""The chart beside `stats` and the digest: engagement over time above, one bar per network
below, drawn for a phone screen and rendered to PNG.

Readable on a phone: a portrait 960x1200 px image, 13 pt text and more, horizontal bars with
their value written at the end. Colour-blind safe: the Okabe-Ito palette, one fixed colour per
network on every chart, and each line also has its own marker so colour is never the only cue.

matplotlib is imported inside the functions, never at the top: importing it costs the chat's
start time ~0.3 s, and only `stats` and the digest need it. Figures are built with the Agg
canvas directly (no pyplot), so nothing global is touched and threads can draw at once.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from core.networks import NETWORKS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision
# deficiency. The yellow (#F0E442) is left out: too faint on white.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000")
COLOURS = {
    "linkedin": "#0072B2",
    "x": "#000000",
    "facebook": "#56B4E9",
    "mastodon": "#CC79A7",
    "bluesky": "#009E73",
    "outbox": "#E69F00",
}
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
SIZE = (6.0, 7.5)  # inches: 960x1200 px at DPI
DPI = 160
FONT = 13
# The time axis's labels, for ConciseDateFormatter (its levels: years, months, days, hours,
# minutes, seconds): "24 Nov" and "12:00" on the ticks, "Nov 2026" once beside them. Its
# defaults read "Nov-24" and "2026-Nov-24".
TICK_FORMATS = ["%Y", "%b", "%d %b", "%H:%M", "%H:%M", "%S.%f"]
ZERO_FORMATS = ["", "%Y", "%d %b", "%d %b", "%H:%M", "%H:%M"]
OFFSET_FORMATS = ["", "%Y", "%b %Y", "%d %b %Y", "%d %b %Y", "%d %b %Y %H:%M"]


def colour(network: str, index: int = 0) -> str:
    return COLOURS.get(network, OKABE_ITO[index % len(OKABE_ITO)])


def label(network: str) -> str:
    return NETWORKS[network].display if network in NETWORKS else network


def plot(
    series: Mapping[str, Sequence[tuple[date | datetime, float]]],
    bars: Mapping[str, float],
    *,
    title: str,
    series_title: str = "Interactions over time",
    bars_title: str = "Interactions by network",
    days: tuple[date, date] | None = None,
) -> Figure:
    """Two panels: `series` (network → points in time order) as lines, `bars` (network →
    value) as horizontal bars, largest on top. `days`, the first and last day of the period
    asked about: the time axis spans them all, so a week with posts on two days still reads
    as a week. The figure keeps the data it was given, so tests read it back from its lines
    and bars."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    # Fixed margins, not a layout engine: the size and the texts are known, and measuring
    # every label to place them (constrained layout) took a third of the render time.
    figure = Figure(figsize=SIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    figure.suptitle(title, fontsize=FONT + 3, fontweight="bold", x=0.03, y=0.985, ha="left")
    over_time, per_network = figure.subplots(
        2,
        1,
        height_ratios=(3, 2),
        gridspec_kw={"left": 0.19, "right": 0.95, "top": 0.9, "bottom": 0.05, "hspace": 0.62},
    )
    thousands = FuncFormatter(lambda value, _pos: f"{value:,.0f}")

    over_time.set_title(series_title, fontsize=FONT + 1, loc="left")
    drawn = [(network, points) for network, points in series.items() if points]
    for index, (network, points) in enumerate(drawn):
        over_time.plot(
            [when for when, _ in points],
            [value for _, value in points],
            label=label(network),
            color=colour(network, index),
            marker=MARKERS[index % len(MARKERS)],
            markevery=max(1, len(points) // 15),  # enough to tell the lines apart, no more
            markersize=6,
            linewidth=2.2,
        )
    if drawn:
        locator = AutoDateLocator(minticks=3, maxticks=7)  # type: ignore[no-untyped-call]
        over_time.xaxis.set_major_locator(locator)
        over_time.xaxis.set_major_formatter(
            ConciseDateFormatter(  # type: ignore[no-untyped-call]
                locator,
                formats=TICK_FORMATS,
                zero_formats=ZERO_FORMATS,
                offset_formats=OFFSET_FORMATS,
            )
        )
        over_time.yaxis.set_major_formatter(thousands)
        over_time.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        values = [value for _, points in drawn for _, value in points]
        # All zeros (a post just out) would give a flat axis whose ticks all read "0".
        over_time.set_ylim(bottom=0, top=max(1.0, max(values) * 1.1))
        instants = [when for _, points in drawn for when, _ in points]
        if days is not None:
            # Half a day either side, so the first and last days' points are not on the edge.
            first, last = (datetime.combine(day, time()) for day in days)
            over_time.set_xlim(first - timedelta(hours=12), last + timedelta(hours=12))
        elif min(instants) == max(instants):
            # One moment only: left alone, the axis would span years around it.
            over_time.set_xlim(min(instants) - timedelta(days=1), max(instants) + timedelta(days=1))
        # Under the axis, never over the lines.
        over_time.legend(
            fontsize=FONT - 1,
            frameon=False,
            loc="upper center",
            bbox_to_anchor=(0.42, -0.1),
            ncols=3,
            handlelength=1.6,
            columnspacing=1.2,
        )
        over_time.grid(axis="y", alpha=0.3)
    else:
        _nothing(over_time)

    per_network.set_title(bars_title, fontsize=FONT + 1, loc="left")
    ranked = sorted(bars.items(), key=lambda kv: kv[1])  # barh draws bottom-up: largest on top
    if ranked:
        rects = per_network.barh(
            [label(network) for network, _ in ranked],
            [value for _, value in ranked],
            color=[colour(network, i) for i, (network, _) in enumerate(ranked)],
            height=0.6,
        )
        per_network.bar_label(
            rects, labels=[f"{value:,.0f}" for _, value in ranked], padding=4, fontsize=FONT
        )
        per_network.margins(x=0.22)  # room for the value at the end of the longest bar
        if not any(value for _, value in ranked):
            # All zeros: the axis would be centred on 0, each "0" written mid-panel.
            per_network.set_xlim(0, 1)
        per_network.xaxis.set_visible(False)  # each bar says its value
        per_network.spines["bottom"].set_visible(False)
    else:
        _nothing(per_network)

    for axes in (over_time, per_network):
        axes.tick_params(labelsize=FONT - 1)
        axes.spines[["top", "right"]].set_visible(False)
    return figure


def _nothing(axes: Axes) -> None:
    axes.text(0.5, 0.5, "Nothing published in this period", ha="center", va="center", fontsize=FONT)
    axes.set_axis_off()


def png(figure: Figure) -> bytes:
    """The figure as PNG bytes. Light compression: a chart is sent once, and zlib's default
    level spent more time than drawing it (the file is ~1.5x larger, still ~200 kB)."""
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    return out.getvalue()
