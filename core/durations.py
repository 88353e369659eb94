"""Short spans people type: "30m", "2h", "1d", "90 min"; a pause's length or a lead time."""

from __future__ import annotations

import re
from datetime import timedelta

_SPAN = re.compile(r"(\d{1,5})\s*(m|mins?|minutes?|h|hrs?|hours?|d|days?)", re.IGNORECASE)
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def parse_span(text: str) -> timedelta | None:
    """The span `text` is, or None when it is not one (so callers can read it as other words)."""
    match = _SPAN.fullmatch(text.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNITS[match.group(2)[0].lower()]


def span_text(span: timedelta) -> str:
    """ "2 h", "30 min", "1 d 6 h": how a span is shown back."""
    minutes = int(span.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [
        f"{days} d" if days else "",
        f"{hours} h" if hours else "",
        f"{mins} min" if mins else "",
    ]
    return " ".join(p for p in parts if p) or "0 min"
