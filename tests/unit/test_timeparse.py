"""Tests for core.timeparse: reading chat users' times and echoing them back."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.timeparse import (
    TimeParseError,
    ambiguity_note,
    echo_when,
    format_when,
    parse_when,
    parse_zone,
    read_when,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
UTC_ZONE = ZoneInfo("UTC")

# Thursday 26 Nov 2026: 23:18 in Berlin (CET), 17:18 in New York (EST), Fri 07:18 in Tokyo.
NOW = datetime(2026, 11, 26, 22, 18, tzinfo=UTC)

EXAMPLES = '"in 2h", "tomorrow 9am", "next monday 14:30" or "2026-12-01 09:00 Europe/Berlin"'


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def parse(text: str, tz: ZoneInfo = BERLIN, now: datetime = NOW) -> datetime:
    return parse_when(text, now=now, tz=tz)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", utc(2026, 11, 26, 22, 18)),
        ("in 2h", utc(2026, 11, 27, 0, 18)),
        ("in 30m", utc(2026, 11, 26, 22, 48)),
        ("in 30 min", utc(2026, 11, 26, 22, 48)),
        ("in 2 hours", utc(2026, 11, 27, 0, 18)),
        ("in 1 day", utc(2026, 11, 27, 22, 18)),
        ("in 90 minutes", utc(2026, 11, 26, 23, 48)),
        ("in 1h30m", utc(2026, 11, 26, 23, 48)),
        ("in 1h 30m", utc(2026, 11, 26, 23, 48)),
        ("in 1 hour and 30 minutes", utc(2026, 11, 26, 23, 48)),
        ("in an hour", utc(2026, 11, 26, 23, 18)),
        ("in a day", utc(2026, 11, 27, 22, 18)),
        ("in 1 week", utc(2026, 12, 3, 22, 18)),
        ("in 2 weeks", utc(2026, 12, 10, 22, 18)),
        ("in 2d 3h", utc(2026, 11, 29, 1, 18)),
        ("in 0m", utc(2026, 11, 26, 22, 18)),
    ],
)
def test_now_and_relative_durations(text: str, expected: datetime) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 23:18 in Berlin: times already past today roll over to tomorrow (Fri 27 Nov, CET).
        ("9am", utc(2026, 11, 27, 8)),
        ("9 am", utc(2026, 11, 27, 8)),
        ("9 a.m.", utc(2026, 11, 27, 8)),
        ("9:30pm", utc(2026, 11, 27, 20, 30)),
        ("14:30", utc(2026, 11, 27, 13, 30)),
        ("14:30:00", utc(2026, 11, 27, 13, 30)),
        ("12am", utc(2026, 11, 26, 23)),
        ("12pm", utc(2026, 11, 27, 11)),
        ("noon", utc(2026, 11, 27, 11)),
        ("midnight", utc(2026, 11, 26, 23)),
        ("afternoon", utc(2026, 11, 27, 13)),
        ("evening", utc(2026, 11, 27, 17)),
        ("at 9am", utc(2026, 11, 27, 8)),
        # Still ahead today: stays today.
        ("23:45", utc(2026, 11, 26, 22, 45)),
        ("11:59pm", utc(2026, 11, 26, 22, 59)),
    ],
)
def test_time_of_day_alone(text: str, expected: datetime) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today 5pm", utc(2026, 11, 26, 16)),  # past, but not refused here
        ("today at 5pm", utc(2026, 11, 26, 16)),
        ("today 23:50", utc(2026, 11, 26, 22, 50)),
        ("tonight", utc(2026, 11, 26, 19)),
        ("this afternoon", utc(2026, 11, 26, 13)),
        ("tomorrow", utc(2026, 11, 27, 8)),
        ("tomorrow 9am", utc(2026, 11, 27, 8)),
        ("tomorrow at 9am", utc(2026, 11, 27, 8)),
        ("tomorrow @ 9am", utc(2026, 11, 27, 8)),
        ("9am tomorrow", utc(2026, 11, 27, 8)),
        ("tomorrow 14:30", utc(2026, 11, 27, 13, 30)),
        ("tomorrow morning", utc(2026, 11, 27, 8)),
        ("tomorrow afternoon", utc(2026, 11, 27, 13)),
        ("tomorrow evening", utc(2026, 11, 27, 17)),
        ("tomorrow night", utc(2026, 11, 27, 19)),
        ("tomorrow noon", utc(2026, 11, 27, 11)),
    ],
)
def test_today_tonight_tomorrow(text: str, expected: datetime) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("monday 9am", utc(2026, 11, 30, 8)),
        ("mon 9am", utc(2026, 11, 30, 8)),
        ("on monday at 9am", utc(2026, 11, 30, 8)),
        ("next monday 14:30", utc(2026, 11, 30, 13, 30)),
        ("this friday 10:00", utc(2026, 11, 27, 9)),
        ("friday", utc(2026, 11, 27, 8)),
        ("fri", utc(2026, 11, 27, 8)),
        ("next friday", utc(2026, 11, 27, 8)),  # "next" only skips a week on that very day
        ("friday afternoon", utc(2026, 11, 27, 13)),
        ("wednesday", utc(2026, 12, 2, 8)),
        ("sunday 18:00", utc(2026, 11, 29, 17)),
        # Today is Thursday, 23:18 local.
        ("thursday", utc(2026, 12, 3, 8)),  # 09:00 today has passed
        ("thursday 23:30", utc(2026, 11, 26, 22, 30)),  # still ahead today
        ("this thursday 23:30", utc(2026, 11, 26, 22, 30)),
        ("thu 23:30", utc(2026, 11, 26, 22, 30)),
        ("next thursday 23:30", utc(2026, 12, 3, 22, 30)),  # same day: a week later
        ("next thursday", utc(2026, 12, 3, 8)),
    ],
)
def test_weekdays(text: str, expected: datetime) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        # New York: Thu 17:18 EST.
        ("thursday 6pm", NEW_YORK, utc(2026, 11, 26, 23)),
        ("thursday", NEW_YORK, utc(2026, 12, 3, 14)),
        ("next thursday 6pm", NEW_YORK, utc(2026, 12, 3, 23)),
        ("friday", NEW_YORK, utc(2026, 11, 27, 14)),
        # Tokyo: already Fri 27 Nov, 07:18 JST.
        ("friday", TOKYO, utc(2026, 11, 27, 0)),
        ("this friday", TOKYO, utc(2026, 11, 27, 0)),
        ("next friday", TOKYO, utc(2026, 12, 4, 0)),
        ("friday 7am", TOKYO, utc(2026, 12, 3, 22)),  # 07:00 today has passed
        ("thursday", TOKYO, utc(2026, 12, 3, 0)),
    ],
)
def test_next_weekday_rule_in_other_zones(text: str, tz: ZoneInfo, expected: datetime) -> None:
    assert parse(text, tz) == expected


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("9pm", NEW_YORK, utc(2026, 11, 27, 2)),  # 21:00 EST today, still ahead
        ("9am", NEW_YORK, utc(2026, 11, 27, 14)),
        ("tonight", NEW_YORK, utc(2026, 11, 27, 1)),
        ("tomorrow 9am", NEW_YORK, utc(2026, 11, 27, 14)),
        ("9am", TOKYO, utc(2026, 11, 27, 0)),  # 09:00 JST today, still ahead
        ("today 8am", TOKYO, utc(2026, 11, 26, 23)),
        ("tomorrow", TOKYO, utc(2026, 11, 28, 0)),
        ("tomorrow 9am", UTC_ZONE, utc(2026, 11, 27, 9)),
        ("9pm", UTC_ZONE, utc(2026, 11, 27, 21)),
    ],
)
def test_user_zone_decides_the_wall_clock(text: str, tz: ZoneInfo, expected: datetime) -> None:
    assert parse(text, tz) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01 09:00", utc(2026, 12, 1, 8)),
        ("2026-12-01T09:00", utc(2026, 12, 1, 8)),
        ("2026-12-01t09:00:00", utc(2026, 12, 1, 8)),
        ("2026-12-01", utc(2026, 12, 1, 8)),
        ("2026-12-01 at 5pm", utc(2026, 12, 1, 16)),
        ("2027-07-01 09:00", utc(2027, 7, 1, 7)),  # summer time: CEST
        ("dec 3 9am", utc(2026, 12, 3, 8)),
        ("Dec 3rd, 9am", utc(2026, 12, 3, 8)),
        ("3 dec 09:00", utc(2026, 12, 3, 8)),
        ("3rd of december 09:00", utc(2026, 12, 3, 8)),
        ("december 3 2026 9:00", utc(2026, 12, 3, 8)),
        ("dec 3, 2026 9am", utc(2026, 12, 3, 8)),
        ("3 dec 2027 14:30", utc(2027, 12, 3, 13, 30)),
        ("dec 3", utc(2026, 12, 3, 8)),
        ("sept 3 10am", utc(2027, 9, 3, 8)),
        # Without a year: the next such date still ahead.
        ("nov 20 9am", utc(2027, 11, 20, 8)),
        ("jan 5", utc(2027, 1, 5, 8)),
        ("26 nov 23:30", utc(2026, 11, 26, 22, 30)),  # today, still ahead
        ("26 nov 9am", utc(2027, 11, 26, 8)),  # today, already past
        ("feb 29", utc(2028, 2, 29, 8)),  # next leap day
        # With a year: taken as written, even if past.
        ("nov 20 2026 9am", utc(2026, 11, 20, 8)),
    ],
)
def test_absolute_dates(text: str, expected: datetime) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("2026-12-01 09:00 Europe/Berlin", NEW_YORK, utc(2026, 12, 1, 8)),
        ("2026-12-01 09:00 europe/berlin", NEW_YORK, utc(2026, 12, 1, 8)),
        ("tomorrow 9am America/New_York", BERLIN, utc(2026, 11, 27, 14)),
        ("tomorrow 9am in America/New_York", BERLIN, utc(2026, 11, 27, 14)),
        ("9am Asia/Tokyo", BERLIN, utc(2026, 11, 27, 0)),  # Tokyo's today, still ahead
        ("friday Asia/Tokyo", NEW_YORK, utc(2026, 11, 27, 0)),
        ("2026-12-01 09:00 UTC", BERLIN, utc(2026, 12, 1, 9)),
        ("tomorrow 9am utc", BERLIN, utc(2026, 11, 27, 9)),
        ("2026-12-01 09:00 GMT", NEW_YORK, utc(2026, 12, 1, 9)),
        ("2026-12-01T09:00+01:00", NEW_YORK, utc(2026, 12, 1, 8)),
        ("2026-12-01 09:00 +0100", NEW_YORK, utc(2026, 12, 1, 8)),
        ("2026-12-01 09:00 -05:00", BERLIN, utc(2026, 12, 1, 14)),
        ("2026-12-01T09:00+05:30", BERLIN, utc(2026, 12, 1, 3, 30)),
        ("2026-12-01T09:00Z", BERLIN, utc(2026, 12, 1, 9)),
        ("2026-12-01 09:00 z", NEW_YORK, utc(2026, 12, 1, 9)),
        ("in 2h UTC", NEW_YORK, utc(2026, 11, 27, 0, 18)),
        ("now Europe/Berlin", NEW_YORK, utc(2026, 11, 26, 22, 18)),
    ],
)
def test_explicit_zone_overrides_user_zone(text: str, tz: ZoneInfo, expected: datetime) -> None:
    assert parse(text, tz) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tomorrow 9AM", utc(2026, 11, 27, 8)),
        ("TOMORROW AT 9 A.M.", utc(2026, 11, 27, 8)),
        ("  tomorrow   9am  ", utc(2026, 11, 27, 8)),
        ('"tomorrow 9am"', utc(2026, 11, 27, 8)),
        ("'in 2h'", utc(2026, 11, 27, 0, 18)),
        (' " in 2h " ', utc(2026, 11, 27, 0, 18)),
        ("“next monday 14:30”", utc(2026, 11, 30, 13, 30)),
        ("NOW", utc(2026, 11, 26, 22, 18)),
    ],
)
def test_case_whitespace_and_quotes_are_ignored(text: str, expected: datetime) -> None:
    assert parse(text) == expected


def test_result_is_utc_whatever_zone_now_is_in() -> None:
    now_in_tokyo = NOW.astimezone(TOKYO)
    result = parse_when("now", now=now_in_tokyo, tz=BERLIN)
    assert result == utc(2026, 11, 26, 22, 18)
    assert result.tzinfo is UTC
    assert parse_when("tomorrow 9am", now=now_in_tokyo, tz=BERLIN).tzinfo is UTC
    assert parse_when("in 2h", now=now_in_tokyo, tz=BERLIN).tzinfo is UTC
    # "tomorrow" is Berlin's tomorrow even though it is already Friday in Tokyo.
    assert parse_when("tomorrow 9am", now=now_in_tokyo, tz=BERLIN) == utc(2026, 11, 27, 8)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware") as excinfo:
        parse_when("now", now=datetime(2026, 11, 26, 22, 18), tz=BERLIN)  # noqa: DTZ001
    assert not isinstance(excinfo.value, TimeParseError)


# --- DST -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tz", "message"),
    [
        (
            "2027-03-28 02:30",
            BERLIN,
            "02:30 doesn't exist on Sun 28 Mar 2027 in Europe/Berlin: "
            "the clocks go forward then. Try 03:30.",
        ),
        (
            "mar 28 2027 2:15am",
            BERLIN,
            "02:15 doesn't exist on Sun 28 Mar 2027 in Europe/Berlin: "
            "the clocks go forward then. Try 03:15.",
        ),
        (
            "2027-03-14 02:30",
            NEW_YORK,
            "02:30 doesn't exist on Sun 14 Mar 2027 in America/New_York: "
            "the clocks go forward then. Try 03:30.",
        ),
        (
            "2027-03-14 02:30 America/New_York",
            BERLIN,
            "02:30 doesn't exist on Sun 14 Mar 2027 in America/New_York: "
            "the clocks go forward then. Try 03:30.",
        ),
    ],
)
def test_spring_forward_gap_is_refused(text: str, tz: ZoneInfo, message: str) -> None:
    with pytest.raises(TimeParseError) as excinfo:
        parse(text, tz)
    assert str(excinfo.value) == message


def test_gap_via_relative_day_is_refused() -> None:
    saturday = datetime(2027, 3, 27, 12, tzinfo=UTC)
    with pytest.raises(TimeParseError) as excinfo:
        parse("tomorrow 2:30am", BERLIN, now=saturday)
    assert str(excinfo.value) == (
        "02:30 doesn't exist on Sun 28 Mar 2027 in Europe/Berlin: "
        "the clocks go forward then. Try 03:30."
    )


def test_times_next_to_the_gap_are_fine() -> None:
    assert parse("2027-03-28 01:59") == utc(2027, 3, 28, 0, 59)  # CET
    assert parse("2027-03-28 03:00") == utc(2027, 3, 28, 1)  # CEST


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        # The repeated hour means its first occurrence (summer time, fold=0).
        ("2026-10-25 02:30", BERLIN, utc(2026, 10, 25, 0, 30)),  # not 01:30 UTC
        ("2026-10-25 02:00", BERLIN, utc(2026, 10, 25, 0)),
        ("2026-10-25 03:00", BERLIN, utc(2026, 10, 25, 2)),  # after the change: CET
        ("2026-11-01 01:30", NEW_YORK, utc(2026, 11, 1, 5, 30)),  # EDT, not 06:30 UTC
    ],
)
def test_fall_back_ambiguity_takes_first_occurrence(
    text: str, tz: ZoneInfo, expected: datetime
) -> None:
    assert parse(text, tz) == expected


def test_tomorrow_keeps_wall_clock_across_fall_back_while_in_24h_is_elapsed() -> None:
    saturday_noon = datetime(2026, 10, 24, 10, tzinfo=UTC)  # 12:00 CEST
    assert parse("today 9am", BERLIN, now=saturday_noon) == utc(2026, 10, 24, 7)
    tomorrow = parse("tomorrow 9am", BERLIN, now=saturday_noon)
    assert tomorrow == utc(2026, 10, 25, 8)  # 09:00 CET: the UTC hour moved
    assert tomorrow.astimezone(BERLIN).hour == 9
    in_24h = parse("in 24h", BERLIN, now=saturday_noon)
    assert in_24h == utc(2026, 10, 25, 10)
    assert in_24h - saturday_noon == timedelta(hours=24)
    assert in_24h.astimezone(BERLIN).hour == 11  # wall clock shows one hour less
    assert parse("in 1 day", BERLIN, now=saturday_noon) == utc(2026, 10, 25, 10)


def test_tomorrow_keeps_wall_clock_across_spring_forward_in_new_york() -> None:
    saturday = datetime(2027, 3, 13, 15, tzinfo=UTC)  # 10:00 EST
    assert parse("today 9pm", NEW_YORK, now=saturday) == utc(2027, 3, 14, 2)  # EST
    tomorrow = parse("tomorrow 9am", NEW_YORK, now=saturday)
    assert tomorrow == utc(2027, 3, 14, 13)  # 09:00 EDT
    assert tomorrow.astimezone(NEW_YORK).hour == 9
    in_24h = parse("in 24h", NEW_YORK, now=saturday)
    assert in_24h == utc(2027, 3, 14, 15)
    assert in_24h.astimezone(NEW_YORK).hour == 11


def test_next_weekday_across_dst_keeps_wall_clock() -> None:
    thursday = datetime(2026, 10, 22, 10, tzinfo=UTC)
    assert parse("thursday 9am", BERLIN, now=thursday) == utc(2026, 10, 29, 8)  # CET
    assert parse("wednesday 9am", BERLIN, now=thursday) == utc(2026, 10, 28, 8)
    assert parse("saturday 9am", BERLIN, now=thursday) == utc(2026, 10, 24, 7)  # CEST


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["banana", "next", "in 2 fortnights", "in 2 months", "in 45y", "utc", "monday funday", "3.12"],
)
def test_unreadable_text(text: str) -> None:
    with pytest.raises(TimeParseError) as excinfo:
        parse(text)
    assert str(excinfo.value) == f'I can\'t read "{text}" as a time. Try {EXAMPLES}.'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Thursday 26 Nov, 23:18 in Berlin.
        ("yesterday", utc(2026, 11, 25, 8)),
        ("yesterday 5pm", utc(2026, 11, 25, 16)),
        ("last thursday", utc(2026, 11, 19, 8)),  # today is Thursday: the one before
        ("last mon 14:30", utc(2026, 11, 23, 13, 30)),
        ("last friday", utc(2026, 11, 20, 8)),
        ("3 days ago", NOW - timedelta(days=3)),
        ("2h and 30 minutes ago", NOW - timedelta(hours=2, minutes=30)),
    ],
)
def test_past_phrases_are_read_so_a_refusal_can_say_they_are_past(
    text: str, expected: datetime
) -> None:
    assert parse(text) == expected


def test_the_dated_example_is_always_ahead() -> None:
    """The refusal's example date is the first of next month, never a date gone by."""
    later = datetime(2027, 12, 15, 12, tzinfo=UTC)
    with pytest.raises(TimeParseError) as excinfo:
        parse("banana", now=later)
    assert '"2028-01-01 09:00 Europe/Berlin"' in str(excinfo.value)
    example = str(excinfo.value).rsplit('"', 2)[-2]
    assert parse(example, now=later) > later


