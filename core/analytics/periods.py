"""The periods `stats` reads: the last N days up to now (`7d`, the default), or two dates
taken as whole days in the person's time zone, up to a year; parsed from words, then
resolved to UTC instants for one person at one moment.

Limits, and why: a period is 1 to `MAX_DAYS` days (a year, so a year-on-year look fits and
`stats 99999d` cannot make the database add up everything); dates run from `EARLIEST_YEAR` (no
post Herald measured is older, and date arithmetic stays in range) and may not start after
today in the person's zone. A period that ends after now ends now.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.errors import BadInput
from core.grammar import Words, network_name
from core.timeparse import format_when

DEFAULT_DAYS = 7
MAX_DAYS = 366
EARLIEST_YEAR = 2000
LATEST_YEAR = 2100
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
EXAMPLE = "e.g. stats 30d, stats 30d linkedin or stats 2026-11-01 2026-11-30"

_DAYS = re.compile(r"(\d{1,9})d")
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
# Looks meant as a period or a date but is neither: "2w", "3m", "30", "12-01", "1/11/2026".
_PERIODISH = re.compile(r"\d+[a-z]*|\d+[-/.]\S*|\S*\d+/\d+\S*")


@dataclass(frozen=True)
class Period:
    """The last `days` days up to now, or the whole days from `first` to `last` (both
    included) in the person's zone."""

    days: int | None = DEFAULT_DAYS
    first: date | None = None
    last: date | None = None


def parse(words: Words, tokens: Sequence[str]) -> tuple[Period, str | None]:
    """A period and a network, in any order, each optional: `30d linkedin`,
    `2026-11-01 to 2026-11-30`, `x`."""
    days: int | None = None
    dates: list[date] = []
    network: str | None = None
    for token in tokens:
        word = token.lower()
        if word == "to" and len(dates) == 1:
            continue
        in_days = _DAYS.fullmatch(word)
        if (in_days or _DATE.fullmatch(word)) and (days is not None or len(dates) == 2):
            raise words.fail("Give one period: a number of days or two dates.")
        if in_days:
            days = int(in_days.group(1))
        elif _DATE.fullmatch(word):
            dates.append(_date(word))
        elif _PERIODISH.fullmatch(word):
            raise words.fail(
                f'I can\'t read "{token}" as a period. Say 7d, 30d or 90d (any number of days), '
                "or two dates written YYYY-MM-DD."
            )
        elif network is not None:
            raise words.fail("Name one network, or none for all of them.")
        else:
            network = network_name(token)
    if dates:
        if days is not None:
            raise words.fail("Give one period: a number of days or two dates.")
        return _between(dates), network
    if days is None:
        return Period(), network
    if not 1 <= days <= MAX_DAYS:
        raise BadInput(
            f"A period is 1 to {MAX_DAYS} days long (up to a year), not {days:,}. {EXAMPLE}."
        )
    return Period(days=days), network


def _date(word: str) -> date:
    match = _DATE.fullmatch(word)
    assert match is not None  # the caller matched it
    year, month, day = (int(part) for part in match.groups())
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise BadInput(
            f"{word} is out of range: stats covers {EARLIEST_YEAR} to today. "
            "Pick a date in between."
        )
    try:
        return date(year, month, day)
    except ValueError:
        raise BadInput(
            f"There is no date {word}. Write dates as YYYY-MM-DD, e.g. 2026-11-30."
        ) from None


def _between(dates: list[date]) -> Period:
    if len(dates) == 1:
        given = dates[0].isoformat()
        raise BadInput(
            f"From {given} to when? Give two dates, e.g. "
            f"stats {given} {(dates[0] + timedelta(days=29)).isoformat()}."
        )
    first, last = dates
    if first > last:
        raise BadInput(
            f"The period starts after it ends ({first.isoformat()} is after {last.isoformat()}). "
            f"Put the earlier date first: stats {last.isoformat()} {first.isoformat()}"
        )
    length = (last - first).days + 1
    if length > MAX_DAYS:
        raise BadInput(
            f"{first.isoformat()} to {last.isoformat()} is {length:,} days; a period is at most "
            f"{MAX_DAYS} days (a year). Ask for it a year at a time."
        )
    return Period(days=None, first=first, last=last)


@dataclass(frozen=True)
class Window:
    """A period resolved for one person: [start, end) in UTC, and its words."""

    start: datetime
    end: datetime
    days: int
    during: str  # "in the last 7 days", "from 24 Nov 2026 to 27 Nov 2026"
    before: str  # the period it is compared with: "the 7 days before"
    slug: str  # for file names: "7d", "2026-11-24-to-2026-11-27"
    title: str  # for the chart: "Last 7 days", "24 Nov 2026 – 27 Nov 2026"

    def span(self, tz: ZoneInfo, now: datetime) -> str:
        """Both ends in the person's zone with the UTC instant."""
        start, end = format_when(self.start, tz, now=now), format_when(self.end, tz, now=now)
        return f"From {start} to {end}."


def window(period: Period, tz: ZoneInfo, now: datetime) -> Window:
    """The instants `period` means for someone in `tz` at `now`; a refusal for one that has
    not begun."""
    if period.first is None or period.last is None:
        days = period.days or DEFAULT_DAYS
        return Window(
            start=now - timedelta(days=days),
            end=now,
            days=days,
            during=f"in the last {_days(days)}",
            before=f"the {_days(days)} before",
            slug=f"{days}d",
            title=f"Last {_days(days)}",
        )
    first, last = period.first, period.last
    today = now.astimezone(tz).date()
    if first > today:
        raise BadInput(
            f"{first.isoformat()} is in the future ({tz.key}), so there are no figures yet. "
            f"Pick dates up to today, {today.isoformat()}."
        )
    days = (last - first).days + 1
    return Window(
        start=midnight(first, tz),
        end=min(midnight(last + timedelta(days=1), tz), now),
        days=days,
        during=f"on {_day(first)}" if days == 1 else f"from {_day(first)} to {_day(last)}",
        before=f"the {_days(days)} before",
        slug=first.isoformat() + ("" if days == 1 else f"-to-{last.isoformat()}"),
        title=_day(first) if days == 1 else f"{_day(first)} – {_day(last)}",
    )


def midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of `day` in `tz` (where the clocks skip midnight, the gap's end)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _day(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def _days(n: int) -> str:
    return f"{n:,} day" if n == 1 else f"{n:,} days"
