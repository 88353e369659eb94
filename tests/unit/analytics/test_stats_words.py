"""What `stats` reads from its words, the instants a period means in a person's zone (whole
local days, across changes of clocks), and the CSV cells a spreadsheet must never run."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.analytics import export, periods
from core.analytics.commands import Stats
from core.analytics.periods import Period
from core.errors import BadInput
from core.registry import parse

BERLIN = ZoneInfo("Europe/Berlin")
SANTIAGO = ZoneInfo("America/Santiago")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NOV = Period(days=None, first=date(2026, 11, 1), last=date(2026, 11, 30))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("stats", Stats()),
        ("/STATS 30D", Stats(Period(30))),
        ("stats 90d linkedin", Stats(Period(90), "linkedin")),
        ("stats twitter 14d", Stats(Period(14), "x")),
        ("stats 2026-11-01 2026-11-30", Stats(NOV)),
        ("stats 2026-11-01 to 2026-11-30 x", Stats(NOV, "x")),
        ("stats 12", Stats(number=12)),
        ("stats #12", Stats(number=12)),
        ("stats export", Stats(export=True)),
        ("stats export mastodon 2026-11-01 2026-11-30", Stats(NOV, "mastodon", export=True)),
        ("stats 366d", Stats(Period(366))),
    ],
)
def test_what_stats_reads(line: str, expected: Stats) -> None:
    assert parse(line) == expected


@pytest.mark.parametrize(
    "line",
    ["stats 367d", "stats 3m", "stats 12-01", "stats 1/11/2026 30/11/2026", "stats export 12"],
)
def test_what_stats_refuses(line: str) -> None:
    with pytest.raises(BadInput):
        parse(line)


def test_the_last_days_run_up_to_now() -> None:
    span = periods.window(Period(30), BERLIN, NOW)
    assert (span.start, span.end) == (NOW - timedelta(days=30), NOW)
    assert span.during == "in the last 30 days" and span.before == "the 30 days before"


def test_dates_are_whole_local_days_across_a_change_of_clocks() -> None:
    # Berlin leaves summer time on 25 Oct 2026: that day has 25 hours.
    span = periods.window(Period(None, date(2026, 10, 24), date(2026, 10, 26)), BERLIN, NOW)
    assert span.start == datetime(2026, 10, 23, 22, tzinfo=UTC)  # 00:00 CEST
    assert span.end == datetime(2026, 10, 26, 23, tzinfo=UTC)  # 00:00 CET on the 27th
    assert span.end - span.start == timedelta(hours=73)
    assert span.span(BERLIN, NOW) == (
        "From Sat 24 Oct, 00:00 Europe/Berlin (Fri 23 Oct 22:00 UTC) to "
        "Tue 27 Oct, 00:00 Europe/Berlin (Mon 26 Oct 23:00 UTC)."
    )


def test_a_day_whose_midnight_the_clocks_skip_starts_when_it_begins() -> None:
    skipped = [
        day
        for day in (date(2026, 1, 1) + timedelta(days=n) for n in range(365))
        if datetime.combine(day, datetime.min.time(), tzinfo=SANTIAGO)
        .astimezone(UTC)
        .astimezone(SANTIAGO)
        .hour
        != 0
    ]
    assert skipped, "Santiago skips a midnight each year"
    for day in skipped:
        first = periods.midnight(day, SANTIAGO)
        assert first.astimezone(SANTIAGO).date() == day
        assert (first - timedelta(seconds=1)).astimezone(SANTIAGO).date() == day - timedelta(days=1)


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("https://x.com/acme/status/1", "https://x.com/acme/status/1"),
        ("", ""),
        ("a=1", "a=1"),
    ],
)
def test_a_cell_is_never_a_formula(cell: str, written: str) -> None:
    assert export.safe(cell) == written


def test_a_row_before_its_first_reading_has_no_figures() -> None:
    published = datetime(2026, 11, 29, 12, tzinfo=UTC)
    rows = [
        export.Row(3, "bluesky", published, None, None, 0, 0, 0, 0, None, False, None),
        export.Row(4, "x", published, "=evil", 0, 0, 0, 0, 0, 0, True, published),
    ]
    table = list(csv.reader(io.StringIO(export.to_csv(rows).decode())))
    assert table[0] == list(export.COLUMNS)
    assert table[1] == ["3", "bluesky", "2026-11-29T12:00:00Z", "", *[""] * 7, "no", ""]
    # No impressions: no rate (not a division by zero).
    assert table[2] == [
        "4",
        "x",
        "2026-11-29T12:00:00Z",
        "'=evil",
        *["0"] * 6,
        "",
        "yes",
        "2026-11-29T12:00:00Z",
    ]