def test_unreadable_text_is_quoted_as_typed_but_clipped() -> None:
    with pytest.raises(TimeParseError) as excinfo:
        parse('  "Blah Blah"  ')
    assert str(excinfo.value) == f'I can\'t read "Blah Blah" as a time. Try {EXAMPLES}.'
    with pytest.raises(TimeParseError) as excinfo:
        parse("x" * 100)
    assert str(excinfo.value) == f'I can\'t read "{"x" * 59}…" as a time. Try {EXAMPLES}.'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", f"When? Try {EXAMPLES}."),
        ('  ""  ', f"When? Try {EXAMPLES}."),
        ("25:00", '"25:00" isn\'t a valid time: the hour goes from 0 to 23.'),
        ("tomorrow 24:00", '"24:00" isn\'t a valid time: the hour goes from 0 to 23.'),
        ("13pm", '"13pm" isn\'t a valid time: with am/pm the hour goes from 1 to 12.'),
        ("monday 0am", '"0am" isn\'t a valid time: with am/pm the hour goes from 1 to 12.'),
        ("9:75", '"9:75" isn\'t a valid time: the minutes go from 00 to 59.'),
        ("9:30:61", '"9:30:61" isn\'t a valid time: the seconds go from 00 to 59.'),
        ("feb 30", "There is no 30 Feb (Feb has at most 29 days)."),
        ("31 april 9am", "There is no 31 Apr (Apr has at most 30 days)."),
        ("2027-02-29", "There is no 29 Feb 2027 (Feb 2027 has 28 days)."),
        ("2026-12-32 09:00", "There is no 32 Dec 2026 (Dec 2026 has 31 days)."),
        ("2026-13-01", "There is no month 13: months go from 1 to 12."),
        ("tomorrow 9", 'Is "9" am or pm? Write "9am", "9pm" or "21:00".'),
        ("monday 15", 'Add the minutes to "15", like "15:00".'),
        ("today", 'What time today? Try "today 5pm" or "tonight".'),
        (
            "3/12",
            'I can\'t tell which date "3/12" is (day/month or month/day?). '
            'Write the month as a word, like "3 dec 9am", or use YYYY-MM-DD.',
        ),
        (
            "12/3/2026 9am",
            'I can\'t tell which date "12/3/2026" is (day/month or month/day?). '
            'Write the month as a word, like "3 dec 9am", or use YYYY-MM-DD.',
        ),
        (
            "2026-12-01 09:00 Europe/Berln",
            'I don\'t know the time zone "Europe/Berln". '
            "Use an IANA name such as Europe/Berlin or America/New_York.",
        ),
        ("2026-12-01 09:00 +2500", '"+2500" isn\'t a UTC offset I know. Try +01:00 or -0500.'),
        ("in 999999 weeks", '"in 999999 weeks" is too far away for me.'),
    ],
)
def test_specific_errors(text: str, message: str) -> None:
    with pytest.raises(TimeParseError) as excinfo:
        parse(text)
    assert str(excinfo.value) == message


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="can't read"):
        parse("banana")


