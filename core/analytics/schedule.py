"""When each published target's figures are read: rows in `snapshot_schedule`, planned at
publication and claimed by a tick, the way the dispatcher claims due targets.

A claim takes the due rows with ``FOR UPDATE SKIP LOCKED`` (two ticks never take the same row)
and moves their `next_try_at` one lease ahead before the transaction commits, so a worker that
dies with the job only delays the snapshot by the lease; it is never lost nor taken twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from storage.models_analytics import Milestone, SnapshotDue

# How long after publication each milestone is read.
AFTER: dict[Milestone, timedelta] = {
    Milestone.HOUR: timedelta(hours=1),
    Milestone.DAY: timedelta(hours=24),
    Milestone.WEEK: timedelta(days=7),
}
LEASE = timedelta(minutes=10)


def plan(session: Session, target_id: int, published_at: datetime) -> None:
    """Schedule a published target's +1 h, +24 h and +7 d snapshots (once: a second call
    for the same target adds nothing)."""
    planned = set(
        session.scalars(select(SnapshotDue.milestone).where(SnapshotDue.target_id == target_id))
    )
    for milestone, after in AFTER.items():
        if milestone not in planned:
            due = published_at + after
            session.add(
                SnapshotDue(target_id=target_id, milestone=milestone, due_at=due, next_try_at=due)
            )
    session.flush()


def plan_new(session: Session, target_id: int, published_at: datetime) -> None:
    """`plan` for a target known to have no schedule yet (just published): one INSERT, no
    look first."""
    session.execute(
        insert(SnapshotDue),
        [
            {
                "target_id": target_id,
                "milestone": milestone,
                "due_at": published_at + after,
                "next_try_at": published_at + after,
                "attempts": 0,
            }
            for milestone, after in AFTER.items()
        ],
    )


def claim(session: Session, now: datetime, limit: int) -> list[SnapshotDue]:
    """Up to `limit` due, pending rows, soonest first, leased to the caller until
    `now + LEASE`; each claim counts as an attempt."""
    due = list(
        session.scalars(
            select(SnapshotDue)
            .where(SnapshotDue.done_at.is_(None), SnapshotDue.next_try_at <= now)
            .order_by(SnapshotDue.next_try_at, SnapshotDue.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if due:
        session.execute(
            update(SnapshotDue)
            .where(SnapshotDue.id.in_([row.id for row in due]))
            .values(next_try_at=now + LEASE, attempts=SnapshotDue.attempts + 1)
            .execution_options(synchronize_session="fetch")
        )
    return due


def ask(session: Session, target_ids: Sequence[int], now: datetime) -> None:
    """Someone asked for these targets' figures now (`stats <n>`): arm each one's `demand`
    row, due at once; a row still pending stays as it is, so asking twice reads once."""
    if not target_ids:
        return
    rows = {
        row.target_id: row
        for row in session.scalars(
            select(SnapshotDue).where(
                SnapshotDue.target_id.in_(target_ids), SnapshotDue.milestone == Milestone.DEMAND
            )
        )
    }
    for target_id in target_ids:
        row = rows.get(target_id)
        if row is None:
            session.add(
                SnapshotDue(
                    target_id=target_id, milestone=Milestone.DEMAND, due_at=now, next_try_at=now
                )
            )
        elif row.done_at is not None:
            row.done_at, row.due_at, row.next_try_at, row.attempts = None, now, now, 0
    session.flush()
