"""Read models of posts: one post's status line and history, and the queue."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core.context import Tx
from core.networks import get_network
from core.posts.card import asking, cut, networks_phrase, when_text
from core.timeparse import format_when
from storage.models import AuditEvent, Member, Post, PostState, TargetState, Workspace

P, T = PostState, TargetState

# Why a post can't take a command now: "#12 {words}, so it can't be approved now."
STATE_WORDS = {
    P.GENERATING: "is still being drafted; its card will appear in a moment",
    P.DRAFT: "is a draft that has not been submitted",
    P.PENDING_APPROVAL: "is waiting for approval",
    P.APPROVED: "is already approved",
    P.REJECTED: "was rejected",
    P.CANCELLED: "was cancelled",
    P.EXPIRED: "expired unapproved at its planned time (reschedule it first)",
}


def status_line(post: Post, tz: ZoneInfo, now: datetime) -> str:
    if post.state != P.APPROVED:
        return {
            P.GENERATING: "Drafting…",
            P.DRAFT: f"⚠ {post.problem or 'Not submitted'}",
            P.PENDING_APPROVAL: "Waiting for approval",
            P.REJECTED: f"❌ {post.problem or 'Rejected'}",
            P.CANCELLED: "Cancelled",
            P.EXPIRED: f"⌛ {post.problem or 'Expired without approval'}",
        }[post.state]
    parts = []
    for t in post.targets:
        name = get_network(t.network).display
        if t.state == T.PUBLISHED:
            parts.append(f"🚀 {name}: {t.external_url}")
        elif asking(t):
            parts.append(f"❓ {t.failure_reason}")
        elif t.state == T.FAILED:
            parts.append(f"⚠ {name} failed: {t.failure_reason}")
        elif t.state == T.SCHEDULED and t.scheduled_at:
            parts.append(f"🗓 {name}: {format_when(t.scheduled_at, tz, now=now)}")
        elif t.state == T.DRAFT:  # held after a pause: publish now, reschedule or cancel
            parts.append(f"⏸ {name}: held, its time passed during a pause")
        else:
            parts.append(f"{name}: {t.state.value}")
    return " · ".join(parts)


def history(tx: Tx, post: Post, tz: ZoneInfo) -> list[str]:
    """The post's audit trail, one line an event, oldest first."""
    events = tx.session.execute(
        select(AuditEvent, Member.display_name)
        .outerjoin(Member, Member.id == AuditEvent.actor_id)
        .where(AuditEvent.post_id == post.id)
        .order_by(AuditEvent.id)
    ).all()
    return [
        f"{format_when(e.created_at, tz, now=tx.now)} · {e.action}"
        + (f" → {e.to_state}" if e.to_state else "")
        + (f" by @{name}" if name else "")
        for e, name in events
    ]


def queue_lines(tx: Tx, ws: Workspace, tz: ZoneInfo) -> list[str]:
    """The posts still open, unscheduled ones first, then soonest first: one line each.
    Rejected posts come last: they wait for an edit, not for an approval."""
    open_states = [P.GENERATING, P.DRAFT, P.PENDING_APPROVAL, P.APPROVED, P.REJECTED, P.EXPIRED]
    posts = tx.session.scalars(
        select(Post).where(Post.workspace_id == ws.id, Post.state.in_(open_states))
    ).all()
    done = {T.PUBLISHED, T.CANCELLED}
    live = [p for p in posts if not all(t.state in done for t in p.targets)]

    def soonest(post: Post) -> tuple[bool, int, datetime]:
        rejected = post.state == P.REJECTED
        times = [t.scheduled_at for t in post.targets if t.scheduled_at] or (
            [post.planned_at] if post.planned_at else []
        )
        return (rejected, 1, min(times)) if times else (rejected, 0, post.created_at)

    def then(post: Post) -> str:
        if post.state == P.APPROVED:
            return ""
        if post.state == P.REJECTED:
            return f" · edit {post.number} or regenerate {post.number} to try again"
        if post.state == P.EXPIRED:
            return f" · reschedule {post.number} <when>"
        return f" · {when_text(post.planned_at, tz, tx.now)}"

    lines = []
    for post in sorted(live, key=soonest):
        nets = networks_phrase([t.network for t in post.targets])
        lines.append(
            f"#{post.number} · {post.state.value.replace('_', ' ')} · {nets} · "
            f"{cut(post.brief, 60)} · {status_line(post, tz, tx.now)}{then(post)}"
        )
    return lines