# --- parse_zone ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("europe/berlin", "Europe/Berlin"),
        ("EUROPE/BERLIN", "Europe/Berlin"),
        ("america/new_york", "America/New_York"),
        ("  Asia/Tokyo  ", "Asia/Tokyo"),
        ("america/argentina/buenos_aires", "America/Argentina/Buenos_Aires"),
        ("UTC", "UTC"),
        ("utc", "UTC"),
        ("GMT", "UTC"),
        ("Z", "UTC"),
        ("z", "UTC"),
    ],
)
def test_parse_zone(name: str, key: str) -> None:
    zone = parse_zone(name)
    assert isinstance(zone, ZoneInfo)
    assert zone.key == key


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Europe/Berln", "Europe/Berln"),
        ("Mars/Olympus_Mons", "Mars/Olympus_Mons"),
        (" CEST ", "CEST"),
        ("", ""),
    ],
)
def test_parse_zone_unknown(name: str, shown: str) -> None:
    with pytest.raises(TimeParseError) as excinfo:
        parse_zone(name)
    assert str(excinfo.value) == (
        f'I don\'t know the time zone "{shown}". '
        "Use an IANA name such as Europe/Berlin or America/New_York."
    )


# --- format_when -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "tz", "expected"),
    [
        (utc(2026, 12, 3, 8), BERLIN, "Thu 3 Dec, 09:00 Europe/Berlin (08:00 UTC)"),
        (utc(2026, 7, 1, 7), BERLIN, "Wed 1 Jul, 09:00 Europe/Berlin (07:00 UTC)"),
        (utc(2027, 1, 1, 8), BERLIN, "Fri 1 Jan 2027, 09:00 Europe/Berlin (08:00 UTC)"),
        (utc(2025, 12, 31, 8), BERLIN, "Wed 31 Dec 2025, 09:00 Europe/Berlin (08:00 UTC)"),
        (
            utc(2026, 12, 1, 23, 30),
            BERLIN,
            "Wed 2 Dec, 00:30 Europe/Berlin (Tue 1 Dec 23:30 UTC)",
        ),
        (
            utc(2026, 12, 31, 23, 30),
            BERLIN,
            "Fri 1 Jan 2027, 00:30 Europe/Berlin (Thu 31 Dec 23:30 UTC)",
        ),
        (
            utc(2026, 12, 3, 2),
            NEW_YORK,
            "Wed 2 Dec, 21:00 America/New_York (Thu 3 Dec 02:00 UTC)",
        ),
        (
            utc(2027, 1, 1, 3),
            NEW_YORK,
            "Thu 31 Dec, 22:00 America/New_York (Fri 1 Jan 2027 03:00 UTC)",
        ),
        (utc(2026, 12, 3, 0), TOKYO, "Thu 3 Dec, 09:00 Asia/Tokyo (00:00 UTC)"),
        (utc(2026, 12, 3, 9), UTC_ZONE, "Thu 3 Dec, 09:00 UTC"),
        (utc(2027, 1, 1, 0, 5), UTC_ZONE, "Fri 1 Jan 2027, 00:05 UTC"),
        (utc(2026, 12, 3, 9), ZoneInfo("Etc/UTC"), "Thu 3 Dec, 09:00 UTC"),
        (
            datetime(2026, 12, 3, 9, tzinfo=BERLIN),
            BERLIN,
            "Thu 3 Dec, 09:00 Europe/Berlin (08:00 UTC)",
        ),
        (
            datetime(2026, 12, 3, 9, tzinfo=TOKYO),
            BERLIN,
            "Thu 3 Dec, 01:00 Europe/Berlin (00:00 UTC)",
        ),
    ],
)
def test_format_when(instant: datetime, tz: ZoneInfo, expected: str) -> None:
    assert format_when(instant, tz, now=NOW) == expected


