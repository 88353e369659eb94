"""Read models of the schedule: the next free slot on a network, and when others go out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.context import Tx
from storage.models import Post, PostState, Target, TargetState, Workspace

SLOT_GAP = timedelta(minutes=30)  # the `slot` rule: no other post on the network this close
SLOT_LEAD = timedelta(minutes=15)  # and a slot is at least this far ahead


def is_free(slot: datetime, busy: Iterable[datetime | None]) -> bool:
    """No post in `busy` (on the same network) within `SLOT_GAP` of `slot`."""
    return all(other is None or abs(other - slot) >= SLOT_GAP for other in busy)


def free_slot(tx: Tx, ws: Workspace, network: str, after: datetime) -> datetime:
    """The next whole hour, at least 15 minutes away, with no other post on that network
    within half an hour of it (the way a posting schedule spreads posts out)."""
    busy = tx.session.scalars(
        select(Target.scheduled_at)
        .join(Post, Post.id == Target.post_id)
        .where(
            Post.workspace_id == ws.id,
            Target.network == network,
            Target.state.in_([TargetState.SCHEDULED, TargetState.QUEUED]),
            Target.scheduled_at.is_not(None),
        )
    ).all()
    slot = (after + SLOT_LEAD).replace(minute=0, second=0, microsecond=0)
    slot += timedelta(hours=1)
    while not is_free(slot, busy):
        slot += timedelta(hours=1)
    return slot


# Posts not approved yet whose planned time already holds a slot.
_PLANNING = (PostState.GENERATING, PostState.DRAFT, PostState.PENDING_APPROVAL)


def taken(tx: Tx, ws: Workspace, network: str, *, excluding: int | None = None) -> list[datetime]:
    """When the workspace's other posts go out on `network`: its scheduled and queued targets,
    as `free_slot` counts them, and also the planned time of posts still waiting for approval,
    so two drafts picking the best time one after the other do not pick the same hour.
    `excluding`: a post whose own times do not count (the one being moved)."""
    scheduled = (
        select(Target.scheduled_at)
        .join(Post, Post.id == Target.post_id)
        .where(
            Post.workspace_id == ws.id,
            Target.network == network,
            Target.state.in_([TargetState.SCHEDULED, TargetState.QUEUED]),
            Target.scheduled_at.is_not(None),
        )
    )
    planned = (
        select(Post.planned_at)
        .join(Target, Target.post_id == Post.id)
        .where(
            Post.workspace_id == ws.id,
            Post.state.in_(_PLANNING),
            Post.planned_at.is_not(None),
            Target.network == network,
            Target.state == TargetState.DRAFT,
        )
    )
    if excluding is not None:
        scheduled = scheduled.where(Post.id != excluding)
        planned = planned.where(Post.id != excluding)
    found = [*tx.session.scalars(scheduled), *tx.session.scalars(planned)]
    return [at for at in found if at is not None]


@dataclass(frozen=True)
class Backlog:
    """What waits to go out now: the queue depth and lag metrics read this."""

    due: int  # scheduled and approved, its time come, not yet claimed by a tick
    queued: int  # claimed by a tick, waiting for a worker to publish it
    oldest_seconds: float  # how long the longest-waiting of those is past its time (0: none)


def backlog(session: Session, now: datetime) -> Backlog:
    """Targets whose time has come and that are not out yet, and the oldest one's lag: what
    the metrics, the CloudWatch line, `herald status` and the queue-lag alert all read."""
    waiting = or_(
        Target.state == TargetState.QUEUED,
        (Target.state == TargetState.SCHEDULED) & (Post.state == PostState.APPROVED),
    )
    rows = session.execute(
        select(Target.state, func.count(), func.min(Target.scheduled_at))
        .join(Post, Post.id == Target.post_id)
        .where(waiting, Target.scheduled_at <= now)
        .group_by(Target.state)
    ).all()
    counts = {state: count for state, count, _ in rows}
    oldest = [when for _, _, when in rows if when is not None]
    lag = 0.0
    if oldest:
        first = min(w if w.tzinfo else w.replace(tzinfo=UTC) for w in oldest)
        lag = max(0.0, (now - first).total_seconds())
    return Backlog(
        due=counts.get(TargetState.SCHEDULED, 0),
        queued=counts.get(TargetState.QUEUED, 0),
        oldest_seconds=lag,
    )
