"""Reading figures back in tests: a clock the test moves, and the outbox network answering
the figures a test gives it (the real outbox publishes; only `read` is scripted)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.runtime import Runtime
from core.platforms.outbox import OutboxPublisher
from core.ports import FiguresRequest, Reading


class Clock:
    """`ctx.clock` for a test: it stands still until the test moves it."""

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self.at

    def advance(self, by: timedelta) -> datetime:
        self.at += by
        return self.at


class ReadableOutbox(OutboxPublisher):
    """The outbox, whose posts' figures are what the test last set (`answers`, by target id).

    A target with no answer is left out, as a network that did not return it; `error` is
    raised instead of answering. Every call is kept (`calls`: the target ids asked, in order).
    """

    def __init__(self, folder: OutboxPublisher, *, delay: float = 0.0) -> None:
        super().__init__(folder.folder)
        self.answers: dict[int, Reading] = {}
        self.error: Exception | None = None
        self.calls: list[list[int]] = []
        self.delay = delay
        self._lock = threading.Lock()

    def read(self, requests: Sequence[FiguresRequest]) -> dict[int, Reading]:
        with self._lock:
            self.calls.append([r.target_id for r in requests])
        if self.delay:
            time.sleep(self.delay)  # a network's round trip, so two ticks overlap
        if self.error is not None:
            raise self.error
        return {
            r.target_id: self.answers[r.target_id] for r in requests if r.target_id in self.answers
        }

    def asked(self) -> list[int]:
        """Every target id asked, in order."""
        return [target for call in self.calls for target in call]


def readable_outbox(rt: Runtime, *, delay: float = 0.0) -> ReadableOutbox:
    outbox = ReadableOutbox(rt.herald.ctx.publishers["outbox"], delay=delay)  # type: ignore[arg-type]
    rt.herald.ctx.publishers = {"outbox": outbox}
    return outbox


def frozen_clock(rt: Runtime) -> Clock:
    clock = Clock()
    rt.herald.ctx.clock = clock
    if rt.herald.ctx.hub is not None:
        rt.herald.ctx.hub.clock = clock.now
    return clock