def test_format_when_year_is_relative_to_now_in_the_zone() -> None:
    new_year_in_tokyo = utc(2026, 12, 31, 16)  # Fri 1 Jan 2027, 01:00 JST
    instant = utc(2027, 1, 2, 0)
    assert format_when(instant, TOKYO, now=new_year_in_tokyo) == (
        "Sat 2 Jan, 09:00 Asia/Tokyo (00:00 UTC)"
    )
    assert format_when(instant, BERLIN, now=new_year_in_tokyo) == (
        "Sat 2 Jan 2027, 01:00 Europe/Berlin (00:00 UTC)"
    )


def test_format_when_shows_dst_offsets() -> None:
    first = parse("2026-10-25 02:30")
    assert format_when(first, BERLIN, now=NOW) == ("Sun 25 Oct, 02:30 Europe/Berlin (00:30 UTC)")
    assert format_when(utc(2026, 10, 25, 1, 30), BERLIN, now=NOW) == (
        "Sun 25 Oct, 02:30 Europe/Berlin (01:30 UTC)"
    )


def test_format_when_rejects_naive_instants() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_when(datetime(2026, 12, 3, 9), BERLIN, now=NOW)  # noqa: DTZ001


@pytest.mark.parametrize(
    ("text", "tz", "echo"),
    [
        ("tomorrow 9am", BERLIN, "Fri 27 Nov, 09:00 Europe/Berlin (08:00 UTC)"),
        ("next monday 14:30", NEW_YORK, "Mon 30 Nov, 14:30 America/New_York (19:30 UTC)"),
        ("jan 5", BERLIN, "Tue 5 Jan 2027, 09:00 Europe/Berlin (08:00 UTC)"),
        ("midnight", BERLIN, "Fri 27 Nov, 00:00 Europe/Berlin (Thu 26 Nov 23:00 UTC)"),
        ("in 2h", UTC_ZONE, "Fri 27 Nov, 00:18 UTC"),
    ],
)
def test_parse_then_format_round_trip(text: str, tz: ZoneInfo, echo: str) -> None:
    assert format_when(parse(text, tz), tz, now=NOW) == echo


