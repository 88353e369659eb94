"""core.scheduling.when: "now" is the next tick, and a phrase for today that has passed is
refused saying what it meant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.errors import BadInput
from core.scheduling.when import plan

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
# Thu 26 Nov 2026: 23:18 in Berlin, 17:18 in New York.
LATE = datetime(2026, 11, 26, 22, 18, tzinfo=UTC)


@pytest.mark.parametrize("text", ["now", "NOW", "in 0m", "now Europe/Berlin"])
def test_now_is_the_next_tick(text: str) -> None:
    planned = plan(text, BERLIN, LATE, 12)
    assert planned.now
    assert planned.instant == LATE
    assert planned.shown == "Thu 26 Nov, 23:18 Europe/Berlin (22:18 UTC)"


def test_in_30s_is_planned_not_now() -> None:
    planned = plan("in 30s", BERLIN, LATE, 12)
    assert not planned.now
    assert planned.instant == LATE + timedelta(seconds=30)


@pytest.mark.parametrize(
    ("text", "tz", "number", "message"),
    [
        (
            "tonight",
            BERLIN,
            12,
            'I can\'t schedule #12 for tonight: "tonight" means 20:00 today, and it is already '
            '23:18 in Europe/Berlin. Pick a later time, e.g. "in 30m", "now" or "tomorrow night".',
        ),
        (
            "this afternoon",
            NEW_YORK,
            None,
            'I can\'t schedule this post for this afternoon: "this afternoon" means 14:00 today, '
            'and it is already 17:18 in America/New_York. Pick a later time, e.g. "in 30m", "now" '
            'or "tomorrow 14:00".',
        ),
        (
            "end of day",
            BERLIN,
            3,
            'I can\'t schedule #3 for end of day: "end of day" means 17:00 today, and it is '
            'already 23:18 in Europe/Berlin. Pick a later time, e.g. "in 30m", "now" or '
            '"tomorrow 17:00".',
        ),
        (
            "today 5pm",
            BERLIN,
            3,
            "I can't schedule #3 for Thu 26 Nov, 17:00 Europe/Berlin (16:00 UTC): that is in the "
            'past. Pick a time in the future, e.g. "tomorrow 9am".',
        ),
    ],
)
def test_a_time_of_today_that_has_passed_is_refused_saying_what_it_meant(
    text: str, tz: ZoneInfo, number: int | None, message: str
) -> None:
    with pytest.raises(BadInput) as refused:
        plan(text, tz, LATE, number)
    assert str(refused.value) == message


def test_tonight_in_a_zone_where_it_is_still_ahead_is_planned() -> None:
    # Fri 07:18 in Tokyo: 20:00 there is still to come.
    planned = plan("tonight Asia/Tokyo", BERLIN, LATE, 3)
    assert planned.instant == datetime(2026, 11, 27, 11, tzinfo=UTC)
    assert planned.shown == "Fri 27 Nov, 20:00 Asia/Tokyo (11:00 UTC; 12:00 Europe/Berlin)"


def test_end_of_day_still_ahead_in_new_york_is_today() -> None:
    planned = plan("end of day", NEW_YORK, datetime(2026, 11, 26, 20, tzinfo=UTC), 1)
    assert planned.shown == "Thu 26 Nov, 17:00 America/New_York (22:00 UTC)"


def test_a_typed_zone_and_a_repeated_hour_are_both_told() -> None:
    planned = plan("2027-10-31 02:30 Europe/Berlin", NEW_YORK, LATE, 12)
    assert planned.instant == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    assert planned.shown == (
        "Sun 31 Oct 2027, 02:30 Europe/Berlin (00:30 UTC; Sat 30 Oct 2027, 20:30 America/New_York)"
    )
    assert planned.note is not None
    assert "I took the first (CEST, 00:30 UTC)" in planned.note


def test_unreadable_times_are_bad_input() -> None:
    with pytest.raises(BadInput, match='I can\'t read "soonish" as a time'):
        plan("soonish", BERLIN, LATE, 1)
