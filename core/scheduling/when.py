"""When a post goes out: a time someone typed, which must be now or in the future.

"now" (or "in 0m") is the next dispatcher tick, not a moment already gone. A phrase that names
a fixed time of today ("tonight", "this afternoon", "end of day") is refused once that time
has passed, saying what it meant, rather than moved to tomorrow: a post a day later than asked
is worse than one more message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from core.errors import BadInput
from core.timeparse import (
    Reading,
    TimeParseError,
    ambiguity_note,
    echo_when,
    format_when,
    read_when,
)


@dataclass(frozen=True)
class Planned:
    """A time to publish at, and how to tell the person who typed it."""

    instant: datetime
    shown: str  # e.g. "Tue 3 Dec, 09:00 Europe/Berlin (08:00 UTC)", with any zone they wrote
    note: str | None = None  # which of two instants a wall time that happens twice means
    now: bool = False  # as soon as possible: the next dispatcher tick


def plan(text: str, tz: ZoneInfo, now: datetime, number: int | None) -> Planned:
    """What `text` asks for, read in `tz` at `now`; refused when it is past (post `number`'s)."""
    try:
        reading = read_when(text, now=now, tz=tz)
    except TimeParseError as exc:
        raise BadInput(str(exc)) from None
    what = f"#{number}" if number else "this post"
    if reading.instant == now:
        return Planned(now, format_when(now, tz, now=now), now=True)
    if reading.instant < now:
        if reading.today is not None:
            raise BadInput(
                f"I can't schedule {what} for {reading.today}: {_passed(reading, tz, now)}"
            )
        raise BadInput(
            f"I can't schedule {what} for {format_when(reading.instant, tz, now=now)}: that is "
            'in the past. Pick a time in the future, e.g. "tomorrow 9am".'
        )
    return Planned(
        reading.instant, echo_when(reading, tz, now=now), ambiguity_note(reading, tz, now=now)
    )


def future_instant(text: str, tz: ZoneInfo, now: datetime, number: int | None) -> datetime:
    """The instant `text` names (`now` itself for "now"), refused when it is past."""
    return plan(text, tz, now, number).instant


def _passed(reading: Reading, tz: ZoneInfo, now: datetime) -> str:
    """Why a phrase for a fixed time of today ("tonight") is refused, and what to say instead."""
    zone = reading.zone or tz
    clock = reading.clock
    assert clock is not None  # set for every phrase of today
    name = zone.key if isinstance(zone, ZoneInfo) else str(zone)
    tomorrow = "tomorrow night" if reading.today == "tonight" else f"tomorrow {clock:%H:%M}"
    return (
        f'"{reading.today}" means {clock:%H:%M} today, and it is already '
        f"{now.astimezone(zone):%H:%M} in {name}. Pick a later time, "
        f'e.g. "in 30m", "now" or "{tomorrow}".'
    )