# --- now, seconds, next week, tonight, this afternoon, end of day ----------------------------

# Thu 26 Nov 2026, 08:00 UTC: 09:00 in Berlin (CET), 03:00 in New York (EST).
MORNING = utc(2026, 11, 26, 8)
# Sun 31 Oct 2027, 00:10 UTC: 02:10 CEST in Berlin, whose clocks go back from 03:00 to 02:00
# at 01:00 UTC that night.
BERLIN_FALL_BACK = utc(2027, 10, 31, 0, 10)
# Sun 14 Mar 2027, 06:30 UTC: 01:30 EST in New York, whose clocks jump from 02:00 to 03:00 at
# 07:00 UTC.
NEW_YORK_SPRING = utc(2027, 3, 14, 6, 30)


@pytest.mark.parametrize(
    ("text", "tz", "now", "expected"),
    [
        # Berlin, an ordinary Thursday morning.
        ("now", BERLIN, MORNING, utc(2026, 11, 26, 8)),
        ("in 30s", BERLIN, MORNING, utc(2026, 11, 26, 8) + timedelta(seconds=30)),
        ("tonight", BERLIN, MORNING, utc(2026, 11, 26, 19)),  # 20:00 CET
        ("this afternoon", BERLIN, MORNING, utc(2026, 11, 26, 13)),  # 14:00 CET
        ("end of day", BERLIN, MORNING, utc(2026, 11, 26, 16)),  # 17:00 CET
        ("next week", BERLIN, MORNING, utc(2026, 11, 30, 8)),  # Monday 09:00 CET
        # New York, the same instant: 03:00 EST.
        ("now", NEW_YORK, MORNING, utc(2026, 11, 26, 8)),
        ("in 30s", NEW_YORK, MORNING, utc(2026, 11, 26, 8) + timedelta(seconds=30)),
        ("tonight", NEW_YORK, MORNING, utc(2026, 11, 27, 1)),  # 20:00 EST
        ("this afternoon", NEW_YORK, MORNING, utc(2026, 11, 26, 19)),
        ("end of day", NEW_YORK, MORNING, utc(2026, 11, 26, 22)),
        ("next week", NEW_YORK, MORNING, utc(2026, 11, 30, 14)),
        # Berlin on the night the clocks go back: wall-clock phrases keep the wall clock,
        # "in 30s" is elapsed time, and on a Sunday "next week" is tomorrow.
        ("now", BERLIN, BERLIN_FALL_BACK, utc(2027, 10, 31, 0, 10)),
        ("in 30s", BERLIN, BERLIN_FALL_BACK, utc(2027, 10, 31, 0, 10, 30)),
        ("in 1h", BERLIN, BERLIN_FALL_BACK, utc(2027, 10, 31, 1, 10)),  # 02:10 CET, again
        ("tonight", BERLIN, BERLIN_FALL_BACK, utc(2027, 10, 31, 19)),  # 20:00 CET
        ("this afternoon", BERLIN, BERLIN_FALL_BACK, utc(2027, 10, 31, 13)),
        ("end of day", BERLIN, BERLIN_FALL_BACK, utc(2027, 10, 31, 16)),
        ("next week", BERLIN, BERLIN_FALL_BACK, utc(2027, 11, 1, 8)),
        # New York on the night the clocks go forward.
        ("in 30s", NEW_YORK, NEW_YORK_SPRING, utc(2027, 3, 14, 6, 30, 30)),
        ("tonight", NEW_YORK, NEW_YORK_SPRING, utc(2027, 3, 15, 0)),  # 20:00 EDT
        ("this afternoon", NEW_YORK, NEW_YORK_SPRING, utc(2027, 3, 14, 18)),  # 14:00 EDT
        ("end of day", NEW_YORK, NEW_YORK_SPRING, utc(2027, 3, 14, 21)),
        ("next week", NEW_YORK, NEW_YORK_SPRING, utc(2027, 3, 15, 13)),  # Monday 09:00 EDT
    ],
)
def test_the_first_hour_phrases_in_two_zones_and_on_dst_days(
    text: str, tz: ZoneInfo, now: datetime, expected: datetime
) -> None:
    assert parse(text, tz, now) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in 30 sec", utc(2026, 11, 26, 8, 0, 30)),
        ("in 30 seconds", utc(2026, 11, 26, 8, 0, 30)),
        ("in 1 second", utc(2026, 11, 26, 8, 0, 1)),
        ("in 1m30s", utc(2026, 11, 26, 8, 1, 30)),
        ("in 2 minutes and 5 secs", utc(2026, 11, 26, 8, 2, 5)),
        ("end of the day", utc(2026, 11, 26, 16)),
        ("by end of day", utc(2026, 11, 26, 16)),
        ("EOD", utc(2026, 11, 26, 16)),
        ("tomorrow end of day", utc(2026, 11, 27, 16)),
        ("friday eod", utc(2026, 11, 27, 16)),
        ("next week 14:30", utc(2026, 11, 30, 13, 30)),
        ("2pm next week", utc(2026, 11, 30, 13)),
        ("next week Asia/Tokyo", utc(2026, 11, 30, 0)),  # Tokyo's Monday 09:00
        ("this evening", utc(2026, 11, 26, 17)),
        ("this morning", utc(2026, 11, 26, 8)),  # 09:00: this very instant
    ],
)
def test_more_forms_of_seconds_end_of_day_and_next_week(text: str, expected: datetime) -> None:
    assert parse(text, BERLIN, MORNING) == expected


