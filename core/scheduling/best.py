"""The best time to post, for `draft … --at best` and `schedule <n> best`: the workspace's
history scored by core.analytics.best_time, the schedule's taken slots, and the reason the
card shows.

A post for several networks gets one time, the best free hour for all of them together (the
mean of each network's estimate), not each network its own hour: a post is one idea, people
who follow the workspace on two networks see it at once, and a post waiting for approval has
one planned time, which approving gives to every network.

Hours are scored in the workspace's time zone, where its audience is; the reason names the
hour in the zone of the person who asked, as every time they are shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core.analytics import best_time, queries
from core.analytics.best_time import Slot
from core.audit import audit
from core.context import Tx
from core.errors import Conflict
from core.networks import get_network
from core.scheduling.queries import SLOT_GAP, taken
from core.workspace.people import zone_of
from storage.models import AuditEvent, Member, Post, Workspace

WORD = "best"  # `--at best`, `schedule 12 best`
HISTORY = timedelta(days=90)  # the posts an hour is judged by, as `stats 90d` shows them
ACTION = "post.best_time"  # the audit row that keeps the reason for the card


def wanted(when: str | None) -> bool:
    """Whether the time someone gave is `best`."""
    return when is not None and when.strip().strip("\"'").lower() == WORD


def choose(
    tx: Tx, ws: Workspace, networks: Sequence[str], shown: ZoneInfo, *, post: int | None = None
) -> Slot:
    """The best free hour of the coming week for a post to `networks`; `post` is the one
    being moved (its own times do not count as taken). `shown`: the asker's zone."""
    tz = zone_of(None, ws)
    history = queries.published(tx.session, ws.id, tx.now - HISTORY, tx.now)
    scored = [best_time.hours(history, network, tz) for network in networks]
    busy = {network: taken(tx, ws, network, excluding=post) for network in networks}
    slot = best_time.shared_slot(scored, tx.now, busy, tz, shown=shown)
    if slot is None:
        names = ", ".join(get_network(n).display for n in networks)
        minutes = int(SLOT_GAP.total_seconds() // 60)
        raise Conflict(
            f"Every hour of the coming week already has a post on {names} within {minutes} "
            'minutes. Pick a time yourself, e.g. "next monday 9am".'
        )
    return slot


def remember(tx: Tx, ws: Workspace, me: Member, post: Post, slot: Slot) -> None:
    """Keep why this time was picked, for the card (`note`) and the post's history."""
    detail: dict[str, Any] = {"at": slot.at.isoformat(), "reason": slot.reason}
    audit(tx, ws.id, ACTION, actor_id=me.id, post_id=post.id, detail=detail)


def note_text(slot: Slot) -> str:
    """What the card says about a time Herald picked: "⏰ Best time: Tue 10:00, your best hour
    on LinkedIn"."""
    return _NOTE.format(reason=slot.reason)


_NOTE = "⏰ Best time: {reason}"


def note(tx: Tx, post: Post) -> str | None:
    """The card's note for a post whose planned time Herald picked as the best; None when it
    has no planned time or someone has set another since."""
    if post.planned_at is None:
        return None
    detail = tx.session.scalar(
        select(AuditEvent.detail)
        .where(AuditEvent.post_id == post.id, AuditEvent.action == ACTION)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    if not detail or not detail.get("at") or not detail.get("reason"):
        return None
    if datetime.fromisoformat(str(detail["at"])) != post.planned_at:
        return None
    return _NOTE.format(reason=detail["reason"])
