"""Reading figures back in tests: a clock the test moves, and the outbox network reading its
made-up figures (core.platforms.outbox) with the faults a real network has on demand."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from datetime import datetime

from bot.runtime import Runtime
from core.platforms.outbox import OutboxPublisher
from core.ports import FiguresRequest, Reading
from tests.support.clock import Clock


class ReadableOutbox(OutboxPublisher):
    """The outbox, reading its figures as it does (from each post's file and the clock),
    with a network's faults when a test asks: `error` is raised instead of answering, targets
    in `leave_out` are left out of the answer. Every call is kept (`calls`: the target ids
    asked); `delay` is a network's round trip, so two ticks overlap."""

    def __init__(self, outbox: OutboxPublisher, *, delay: float = 0.0) -> None:
        super().__init__(outbox.folder, outbox.clock)
        self.error: Exception | None = None
        self.leave_out: set[int] = set()
        self.calls: list[list[int]] = []
        self.delay = delay
        self._lock = threading.Lock()

    def read(self, requests: Sequence[FiguresRequest]) -> dict[int, Reading]:
        with self._lock:
            self.calls.append([r.target_id for r in requests])
        if self.delay:
            time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        read = super().read(requests)
        return {target: got for target, got in read.items() if target not in self.leave_out}

    def asked(self) -> list[int]:
        """Every target id asked, in order."""
        return [target for call in self.calls for target in call]

    def file_for(self, external_id: str, published_at: datetime) -> None:
        """The file a post published at `published_at` leaves (for posts seeded in bulk)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        body = {"id": external_id, "published_at": published_at.isoformat()}
        (self.folder / f"{external_id}.json").write_text(json.dumps(body), encoding="utf-8")


def frozen_clock(rt: Runtime) -> Clock:
    """Herald's clock (the context's, the account hub's, the outbox's) in the test's hands."""
    clock = Clock()
    ctx = rt.herald.ctx
    ctx.clock = clock
    if ctx.hub is not None:
        ctx.hub.clock = clock.now
    outbox = ctx.publishers["outbox"]
    assert isinstance(outbox, OutboxPublisher)
    outbox.clock = clock.now
    return clock


def readable_outbox(rt: Runtime, *, delay: float = 0.0) -> ReadableOutbox:
    """The outbox network wrapped as `ReadableOutbox` (after `frozen_clock`: it keeps the
    outbox's clock); Herald's only network from then on."""
    outbox = ReadableOutbox(rt.herald.ctx.publishers["outbox"], delay=delay)  # type: ignore[arg-type]
    rt.herald.ctx.publishers = {"outbox": outbox}
    return outbox
