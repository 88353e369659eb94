"""Read the times chat users type ("in 2h", "tomorrow 9am") as UTC instants, and echo them back.

Rules worth knowing:

* Wall-clock forms are read in the user's zone, or in a zone/offset written at the end
  ("... Europe/Berlin", "... UTC", "...+01:00", "...Z"). UTC, GMT and Z all mean UTC.
* "now" is this instant. "in <duration>" is elapsed time ("in 30s", "in 24h" is exactly 24
  real hours, whatever DST does).
* A time alone ("9am", "noon") is today if still ahead, else tomorrow. "today", "tonight",
  "this morning/afternoon/evening" and "end of day" are always today, even if that is past:
  refusing past times is the caller's job (`Reading.today` says which phrase it was).
* "<weekday>" and "this <weekday>" mean the next such day whose time is still ahead (today
  counts). "next <weekday>" is the same, except that on that very weekday it means 7 days later.
  "next week" is the Monday of the coming week (on a Monday, the one 7 days later).
* Past phrases are read too, so a refusal can say "that is in the past" rather than "I can't
  read it": "yesterday [time]", "last <weekday>" (the latest such day before today) and
  "<duration> ago". Readers of a past moment (`audit since`) take them as they are.
* A day and month without a year is the next such date that is still ahead.
* A day without a time means 09:00 ("tonight" 20:00); morning 09:00, afternoon 14:00,
  evening 18:00, night 20:00, end of day (also "eod") 17:00, noon 12:00, midnight 00:00 (the
  start of that day).
* Slash dates ("3/12") are refused as ambiguous; bare hours ("tomorrow 9") ask for am/pm.
* A local time skipped by a DST change is refused; an ambiguous one (the repeated hour when
  clocks go back) means its first occurrence (fold=0), and `Reading.other` is the second.
"""

from __future__ import annotations

import calendar
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, available_timezones

__all__ = [
    "Reading",
    "TimeParseError",
    "ambiguity_note",
    "echo_when",
    "format_when",
    "parse_when",
    "parse_zone",
    "read_when",
]


class TimeParseError(ValueError):
    """Raised with a friendly, actionable one-line message (str(exc)) meant for chat users."""


_EXAMPLES = '"in 2h", "tomorrow 9am", "next monday 14:30" or "{date} 09:00 Europe/Berlin"'


def _examples(now: datetime) -> str:
    """What to type instead, with a dated example that is still ahead (the first of next
    month): a fixed date would one day be refused as past by the very refusal that offers it."""
    day = now.date().replace(day=1) + timedelta(days=32)
    return _EXAMPLES.format(date=day.replace(day=1).isoformat())


_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MONTHS_IN_FULL: tuple[str, ...] = ("january", "february", "march", "april", "may", "june", "july")
_MONTHS_IN_FULL += ("august", "september", "october", "november", "december")
_DAY_NAMES = tuple(name[:3].title() for name in _DAYS)
_MONTH_NAMES = tuple(name[:3].title() for name in _MONTHS_IN_FULL)
# Any prefix of three letters or more names the day or month: "thu", "thurs", "sept", "dec".
_WEEKDAYS = {name[:n]: i for i, name in enumerate(_DAYS) for n in range(3, len(name) + 1)}
_MONTHS = {
    name[:n]: i for i, name in enumerate(_MONTHS_IN_FULL, 1) for n in range(3, len(name) + 1)
}
_NAMED_TIMES = {
    "noon": time(12),
    "midday": time(12),
    "midnight": time(0),
    "morning": time(9),
    "afternoon": time(14),
    "evening": time(18),
    "night": time(20),
    "eod": time(17),  # "end of day", "end of the day", "by eod"
}
_DEFAULT_TIME = time(9)
_TONIGHT = time(20)
_ZONE_ALIASES = {"utc": "UTC", "gmt": "UTC", "z": "UTC"}
_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Universal", "Etc/Universal", "Zulu"})
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’"}


def _alternatives(words: Iterable[str]) -> str:
    return "|".join(sorted(words, key=len, reverse=True))


