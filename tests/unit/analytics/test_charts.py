"""The chart: a valid PNG sized for a phone whose lines and bars are exactly the figures given,
and matplotlib loaded only when a chart is drawn."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import numpy as np
from PIL import Image

from core.analytics import charts

SERIES = {
    "linkedin": [
        (date(2026, 11, 24), 50.0),
        (date(2026, 11, 26), 12.0),
        (date(2026, 11, 28), 31.0),
    ],
    "x": [(date(2026, 11, 25), 1204.0), (date(2026, 11, 28), 7.0)],
    "mastodon": [],  # nothing that week: no line, no legend entry
}
BARS = {"x": 1211.0, "linkedin": 93.0, "bluesky": 0.0}


def test_the_plotted_series_and_bars_are_the_figures_given() -> None:
    figure = charts.plot(SERIES, BARS, title="Last 7 days")
    over_time, per_network = figure.axes

    lines = {line.get_label(): line for line in over_time.get_lines()}
    assert set(lines) == {"LinkedIn", "X"}
    for network, label in (("linkedin", "LinkedIn"), ("x", "X")):
        assert np.asarray(lines[label].get_xdata()).tolist() == [
            when for when, _ in SERIES[network]
        ]
        assert np.asarray(lines[label].get_ydata()).tolist() == [v for _, v in SERIES[network]]
    # Colour is never the only cue: every line has its own marker.
    assert len({line.get_marker() for line in lines.values()}) == 2

    bars = per_network.containers[0]
    labels = [tick.get_text() for tick in per_network.get_yticklabels()]
    widths = [patch.get_width() for patch in bars]
    assert dict(zip(labels, widths, strict=True)) == {"X": 1211.0, "LinkedIn": 93.0, "Bluesky": 0.0}
    assert labels[-1] == "X"  # the largest bar is drawn on top
    written = [text.get_text() for text in per_network.texts]
    assert "1,211" in written


def test_the_png_is_valid_and_phone_sized() -> None:
    data = charts.png(charts.plot(SERIES, BARS, title="Last 7 days"))
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (960, 1200)


def test_an_empty_period_still_draws_and_says_so() -> None:
    figure = charts.plot({}, {}, title="Last 7 days")
    said = [text.get_text() for axes in figure.axes for text in axes.texts]
    assert said == ["Nothing published in this period"] * 2
    assert charts.png(figure).startswith(b"\x89PNG")


def test_importing_the_charts_module_does_not_load_matplotlib() -> None:
    code = "import sys, core.analytics.charts; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_post_just_out_has_a_readable_axis() -> None:
    """One reading, all zeros (a post just published): the value axis used to read "0" at
    every tick and the time axis to span 2025-2029."""
    from matplotlib.dates import num2date

    moment = datetime(2026, 12, 7, 2, 40, tzinfo=UTC)
    figure = charts.plot({"outbox": [(moment, 0.0)]}, {"outbox": 0.0}, title="#1")
    figure.canvas.draw()
    over_time = figure.axes[0]
    labels = [t.get_text() for t in over_time.get_yticklabels() if t.get_text()]
    assert len(labels) == len(set(labels)) >= 2
    low, high = (num2date(x) for x in over_time.get_xlim())  # type: ignore[no-untyped-call]
    assert low <= moment <= high
    assert high - low <= timedelta(days=2)
    # Its one bar, 0, starts at the axis's left, its value beside it, not mid-panel.
    assert figure.axes[1].get_xlim() == (0.0, 1.0)


def test_a_period_chart_spans_every_day_of_the_period_with_plain_dates() -> None:
    """A week with posts on two days reads as a week; the labels read "24 Nov" and "Nov 2026",
    not matplotlib's "Nov-24" and "2026-Nov-24"."""
    from matplotlib.dates import num2date

    figure = charts.plot(
        {"x": [(date(2026, 11, 26), 4.0), (date(2026, 11, 27), 9.0)]},
        {"x": 13.0},
        title="Last 7 days",
        days=(date(2026, 11, 24), date(2026, 11, 30)),
    )
    figure.canvas.draw()
    over_time = figure.axes[0]
    low, high = (num2date(x).date() for x in over_time.get_xlim())  # type: ignore[no-untyped-call]
    assert low <= date(2026, 11, 24) and high >= date(2026, 11, 30)
    assert high - low <= timedelta(days=8)
    ticks = [t.get_text() for t in over_time.get_xticklabels() if t.get_text()]
    assert ticks and all(text.endswith(" Nov") or text.endswith(" Dec") for text in ticks), ticks
    assert over_time.xaxis.get_major_formatter().get_offset() == "Nov 2026"
