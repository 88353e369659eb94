"""Saying so when nothing will publish a post: its time has passed (or will, after this chat
ends) and no scheduler has been heard from. Scheduled posts go out only while a scheduler and
a worker run (`herald up`, or `herald worker` and `herald scheduler`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from core.context import Context
from core.timeparse import format_when
from core.workspace.people import zone_of
from storage.models import Post, PostState, SurfaceKind, TargetState, Workspace
from storage.models_ops import Heartbeat

# A tick comes every few seconds: a post this late has nothing publishing it.
LATE = timedelta(minutes=1)
# A scheduler heard from this recently lives (its heartbeat comes every 10 s).
ALIVE = timedelta(minutes=1)
START = "start `herald up` (or `herald worker` and `herald scheduler`)"
_WAITING = (TargetState.SCHEDULED, TargetState.QUEUED)


def scheduler_alive(session: Session, now: datetime) -> bool:
    heard = (Heartbeat.kind == "scheduler") & (Heartbeat.beat_at >= now - ALIVE)
    return bool(session.scalar(select(exists().where(heard))))


def _due(post: Post) -> datetime | None:
    if post.state != PostState.APPROVED:
        return None
    times = [t.scheduled_at for t in post.targets if t.state in _WAITING and t.scheduled_at]
    return min(times) if times else None


def overdue_note(session: Session, post: Post, tz: ZoneInfo, now: datetime) -> str | None:
    """ "⚠ #4 was due … and nothing is running to publish it: …" on the post's card, when its
    time is over a minute past and no scheduler lives."""
    due = _due(post)
    if due is None or due > now - LATE or scheduler_alive(session, now):
        return None
    return (
        f"⚠ #{post.number} was due {format_when(due, tz, now=now)} and nothing is running to "
        f"publish it: {START}."
    )


def left_waiting(
    session: Session, workspace_id: int, tz: ZoneInfo, now: datetime, *, own: int
) -> str | None:
    """What a chat says as it ends when no scheduler but its own (`own`: 1 when it runs one)
    lives: the approved posts whose time is still to come, which nothing will publish once
    it has gone."""
    heard = (Heartbeat.kind == "scheduler") & (Heartbeat.beat_at >= now - ALIVE)
    if len(session.scalars(select(Heartbeat.id).where(heard)).all()) > own:
        return None  # another scheduler lives
    posts = session.scalars(
        select(Post).where(Post.workspace_id == workspace_id, Post.state == PostState.APPROVED)
    ).all()
    waiting = sorted((due, p.number) for p in posts if (due := _due(p)) is not None and due > now)
    if not waiting:
        return None
    shown = ", ".join(f"#{n} at {format_when(due, tz, now=now)}" for due, n in waiting[:3])
    more = f" and {len(waiting) - 3} more" if len(waiting) > 3 else ""
    return (
        f"⚠ {shown}{more}: nothing will publish {'it' if len(waiting) == 1 else 'them'} once "
        f"this chat ends. Keep Herald running: {START}; `herald service install` starts it "
        "with your session."
    )


def left_at_terminal(ctx: Context, workspace: str, *, own: int) -> str | None:
    """`left_waiting` for the terminal workspace `workspace` (its external id), if it exists."""
    with ctx.tx() as tx:
        ws = tx.session.scalars(
            select(Workspace).where(
                Workspace.kind == SurfaceKind.TERMINAL, Workspace.external_id == workspace
            )
        ).first()
        if ws is None:
            return None
        return left_waiting(tx.session, ws.id, zone_of(None, ws), tx.now, own=own)