def test_next_week_on_a_monday_is_seven_days_later() -> None:
    monday = utc(2026, 11, 30, 8)  # Mon 09:00 CET
    assert parse("next week", BERLIN, monday) == utc(2026, 12, 7, 8)
    assert parse("next week", BERLIN, utc(2026, 12, 6, 22, 30)) == utc(2026, 12, 7, 8)  # Sun 23:30


def test_a_phrase_for_today_stays_today_even_when_past_and_says_so() -> None:
    late = NOW  # 23:18 in Berlin
    for text, clock, expected in [
        ("tonight", time(20), utc(2026, 11, 26, 19)),
        ("this afternoon", time(14), utc(2026, 11, 26, 13)),
        ("end of day", time(17), utc(2026, 11, 26, 16)),
    ]:
        reading = read_when(text, now=late, tz=BERLIN)
        assert reading.instant == expected
        assert (reading.today, reading.clock) == (text, clock)
    # An explicit time, or a time that rolls over to tomorrow, is no phrase of today.
    assert read_when("today 5pm", now=late, tz=BERLIN).today is None
    assert read_when("afternoon", now=late, tz=BERLIN).today is None
    assert read_when("now", now=late, tz=BERLIN).now


# --- echoing the zone typed, and which of two instants -----------------------------------------


