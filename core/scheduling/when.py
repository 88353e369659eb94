"""When a post goes out: a time someone typed, which must be in the future."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from core.errors import BadInput
from core.timeparse import TimeParseError, format_when, parse_when


def future_instant(text: str, tz: ZoneInfo, now: datetime, number: int | None) -> datetime:
    """The instant `text` names, refused when it is not in the future (post `number`'s)."""
    try:
        instant = parse_when(text, now=now, tz=tz)
    except TimeParseError as exc:
        raise BadInput(str(exc)) from None
    if instant <= now:
        what = f"#{number}" if number else "this post"
        raise BadInput(
            f"I can't schedule {what} for {format_when(instant, tz, now=now)}: that is in the "
            'past. Pick a time in the future, e.g. "tomorrow 9am".'
        )
    return instant