_UNIT = r"(?:weeks?|wks?|w|days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)"
_AMOUNT = r"(?:\d{1,6}\s*|an?\s+)"
_PART = rf"{_AMOUNT}{_UNIT}"
_RELATIVE_RE = re.compile(rf"in\s+({_PART}(?:(?:\s*,\s*|\s+and\s+|\s*){_PART})*)")
_AGO_RE = re.compile(rf"({_PART}(?:(?:\s*,\s*|\s+and\s+|\s*){_PART})*)\s+ago")
_PART_RE = re.compile(rf"({_AMOUNT})({_UNIT})")
_UNIT_SIZES = {
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "s": timedelta(seconds=1),
}
_OFFSET_RE = re.compile(r"(?:(?<=\d)|(?<=\s))(z|Z|[+-]\d{2}:?\d{2})$")
_SLASH_RE = re.compile(r"\b\d{1,4}/\d{1,2}(?:/\d{1,4})?\b")
_ISO_T_RE = re.compile(r"(\d{4}-\d{1,2}-\d{1,2})t(?=\d)")
_FILLER_RE = re.compile(r"\b(?:at|on)\b|@")
_THIS_PART_RE = re.compile(r"\bthis (?=morning|afternoon|evening)")
_END_OF_DAY_RE = re.compile(r"\b(?:by\s+)?(?:the\s+)?(?:end\s+of\s+(?:the\s+)?day|eod)\b")
_CLOCK_RE = re.compile(
    r"(?P<h>\d{1,2})(?::(?P<m>\d{2})(?::(?P<s>\d{2}))?)?\s*(?:(?P<ap>[ap])\.?m\.?)?"
)
_TIME = rf"(?P<time>{_alternatives(_NAMED_TIMES)}|\d{{1,2}}(?::\d{{2}}){{0,2}}(?:\s*[ap]\.?m\.?)?)"
_MONTH = rf"(?:{_alternatives(_MONTHS)})\.?"
_DAY = (
    r"(?P<day>(?P<rel>today|tonight|tomorrow|tmrw|yesterday)"
    r"|(?P<nw>next\s+week)"
    rf"|(?:(?P<mod>this|next|last)\s+)?(?P<wd>{_alternatives(_WEEKDAYS)})"
    r"|(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})"
    rf"|(?P<m1>{_MONTH})\s+(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y1>\d{{4}}))?"
    rf"|(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<m2>{_MONTH})(?:,?\s+(?P<y2>\d{{4}}))?)"
)
_DAY_FIRST_RE = re.compile(rf"{_DAY}(?:,?\s+{_TIME})?")
_TIME_FIRST_RE = re.compile(rf"{_TIME}(?:,?\s+{_DAY})?")


@functools.cache
def _zone_names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones()}


def parse_zone(name: str) -> ZoneInfo:
    """An IANA zone from its name in any letter case; "UTC", "GMT" and "Z" all give UTC."""
    key = name.strip().lower()
    canonical = _ZONE_ALIASES.get(key) or _zone_names().get(key)
    if canonical is None:
        raise TimeParseError(
            f'I don\'t know the time zone "{name.strip()}". '
            "Use an IANA name such as Europe/Berlin or America/New_York."
        )
    return ZoneInfo(canonical)


@dataclass(frozen=True)
class Reading:
    """What a time someone typed means, with what an echo of it should mention.

    `instant` is UTC. `zone` is the zone or offset written in the text, if any (None: the
    user's zone applied). `other` is set when the wall time happened twice (the clocks went
    back): `instant` is its first occurrence, `other` the second. `today` is the phrase, when
    the text named a fixed time of today ("tonight", "this afternoon", "end of day"), and
    `clock` that time: such a phrase is never moved to tomorrow, so the caller can say what it
    meant when it has passed.
    """

    instant: datetime
    zone: tzinfo | None = None
    other: datetime | None = None
    today: str | None = None
    clock: time | None = None
    now: bool = False  # the text was "now"