@pytest.mark.parametrize(
    ("text", "tz", "echo"),
    [
        # The example of the issue: typed in Berlin, read by someone whose zone is UTC.
        (
            "2027-10-31 02:30 Europe/Berlin",
            UTC_ZONE,
            "Sun 31 Oct 2027, 02:30 Europe/Berlin (00:30 UTC)",
        ),
        (
            "2027-10-31 02:30 Europe/Berlin",
            NEW_YORK,
            "Sun 31 Oct 2027, 02:30 Europe/Berlin "
            "(00:30 UTC; Sat 30 Oct 2027, 20:30 America/New_York)",
        ),
        (
            "2027-10-31 02:30 Europe/Berlin",
            BERLIN,
            "Sun 31 Oct 2027, 02:30 Europe/Berlin (00:30 UTC)",
        ),
        (
            "tomorrow 9am Asia/Tokyo",
            BERLIN,
            "Sat 28 Nov, 09:00 Asia/Tokyo (00:00 UTC; 01:00 Europe/Berlin)",
        ),
        (
            "2026-12-01T09:00+05:30",
            BERLIN,
            "Tue 1 Dec, 09:00 UTC+05:30 (03:30 UTC; 04:30 Europe/Berlin)",
        ),
        # UTC typed: the usual echo already shows it.
        ("2026-12-01 09:00 UTC", BERLIN, "Tue 1 Dec, 10:00 Europe/Berlin (09:00 UTC)"),
        ("tomorrow 9am", BERLIN, "Fri 27 Nov, 09:00 Europe/Berlin (08:00 UTC)"),
    ],
)
def test_a_typed_zone_is_echoed_too(text: str, tz: ZoneInfo, echo: str) -> None:
    assert echo_when(read_when(text, now=NOW, tz=tz), tz, now=NOW) == echo


