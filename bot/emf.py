"""The backlog as CloudWatch metrics, for AWS (infra/terraform): with HERALD_CLOUDWATCH_NAMESPACE
set, `herald scheduler` prints one line a minute in CloudWatch's embedded metric format. ECS's
awslogs driver ships stdout to CloudWatch Logs, which turns the line into the QueueDepth and
QueueLagSeconds metrics that scale the workers and raise the queue-lag alarm: no agent, no
API call, no permission."""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from core.scheduling.queries import Backlog, backlog

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)
EVERY_SECONDS = 60.0


def emf_line(figures: Backlog, *, namespace: str, install: str, at: datetime) -> str:
    """One EMF record: jobs waiting (due and queued targets) and the oldest one's lag."""
    return json.dumps(
        {
            "_aws": {
                "Timestamp": int(at.timestamp() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [["Install"]],
                        "Metrics": [
                            {"Name": "QueueDepth", "Unit": "Count"},
                            {"Name": "QueueLagSeconds", "Unit": "Seconds"},
                        ],
                    }
                ],
            },
            "Install": install,
            "QueueDepth": figures.due + figures.queued,
            "QueueLagSeconds": round(figures.oldest_seconds, 1),
        },
        separators=(",", ":"),
    )


class EmfReporter:
    """A daemon thread writing `emf_line` every `every` seconds until stopped."""

    def __init__(
        self,
        runtime: Runtime,
        namespace: str,
        *,
        every: float = EVERY_SECONDS,
        out: TextIO | None = None,
    ) -> None:
        self.runtime, self.namespace, self.every = runtime, namespace, every
        self.out = out or sys.stdout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="herald-emf", daemon=True)

    def start(self) -> EmfReporter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def report(self) -> None:
        ctx = self.runtime.herald.ctx
        with ctx.tx() as tx:
            figures, now = backlog(tx.session, tx.now), tx.now
        line = emf_line(
            figures, namespace=self.namespace, install=self.runtime.settings.queue, at=now
        )
        self.out.write(line + "\n")
        self.out.flush()

    def _run(self) -> None:
        while True:
            try:
                self.report()
            except Exception:  # a missed minute is logged; the next one comes
                log.warning("could not report the backlog to CloudWatch", exc_info=True)
            if self._stop.wait(self.every):
                return
