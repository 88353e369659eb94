"""Heartbeat rows: each worker and scheduler process says "still here" on a timer.

A process writes its row when it starts and every HERALD_HEARTBEAT_SECONDS after, and deletes
it when it stops cleanly; a row older than HERALD_HEARTBEAT_STALE_SECONDS is a process that
died without saying so. Readiness, `herald status` and the no-heartbeat alert read them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.models_ops import Heartbeat


class Kind(enum.StrEnum):
    WORKER = "worker"
    SCHEDULER = "scheduler"


@dataclass(frozen=True)
class Seen:
    kind: str
    name: str
    pid: int
    started_at: datetime
    beat_at: datetime

    def fresh(self, now: datetime, stale_seconds: float) -> bool:
        return now - self.beat_at <= timedelta(seconds=stale_seconds)


def beat(db: Database, kind: Kind, name: str, pid: int, now: datetime) -> None:
    """Move this process's row to `now`, making it on the first beat."""
    where = (Heartbeat.kind == str(kind)) & (Heartbeat.name == name)
    with db.session() as session:
        moved = session.execute(update(Heartbeat).where(where).values(beat_at=now, pid=pid))
        if moved.rowcount:  # type: ignore[attr-defined]  # a CursorResult for an UPDATE
            return
    try:
        with db.session() as session:
            session.add(Heartbeat(kind=str(kind), name=name, pid=pid, started_at=now, beat_at=now))
    except IntegrityError:  # made meanwhile by a restart under the same name: move it
        with db.session() as session:
            session.execute(update(Heartbeat).where(where).values(beat_at=now, pid=pid))


def forget(db: Database, kind: Kind, name: str) -> None:
    """The process stops cleanly: it is gone at once, not when its row goes stale."""
    with db.session() as session:
        session.execute(
            delete(Heartbeat).where((Heartbeat.kind == str(kind)) & (Heartbeat.name == name))
        )


def seen(db: Database) -> list[Seen]:
    """Every process with a row, the most recent beat first."""
    with db.session() as session:
        rows = session.scalars(select(Heartbeat).order_by(Heartbeat.beat_at.desc())).all()
        return [Seen(r.kind, r.name, r.pid, r.started_at, r.beat_at) for r in rows]
