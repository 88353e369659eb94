"""The timer that keeps a worker's or a scheduler's heartbeat row fresh (core/operations)."""

from __future__ import annotations

import logging
import os
import threading
import time

from core.context import Context
from core.operations import alerts
from core.operations.heartbeats import Kind, beat, forget

log = logging.getLogger(__name__)


class HeartbeatThread:
    """Beats once at start (so the process counts as alive at once), then on a timer in a
    daemon thread; `stop` deletes the row, so a process stopped on purpose is gone at once.
    A scheduler's thread also evaluates the ops alerts every HERALD_ALERT_SECONDS."""

    def __init__(self, ctx: Context, kind: Kind, name: str) -> None:
        self.ctx = ctx
        self.kind = kind
        self.name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _beat(self) -> None:
        try:
            beat(self.ctx.db, self.kind, self.name, os.getpid(), self.ctx.clock.now())
        except Exception as exc:  # noqa: BLE001 - a missed beat shows as a stale row; go on
            log.warning("%s heartbeat not written: %s", self.kind, type(exc).__name__)

    def start(self) -> None:
        self._beat()
        self._thread = threading.Thread(
            target=self._run, name=f"herald-{self.kind}-heartbeat", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        evaluated = time.monotonic()
        while not self._stop.wait(self.ctx.settings.heartbeat_seconds):
            self._beat()
            if self.kind == Kind.SCHEDULER and (
                time.monotonic() - evaluated >= self.ctx.settings.alert_seconds
            ):
                evaluated = time.monotonic()
                self._alerts()

    def _alerts(self) -> None:
        """The scheduler evaluates the alerts itself as well as through a worker's job: the
        alert may be that no worker lives (twice is harmless: each is told once)."""
        try:
            alerts.evaluate(self.ctx)
        except Exception:
            log.exception("ops alerts not evaluated")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            forget(self.ctx.db, self.kind, self.name)
        except Exception as exc:  # noqa: BLE001 - the row goes stale instead
            log.warning("%s heartbeat not removed: %s", self.kind, type(exc).__name__)