def parse_when(text: str, *, now: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant `text` means, read at `now` (aware) by a user living in `tz`.

    See the module docstring for the accepted forms and the rules for days, DST and zones.
    Raises TimeParseError with a chat-ready message when the text can't be read.
    """
    return read_when(text, now=now, tz=tz).instant


def read_when(text: str, *, now: datetime, tz: ZoneInfo) -> Reading:
    """`parse_when`, with what the echo needs: the zone typed, a second occurrence, a phrase."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    shown = text.strip()
    if len(shown) >= 2 and _QUOTES.get(shown[0]) == shown[-1]:
        shown = shown[1:-1].strip()
    shown = " ".join(shown.split())
    if not shown:
        raise TimeParseError(f"When? Try {_examples(now)}.")
    try:
        return _parse(shown, now, tz)
    except OverflowError:
        raise TimeParseError(f'"{_clip(shown)}" is too far away for me.') from None


def _parse(shown: str, now: datetime, tz: tzinfo) -> Reading:
    slash = _SLASH_RE.search(shown)
    if slash:
        raise TimeParseError(
            f'I can\'t tell which date "{slash.group()}" is (day/month or month/day?). '
            'Write the month as a word, like "3 dec 9am", or use YYYY-MM-DD.'
        )
    text, zone = _split_zone(shown, tz)
    typed = zone if zone is not tz else None
    text = text.lower()
    if text == "now":
        return Reading(now.astimezone(UTC), typed, now=True)
    relative = _RELATIVE_RE.fullmatch(text)
    if relative:
        return Reading((now + _duration(relative.group(1))).astimezone(UTC), typed)
    ago = _AGO_RE.fullmatch(text)
    if ago:
        return Reading((now - _duration(ago.group(1))).astimezone(UTC), typed)
    phrase = text
    text = _ISO_T_RE.sub(r"\1 ", text)
    text = _END_OF_DAY_RE.sub("eod", text)
    text = _THIS_PART_RE.sub("today ", _FILLER_RE.sub(" ", text))
    text = " ".join(text.split())
    if text == "eod":  # "end of day" alone is today's, like "tonight"
        text = "today eod"
    match = _DAY_FIRST_RE.fullmatch(text) or _TIME_FIRST_RE.fullmatch(text)
    if match is None:
        raise TimeParseError(f'I can\'t read "{_clip(shown)}" as a time. Try {_examples(now)}.')
    day, clock = _resolve(match, now, zone)
    first, second = _instant(day, clock, zone)
    named = match["rel"] in ("today", "tonight") and (
        match["time"] is None or match["time"] in _NAMED_TIMES
    )
    return Reading(
        first.astimezone(UTC),
        typed,
        other=second.astimezone(UTC) if second is not None else None,
        today=phrase if named else None,
        clock=clock,
    )


def _split_zone(text: str, tz: tzinfo) -> tuple[str, tzinfo]:
    """Split off a trailing UTC offset or zone name; without one, the user's zone applies."""
    offset = _OFFSET_RE.search(text)
    if offset:
        raw = offset.group(1)
        rest = text[: offset.start()].strip()
        if raw.lower() == "z":
            return rest, UTC
        hours, minutes = int(raw[1:3]), int(raw[-2:])
        if hours > 14 or minutes > 59:
            raise TimeParseError(f'"{raw}" isn\'t a UTC offset I know. Try +01:00 or -0500.')
        sign = -1 if raw[0] == "-" else 1
        return rest, timezone(sign * timedelta(hours=hours, minutes=minutes))
    head, _, last = text.rpartition(" ")
    key = last.lower()
    if head and (key in _ZONE_ALIASES or key in _zone_names() or "/" in key):
        return re.sub(r"\s+in$", "", head, flags=re.IGNORECASE), parse_zone(last)
    return text, tz


def _duration(text: str) -> timedelta:
    total = timedelta()
    for amount, unit in _PART_RE.findall(text):
        count = int(amount) if amount.strip()[0].isdigit() else 1
        total += count * _UNIT_SIZES.get(unit[0], timedelta(minutes=1))
    return total


def _resolve(match: re.Match[str], now: datetime, zone: tzinfo) -> tuple[date, time]:
    """The local day and time of day a matched text names."""
    today = now.astimezone(zone).date()
    clock = _clock(match["time"]) if match["time"] else None
    rel = match["rel"]
    if rel == "today" and clock is None:
        raise TimeParseError('What time today? Try "today 5pm" or "tonight".')
    if clock is None:
        clock = _TONIGHT if rel == "tonight" else _DEFAULT_TIME

    def ahead(day: date) -> bool:
        return datetime.combine(day, clock, tzinfo=zone) > now

    if match["day"] is None:  # a time alone: today if still ahead, else tomorrow
        day = today if ahead(today) else today + timedelta(days=1)
    elif rel:
        day = today + timedelta(days={"tomorrow": 1, "tmrw": 1, "yesterday": -1}.get(rel, 0))
    elif match["nw"]:  # the Monday of the coming week
        day = today + timedelta(days=7 - today.weekday())
    elif match["mod"] == "last":  # the latest such day before today
        day = today - timedelta(days=(today.weekday() - _WEEKDAYS[match["wd"]]) % 7 or 7)
    elif match["wd"]:
        days = (_WEEKDAYS[match["wd"]] - today.weekday()) % 7
        if days == 0 and (match["mod"] == "next" or not ahead(today)):
            days = 7
        day = today + timedelta(days=days)
    else:
        month = (
            int(match["im"]) if match["im"] else _MONTHS[(match["m1"] or match["m2"]).strip(".")]
        )
        dom = int(match["id"] or match["d1"] or match["d2"])
        year = match["iy"] or match["y1"] or match["y2"]
        day = _date(int(year) if year else None, month, dom)
        if not year:  # the next such date that is still ahead (29 Feb may be years away)
            years = range(today.year, today.year + 9)
            day = next(
                date(y, month, dom)
                for y in years
                if dom <= calendar.monthrange(y, month)[1] and ahead(date(y, month, dom))
            )
    return day, clock


def _clock(raw: str) -> time:
    """A time of day from "9am", "9:30 p.m.", "14:30", "noon"…, naming any wrong part."""
    if raw in _NAMED_TIMES:
        return _NAMED_TIMES[raw]
    match = _CLOCK_RE.fullmatch(raw)
    if match is None:  # unreachable: _TIME only lets clock-shaped text through
        raise TimeParseError(f'I can\'t read "{raw}" as a time of day.')
    hour, minute, second = int(match["h"]), int(match["m"] or 0), int(match["s"] or 0)
    if match["ap"]:
        if not 1 <= hour <= 12:
            raise TimeParseError(
                f'"{raw}" isn\'t a valid time: with am/pm the hour goes from 1 to 12.'
            )
        hour = hour % 12 + (12 if match["ap"] == "p" else 0)
    elif hour > 23:
        raise TimeParseError(f'"{raw}" isn\'t a valid time: the hour goes from 0 to 23.')
    elif match["m"] is None:
        if 1 <= hour <= 12:
            raise TimeParseError(
                f'Is "{raw}" am or pm? Write "{raw}am", "{raw}pm" or "{hour + 12}:00".'
            )
        raise TimeParseError(f'Add the minutes to "{raw}", like "{hour:02d}:00".')
    if minute > 59:
        raise TimeParseError(f'"{raw}" isn\'t a valid time: the minutes go from 00 to 59.')
    if second > 59:
        raise TimeParseError(f'"{raw}" isn\'t a valid time: the seconds go from 00 to 59.')
    return time(hour, minute, second)


def _date(year: int | None, month: int, dom: int) -> date:
    """The date, or a TimeParseError naming the wrong part (no year: checked as a leap year)."""
    if not 1 <= month <= 12:
        raise TimeParseError(f"There is no month {month}: months go from 1 to 12.")
    if year is not None and year < 1:
        raise TimeParseError(f"There is no year {year}.")
    last = calendar.monthrange(year or 2000, month)[1]
    if not 1 <= dom <= last:
        name = _MONTH_NAMES[month - 1] + (f" {year}" if year else "")
        has = f"has {last} days" if year else f"has at most {last} days"
        raise TimeParseError(f"There is no {dom} {name} ({name} {has}).")
    return date(year or 2000, month, dom)


def _instant(day: date, clock: time, zone: tzinfo) -> tuple[datetime, datetime | None]:
    """Local wall time in `zone`, refused if skipped by DST; when it happens twice (the clocks
    go back), its first occurrence and the second."""
    local = datetime.combine(day, clock, tzinfo=zone)
    back = local.astimezone(UTC).astimezone(zone)
    if back.replace(tzinfo=None) != local.replace(tzinfo=None):
        raise TimeParseError(
            f"{clock:%H:%M} doesn't exist on {_day_label(day)} in {_zone_name(zone)}: "
            f"the clocks go forward then. Try {back:%H:%M}."
        )
    second = local.replace(fold=1)
    return local, (second if second.utcoffset() != local.utcoffset() else None)


def _zone_name(zone: tzinfo) -> str:
    return zone.key if isinstance(zone, ZoneInfo) else str(zone)


def _day_label(day: date, this_year: int | None = None) -> str:
    """Like "Tue 3 Dec", with the year appended unless it is `this_year`."""
    label = f"{_DAY_NAMES[day.weekday()]} {day.day} {_MONTH_NAMES[day.month - 1]}"
    return label if day.year == this_year else f"{label} {day.year}"


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_when(instant: datetime, tz: ZoneInfo, *, now: datetime) -> str:
    """The echo users see: "Tue 3 Dec, 09:00 Europe/Berlin (08:00 UTC)".

    The year shows when it isn't now's year (in that zone); the UTC part shows its date when
    that differs from the local one; for a UTC user the UTC part is left out.
    """
    if instant.utcoffset() is None:
        raise ValueError("instant must be timezone-aware")
    local = instant.astimezone(tz)
    shown = f"{_day_label(local, now.astimezone(tz).year)}, {local:%H:%M}"
    if tz.key in _UTC_KEYS:
        return f"{shown} UTC"
    utc = instant.astimezone(UTC)
    utc_part = f"{utc:%H:%M} UTC"
    if utc.date() != local.date():
        utc_part = f"{_day_label(utc, now.astimezone(UTC).year)} {utc_part}"
    return f"{shown} {tz.key} ({utc_part})"


def echo_when(reading: Reading, tz: ZoneInfo, *, now: datetime) -> str:
    """The echo of a time someone typed: `format_when`, or, when they wrote a zone other than
    their own and UTC, that zone first and theirs beside the UTC instant:
    "Sun 31 Oct 2027, 02:30 Europe/Berlin (00:30 UTC; Sat 30 Oct 2027, 20:30 America/New_York)".
    """
    typed = reading.zone
    if typed is None or _is_utc(typed) or _zone_name(typed) == tz.key:
        return format_when(reading.instant, tz, now=now)
    local = reading.instant.astimezone(typed)
    shown = f"{_day_label(local, now.astimezone(typed).year)}, {local:%H:%M} {_zone_name(typed)}"
    utc = reading.instant.astimezone(UTC)
    beside = [f"{utc:%H:%M} UTC"]
    if utc.date() != local.date():
        beside[0] = f"{_day_label(utc, now.astimezone(UTC).year)} {beside[0]}"
    if tz.key not in _UTC_KEYS:
        mine = reading.instant.astimezone(tz)
        when = f"{mine:%H:%M} {tz.key}"
        if mine.date() != local.date():
            when = f"{_day_label(mine, now.astimezone(tz).year)}, {when}"
        beside.append(when)
    return f"{shown} ({'; '.join(beside)})"


def ambiguity_note(reading: Reading, tz: ZoneInfo, *, now: datetime) -> str | None:
    """For a wall time that happens twice (the clocks go back): which one was taken, and how
    to ask for the other; None for any other reading."""
    if reading.other is None:
        return None
    zone = reading.zone or tz
    first = reading.instant.astimezone(zone)
    second = reading.other.astimezone(zone)
    other_utc = reading.other.astimezone(UTC)
    day = _day_label(first.date(), now.astimezone(zone).year)
    return (
        f"{first:%H:%M} comes twice on {day} in {_zone_name(zone)}, as the clocks go back: "
        f"I took the first ({first.tzname()}, {reading.instant:%H:%M} UTC). For the second "
        f'({second.tzname()}, {other_utc:%H:%M} UTC), write "{other_utc:%Y-%m-%d %H:%M} UTC".'
    )


def _is_utc(zone: tzinfo) -> bool:
    return zone is UTC or _zone_name(zone) in _UTC_KEYS
