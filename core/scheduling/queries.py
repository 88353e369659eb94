"""Read models of the schedule: the next free slot on a network."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from core.context import Tx
from storage.models import Post, Target, TargetState, Workspace

SLOT_GAP = timedelta(minutes=30)


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
    slot = (after + timedelta(minutes=15)).replace(minute=0, second=0, microsecond=0)
    slot += timedelta(hours=1)
    while any(b is not None and abs(b - slot) < SLOT_GAP for b in busy):
        slot += timedelta(hours=1)
    return slot