def test_a_fall_back_time_names_the_instant_it_chose_and_how_to_get_the_other() -> None:
    reading = read_when("2027-10-31 02:30 Europe/Berlin", now=NOW, tz=NEW_YORK)
    assert reading.instant == utc(2027, 10, 31, 0, 30)
    assert reading.other == utc(2027, 10, 31, 1, 30)
    assert ambiguity_note(reading, NEW_YORK, now=NOW) == (
        "02:30 comes twice on Sun 31 Oct 2027 in Europe/Berlin, as the clocks go back: I took "
        "the first (CEST, 00:30 UTC). For the second (CET, 01:30 UTC), write "
        '"2027-10-31 01:30 UTC".'
    )
    # What the note suggests is read as the second one.
    assert parse("2027-10-31 01:30 UTC", NEW_YORK) == reading.other
    # New York's repeated hour, read in the user's own zone.
    saturday = utc(2026, 10, 31, 16)
    ny = read_when("tomorrow 1:30am", now=saturday, tz=NEW_YORK)
    assert (ny.instant, ny.other) == (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30))
    assert ambiguity_note(ny, NEW_YORK, now=saturday) == (
        "01:30 comes twice on Sun 1 Nov in America/New_York, as the clocks go back: I took the "
        'first (EDT, 05:30 UTC). For the second (EST, 06:30 UTC), write "2026-11-01 06:30 UTC".'
    )


@pytest.mark.parametrize(
    "text", ["2027-10-31 01:59", "2027-10-31 03:00", "tomorrow 9am", "in 2h", "now"]
)
def test_an_unambiguous_time_has_no_note(text: str) -> None:
    reading = read_when(text, now=NOW, tz=BERLIN)
    assert reading.other is None
    assert ambiguity_note(reading, BERLIN, now=NOW) is None


@pytest.mark.parametrize("now", [NOW, utc(2031, 6, 15, 12)])
def test_every_time_the_help_offers_is_ahead_whenever_it_is_read(now: datetime) -> None:
    """`help` lists times to copy; each must be one Herald takes as a time to post, today
    and in years (a fixed 2026-12-01 in the list was refused as past by December 2026).
    "tonight" and "end of day" mean today by design, refused once gone by (at 23:18 here)."""
    from core.registry import TIMES

    offered = re.findall(r'"([^"]+)"', TIMES)
    assert len(offered) >= 8
    for text in offered:
        reading = read_when(text, now=now, tz=BERLIN)
        if text != "now" and reading.today is None:
            assert reading.instant > now, text
