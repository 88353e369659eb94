"""A clock a test holds in its hands: `ctx.clock` for Herald, standing still until moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """`ctx.clock` for a test: it stands still until the test moves it."""

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self.at

    def advance(self, by: timedelta) -> datetime:
        self.at += by
        return self.at
