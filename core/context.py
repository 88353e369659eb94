"""What core needs to run: the database, the ports and the settings, plus the unit of work."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from core.ports import ChatDelivery, Clock, Generator, Interpreter, JobQueue, Publisher
from core.ratelimit import Counter
from core.settings import Settings
from storage.db import Database
from storage.models import SurfaceKind
from storage.ratelimit import MemoryCounter


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Job:
    task: str
    args: tuple[int, ...]
    countdown: float | None = None


@dataclass
class Tx:
    """One transaction: the session, the instant it runs at, and the jobs to send after commit."""

    session: Session
    now: datetime
    jobs: list[Job] = field(default_factory=list)

    def later(self, task: str, *args: int, countdown: float | None = None) -> None:
        job = Job(task, args, countdown)
        if job not in self.jobs:
            self.jobs.append(job)


@dataclass
class Context:
    db: Database
    queue: JobQueue
    generator: Generator
    publishers: Mapping[str, Publisher]
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    deliveries: Mapping[SurfaceKind, ChatDelivery] = field(default_factory=dict)
    interpreter: Interpreter | None = None
    limits: Counter = field(default_factory=MemoryCounter)

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        """Commit, then enqueue: a worker never sees a job before the rows it names."""
        with self.db.session() as session:
            tx = Tx(session=session, now=self.clock.now())
            yield tx
        for job in tx.jobs:
            self.queue.enqueue(job.task, *job.args, countdown=job.countdown)
