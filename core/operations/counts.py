"""Counting what the burst alerts watch, per kind and minute, in the database: every process
(web, runners, workers) adds to the same rows.

The web app counts webhook requests refused for their signature or secret; core counts commands
refused for the person's role. Both are already bounded by the rate limits in front of them.
"""

from __future__ import annotations

import enum
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.models_ops import OpsCount

log = logging.getLogger(__name__)
KEEP = timedelta(days=1)


class Counted(enum.StrEnum):
    REJECTED_SIGNATURE = "rejected-signature"
    DENIED = "denied"


def note(db: Database, kind: Counted, now: datetime) -> None:
    """Count one; a failure to count is logged and changes nothing else."""
    minute = now.replace(second=0, microsecond=0)
    where = (OpsCount.kind == str(kind)) & (OpsCount.minute == minute)
    try:
        with db.session() as session:
            moved = session.execute(update(OpsCount).where(where).values(count=OpsCount.count + 1))
            if moved.rowcount:  # type: ignore[attr-defined]  # a CursorResult for an UPDATE
                return
        try:
            with db.session() as session:
                session.add(OpsCount(kind=str(kind), minute=minute, count=1))
        except IntegrityError:  # another process made the minute's row meanwhile
            with db.session() as session:
                session.execute(update(OpsCount).where(where).values(count=OpsCount.count + 1))
    except Exception as exc:  # noqa: BLE001 - counting must never fail what is counted
        log.warning("%s not counted: %s", kind, type(exc).__name__)


def since(db: Database, start: datetime) -> dict[str, int]:
    """How many of each kind from `start` (to the minute) on; older rows are dropped."""
    with db.session() as session:
        session.execute(delete(OpsCount).where(OpsCount.minute < start - KEEP))
        rows = session.execute(
            select(OpsCount.kind, func.sum(OpsCount.count))
            .where(OpsCount.minute >= start.replace(second=0, microsecond=0))
            .group_by(OpsCount.kind)
        ).all()
    return {kind: int(n or 0) for kind, n in rows}
