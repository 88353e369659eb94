"""What core needs to run: the database, the ports and the settings, plus the unit of work."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from core.errors import BadInput
from core.jobs import AfterCommit
from core.ports import (
    ChatDelivery,
    CheckedQueue,
    Clock,
    Generator,
    Interpreter,
    JobQueue,
    MediaStore,
    Publisher,
)
from core.ratelimit import Counter
from core.settings import Settings
from storage.db import Database
from storage.models import SurfaceKind
from storage.ratelimit import MemoryCounter

if TYPE_CHECKING:  # the hub's module loads the HTTP client; the chat path only passes it on
    from core.platforms.base import Hub

log = logging.getLogger(__name__)
R = TypeVar("R")
# Tries of one transaction whose connection the server dropped (no pre-ping per checkout).
TX_TRIES = 3


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Tx:
    """One transaction: the session, the instant it runs at, and the jobs to send after commit."""

    session: Session
    now: datetime
    after: AfterCommit = field(default_factory=AfterCommit)

    def later(self, job: str, *args: int, countdown: float | None = None) -> None:
        self.after.add(job, *args, countdown=countdown)


@dataclass
class Context:
    """Everything core reaches outside itself through, given once by the composition root.

    `hub` (connected accounts, sealed credentials, OAuth) and `media` (attached files) are
    None in a Herald built without network accounts: the outbox alone needs neither.
    """

    db: Database
    queue: JobQueue
    generator: Generator
    publishers: Mapping[str, Publisher]
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    deliveries: Mapping[SurfaceKind, ChatDelivery] = field(default_factory=dict)
    interpreter: Interpreter | None = None
    limits: Counter = field(default_factory=MemoryCounter)
    hub: Hub | None = None
    media: MediaStore | None = None
    # The keys audit checkpoints are signed with (derived from the secret key, current
    # first); none without a secret key, and then the audit log is not pruned.
    audit_keys: tuple[bytes, ...] = ()

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        """Commit, then enqueue: a worker never sees a job before the rows it names."""
        with self.db.session() as session:
            tx = Tx(session=session, now=self.clock.now())
            yield tx
        tx.after.send(self.queue)

    def check_queue(self) -> None:
        """Refuse (`Unavailable`) before commit when the jobs a command asks for could not be
        sent: a draft would otherwise be committed with no job to write it."""
        if isinstance(self.queue, CheckedQueue):
            self.queue.check_reachable()

    def need_hub(self) -> Hub:
        """The account hub, or the refusal a person sees when this Herald has none."""
        if self.hub is None:
            raise BadInput("Network accounts are not available in this Herald.")
        return self.hub

    def need_media(self) -> MediaStore:
        if self.media is None:
            raise BadInput("Attachments are not available in this Herald.")
        return self.media


def run_tx(ctx: Context, body: Callable[[Tx], R]) -> R:
    """Run `body` in a transaction, again on a fresh connection when the server dropped the
    one it had (a restart, a failover, `pg_terminate_backend`): cheaper than a pre-ping on
    every checkout. Safe because every body re-reads its rows and checks their state first;
    if a commit went through before the connection died, the second run finds the work done."""
    for attempt in range(1, TX_TRIES + 1):
        try:
            with ctx.tx() as tx:
                return body(tx)
        except DBAPIError as exc:
            if not exc.connection_invalidated or attempt == TX_TRIES:
                raise
            log.warning("database connection lost; running the transaction again")
    raise AssertionError("unreachable")
