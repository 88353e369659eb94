"""Rate limits: the counter port, and the rule for chat commands (per person, per window).

A limit counts hits in fixed windows (`count` per `window` seconds). The counter is shared by
every process when Redis is the broker, and lives in memory in the embedded mode (one
process); the composition root picks it. The same port remembers one-time keys (Slack's
`trigger_id`), so a replayed request is recognised by every process.
"""

from __future__ import annotations

import math
from typing import Protocol

from core.errors import HeraldError


class Counter(Protocol):
    def hit(self, key: str, window: float) -> tuple[int, float]:
        """Count one hit on `key` in the current window of `window` seconds: the hits in
        that window so far (this one included) and the seconds until it ends."""
        ...

    def claim(self, key: str, ttl: float) -> bool:
        """True the first time `key` is claimed within `ttl` seconds, False after that."""
        ...


class TooFast(HeraldError):
    """Someone sent more than the limit allows; `retry_after` is whole seconds to wait."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(
            "You're sending commands faster than I can take them; "
            f"try again in {self.retry_after} s."
        )


def over_limit(counter: Counter, key: str, limit: int, window: float) -> float | None:
    """Count one hit; the seconds to wait when it is over `limit` (0 = no limit), else None."""
    if limit <= 0:
        return None
    count, reset = counter.hit(key, window)
    return max(reset, 1.0) if count > limit else None
