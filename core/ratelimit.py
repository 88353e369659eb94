"""Rate limits: the counter port, and the rule for chat commands (per person, per window).

A limit counts hits in fixed windows (`count` per `window` seconds). The counter is shared by
every process when Redis is the broker, and lives in memory in the embedded mode (one
process); the composition root picks it. A hit may also claim a one-time key (Slack's
`trigger_id`) in the same round trip, so a replayed request is recognised by every process.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from core.errors import HeraldError
from storage.ratelimit import Ask, Hit


class Counter(Protocol):
    def hit_many(self, asks: Sequence[Ask]) -> list[Hit]:
        """For each ask, in order and in one round trip: count one hit on its key in the
        current window, and claim its one-time key if it has one (`fresh` is False when it
        was claimed before)."""
        ...


# A one-time key is remembered this long: Slack accepts a request's signature for five
# minutes either way.
REPLAY_SECONDS = 900.0


class TooFast(HeraldError):
    """Someone sent more than the limit allows; `retry_after` is whole seconds to wait."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(
            "You're sending commands faster than I can take them; "
            f"try again in {self.retry_after} s."
        )


@dataclass(frozen=True)
class Admission:
    """A command's claim on its sender's limit and its one-time key, judged when the command
    is stored (the inbox counts a whole batch in one round trip)."""

    ask: Ask
    limit: int  # commands per window; 0 counts nothing against a limit (the key only)

    def judge(self, hit: Hit) -> bool:
        """True to take the command, False for a replay; `TooFast` when over the limit."""
        if not hit.fresh:
            return False
        if 0 < self.limit < hit.count:
            raise TooFast(hit.reset)
        return True


def over_limit(counter: Counter, key: str, limit: int, window: float) -> float | None:
    """Count one hit; the seconds to wait when it is over `limit` (0 = no limit), else None."""
    if limit <= 0:
        return None
    (hit,) = counter.hit_many([Ask(key, window)])
    return max(hit.reset, 1.0) if hit.count > limit else None
